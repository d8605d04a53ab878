// SqliteStore as a CrisisStore: crises opened, extended and closed by administrators (or by
// their end instant), each change with its audit record.
#include "daemon/store/admin_records.h"
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

namespace {

constexpr const char* kCrisisColumns =
    "id, uai, reason, categories, release_held, opened_at, until, opened_by, closed_at, "
    "closed_by";

CrisisRecord read_crisis(Statement& q) {
  CrisisRecord r;
  r.crisis.id = q.integer(0);
  r.crisis.uai = q.text(1);
  r.crisis.reason = q.text(2);
  r.crisis.categories = static_cast<std::uint16_t>(q.integer(3));
  r.crisis.release_held = q.integer(4) != 0;
  r.crisis.opened = ms_instant(q.integer(5));
  r.crisis.until = ms_instant(q.integer(6));
  r.crisis.by = q.text(7);
  if (!q.is_null(8))
    r.closed_at = ms_instant(q.integer(8));
  if (!q.is_null(9))
    r.closed_by = q.text(9);
  return r;
}

// The crisis `id` of `uai` as the writer sees it, if any.
// Reads crisis `id` of `uai` into `found` for a change: `done` when it is open, else what the
// change answers (unknown, or closed already).
Result<CrisisChange> open_crisis_for_write(sqlite3* db, std::string_view uai, std::int64_t id,
                                           CrisisRecord& found) {
  const std::string sql =
      std::string("SELECT ") + kCrisisColumns + " FROM crises WHERE id = ? AND uai = ?";
  Statement q(db, sql.c_str());
  q.bind(1, id).bind(2, uai);
  const int rc = q.step();
  if (rc == SQLITE_DONE)
    return CrisisChange::unknown;
  if (rc != SQLITE_ROW)
    return std::unexpected(error_of(db, rc, "cannot read the crisis"));
  found = read_crisis(q);
  return found.open() ? CrisisChange::done : CrisisChange::closed;
}

}  // namespace

std::vector<policy::Crisis> crises_in_force(const std::vector<CrisisRecord>& records) {
  std::vector<policy::Crisis> out;
  for (const CrisisRecord& r : records) {
    if (r.open())
      out.push_back(r.crisis);
  }
  return out;
}

Result<OpenCrisisResult> SqliteStore::open_crisis(const NewCrisis& c, policy::Instant now) {
  return transaction<OpenCrisisResult>([&]() -> Result<OpenCrisisResult> {
    OpenCrisisResult out;
    {
      Statement q(writer_, "SELECT id FROM crises WHERE uai = ? AND closed_at IS NULL");
      q.bind(1, c.uai);
      const int rc = q.step();
      if (rc == SQLITE_ROW) {
        out.id = q.integer(0);
        out.conflict = true;
        return out;
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read the crises"));
    }
    Statement ins(writer_,
                  "INSERT INTO crises (uai, reason, categories, release_held, opened_at, until, "
                  "opened_by) VALUES (?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, c.uai)
        .bind(2, c.reason)
        .bind(3, static_cast<std::int64_t>(c.categories))
        .bind(4, std::int64_t{c.release_held ? 1 : 0})
        .bind(5, instant_ms(now))
        .bind(6, instant_ms(c.until))
        .bind(7, c.by);
    if (int rc = ins.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot open the crisis"));
    out.id = sqlite3_last_insert_rowid(writer_);
    AuditRecord r = crisis_opened_record(c, out.id, now);
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return out;
  });
}

Result<CrisisChange> SqliteStore::extend_crisis(std::string_view uai, std::int64_t id,
                                                policy::Instant until, std::string_view by,
                                                const date::time_zone* zone, policy::Instant now) {
  return transaction<CrisisChange>([&]() -> Result<CrisisChange> {
    CrisisRecord found;
    if (auto open = open_crisis_for_write(writer_, uai, id, found);
        !open || *open != CrisisChange::done)
      return open;
    Statement u(writer_, "UPDATE crises SET until = ? WHERE id = ?");
    u.bind(1, instant_ms(until)).bind(2, id);
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot extend the crisis"));
    AuditRecord r = crisis_extended_record(uai, id, until, found.crisis.until, by, zone, now);
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return CrisisChange::done;
  });
}

Result<CrisisChange> SqliteStore::close_crisis(std::string_view uai, std::int64_t id,
                                               std::string_view by, const date::time_zone* zone,
                                               policy::Instant now) {
  return transaction<CrisisChange>([&]() -> Result<CrisisChange> {
    CrisisRecord found;
    if (auto open = open_crisis_for_write(writer_, uai, id, found);
        !open || *open != CrisisChange::done)
      return open;
    Statement u(writer_, "UPDATE crises SET closed_at = ?, closed_by = ? WHERE id = ?");
    u.bind(1, instant_ms(now)).bind(2, by).bind(3, id);
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot close the crisis"));
    AuditRecord r = crisis_closed_record(uai, id, by, zone, now);
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return CrisisChange::done;
  });
}

Result<std::vector<std::int64_t>> SqliteStore::expire_crises(const ZoneOf& zone_of,
                                                             policy::Instant now) {
  return transaction<std::vector<std::int64_t>>([&]() -> Result<std::vector<std::int64_t>> {
    std::vector<CrisisRecord> due;
    {
      const std::string sql = std::string("SELECT ") + kCrisisColumns +
                              " FROM crises WHERE closed_at IS NULL AND until <= ? ORDER BY id";
      Statement q(writer_, sql.c_str());
      q.bind(1, instant_ms(now));
      int rc;
      while ((rc = q.step()) == SQLITE_ROW)
        due.push_back(read_crisis(q));
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read the crises"));
    }
    std::vector<std::int64_t> out;
    for (const CrisisRecord& c : due) {
      // It ended at its end instant; the record says when trêve closed it.
      Statement u(writer_, "UPDATE crises SET closed_at = ?, closed_by = 'expiry' WHERE id = ?");
      u.bind(1, instant_ms(c.crisis.until)).bind(2, c.crisis.id);
      if (int rc = u.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot close the crisis"));
      const date::time_zone* zone = zone_of ? zone_of(c.crisis.uai) : nullptr;
      AuditRecord r = crisis_closed_record(c.crisis.uai, c.crisis.id, "expiry", zone, now);
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
      out.push_back(c.crisis.id);
    }
    return out;
  });
}

Result<std::vector<CrisisRecord>> select_open_crises(sqlite3* db) {
  const std::string sql =
      std::string("SELECT ") + kCrisisColumns + " FROM crises WHERE closed_at IS NULL ORDER BY id";
  Statement q(db, sql.c_str());
  std::vector<CrisisRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_crisis(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(db, rc, "read"));
  return out;
}

Result<std::vector<CrisisRecord>> SqliteStore::open_crises() {
  std::lock_guard lock(reader_mutex_);
  return select_open_crises(reader_);
}

Result<std::vector<CrisisRecord>> SqliteStore::crises_of(std::string_view uai, std::size_t limit) {
  std::lock_guard lock(reader_mutex_);
  const std::string sql = std::string("SELECT ") + kCrisisColumns +
                          " FROM crises WHERE uai = ? ORDER BY opened_at DESC, id DESC LIMIT ?";
  Statement q(reader_, sql.c_str());
  q.bind(1, uai).bind(2, static_cast<std::int64_t>(limit));
  std::vector<CrisisRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_crisis(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

}  // namespace treve::store
