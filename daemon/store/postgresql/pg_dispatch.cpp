// PgStore as a DispatchStore: releasing what is due, the dispatcher's reads, outcomes, holds
// again with their followers, replays, the deliveries listed for operators. The same records,
// in the same order, as the SQLite store's (dispatch_records.h); the same rules
// (docs/delivery.md). One daemon dispatches a database for now; with several, each will read
// only the partitions it leases (docs/design/postgresql.md).
#include <set>

#include "daemon/store/dispatch_records.h"
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

namespace {

// The columns of a DeliveryRef, first in every query that reads one (read_ref).
#define TREVE_PG_REF_COLUMNS                                                            \
  "d.seq, e.source, e.event_id, e.establishment, e.category, e.timezone, d.recipient, " \
  "d.role, d.sink"
constexpr int kRefColumns = 9;
// The columns of a DispatchItem (read_dispatch_item).
#define TREVE_PG_DISPATCH_COLUMNS                                   \
  TREVE_PG_REF_COLUMNS                                              \
  ", d.ready_seq, d.state, e.urgent, e.received_at, d.release_at, " \
  "d.released_at, e.body, d.attempts, d.first_attempt_at, d.next_attempt_at"

DeliveryRef read_ref(const pg::Rows& q, int i) {
  DeliveryRef ref;
  ref.seq = q.integer(i, 0);
  ref.source = q.text(i, 1);
  ref.event_id = q.text(i, 2);
  ref.establishment = q.text(i, 3);
  ref.category = policy::parse_category(q.text(i, 4)).value_or(policy::Category::other);
  ref.timezone = q.text(i, 5);
  ref.recipient = q.text(i, 6);
  ref.role = policy::parse_role(q.text(i, 7)).value_or(policy::Role::student);
  ref.sink = q.text(i, 8);
  return ref;
}

DispatchItem read_dispatch_item(const pg::Rows& q, int i) {
  DispatchItem d;
  d.ref = read_ref(q, i);
  constexpr int k = kRefColumns;
  d.ready_seq = q.is_null(i, k) ? 0 : q.integer(i, k);
  d.state = parse_delivery_state(q.text(i, k + 1)).value_or(DeliveryState::due);
  d.urgent = q.integer(i, k + 2) != 0;
  d.received_at = ms_instant(q.integer(i, k + 3));
  d.release_at = ms_instant(q.integer(i, k + 4));
  d.released_at = q.is_null(i, k + 5) ? d.release_at : ms_instant(q.integer(i, k + 5));
  d.body = q.text(i, k + 6);
  d.attempts = static_cast<int>(q.integer(i, k + 7));
  if (!q.is_null(i, k + 8))
    d.first_attempt_at = ms_instant(q.integer(i, k + 8));
  if (!q.is_null(i, k + 9))
    d.next_attempt_at = ms_instant(q.integer(i, k + 9));
  return d;
}

pg::Param optional_text(const std::string& s) {
  return s.empty() ? pg::Param(std::nullopt) : pg::Param(s);
}

}  // namespace

Result<std::vector<ReleasedDelivery>> PgStore::release_due(policy::Instant now, std::size_t limit) {
  return transaction<std::vector<ReleasedDelivery>>([&]() -> Result<std::vector<ReleasedDelivery>> {
    std::vector<ReleasedDelivery> out;
    auto q = writer_->exec(
        "SELECT " TREVE_PG_REF_COLUMNS
        ", d.release_at FROM deliveries d JOIN events e ON e.id = d.event WHERE d.state = "
        "'held' AND d.release_at <= $1 ORDER BY d.release_at, d.seq LIMIT $2 FOR UPDATE OF d",
        {instant_ms(now), static_cast<std::int64_t>(limit)});
    if (!q)
      return std::unexpected(q.error());
    std::vector<std::int64_t> seqs, ready;
    for (int i = 0; i < q->size(); ++i) {
      ReleasedDelivery d;
      d.ref = read_ref(*q, i);
      d.release_at = ms_instant(q->integer(i, kRefColumns));
      seqs.push_back(d.ref.seq);
      ready.push_back(++ready_counter_);
      append_audit(released_record(pseudonyms_, d.ref, d.release_at, now));
      out.push_back(std::move(d));
    }
    if (out.empty())
      return out;
    const std::string seq_list = pg::int_array(seqs), ready_list = pg::int_array(ready);
    auto u = writer_->exec(
        "UPDATE deliveries d SET state = 'due', updated_at = $1, released_at = $1, ready_seq = "
        "u.r FROM unnest($2::bigint[], $3::bigint[]) AS u(seq, r) WHERE d.seq = u.seq",
        {instant_ms(now), seq_list, ready_list});
    if (!u)
      return std::unexpected(u.error());
    return out;
  });
}

