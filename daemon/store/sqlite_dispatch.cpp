// SqliteStore as a DispatchStore: releasing what is due, the dispatcher's reads, outcomes,
// replays, the deliveries listed for operators.
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {
namespace {

// The first columns of a row (TREVE_REF_COLUMNS, sqlite_schema.cpp).
constexpr int kRefColumns = 9;
DeliveryRef read_ref(const Statement& q) {
  DeliveryRef ref;
  ref.seq = q.integer(0);
  ref.source = q.text(1);
  ref.event_id = q.text(2);
  ref.establishment = q.text(3);
  ref.category = policy::parse_category(q.text(4)).value_or(policy::Category::other);
  ref.timezone = q.text(5);
  ref.recipient = q.text(6);
  ref.role = policy::parse_role(q.text(7)).value_or(policy::Role::student);
  ref.sink = q.text(8);
  return ref;
}

}  // namespace

Result<std::vector<ReleasedDelivery>> SqliteStore::release_due(policy::Instant now,
                                                               std::size_t limit) {
  return transaction<std::vector<ReleasedDelivery>>([&]() -> Result<std::vector<ReleasedDelivery>> {
    std::vector<ReleasedDelivery> out;
    std::vector<AuditRecord> records;
    {
      Statement& q = st_->due;
      Resetter reset{q};
      q.bind(1, instant_ms(now)).bind(2, static_cast<std::int64_t>(limit));
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        ReleasedDelivery d;
        d.ref = read_ref(q);
        d.release_at = ms_instant(q.integer(kRefColumns));
        const date::time_zone* zone = zone_or_utc(d.ref.timezone);
        records.push_back(delivery_record(
            d.ref, "released", now, policy::format_rfc3339(now, zone),
            Detail().add("release_at", policy::format_rfc3339(d.release_at, zone)).text()));
        out.push_back(std::move(d));
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "read"));
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      Statement& u = st_->release;
      {
        Resetter reset{u};
        u.bind(1, instant_ms(now)).bind(2, take_ready_seq()).bind(3, out[i].ref.seq);
        if (int rc = u.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot release"));
        }
      }
      if (auto a = append_audit(records[i]); !a)
        return std::unexpected(a.error());
    }
    return out;
  });
}

namespace {

DispatchItem read_dispatch_item(const Statement& q) {
  DispatchItem d;
  d.ref = read_ref(q);
  constexpr int k = kRefColumns;
  d.ready_seq = q.is_null(k) ? 0 : q.integer(k);
  d.state = parse_delivery_state(q.text(k + 1)).value_or(DeliveryState::due);
  d.urgent = q.integer(k + 2) != 0;
  d.received_at = ms_instant(q.integer(k + 3));
  d.release_at = ms_instant(q.integer(k + 4));
  d.released_at = q.is_null(k + 5) ? d.release_at : ms_instant(q.integer(k + 5));
  d.body = q.text(k + 6);
  d.attempts = static_cast<int>(q.integer(k + 7));
  if (!q.is_null(k + 8))
    d.first_attempt_at = ms_instant(q.integer(k + 8));
  if (!q.is_null(k + 9))
    d.next_attempt_at = ms_instant(q.integer(k + 9));
  return d;
}

std::string_view outcome_state(DeliveryOutcome::Kind k) {
  switch (k) {
    case DeliveryOutcome::Kind::delivered:
      return "delivered";
    case DeliveryOutcome::Kind::retrying:
      return "retrying";
    case DeliveryOutcome::Kind::dead:
      return "dead";
    case DeliveryOutcome::Kind::no_address:
      return "no_address";
    case DeliveryOutcome::Kind::held_again:
      return "held";
  }
  return "dead";
}

}  // namespace

