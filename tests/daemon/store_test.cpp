// The SQLite store on real files: release in order, a full disk, a newer schema, the pseudonym
// key, and the commit queue's group commit. What both backends share is tested against both in
// ingest_store_contract_test.cpp and store_contract_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <latch>
#include <thread>

#include "daemon/core/digest.h"
#include "daemon/core/metrics.h"
#include "daemon/store/commit_queue.h"
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
using testing::TempDir;

NewEvent event(std::string id, int recipients = 2, DeliveryState state = DeliveryState::held) {
  return testing::event_for_pupils(std::move(id), recipients, state);
}

long long query_int(const TempDir& dir, const std::string& sql) {
  return testing::sqlite_query_int(dir.db(), sql);
}

std::unique_ptr<SqliteStore> open_store(const TempDir& dir, long long max_pages = 0) {
  return test::open_store(test::store_options(dir.db(), 7, max_pages));
}

// Every audit record, in order, re-chained from genesis: true when intact.
bool chain_verifies(const TempDir& dir) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.file("treve.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT seq, at, at_local, kind, source, event_id, establishment, category, "
                     "recipient, role, detail, prev_hash, hash FROM audit ORDER BY seq",
                     -1, &st, nullptr);
  std::string prev(kGenesisHash);
  bool ok = true;
  std::int64_t expected_seq = 1;
  while (sqlite3_step(st) == SQLITE_ROW) {
    auto text = [&](int c) {
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)));
    };
    AuditRecord r{sqlite3_column_int64(st, 0),
                  sqlite3_column_int64(st, 1),
                  text(2),
                  text(3),
                  text(4),
                  text(5),
                  text(6),
                  text(7),
                  text(8),
                  text(9),
                  text(10),
                  text(11),
                  text(12)};
    ok = ok && r.seq == expected_seq++ && r.prev_hash == prev && compute_hash(r) == r.hash;
    prev = r.hash;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ok;
}

TEST(SqliteStore, ReleaseDueTakesHeldDeliveriesInReleaseThenReceiptOrder) {
  TempDir dir;
  auto store = open_store(dir);
  std::vector<NewEvent> events{event("late", 1), event("early", 2), event("later-same", 1)};
  events[0].deliveries[0].release_at = at("2026-11-30T08:00:00+01:00");
  for (auto& d : events[1].deliveries)
    d.release_at = at("2026-11-30T07:00:00+01:00");
  events[2].deliveries[0].release_at = at("2026-11-30T08:00:00+01:00");
  ASSERT_TRUE(store->accept(events, {}));
  auto first = store->release_due(at("2026-11-30T07:30:00+01:00"), 10);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].ref.event_id, "early");
  EXPECT_LT((*first)[0].ref.seq, (*first)[1].ref.seq);
  auto second = store->release_due(at("2026-11-30T09:00:00+01:00"), 10);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 2u);
  EXPECT_EQ((*second)[0].ref.event_id, "late");
  EXPECT_EQ((*second)[1].ref.event_id, "later-same");
  auto stats = store->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->held, 0u);
  EXPECT_EQ(stats->due, 4u);
  EXPECT_TRUE(chain_verifies(dir));
}

TEST(SqliteStore, AFullDatabaseRefusesTheTransactionWholeAndKeepsWhatWasStored) {
  TempDir dir;
  auto store = open_store(dir, 40);
  int stored = 0;
  StoreError last;
  for (int i = 0; i < 10000; ++i) {
    std::vector<NewEvent> events{event("e" + std::to_string(i), 3)};
    auto r = store->accept(events, {});
    if (!r) {
      last = r.error();
      break;
    }
    ++stored;
  }
  ASSERT_GT(stored, 0);
  ASSERT_LT(stored, 10000) << "the page cap was never reached";
  EXPECT_EQ(last.kind, StoreError::Kind::unavailable);
  EXPECT_THAT(last.message, HasSubstr("full"));
  EXPECT_EQ(query_int(dir, "SELECT count(*) FROM events"), stored);
  EXPECT_EQ(query_int(dir, "SELECT count(*) FROM deliveries"), stored * 3);
  EXPECT_EQ(query_int(dir, "SELECT count(*) FROM audit"), stored * 4);
  EXPECT_TRUE(chain_verifies(dir));
  // The store stays usable: a read works, and the audit head is the last committed one.
  auto found = store->find("ent", "e0");
  EXPECT_TRUE(found && *found);
}

