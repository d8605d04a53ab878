// PgStore as an IngestStore: accept, retract, find, check. The same records, in the same order,
// as the SQLite store's (ingest_records.h); the same rules (docs/delivery.md).
#include <map>
#include <utility>

#include "daemon/core/log_field.h"
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

void PgStore::prepare(std::span<NewEvent> events) const {
  prepare_events(events, prepare_pseudonyms_, prepare_mutex_);
}

Result<std::vector<AcceptResult>> PgStore::accept(std::span<const NewEvent> events,
                                                  policy::Instant now) {
  (void)now;
  return transaction<std::vector<AcceptResult>>([&]() -> Result<std::vector<AcceptResult>> {
    // A whole group in a few statements: its events in one INSERT (an id already taken is
    // left alone by the unique (source, event_id)), then its deliveries in one, then its audit
    // records in one, each with an array per column (pg_connection.h's MultiRow).
    pg::MultiRow insert_events(
        "INSERT INTO events (source, event_id, establishment, category, urgent, received_at, "
        "timezone, body, body_sha256, response)",
        {"text", "text", "text", "text", "boolean", "bigint", "text", "text", "text", "text"},
        "ON CONFLICT (source, event_id) DO NOTHING RETURNING id, source, event_id");
    for (const NewEvent& e : events) {
      insert_events.add({e.source, e.id, e.establishment, policy::to_string(e.category), e.urgent,
                         instant_ms(e.received_at), e.zone->name(), e.body, e.body_sha256,
                         e.response});
    }
    auto inserted = insert_events.exec(*writer_);
    if (!inserted) {
      StoreError err = inserted.error();
      err.message = "cannot store the event: " + err.message;
      return std::unexpected(err);
    }
    // The rows made, by (source, event_id); the first of a group's copies of one id took it.
    std::map<std::pair<std::string, std::string>, std::int64_t> made;
    for (int i = 0; i < inserted->size(); ++i)
      made.emplace(std::pair{inserted->text(i, 1), inserted->text(i, 2)}, inserted->integer(i, 0));
    std::map<std::pair<std::string, std::string>, const NewEvent*> first_of;
    DeliveryRows deliveries;
    std::vector<AcceptResult> results;
    results.reserve(events.size());
    for (const NewEvent& e : events) {
      std::pair key{e.source, e.id};
      const auto row = made.find(key);
      if (row == made.end() || first_of.contains(key)) {
        // Taken before this group, or by an earlier copy in it.
        AcceptResult r;
        if (auto earlier = first_of.find(key); earlier != first_of.end()) {
          r.outcome = earlier->second->body_sha256 == e.body_sha256
                          ? AcceptResult::Outcome::repeated
                          : AcceptResult::Outcome::conflict;
          r.response = earlier->second->response;
        } else {
          auto f = writer_->exec(
              "SELECT body_sha256, response FROM events WHERE source = $1 AND event_id = $2",
              {e.source, e.id});
          if (!f)
            return std::unexpected(f.error());
          if (f->empty())
            return std::unexpected(StoreError{StoreError::Kind::internal, "lookup: no such event"});
          r.outcome = f->text(0, 0) == e.body_sha256 ? AcceptResult::Outcome::repeated
                                                     : AcceptResult::Outcome::conflict;
          r.response = f->text(0, 1);
        }
        results.push_back(std::move(r));
        continue;
      }
      first_of.emplace(key, &e);
      const std::int64_t event_row = row->second;
      const date::time_zone* zone = e.zone;
      const std::string at_local =
          e.at_local.empty() ? policy::format_rfc3339(e.received_at, zone) : e.at_local;
      for (AuditRecord& r : event_records(e, at_local)) {
        if (r.kind == "awaiting_directory") {
          const std::string users = users_text(e.awaiting->users);
          auto w = writer_->exec(
              "INSERT INTO awaiting (event, directory, users, attempts, next_attempt_at, "
              "last_error) VALUES ($1, $2, $3, 1, $4, $5)",
              {event_row, e.awaiting->directory, users, instant_ms(e.awaiting->next_attempt_at),
               e.awaiting->error});
          if (!w)
            return std::unexpected(w.error());
        }
        append_audit(std::move(r));
      }
      DeliveryRef ref;
      ref.source = e.source;
      ref.event_id = e.id;
      ref.establishment = e.establishment;
      ref.category = e.category;
      ref.timezone = zone->name();
      if (auto d = store_deliveries(deliveries, event_row, ref, e.deliveries, e.received_at, zone,
                                    at_local);
          !d)
        return std::unexpected(d.error());
      ++events_added_;
      AcceptResult stored;
      stored.outcome = AcceptResult::Outcome::stored;
      stored.response = e.response;
      results.push_back(std::move(stored));
    }
    if (auto d = deliveries.insert.exec(*writer_); !d) {
      StoreError err = d.error();
      err.message = "cannot store a delivery: " + err.message;
      return std::unexpected(err);
    }
    return results;
  });
}