Result<void> SqliteStore::record_outcomes(std::span<const DeliveryOutcome> outcomes,
                                          policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    // Deliveries held again, by recipient (source, recipient, sink): the earliest of them.
    HeldAgain held;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const DeliveryOutcome& o = outcomes[i];
      // A digest's id is made from its deliveries' ids, which are the same for every sink:
      // the FCM and Web Push digests of one recipient share it. A new sink is a new digest.
      if (!o.digest.empty() &&
          (i == 0 || outcomes[i - 1].digest != o.digest || outcomes[i - 1].sink != o.sink)) {
        if (auto r = record_digest(outcomes.subspan(i), now); !r)
          return r;
      }
      if (o.kind == DeliveryOutcome::Kind::held_again) {
        auto r = record_held_again(o, now);
        if (!r)
          return std::unexpected(r.error());
        if (*r) {
          auto [it, first] = held.try_emplace({o.ref.source, o.ref.recipient, o.ref.sink}, &o);
          if (!first && o.ref.seq < it->second->ref.seq)
            it->second = &o;
        }
        continue;
      }
      Statement& u = st_->outcome;
      {
        Resetter reset{u};
        u.bind(1, outcome_state(o.kind)).bind(2, instant_ms(now));
        u.bind(3, std::int64_t{o.attempts}).bind(4, instant_ms(o.first_attempt_at));
        if (o.kind == DeliveryOutcome::Kind::retrying)
          u.bind(5, instant_ms(o.next_attempt_at));
        else
          u.bind_null(5);
        u.bind(6, o.sink);
        if (o.error.empty())
          u.bind_null(7);
        else
          u.bind(7, o.error);
        u.bind(8, o.ref.seq);
        if (o.digest.empty())
          u.bind_null(9);
        else
          u.bind(9, o.digest);
        if (int rc = u.step(); rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot record a delivery outcome"));
      }
      if (sqlite3_changes(writer_) == 0)
        continue;  // no longer due or retrying: replayed or changed meanwhile
      const date::time_zone* zone = zone_or_utc(o.ref.timezone);
      DeliveryRef d_ref = o.ref;
      if (d_ref.sink.empty())
        d_ref.sink = o.sink;  // routed when sent: the sink it went to
      Detail detail;
      if (!o.channel.empty())
        detail.add("channel", o.channel);
      detail.add("attempt", std::int64_t{o.attempts});
      if (!o.addresses.empty())
        detail.add_raw("to", address_pseudonyms(o.ref.source, o.addresses));
      if (!o.digest.empty())
        detail.add("digest", o.digest);
      if (o.status)
        detail.add("status", std::int64_t{o.status});
      if (!o.error.empty())
        detail.add("error", o.error);
      detail.add("webhook_id", o.webhook_id);
      // Sent in a batch, the request's id is the batch's: the delivery's own id (the one the
      // receiver deduplicates on) is recorded beside it.
      if (!o.delivery_id.empty() && o.delivery_id != o.webhook_id)
        detail.add("delivery_id", o.delivery_id);
      std::string_view kind = "dead_lettered";
      switch (o.kind) {
        case DeliveryOutcome::Kind::delivered:
          kind = "delivered";
          break;
        case DeliveryOutcome::Kind::retrying:
          kind = "retrying";
          detail.add_instant("next_attempt", o.next_attempt_at, zone);
          break;
        case DeliveryOutcome::Kind::dead:
          kind = "dead_lettered";
          break;
        case DeliveryOutcome::Kind::no_address:
          kind = "no_address";
          break;
        case DeliveryOutcome::Kind::held_again:
          break;  // recorded above
      }
      AuditRecord r =
          delivery_record(d_ref, kind, now, policy::format_rfc3339(now, zone), detail.text());
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
    }
    if (!held.empty())
      return hold_followers(held, now);
    return {};
  });
}

namespace {

// The delivery held again that `ref` follows (same source, recipient and sink, received
// before it); null when none, or when `ref` is urgent (an urgent bypass never waits).
const DeliveryOutcome* followed(const SqliteStore::HeldAgain& held, const DeliveryRef& ref,
                                bool urgent) {
  const auto it = held.find({ref.source, ref.recipient, ref.sink});
  if (urgent || it == held.end() || ref.seq <= it->second->ref.seq)
    return nullptr;
  return it->second;
}

// The reason of a follower held with `first`.
std::string behind(const DeliveryOutcome& first) {
  return "behind " + first.ref.event_id + ", held again: " + first.hold_reason;
}

}  // namespace

