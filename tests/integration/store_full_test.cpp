// When the store cannot take an event (database at its size cap, disk full), the answer is 503
// store-unavailable with Retry-After — never a 2xx for something not stored — the daemon keeps
// serving, everything acknowledged before is intact, the audit chain stays verifiable, and once
// space is back the next request is served. /healthz says 503 from a write that failed for lack
// of space until a write succeeds again.
//
// The size cap is the test hook `[testing] max_page_count` of a build with TREVE_TESTING
// (docs/development.md); the tmpfs test fills a real file system.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

// The database is created with 4096-byte pages; 100 pages hold about 190 events of 1-3
// recipients (80 pages: about 230 one-recipient events).
constexpr int kMaxPages = 100;

// The configuration's test hook that caps the database at `pages` pages.
std::string page_cap(int pages) {
  return "\n[testing]\nmax_page_count = " + std::to_string(pages) + "\n";
}

struct Filled {
  std::map<std::string, int> acked;  // id -> recipients
  HttpResponse refusal;              // the first answer that was not a 202
  std::string refused_id;
};

// Posts events (1-3 recipients) until one is not accepted, at most `limit`.
Filled fill(HttpClient& client, const std::string& prefix, int limit) {
  Filled f;
  for (int i = 0; i < limit; ++i) {
    const std::string id = prefix + std::to_string(i);
    const int n = 1 + i % 3;
    auto r = client.post_event(simple_event(id, n));
    if (r.status != 202) {
      f.refusal = r;
      f.refused_id = id;
      return f;
    }
    f.acked[id] = n;
  }
  return f;
}

void expect_store_unavailable(const HttpResponse& r) {
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
  ASSERT_NO_THROW(r.object()) << r;
  EXPECT_EQ(r.object().at("type"), "urn:treve:problem:store-unavailable") << r;
  EXPECT_EQ(r.object().at("status").to_number<int>(), 503);
  EXPECT_TRUE(r.header("Retry-After").has_value()) << "no Retry-After on " << r;
}

// Every acknowledged event is stored whole (deliveries and audit records), nothing else is, and
// the audit chain verifies.
void expect_intact(const Daemon& daemon, const std::map<std::string, int>& acked,
                   const std::vector<std::string>& refused) {
  Db db(daemon.db_path());
  std::map<std::string, int> stored;
  for (auto& row : db.query("SELECT e.event_id, (SELECT count(*) FROM deliveries d WHERE "
                            "d.event = e.id) FROM events e")) {
    stored[*row[0]] = std::stoi(*row[1]);
  }
  EXPECT_EQ(stored, acked);
  for (const auto& id : refused) {
    EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE event_id = ?", {id}), 0) << id;
  }
  auto rows = read_audit(db);
  EXPECT_EQ(verify_chain(rows), "");
  std::size_t deliveries = 0;
  for (const auto& [id, n] : acked)
    deliveries += static_cast<std::size_t>(n);
  // Retractions and the configuration record (written at the first start) are not about
  // one delivery.
  const auto retractions = std::count_if(rows.begin(), rows.end(), [](const AuditRow& r) {
    return r.kind == "retracted" || r.kind == "config_changed";
  });
  EXPECT_EQ(rows.size() - static_cast<std::size_t>(retractions), acked.size() + deliveries);
}

