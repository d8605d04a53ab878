// PgStore as an AwaitingStore: events waiting for the directory (awaiting_store.h), as in the
// SQLite store, with the same records (ingest_records.h).
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

Result<bool> PgStore::resolve(const Resolution& r, policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    auto q = writer_->exec("SELECT attempts FROM awaiting WHERE event = $1 FOR UPDATE", {r.row});
    if (!q)
      return std::unexpected(q.error());
    if (q->empty())
      return false;
    const int attempts = static_cast<int>(q->integer(0, 0));
    const date::time_zone* zone = r.zone ? r.zone : zone_or_utc("UTC");
    auto u = writer_->exec(
        "UPDATE events SET establishment = $1, timezone = $2, body = $3 WHERE id = $4",
        {r.establishment, zone->name(), r.body, r.row});
    if (!u)
      return std::unexpected(u.error());
    auto d = writer_->exec("DELETE FROM awaiting WHERE event = $1", {r.row});
    if (!d)
      return std::unexpected(d.error());
    for (AuditRecord& rec : resolved_records(r, attempts, now, zone))
      append_audit(std::move(rec));
    DeliveryRef ref;
    ref.source = r.source;
    ref.event_id = r.id;
    ref.establishment = r.establishment;
    ref.category = r.category;
    ref.timezone = zone->name();
    DeliveryRows rows;
    if (auto s = store_deliveries(rows, r.row, ref, r.deliveries, now, zone,
                                  policy::format_rfc3339(now, zone));
        !s)
      return std::unexpected(s.error());
    if (auto i = rows.insert.exec(*writer_); !i)
      return std::unexpected(i.error());
    return true;
  });
}

Result<void> PgStore::postpone(std::int64_t row, policy::Instant next_attempt_at,
                               std::string_view error) {
  return transaction<void>([&]() -> Result<void> {
    auto u = writer_->exec(
        "UPDATE awaiting SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 "
        "WHERE event = $3",
        {instant_ms(next_attempt_at), error, row});
    if (!u)
      return std::unexpected(u.error());
    return {};
  });
}

Result<std::vector<AwaitingEvent>> PgStore::awaiting(std::size_t limit) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(
      "SELECT e.id, e.source, e.event_id, e.category, e.urgent, e.received_at, e.body, "
      "a.directory, a.users, a.attempts, a.next_attempt_at, a.last_error FROM awaiting a JOIN "
      "events e ON e.id = a.event ORDER BY a.next_attempt_at, a.event LIMIT $1",
      {static_cast<std::int64_t>(limit)});
  if (!q)
    return std::unexpected(q.error());
  std::vector<AwaitingEvent> out;
  for (int i = 0; i < q->size(); ++i) {
    AwaitingEvent e;
    e.row = q->integer(i, 0);
    e.source = q->text(i, 1);
    e.id = q->text(i, 2);
    e.category = policy::parse_category(q->text(i, 3)).value_or(policy::Category::other);
    e.urgent = q->integer(i, 4) != 0;
    e.received_at = ms_instant(q->integer(i, 5));
    e.body = q->text(i, 6);
    e.directory = q->text(i, 7);
    e.users = users_of(q->text(i, 8));
    e.attempts = static_cast<int>(q->integer(i, 9));
    e.next_attempt_at = ms_instant(q->integer(i, 10));
    e.last_error = q->text(i, 11);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace treve::store
