// PgStore as a MaintenanceStore: the retention purge, once per cluster (under an advisory lock:
// a daemon that cannot take it skips the round), and the store's statistics. The same records
// as the SQLite store's (admin_records.h); whole sets of rows per statement instead of row by
// row.
#include <spdlog/spdlog.h>

#include "daemon/store/admin_records.h"
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

namespace {

// The purge's advisory lock, held until the end of its transaction.
constexpr std::string_view kPurgeLock = "SELECT pg_try_advisory_xact_lock(7472657666)";

// An event with something left to send, or waiting for its directory, keeps its body and rows.
#define TREVE_PG_FINISHED                                                                \
  "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event = e.id AND d.state IN ('held', " \
  "'due', 'sending', 'retrying')) AND NOT EXISTS (SELECT 1 FROM awaiting a WHERE a.event = e.id)"

}  // namespace

Result<PurgeResult> PgStore::purge(const PurgeLimits& limits, policy::Instant now) {
  auto result = transaction<PurgeResult>([&]() -> Result<PurgeResult> {
    PurgeResult out;
    auto lock = writer_->exec(kPurgeLock);
    if (!lock)
      return std::unexpected(lock.error());
    if (lock->integer(0, 0) == 0)
      return out;  // another daemon purges now
    const auto max_rows = static_cast<std::int64_t>(limits.max_rows);

    // Audit records: the leading run older than the cutoff, never one written after it.
    auto q = writer_->exec("SELECT seq, at, hash FROM audit ORDER BY seq LIMIT $1", {max_rows + 1});
    if (!q)
      return std::unexpected(q.error());
    std::int64_t first = 0;
    std::string continues_from;
    for (int i = 0; i < q->size(); ++i) {
      if (q->integer(i, 1) >= instant_ms(limits.audit_before))
        break;
      if (out.audit_records == max_rows) {
        out.more = true;
        break;
      }
      if (first == 0)
        first = q->integer(i, 0);
      out.purged_through = q->integer(i, 0);
      continues_from = q->text(i, 2);
      ++out.audit_records;
    }
    if (out.audit_records > 0) {
      auto d = writer_->exec("DELETE FROM audit WHERE seq <= $1", {out.purged_through});
      if (!d)
        return std::unexpected(d.error());
      append_audit(checkpoint_record(out, first, continues_from, limits, now));
      out.checkpoint_seq = pending_audit_.back().seq;
      out.checkpoint_hash = pending_audit_.back().hash;
    }

    // Bodies of finished events older than events_before, oldest first.
    auto bodies = writer_->exec(
        "SELECT e.id FROM events e WHERE e.body IS NOT NULL AND "
        "e.received_at < $1 AND " TREVE_PG_FINISHED " ORDER BY e.received_at LIMIT $2",
        {instant_ms(limits.events_before), max_rows + 1});
    if (!bodies)
      return std::unexpected(bodies.error());
    std::vector<std::int64_t> ids;
    for (int i = 0; i < std::min<int>(bodies->size(), static_cast<int>(max_rows)); ++i)
      ids.push_back(bodies->integer(i, 0));
    if (!ids.empty()) {
      const std::string list = pg::int_array(ids);
      auto u = writer_->exec("UPDATE events SET body = NULL WHERE id = ANY($1::bigint[])", {list});
      if (!u)
        return std::unexpected(u.error());
      out.bodies = u->affected();
      out.more = out.more || (bodies->size() > max_rows && out.bodies > 0);
    }

    // Whole finished events, with their deliveries (and the raw recipient ids they hold),
    // once older than the audit retention.
    auto events =
        writer_->exec("SELECT e.id FROM events e WHERE e.received_at < $1 AND " TREVE_PG_FINISHED
                      " ORDER BY e.id LIMIT $2",
                      {instant_ms(limits.audit_before), max_rows + 1});
    if (!events)
      return std::unexpected(events.error());
    ids.clear();
    for (int i = 0; i < std::min<int>(events->size(), static_cast<int>(max_rows)); ++i)
      ids.push_back(events->integer(i, 0));
    if (!ids.empty()) {
      const std::string list = pg::int_array(ids);
      auto dd = writer_->exec("DELETE FROM deliveries WHERE event = ANY($1::bigint[])", {list});
      if (!dd)
        return std::unexpected(dd.error());
      out.deliveries = dd->affected();
      auto de = writer_->exec("DELETE FROM events WHERE id = ANY($1::bigint[])", {list});
      if (!de)
        return std::unexpected(de.error());
      out.events = de->affected();
      out.more = out.more || (events->size() > max_rows && out.events > 0);
      events_added_ -= out.events;
    }
    if (out.bodies > 0 || out.events > 0)
      append_audit(purged_record(out, limits, now));
    return out;
  });
  // In the log, out of reach of whoever can write the database: `audit verify --heads`
  // accepts a trail that starts after a purge only if the log vouches for its checkpoint.
  if (result && result->checkpoint_seq > 0) {
    spdlog::info("event=audit.checkpoint seq={} hash={} purged_through={}", result->checkpoint_seq,
                 result->checkpoint_hash, result->purged_through);
  }
  return result;
}

Result<StoreStats> PgStore::stats() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  // One statement, one snapshot. The trail's records are numbered without gaps from the first
  // one left after the last purge.
  auto q = (*c)->exec(
      "SELECT (SELECT events FROM audit_head), (SELECT count(*) FROM deliveries WHERE state = "
      "'held'), (SELECT count(*) FROM deliveries WHERE state = 'due'), (SELECT min(release_at) "
      "FROM deliveries WHERE state = 'held'), coalesce((SELECT max(seq) FROM audit) - (SELECT "
      "min(seq) FROM audit) + 1, 0)");
  if (!q)
    return std::unexpected(q.error());
  StoreStats s;
  s.events = static_cast<std::uint64_t>(q->integer(0, 0));
  s.held = static_cast<std::uint64_t>(q->integer(0, 1));
  s.due = static_cast<std::uint64_t>(q->integer(0, 2));
  if (!q->is_null(0, 3))
    s.next_release = ms_instant(q->integer(0, 3));
  s.audit_records = static_cast<std::uint64_t>(q->integer(0, 4));
  return s;
}

}  // namespace treve::store
