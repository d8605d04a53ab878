// The store's roles after acceptance, against both backends (SQLite on real files, PostgreSQL
// on a throw-away cluster): dispatching (the ready cursor, outcomes with their audit records,
// holds again with their followers, dead letters and their replay, a second writer of the same
// store), events waiting for the directory, recipients' own quiet hours, crises, policies,
// the configuration's digest, re-plans, the retention purge and the statistics, and the
// auditor's reading of the trail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/audit/verify.h"
#include "daemon/core/digest.h"
#include "daemon/store/in_force.h"
#include "policy/rfc3339.h"
#include "tests/daemon/store_backends.h"
#include "tests/daemon/store_fixture.h"

namespace treve::store {
namespace {

using core::sha256_hex;
using testing::at;
using testing::event_for;

NewEvent event(const std::string& id, std::vector<std::string> recipients, DeliveryState state,
               policy::Instant release = at("2026-11-30T07:00:00+01:00")) {
  return event_for(id, std::move(recipients), state, release);
}
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

template <typename S>
void accept(S& s, NewEvent e) {
  std::vector<NewEvent> v;
  v.push_back(std::move(e));
  auto r = s.accept(v, v.front().received_at);
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

DeliveryOutcome outcome_for(const DispatchItem& d, DeliveryOutcome::Kind kind) {
  return testing::outcome_for(d, kind, at("2026-11-30T07:00:01+01:00"));
}

template <typename B>
class StoreContract : public ::testing::Test {
 protected:
  auto* store() { return &backend.typed(); }
  std::vector<std::string> kinds() {
    std::vector<std::string> out;
    for (const AuditRecord& r : backend.audit())
      out.push_back(r.kind);
    return out;
  }
  B backend;
};

struct BackendNames {
  template <typename B>
  static std::string GetName(int) {
    return std::is_same_v<B, testing::SqliteBackend> ? "sqlite" : "postgresql";
  }
};
using Backends = ::testing::Types<testing::SqliteBackend, testing::PostgresBackend>;
TYPED_TEST_SUITE(StoreContract, Backends, BackendNames);

TYPED_TEST(StoreContract, DueDeliveriesAreReadPastACursorInTheOrderTheyBecameDue) {
  auto* s = this->store();
  accept(*s, event("held-1", {"a", "b"}, DeliveryState::held));
  accept(*s, event("now-1", {"c"}, DeliveryState::due));
  auto first = s->ready(0, 100);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].ref.event_id, "now-1");
  EXPECT_EQ((*first)[0].ref.recipient, "c");
  EXPECT_THAT((*first)[0].body, HasSubstr("secret title"));
  const std::int64_t cursor = (*first)[0].ready_seq;

  auto released = s->release_due(at("2026-11-30T07:00:00+01:00"), 100);
  ASSERT_TRUE(released);
  ASSERT_EQ(released->size(), 2u);
  auto next = s->ready(cursor, 100);
  ASSERT_TRUE(next);
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].ref.recipient, "a");
  EXPECT_EQ((*next)[1].ref.recipient, "b");
  EXPECT_GT((*next)[0].ready_seq, cursor);
  EXPECT_LT((*next)[0].ready_seq, (*next)[1].ready_seq);
  EXPECT_EQ((*next)[0].released_at, at("2026-11-30T07:00:00+01:00"));
  auto none = s->ready((*next)[1].ready_seq, 100);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// A delivery decided "now" while deliveries held until an earlier instant are still being
// released (the scheduler releases in transactions with other writes between them, and after a
// restart it starts with what became due while the daemon was down) waits behind them: held
// until its reception instant, so that the scheduler releases it after them and its recipient
// gets them in the order they were received. Before, it became due at once, ahead of them (found
// by the crash loop: a message received at 07:00:00.040 reached its recipient before the one
// held since the night). An urgent bypass still goes at once.
TYPED_TEST(StoreContract, ADeliveryDecidedNowDuringAReleaseIsReleasedAfterTheHeldOnes) {
  auto* s = this->store();
  accept(*s, event("night-1", {"a", "b"}, DeliveryState::held));  // until 07:00
  accept(*s, event("night-2", {"a"}, DeliveryState::held));
  auto first = s->release_due(at("2026-11-30T07:00:00+01:00"), 1);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);

  NewEvent morning = event("morning", {"a"}, DeliveryState::due);
  morning.received_at = at("2026-11-30T07:00:00.040+01:00");
  morning.deliveries[0].release_at = morning.received_at;
  morning.deliveries[0].reason = "outside quiet hours";
  accept(*s, morning);
  NewEvent alert = event("alert", {"a"}, DeliveryState::due);
  alert.received_at = at("2026-11-30T07:00:00.045+01:00");
  alert.deliveries[0].release_at = alert.received_at;
  alert.deliveries[0].bypassed = true;
  accept(*s, alert);

  // Due so far: the one released, and the urgent bypass; the morning's message waits.
  auto ready = s->ready(0, 100);
  ASSERT_TRUE(ready);
  std::vector<std::string> order;
  for (const auto& d : *ready)
    order.push_back(d.ref.event_id + "/" + d.ref.recipient);
  EXPECT_THAT(order, ElementsAre("night-1/a", "alert/a"));
  const std::int64_t cursor = ready->back().ready_seq;

  // The rest of the release, then the morning's message.
  auto rest = s->release_due(at("2026-11-30T07:00:00.050+01:00"), 100);
  ASSERT_TRUE(rest);
  order.clear();
  for (const auto& d : *rest)
    order.push_back(d.ref.event_id + "/" + d.ref.recipient);
  EXPECT_THAT(order, ElementsAre("night-1/b", "night-2/a", "morning/a"));
  auto next = s->ready(cursor, 100);
  ASSERT_TRUE(next);
  order.clear();
  for (const auto& d : *next)
    order.push_back(d.ref.event_id + "/" + d.ref.recipient);
  EXPECT_THAT(order, ElementsAre("night-1/b", "night-2/a", "morning/a"));
  EXPECT_EQ(next->back().release_at, morning.received_at);
  EXPECT_EQ(next->back().released_at, at("2026-11-30T07:00:00.050+01:00"));

  // Audited as held behind the release, then released.
  std::vector<std::string> records;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.event_id == "morning")
      records.push_back(r.kind + " " + r.detail);
  }
  ASSERT_EQ(records.size(), 3u);
  EXPECT_THAT(records[0], HasSubstr("received"));
  EXPECT_THAT(records[1], HasSubstr("held {"));
  EXPECT_THAT(records[1], HasSubstr("behind the release under way (outside quiet hours)"));
  EXPECT_THAT(records[2], HasSubstr("released {"));
  EXPECT_TRUE(this->backend.chain_verifies());

  // With nothing left to release, a delivery decided now is due at once.
  NewEvent later = event("later", {"a"}, DeliveryState::due);
  later.received_at = at("2026-11-30T07:00:01+01:00");
  later.deliveries[0].release_at = later.received_at;
  accept(*s, later);
  auto last = s->ready(next->back().ready_seq, 100);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].ref.event_id, "later");
}

