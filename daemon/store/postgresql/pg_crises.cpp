// PgStore as a CrisisStore: crises opened, extended and closed by administrators (or by their
// end instant), as in the SQLite store, with the same records (admin_records.h). One open
// crisis per establishment is also a partial unique index here: two daemons opening one at once
// cannot both succeed.
#include "daemon/store/admin_records.h"
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

namespace {

constexpr std::string_view kSelect =
    "SELECT id, uai, reason, categories, release_held, opened_at, until, opened_by, closed_at, "
    "closed_by FROM crises";

std::vector<CrisisRecord> read_crises(const pg::Rows& q) {
  std::vector<CrisisRecord> out;
  for (int i = 0; i < q.size(); ++i) {
    CrisisRecord r;
    r.crisis.id = q.integer(i, 0);
    r.crisis.uai = q.text(i, 1);
    r.crisis.reason = q.text(i, 2);
    r.crisis.categories = static_cast<std::uint16_t>(q.integer(i, 3));
    r.crisis.release_held = q.integer(i, 4) != 0;
    r.crisis.opened = ms_instant(q.integer(i, 5));
    r.crisis.until = ms_instant(q.integer(i, 6));
    r.crisis.by = q.text(i, 7);
    if (!q.is_null(i, 8))
      r.closed_at = ms_instant(q.integer(i, 8));
    if (!q.is_null(i, 9))
      r.closed_by = q.text(i, 9);
    out.push_back(std::move(r));
  }
  return out;
}

// Crisis `id` of `uai`, locked for a change, into `found`: `done` when it is open, else what
// the change answers (unknown, or closed already).
Result<CrisisChange> crisis_for_write(pg::Connection& c, std::string_view uai, std::int64_t id,
                                      CrisisRecord& found) {
  auto q = c.exec(std::string(kSelect) + " WHERE id = $1 AND uai = $2 FOR UPDATE", {id, uai});
  if (!q)
    return std::unexpected(q.error());
  auto rows = read_crises(*q);
  if (rows.empty())
    return CrisisChange::unknown;
  found = std::move(rows.front());
  return found.open() ? CrisisChange::done : CrisisChange::closed;
}

}  // namespace

Result<OpenCrisisResult> PgStore::open_crisis(const NewCrisis& c, policy::Instant now) {
  return transaction<OpenCrisisResult>([&]() -> Result<OpenCrisisResult> {
    OpenCrisisResult out;
    auto q = writer_->exec("SELECT id FROM crises WHERE uai = $1 AND closed_at IS NULL", {c.uai});
    if (!q)
      return std::unexpected(q.error());
    if (!q->empty()) {
      out.id = q->integer(0, 0);
      out.conflict = true;
      return out;
    }
    auto ins = writer_->exec(
        "INSERT INTO crises (uai, reason, categories, release_held, opened_at, until, opened_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        {c.uai, c.reason, static_cast<std::int64_t>(c.categories), c.release_held, instant_ms(now),
         instant_ms(c.until), c.by});
    if (!ins)
      return std::unexpected(ins.error());
    out.id = ins->integer(0, 0);
    append_audit(crisis_opened_record(c, out.id, now));
    notify_policy_ = true;  // the other daemons put it in force
    return out;
  });
}

Result<CrisisChange> PgStore::extend_crisis(std::string_view uai, std::int64_t id,
                                            policy::Instant until, std::string_view by,
                                            const date::time_zone* zone, policy::Instant now) {
  return transaction<CrisisChange>([&]() -> Result<CrisisChange> {
    CrisisRecord found;
    if (auto open = crisis_for_write(*writer_, uai, id, found);
        !open || *open != CrisisChange::done)
      return open;
    auto u = writer_->exec("UPDATE crises SET until = $1 WHERE id = $2", {instant_ms(until), id});
    if (!u)
      return std::unexpected(u.error());
    append_audit(crisis_extended_record(uai, id, until, found.crisis.until, by, zone, now));
    notify_policy_ = true;
    return CrisisChange::done;
  });
}

Result<CrisisChange> PgStore::close_crisis(std::string_view uai, std::int64_t id,
                                           std::string_view by, const date::time_zone* zone,
                                           policy::Instant now) {
  return transaction<CrisisChange>([&]() -> Result<CrisisChange> {
    CrisisRecord found;
    if (auto open = crisis_for_write(*writer_, uai, id, found);
        !open || *open != CrisisChange::done)
      return open;
    auto u = writer_->exec("UPDATE crises SET closed_at = $1, closed_by = $2 WHERE id = $3",
                           {instant_ms(now), by, id});
    if (!u)
      return std::unexpected(u.error());
    append_audit(crisis_closed_record(uai, id, by, zone, now));
    notify_policy_ = true;
    return CrisisChange::done;
  });
}

Result<std::vector<std::int64_t>> PgStore::expire_crises(const ZoneOf& zone_of,
                                                         policy::Instant now) {
  return transaction<std::vector<std::int64_t>>([&]() -> Result<std::vector<std::int64_t>> {
    auto q = writer_->exec(
        std::string(kSelect) + " WHERE closed_at IS NULL AND until <= $1 ORDER BY id FOR UPDATE",
        {instant_ms(now)});
    if (!q)
      return std::unexpected(q.error());
    std::vector<std::int64_t> out;
    for (const CrisisRecord& c : read_crises(*q)) {
      // It ended at its end instant; the record says when trêve closed it.
      auto u = writer_->exec("UPDATE crises SET closed_at = $1, closed_by = 'expiry' WHERE id = $2",
                             {instant_ms(c.crisis.until), c.crisis.id});
      if (!u)
        return std::unexpected(u.error());
      const date::time_zone* zone = zone_of ? zone_of(c.crisis.uai) : nullptr;
      append_audit(crisis_closed_record(c.crisis.uai, c.crisis.id, "expiry", zone, now));
      out.push_back(c.crisis.id);
      notify_policy_ = true;
    }
    return out;
  });
}

Result<std::vector<CrisisRecord>> PgStore::open_crises() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(std::string(kSelect) + " WHERE closed_at IS NULL ORDER BY id");
  if (!q)
    return std::unexpected(q.error());
  return read_crises(*q);
}

Result<std::vector<CrisisRecord>> PgStore::crises_of(std::string_view uai, std::size_t limit) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q =
      (*c)->exec(std::string(kSelect) + " WHERE uai = $1 ORDER BY opened_at DESC, id DESC LIMIT $2",
                 {uai, static_cast<std::int64_t>(limit)});
  if (!q)
    return std::unexpected(q.error());
  return read_crises(*q);
}

}  // namespace treve::store