PgStore::DeliveryRows::DeliveryRows()
    : insert(
          "INSERT INTO deliveries (event, recipient, role, state, release_at, reason, "
          "updated_at, ready_seq, released_at, sink, partition)",
          {"bigint", "text", "text", "text", "bigint", "text", "bigint", "bigint", "bigint", "text",
           "smallint"}) {}

Result<bool> PgStore::release_under_way(DeliveryRows& rows, policy::Instant at) {
  if (!rows.earliest_stored_held) {
    auto q = writer_->exec("SELECT min(release_at) FROM deliveries WHERE state = 'held'");
    if (!q)
      return std::unexpected(q.error());
    rows.earliest_stored_held =
        q->is_null(0, 0) ? policy::Instant::max() : ms_instant(q->integer(0, 0));
  }
  return std::min(*rows.earliest_stored_held, rows.earliest_new_held) <= at;
}

Result<void> PgStore::store_deliveries(DeliveryRows& rows, std::int64_t event_row, DeliveryRef ref,
                                       std::span<const NewDelivery> deliveries, policy::Instant at,
                                       const date::time_zone* zone, const std::string& at_local) {
  // As in the SQLite store: a delivery decided "now" while held deliveries of an earlier or
  // the same instant are still to be released is stored held until its reception instant, so
  // that it reaches its recipient after them. Urgent bypasses go at once. The held ones are
  // those stored before this group and those of this group not yet inserted.
  std::optional<bool> behind;
  for (const NewDelivery& d : deliveries) {
    DeliveryState state = d.state;
    std::string_view kind = first_record_kind(d);
    std::string behind_detail;
    if (d.state == DeliveryState::due && !d.bypassed) {
      if (!behind) {
        auto r = release_under_way(rows, at);
        if (!r)
          return std::unexpected(r.error());
        behind = *r;
      }
      if (*behind) {
        state = DeliveryState::held;
        kind = "held";
        behind_detail = behind_release_detail(ref.source, d, zone);
      }
    }
    const std::int64_t partition = partition_of(ref.source, d.recipient);
    static const std::vector<std::string> kRoutedWhenSent{std::string()};
    for (const std::string& sink : d.sinks.empty() ? kRoutedWhenSent : d.sinks) {
      const bool due = state == DeliveryState::due;
      if (state == DeliveryState::held)
        rows.earliest_new_held = std::min(rows.earliest_new_held, d.release_at);
      rows.insert.add({event_row, d.recipient, policy::to_string(d.role), to_string(state),
                       instant_ms(d.release_at), d.reason, instant_ms(at),
                       due ? pg::Param(++ready_counter_) : pg::Param(std::nullopt),
                       due ? pg::Param(instant_ms(at)) : pg::Param(std::nullopt),
                       sink.empty() ? pg::Param(std::nullopt) : pg::Param(sink), partition});
      ref.recipient = d.recipient;
      ref.role = d.role;
      ref.sink = sink;
      append_audit(delivery_record(
          ref, kind, at, at_local,
          !behind_detail.empty()   ? behind_detail
          : d.audit_detail.empty() ? first_record_detail(ref.source, d, zone)
                                   : d.audit_detail,
          d.pseudonym.empty() ? pseudonyms_.pseudonym(ref.source, d.recipient) : d.pseudonym));
    }
  }
  return {};
}

Result<RetractResult> PgStore::retract(std::string_view source, std::string_view id,
                                       policy::Instant now) {
  return transaction<RetractResult>([&]() -> Result<RetractResult> {
    RetractResult out;
    DeliveryRef ref;
    ref.source = std::string(source);
    ref.event_id = std::string(id);
    auto f = writer_->exec(
        "SELECT id, establishment, category, timezone FROM events WHERE source = $1 AND "
        "event_id = $2",
        {source, id});
    if (!f)
      return std::unexpected(f.error());
    if (f->empty())
      return out;
    out.found = true;
    const std::int64_t event_row = f->integer(0, 0);
    ref.establishment = f->text(0, 1);
    ref.category = policy::parse_category(f->text(0, 2)).value_or(policy::Category::other);
    ref.timezone = f->text(0, 3);
    const date::time_zone* zone = zone_or_utc(ref.timezone);
    const std::string at_local = policy::format_rfc3339(now, zone);
    // An event waiting for the directory has no deliveries yet: its wait ends here.
    auto w = writer_->exec("DELETE FROM awaiting WHERE event = $1", {event_row});
    if (!w)
      return std::unexpected(w.error());
    if (w->affected() > 0) {
      out.was_awaiting = true;
      AuditRecord r;
      r.at_ms = instant_ms(now);
      r.at_local = at_local;
      r.kind = "retracted";
      r.source = ref.source;
      r.event_id = ref.event_id;
      r.establishment = ref.establishment;
      r.category = policy::to_string(ref.category);
      r.detail = Detail().add_bool("awaiting_directory", true).text();
      append_audit(std::move(r));
      return out;
    }
    auto q = writer_->exec(
        "SELECT seq, recipient, role, state, release_at, reason, sink FROM deliveries "
        "WHERE event = $1 ORDER BY seq",
        {event_row});
    if (!q)
      return std::unexpected(q.error());
    for (int i = 0; i < q->size(); ++i) {
      DeliveryView v;
      v.recipient = q->text(i, 1);
      v.role = policy::parse_role(q->text(i, 2)).value_or(policy::Role::student);
      v.state = parse_delivery_state(q->text(i, 3)).value_or(DeliveryState::held);
      v.release_at = ms_instant(q->integer(i, 4));
      v.reason = q->text(i, 5);
      v.sink = q->text(i, 6);
      if (v.state != DeliveryState::held) {
        out.not_retracted.push_back(std::move(v));
        continue;
      }
      const std::int64_t seq = q->integer(i, 0);
      auto u = writer_->exec("UPDATE deliveries SET state = $1, updated_at = $2 WHERE seq = $3",
                             {to_string(DeliveryState::retracted), instant_ms(now), seq});
      if (!u)
        return std::unexpected(u.error());
      ref.seq = seq;
      ref.recipient = v.recipient;
      ref.role = v.role;
      ref.sink = v.sink;
      append_audit(delivery_record(ref, "retracted", now, at_local,
                                   Detail().add_instant("was_until", v.release_at, zone).text(),
                                   pseudonyms_.pseudonym(ref.source, ref.recipient)));
      v.state = DeliveryState::retracted;
      out.retracted.push_back(std::move(v));
    }
    return out;
  });
}