Result<void> PgStore::record_outcomes(std::span<const DeliveryOutcome> outcomes,
                                      policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    HeldAgain held;
    // The outcomes in runs without two of one delivery (there is one run but when a group
    // carries a delivery twice), each run as if its outcomes were recorded one by one.
    for (std::size_t from = 0; from < outcomes.size();) {
      std::set<std::int64_t> seqs;
      std::size_t to = from;
      while (to < outcomes.size() && seqs.insert(outcomes[to].ref.seq).second)
        ++to;
      if (auto r = record_run(outcomes, from, to, held, now); !r)
        return r;
      from = to;
    }
    if (!held.empty())
      return hold_followers(held, now);
    return {};
  });
}

// Outcomes [from, to) of `outcomes`, no two for one delivery: their rows changed first, the
// attempts' in one UPDATE for the whole run; then their records in the outcomes' order. An
// outcome whose delivery is no longer due or retrying (replayed or changed meanwhile) changes
// nothing and has no record.
Result<void> PgStore::record_run(std::span<const DeliveryOutcome> outcomes, std::size_t from,
                                 std::size_t to, HeldAgain& held, policy::Instant now) {
  std::vector<bool> held_changed(to - from, false);
  pg::MultiRow attempts(
      "UPDATE deliveries d SET state = u.state, updated_at = $1, attempts = u.attempts, "
      "first_attempt_at = u.first_attempt_at, next_attempt_at = u.next_attempt_at, sink = "
      "u.sink, last_error = u.last_error, digest = u.digest, ready_seq = NULL FROM (",
      {"bigint", "text", "integer", "bigint", "bigint", "text", "text", "text"},
      ") AS u(seq, state, attempts, first_attempt_at, next_attempt_at, sink, last_error, "
      "digest) WHERE d.seq = u.seq AND d.state IN ('due', 'retrying') RETURNING d.seq",
      {std::to_string(instant_ms(now))});
  for (std::size_t i = from; i < to; ++i) {
    const DeliveryOutcome& o = outcomes[i];
    if (o.kind == DeliveryOutcome::Kind::held_again) {
      auto r = hold_again(o, now);
      if (!r)
        return std::unexpected(r.error());
      held_changed[i - from] = *r;
      continue;
    }
    const bool retrying = o.kind == DeliveryOutcome::Kind::retrying;
    attempts.add({o.ref.seq, outcome_state(o.kind), o.attempts, instant_ms(o.first_attempt_at),
                  retrying ? pg::Param(instant_ms(o.next_attempt_at)) : pg::Param(std::nullopt),
                  o.sink, optional_text(o.error), optional_text(o.digest)});
  }
  auto u = attempts.exec(*writer_);
  if (!u) {
    StoreError e = u.error();
    e.message = "cannot record a delivery outcome: " + e.message;
    return std::unexpected(e);
  }
  std::set<std::int64_t> changed;
  for (int i = 0; i < u->size(); ++i)
    changed.insert(u->integer(i, 0));
  for (std::size_t i = from; i < to; ++i) {
    const DeliveryOutcome& o = outcomes[i];
    if (opens_digest(outcomes, i))
      append_audit(digest_record(pseudonyms_, outcomes.subspan(i), now));
    if (o.kind == DeliveryOutcome::Kind::held_again) {
      if (held_changed[i - from]) {
        append_audit(held_again_record(pseudonyms_, o, now));
        remember_held_again(held, o);
      }
    } else if (changed.contains(o.ref.seq)) {
      append_audit(outcome_record(pseudonyms_, o, now));
    }
  }
  return {};
}

