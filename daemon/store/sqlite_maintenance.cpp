// SqliteStore as a MaintenanceStore: the retention purge and the store's statistics.
#include <malloc.h>

#include <spdlog/spdlog.h>

#include "daemon/store/admin_records.h"
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

Result<PurgeResult> SqliteStore::purge(const PurgeLimits& limits, policy::Instant now) {
  auto result = purge_once(limits, now);
  // In the log, out of reach of whoever can write the database: `audit verify --heads`
  // accepts a trail that starts after a purge only if the log vouches for its checkpoint.
  if (result && result->checkpoint_seq > 0) {
    spdlog::info("event=audit.checkpoint seq={} hash={} purged_through={}", result->checkpoint_seq,
                 result->checkpoint_hash, result->purged_through);
  }
  return result;
}

Result<PurgeResult> SqliteStore::purge_once(const PurgeLimits& limits, policy::Instant now) {
  return transaction<PurgeResult>([&]() -> Result<PurgeResult> {
    PurgeResult out;
    const auto max_rows = static_cast<std::int64_t>(limits.max_rows);

    // Audit records: the leading run older than the cutoff, never one written after it.
    std::int64_t first = 0;
    std::string continues_from;
    {
      Statement q(writer_, "SELECT seq, at, hash FROM audit ORDER BY seq LIMIT ?");
      q.bind(1, max_rows + 1);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        if (q.integer(1) >= instant_ms(limits.audit_before))
          break;
        if (out.audit_records == max_rows) {
          out.more = true;
          break;
        }
        if (first == 0)
          first = q.integer(0);
        out.purged_through = q.integer(0);
        continues_from = q.text(2);
        ++out.audit_records;
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read the audit trail"));
    }
    if (out.audit_records > 0) {
      Statement d(writer_, "DELETE FROM audit WHERE seq <= ?");
      d.bind(1, out.purged_through);
      if (int rc = d.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot purge the audit trail"));
      AuditRecord record = checkpoint_record(out, first, continues_from, limits, now);
      if (auto a = append_audit(record); !a)
        return std::unexpected(a.error());
      out.checkpoint_seq = record.seq;
      out.checkpoint_hash = record.hash;
    }

    // Whether an event still has a delivery to send (or one held): its body must stay.
    Statement pending(writer_,
                      "SELECT 1 FROM deliveries WHERE event = ?1 AND state IN "
                      "('held', 'due', 'sending', 'retrying') "
                      "UNION ALL SELECT 1 FROM awaiting WHERE event = ?1 LIMIT 1");
    auto has_pending = [&](std::int64_t event) -> Result<bool> {
      Resetter reset{pending};
      pending.bind(1, event);
      int rc = pending.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read deliveries"));
      return rc == SQLITE_ROW;
    };

    // The first ids a query lists while `take` holds, at most max_rows; `limited` when there
    // were more. Another slice is asked for only if this one removed something: events that
    // must stay (held with no release instant) never make the purge loop.
    auto first_ids = [&](Statement& q, bool& limited,
                         auto&& take) -> Result<std::vector<std::int64_t>> {
      std::vector<std::int64_t> ids;
      int rc;
      while ((rc = q.step()) == SQLITE_ROW && take(q))
        ids.push_back(q.integer(0));
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read events"));
      limited = std::ssize(ids) > max_rows;
      if (limited)
        ids.pop_back();
      return ids;
    };
    // Runs `statement` with each id, in order, for the events with nothing left to send; how
    // many it changed.
    auto run_finished = [&](const std::vector<std::int64_t>& ids, Statement& statement,
                            const char* what) -> Result<std::int64_t> {
      std::int64_t changed = 0;
      for (std::int64_t id : ids) {
        auto p = has_pending(id);
        if (!p)
          return std::unexpected(p.error());
        if (*p)
          continue;
        Resetter reset{statement};
        statement.bind(1, id);
        if (int rc = statement.step(); rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, what));
        changed += sqlite3_changes(writer_);
      }
      return changed;
    };

    // Bodies (title and payload) of events older than events_before.
    {
      // Only events with nothing left to send: those that must keep their body never fill
      // the slice and stop the purge from reaching the others.
      Statement q(writer_,
                  "SELECT id FROM events WHERE body IS NOT NULL AND received_at < ? "
                  "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event = events.id AND state "
                  "IN ('held', 'due', 'sending', 'retrying')) ORDER BY received_at LIMIT ?");
      q.bind(1, instant_ms(limits.events_before)).bind(2, max_rows + 1);
      bool limited = false;
      auto ids = first_ids(q, limited, [](Statement&) { return true; });
      if (!ids)
        return std::unexpected(ids.error());
      Statement u(writer_, "UPDATE events SET body = NULL WHERE id = ?");
      auto n = run_finished(*ids, u, "cannot purge an event body");
      if (!n)
        return std::unexpected(n.error());
      out.bodies = *n;
      out.more = out.more || (limited && *n > 0);
    }

    // Whole events, with their deliveries (and the raw recipient ids they hold), once older
    // than the audit retention and finished. Events are numbered in receipt order, so the
    // oldest are the first rows: read in order up to the first one too recent, passing over
    // those that still have something to send (they stay, and must not fill the slice).
    {
      Statement q(writer_,
                  "SELECT id, received_at, EXISTS (SELECT 1 FROM deliveries WHERE event = "
                  "events.id AND state IN ('held', 'due', 'sending', 'retrying')) "
                  "FROM events ORDER BY id");
      bool limited = false;
      std::vector<std::int64_t> found;
      {
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) {
          if (q.integer(1) >= instant_ms(limits.audit_before))
            break;
          if (q.integer(2) != 0)
            continue;
          if (std::ssize(found) == max_rows) {
            limited = true;
            break;
          }
          found.push_back(q.integer(0));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot read events"));
      }
      const std::vector<std::int64_t>* ids = &found;
      // Deliveries first (they refer to their event), then the events themselves.
      Statement dd(writer_, "DELETE FROM deliveries WHERE event = ?");
      auto n = run_finished(*ids, dd, "cannot purge deliveries");
      if (!n)
        return std::unexpected(n.error());
      out.deliveries = *n;
      Statement de(writer_,
                   "DELETE FROM events WHERE id = ? AND NOT EXISTS "
                   "(SELECT 1 FROM deliveries WHERE event = events.id)");
      auto e = run_finished(*ids, de, "cannot purge an event");
      if (!e)
        return std::unexpected(e.error());
      out.events = *e;
      out.more = out.more || (limited && *e > 0);
      if (auto c = add_events(-out.events); !c)
        return std::unexpected(c.error());
    }
    if (out.bodies > 0 || out.events > 0) {
      AuditRecord record = purged_record(out, limits, now);
      if (auto a = append_audit(record); !a)
        return std::unexpected(a.error());
    }
    return out;
  });
}