// A recipient's later deliveries that are due or retrying must not go before one held again
// (they would overtake it at the window's end): the dispatcher holds those it has in memory
// with it; this holds, in the same transaction, those it has not read yet (urgent ones
// excepted: an urgent bypass never waits for a quiet time). One pass over the due and retrying
// deliveries (the state index), per transaction that holds some again.
Result<void> SqliteStore::hold_followers(const HeldAgain& held, policy::Instant now) {
  std::vector<DeliveryOutcome> followers;
  {
    Statement& q = st_->pending_of_recipients;
    Resetter reset{q};
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      DeliveryRef ref = read_ref(q);
      const DeliveryOutcome* first = followed(held, ref, q.integer(kRefColumns) != 0);
      if (!first)
        continue;
      DeliveryOutcome o;
      o.kind = DeliveryOutcome::Kind::held_again;
      o.ref = std::move(ref);
      o.sink = first->sink;
      o.held_until = first->held_until;
      o.hold_reason = behind(*first);
      followers.push_back(std::move(o));
    }
    if (rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot read the deliveries due"));
  }
  for (const DeliveryOutcome& o : followers) {
    if (auto r = record_held_again(o, now); !r)
      return std::unexpected(r.error());
  }
  return hold_overdue_followers(held, now);
}

// The same for a recipient's later deliveries still held with a release instant already past
// (a start-up release interrupted by a kill leaves some released, some not): released later,
// they would go before the one held again. Each is moved to its instant, with a `replanned`
// record. One pass over the held deliveries whose instant has passed: none but during a
// release.
Result<void> SqliteStore::hold_overdue_followers(const HeldAgain& held, policy::Instant now) {
  std::vector<Replan> moves;
  {
    Statement& q = st_->overdue_of_recipients;
    Resetter reset{q};
    q.bind(1, instant_ms(now));
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      DeliveryRef ref = read_ref(q);
      const DeliveryOutcome* first = followed(held, ref, q.integer(kRefColumns) != 0);
      const policy::Instant was = ms_instant(q.integer(kRefColumns + 1));
      if (!first || was >= first->held_until)
        continue;
      Replan m;
      m.ref = std::move(ref);
      m.was = was;
      m.release_at = first->held_until;
      m.reason = behind(*first);
      moves.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot read the deliveries held"));
  }
  for (const Replan& m : moves) {
    if (auto r = move_held(m, now); !r)
      return std::unexpected(r.error());
  }
  return {};
}

// A due or retrying delivery whose recipient's quiet time began before it could be sent: held
// again, its retry period starting over at its next attempt (its attempts are kept). False when
// it was no longer due or retrying.
Result<bool> SqliteStore::record_held_again(const DeliveryOutcome& o, policy::Instant now) {
  Statement& u = st_->hold_again;
  {
    Resetter reset{u};
    u.bind(1, instant_ms(o.held_until)).bind(2, o.hold_reason).bind(3, instant_ms(now));
    u.bind(4, o.ref.seq);
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot hold a delivery again"));
  }
  if (sqlite3_changes(writer_) == 0)
    return false;  // no longer due or retrying: replayed or changed meanwhile
  const date::time_zone* zone = zone_or_utc(o.ref.timezone);
  DeliveryRef d_ref = o.ref;
  if (d_ref.sink.empty())
    d_ref.sink = o.sink;
  Detail detail;
  detail.add_instant("until", o.held_until, zone);  // null: held until the policy is corrected
  detail.add("reason", o.hold_reason).add("attempts", std::int64_t{o.attempts});
  AuditRecord r =
      delivery_record(d_ref, "held_again", now, policy::format_rfc3339(now, zone), detail.text());
  if (auto a = append_audit(r); !a)
    return std::unexpected(a.error());
  return true;
}

std::string SqliteStore::address_pseudonyms(std::string_view source,
                                            std::span<const std::string> addresses) const {
  std::string out = "[";
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (i)
      out += ',';
    core::append_json_string(out, pseudonyms_.pseudonym(source, addresses[i]));
  }
  out += ']';
  return out;
}

// One record for a morning digest before those of the deliveries it carried: the sink, the
// digest's id, how it went, and the notifications it covers (by event id).
Result<void> SqliteStore::record_digest(std::span<const DeliveryOutcome> from,
                                        policy::Instant now) {
  const DeliveryOutcome& first = from.front();
  std::string covers = "[";
  std::size_t n = 0;
  for (const DeliveryOutcome& o : from) {
    if (o.digest != first.digest || o.sink != first.sink)
      break;
    if (n++)
      covers += ',';
    core::append_json_string(covers, o.ref.event_id);
  }
  covers += ']';
  DeliveryRef ref = first.ref;
  if (ref.sink.empty())
    ref.sink = first.sink;
  ref.event_id = first.digest;
  const date::time_zone* zone = zone_or_utc(ref.timezone);
  Detail detail;
  if (!first.channel.empty())
    detail.add("channel", first.channel);
  detail.add("id", first.digest).add("outcome", outcome_state(first.kind));
  detail.add("notifications", static_cast<std::int64_t>(n)).add_raw("covers", covers);
  AuditRecord r =
      delivery_record(ref, "digest", now, policy::format_rfc3339(now, zone), detail.text());
  if (auto a = append_audit(r); !a)
    return std::unexpected(a.error());
  return {};
}

