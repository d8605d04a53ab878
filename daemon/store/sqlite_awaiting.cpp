// SqliteStore as an AwaitingStore: events waiting for the directory (awaiting_store.h).
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

Result<void> SqliteStore::insert_awaiting(std::int64_t event_row, const NewAwaiting& a) {
  Statement s(writer_,
              "INSERT INTO awaiting (event, directory, users, attempts, next_attempt_at, "
              "last_error) VALUES (?, ?, ?, 1, ?, ?)");
  const std::string users = users_text(a.users);  // bound without a copy: outlives step()
  s.bind(1, event_row).bind(2, a.directory).bind(3, users);
  s.bind(4, instant_ms(a.next_attempt_at)).bind(5, a.error);
  if (int rc = s.step(); rc != SQLITE_DONE)
    return std::unexpected(error_of(writer_, rc, "cannot store the wait for the directory"));
  return {};
}

Result<bool> SqliteStore::resolve(const Resolution& r, policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    int attempts = 0;
    {
      Statement q(writer_, "SELECT attempts FROM awaiting WHERE event = ?");
      q.bind(1, r.row);
      int rc = q.step();
      if (rc == SQLITE_DONE)
        return false;
      if (rc != SQLITE_ROW)
        return std::unexpected(error_of(writer_, rc, "read"));
      attempts = static_cast<int>(q.integer(0));
    }
    const date::time_zone* zone = r.zone ? r.zone : zone_or_utc("UTC");
    {
      Statement u(writer_,
                  "UPDATE events SET establishment = ?, timezone = ?, body = ? WHERE id = ?");
      u.bind(1, r.establishment).bind(2, zone->name()).bind(3, r.body).bind(4, r.row);
      if (int rc = u.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot complete the event"));
    }
    {
      Statement d(writer_, "DELETE FROM awaiting WHERE event = ?");
      d.bind(1, r.row);
      if (int rc = d.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot end the wait"));
    }
    for (AuditRecord& rec : resolved_records(r, attempts, now, zone)) {
      if (auto a = append_audit(rec); !a)
        return std::unexpected(a.error());
    }
    DeliveryRef ref;
    ref.source = r.source;
    ref.event_id = r.id;
    ref.establishment = r.establishment;
    ref.category = r.category;
    ref.timezone = zone->name();
    if (auto d = store_deliveries(r.row, ref, r.deliveries, now, zone,
                                  policy::format_rfc3339(now, zone));
        !d)
      return std::unexpected(d.error());
    return true;
  });
}

Result<void> SqliteStore::postpone(std::int64_t row, policy::Instant next_attempt_at,
                                   std::string_view error) {
  return transaction<void>([&]() -> Result<void> {
    Statement u(writer_,
                "UPDATE awaiting SET attempts = attempts + 1, next_attempt_at = ?, "
                "last_error = ? WHERE event = ?");
    u.bind(1, instant_ms(next_attempt_at)).bind(2, error).bind(3, row);
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot postpone"));
    return {};
  });
}

Result<std::vector<AwaitingEvent>> SqliteStore::awaiting(std::size_t limit) {
  std::lock_guard lock(reader_mutex_);
  Statement q(reader_,
              "SELECT e.id, e.source, e.event_id, e.category, e.urgent, e.received_at, e.body, "
              "a.directory, a.users, a.attempts, a.next_attempt_at, a.last_error "
              "FROM awaiting a JOIN events e ON e.id = a.event "
              "ORDER BY a.next_attempt_at, a.event LIMIT ?");
  q.bind(1, static_cast<std::int64_t>(limit));
  std::vector<AwaitingEvent> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    AwaitingEvent e;
    e.row = q.integer(0);
    e.source = q.text(1);
    e.id = q.text(2);
    e.category = policy::parse_category(q.text(3)).value_or(policy::Category::other);
    e.urgent = q.integer(4) != 0;
    e.received_at = ms_instant(q.integer(5));
    e.body = q.text(6);
    e.directory = q.text(7);
    e.users = users_of(q.text(8));
    e.attempts = static_cast<int>(q.integer(9));
    e.next_attempt_at = ms_instant(q.integer(10));
    e.last_error = q.text(11);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

}  // namespace treve::store
