// I/O faults injected into the running daemon (the unit-level twin is
// tests/daemon/store_faults_test.cpp): the real `treve serve`, its SQLite files opened through
// the fault VFS that tests/support/fault_preload.cpp makes the default when it is preloaded.
// For an ingest, a batch, an admin's policy save and a reload, N goes over every read, write and
// sync the operation makes (for an urgent event, its ingest and its delivery): the N-th fails,
// then
//  - the answer is the success, or a problem+json 500/503 (a reload is applied or rejected);
//  - the daemon is still running and takes the next event (202);
// and, once every N has been tried, the daemon is killed with SIGKILL and started again without
// faults: every event it acknowledged is there, every one it refused is not, and
// `treve audit verify` passes. A full disk is tried the same way.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::AnyOf;
using ::testing::Eq;

// Arms the preloaded fault VFS of a daemon by replacing its control file whole.
class FaultControl {
 public:
  explicit FaultControl(const TempDir& dir) : path_(dir.file("faults")), dir_(dir) { set("off"); }
  const std::string& path() const { return path_; }
  void fail_at(unsigned long n) { set("fail " + std::to_string(n) + " rws"); }
  void full() { set("full"); }
  void off() { set("off"); }
  // Whether the armed call failed since the last call; forgets it.
  bool fired() {
    const std::string marker = path_ + ".fired";
    const bool was = std::filesystem::exists(marker);
    std::filesystem::remove(marker);
    return was;
  }

 private:
  void set(const std::string& text) {
    const std::string next = dir_.write("faults.next", text + "\n");
    std::filesystem::rename(next, path_);
  }
  std::string path_;
  const TempDir& dir_;
};

// The environment that loads the fault VFS into the daemon.
std::vector<std::pair<std::string, std::string>> fault_env(const FaultControl& control) {
  std::vector<std::pair<std::string, std::string>> env{{"LD_PRELOAD", TREVE_FAULT_PRELOAD},
                                                       {"TREVE_FAULT_CONTROL", control.path()}};
#if defined(__SANITIZE_ADDRESS__)
  // The preloaded library comes before AddressSanitizer's runtime in the list of libraries.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.emplace_back("ASAN_OPTIONS", std::string(asan && *asan ? std::string(asan) + ":" : "") +
                                       "verify_asan_link_order=0");
#endif
  return env;
}

// What one faulted operation did: whether it reported success, and the events it had
// acknowledged (or, failing, had refused).
struct Outcome {
  bool ok = false;
  std::vector<std::string> events;
};

struct Operation {
  std::string name;
  std::function<Outcome(Daemon&, unsigned long n)> run;
  bool urgent = false;  // its events are sent at once (to the receiver)
};

// Waits until the receiver has got the event `id` (a request's body names it); whether it has.
bool wait_received(const WebhookReceiver& receiver, const std::string& id,
                   std::chrono::milliseconds timeout) {
  return receiver.wait_until(
      [&id](const std::vector<WebhookRequest>& all) {
        return std::any_of(all.begin(), all.end(), [&id](const WebhookRequest& r) {
          return r.body.find("\"" + id + "\"") != std::string::npos;
        });
      },
      timeout);
}

bool refused_cleanly(const HttpResponse& r) {
  return (r.status == 500 || r.status == 503) &&
         r.header("Content-Type").value_or("") == "application/problem+json";
}

