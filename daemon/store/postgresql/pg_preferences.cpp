// PgStore as a PreferenceStore: recipients' own quiet hours, by source and pseudonym, as in the
// SQLite store, with the same records (ingest_records.h).
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

namespace {

constexpr std::string_view kSelect =
    "SELECT source, recipient, quiet, updated_at, used_at FROM preferences";

std::vector<StoredPreference> read_preferences(const pg::Rows& q) {
  std::vector<StoredPreference> out;
  for (int i = 0; i < q.size(); ++i) {
    StoredPreference p;
    p.source = q.text(i, 0);
    p.recipient = q.text(i, 1);
    p.quiet = q.text(i, 2);
    p.updated_at = ms_instant(q.integer(i, 3));
    p.used_at = ms_instant(q.integer(i, 4));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

std::string PgStore::pseudonym(std::string_view source, std::string_view recipient) const {
  std::lock_guard lock(prepare_mutex_);
  return prepare_pseudonyms_.pseudonym(source, recipient);
}

Result<StoredPreference> PgStore::set_preference(std::string_view source,
                                                 std::string_view recipient, std::string_view quiet,
                                                 std::size_t windows, policy::Instant now) {
  return transaction<StoredPreference>([&]() -> Result<StoredPreference> {
    StoredPreference p;
    p.source = std::string(source);
    p.recipient = pseudonyms_.pseudonym(source, recipient);
    p.quiet = std::string(quiet);
    p.updated_at = now;
    p.used_at = now;
    auto s = writer_->exec(
        "INSERT INTO preferences (source, recipient, quiet, updated_at, used_at) VALUES ($1, "
        "$2, $3, $4, $4) ON CONFLICT (source, recipient) DO UPDATE SET quiet = excluded.quiet, "
        "updated_at = excluded.updated_at, used_at = excluded.used_at",
        {p.source, p.recipient, p.quiet, instant_ms(now)});
    if (!s)
      return std::unexpected(s.error());
    append_audit(
        preference_record("preferences_set", source, p.recipient, now,
                          Detail().add("windows", static_cast<std::int64_t>(windows)).text()));
    return p;
  });
}

Result<bool> PgStore::delete_preference(std::string_view source, std::string_view recipient,
                                        policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    const std::string pseudonym = pseudonyms_.pseudonym(source, recipient);
    auto d = writer_->exec("DELETE FROM preferences WHERE source = $1 AND recipient = $2",
                           {source, pseudonym});
    if (!d)
      return std::unexpected(d.error());
    if (d->affected() == 0)
      return false;
    append_audit(preference_record("preferences_deleted", source, pseudonym, now,
                                   Detail().add("by", "connector").text()));
    return true;
  });
}

Result<void> PgStore::touch_preference(std::string_view source, std::string_view pseudonym,
                                       policy::Instant at) {
  return transaction<void>([&]() -> Result<void> {
    auto u = writer_->exec(
        "UPDATE preferences SET used_at = greatest(used_at, $1) WHERE source = $2 AND "
        "recipient = $3",
        {instant_ms(at), source, pseudonym});
    if (!u)
      return std::unexpected(u.error());
    return {};
  });
}

Result<std::vector<StoredPreference>> PgStore::purge_preferences(policy::Instant unused_since,
                                                                 policy::Instant now) {
  return transaction<std::vector<StoredPreference>>([&]() -> Result<std::vector<StoredPreference>> {
    auto q = writer_->exec(std::string(kSelect) +
                               " WHERE used_at < $1 AND updated_at < $1 ORDER BY source, "
                               "recipient FOR UPDATE",
                           {instant_ms(unused_since)});
    if (!q)
      return std::unexpected(q.error());
    std::vector<StoredPreference> out = read_preferences(*q);
    for (const StoredPreference& p : out) {
      auto d = writer_->exec("DELETE FROM preferences WHERE source = $1 AND recipient = $2",
                             {p.source, p.recipient});
      if (!d)
        return std::unexpected(d.error());
      append_audit(preference_record(
          "preferences_purged", p.source, p.recipient, now,
          Detail().add_instant("unused_since", p.used_at, zone_or_utc("UTC")).text()));
    }
    return out;
  });
}

Result<std::vector<StoredPreference>> PgStore::preferences() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(kSelect);
  if (!q)
    return std::unexpected(q.error());
  return read_preferences(*q);
}

Result<std::optional<StoredPreference>> PgStore::preference(std::string_view source,
                                                            std::string_view recipient) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  const std::string pseudonym = c->pseudonyms().pseudonym(source, recipient);
  auto q = (*c)->exec(std::string(kSelect) + " WHERE source = $1 AND recipient = $2",
                      {source, pseudonym});
  if (!q)
    return std::unexpected(q.error());
  auto all = read_preferences(*q);
  if (all.empty())
    return std::optional<StoredPreference>{};
  return std::optional<StoredPreference>{std::move(all.front())};
}

}  // namespace treve::store