TYPED_TEST(StoreContract, OutcomesChangeStatesAndAreAuditedWithoutContent) {
  auto* s = this->store();
  accept(*s, event("e1", {"pupil-a", "pupil-b", "pupil-c"}, DeliveryState::due));
  auto items = s->ready(0, 100);
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 3u);
  std::vector<DeliveryOutcome> outs{outcome_for((*items)[0], DeliveryOutcome::Kind::delivered),
                                    outcome_for((*items)[1], DeliveryOutcome::Kind::retrying),
                                    outcome_for((*items)[2], DeliveryOutcome::Kind::dead)};
  ASSERT_TRUE(s->record_outcomes(outs, at("2026-11-30T07:00:02+01:00")));
  EXPECT_THAT(this->kinds(), ElementsAre("received", "released", "released", "released",
                                         "delivered", "retrying", "dead_lettered"));
  EXPECT_TRUE(this->backend.chain_verifies());
  // Nothing of the content or the recipient id reaches the audit trail.
  std::string all;
  for (const AuditRecord& r : this->backend.audit())
    all += r.recipient + r.detail + "|";
  EXPECT_THAT(all, Not(HasSubstr("pupil-")));
  EXPECT_THAT(all, Not(HasSubstr("secret")));
  EXPECT_THAT(all, HasSubstr(R"("next_attempt":"2026-11-30T07:00:03+01:00")"));

  // No longer due: the cursor finds none; the retrying one is read back with its attempt.
  auto due = s->ready(0, 100);
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->empty());
  auto retrying = s->retrying(0, 100);
  ASSERT_TRUE(retrying);
  ASSERT_EQ(retrying->size(), 1u);
  EXPECT_EQ((*retrying)[0].ref.recipient, "pupil-b");
  EXPECT_EQ((*retrying)[0].attempts, 1);
  EXPECT_EQ((*retrying)[0].next_attempt_at, at("2026-11-30T07:00:03+01:00"));
  EXPECT_EQ((*retrying)[0].first_attempt_at, at("2026-11-30T07:00:01+01:00"));

  auto dead = s->list(DeliveryState::dead, 0, 100);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].ref.recipient, "pupil-c");
  EXPECT_EQ((*dead)[0].last_error, "HTTP 503");
  EXPECT_EQ((*dead)[0].sink, "push");
  EXPECT_EQ((*dead)[0].attempts, 1);
}

// A delivery held again takes with it, in the same transaction, its recipient's later due or
// retrying deliveries (those the dispatcher has not read yet), urgent ones excepted; other
// recipients' stay due. At the new instant they are released in receipt order.
TYPED_TEST(StoreContract, ADeliveryHeldAgainTakesItsRecipientsLaterDueOnesWithIt) {
  auto* s = this->store();
  accept(*s, event("e1", {"pupil-a", "pupil-b"}, DeliveryState::due));
  accept(*s, event("e2", {"pupil-a", "pupil-b"}, DeliveryState::due));
  NewEvent urgent = event("e3", {"pupil-a"}, DeliveryState::due);
  urgent.urgent = true;
  accept(*s, urgent);
  auto items = s->ready(0, 100);
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 5u);
  const policy::Instant morning = at("2026-12-01T07:00:00+01:00");
  DeliveryOutcome o = outcome_for((*items)[0], DeliveryOutcome::Kind::held_again);
  ASSERT_EQ(o.ref.recipient, "pupil-a");
  o.held_until = morning;
  o.hold_reason = "quiet window Mon-Thu 20:00-07:00";
  ASSERT_TRUE(s->record_outcomes(std::vector{o}, at("2026-11-30T20:00:01+01:00")));
  auto held = s->list(DeliveryState::held, 0, 100);
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].ref.event_id, "e1");
  EXPECT_EQ((*held)[1].ref.event_id, "e2");
  EXPECT_EQ((*held)[1].ref.recipient, "pupil-a");
  for (const auto& h : *held)
    EXPECT_EQ(h.release_at, morning);
  auto due = s->list(DeliveryState::due, 0, 100);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 3u);  // pupil-b's two, and pupil-a's urgent one
  EXPECT_EQ((*due)[2].ref.event_id, "e3");
  EXPECT_THAT(this->kinds(),
              ElementsAre("received", "released", "released", "received", "released", "released",
                          "received", "released", "held_again", "held_again"));
  EXPECT_TRUE(this->backend.chain_verifies());
  auto released = s->release_due(morning, 10);
  ASSERT_TRUE(released);
  ASSERT_EQ(released->size(), 2u);
  EXPECT_EQ((*released)[0].ref.event_id, "e1");
  EXPECT_EQ((*released)[1].ref.event_id, "e2");
}