// What /healthz reports: a write that failed for lack of space makes check() fail, until a
// write changes the store again; reads and transactions that change nothing do not clear it.
TEST(SqliteStore, CheckFailsAfterAWriteFailedForLackOfSpaceUntilAWriteSucceeds) {
  TempDir dir;
  auto store = open_store(dir, 60);
  ASSERT_TRUE(store->check());
  std::vector<NewEvent> big;
  for (int i = 0; i < 3000; ++i)
    big.push_back(event("big-" + std::to_string(i), 3));
  auto refused = store->accept(big, {});
  ASSERT_FALSE(refused);
  auto health = store->check();
  ASSERT_FALSE(health);
  EXPECT_EQ(health.error().kind, StoreError::Kind::unavailable);
  EXPECT_THAT(health.error().message, HasSubstr("full"));
  EXPECT_TRUE(store->find("ent", "big-0"));
  EXPECT_TRUE(store->release_due(at("2026-11-27T21:00:00+01:00"), 10));  // nothing due
  EXPECT_FALSE(store->check());
  std::vector<NewEvent> small{event("small", 1)};
  ASSERT_TRUE(store->accept(small, {}));
  EXPECT_TRUE(store->check());
  // A repeat stores nothing: it changes nothing either way.
  ASSERT_FALSE(store->accept(big, {}));
  ASSERT_TRUE(store->accept(small, {}));
  EXPECT_FALSE(store->check());
}

TEST(SqliteStore, RefusesADatabaseFromANewerTreve) {
  TempDir dir;
  { auto store = open_store(dir); }
  sqlite3* db = nullptr;
  sqlite3_open(dir.file("treve.db").c_str(), &db);
  sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr,
               nullptr);
  sqlite3_close(db);
  SqliteOptions o;
  o.path = dir.file("treve.db");
  auto s = SqliteStore::open(o);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("newer"));
}