std::vector<Operation> operations(const WebhookReceiver& receiver) {
  std::vector<Operation> out;
  // An urgent event, sent at once: the ingest's writes, then the dispatcher's (its claim and its
  // outcome) happen while the fault is armed.
  out.push_back({"urgent delivery",
                 [&receiver](Daemon& d, unsigned long n) {
                   EventSpec spec;
                   spec.id = "urgent-" + std::to_string(n);
                   spec.category = "alert";
                   spec.urgent = true;
                   HttpClient client(d.port());
                   const auto r = client.post_event(event_body(spec), kAlertToken);
                   EXPECT_TRUE(r.status == 202 || refused_cleanly(r)) << r;
                   if (r.status == 202) {
                     wait_received(receiver, spec.id, 2s);
                     std::this_thread::sleep_for(50ms);  // the outcome's write
                   }
                   return Outcome{r.status == 202, {spec.id}};
                 },
                 true});
  out.push_back({"ingest", [](Daemon& d, unsigned long n) {
                   const std::string id = "single-" + std::to_string(n);
                   HttpClient client(d.port());
                   const auto r = client.post_event(simple_event(id, 2));
                   EXPECT_TRUE(r.status == 202 || refused_cleanly(r)) << r;
                   return Outcome{r.status == 202, {id}};
                 }});
  out.push_back({"batch", [](Daemon& d, unsigned long n) {
                   std::string body;
                   std::vector<std::string> ids;
                   for (int i = 0; i < 3; ++i) {
                     ids.push_back("batch-" + std::to_string(n) + "-" + std::to_string(i));
                     body += simple_event(ids.back()) + "\n";
                   }
                   HttpClient client(d.port());
                   const auto r = client.post_batch(body);
                   // One transaction: every event acknowledged (each line 202), or none.
                   EXPECT_TRUE(r.status == 200 || refused_cleanly(r)) << r;
                   const bool all =
                       r.status == 200 && r.body.find("\"status\":5") == std::string::npos;
                   return Outcome{all, ids};
                 }});
  out.push_back(
      {"admin save", [](Daemon& d, unsigned long n) {
         // Quiet but for the daemon's open minute (so nothing is released), a little
         // different each time so that each save is a new version.
         char start[8], end[8];
         std::snprintf(start, sizeof start, "%02d:%02lu", d.gap_hour(), 1 + n % 50);
         std::snprintf(end, sizeof end, "%02d:00", d.gap_hour());
         const std::string body =
             std::string(R"({"policy":{"quiet":[{"days":["mon","tue","wed","thu","fri",)"
                         R"("sat","sun"],"start":")") +
             start + R"(","end":")" + end + R"("}]},"comment":"essai )" + std::to_string(n) +
             R"(","confirm_weaker":true})";
         HttpClient client(d.admin_port());
         const auto r = client.request(
             bhttp::verb::put, "/v1/admin/establishments/" + kUai + "/policy", body,
             {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kRectoratToken}});
         EXPECT_TRUE(r.status == 200 || refused_cleanly(r)) << r;
         return Outcome{r.status == 200, {}};
       }});
  out.push_back({"reload", [](Daemon& d, unsigned long n) {
                   const auto applied = d.log_count("event=config.reloaded");
                   const auto before = applied + d.log_count("event=config.reload_rejected");
                   // A new comment in the file: a new digest, so the reload writes a record.
                   d.rewrite_config([n](DaemonOptions& o) {
                     o.extra_config += "\n# reload " + std::to_string(n) + "\n";
                   });
                   ::kill(d.pid(), SIGHUP);
                   const auto deadline = std::chrono::steady_clock::now() + 10s;
                   while (d.log_count("event=config.reloaded") +
                              d.log_count("event=config.reload_rejected") ==
                          before) {
                     if (std::chrono::steady_clock::now() > deadline) {
                       ADD_FAILURE() << "the reload neither applied nor rejected";
                       break;
                     }
                     std::this_thread::sleep_for(5ms);
                   }
                   return Outcome{d.log_count("event=config.reloaded") > applied, {}};
                 }});
  return out;
}

