// SqliteStore as a PreferenceStore: recipients' own quiet hours, by source and pseudonym.
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

namespace {

policy::Instant from_ms(std::int64_t ms) {
  return policy::Instant{std::chrono::milliseconds{ms}};
}

constexpr const char* kColumns = "source, recipient, quiet, updated_at, used_at";

StoredPreference read_preference(const Statement& q) {
  StoredPreference p;
  p.source = q.text(0);
  p.recipient = q.text(1);
  p.quiet = q.text(2);
  p.updated_at = from_ms(q.integer(3));
  p.used_at = from_ms(q.integer(4));
  return p;
}

}  // namespace

std::string SqliteStore::pseudonym(std::string_view source, std::string_view recipient) const {
  std::lock_guard lock(prepare_mutex_);
  return prepare_pseudonyms_.pseudonym(source, recipient);
}

Result<StoredPreference> SqliteStore::set_preference(std::string_view source,
                                                     std::string_view recipient,
                                                     std::string_view quiet, std::size_t windows,
                                                     policy::Instant now) {
  return transaction<StoredPreference>([&]() -> Result<StoredPreference> {
    StoredPreference p;
    p.source = std::string(source);
    p.recipient = pseudonyms_.pseudonym(source, recipient);
    p.quiet = std::string(quiet);
    p.updated_at = now;
    p.used_at = now;
    Statement s(writer_,
                "INSERT INTO preferences (source, recipient, quiet, updated_at, used_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, recipient) DO UPDATE SET "
                "quiet = excluded.quiet, updated_at = excluded.updated_at, "
                "used_at = excluded.used_at");
    s.bind(1, p.source).bind(2, p.recipient).bind(3, p.quiet);
    s.bind(4, instant_ms(now)).bind(5, instant_ms(now));
    if (int rc = s.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot store the preferences"));
    AuditRecord r =
        preference_record("preferences_set", source, p.recipient, now,
                          Detail().add("windows", static_cast<std::int64_t>(windows)).text());
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return p;
  });
}

Result<bool> SqliteStore::delete_preference(std::string_view source, std::string_view recipient,
                                            policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    const std::string pseudonym = pseudonyms_.pseudonym(source, recipient);
    Statement s(writer_, "DELETE FROM preferences WHERE source = ? AND recipient = ?");
    s.bind(1, source).bind(2, pseudonym);
    if (int rc = s.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot delete the preferences"));
    if (sqlite3_changes(writer_) == 0)
      return false;
    AuditRecord r = preference_record("preferences_deleted", source, pseudonym, now,
                                      Detail().add("by", "connector").text());
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return true;
  });
}

Result<void> SqliteStore::touch_preference(std::string_view source, std::string_view pseudonym,
                                           policy::Instant at) {
  return transaction<void>([&]() -> Result<void> {
    Statement s(writer_,
                "UPDATE preferences SET used_at = max(used_at, ?) WHERE source = ? AND "
                "recipient = ?");
    s.bind(1, instant_ms(at)).bind(2, source).bind(3, pseudonym);
    if (int rc = s.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot note the preferences' use"));
    return {};
  });
}

Result<std::vector<StoredPreference>> SqliteStore::purge_preferences(policy::Instant unused_since,
                                                                     policy::Instant now) {
  return transaction<std::vector<StoredPreference>>([&]() -> Result<std::vector<StoredPreference>> {
    std::vector<StoredPreference> out;
    {
      const std::string sql = std::string("SELECT ") + kColumns +
                              " FROM preferences WHERE used_at < ? AND updated_at < ?";
      Statement q(writer_, sql.c_str());
      q.bind(1, instant_ms(unused_since)).bind(2, instant_ms(unused_since));
      int rc;
      while ((rc = q.step()) == SQLITE_ROW)
        out.push_back(read_preference(q));
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "read"));
    }
    Statement d(writer_, "DELETE FROM preferences WHERE source = ? AND recipient = ?");
    for (const StoredPreference& p : out) {
      Resetter reset{d};
      d.bind(1, p.source).bind(2, p.recipient);
      if (int rc = d.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot purge preferences"));
      AuditRecord r = preference_record(
          "preferences_purged", p.source, p.recipient, now,
          Detail().add_instant("unused_since", p.used_at, zone_or_utc("UTC")).text());
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
    }
    return out;
  });
}

Result<std::vector<StoredPreference>> select_preferences(sqlite3* db) {
  const std::string sql = std::string("SELECT ") + kColumns + " FROM preferences";
  Statement q(db, sql.c_str());
  std::vector<StoredPreference> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_preference(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(db, rc, "read"));
  return out;
}

Result<std::vector<StoredPreference>> SqliteStore::preferences() {
  std::lock_guard lock(reader_mutex_);
  return select_preferences(reader_);
}

Result<std::optional<StoredPreference>> SqliteStore::preference(std::string_view source,
                                                                std::string_view recipient) {
  std::lock_guard lock(reader_mutex_);
  const std::string pseudonym = reader_pseudonyms_.pseudonym(source, recipient);
  const std::string sql =
      std::string("SELECT ") + kColumns + " FROM preferences WHERE source = ? AND recipient = ?";
  Statement q(reader_, sql.c_str());
  q.bind(1, source).bind(2, pseudonym);
  const int rc = q.step();
  if (rc == SQLITE_ROW)
    return std::optional<StoredPreference>{read_preference(q)};
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return std::optional<StoredPreference>{};
}

}  // namespace treve::store