// A start-up release interrupted by a kill leaves some of a recipient's overdue deliveries due
// and others still held with their past instant. When the dispatcher holds a due one again, the
// recipient's later ones still held with an instant already past move with it to its new one
// (`replanned`, "behind …"): released at their old instant, they would go first. Later ones
// held until a future instant, and other recipients', stay. Found by the crash loop under
// AddressSanitizer.
TYPED_TEST(StoreContract, ADeliveryHeldAgainTakesItsRecipientsLaterOverdueHeldOnesWithIt) {
  auto* s = this->store();
  const policy::Instant morning = at("2026-12-01T07:00:00+01:00");
  accept(*s, event("e1", {"pupil-a"}, DeliveryState::held));  // until 2026-11-30 07:00
  accept(*s, event("e2", {"pupil-a"}, DeliveryState::held));
  accept(*s, event("e3", {"pupil-a"}, DeliveryState::held, morning));
  accept(*s, event("e4", {"pupil-b"}, DeliveryState::held));
  auto first = s->release_due(at("2026-11-30T20:00:00+01:00"), 1);  // then killed
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].ref.event_id, "e1");
  auto items = s->ready(0, 100);
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 1u);
  DeliveryOutcome o = outcome_for((*items)[0], DeliveryOutcome::Kind::held_again);
  o.held_until = morning;
  o.hold_reason = "quiet window Mon-Thu 20:00-07:00";
  ASSERT_TRUE(s->record_outcomes(std::vector{o}, at("2026-11-30T20:00:01+01:00")));

  auto held = s->list(DeliveryState::held, 0, 100);
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 4u);
  std::vector<std::string> instants;
  for (const auto& h : *held) {
    instants.push_back(h.ref.event_id + " " +
                       policy::format_rfc3339(h.release_at, date::locate_zone("Europe/Paris")));
  }
  EXPECT_THAT(instants,
              ElementsAre("e1 2026-12-01T07:00:00+01:00", "e2 2026-12-01T07:00:00+01:00",
                          "e3 2026-12-01T07:00:00+01:00", "e4 2026-11-30T07:00:00+01:00"));
  EXPECT_THAT(this->kinds(),
              ElementsAre("received", "held", "received", "held", "received", "held", "received",
                          "held", "released", "held_again", "replanned"));
  EXPECT_TRUE(this->backend.chain_verifies());
  auto released = s->release_due(morning, 10);
  ASSERT_TRUE(released);
  std::vector<std::string> order;
  for (const auto& d : *released)
    order.push_back(d.ref.event_id);
  EXPECT_THAT(order, ElementsAre("e4", "e1", "e2", "e3"));
}

// find() reads each copy as its last attempt left it (what the admin API shows of an event),
// with the recipient's pseudonym as the audit trail names it.
TYPED_TEST(StoreContract, FindReadsEachCopysAttemptsErrorDigestAndInstants) {
  auto* s = this->store();
  accept(*s, event("e1", {"pupil-a", "pupil-b", "pupil-c"}, DeliveryState::due));
  accept(*s, event("e2", {"pupil-d"}, DeliveryState::held));
  auto items = s->ready(0, 100);
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 3u);
  std::vector<DeliveryOutcome> outs{outcome_for((*items)[0], DeliveryOutcome::Kind::delivered),
                                    outcome_for((*items)[1], DeliveryOutcome::Kind::retrying),
                                    outcome_for((*items)[2], DeliveryOutcome::Kind::dead)};
  outs[0].digest = "dig_0123";
  const policy::Instant recorded = at("2026-11-30T07:00:02+01:00");
  ASSERT_TRUE(s->record_outcomes(outs, recorded));

  auto found = s->find("ent", "e1");
  ASSERT_TRUE(found && *found);
  const auto& copies = (**found).deliveries;
  ASSERT_EQ(copies.size(), 3u);
  EXPECT_EQ(copies[0].state, DeliveryState::delivered);
  EXPECT_EQ(copies[0].attempts, 1);
  EXPECT_EQ(copies[0].last_error, "");
  EXPECT_EQ(copies[0].digest, "dig_0123");
  EXPECT_EQ(copies[0].released_at, at("2026-11-27T21:00:00+01:00"));  // due when received
  EXPECT_EQ(copies[0].updated_at, recorded);
  EXPECT_EQ(copies[0].sink, "push");
  EXPECT_EQ(copies[1].state, DeliveryState::retrying);
  EXPECT_EQ(copies[1].last_error, "HTTP 503");
  EXPECT_EQ(copies[1].digest, "");
  EXPECT_EQ(copies[2].state, DeliveryState::dead);
  EXPECT_EQ(copies[2].attempts, 1);
  EXPECT_EQ(copies[2].last_error, "HTTP 503");
  EXPECT_LT(copies[0].seq, copies[1].seq);
  // The pseudonyms of the trail's records about these copies.
  std::string pseudonym;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.kind == "delivered" && pseudonym.empty())
      pseudonym = r.recipient;
  }
  ASSERT_FALSE(pseudonym.empty());
  EXPECT_EQ(copies[0].recipient, "pupil-a");
  EXPECT_EQ(copies[0].recipient_pseudonym, pseudonym);
  EXPECT_NE(copies[1].recipient_pseudonym, pseudonym);

  auto held = s->find("ent", "e2");
  ASSERT_TRUE(held && *held);
  ASSERT_EQ((**held).deliveries.size(), 1u);
  const DeliveryView& h = (**held).deliveries[0];
  EXPECT_EQ(h.state, DeliveryState::held);
  EXPECT_EQ(h.attempts, 0);
  EXPECT_FALSE(h.released_at);
  EXPECT_EQ(h.release_at, at("2026-11-30T07:00:00+01:00"));
  EXPECT_EQ(h.updated_at, at("2026-11-27T21:00:00+01:00"));
  EXPECT_EQ(h.recipient_pseudonym.size(), 32u);
}

