// The ingest role's contract, run against both backends (SQLite and PostgreSQL, on real files
// and a real server): atomic accept with audit records, idempotency, retraction, the hash
// chain, what the trail never holds. Then what only the shared store has to show: several
// daemons' stores on one database keep one chain and store each event once, and a server that
// goes away and comes back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "daemon/core/digest.h"
#include "policy/rfc3339.h"
#include "tests/daemon/store_backends.h"
#include "tests/daemon/store_fixture.h"

namespace treve::store {
namespace {

using core::sha256_hex;
using testing::at;

NewEvent event(std::string id, int recipients = 2, DeliveryState state = DeliveryState::held) {
  return testing::event_for_pupils(std::move(id), recipients, state);
}
using ::testing::HasSubstr;

class IngestStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { backend_ = testing::make_backend(GetParam()); }
  IngestStore& store() { return backend_->store(); }
  long long query_int(const std::string& sql) { return backend_->query_int(sql); }
  bool chain_verifies() { return backend_->chain_verifies(); }
  std::unique_ptr<testing::Backend> backend_;
};

TEST_P(IngestStoreContract, AcceptStoresTheEventItsDeliveriesAndTheirAuditRecordsTogether) {
  std::vector<NewEvent> events{event("a", 2)};
  auto r = store().accept(events, at("2026-11-27T21:00:00+01:00"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].outcome, AcceptResult::Outcome::stored);
  EXPECT_EQ(query_int("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(query_int("SELECT count(*) FROM deliveries WHERE state = 'held'"), 2);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'received'"), 1);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'held'"), 2);
  EXPECT_TRUE(chain_verifies());
}

TEST_P(IngestStoreContract, TheSameEventAgainIsARepeatAndStoresNothingNew) {
  std::vector<NewEvent> events{event("a")};
  ASSERT_TRUE(store().accept(events, {}));
  auto again = store().accept(events, {});
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].outcome, AcceptResult::Outcome::repeated);
  EXPECT_EQ((*again)[0].response, R"({"answer":"a"})");
  EXPECT_EQ(query_int("SELECT count(*) FROM deliveries"), 2);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit"), 3);
}

TEST_P(IngestStoreContract, TheSameIdWithAnotherBodyIsAConflict) {
  std::vector<NewEvent> first{event("a")};
  ASSERT_TRUE(store().accept(first, {}));
  std::vector<NewEvent> other{event("a")};
  other[0].body = "{}";
  other[0].body_sha256 = sha256_hex(other[0].body);
  auto r = store().accept(other, {});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].outcome, AcceptResult::Outcome::conflict);
  EXPECT_EQ(query_int("SELECT count(*) FROM events"), 1);
}

TEST_P(IngestStoreContract, ARepeatInsideOneGroupIsSeenByTheSecondCopy) {
  std::vector<NewEvent> events{event("a"), event("a")};
  auto r = store().accept(events, {});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].outcome, AcceptResult::Outcome::stored);
  EXPECT_EQ((*r)[1].outcome, AcceptResult::Outcome::repeated);
}

TEST_P(IngestStoreContract, NoRecipientIdTitleOrPayloadReachesTheAuditTrail) {
  std::vector<NewEvent> events{event("a", 3)};
  ASSERT_TRUE(store().accept(events, {}));
  for (const char* needle : {"pupil-", "Réunion secrète", "confidential-payload"}) {
    std::string like =
        "SELECT count(*) FROM audit WHERE (recipient || detail || kind || "
        "source || event_id) LIKE '%" +
        std::string(needle) + "%'";
    EXPECT_EQ(query_int(like), 0) << needle;
  }
  EXPECT_EQ(query_int("SELECT count(DISTINCT recipient) FROM audit WHERE kind = 'held'"), 3);
}

TEST_P(IngestStoreContract, RetractCancelsHeldDeliveriesAndListsTheOthers) {
  std::vector<NewEvent> events{event("a", 2), event("b", 1, DeliveryState::due)};
  ASSERT_TRUE(store().accept(events, {}));
  auto r = store().retract("ent", "a", at("2026-11-27T22:00:00+01:00"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->retracted.size(), 2u);
  EXPECT_TRUE(r->not_retracted.empty());
  auto due = store().retract("ent", "b", at("2026-11-27T22:00:00+01:00"));
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->retracted.empty());
  ASSERT_EQ(due->not_retracted.size(), 1u);
  EXPECT_EQ(due->not_retracted[0].state, DeliveryState::due);
  auto missing = store().retract("ent", "zzz", {});
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->found);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'retracted'"), 2);
  EXPECT_TRUE(chain_verifies());
}