// A recipient's later deliveries that are due or retrying must not go before one held again:
// held with it in the same transaction (urgent ones excepted), as in the SQLite store.
Result<void> PgStore::hold_followers(const HeldAgain& held, policy::Instant now) {
  auto q = writer_->exec("SELECT " TREVE_PG_REF_COLUMNS
                         ", e.urgent FROM deliveries d JOIN events e ON e.id = d.event WHERE "
                         "d.state IN ('due', 'retrying') ORDER BY d.seq");
  if (!q)
    return std::unexpected(q.error());
  std::vector<DeliveryOutcome> followers;
  for (int i = 0; i < q->size(); ++i) {
    DeliveryRef ref = read_ref(*q, i);
    if (const DeliveryOutcome* first = followed(held, ref, q->integer(i, kRefColumns) != 0))
      followers.push_back(follower_held_again(*first, std::move(ref)));
  }
  for (const DeliveryOutcome& o : followers) {
    if (auto r = record_held_again(o, now); !r)
      return std::unexpected(r.error());
  }
  // The same for later deliveries still held with a release instant already past.
  auto h = writer_->exec("SELECT " TREVE_PG_REF_COLUMNS
                         ", e.urgent, d.release_at FROM deliveries d JOIN events e ON e.id = "
                         "d.event WHERE d.state = 'held' AND d.release_at <= $1 ORDER BY d.seq",
                         {instant_ms(now)});
  if (!h)
    return std::unexpected(h.error());
  std::vector<Replan> moves;
  for (int i = 0; i < h->size(); ++i) {
    DeliveryRef ref = read_ref(*h, i);
    const DeliveryOutcome* first = followed(held, ref, h->integer(i, kRefColumns) != 0);
    if (!first)
      continue;
    if (auto m = follower_moved(*first, std::move(ref), ms_instant(h->integer(i, kRefColumns + 1))))
      moves.push_back(std::move(*m));
  }
  for (const Replan& m : moves) {
    if (auto r = move_held(m, now); !r)
      return std::unexpected(r.error());
  }
  return {};
}

Result<bool> PgStore::record_held_again(const DeliveryOutcome& o, policy::Instant now) {
  auto r = hold_again(o, now);
  if (r && *r)
    append_audit(held_again_record(pseudonyms_, o, now));
  return r;
}

Result<bool> PgStore::hold_again(const DeliveryOutcome& o, policy::Instant now) {
  auto u = writer_->exec(
      "UPDATE deliveries SET state = 'held', release_at = $1, reason = $2, updated_at = $3, "
      "ready_seq = NULL, first_attempt_at = NULL, next_attempt_at = NULL WHERE seq = $4 AND "
      "state IN ('due', 'retrying')",
      {instant_ms(o.held_until), o.hold_reason, instant_ms(now), o.ref.seq});
  if (!u) {
    StoreError e = u.error();
    e.message = "cannot hold a delivery again: " + e.message;
    return std::unexpected(e);
  }
  return u->affected() > 0;  // none: no longer due or retrying, replayed or changed meanwhile
}

Result<bool> PgStore::move_held(const Replan& c, policy::Instant now) {
  auto u = writer_->exec(
      "UPDATE deliveries SET release_at = $1, reason = $2, updated_at = $3 WHERE seq = $4 AND "
      "state = 'held' AND release_at = $5",
      {instant_ms(c.release_at), c.reason, instant_ms(now), c.ref.seq, instant_ms(c.was)});
  if (!u) {
    StoreError e = u.error();
    e.message = "cannot re-plan: " + e.message;
    return std::unexpected(e);
  }
  if (u->affected() == 0)
    return false;
  append_audit(replanned_record(pseudonyms_, c, now));
  return true;
}