TYPED_TEST(StoreContract, ReplayMakesDeadDeliveriesDueAgainPastTheCursorAndSkipsOthers) {
  auto* s = this->store();
  accept(*s, event("e1", {"a", "b"}, DeliveryState::due));
  auto items = s->ready(0, 100);
  ASSERT_TRUE(items);
  const std::int64_t cursor = items->back().ready_seq;
  std::vector<DeliveryOutcome> outs{outcome_for((*items)[0], DeliveryOutcome::Kind::dead),
                                    outcome_for((*items)[1], DeliveryOutcome::Kind::delivered)};
  ASSERT_TRUE(s->record_outcomes(outs, at("2026-11-30T07:00:02+01:00")));
  // The delivered one is not dead: replaying it changes nothing.
  std::vector<std::int64_t> delivered_seq{(*items)[1].ref.seq};
  auto none = s->replay(delivered_seq, at("2026-11-30T08:00:00+01:00"));
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
  auto all = s->replay({}, at("2026-11-30T08:00:00+01:00"));
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, 1u);
  auto again = s->ready(cursor, 100);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].ref.recipient, "a");
  EXPECT_EQ((*again)[0].attempts, 0);
  EXPECT_FALSE((*again)[0].first_attempt_at);
  EXPECT_EQ(this->kinds().back(), "replayed");
  EXPECT_TRUE(this->backend.chain_verifies());
  // An outcome for a delivery that changed meanwhile (delivered already) is skipped.
  const auto before = this->kinds().size();
  ASSERT_TRUE(s->record_outcomes(std::vector{outs[1]}, at("2026-11-30T08:00:01+01:00")));
  EXPECT_EQ(this->kinds().size(), before);
}

TYPED_TEST(StoreContract, TwoWritersOfTheSameStoreKeepOneChainAndOneReadyOrder) {
  auto* daemon = this->store();
  // As `treve deliveries replay` does beside a running daemon, or another daemon on the same
  // PostgreSQL database.
  auto command = this->backend.open_another();
  accept(*daemon, event("e1", {"a"}, DeliveryState::due));
  auto items = daemon->ready(0, 10);
  ASSERT_TRUE(items);
  ASSERT_TRUE(
      daemon->record_outcomes(std::vector{outcome_for((*items)[0], DeliveryOutcome::Kind::dead)},
                              at("2026-11-30T07:00:02+01:00")));
  auto replayed = command->replay({}, at("2026-11-30T08:00:00+01:00"));
  ASSERT_TRUE(replayed);
  EXPECT_EQ(*replayed, 1u);
  accept(*daemon, event("e2", {"b"}, DeliveryState::due));
  EXPECT_TRUE(this->backend.chain_verifies());
  auto due = daemon->ready((*items)[0].ready_seq, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].ref.recipient, "a");
  EXPECT_EQ((*due)[1].ref.recipient, "b");
  EXPECT_LT((*due)[0].ready_seq, (*due)[1].ready_seq);
}

TYPED_TEST(StoreContract, AnOutcomeInABatchRecordsTheDeliverysOwnIdBesideTheBatchs) {
  auto* s = this->store();
  accept(*s, event("b-1", {"a", "b"}, DeliveryState::due));
  auto items = s->ready(0, 10);
  ASSERT_TRUE(items && items->size() == 2u);
  std::vector<DeliveryOutcome> outs{outcome_for((*items)[0], DeliveryOutcome::Kind::delivered),
                                    outcome_for((*items)[1], DeliveryOutcome::Kind::delivered)};
  outs[0].webhook_id = "bat_1";  // sent together
  outs[0].delivery_id = "dlv_a";
  outs[1].webhook_id = "dlv_b";  // sent alone: the request's id is the delivery's
  outs[1].delivery_id = "dlv_b";
  ASSERT_TRUE(s->record_outcomes(outs, at("2026-11-30T07:00:02+01:00")));
  std::vector<std::string> details;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.kind == "delivered")
      details.push_back(r.detail);
  }
  EXPECT_THAT(details,
              ElementsAre(R"({"sink":"push","attempt":1,"status":200,"webhook_id":"bat_1",)"
                          R"("delivery_id":"dlv_a"})",
                          R"({"sink":"push","attempt":1,"status":200,"webhook_id":"dlv_b"})"));
  EXPECT_TRUE(this->backend.chain_verifies());
}

// The digests of one recipient on two sinks have the same id (made from the same deliveries'
// ids): committed together, each still gets its own "digest" record, covering its own copies.
TYPED_TEST(StoreContract, DigestsWithTheSameIdOnTwoSinksEachGetTheirDigestRecord) {
  auto* s = this->store();
  for (const char* id : {"d-1", "d-2", "d-3", "d-4"})
    accept(*s, event(id, {"parent"}, DeliveryState::due));
  auto items = s->ready(0, 10);
  ASSERT_TRUE(items && items->size() == 4u);
  std::vector<DeliveryOutcome> outs;
  for (std::size_t i = 0; i < 4; ++i) {
    outs.push_back(outcome_for((*items)[i], DeliveryOutcome::Kind::delivered));
    outs.back().sink = i < 2 ? "mobile" : "browser";
    outs.back().webhook_id = "dig_1";
    outs.back().digest = "dig_1";
  }
  ASSERT_TRUE(s->record_outcomes(outs, at("2026-11-30T07:00:02+01:00")));
  std::vector<std::string> rows;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.kind == "digest" || r.kind == "delivered")
      rows.push_back(r.kind + " " + r.event_id + " " + r.detail);
  }
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0], R"(digest dig_1 {"sink":"mobile","id":"dig_1","outcome":"delivered",)"
                     R"("notifications":2,"covers":["d-1","d-2"]})");
  EXPECT_THAT(rows[1], HasSubstr("delivered d-1"));
  EXPECT_THAT(rows[2], HasSubstr("delivered d-2"));
  EXPECT_EQ(rows[3], R"(digest dig_1 {"sink":"browser","id":"dig_1","outcome":"delivered",)"
                     R"("notifications":2,"covers":["d-3","d-4"]})");
  EXPECT_THAT(rows[4], HasSubstr("delivered d-3"));
  EXPECT_THAT(rows[5], HasSubstr("delivered d-4"));
  EXPECT_TRUE(this->backend.chain_verifies());
}