void SqliteStore::release_memory() {
  // The writer's 32 MB cache serves a release or a burst of ingest; held overnight, the
  // deliveries need none of it. The pages stay in the operating system's page cache, so the
  // next write reads back the few it needs at once.
  sqlite3_db_release_memory(writer_);
  {
    std::lock_guard lock(reader_mutex_);
    sqlite3_db_release_memory(reader_);
  }
  // The freed pages are small heap blocks: without a trim they stay in the process.
  ::malloc_trim(0);
}

std::int64_t SqliteStore::writer_cache_bytes() const {
  int used = 0, highwater = 0;
  sqlite3_db_status(writer_, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater, 0);
  return used;
}

Result<StoreStats> SqliteStore::stats() {
  std::lock_guard lock(reader_mutex_);
  StoreStats s;
  auto single = [&](Statement& q, auto&& use) -> Result<void> {
    Resetter reset{q};
    int rc = q.step();
    if (rc == SQLITE_ROW)
      use(q);
    else if (rc != SQLITE_DONE)
      return std::unexpected(error_of(reader_, rc, "read"));
    return {};
  };
  if (auto r = single(st_->count_events, [&](Statement& q) { s.events = q.integer(0); }); !r) {
    return std::unexpected(r.error());
  }
  {
    Statement& q = st_->count_state;
    Resetter reset{q};
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      if (q.text(0) == "held")
        s.held = q.integer(1);
      if (q.text(0) == "due")
        s.due = q.integer(1);
    }
    if (rc != SQLITE_DONE)
      return std::unexpected(error_of(reader_, rc, "read"));
  }
  if (auto r = single(st_->next_release,
                      [&](Statement& q) {
                        if (!q.is_null(0))
                          s.next_release = ms_instant(q.integer(0));
                      });
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = single(st_->count_audit, [&](Statement& q) { s.audit_records = q.integer(0); });
      !r) {
    return std::unexpected(r.error());
  }
  return s;
}

}  // namespace treve::store