TEST_P(IngestStoreContract, ReopeningContinuesTheAuditChainWhereItStopped) {
  std::vector<NewEvent> first{event("a")};
  ASSERT_TRUE(store().accept(first, {}));
  const std::string head = backend_->audit_head();
  backend_->reopen();
  EXPECT_EQ(backend_->audit_head(), head);
  std::vector<NewEvent> second{event("b")};
  ASSERT_TRUE(store().accept(second, {}));
  EXPECT_TRUE(chain_verifies());
  auto found = store().find("ent", "a");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->deliveries.size(), 2u);
  EXPECT_EQ((*found)->deliveries[0].release_at, at("2026-11-30T07:00:00+01:00"));
}

TEST_P(IngestStoreContract, AHeldDeliveryWithNoReleaseInstantIsAuditedWithANullUntil) {
  std::vector<NewEvent> events{event("a", 1)};
  events[0].deliveries[0].release_at = policy::Instant::max();
  ASSERT_TRUE(store().accept(events, {}));
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'held' AND detail LIKE "
                      "'{\"until\":null,%'"),
            1);
  EXPECT_TRUE(chain_verifies());
}

TEST_P(IngestStoreContract, FindShowsEachCopyOfAFannedOutDeliveryWithItsSink) {
  std::vector<NewEvent> events{event("a", 1, DeliveryState::due)};
  events[0].deliveries[0].sinks = {"mail", "push"};
  events[0].deliveries[0].reason = "outside any quiet window";
  ASSERT_TRUE(store().accept(events, at("2026-11-27T21:00:00+01:00")));
  auto found = store().find("ent", "a");
  ASSERT_TRUE(found && *found);
  const EventView& v = **found;
  EXPECT_EQ(v.establishment, "0750654D");
  EXPECT_EQ(v.timezone, "Europe/Paris");
  EXPECT_EQ(v.received_at, at("2026-11-27T21:00:00+01:00"));
  ASSERT_EQ(v.deliveries.size(), 2u);
  EXPECT_EQ(v.deliveries[0].sink, "mail");
  EXPECT_EQ(v.deliveries[1].sink, "push");
  EXPECT_LT(v.deliveries[0].seq, v.deliveries[1].seq);
  for (const DeliveryView& d : v.deliveries) {
    EXPECT_EQ(d.state, DeliveryState::due);
    ASSERT_TRUE(d.released_at);
    EXPECT_EQ(*d.released_at, at("2026-11-27T21:00:00+01:00"));
    EXPECT_EQ(d.recipient, "pupil-0");
    EXPECT_EQ(d.recipient_pseudonym.size(), 32u);
  }
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'released' AND detail LIKE "
                      "'{\"sink\":\"mail\",%'"),
            1);
  auto none = store().find("ent", "missing");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST_P(IngestStoreContract, AnEventWaitingForItsDirectoryIsFoundWaitingAndRetractedWhole) {
  NewEvent e = event("w", 0);
  e.establishment.clear();
  e.zone = date::locate_zone("UTC");
  e.awaiting = NewAwaiting{
      "annuaire", {"u1", "u2"}, "the directory did not answer", at("2026-11-27T21:05:00Z")};
  std::vector<NewEvent> events{e};
  ASSERT_TRUE(store().accept(events, at("2026-11-27T21:00:00+01:00")));
  auto found = store().find("ent", "w");
  ASSERT_TRUE(found && *found);
  ASSERT_TRUE((*found)->awaiting);
  EXPECT_EQ((*found)->awaiting->directory, "annuaire");
  EXPECT_EQ((*found)->awaiting->attempts, 1);
  EXPECT_EQ((*found)->awaiting->next_attempt_at, at("2026-11-27T21:05:00Z"));
  auto r = store().retract("ent", "w", at("2026-11-27T21:01:00+01:00"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->found);
  EXPECT_TRUE(r->was_awaiting);
  EXPECT_EQ(query_int("SELECT count(*) FROM awaiting"), 0);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'awaiting_directory'"), 1);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'retracted'"), 1);
  EXPECT_TRUE(chain_verifies());
}

