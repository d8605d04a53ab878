// systemd's side of the notify protocol, played by the test: a datagram socket in
// NOTIFY_SOCKET and WATCHDOG_USEC in the environment of the real daemon. READY=1 must come
// once the listener answers, WATCHDOG=1 at half the watchdog period, STOPPING=1 on SIGTERM.
#include <sys/socket.h>
#include <sys/un.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

// A datagram socket where the daemon sends its notifications.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind " + path);
  }
  ~NotifySocket() { ::close(fd_); }

  // The next datagram, or nothing after `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(Notify, ReadyOnceServingWatchdogAtHalfThePeriodStoppingOnSigterm) {
  TempDir dir("treve-notify");
  const std::string path = (dir.path() / "notify.sock").string();
  NotifySocket socket(path);
  DaemonOptions options;
  options.env = {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "400000"}};
  Daemon daemon(options);
  daemon.start();

  // The first message says READY, with a status line, and by then the listener answers.
  auto first = socket.receive(5000ms);
  ASSERT_TRUE(first.has_value()) << daemon.stderr_log();
  EXPECT_THAT(*first, HasSubstr("READY=1"));
  EXPECT_THAT(*first, HasSubstr("STATUS=0 held, next release none, 0 request(s) in flight"));
  EXPECT_EQ(HttpClient(daemon.port()).healthz().status, 200);

  // WATCHDOG=1 every 200 ms (half of WATCHDOG_USEC): about 15 in three seconds (pinging at
  // the whole period would give 7, at a quarter 30). Loose bounds: tests share the CPU.
  int pings = 0;
  const auto until = Steady::now() + 3s;
  while (Steady::now() < until) {
    auto m = socket.receive(1000ms);
    ASSERT_TRUE(m.has_value()) << "no notification for a second";
    if (*m == "WATCHDOG=1")
      ++pings;
  }
  EXPECT_GE(pings, 10);
  EXPECT_LE(pings, 18);

  ::kill(daemon.pid(), SIGTERM);
  bool stopping = false;
  for (int i = 0; i < 50 && !stopping; ++i) {
    auto m = socket.receive(200ms);
    stopping = m && m->find("STOPPING=1") != std::string::npos;
  }
  EXPECT_TRUE(stopping);
  EXPECT_EQ(daemon.stop(), 0);
}

// Skips WATCHDOG=1 and STATUS= lines; the next other notification.
std::optional<std::string> next_state(NotifySocket& socket, std::chrono::milliseconds timeout) {
  const auto until = Steady::now() + timeout;
  while (Steady::now() < until) {
    auto m = socket.receive(200ms);
    if (m && *m != "WATCHDOG=1" && !m->starts_with("STATUS="))
      return m;
  }
  return std::nullopt;
}

TEST(Notify, ReloadingThenReadyAroundAReloadValidOrNot) {
  TempDir dir("treve-notify");
  const std::string path = (dir.path() / "notify.sock").string();
  NotifySocket socket(path);
  DaemonOptions options;
  options.env = {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "2000000"}};
  Daemon daemon(options);
  daemon.start();
  auto ready = next_state(socket, 5000ms);
  ASSERT_TRUE(ready.has_value()) << daemon.stderr_log();
  EXPECT_THAT(*ready, HasSubstr("READY=1"));
  HttpClient client(daemon.port());
  ASSERT_EQ(client.post_event(simple_event("held-1")).status, 202);

  ::kill(daemon.pid(), SIGHUP);
  auto reloading = next_state(socket, 5000ms);
  ASSERT_TRUE(reloading.has_value());
  EXPECT_THAT(*reloading, HasSubstr("RELOADING=1"));
  EXPECT_THAT(*reloading, HasSubstr("MONOTONIC_USEC="));
  auto again = next_state(socket, 5000ms);
  ASSERT_TRUE(again.has_value());
  EXPECT_THAT(*again, HasSubstr("READY=1"));
  EXPECT_THAT(*again, HasSubstr("STATUS=1 held"));
  EXPECT_TRUE(daemon.wait_for_log("event=config.reloaded", 5s));

  // An invalid file: RELOADING=1, READY=1 all the same (the daemon serves, on the old one).
  daemon.rewrite_config([](DaemonOptions& o) { o.quiet_start = "7pm"; });
  ::kill(daemon.pid(), SIGHUP);
  reloading = next_state(socket, 5000ms);
  ASSERT_TRUE(reloading.has_value());
  EXPECT_THAT(*reloading, HasSubstr("RELOADING=1"));
  again = next_state(socket, 5000ms);
  ASSERT_TRUE(again.has_value());
  EXPECT_THAT(*again, HasSubstr("READY=1"));
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=config.reload_rejected"));
  EXPECT_EQ(client.post_event(simple_event("held-2")).status, 202);
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(Notify, WithoutNotifySocketNothingIsSentAndTheDaemonServes) {
  Daemon daemon;
  daemon.start();
  EXPECT_EQ(HttpClient(daemon.port()).healthz().status, 200);
  EXPECT_THAT(daemon.stderr_log(), ::testing::Not(HasSubstr("notify.failed")));
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
