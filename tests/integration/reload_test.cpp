// Reloading the configuration of a running daemon (SIGHUP, `treve reload`) while a connector
// keeps posting: a valid change is put in force and re-plans what is held; an invalid file is
// refused with its errors in the log, and the daemon goes on with the configuration it had.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

// Posts events one after another on its own connection until stopped; counts the answers.
class Poster {
 public:
  Poster(std::uint16_t port, std::string prefix)
      : thread_([this, port, prefix = std::move(prefix)] {
          HttpClient client(port);
          for (int i = 0; !stop_; ++i) {
            auto r = client.post_event(simple_event(prefix + std::to_string(i)));
            std::lock_guard lock(mutex_);
            statuses_[r.status]++;
          }
        }) {}
  ~Poster() { finish(); }

  std::map<int, int> finish() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    std::lock_guard lock(mutex_);
    return statuses_;
  }
  int count() {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& [status, k] : statuses_)
      n += k;
    return n;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::map<int, int> statuses_;
  std::thread thread_;
};

std::string hour(int h) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:00", ((h % 24) + 24) % 24);
  return buf;
}

// A window six hours from now: the current instant is open under it.
void open_now(DaemonOptions& o) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  o.quiet_start = hour(utc.tm_hour + 6);
  o.quiet_end = hour(utc.tm_hour + 7);
}

std::int64_t count(Db& db, const std::string& sql) {
  auto rows = db.query(sql);
  return rows.empty() || !rows[0][0] ? -1 : std::stoll(*rows[0][0]);
}

void wait_for_posts(Poster& poster, int n) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (poster.count() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
}

TEST(Reload, AValidChangeIsPutInForceAndReplansHeldDeliveriesWhilePosting) {
  Daemon daemon;
  daemon.start();
  HttpClient client(daemon.port());
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(client.post_event(simple_event("before-" + std::to_string(i), 2)).status, 202);
  {
    Db db(daemon.db_path());
    ASSERT_EQ(count(db, "SELECT count(*) FROM deliveries WHERE state = 'held'"), 40);
  }

  Poster poster(daemon.port(), "during-");
  wait_for_posts(poster, 50);
  daemon.rewrite_config(open_now);
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  const int at_reload = poster.count();
  wait_for_posts(poster, at_reload + 50);
  auto statuses = poster.finish();
  EXPECT_EQ(statuses.size(), 1u) << "every POST during the reload answered 202";
  EXPECT_GT(statuses[202], 100);

  const std::string log = daemon.stderr_log();
  EXPECT_THAT(log, HasSubstr("event=config.changed"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("restart_needed")));
  // Held under the old policy, released under the new: nothing stays held but what was
  // accepted before the new configuration was in force (re-planned too).
  Db db(daemon.db_path());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (count(db, "SELECT count(*) FROM deliveries WHERE state = 'held'") != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM deliveries WHERE state = 'held'"), 0);
  EXPECT_GE(count(db, "SELECT count(*) FROM audit WHERE kind = 'replanned'"), 40);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM audit WHERE kind = 'config_changed' "
                  "AND detail LIKE '%\"on\":\"reload\"%'"),
            1);
  // After the reload, events are decided under the new policy: not held.
  auto after = client.post_event(simple_event("after"));
  ASSERT_EQ(after.status, 202);
  EXPECT_THAT(after.body, HasSubstr("\"held\":false"));
  EXPECT_EQ(daemon.stop(), 0);
  Db after_stop(daemon.db_path());
  EXPECT_EQ(verify_chain(read_audit(after_stop)), "");
}

