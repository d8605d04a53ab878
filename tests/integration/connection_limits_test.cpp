// The daemon's listeners under a flood of connections and short of file descriptors: silent
// connections are closed after the first-byte timeout, one client address cannot take every
// slot, the admin listener keeps answering, and connections over a listener's cap (derived
// from RLIMIT_NOFILE) are answered 503 instead of being left hanging. Real sockets, from
// several loopback addresses (127.0.0.0/8 is the loopback) standing for several clients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// The value of `key` in the daemon's first `event=NAME` line; -1 when absent.
long logged_number(const Daemon& daemon, const std::string& event, const std::string& key) {
  const std::string log = daemon.stderr_log();
  const auto at = log.find("event=" + event + " ");
  if (at == std::string::npos)
    return -1;
  const std::string line = log.substr(at, log.find('\n', at) - at);
  const auto field = line.find(" " + key + "=");
  return field == std::string::npos ? -1 : std::stol(line.substr(field + key.size() + 2));
}

// The i-th of several client addresses, `per_address` connections each.
std::string client_address(std::size_t i, std::size_t per_address) {
  return "127.0.0." + std::to_string(2 + i / per_address);
}

TEST(ConnectionLimits, UnderALowDescriptorLimitConnectionsOverTheCapAreAnswered503NotLeftHanging) {
  DaemonOptions options;
  options.open_file_limit = 256;
  options.admin_listen = "127.0.0.1:0";
  Daemon daemon(options);
  daemon.start();

  // Every connection is answered at once: served while the listener has room, 503 beyond it.
  std::vector<std::unique_ptr<RawConnection>> held;
  std::size_t refused = 0;
  for (std::size_t i = 0; i < 300; ++i) {
    auto c = std::make_unique<RawConnection>(daemon.port(), client_address(i, 50));
    ASSERT_TRUE(c->connected()) << i;
    ASSERT_TRUE(c->send(raw_request("GET", "/healthz"))) << i;
    const auto answer = c->read(3s);
    ASSERT_TRUE(answer.status == 200 || answer.status == 503)
        << "connection " << i << " was left unanswered (" << held.size() << " held)";
    if (answer.status == 200) {
      held.push_back(std::move(c));
    } else {
      ++refused;
      EXPECT_THAT(answer.head, HasSubstr("Retry-After: 2"));
      EXPECT_THAT(answer.body, HasSubstr("urn:treve:problem:too-many-connections"));
    }
  }
  EXPECT_GE(refused, 300u - 256u);

  // The cap, derived from the limit, is logged at start and leaves room for everything else.
  const long ingest = logged_number(daemon, "serve.descriptors", "ingest_connections");
  const long admin = logged_number(daemon, "serve.descriptors", "admin_connections");
  EXPECT_EQ(logged_number(daemon, "serve.descriptors", "limit"), 256);
  EXPECT_EQ(static_cast<long>(held.size()), ingest);
  EXPECT_LE(ingest + admin + logged_number(daemon, "serve.descriptors", "reserved"), 256);

  // The admin listener has its own connections meanwhile.
  RawConnection admin_client(daemon.admin_port());
  ASSERT_TRUE(admin_client.send(raw_request("GET", "/favicon.ico")));
  EXPECT_EQ(admin_client.read(3s).status, 204);

  // A slot given back serves an event (the first of its time zone: nothing is opened for it).
  held.pop_back();
  RawConnection::Answer posted;
  const auto deadline = Clock::now() + 3s;
  do {
    RawConnection c(daemon.port(), "127.0.1.1");
    ASSERT_TRUE(c.send(raw_request("POST", "/v1/events", simple_event("fd-1"), kEntToken)));
    posted = c.read(5s);
    if (posted.status == 503)
      std::this_thread::sleep_for(20ms);
  } while (posted.status == 503 && Clock::now() < deadline);
  EXPECT_EQ(posted.status, 202) << posted.head << posted.body;
  EXPECT_EQ(daemon.log_count("event=http.accept_failed"), 0u) << daemon.stderr_log();
}

TEST(ConnectionLimits, TheSoftDescriptorLimitIsRaisedToTheHardOneAtStart) {
  DaemonOptions options;
  options.open_file_limit = 256;
  options.open_file_hard_limit = 4096;
  Daemon daemon(options);
  daemon.start();
  EXPECT_EQ(logged_number(daemon, "serve.descriptors", "found"), 256) << daemon.stderr_log();
  EXPECT_EQ(logged_number(daemon, "serve.descriptors", "limit"), 4096);
  EXPECT_EQ(logged_number(daemon, "serve.descriptors", "ingest_connections"), 1024);
  EXPECT_EQ(logged_number(daemon, "serve.descriptors", "admin_connections"), 64);
  const std::string limits = read_file("/proc/" + std::to_string(daemon.pid()) + "/limits");
  EXPECT_THAT(limits, ::testing::ContainsRegex("Max open files +4096 +4096 +files"));
}