// An event accepted while its directory failed waits with no deliveries; a failed lookup
// postpones it; the directory's answer gives it its deliveries, due at once, with the
// `resolved` record before theirs; resolving it again changes nothing.
TYPED_TEST(StoreContract, AnAwaitingEventIsPostponedThenResolvedOnce) {
  auto* s = this->store();
  NewEvent e = event("w", {}, DeliveryState::due);
  e.establishment.clear();
  e.zone = date::locate_zone("UTC");
  e.awaiting = NewAwaiting{"annuaire", {"u1", "u2", "u3"}, "timeout", at("2026-11-27T20:01:00Z")};
  accept(*s, e);
  auto waiting = s->awaiting(10);
  ASSERT_TRUE(waiting);
  ASSERT_EQ(waiting->size(), 1u);
  const AwaitingEvent w = (*waiting)[0];
  EXPECT_EQ(w.id, "w");
  EXPECT_EQ(w.users, (std::vector<std::string>{"u1", "u2", "u3"}));
  EXPECT_EQ(w.attempts, 1);
  ASSERT_TRUE(s->postpone(w.row, at("2026-11-27T20:05:00Z"), "HTTP 503"));
  waiting = s->awaiting(10);
  ASSERT_TRUE(waiting && waiting->size() == 1u);
  EXPECT_EQ((*waiting)[0].attempts, 2);
  EXPECT_EQ((*waiting)[0].last_error, "HTTP 503");
  EXPECT_EQ((*waiting)[0].next_attempt_at, at("2026-11-27T20:05:00Z"));

  Resolution r;
  r.row = w.row;
  r.source = "ent";
  r.id = "w";
  r.establishment = "0750654D";
  r.category = policy::Category::message;
  r.zone = date::locate_zone("Europe/Paris");
  r.body = R"({"title":"complete"})";
  r.unknown = 1;
  r.directory = "annuaire";
  for (const char* user : {"u1", "u2"}) {
    NewDelivery d;
    d.recipient = user;
    d.state = DeliveryState::due;
    d.release_at = at("2026-11-27T20:06:00Z");
    d.reason = "outside any quiet window";
    r.deliveries.push_back(d);
  }
  auto done = s->resolve(r, at("2026-11-27T20:06:00Z"));
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_TRUE(*done);
  auto again = s->resolve(r, at("2026-11-27T20:07:00Z"));
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  waiting = s->awaiting(10);
  ASSERT_TRUE(waiting);
  EXPECT_TRUE(waiting->empty());
  EXPECT_THAT(this->kinds(),
              ElementsAre("received", "awaiting_directory", "resolved", "released", "released"));
  std::string resolved;
  for (const AuditRecord& a : this->backend.audit()) {
    if (a.kind == "resolved")
      resolved = a.detail;
  }
  EXPECT_EQ(resolved, R"({"directory":"annuaire","deliveries":2,"unknown":1,"attempts":2})");
  auto found = s->find("ent", "w");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->establishment, "0750654D");
  EXPECT_EQ((*found)->timezone, "Europe/Paris");
  EXPECT_FALSE((*found)->awaiting);
  ASSERT_EQ((*found)->deliveries.size(), 2u);
  auto ready = s->ready(0, 10);
  ASSERT_TRUE(ready);
  ASSERT_EQ(ready->size(), 2u);
  EXPECT_EQ((*ready)[0].body, R"({"title":"complete"})");
  EXPECT_TRUE(this->backend.chain_verifies());
}

TYPED_TEST(StoreContract, PreferencesSetTouchDeleteAndPurgeWithTheirRecords) {
  auto* store = this->store();
  const std::string quiet = R"([{"days":["mon"],"start":"20:00","end":"08:00"}])";
  auto set = store->set_preference("ent", "p-1", quiet, 1, at("2026-01-10T10:00:00Z"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->recipient, store->pseudonym("ent", "p-1"));
  EXPECT_NE(set->recipient, "p-1");
  ASSERT_TRUE(store->set_preference("ent", "p-2", quiet, 1, at("2026-01-10T10:00:00Z")));
  ASSERT_TRUE(store->set_preference("other", "p-1", quiet, 1, at("2026-01-10T10:00:00Z")));

  auto read = store->preference("ent", "p-1");
  ASSERT_TRUE(read && *read);
  EXPECT_EQ((*read)->quiet, quiet);
  auto none = store->preference("ent", "p-9");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  // p-1 (ent) was applied in March; p-2 never since January; the other connector's p-1 is
  // deleted on request.
  ASSERT_TRUE(store->touch_preference("ent", set->recipient, at("2026-03-01T07:00:00Z")));
  auto deleted = store->delete_preference("other", "p-1", at("2026-03-02T10:00:00Z"));
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(*deleted);
  deleted = store->delete_preference("other", "p-1", at("2026-03-02T10:00:00Z"));
  ASSERT_TRUE(deleted);
  EXPECT_FALSE(*deleted);

  auto purged = store->purge_preferences(at("2026-02-01T00:00:00Z"), at("2027-02-01T00:00:00Z"));
  ASSERT_TRUE(purged);
  ASSERT_EQ(purged->size(), 1u);
  EXPECT_EQ((*purged)[0].recipient, store->pseudonym("ent", "p-2"));
  auto left = store->preferences();
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].recipient, set->recipient);

  std::vector<std::string> kinds;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.kind.starts_with("preferences_"))
      kinds.push_back(r.kind);
    EXPECT_NE(r.recipient, "p-1");
  }
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"preferences_set", "preferences_set", "preferences_set",
                                      "preferences_deleted", "preferences_purged"}));
}