// A delivery decided "now" while held ones of an earlier instant are still to be released is
// stored held behind them (docs/delivery.md), by both backends.
TEST_P(IngestStoreContract, ADeliveryDecidedNowBehindAReleaseUnderWayIsStoredHeld) {
  std::vector<NewEvent> held{event("early", 1)};
  held[0].deliveries[0].release_at = at("2026-11-30T07:00:00+01:00");
  ASSERT_TRUE(store().accept(held, {}));
  std::vector<NewEvent> now{event("now", 1, DeliveryState::due)};
  now[0].received_at = at("2026-11-30T07:00:05+01:00");
  now[0].deliveries[0].release_at = now[0].received_at;
  now[0].deliveries[0].reason = "outside any quiet window";
  ASSERT_TRUE(store().accept(now, now[0].received_at));
  auto found = store().find("ent", "now");
  ASSERT_TRUE(found && *found);
  ASSERT_EQ((*found)->deliveries.size(), 1u);
  EXPECT_EQ((*found)->deliveries[0].state, DeliveryState::held);
  EXPECT_EQ(query_int("SELECT count(*) FROM audit WHERE kind = 'held' AND detail LIKE "
                      "'%behind the release under way (outside any quiet window)%'"),
            1);
}

INSTANTIATE_TEST_SUITE_P(Backends, IngestStoreContract, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// Both backends make the very same trail of the same events: an auditor's tools read either.
TEST(StoreBackends, SqliteAndPostgresqlWriteTheSameAuditTrail) {
  testing::SqliteBackend lite;
  testing::PostgresBackend pg;
  std::vector<NewEvent> events{event("a", 2), event("b", 1, DeliveryState::due)};
  events[1].deliveries[0].sinks = {"mail", "push"};
  events[1].urgent = true;
  events[1].urgent_refusal = "no urgent bypass for this connector";
  for (testing::Backend* b : std::initializer_list<testing::Backend*>{&lite, &pg}) {
    ASSERT_TRUE(b->store().accept(events, at("2026-11-27T21:00:00+01:00")));
    ASSERT_TRUE(b->store().retract("ent", "a", at("2026-11-27T21:30:00+01:00")));
  }
  const auto a = lite.audit();
  const auto b = pg.audit();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 6u);
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(canonical_encoding(a[i]) + a[i].hash, canonical_encoding(b[i]) + b[i].hash) << i;
  EXPECT_EQ(lite.audit_head(), pg.audit_head());
}

// Two daemons' stores on one database, accepting the same events at once (a connector that
// retries on the other daemon): each event is stored once, the other gets "repeated", and the
// trail is one chain without a fork or a gap.
TEST(PgStore, TwoDaemonsAcceptingTheSameEventsAtOnceStoreEachOnceInOneChain) {
  testing::PostgresBackend first;
  auto second = PgStore::open(testing::pg_options(first.url()));
  ASSERT_TRUE(second) << second.error().message;
  constexpr int kEvents = 300;
  std::atomic<int> stored{0}, repeated{0}, failed{0};
  auto post = [&](IngestStore& s, int offset) {
    for (int i = 0; i < kEvents; i += 5) {
      std::vector<NewEvent> batch;
      for (int k = 0; k < 5; ++k)
        batch.push_back(event("e" + std::to_string((i + k + offset) % kEvents), 2));
      auto r = s.accept(batch, {});
      if (!r) {
        ++failed;
        continue;
      }
      for (const AcceptResult& a : *r)
        (a.outcome == AcceptResult::Outcome::stored ? stored : repeated)++;
    }
  };
  std::thread a(post, std::ref(first.store()), 0);
  std::thread b(post, std::ref(**second), kEvents / 2);
  a.join();
  b.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stored.load(), kEvents);
  EXPECT_EQ(repeated.load(), kEvents);
  EXPECT_EQ(first.query_int("SELECT count(*) FROM events"), kEvents);
  EXPECT_EQ(first.query_int("SELECT count(*) FROM deliveries"), 2 * kEvents);
  EXPECT_EQ(first.query_int("SELECT count(*) FROM audit"), 3 * kEvents);
  EXPECT_EQ(first.query_int("SELECT events FROM audit_head"), kEvents);
  EXPECT_TRUE(first.chain_verifies());
}

