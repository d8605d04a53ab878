// SqliteStore as an IngestStore: accept, retract, find, check.
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

void SqliteStore::prepare(std::span<NewEvent> events) const {
  prepare_events(events, prepare_pseudonyms_, prepare_mutex_);
}

Result<std::vector<AcceptResult>> SqliteStore::accept(std::span<const NewEvent> events,
                                                      policy::Instant now) {
  (void)now;
  return transaction<std::vector<AcceptResult>>([&]() -> Result<std::vector<AcceptResult>> {
    std::vector<AcceptResult> results;
    results.reserve(events.size());
    std::int64_t stored_events = 0;
    for (const NewEvent& e : events) {
      // The insert does nothing for an id already taken (the unique index answers), and only
      // then is the earlier event read: one index search per new event instead of two.
      std::int64_t event_row = 0;
      {
        Statement& s = st_->insert_event;
        Resetter reset{s};
        s.bind(1, e.source).bind(2, e.id).bind(3, e.establishment);
        s.bind(4, policy::to_string(e.category)).bind(5, std::int64_t{e.urgent});
        s.bind(6, instant_ms(e.received_at)).bind(7, e.zone->name()).bind(8, e.body);
        s.bind(9, e.body_sha256).bind(10, e.response);
        if (int rc = s.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot store the event"));
        }
        if (sqlite3_changes(writer_) > 0)
          event_row = sqlite3_last_insert_rowid(writer_);
      }
      if (event_row == 0) {
        Statement& f = st_->find_event;
        Resetter reset{f};
        f.bind(1, e.source).bind(2, e.id);
        int rc = f.step();
        if (rc != SQLITE_ROW)
          return std::unexpected(error_of(writer_, rc, "lookup"));
        AcceptResult r;
        r.outcome = f.text(0) == e.body_sha256 ? AcceptResult::Outcome::repeated
                                               : AcceptResult::Outcome::conflict;
        r.response = f.text(1);
        results.push_back(std::move(r));
        continue;
      }
      const date::time_zone* zone = e.zone;
      const std::string at_local =
          e.at_local.empty() ? policy::format_rfc3339(e.received_at, zone) : e.at_local;
      // The event's own records (no recipient).
      std::vector<AuditRecord> own = event_records(e, at_local);
      for (AuditRecord& r : own) {
        if (r.kind == "awaiting_directory") {
          if (auto w = insert_awaiting(event_row, *e.awaiting); !w)
            return std::unexpected(w.error());
        }
        if (auto a = append_audit(r); !a)
          return std::unexpected(a.error());
      }
      DeliveryRef ref;
      ref.source = e.source;
      ref.event_id = e.id;
      ref.establishment = e.establishment;
      ref.category = e.category;
      ref.timezone = zone->name();
      if (auto d = store_deliveries(event_row, ref, e.deliveries, e.received_at, zone, at_local);
          !d)
        return std::unexpected(d.error());
      ++stored_events;
      AcceptResult stored;
      stored.outcome = AcceptResult::Outcome::stored;
      stored.response = e.response;
      results.push_back(std::move(stored));
    }
    if (auto c = add_events(stored_events); !c)
      return std::unexpected(c.error());
    return results;
  });
}

Result<bool> SqliteStore::release_under_way(policy::Instant at) {
  Statement& q = st_->overdue;
  Resetter reset{q};
  q.bind(1, instant_ms(at));
  const int rc = q.step();
  if (rc == SQLITE_ROW)
    return true;
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(writer_, rc, "read"));
  return false;
}

