// The scheduler on a real store with a fake wall clock: releases at the instant, in order,
// catches up on start, and neither releases early nor stalls when the wall clock jumps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "daemon/core/digest.h"
#include "daemon/runtime/scheduler.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/support/store.h"

namespace treve::runtime {
namespace {

using core::FakeClock;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

policy::Instant at(std::string_view s) {
  return *policy::parse_rfc3339(s);
}

store::NewEvent held_event(std::string id, policy::Instant release, int recipients = 1) {
  store::NewEvent e;
  e.source = "ent";
  e.id = std::move(id);
  e.establishment = "0750654D";
  e.received_at = release - 10h;
  e.zone = date::locate_zone("Europe/Paris");
  e.body = "{}";
  e.body_sha256 = core::sha256_hex(e.body + e.id);
  e.response = "{}";
  for (int i = 0; i < recipients; ++i) {
    store::NewDelivery d;
    d.recipient = "r" + std::to_string(i);
    d.release_at = release;
    d.reason = "quiet window";
    e.deliveries.push_back(d);
  }
  return e;
}

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : clock_(at("2026-11-30T06:59:58+01:00")) {
    store_ = test::open_store(test::store_options(dir_.db()));
    queue_ = std::make_unique<store::CommitQueue>(*store_, clock_);
  }
  ~SchedulerTest() override {
    if (scheduler_)
      scheduler_->stop();
    work_.reset();
    if (io_thread_.joinable())
      io_thread_.join();
    scheduler_.reset();
    queue_.reset();
    store_.reset();
  }

  void accept(std::vector<store::NewEvent> events) {
    ASSERT_TRUE(store_->accept(events, clock_.now()));
  }

  // By default, batches of 2: several transactions for a handful of deliveries.
  void start(std::size_t batch = 2, std::size_t first_batch = 32) {
    Scheduler::Options options;
    options.max_sleep = 20ms;
    options.batch = batch;
    options.first_batch = first_batch;
    options.on_released = [this](std::vector<store::ReleasedDelivery> batch) {
      std::lock_guard lock(mutex_);
      batch_sizes_.push_back(batch.size());
      for (auto& d : batch)
        released_.push_back(d.ref.event_id + "/" + d.ref.recipient);
    };
    scheduler_ = std::make_unique<Scheduler>(ioc_, *queue_, *store_, clock_, options);
    scheduler_->start();
    io_thread_ = std::thread([this] { ioc_.run(); });
  }

  std::vector<std::string> released() {
    std::lock_guard lock(mutex_);
    return released_;
  }

  // Waits up to `limit` (real time) for `n` releases.
  bool wait_for(std::size_t n, std::chrono::milliseconds limit = 2000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (released().size() >= n)
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return released().size() >= n;
  }

  test::TempDir dir_{"treve-sched"};
  FakeClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::CommitQueue> queue_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(ioc_);
  std::thread io_thread_;
  std::unique_ptr<Scheduler> scheduler_;
  std::mutex mutex_;
  std::vector<std::string> released_;
  std::vector<std::size_t> batch_sizes_;  // of each released transaction, in order
};

TEST_F(SchedulerTest, ReleasesNothingBeforeTheInstantAndEverythingRightAfter) {
  accept({held_event("a", at("2026-11-30T07:00:00+01:00"), 2)});
  start();
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(released().empty());
  clock_.set_wall(at("2026-11-30T07:00:00+01:00"));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_for(2));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms) << "release must start within 100 ms";
  auto stats = store_->stats();
  EXPECT_EQ(stats->held, 0u);
  EXPECT_EQ(stats->due, 2u);
}

TEST_F(SchedulerTest, ReleasesInReleaseThenReceiptOrderAcrossBatches) {
  accept({held_event("late", at("2026-11-30T07:00:01+01:00")),
          held_event("first", at("2026-11-30T07:00:00+01:00"), 2),
          held_event("second", at("2026-11-30T07:00:00+01:00"))});
  clock_.set_wall(at("2026-11-30T08:00:00+01:00"));  // the daemon was down at 07:00
  start();
  ASSERT_TRUE(wait_for(4));
  EXPECT_THAT(released(), ::testing::ElementsAre("first/r0", "first/r1", "second/r0", "late/r0"));
}