// A value PostgreSQL's text cannot hold (a NUL byte) is refused whole; nothing of the batch
// stays, and the store goes on.
TEST(PgStore, AValueWithANulByteIsRefusedWholeAndTheStoreGoesOn) {
  testing::PostgresBackend pg;
  std::vector<NewEvent> events{event("ok", 1), event(std::string("bad\0id", 6), 1)};
  auto r = pg.store().accept(events, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, StoreError::Kind::internal);
  EXPECT_THAT(r.error().message, HasSubstr("NUL"));
  EXPECT_EQ(pg.query_int("SELECT count(*) FROM events"), 0);
  std::vector<NewEvent> good{event("ok", 1)};
  ASSERT_TRUE(pg.store().accept(good, {}));
  EXPECT_TRUE(pg.chain_verifies());
}

TEST(PgStore, RefusesADatabaseFromANewerTreve) {
  testing::PostgresBackend pg;
  ASSERT_TRUE(pg.connection().exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'"));
  auto s = PgStore::open(testing::pg_options(pg.url()));
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("newer"));
  auto v = PgStore::schema_version(testing::pg_options(pg.url()).connection);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 99);
}

// The server stopped (an operator's restart, a failover): every call fails as unavailable,
// nothing is half-stored, and once it is back the store reconnects by itself and the chain
// goes on where it stopped.
TEST(PgStore, AServerThatGoesAwayMakesCallsUnavailableAndTheStoreReconnectsWhenItIsBack) {
  test::PgCluster cluster;  // its own: stopping it must not disturb other tests' databases
  testing::PostgresBackend pg(cluster.fresh_database());
  std::vector<NewEvent> before{event("before", 2)};
  ASSERT_TRUE(pg.store().accept(before, {}));
  cluster.stop();
  std::vector<NewEvent> during{event("during", 2)};
  auto refused = pg.store().accept(during, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::unavailable);
  auto health = pg.store().check();
  ASSERT_FALSE(health);
  EXPECT_EQ(health.error().kind, StoreError::Kind::unavailable);
  EXPECT_FALSE(pg.store().find("ent", "before"));
  cluster.start();
  ASSERT_TRUE(pg.store().check());
  auto again = pg.store().accept(during, {});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)[0].outcome, AcceptResult::Outcome::stored);
  auto found = pg.store().find("ent", "before");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ(pg.query_int("SELECT count(*) FROM audit"), 6);
  EXPECT_TRUE(pg.chain_verifies());
}

// A server whose disk is full (SQLSTATE 53100, raised here by a trigger, as PostgreSQL raises it
// when it cannot extend a file): the write fails as storage_failed, check() keeps failing (so
// /healthz answers 503) until a write succeeds again, and nothing of the failed write stays.
TEST(PgStore, AFullDiskOnTheServerFailsCheckUntilAWriteSucceeds) {
  testing::PostgresBackend pg;
  pg.query_text(
      "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "
      "EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$");
  pg.query_text(
      "CREATE TRIGGER disk_is_full BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION "
      "disk_full()");
  std::vector<NewEvent> events{event("when-full", 2)};
  auto refused = pg.store().accept(events, {});
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().storage_failed);
  EXPECT_EQ(refused.error().kind, StoreError::Kind::unavailable);
  auto health = pg.store().check();
  ASSERT_FALSE(health);
  EXPECT_TRUE(health.error().storage_failed);
  EXPECT_THAT(health.error().message, ::testing::HasSubstr("could not extend file"));
  EXPECT_FALSE(pg.store().check());  // still, without a write
  EXPECT_EQ(pg.query_int("SELECT count(*) FROM audit"), 0);
  pg.query_text("DROP TRIGGER disk_is_full ON events");
  auto accepted = pg.store().accept(events, {});
  ASSERT_TRUE(accepted) << accepted.error().message;
  EXPECT_TRUE(pg.store().check());
  EXPECT_TRUE(pg.chain_verifies());
}

// The partition a recipient's deliveries carry: the first byte of SHA-256("ent\npupil-0"),
// computed apart (`printf 'ent\npupil-0' | sha256sum`).
TEST(PgStore, ARecipientsPartitionIsTheFirstByteOfTheSha256OfSourceAndRecipient) {
  EXPECT_EQ(PgStore::partition_of("ent", "pupil-0"), 0xa0);
  testing::PostgresBackend pg;
  std::vector<NewEvent> events{event("a", 1)};
  ASSERT_TRUE(pg.store().accept(events, {}));
  EXPECT_EQ(pg.query_int("SELECT partition FROM deliveries"), 0xa0);
}

}  // namespace
}  // namespace treve::store