TEST(StoreFull, AtThePageCapTheAnswerIs503AndEverythingAcknowledgedIsIntact) {
  if (!TREVE_TESTING)
    GTEST_SKIP() << "a build without TREVE_TESTING has no [testing] max_page_count";
  DaemonOptions options;
  options.extra_config = page_cap(kMaxPages);
  Daemon daemon(options);
  daemon.start();
  HttpClient client(daemon.port());

  Filled f = fill(client, "full-", 5000);
  std::printf("page cap %d: %zu events accepted before the first refusal\n", kMaxPages,
              f.acked.size());
  ASSERT_GE(f.acked.size(), 100u) << "the cap is too low for the test to mean anything";
  expect_store_unavailable(f.refusal);
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=ingest.store_unavailable"));

  // Still up: reads, and a refusal of the same event again (nothing half-stored); health says
  // that writes fail.
  expect_store_unavailable(client.healthz());
  auto first = client.get_event(f.acked.begin()->first);
  EXPECT_EQ(first.status, 200) << first;
  EXPECT_EQ(client.get_event(f.refused_id).status, 404);
  expect_store_unavailable(client.post_event(simple_event(f.refused_id, 3)));
  // A repeat of an event already stored needs no space: replayed as before.
  const std::string stored_id = f.acked.begin()->first;
  auto replay = client.post_event(simple_event(stored_id, f.acked.begin()->second));
  EXPECT_EQ(replay.status, 202) << replay;
  EXPECT_EQ(replay.header("Idempotent-Replayed").value_or(""), "true");
  expect_store_unavailable(client.healthz());  // a replay writes nothing
  // A batch is refused as a whole.
  expect_store_unavailable(
      client.post_batch(simple_event("batch-a", 3) + "\n" + simple_event("batch-b", 3) + "\n"));

  std::vector<std::string> refused{f.refused_id, "batch-a", "batch-b"};
  expect_intact(daemon, f.acked, refused);

  // A retraction needs room for its audit records: it is done whole or refused whole.
  const std::string retract_id = std::prev(f.acked.end())->first;
  auto del = client.delete_event(retract_id);
  std::printf("DELETE at the page cap: HTTP %d\n", del.status);
  auto after = client.get_event(retract_id);
  ASSERT_EQ(after.status, 200) << after;
  const std::string expected_state = del.status == 200 ? "retracted" : "held";
  if (del.status != 200)
    expect_store_unavailable(del);
  EXPECT_EQ(client.healthz().status, del.status == 200 ? 200 : 503);
  const auto after_object = after.object();
  for (const auto& d : after_object.at("deliveries").as_array())
    EXPECT_EQ(json::value_to<std::string>(d.at("state")), expected_state) << after;
  {
    Db db(daemon.db_path());
    EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'retracted'"),
              del.status == 200 ? f.acked[retract_id] : 0);
    EXPECT_EQ(verify_chain(read_audit(db)), "");
  }

  // Smaller writes may still fit in what is left; whatever is acknowledged is whole and the chain
  // goes on from the records that were really written (the failed ones left no trace in it).
  for (int i = 0; i < 50; ++i) {
    const std::string id = "tiny-" + std::to_string(i);
    EventSpec spec;
    spec.id = id;
    spec.recipients = {{"t" + std::to_string(i), "staff", ""}};
    spec.title = "";
    spec.payload = nullptr;
    auto r = client.post_event(event_body(spec));
    if (r.status == 202) {
      f.acked[id] = 1;
    } else {
      expect_store_unavailable(r);
      refused.push_back(id);
    }
    EXPECT_EQ(client.healthz().status, r.status == 202 ? 200 : 503) << id;
  }
  expect_intact(daemon, f.acked, refused);

  // A full database does not keep the daemon from starting again (held events must still be
  // served and released).
  client.close();
  EXPECT_EQ(daemon.stop(), 0) << daemon.stderr_log();
  daemon.start();
  HttpClient again(daemon.port());
  EXPECT_EQ(again.healthz().status, 200);  // no write has failed since the start
  EXPECT_EQ(again.get_event(stored_id).status, 200);
  expect_store_unavailable(again.post_event(simple_event("after-restart", 3)));
  expect_store_unavailable(again.healthz());
  expect_intact(daemon, f.acked, refused);
  EXPECT_EQ(daemon.stop(), 0);
}