// The daemon still answers and stores: the next event is acknowledged.
void expect_serving(Daemon& daemon, const std::string& id, std::set<std::string>& acknowledged) {
  ASSERT_TRUE(daemon.running()) << daemon.stderr_log();
  HttpClient client(daemon.port());
  const auto r = client.post_event(simple_event(id));
  EXPECT_EQ(r.status, 202) << r << "\n" << daemon.stderr_log().substr(0, 20'000);
  if (r.status == 202)
    acknowledged.insert(id);
}

// After SIGKILL and a start without faults: what was acknowledged is there, what was refused
// is not, every urgent event acknowledged reaches the receiver (again, with the same webhook
// id, if its outcome could not be recorded), and the trail verifies.
void expect_intact(Daemon& daemon, FaultControl& control, const std::set<std::string>& acknowledged,
                   const std::set<std::string>& refused, const WebhookReceiver& receiver) {
  control.off();
  daemon.kill();
  daemon.start();
  for (const auto& id : acknowledged) {
    if (!id.starts_with("urgent-"))
      continue;
    EXPECT_TRUE(wait_received(receiver, id, 30s)) << id << " was acknowledged and never sent";
  }
  std::map<std::string, std::string> webhook_id_of;  // event id -> webhook id
  for (const auto& r : receiver.requests()) {
    const auto at = r.body.find("\"urgent-");
    if (at == std::string::npos)
      continue;
    const std::string id = r.body.substr(at + 1, r.body.find('"', at + 1) - at - 1);
    const auto [known, first] = webhook_id_of.emplace(id, r.webhook_id);
    EXPECT_TRUE(first || known->second == r.webhook_id) << id << " sent again under another id";
  }
  for (const auto& id : refused)
    EXPECT_EQ(webhook_id_of.count(id), 0u) << id << " was refused and sent";
  Db db(daemon.db_path());
  for (const auto& id : acknowledged)
    EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE event_id = ?", {id}), 1) << id;
  for (const auto& id : refused)
    EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE event_id = ?", {id}), 0) << id;
  const auto verify = run_treve({"audit", "verify", "--state-dir", daemon.state_dir()});
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
}

class DaemonFaults : public ::testing::Test {
 protected:
  DaemonOptions options() {
    DaemonOptions o = with_rectorat_admin();
    o.env = fault_env(control_);
    o.extra_config += "\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\nurl = \"" +
                      receiver_.url() + "\"\nsecret_file = \"" +
                      dir_.write("hook.secret", make_webhook_secret() + "\n") +
                      "\"\ndefault = true\nretry_initial = \"100ms\"\n";
    return o;
  }
  TempDir dir_{"treve-daemon-faults"};
  FaultControl control_{dir_};
  WebhookReceiver receiver_;
};

TEST_F(DaemonFaults, EveryFailedReadWriteOrSyncIsAnsweredCleanlyAndLosesNothing) {
  Daemon daemon(options());
  daemon.start();
  std::set<std::string> acknowledged, refused;
  for (const Operation& op : operations(receiver_)) {
    unsigned long n = 1;
    int failed = 0;
    for (;; ++n) {
      SCOPED_TRACE(op.name + ", I/O call " + std::to_string(n));
      control_.fired();
      control_.fail_at(n);
      const Outcome outcome = op.run(daemon, n);
      control_.off();
      const bool fired = control_.fired();
      if (!outcome.ok)
        ++failed;
      for (const auto& id : outcome.events)
        (outcome.ok ? acknowledged : refused).insert(id);
      expect_serving(daemon, op.name + "-after-" + std::to_string(n), acknowledged);
      if (::testing::Test::HasFatalFailure())
        return;
      if (!fired)
        break;  // past the operation's last I/O call: it ran untouched
      ASSERT_LT(n, 400u) << "more I/O calls than expected";
    }
    EXPECT_GT(n, 1u) << op.name << " made no I/O call through the VFS";
    EXPECT_GT(failed, 0) << op.name << ": no injected fault made it fail";
    std::printf("[ faults  ] %s: %lu I/O calls, %d failed cleanly\n", op.name.c_str(), n - 1,
                failed);
  }
  expect_intact(daemon, control_, acknowledged, refused, receiver_);
}

TEST_F(DaemonFaults, AFullDiskIsRefusedCleanlyAndServedOnceThereIsRoom) {
  Daemon daemon(options());
  daemon.start();
  std::set<std::string> acknowledged, refused;
  unsigned long n = 0;
  for (const Operation& op : operations(receiver_)) {
    SCOPED_TRACE(op.name);
    control_.full();
    const Outcome outcome = op.run(daemon, ++n);
    control_.off();
    EXPECT_FALSE(outcome.ok) << "every operation here writes";
    for (const auto& id : outcome.events)
      (outcome.ok ? acknowledged : refused).insert(id);
    expect_serving(daemon, op.name + "-after-full", acknowledged);
  }
  expect_intact(daemon, control_, acknowledged, refused, receiver_);
}

}  // namespace
}  // namespace treve::itest