TEST(Reload, AnInvalidFileIsRefusedWithItsErrorsAndTheDaemonKeepsServing) {
  Daemon daemon;
  daemon.start();
  HttpClient client(daemon.port());
  ASSERT_EQ(client.post_event(simple_event("before")).status, 202);

  Poster poster(daemon.port(), "during-");
  wait_for_posts(poster, 20);
  daemon.rewrite_config([](DaemonOptions& o) {
    o.quiet_start = "25:00";
    o.extra_config = "[[sinks]]\nname = \"push\"\n";
  });
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reload_rejected", 10s)) << daemon.stderr_log();
  const int at_reload = poster.count();
  wait_for_posts(poster, at_reload + 20);
  auto statuses = poster.finish();
  EXPECT_EQ(statuses.size(), 1u);
  EXPECT_GT(statuses[202], 30);

  // Every error, each with the file, line and key.
  const std::string log = daemon.stderr_log();
  EXPECT_THAT(log, HasSubstr("treve.toml:"));
  EXPECT_THAT(log, HasSubstr("policy.quiet[0].start"));
  EXPECT_THAT(log, HasSubstr("sinks[0]"));
  EXPECT_THAT(log, HasSubstr("the configuration in force is kept"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("event=config.reloaded")));
  // Still the old policy: held.
  auto after = client.post_event(simple_event("after"));
  ASSERT_EQ(after.status, 202);
  EXPECT_THAT(after.body, HasSubstr("\"held\":true"));
  Db db(daemon.db_path());
  EXPECT_EQ(count(db, "SELECT count(*) FROM audit WHERE kind = 'replanned'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM audit WHERE kind = 'config_changed'"), 1);

  // Corrected, it is applied.
  daemon.rewrite_config([](DaemonOptions& o) {
    open_now(o);
    o.extra_config.clear();
  });
  auto r = run_treve({"reload", "--config", daemon.config_path()});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("reload requested from process " + std::to_string(daemon.pid())));
  ASSERT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  EXPECT_THAT(client.post_event(simple_event("fixed")).body, HasSubstr("\"held\":false"));
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(Reload, TheReloadCommandRefusesAnInvalidFileWithoutSignalling) {
  Daemon daemon;
  daemon.start();
  daemon.rewrite_config([](DaemonOptions& o) { o.quiet_end = "7h"; });
  auto r = run_treve({"reload", "--config", daemon.config_path()});
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("policy.quiet[0].end"));
  EXPECT_THAT(r.err, HasSubstr("not reloaded"));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(daemon.log_count("event=config.reloading"), 0u);
  EXPECT_EQ(daemon.stop(), 0);

  // With no daemon running, it says so.
  daemon.rewrite_config([](DaemonOptions& o) { o.quiet_end.clear(); });
  auto none = run_treve({"reload", "--config", daemon.config_path()});
  EXPECT_EQ(none.status, 1) << none;
  EXPECT_THAT(none.err, HasSubstr("no running daemon found"));
}

TEST(Reload, SettingsBoundAtStartWaitForARestartAndSaySo) {
  Daemon daemon;
  daemon.start();
  daemon.rewrite_config(
      [](DaemonOptions& o) { o.extra_config = "[audit]\nretention = \"200d\"\n"; });
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=config.restart_needed key=audit.retention"));
  EXPECT_EQ(HttpClient(daemon.port()).healthz().status, 200);
  EXPECT_EQ(daemon.stop(), 0);
}

// A new secret in a sink's secret_file, with treve.toml unchanged, is a change of configuration:
// a reload records it (config_changed, with digests before and after that differ).
TEST(Reload, ANewSecretInASinksSecretFileIsAuditedAsAConfigurationChange) {
  TempDir dir("treve-it-secret");
  const fs::path secret = dir.path() / "push.secret";
  auto write_secret = [&](const std::string& text) {
    std::ofstream(secret, std::ios::trunc) << text;
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  };
  write_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  DaemonOptions options;
  options.extra_config =
      "\n[[sinks]]\nname = \"push\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\n"
      "default = true\nsecret_file = \"" +
      secret.string() + "\"\n";
  Daemon daemon(options);
  daemon.start();
  write_secret("whsec_c2Vjb25kLXNlY3JldC1mb3ItdHJldmUtdGVzdHMhISE=\n");
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  EXPECT_EQ(daemon.stop(), 0);

  Db db(daemon.db_path());
  std::vector<json::object> changes;
  for (const auto& row : read_audit(db)) {
    if (row.kind == "config_changed")
      changes.push_back(json::parse(row.detail).as_object());
  }
  ASSERT_EQ(changes.size(), 2u) << daemon.stderr_log();
  EXPECT_EQ(changes[1].at("on"), "reload");
  EXPECT_EQ(changes[1].at("before"), changes[0].at("after"));
  EXPECT_NE(changes[1].at("after"), changes[0].at("after"));
  // The digest is not the secret's own hash, nor does the record hold the secret.
  EXPECT_EQ(json::serialize(changes[1]).find("whsec_"), std::string::npos);
}

}  // namespace
}  // namespace treve::itest