// The page cap once came from the environment variable TREVE_TEST_MAX_PAGE_COUNT, which any
// installed binary obeyed; the binary no longer reads it.
TEST(StoreFull, TheEnvironmentVariableOfOldNoLongerCapsTheStore) {
  DaemonOptions options;
  options.env = {{"TREVE_TEST_MAX_PAGE_COUNT", "20"}};
  Daemon daemon(options);
  daemon.start();
  HttpClient client(daemon.port());
  // 20 pages hold about 40 events of 1-3 recipients.
  Filled f = fill(client, "env-", 200);
  EXPECT_EQ(f.acked.size(), 200u) << f.refusal;
  EXPECT_EQ(client.healthz().status, 200);
  EXPECT_EQ(daemon.stop(), 0);
}

// The same on a real, small file system: a 1 MiB tmpfs, filled up by the daemon's own writes
// next to a filler file; deleting the filler makes room and the next POST succeeds.
class StoreOnTmpfs : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_point_ = dir_.path() / "mnt";
    fs::create_directories(mount_point_);
    if (::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno) << "); needs CAP_SYS_ADMIN";
    }
    mounted_ = true;
  }
  void TearDown() override {
    daemon_.reset();  // before the file system goes away
    if (mounted_ && ::umount2(mount_point_.c_str(), MNT_DETACH) != 0)
      ADD_FAILURE() << "umount " << mount_point_ << ": " << std::strerror(errno);
  }

  std::uint64_t free_bytes() const {
    struct statvfs s {};
    ::statvfs(mount_point_.c_str(), &s);
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  }

  TempDir dir_{"treve-it-tmpfs"};
  fs::path mount_point_;
  bool mounted_ = false;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(StoreOnTmpfs, DiskFullIs503AndTheNextRequestIsServedOnceSpaceIsBack) {
  DaemonOptions options;
  options.state_dir = (mount_point_ / "state").string();
  daemon_ = std::make_unique<Daemon>(options);
  daemon_->start();
  HttpClient client(daemon_->port());
  ASSERT_EQ(client.post_event(simple_event("first", 2)).status, 202);

  // Leave about 384 KiB for the daemon.
  const fs::path filler = mount_point_ / "filler";
  {
    const std::uint64_t keep = 384 * 1024;
    const std::uint64_t size = free_bytes() > keep ? free_bytes() - keep : 0;
    std::ofstream out(filler, std::ios::binary);
    std::string block(4096, 'f');
    for (std::uint64_t written = 0; written < size; written += block.size())
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }

  Filled f = fill(client, "disk-", 5000);
  f.acked["first"] = 2;
  std::printf("tmpfs: %zu events accepted before the disk was full\n", f.acked.size());
  expect_store_unavailable(f.refusal);
  expect_store_unavailable(client.healthz());
  EXPECT_EQ(client.get_event("first").status, 200);
  expect_intact(*daemon_, f.acked, {f.refused_id});

  // Space is back: the next request is served, and the chain goes on.
  fs::remove(filler);
  auto r = client.post_event(simple_event(f.refused_id, 3));
  EXPECT_EQ(r.status, 202) << r << "\n" << daemon_->stderr_log().substr(0, 4000);
  if (r.status == 202)
    f.acked[f.refused_id] = 3;
  EXPECT_EQ(client.get_event(f.refused_id).status, r.status == 202 ? 200 : 404);
  EXPECT_EQ(client.healthz().status, r.status == 202 ? 200 : 503);
  for (int i = 0; i < 5; ++i) {
    const std::string id = "space-back-" + std::to_string(i);
    auto again = client.post_event(simple_event(id, 1));
    EXPECT_EQ(again.status, 202) << again;
    if (again.status == 202)
      f.acked[id] = 1;
  }
  expect_intact(*daemon_, f.acked, {});
  client.close();
  EXPECT_EQ(daemon_->stop(), 0);
  daemon_->start();
  expect_intact(*daemon_, f.acked, {});
  EXPECT_EQ(daemon_->stop(), 0);
}

}  // namespace
}  // namespace treve::itest