TYPED_TEST(StoreContract, EachCrisisChangeIsWrittenWithItsAuditRecordAndTheTrailVerifies) {
  auto* store = this->store();
  const auto* paris = date::locate_zone("Europe/Paris");
  auto opened = store->open_crisis(testing::storm(), at("2026-11-29T01:37:00+01:00"));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_FALSE(opened->conflict);
  const std::int64_t id = opened->id;
  EXPECT_EQ(this->backend.query_text("SELECT detail FROM audit WHERE kind = 'crisis_opened'"),
            "{\"crisis\":" + std::to_string(id) +
                ",\"reason\":\"Tempête : établissement fermé\",\"categories\":[\"message\","
                "\"news\"],\"until\":\"2026-11-29T18:00:00+01:00\",\"release_held\":true,"
                "\"by\":\"Mme Durand\"}");
  EXPECT_EQ(
      this->backend.query_text("SELECT at_local || ' ' || establishment FROM audit WHERE kind = "
                               "'crisis_opened'"),
      "2026-11-29T01:37:00+01:00 0750654D");

  // A second one for the same school: refused, nothing written.
  auto again = store->open_crisis(testing::storm(), at("2026-11-29T02:00:00+01:00"));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->conflict);
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(this->backend.query_text("SELECT count(*) FROM crises"), "1");

  auto extended = store->extend_crisis("0750654D", id, at("2026-11-30T18:00:00+01:00"), "Rectorat",
                                       paris, at("2026-11-29T10:00:00+01:00"));
  ASSERT_TRUE(extended);
  EXPECT_EQ(*extended, CrisisChange::done);
  EXPECT_EQ(this->backend.query_text("SELECT detail FROM audit WHERE kind = 'crisis_extended'"),
            "{\"crisis\":" + std::to_string(id) +
                ",\"until\":\"2026-11-30T18:00:00+01:00\",\"previous_until\":"
                "\"2026-11-29T18:00:00+01:00\",\"by\":\"Rectorat\"}");
  auto open = store->open_crises();
  ASSERT_TRUE(open);
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].crisis.until, at("2026-11-30T18:00:00+01:00"));
  EXPECT_EQ(crises_in_force(*open).size(), 1u);

  // Another school's crisis is not this one.
  EXPECT_EQ(*store->close_crisis("0250001R", id, "x", paris, at("2026-11-29T11:00:00+01:00")),
            CrisisChange::unknown);
  auto closed =
      store->close_crisis("0750654D", id, "Mme Durand", paris, at("2026-11-29T12:00:00+01:00"));
  ASSERT_TRUE(closed);
  EXPECT_EQ(*closed, CrisisChange::done);
  EXPECT_EQ(
      *store->close_crisis("0750654D", id, "Mme Durand", paris, at("2026-11-29T12:01:00+01:00")),
      CrisisChange::closed);
  EXPECT_EQ(*store->extend_crisis("0750654D", id, at("2026-12-01T18:00:00+01:00"), "Mme Durand",
                                  paris, at("2026-11-29T12:02:00+01:00")),
            CrisisChange::closed);
  EXPECT_EQ(this->backend.query_text("SELECT detail FROM audit WHERE kind = 'crisis_closed'"),
            "{\"crisis\":" + std::to_string(id) + ",\"by\":\"Mme Durand\"}");
  EXPECT_TRUE(store->open_crises()->empty());

  // Expiry: closed at its end by "expiry", the record at the instant it is noticed.
  auto second = store->open_crisis(testing::storm(), at("2026-11-29T13:00:00+01:00"));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->conflict);
  auto none = store->expire_crises([paris](std::string_view) { return paris; },
                                   at("2026-11-29T17:59:59+01:00"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto expired = store->expire_crises([paris](std::string_view) { return paris; },
                                      at("2026-11-30T08:00:00+01:00"));
  ASSERT_TRUE(expired);
  EXPECT_EQ(*expired, std::vector<std::int64_t>{second->id});
  EXPECT_EQ(
      this->backend.query_text("SELECT closed_by || ' ' || closed_at FROM crises WHERE id = " +
                               std::to_string(second->id)),
      "expiry " + std::to_string(at("2026-11-29T18:00:00+01:00").time_since_epoch().count()));
  EXPECT_EQ(
      this->backend.query_text("SELECT at_local FROM audit WHERE kind = 'crisis_closed' AND detail "
                               "LIKE '%expiry%'"),
      "2026-11-30T08:00:00+01:00");
  auto mine = store->crises_of("0750654D", 10);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].crisis.id, second->id);  // newest first
  EXPECT_EQ((*mine)[0].closed_by, "expiry");

  EXPECT_TRUE(this->backend.chain_verifies());
  EXPECT_EQ(this->backend.audit().size(), 5u);
}