Result<std::size_t> SqliteStore::replay(std::span<const std::int64_t> seqs, policy::Instant now) {
  return transaction<std::size_t>([&]() -> Result<std::size_t> {
    std::size_t replayed = 0;
    auto replay_matching = [&](std::int64_t seq) -> Result<void> {
      std::vector<DeliveryRef> rows;
      {
        Statement& q = st_->dead_for_replay;
        Resetter reset{q};
        q.bind(1, seq);
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) {
          rows.push_back(read_ref(q));
        }
        if (rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "read"));
      }
      for (const DeliveryRef& row : rows) {
        Statement& u = st_->replay_one;
        {
          Resetter reset{u};
          u.bind(1, instant_ms(now)).bind(2, take_ready_seq()).bind(3, row.seq);
          if (int rc = u.step(); rc != SQLITE_DONE)
            return std::unexpected(error_of(writer_, rc, "cannot replay"));
        }
        AuditRecord r = delivery_record(
            row, "replayed", now, policy::format_rfc3339(now, zone_or_utc(row.timezone)), "{}");
        if (auto a = append_audit(r); !a)
          return std::unexpected(a.error());
        ++replayed;
      }
      return {};
    };
    if (seqs.empty()) {
      if (auto r = replay_matching(0); !r)
        return std::unexpected(r.error());
    }
    for (std::int64_t seq : seqs) {
      if (seq <= 0)
        continue;
      if (auto r = replay_matching(seq); !r)
        return std::unexpected(r.error());
    }
    return replayed;
  });
}

template <typename Query>
Result<std::vector<DispatchItem>> SqliteStore::dispatch_items(Query& q, std::int64_t after,
                                                              std::size_t limit) {
  std::lock_guard lock(reader_mutex_);
  std::vector<DispatchItem> out;
  Resetter reset{q};
  q.bind(1, after).bind(2, static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_dispatch_item(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::vector<DispatchItem>> SqliteStore::ready(std::int64_t after_ready_seq,
                                                     std::size_t limit) {
  return dispatch_items(st_->ready, after_ready_seq, limit);
}

Result<std::vector<DispatchItem>> SqliteStore::retrying(std::int64_t after_seq, std::size_t limit) {
  return dispatch_items(st_->retrying, after_seq, limit);
}

Result<std::vector<DeliveryRow>> SqliteStore::list(DeliveryState state, std::int64_t after_seq,
                                                   std::size_t limit) {
  std::lock_guard lock(reader_mutex_);
  std::vector<DeliveryRow> out;
  Statement& q = st_->list;
  Resetter reset{q};
  q.bind(1, to_string(state)).bind(2, after_seq).bind(3, static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    DeliveryRow d;
    d.ref = read_ref(q);
    constexpr int k = kRefColumns;
    d.state = parse_delivery_state(q.text(k)).value_or(state);
    d.release_at = ms_instant(q.integer(k + 1));
    d.attempts = static_cast<int>(q.integer(k + 2));
    d.sink = d.ref.sink;
    d.last_error = q.text(k + 3);
    d.updated_at = ms_instant(q.integer(k + 4));
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::uint64_t> SqliteStore::held_count() {
  std::lock_guard lock(reader_mutex_);
  Statement& q = st_->count_held;
  Resetter reset{q};
  if (int rc = q.step(); rc != SQLITE_ROW)
    return std::unexpected(error_of(reader_, rc, "read"));
  return static_cast<std::uint64_t>(q.integer(0));
}

Result<std::optional<policy::Instant>> SqliteStore::next_release() {
  std::lock_guard lock(reader_mutex_);
  Statement& q = st_->next_release;
  Resetter reset{q};
  return optional_instant(q, reader_);
}

}  // namespace treve::store