Result<void> SqliteStore::store_deliveries(std::int64_t event_row, DeliveryRef ref,
                                           std::span<const NewDelivery> deliveries,
                                           policy::Instant at, const date::time_zone* zone,
                                           const std::string& at_local) {
  // A delivery decided "now" while held deliveries of an earlier or the same instant are still
  // to be released (the scheduler releases in transactions of up to 1000, with other writes
  // between them, and after a restart it starts with what became due while the daemon was
  // down) would become due before them and reach its recipient before notifications received
  // earlier. It is stored held until its reception instant instead, so that the scheduler
  // releases it after them, in (release instant, receipt) order. Urgent bypasses go at once.
  std::optional<bool> behind;
  for (const NewDelivery& d : deliveries) {
    DeliveryState state = d.state;
    std::string_view kind = first_record_kind(d);
    std::string behind_detail;
    if (d.state == DeliveryState::due && !d.bypassed) {
      if (!behind) {
        auto r = release_under_way(at);
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
    static const std::vector<std::string> kRoutedWhenSent{std::string()};
    for (const std::string& sink : d.sinks.empty() ? kRoutedWhenSent : d.sinks) {
      Statement& s = st_->insert_delivery;
      {
        Resetter reset{s};
        s.bind(1, event_row).bind(2, d.recipient).bind(3, policy::to_string(d.role));
        s.bind(4, to_string(state)).bind(5, instant_ms(d.release_at)).bind(6, d.reason);
        s.bind(7, instant_ms(at));
        if (state == DeliveryState::due) {
          s.bind(8, take_ready_seq()).bind(9, instant_ms(at));
        } else {
          s.bind_null(8).bind_null(9);
        }
        if (sink.empty())
          s.bind_null(10);
        else
          s.bind(10, sink);
        if (int rc = s.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot store a delivery"));
        }
      }
      ref.seq = sqlite3_last_insert_rowid(writer_);
      ref.recipient = d.recipient;
      ref.role = d.role;
      ref.sink = sink;
      AuditRecord dr =
          delivery_record(ref, kind, at, at_local,
                          !behind_detail.empty()   ? behind_detail
                          : d.audit_detail.empty() ? first_record_detail(ref.source, d, zone)
                                                   : d.audit_detail,
                          d.pseudonym);
      if (auto a = append_audit(dr); !a)
        return std::unexpected(a.error());
    }
  }
  return {};
}

Result<RetractResult> SqliteStore::retract(std::string_view source, std::string_view id,
                                           policy::Instant now) {
  return transaction<RetractResult>([&]() -> Result<RetractResult> {
    RetractResult out;
    std::int64_t event_row = 0;
    DeliveryRef ref;
    ref.source = std::string(source);
    ref.event_id = std::string(id);
    const date::time_zone* zone = nullptr;
    {
      Statement& f = st_->event_for_write;
      Resetter reset{f};
      f.bind(1, source).bind(2, id);
      int rc = f.step();
      if (rc == SQLITE_DONE)
        return out;
      if (rc != SQLITE_ROW)
        return std::unexpected(error_of(writer_, rc, "lookup"));
      out.found = true;
      event_row = f.integer(0);
      ref.establishment = f.text(1);
      ref.category = policy::parse_category(f.text(2)).value_or(policy::Category::other);
      ref.timezone = f.text(3);
      zone = zone_or_utc(ref.timezone);
    }
    const std::string at_local = policy::format_rfc3339(now, zone);
    {
      // An event waiting for the directory has no deliveries yet: its wait ends here.
      Statement w(writer_, "DELETE FROM awaiting WHERE event = ?");
      w.bind(1, event_row);
      if (int rc = w.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot retract"));
      if (sqlite3_changes(writer_) > 0) {
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
        if (auto a = append_audit(r); !a)
          return std::unexpected(a.error());
        return out;
      }
    }
    std::vector<std::pair<std::int64_t, DeliveryView>> rows;
    {
      Statement& q = st_->deliveries_for_write;
      Resetter reset{q};
      q.bind(1, event_row);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        DeliveryView v;
        v.recipient = q.text(1);
        v.role = policy::parse_role(q.text(2)).value_or(policy::Role::student);
        v.state = parse_delivery_state(q.text(3)).value_or(DeliveryState::held);
        v.release_at = ms_instant(q.integer(4));
        v.reason = q.text(5);
        v.sink = q.text(6);
        rows.emplace_back(q.integer(0), std::move(v));
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "read"));
    }
    for (auto& [seq, v] : rows) {
      if (v.state != DeliveryState::held) {
        out.not_retracted.push_back(std::move(v));
        continue;
      }
      Statement& u = st_->set_state;
      {
        Resetter reset{u};
        u.bind(1, to_string(DeliveryState::retracted)).bind(2, instant_ms(now)).bind(3, seq);
        if (int rc = u.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot retract"));
        }
      }
      ref.seq = seq;
      ref.recipient = v.recipient;
      ref.role = v.role;
      ref.sink = v.sink;
      AuditRecord r = delivery_record(ref, "retracted", now, at_local,
                                      Detail().add_instant("was_until", v.release_at, zone).text());
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
      v.state = DeliveryState::retracted;
      out.retracted.push_back(std::move(v));
    }
    return out;
  });
}

Result<std::optional<EventView>> SqliteStore::find(std::string_view source, std::string_view id) {
  std::lock_guard lock(reader_mutex_);
  EventView v;
  std::int64_t row = 0;
  {
    Statement& q = st_->read_event;
    Resetter reset{q};
    q.bind(1, source).bind(2, id);
    int rc = q.step();
    if (rc == SQLITE_DONE)
      return std::optional<EventView>{};
    if (rc != SQLITE_ROW)
      return std::unexpected(error_of(reader_, rc, "read"));
    row = q.integer(0);
    v.source = std::string(source);
    v.id = std::string(id);
    v.establishment = q.text(1);
    v.category = policy::parse_category(q.text(2)).value_or(policy::Category::other);
    v.received_at = ms_instant(q.integer(3));
    v.timezone = q.text(4);
  }
  Statement& q = st_->read_deliveries;
  Resetter reset{q};
  q.bind(1, row);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    DeliveryView d;
    d.seq = q.integer(0);
    d.recipient = q.text(1);
    d.recipient_pseudonym = reader_pseudonyms_.pseudonym(v.source, d.recipient);
    d.role = policy::parse_role(q.text(2)).value_or(policy::Role::student);
    d.state = parse_delivery_state(q.text(3)).value_or(DeliveryState::held);
    d.release_at = ms_instant(q.integer(4));
    d.reason = q.text(5);
    d.sink = q.text(6);
    d.attempts = static_cast<int>(q.integer(7));
    if (!q.is_null(8))
      d.released_at = ms_instant(q.integer(8));
    d.last_error = q.text(9);
    d.digest = q.text(10);
    d.updated_at = ms_instant(q.integer(11));
    v.deliveries.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  if (v.deliveries.empty()) {
    Statement a(reader_,
                "SELECT directory, last_error, attempts, next_attempt_at FROM awaiting "
                "WHERE event = ?");
    a.bind(1, row);
    rc = a.step();
    if (rc == SQLITE_ROW) {
      AwaitingView w;
      w.directory = a.text(0);
      w.reason = a.text(1);
      w.attempts = static_cast<int>(a.integer(2));
      w.next_attempt_at = ms_instant(a.integer(3));
      v.awaiting = std::move(w);
    } else if (rc != SQLITE_DONE) {
      return std::unexpected(error_of(reader_, rc, "read"));
    }
  }
  return std::optional<EventView>{std::move(v)};
}

Result<void> SqliteStore::check() {
  {
    std::lock_guard lock(write_failure_mutex_);
    if (write_failure_) {
      return std::unexpected(StoreError{
          StoreError::Kind::unavailable,
          "the last write failed (" + *write_failure_ + ") and none has succeeded since", true});
    }
  }
  std::lock_guard lock(reader_mutex_);
  // Reads a row of the database file itself, not only the connection.
  return exec(reader_, "SELECT value FROM meta WHERE key = 'schema_version'");
}

}  // namespace treve::store