Result<std::optional<EventView>> PgStore::find(std::string_view source, std::string_view id) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  pg::Connection& db = **c;
  auto e = db.exec(
      "SELECT id, establishment, category, received_at, timezone FROM events WHERE source = $1 "
      "AND event_id = $2",
      {source, id});
  if (!e)
    return std::unexpected(e.error());
  if (e->empty())
    return std::optional<EventView>{};
  EventView v;
  const std::int64_t row = e->integer(0, 0);
  v.source = std::string(source);
  v.id = std::string(id);
  v.establishment = e->text(0, 1);
  v.category = policy::parse_category(e->text(0, 2)).value_or(policy::Category::other);
  v.received_at = ms_instant(e->integer(0, 3));
  v.timezone = e->text(0, 4);
  auto q = db.exec(
      "SELECT seq, recipient, role, state, release_at, reason, sink, attempts, released_at, "
      "last_error, digest, updated_at FROM deliveries WHERE event = $1 ORDER BY seq",
      {row});
  if (!q)
    return std::unexpected(q.error());
  for (int i = 0; i < q->size(); ++i) {
    DeliveryView d;
    d.seq = q->integer(i, 0);
    d.recipient = q->text(i, 1);
    d.recipient_pseudonym = c->pseudonyms().pseudonym(v.source, d.recipient);
    d.role = policy::parse_role(q->text(i, 2)).value_or(policy::Role::student);
    d.state = parse_delivery_state(q->text(i, 3)).value_or(DeliveryState::held);
    d.release_at = ms_instant(q->integer(i, 4));
    d.reason = q->text(i, 5);
    d.sink = q->text(i, 6);
    d.attempts = static_cast<int>(q->integer(i, 7));
    if (!q->is_null(i, 8))
      d.released_at = ms_instant(q->integer(i, 8));
    d.last_error = q->text(i, 9);
    d.digest = q->text(i, 10);
    d.updated_at = ms_instant(q->integer(i, 11));
    v.deliveries.push_back(std::move(d));
  }
  if (v.deliveries.empty()) {
    auto a = db.exec(
        "SELECT directory, last_error, attempts, next_attempt_at FROM awaiting WHERE event = $1",
        {row});
    if (!a)
      return std::unexpected(a.error());
    if (!a->empty()) {
      AwaitingView w;
      w.directory = a->text(0, 0);
      w.reason = a->text(0, 1);
      w.attempts = static_cast<int>(a->integer(0, 2));
      w.next_attempt_at = ms_instant(a->integer(0, 3));
      v.awaiting = std::move(w);
    }
  }
  return std::optional<EventView>{std::move(v)};
}

void PgStore::note_write(const StoreError* failure) {
  std::lock_guard lock(write_failure_mutex_);
  if (failure && failure->storage_failed) {
    if (!write_failure_)
      spdlog::error("event=store.writes_failing error={}", core::quoted(failure->message));
    write_failure_ = failure->message;
  } else if (!failure && write_failure_) {
    spdlog::info("event=store.writes_recovered");
    write_failure_.reset();
  }
}

Result<void> PgStore::check() {
  {
    std::lock_guard lock(write_failure_mutex_);
    if (write_failure_) {
      return std::unexpected(StoreError{StoreError::Kind::unavailable,
                                        "writes are failing: " + *write_failure_, true});
    }
  }
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto r = (*c)->exec("SELECT value FROM meta WHERE key = 'schema_version'");
  if (!r)
    return std::unexpected(r.error());
  return {};
}

}  // namespace treve::store