Result<std::size_t> PgStore::replay(std::span<const std::int64_t> seqs, policy::Instant now) {
  return transaction<std::size_t>([&]() -> Result<std::size_t> {
    std::size_t replayed = 0;
    auto replay_matching = [&](std::int64_t seq) -> Result<void> {
      auto q = writer_->exec("SELECT " TREVE_PG_REF_COLUMNS
                             " FROM deliveries d JOIN events e ON e.id = d.event WHERE d.state = "
                             "'dead' AND ($1 = 0 OR d.seq = $1) AND e.body IS NOT NULL ORDER BY "
                             "d.seq",
                             {seq});
      if (!q)
        return std::unexpected(q.error());
      for (int i = 0; i < q->size(); ++i) {
        const DeliveryRef row = read_ref(*q, i);
        auto u = writer_->exec(
            "UPDATE deliveries SET state = 'due', updated_at = $1, released_at = $1, ready_seq = "
            "$2, attempts = 0, first_attempt_at = NULL, next_attempt_at = NULL WHERE seq = $3 AND "
            "state = 'dead'",
            {instant_ms(now), ++ready_counter_, row.seq});
        if (!u)
          return std::unexpected(u.error());
        append_audit(replayed_record(pseudonyms_, row, now));
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

Result<std::vector<DispatchItem>> PgStore::dispatch_items(std::string_view sql, std::int64_t after,
                                                          std::size_t limit) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(sql, {after, static_cast<std::int64_t>(limit)});
  if (!q)
    return std::unexpected(q.error());
  std::vector<DispatchItem> out;
  out.reserve(static_cast<std::size_t>(q->size()));
  for (int i = 0; i < q->size(); ++i)
    out.push_back(read_dispatch_item(*q, i));
  return out;
}

Result<std::vector<DispatchItem>> PgStore::ready(std::int64_t after_ready_seq, std::size_t limit) {
  return dispatch_items("SELECT " TREVE_PG_DISPATCH_COLUMNS
                        " FROM deliveries d JOIN events e ON e.id = d.event WHERE d.ready_seq > "
                        "$1 AND d.state = 'due' ORDER BY d.ready_seq LIMIT $2",
                        after_ready_seq, limit);
}

Result<std::vector<DispatchItem>> PgStore::retrying(std::int64_t after_seq, std::size_t limit) {
  return dispatch_items("SELECT " TREVE_PG_DISPATCH_COLUMNS
                        " FROM deliveries d JOIN events e ON e.id = d.event WHERE d.state = "
                        "'retrying' AND d.seq > $1 ORDER BY d.seq LIMIT $2",
                        after_seq, limit);
}

Result<std::vector<DeliveryRow>> PgStore::list(DeliveryState state, std::int64_t after_seq,
                                               std::size_t limit) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec("SELECT " TREVE_PG_REF_COLUMNS
                      ", d.state, d.release_at, d.attempts, d.last_error, d.updated_at FROM "
                      "deliveries d JOIN events e ON e.id = d.event WHERE d.state = $1 AND d.seq "
                      "> $2 ORDER BY d.seq LIMIT $3",
                      {to_string(state), after_seq, static_cast<std::int64_t>(limit)});
  if (!q)
    return std::unexpected(q.error());
  std::vector<DeliveryRow> out;
  for (int i = 0; i < q->size(); ++i) {
    DeliveryRow d;
    d.ref = read_ref(*q, i);
    constexpr int k = kRefColumns;
    d.state = parse_delivery_state(q->text(i, k)).value_or(state);
    d.release_at = ms_instant(q->integer(i, k + 1));
    d.attempts = static_cast<int>(q->integer(i, k + 2));
    d.sink = d.ref.sink;
    d.last_error = q->text(i, k + 3);
    d.updated_at = ms_instant(q->integer(i, k + 4));
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::uint64_t> PgStore::held_count() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec("SELECT count(*) FROM deliveries WHERE state = 'held'");
  if (!q)
    return std::unexpected(q.error());
  return static_cast<std::uint64_t>(q->integer(0, 0));
}

Result<std::optional<policy::Instant>> PgStore::next_release() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec("SELECT min(release_at) FROM deliveries WHERE state = 'held'");
  if (!q)
    return std::unexpected(q.error());
  if (q->is_null(0, 0))
    return std::optional<policy::Instant>{};
  return std::optional{ms_instant(q->integer(0, 0))};
}

}  // namespace treve::store