// The configuration's digest recorded once per change; policy versions saved under optimistic
// concurrency, the highest in force; a refusal audited; the counts an establishment's page
// shows.
TYPED_TEST(StoreContract, PoliciesAndTheConfigurationAreVersionedWithTheirRecords) {
  auto* s = this->store();
  ConfigChange first{"aaaa", "/etc/treve/treve.toml", "root", "start"};
  auto changed = s->record_config(first, at("2026-11-27T08:00:00Z"));
  ASSERT_TRUE(changed && *changed);
  changed = s->record_config(first, at("2026-11-27T09:00:00Z"));
  ASSERT_TRUE(changed);
  EXPECT_FALSE(*changed);
  ConfigChange second{"bbbb", "/etc/treve/treve.toml", "root", "reload"};
  ASSERT_TRUE(s->record_config(second, at("2026-11-27T10:00:00Z")));

  PolicyVersion v;
  v.uai = "0750654D";
  v.author = "Mme Durand";
  v.comment = "rentrée";
  v.document = R"({"windows":[]})";
  v.digest = "d1";
  v.weaker = {"no quiet window on Wednesday"};
  v.zone = date::locate_zone("Europe/Paris");
  auto saved = s->save_policy(v, std::nullopt, at("2026-11-27T11:00:00Z"));
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_FALSE(saved->conflict);
  EXPECT_EQ(saved->version, 1);
  v.digest = "d2";
  auto stale = s->save_policy(v, 0, at("2026-11-27T11:01:00Z"));
  ASSERT_TRUE(stale);
  EXPECT_TRUE(stale->conflict);
  EXPECT_EQ(stale->version, 1);
  auto second_version = s->save_policy(v, 1, at("2026-11-27T11:02:00Z"));
  ASSERT_TRUE(second_version);
  EXPECT_EQ(second_version->version, 2);
  PolicyVersion other = v;
  other.uai = "0250001R";
  other.digest = "o1";
  other.weaker.clear();
  ASSERT_TRUE(s->save_policy(other, std::nullopt, at("2026-11-27T11:03:00Z")));
  auto current = s->current_policies();
  ASSERT_TRUE(current);
  ASSERT_EQ(current->size(), 2u);
  EXPECT_EQ((*current)[0].uai, "0250001R");
  EXPECT_EQ((*current)[1].version, 2);
  EXPECT_EQ((*current)[1].digest, "d2");
  EXPECT_EQ((*current)[1].weaker, std::vector<std::string>{"no quiet window on Wednesday"});
  auto versions = s->policy_versions("0750654D");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 2);
  EXPECT_EQ((*versions)[1].at, at("2026-11-27T11:00:00Z"));

  AccessRefusal refusal{"M. Martin", "school",
                        "PUT",       "/v1/admin/policies/0250001R",
                        "0250001R",  "outside the administrator's establishments",
                        nullptr};
  ASSERT_TRUE(s->record_refusal(refusal, at("2026-11-27T12:00:00Z")));

  accept(*s, event("h1", {"a", "b"}, DeliveryState::held));
  auto held = s->held_by_category("0750654D");
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].first, policy::Category::message);
  EXPECT_EQ((*held)[0].second, 2u);
  auto next = s->next_release_of("0750654D");
  ASSERT_TRUE(next && *next);
  EXPECT_EQ(**next, at("2026-11-30T07:00:00+01:00"));
  auto none = s->next_release_of("0250001R");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  EXPECT_THAT(this->kinds(),
              ElementsAre("config_changed", "config_changed", "policy_changed", "policy_changed",
                          "policy_changed", "access_refused", "received", "held", "held"));
  std::vector<std::string> details;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.kind == "config_changed" || r.kind == "policy_changed")
      details.push_back(r.detail);
  }
  EXPECT_THAT(details[0], HasSubstr(R"("before":null,"after":"aaaa")"));
  EXPECT_THAT(details[1], HasSubstr(R"("on":"reload","before":"aaaa","after":"bbbb")"));
  EXPECT_EQ(details[3],
            R"({"by":"Mme Durand","version":2,"comment":"rentrée","before":"d1","after":"d2",)"
            R"("weaker":["no quiet window on Wednesday"]})");
  EXPECT_TRUE(this->backend.chain_verifies());
}

// Held events read back for re-planning, and a re-plan that moves only what did not change
// since it was read.
TYPED_TEST(StoreContract, HeldEventsAreReadBackAndReplannedOnlyWhereUnchanged) {
  auto* s = this->store();
  accept(*s, event("h1", {"a", "b"}, DeliveryState::held));
  accept(*s, event("d1", {"c"}, DeliveryState::due));
  auto rows = s->held_event_rows();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  auto events = s->held_events(*rows);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  const HeldEvent& e = (*events)[0];
  EXPECT_EQ(e.id, "h1");
  EXPECT_EQ(e.timezone, "Europe/Paris");
  ASSERT_EQ(e.held.size(), 2u);
  EXPECT_EQ(e.held[1].ref.recipient, "b");
  EXPECT_EQ(e.held[1].ref.event_id, "h1");
  EXPECT_THAT(e.body, HasSubstr("secret title"));
  std::vector<Replan> changes;
  for (const HeldEvent::Held& h : e.held) {
    Replan c;
    c.ref = h.ref;
    c.was = h.release_at;
    c.release_at = at("2026-11-30T08:00:00+01:00");
    c.reason = "quiet window Fri 20:00-Mon 08:00";
    changes.push_back(c);
  }
  changes[1].was = at("2026-11-30T06:00:00+01:00");  // changed since it was read: skipped
  auto moved = s->replan(changes, at("2026-11-28T10:00:00+01:00"));
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(*moved, 1u);
  std::string replanned;
  for (const AuditRecord& r : this->backend.audit()) {
    if (r.kind == "replanned")
      replanned = r.detail;
  }
  EXPECT_EQ(replanned,
            R"({"was_until":"2026-11-30T07:00:00+01:00","until":"2026-11-30T08:00:00+01:00",)"
            R"("reason":"quiet window Fri 20:00-Mon 08:00"})");
  auto next = s->next_release();
  ASSERT_TRUE(next && *next);
  EXPECT_EQ(**next, at("2026-11-30T07:00:00+01:00"));  // b's, left alone
  EXPECT_TRUE(this->backend.chain_verifies());
}