TEST_F(SchedulerTest, AReleaseStartsWithASmallTransactionAndDoublesUpToTheBatch) {
  std::vector<store::NewEvent> events;
  for (int i = 0; i < 5; ++i)
    events.push_back(held_event("e" + std::to_string(i), at("2026-11-30T07:00:00+01:00"), 5));
  accept(std::move(events));
  clock_.set_wall(at("2026-11-30T07:00:00+01:00"));
  start(/*batch=*/8, /*first_batch=*/2);
  ASSERT_TRUE(wait_for(25));
  {
    std::lock_guard lock(mutex_);
    // The first deliveries go after a transaction of 2, not of a whole batch; then 4, 8, 8, 3.
    EXPECT_THAT(batch_sizes_, ::testing::ElementsAre(2u, 4u, 8u, 8u, 3u));
    EXPECT_EQ(released_.front(), "e0/r0");
    EXPECT_EQ(released_.back(), "e4/r4");
  }
  // The next release starts small again.
  accept({held_event("f0", at("2026-11-30T07:00:05+01:00"), 3),
          held_event("f1", at("2026-11-30T07:00:05+01:00"), 3)});
  clock_.set_wall(at("2026-11-30T07:00:05+01:00"));
  ASSERT_TRUE(wait_for(31));
  std::lock_guard lock(mutex_);
  EXPECT_THAT(batch_sizes_, ::testing::ElementsAre(2u, 4u, 8u, 8u, 3u, 2u, 4u));
}

TEST_F(SchedulerTest, AWallClockStepBackwardsReleasesNothingEarly) {
  accept({held_event("a", at("2026-11-30T07:00:00+01:00"))});
  start();
  clock_.set_wall(at("2026-11-30T05:00:00+01:00"));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(released().empty());
  // A step forward past the instant (resume from suspend) is noticed within max_sleep.
  clock_.set_wall(at("2026-11-30T09:00:00+01:00"));
  ASSERT_TRUE(wait_for(1));
}

// The clock steps an hour forward then an hour back while deliveries are held on either side
// of the forward step: what became due goes, nothing else, and after the step back nothing
// more goes until its own instant; nothing is lost.
TEST_F(SchedulerTest, AnHourForwardThenBackReleasesOnlyWhatIsDueAndLosesNothing) {
  accept({held_event("early", at("2026-11-30T07:30:00+01:00"), 2),
          held_event("late", at("2026-11-30T08:30:00+01:00"), 2)});
  start();
  clock_.set_wall(at("2026-11-30T07:59:58+01:00"));  // an hour forward
  ASSERT_TRUE(wait_for(2));
  clock_.set_wall(at("2026-11-30T06:59:58+01:00"));  // and back
  std::this_thread::sleep_for(150ms);
  EXPECT_THAT(released(), ::testing::UnorderedElementsAre("early/r0", "early/r1"));
  clock_.set_wall(at("2026-11-30T08:30:00+01:00"));
  ASSERT_TRUE(wait_for(4));
  std::this_thread::sleep_for(50ms);
  EXPECT_THAT(released(),
              ::testing::UnorderedElementsAre("early/r0", "early/r1", "late/r0", "late/r1"));
}

// The autumn night: deliveries held until 07:00 on the Sunday the clocks go back (06:00 UTC,
// 07:00 wall time after the change) go at that instant, not an hour early at the first 02:00.
TEST_F(SchedulerTest, OnTheNightTheClocksGoBackReleasesAtTheWallClockEnd) {
  accept({held_event("dst", at("2026-10-25T07:00:00+01:00"))});
  clock_.set_wall(at("2026-10-25T02:30:00+02:00"));  // the first 02:30
  start();
  clock_.set_wall(at("2026-10-25T02:30:00+01:00"));  // the second
  std::this_thread::sleep_for(100ms);
  clock_.set_wall(at("2026-10-25T06:59:59+01:00"));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(released().empty());
  clock_.set_wall(at("2026-10-25T07:00:00+01:00"));
  ASSERT_TRUE(wait_for(1));
}

TEST_F(SchedulerTest, WakesEarlierForAHeldDeliveryAcceptedAfterItArmed) {
  start();
  std::this_thread::sleep_for(50ms);
  accept({held_event("soon", at("2026-11-30T06:59:59+01:00"))});
  scheduler_->held_until(at("2026-11-30T06:59:59+01:00"));
  clock_.set_wall(at("2026-11-30T06:59:59+01:00"));
  ASSERT_TRUE(wait_for(1));
  EXPECT_THAT(released(), ::testing::ElementsAre("soon/r0"));
}

}  // namespace
}  // namespace treve::runtime
