// The daily purge as the daemon runs it: at start, then every interval, through the store's
// writer, on a real store; the wall clock is a FakeClock so that a year passes at once.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/core/clock.h"
#include "daemon/core/digest.h"
#include "daemon/runtime/retention.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"

namespace treve::runtime {
namespace {

using core::FakeClock;

using store::testing::at;
using store::testing::TempDir;

store::NewEvent held_event(const std::string& id, policy::Instant received) {
  store::NewEvent e;
  e.source = "ent";
  e.id = id;
  e.establishment = "0750654D";
  e.category = policy::Category::homework;
  e.received_at = received;
  e.zone = date::locate_zone("Europe/Paris");
  e.body = "{}";
  e.body_sha256 = core::sha256_hex(id);
  e.response = "{}";
  store::NewDelivery d;
  d.recipient = "eleve-1";
  d.release_at = received + std::chrono::hours{10};
  d.reason = "test";
  e.deliveries.push_back(d);
  return e;
}

TEST(Retention, PurgesAtStartThenEveryIntervalWithTheClocksCutoff) {
  TempDir dir;
  auto opened = store::SqliteStore::open(test::store_options(dir.db(), 1));
  ASSERT_TRUE(opened);
  auto& s = **opened;
  const policy::Instant t0 = at("2026-01-05T21:00:00+01:00");
  const policy::Instant t1 = t0 + std::chrono::days{200};
  for (auto [id, when] : {std::pair{"a", t0}, {"b", t0}, {"c", t1}, {"d", t1}}) {
    std::vector<store::NewEvent> v{held_event(id, when)};
    ASSERT_TRUE(s.accept(v, when));  // 2 records each: received, held
  }

  FakeClock clock(t0 + std::chrono::days{366});
  store::CommitQueue queue(s, clock);
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::thread runner([&] { ioc.run(); });

  std::mutex m;
  std::condition_variable cv;
  std::vector<store::PurgeResult> purges;
  Retention::Options options;
  options.interval = std::chrono::milliseconds{200};
  options.on_purged = [&](const store::PurgeResult& r) {
    std::lock_guard lock(m);
    purges.push_back(r);
    if (purges.size() == 1)
      clock.set_wall(t1 + std::chrono::days{366});  // a year after the second pair
    cv.notify_all();
  };
  {
    Retention retention(ioc, queue, clock, options);
    retention.start();
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds{10}, [&] { return purges.size() >= 2; }));
    retention.stop();
  }
  work.reset();
  runner.join();
  queue.stop();

  EXPECT_EQ(purges[0].audit_records, 4);  // a and b
  EXPECT_EQ(purges[0].purged_through, 4);
  EXPECT_EQ(purges[1].audit_records, 4);  // c and d; the first checkpoint is more recent
  EXPECT_EQ(purges[1].purged_through, 8);
  auto trail = audit::Trail::open(dir.db());
  ASSERT_TRUE(trail);
  auto report = audit::verify(**trail, {});
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->problem) << report->problem->message;
  EXPECT_EQ(report->first_seq, 9);  // the first checkpoint
}

}  // namespace
}  // namespace treve::runtime