// The retention purge: the leading run of old audit records, replaced by a checkpoint that
// names where the chain continues; bodies of finished events; whole finished events once past
// the audit retention; never what is still held. The statistics follow.
TYPED_TEST(StoreContract, ThePurgeRemovesWhatIsFinishedAndOldWithACheckpointAndTheStatsFollow) {
  auto* s = this->store();
  accept(*s, event("old-done", {"a"}, DeliveryState::due));
  accept(*s, event("old-held", {"b"}, DeliveryState::held, policy::Instant::max()));
  auto ready = s->ready(0, 10);
  ASSERT_TRUE(ready && ready->size() == 1u);
  ASSERT_TRUE(
      s->record_outcomes(std::vector{outcome_for((*ready)[0], DeliveryOutcome::Kind::delivered)},
                         at("2026-11-27T21:00:01+01:00")));
  NewEvent recent = event("recent", {"c"}, DeliveryState::due);
  recent.received_at = at("2027-03-01T10:00:00+01:00");
  recent.deliveries[0].release_at = recent.received_at;
  accept(*s, recent);
  auto before = s->stats();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->events, 3u);
  EXPECT_EQ(before->held, 1u);
  EXPECT_EQ(before->due, 1u);
  EXPECT_EQ(before->audit_records, 7u);
  // received, released, received, held, delivered: before the cutoff; recent's two after.
  PurgeLimits limits;
  limits.audit_before = at("2027-01-01T00:00:00Z");
  limits.events_before = at("2027-01-01T00:00:00Z");
  auto purged = s->purge(limits, at("2027-03-02T00:00:00Z"));
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(purged->audit_records, 5);
  EXPECT_EQ(purged->purged_through, 5);
  EXPECT_EQ(purged->checkpoint_seq, 8);
  EXPECT_EQ(purged->bodies, 1);  // old-done's; old-held keeps its body
  EXPECT_EQ(purged->events, 1);
  EXPECT_EQ(purged->deliveries, 1);
  EXPECT_FALSE(purged->more);
  EXPECT_THAT(this->kinds(), ElementsAre("received", "released", "checkpoint", "purged"));
  EXPECT_TRUE(this->backend.chain_verifies(false));
  EXPECT_EQ(this->backend.audit().front().seq, 6);
  auto gone = s->find("ent", "old-done");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  auto kept = s->find("ent", "old-held");
  ASSERT_TRUE(kept && *kept);
  auto after = s->stats();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->events, 2u);
  EXPECT_EQ(after->held, 1u);
  EXPECT_EQ(after->audit_records, 4u);
  EXPECT_EQ(after->next_release, policy::Instant::max());
  // Nothing more to purge: no record.
  auto again = s->purge(limits, at("2027-03-02T00:01:00Z"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->audit_records, 0);
  EXPECT_EQ(this->kinds().size(), 4u);
}

// The auditor's tools read either backend's trail the same way: verify from genesis, then
// after a purge from its checkpoint; filtered scans, the newest records, counts by kind,
// connectors, and a record found by its hash.
TYPED_TEST(StoreContract, TheAuditorsToolsReadTheTrailOfEitherBackend) {
  auto* s = this->store();
  accept(*s, event("e1", {"a", "b"}, DeliveryState::held));
  accept(*s, event("e2", {"c"}, DeliveryState::due));
  auto ready = s->ready(0, 10);
  ASSERT_TRUE(ready && ready->size() == 1u);
  ASSERT_TRUE(
      s->record_outcomes(std::vector{outcome_for((*ready)[0], DeliveryOutcome::Kind::delivered)},
                         at("2026-11-27T21:00:01+01:00")));
  {
    auto trail = this->backend.open_trail();
    ASSERT_TRUE(trail) << trail.error();
    auto report = audit::verify(**trail, {});
    ASSERT_TRUE(report) << report.error();
    EXPECT_FALSE(report->problem);
    EXPECT_EQ(report->records, 6);
    EXPECT_EQ(report->first_seq, 1);
    auto range = (*trail)->range();
    ASSERT_TRUE(range);
    EXPECT_EQ(range->count, 6);
    EXPECT_EQ(range->last_seq, 6);
    EXPECT_EQ(range->first_at_ms, at("2026-11-27T21:00:00+01:00").time_since_epoch().count());
    audit::Filter held;
    held.kinds = {"held", "delivered"};
    std::vector<std::string> seen;
    ASSERT_TRUE((*trail)->scan(held, [&](const AuditRecord& r) {
      seen.push_back(r.kind);
      return true;
    }));
    EXPECT_THAT(seen, ElementsAre("held", "held", "delivered"));
    audit::Filter newest;
    newest.newest = 2;
    seen.clear();
    ASSERT_TRUE((*trail)->scan(newest, [&](const AuditRecord& r) {
      seen.push_back(r.kind);
      return true;
    }));
    EXPECT_THAT(seen, ElementsAre("released", "delivered"));
    auto counts = (*trail)->counts({});
    ASSERT_TRUE(counts);
    std::int64_t received = 0, at_21 = 0;
    for (const audit::Count& c : *counts) {
      received += c.kind == "received" ? c.n : 0;
      at_21 += c.hour == 21 ? c.n : 0;
    }
    EXPECT_EQ(received, 2);
    EXPECT_EQ(at_21, 6);
    auto sources = (*trail)->sources();
    ASSERT_TRUE(sources);
    EXPECT_THAT(*sources, ElementsAre("ent"));
    const std::string third = this->backend.audit()[2].hash;
    auto seq = (*trail)->seq_of_hash(third);
    ASSERT_TRUE(seq && *seq);
    EXPECT_EQ(**seq, 3);
  }
  PurgeLimits limits;
  limits.audit_before = at("2026-11-27T21:00:00.500+01:00");
  limits.events_before = at("2026-11-01T00:00:00Z");
  auto purged = s->purge(limits, at("2027-03-02T00:00:00Z"));
  ASSERT_TRUE(purged);
  EXPECT_EQ(purged->audit_records, 5);
  auto trail = this->backend.open_trail();
  ASSERT_TRUE(trail) << trail.error();
  auto checkpoints = (*trail)->checkpoints();
  ASSERT_TRUE(checkpoints);
  ASSERT_EQ(checkpoints->size(), 1u);
  EXPECT_EQ((*checkpoints)[0].purged_through, 5);
  auto report = audit::verify(**trail, {});
  ASSERT_TRUE(report) << report.error();
  EXPECT_FALSE(report->problem);
  EXPECT_EQ(report->first_seq, 6);
}

}  // namespace
}  // namespace treve::store