TEST(ConnectionLimits, SilentConnectionsFloodingIngestAreRefusedThenClosedAndAdminStillAnswers) {
  DaemonOptions options;
  options.admin_listen = "127.0.0.1:0";
  Daemon daemon(options);
  daemon.start();
  // Under the test runner's limit the listener keeps its default cap.
  long ingest = logged_number(daemon, "serve.descriptors", "ingest_connections");
  EXPECT_EQ(ingest, 1024) << daemon.stderr_log();
  if (ingest <= 0)
    ingest = 1024;

  // More silent connections than the listener takes, 60 from each address.
  const auto opened = Clock::now();
  std::vector<std::unique_ptr<RawConnection>> silent;
  for (long i = 0; i < ingest + 60; ++i) {
    silent.push_back(std::make_unique<RawConnection>(
        daemon.port(), client_address(static_cast<std::size_t>(i), 60)));
    ASSERT_TRUE(silent.back()->connected()) << i;
  }
  // The last ones found the listener full.
  const auto refused = silent.back()->read(3s);
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.head, HasSubstr("Retry-After: 2"));
  EXPECT_THAT(refused.body, HasSubstr("urn:treve:problem:too-many-connections"));

  // Administrators are not locked out.
  const auto asked = Clock::now();
  RawConnection admin_client(daemon.admin_port());
  ASSERT_TRUE(admin_client.send(raw_request("GET", "/favicon.ico")));
  EXPECT_EQ(admin_client.read(3s).status, 204);
  EXPECT_LT(Clock::now() - asked, 1s);

  // The silent ones are closed after the first-byte timeout (10 s), not the keep-alive one.
  EXPECT_TRUE(silent.front()->closed_within(15s));
  EXPECT_LT(Clock::now() - opened, 13s);
  silent.clear();
  RawConnection c(daemon.port());
  ASSERT_TRUE(c.send(raw_request("POST", "/v1/events", simple_event("after-flood"), kEntToken)));
  const auto posted = c.read(5s);
  EXPECT_EQ(posted.status, 202) << posted.head << posted.body;
  EXPECT_EQ(daemon.log_count("reason=listener_full"), 1u) << daemon.stderr_log();
}

TEST(ConnectionLimits, OneAddressGetsAtMost64ConnectionsAndItsRefusalsAreLoggedOnce) {
  Daemon daemon;
  daemon.start();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 64; ++i) {
    held.push_back(std::make_unique<RawConnection>(daemon.port(), "127.0.0.9"));
    ASSERT_TRUE(held.back()->send(raw_request("GET", "/healthz")));
    ASSERT_EQ(held.back()->read(3s).status, 200) << i;
  }
  for (int i = 0; i < 10; ++i) {
    RawConnection over(daemon.port(), "127.0.0.9");
    const auto answer = over.read(3s);
    EXPECT_EQ(answer.status, 503) << i;
    EXPECT_THAT(answer.head, HasSubstr("Retry-After: 2"));
    EXPECT_THAT(answer.body, HasSubstr("urn:treve:problem:too-many-connections-from-address"));
  }
  // Another address is served.
  RawConnection other(daemon.port(), "127.0.0.10");
  ASSERT_TRUE(other.send(raw_request("GET", "/healthz")));
  EXPECT_EQ(other.read(3s).status, 200);

  ASSERT_TRUE(daemon.wait_for_log("event=http.connection_refused", 2s));
  EXPECT_EQ(daemon.log_count("event=http.connection_refused"), 1u) << daemon.stderr_log();
  EXPECT_EQ(daemon.log_count("event=http.connection_refused listener=ingest reason=per_address "
                             "address=\"127.0.0.9\" limit=64 refused=1"),
            1u)
      << daemon.stderr_log();
}

}  // namespace
}  // namespace treve::itest

namespace treve::itest {
namespace {

// An ENT behind one address with many workers: the operator raises the bound, and it holds at
// the value set.
TEST(ConnectionLimits, TheBoundPerAddressIsTheConfigurationsMaxConnectionsPerAddress) {
  DaemonOptions options;
  options.server_config = "max_connections_per_address = 80\n";
  Daemon daemon(options);
  daemon.start();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 80; ++i) {
    held.push_back(std::make_unique<RawConnection>(daemon.port(), "127.0.0.11"));
    ASSERT_TRUE(held.back()->send(raw_request("GET", "/healthz")));
    ASSERT_EQ(held.back()->read(3s).status, 200) << i;
  }
  RawConnection over(daemon.port(), "127.0.0.11");
  const auto answer = over.read(3s);
  EXPECT_EQ(answer.status, 503);
  EXPECT_THAT(answer.body, HasSubstr("urn:treve:problem:too-many-connections-from-address"));
  ASSERT_TRUE(daemon.wait_for_log("event=http.connection_refused", 2s));
  EXPECT_EQ(daemon.log_count("reason=per_address address=\"127.0.0.11\" limit=80 refused=1"), 1u)
      << daemon.stderr_log();
}

}  // namespace
}  // namespace treve::itest
