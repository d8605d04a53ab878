// The store's side of dispatching, on real SQLite files: the ready cursor, outcomes with their
// audit records, dead letters and their replay, and a second process writing the same file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"

namespace treve::store {
namespace {

using core::sha256_hex;

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::at;
using Dir = testing::TempDir;
std::unique_ptr<SqliteStore> open(const Dir& dir) {
  return test::open_store(test::store_options(dir.db(), 3));
}

NewEvent event(const std::string& id, std::vector<std::string> recipients, DeliveryState state,
               policy::Instant release = at("2026-11-30T07:00:00+01:00")) {
  NewEvent e;
  e.source = "ent";
  e.id = id;
  e.establishment = "0750654D";
  e.category = policy::Category::message;
  e.received_at = at("2026-11-27T21:00:00+01:00");
  e.zone = date::locate_zone("Europe/Paris");
  e.body = R"({"title":"secret title","payload":{"p":"secret payload"}})";
  e.body_sha256 = sha256_hex(e.body + id);
  e.response = "{}";
  for (auto& r : recipients) {
    NewDelivery d;
    d.recipient = r;
    d.state = state;
    d.release_at = state == DeliveryState::due ? e.received_at : release;
    d.reason = "test";
    e.deliveries.push_back(d);
  }
  return e;
}

void accept(SqliteStore& s, NewEvent e) {
  std::vector<NewEvent> v;
  v.push_back(std::move(e));
  auto r = s.accept(v, v.front().received_at);
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

std::vector<std::string> kinds(const Dir& dir) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT kind FROM audit ORDER BY seq", -1, &st, nullptr);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW)
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// The audit trail verifies from genesis.
bool chain_ok(const Dir& dir) {
  auto trail = audit::Trail::open(dir.db());
  if (!trail)
    return false;
  auto report = audit::verify(**trail, {});
  return report && !report->problem && report->first_seq == 1;
}

DeliveryOutcome outcome_for(const DispatchItem& d, DeliveryOutcome::Kind kind) {
  return testing::outcome_for(d, kind, at("2026-11-30T07:00:01+01:00"));
}

TEST(DispatchStore, DueDeliveriesAreReadPastACursorInTheOrderTheyBecameDue) {
  Dir dir;
  auto s = open(dir);
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
TEST(DispatchStore, ADeliveryDecidedNowDuringAReleaseIsReleasedAfterTheHeldOnes) {
  Dir dir;
  auto s = open(dir);
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
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT kind, detail FROM audit WHERE event_id = 'morning' ORDER BY seq",
                     -1, &st, nullptr);
  std::vector<std::string> records;
  while (sqlite3_step(st) == SQLITE_ROW) {
    records.push_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + " " +
                      reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_THAT(records[0], HasSubstr("received"));
  EXPECT_THAT(records[1], HasSubstr("held {"));
  EXPECT_THAT(records[1], HasSubstr("behind the release under way (outside quiet hours)"));
  EXPECT_THAT(records[2], HasSubstr("released {"));
  EXPECT_TRUE(chain_ok(dir));

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

TEST(DispatchStore, OutcomesChangeStatesAndAreAuditedWithoutContent) {
  Dir dir;
  auto s = open(dir);
  accept(*s, event("e1", {"pupil-a", "pupil-b", "pupil-c"}, DeliveryState::due));
  auto items = s->ready(0, 100);
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 3u);
  std::vector<DeliveryOutcome> outs{outcome_for((*items)[0], DeliveryOutcome::Kind::delivered),
                                    outcome_for((*items)[1], DeliveryOutcome::Kind::retrying),
                                    outcome_for((*items)[2], DeliveryOutcome::Kind::dead)};
  ASSERT_TRUE(s->record_outcomes(outs, at("2026-11-30T07:00:02+01:00")));
  EXPECT_THAT(kinds(dir), ElementsAre("received", "released", "released", "released", "delivered",
                                      "retrying", "dead_lettered"));
  EXPECT_TRUE(chain_ok(dir));
  // Nothing of the content or the recipient id reaches the audit trail.
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT group_concat(recipient || detail, '|') FROM audit", -1, &st,
                     nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string all(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
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
TEST(DispatchStore, ADeliveryHeldAgainTakesItsRecipientsLaterDueOnesWithIt) {
  Dir dir;
  auto s = open(dir);
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
  EXPECT_THAT(kinds(dir),
              ElementsAre("received", "released", "released", "received", "released", "released",
                          "received", "released", "held_again", "held_again"));
  EXPECT_TRUE(chain_ok(dir));
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
TEST(DispatchStore, ADeliveryHeldAgainTakesItsRecipientsLaterOverdueHeldOnesWithIt) {
  Dir dir;
  auto s = open(dir);
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
  EXPECT_THAT(kinds(dir), ElementsAre("received", "held", "received", "held", "received", "held",
                                      "received", "held", "released", "held_again", "replanned"));
  EXPECT_TRUE(chain_ok(dir));
  auto released = s->release_due(morning, 10);
  ASSERT_TRUE(released);
  std::vector<std::string> order;
  for (const auto& d : *released)
    order.push_back(d.ref.event_id);
  EXPECT_THAT(order, ElementsAre("e4", "e1", "e2", "e3"));
}

// find() reads each copy as its last attempt left it (what the admin API shows of an event),
// with the recipient's pseudonym as the audit trail names it.
TEST(DispatchStore, FindReadsEachCopysAttemptsErrorDigestAndInstants) {
  Dir dir;
  auto s = open(dir);
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
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT recipient FROM audit WHERE kind = 'delivered'", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  const std::string pseudonym(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
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

TEST(DispatchStore, ReplayMakesDeadDeliveriesDueAgainPastTheCursorAndSkipsOthers) {
  Dir dir;
  auto s = open(dir);
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
  EXPECT_EQ(kinds(dir).back(), "replayed");
  EXPECT_TRUE(chain_ok(dir));
  // An outcome for a delivery that changed meanwhile (delivered already) is skipped.
  const auto before = kinds(dir).size();
  ASSERT_TRUE(s->record_outcomes(std::vector{outs[1]}, at("2026-11-30T08:00:01+01:00")));
  EXPECT_EQ(kinds(dir).size(), before);
}

TEST(DispatchStore, TwoProcessesWritingTheSameFileKeepOneChainAndOneReadyOrder) {
  Dir dir;
  auto daemon = open(dir);
  auto command = open(dir);  // as `treve deliveries replay` does, beside a running daemon
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
  EXPECT_TRUE(chain_ok(dir));
  auto due = daemon->ready((*items)[0].ready_seq, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].ref.recipient, "a");
  EXPECT_EQ((*due)[1].ref.recipient, "b");
  EXPECT_LT((*due)[0].ready_seq, (*due)[1].ready_seq);
}

TEST(DispatchStore, ASchemaOneDatabaseIsMigratedWithItsDueDeliveriesReadable) {
  Dir dir;
  {
    auto s = open(dir);
    accept(*s, event("old", {"a"}, DeliveryState::due));
  }
  // Back to what version 1 wrote: no ready order, schema_version 1.
  sqlite3* db = nullptr;
  sqlite3_open(dir.db().c_str(), &db);
  const char* downgrade =
      "DROP TABLE policy_versions;"
      "DROP TABLE awaiting;"
      "DROP TABLE crises;"
      "DROP TABLE preferences;"
      "DROP INDEX deliveries_ready;"
      "DROP INDEX events_with_body;"
      "ALTER TABLE deliveries DROP COLUMN ready_seq;"
      "ALTER TABLE deliveries DROP COLUMN released_at;"
      "ALTER TABLE deliveries DROP COLUMN first_attempt_at;"
      "ALTER TABLE deliveries DROP COLUMN sink;"
      "ALTER TABLE deliveries DROP COLUMN last_error;"
      "ALTER TABLE deliveries DROP COLUMN digest;"
      "DELETE FROM meta WHERE key = 'ready_seq';"
      "UPDATE meta SET value = '1' WHERE key = 'schema_version';";
  ASSERT_EQ(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto s = open(dir);
  auto due = s->ready(0, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].ref.event_id, "old");
  accept(*s, event("new", {"b"}, DeliveryState::due));
  auto more = s->ready((*due)[0].ready_seq, 10);
  ASSERT_TRUE(more);
  ASSERT_EQ(more->size(), 1u);
  EXPECT_EQ((*more)[0].ref.event_id, "new");
}

}  // namespace
}  // namespace treve::store

namespace treve::store {
namespace {

TEST(SqliteCheckpoints, TheWriteAheadLogIsCopiedIntoTheDatabaseWhileTheStoreIsOpen) {
  Dir dir;
  auto s = open(dir);
  const auto before = fs::file_size(dir.db());
  for (int i = 0; i < 20; ++i) {
    std::vector<std::string> recipients;
    for (int r = 0; r < 200; ++r)
      recipients.push_back("r" + std::to_string(r));
    accept(*s, event("e" + std::to_string(i), recipients, DeliveryState::held));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s->checkpointed_frames() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(s->checkpointed_frames(), 0u);
  // Only a checkpoint writes pages into the database file itself.
  EXPECT_GT(fs::file_size(dir.db()), before);
}

TEST(DispatchStore, AnOutcomeInABatchRecordsTheDeliverysOwnIdBesideTheBatchs) {
  Dir dir;
  auto s = open(dir);
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
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT detail FROM audit WHERE kind = 'delivered' ORDER BY seq", -1, &st,
                     nullptr);
  std::vector<std::string> details;
  while (sqlite3_step(st) == SQLITE_ROW)
    details.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_THAT(details,
              ElementsAre(R"({"sink":"push","attempt":1,"status":200,"webhook_id":"bat_1",)"
                          R"("delivery_id":"dlv_a"})",
                          R"({"sink":"push","attempt":1,"status":200,"webhook_id":"dlv_b"})"));
  EXPECT_TRUE(chain_ok(dir));
}

// The digests of one recipient on two sinks have the same id (made from the same deliveries'
// ids): committed together, each still gets its own "digest" record, covering its own copies.
TEST(DispatchStore, DigestsWithTheSameIdOnTwoSinksEachGetTheirDigestRecord) {
  Dir dir;
  auto s = open(dir);
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
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT kind, event_id, detail FROM audit WHERE kind IN ('digest', "
                     "'delivered') ORDER BY seq",
                     -1, &st, nullptr);
  std::vector<std::string> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < 3; ++c)
      row += std::string(c ? " " : "") + reinterpret_cast<const char*>(sqlite3_column_text(st, c));
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0], R"(digest dig_1 {"sink":"mobile","id":"dig_1","outcome":"delivered",)"
                     R"("notifications":2,"covers":["d-1","d-2"]})");
  EXPECT_THAT(rows[1], HasSubstr("delivered d-1"));
  EXPECT_THAT(rows[2], HasSubstr("delivered d-2"));
  EXPECT_EQ(rows[3], R"(digest dig_1 {"sink":"browser","id":"dig_1","outcome":"delivered",)"
                     R"("notifications":2,"covers":["d-3","d-4"]})");
  EXPECT_THAT(rows[4], HasSubstr("delivered d-3"));
  EXPECT_THAT(rows[5], HasSubstr("delivered d-4"));
  EXPECT_TRUE(chain_ok(dir));
}

}  // namespace
}  // namespace treve::store
