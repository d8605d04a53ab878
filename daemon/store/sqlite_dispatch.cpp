// SqliteStore as a DispatchStore: releasing what is due, the dispatcher's reads, outcomes,
// replays, the deliveries listed for operators.
#include "daemon/store/dispatch_records.h"
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
        records.push_back(released_record(pseudonyms_, d.ref, d.release_at, now));
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

}  // namespace

Result<void> SqliteStore::record_outcomes(std::span<const DeliveryOutcome> outcomes,
                                          policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    // Deliveries held again, by recipient (source, recipient, sink): the earliest of them.
    HeldAgain held;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const DeliveryOutcome& o = outcomes[i];
      if (opens_digest(outcomes, i)) {
        if (auto a = append_audit(digest_record(pseudonyms_, outcomes.subspan(i), now)); !a)
          return a;
      }
      if (o.kind == DeliveryOutcome::Kind::held_again) {
        auto r = record_held_again(o, now);
        if (!r)
          return std::unexpected(r.error());
        if (*r)
          remember_held_again(held, o);
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
      if (auto a = append_audit(outcome_record(pseudonyms_, o, now)); !a)
        return std::unexpected(a.error());
    }
    if (!held.empty())
      return hold_followers(held, now);
    return {};
  });
}

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
      if (const DeliveryOutcome* first = followed(held, ref, q.integer(kRefColumns) != 0))
        followers.push_back(follower_held_again(*first, std::move(ref)));
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
      if (!first)
        continue;
      if (auto m = follower_moved(*first, std::move(ref), was))
        moves.push_back(std::move(*m));
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
  if (auto a = append_audit(held_again_record(pseudonyms_, o, now)); !a)
    return std::unexpected(a.error());
  return true;
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
        if (auto a = append_audit(replayed_record(pseudonyms_, row, now)); !a)
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