TEST(PseudonymKey, IsCreatedOnceWithMode0600AndReadBackTheSame) {
  TempDir dir;
  auto first = load_or_create_key(dir.file("pseudonym.key"));
  ASSERT_TRUE(first);
  auto second = load_or_create_key(dir.file("pseudonym.key"));
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
  auto perms = fs::status(dir.file("pseudonym.key")).permissions();
  EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(CommitQueue, ConcurrentAcceptsShareTransactions) {
  TempDir dir;
  auto store = open_store(dir);
  core::SystemClock clock;
  CommitQueue queue(*store, clock);
  constexpr int kThreads = 8, kPerThread = 50;
  std::atomic<int> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::latch done(1);
        std::vector<NewEvent> events{event("t" + std::to_string(t) + "-" + std::to_string(i), 1)};
        ASSERT_TRUE(
            queue.submit_accept(std::move(events), [&](Result<std::vector<AcceptResult>> r) {
              if (r && (*r)[0].outcome == AcceptResult::Outcome::stored)
                ++stored;
              done.count_down();
            }));
        done.wait();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  queue.stop();
  EXPECT_EQ(stored.load(), kThreads * kPerThread);
  auto c = queue.counters();
  EXPECT_EQ(c.events, static_cast<std::uint64_t>(kThreads * kPerThread));
  // Group commit: fewer transactions than events (eight clients wait on each commit).
  EXPECT_LT(c.commits, c.events);
  EXPECT_TRUE(chain_verifies(dir));
}

TEST(CommitQueue, CountsStoredEventsAndTheirHeldDeliveriesButNotRepeats) {
  TempDir dir;
  auto store = open_store(dir);
  core::SystemClock clock;
  core::Metrics metrics;
  CommitQueue::Options options;
  options.metrics = &metrics;
  CommitQueue queue(*store, clock, options);
  auto accept = [&](std::vector<NewEvent> events) {
    std::promise<void> done;
    EXPECT_TRUE(queue.submit_accept(
        std::move(events), [&](const Result<std::vector<AcceptResult>>&) { done.set_value(); }));
    done.get_future().get();
  };
  std::vector<NewEvent> first;
  first.push_back(event("a", 2));                      // two held
  first.push_back(event("b", 3, DeliveryState::due));  // sent at once: not held
  accept(std::move(first));
  accept({event("a", 2)});  // a repeat
  queue.stop();
  EXPECT_EQ(metrics.events_received.with({"ent", "message"}).value(), 2u);
  EXPECT_EQ(metrics.deliveries_held.with({"0750654D", "message"}).value(), 2u);
  EXPECT_EQ(metrics.commit_seconds.with({}).snapshot().cumulative.back(), 2u);
  EXPECT_EQ(metrics.writer_queue.with({}).value(), 0);
}

TEST(CommitQueue, AnIdleWriterGivesBackItsPageCacheOnceAndStillWritesAfterwards) {
  TempDir dir;
  auto store = open_store(dir);
  core::SystemClock clock;
  CommitQueue::Options options;
  options.release_memory_after = std::chrono::milliseconds{100};
  CommitQueue queue(*store, clock, options);
  // Stores n events and returns the writer's cache size right after their commit, read by
  // the callback on the writer thread (before any idle time), or -1 if they were not stored.
  auto accept = [&](const std::string& prefix, int n) {
    std::vector<NewEvent> events;
    for (int i = 0; i < n; ++i)
      events.push_back(event(prefix + std::to_string(i), 3));
    std::promise<std::int64_t> cache;
    EXPECT_TRUE(
        queue.submit_accept(std::move(events), [&](const Result<std::vector<AcceptResult>>& r) {
          const bool stored = r && r->size() == static_cast<std::size_t>(n);
          cache.set_value(stored ? store->writer_cache_bytes() : -1);
        }));
    return cache.get_future().get();
  };
  EXPECT_GT(accept("a", 3000), 1'000'000);
  // Idle: given back once, not again while nothing happens.
  for (int i = 0; i < 100 && queue.counters().memory_releases == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  ASSERT_EQ(queue.counters().memory_releases, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds{400});
  EXPECT_EQ(queue.counters().memory_releases, 1u);
  std::promise<std::int64_t> released;
  ASSERT_TRUE(queue.submit_write([&](Store&) { released.set_value(store->writer_cache_bytes()); }));
  EXPECT_LT(released.get_future().get(), 200'000);
  // The next write reads back what it needs.
  EXPECT_GT(accept("b", 10), 0);
  queue.stop();
  EXPECT_EQ(query_int(dir, "SELECT count(*) FROM events"), 3010);
  EXPECT_TRUE(chain_verifies(dir));
}

TEST(CommitQueue, RefusesWorkBeyondItsCapacity) {
  TempDir dir;
  auto store = open_store(dir);
  core::SystemClock clock;
  std::latch release(1);
  CommitQueue::Options options;
  options.capacity = 2;
  CommitQueue queue(*store, clock, options);
  // Block the writer inside a write job so that submissions pile up.
  std::latch started(1);
  ASSERT_TRUE(queue.submit_write([&](Store&) {
    started.count_down();
    release.wait();
  }));
  started.wait();
  auto noop = [](Result<std::vector<AcceptResult>>) {};
  EXPECT_TRUE(queue.submit_accept({event("1")}, noop));
  EXPECT_TRUE(queue.submit_accept({event("2")}, noop));
  EXPECT_FALSE(queue.submit_accept({event("3")}, noop));
  release.count_down();
  queue.stop();
  EXPECT_EQ(query_int(dir, "SELECT count(*) FROM events"), 2);
}

}  // namespace
}  // namespace treve::store

namespace treve::store {
namespace {

TEST(PseudonymKey, IsNeverRecreatedWhenRecordsWereMadeWithIt) {
  TempDir dir;
  auto key = load_or_create_key(dir.file("pseudonym.key"), /*may_create=*/false);
  ASSERT_FALSE(key);
  EXPECT_THAT(key.error().message, HasSubstr("restore"));
  EXPECT_FALSE(fs::exists(dir.file("pseudonym.key")));
}

TEST(CommitQueue, ARequestTooBigForTheSpaceLeftDoesNotFailTheOthersInItsGroup) {
  TempDir dir;
  auto store = open_store(dir, 60);
  core::SystemClock clock;
  CommitQueue queue(*store, clock);
  std::latch release(1), started(1);
  ASSERT_TRUE(queue.submit_write([&](Store&) {
    started.count_down();
    release.wait();
  }));
  started.wait();
  std::vector<NewEvent> big;
  for (int i = 0; i < 3000; ++i)
    big.push_back(event("big-" + std::to_string(i), 3));
  std::promise<bool> big_ok, small_ok;
  ASSERT_TRUE(queue.submit_accept(std::move(big), [&](Result<std::vector<AcceptResult>> r) {
    big_ok.set_value(r.has_value());
  }));
  ASSERT_TRUE(queue.submit_accept({event("small", 1)}, [&](Result<std::vector<AcceptResult>> r) {
    small_ok.set_value(r.has_value());
  }));
  release.count_down();
  EXPECT_FALSE(big_ok.get_future().get());
  EXPECT_TRUE(small_ok.get_future().get());
  queue.stop();
  EXPECT_EQ(query_int(dir, "SELECT count(*) FROM events"), 1);
  EXPECT_TRUE(chain_verifies(dir));
}

// Recipients' own quiet hours: kept by source and pseudonym, changed with their audit record,
// and purged once neither set nor applied for the retention.

}  // namespace
}  // namespace treve::store
