// The real `treve serve` as a child process for benchmarks: spawned with a configuration,
// its log lines read (serve.ready gives the port), its memory read from /proc, stopped with
// SIGTERM (or killed). Header-only, shared by the benchmarks that drive the daemon.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace treve::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Memory {
  long long rss_kb = -1, hwm_kb = -1;
};

inline Memory process_memory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Memory m;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:"))
      m.rss_kb = std::atoll(line.c_str() + 6);
    if (line.starts_with("VmHWM:"))
      m.hwm_kb = std::atoll(line.c_str() + 6);
  }
  return m;
}

class Daemon {
 public:
  Daemon(std::string binary, std::string config, std::string log_path)
      : binary_(std::move(binary)), config_(std::move(config)), log_path_(std::move(log_path)) {}
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Spawns `treve serve`; `spawned_at` is taken just before posix_spawn.
  bool spawn() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      std::perror("pipe2");
      return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<std::string> args = {binary_, "serve", "--config", config_};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    spawned_at_ = Clock::now();
    int rc = posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      std::fprintf(stderr, "cannot spawn %s: %s\n", binary_.c_str(), std::strerror(rc));
      ::close(fds[0]);
      pid_ = -1;
      return false;
    }
    {
      std::lock_guard lock(mutex_);
      ready_ = false;
      ended_ = false;
      lines_.clear();
      port_ = 0;
    }
    reader_ = std::thread([this, fd = fds[0]] { read_output(fd); });
    return true;
  }

  // The port of serve.ready, or 0 when the daemon ended or took longer than `timeout`.
  unsigned short wait_ready(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return ready_ || ended_; });
    return ready_ ? port_ : 0;
  }

  // SIGTERM, then wait; returns the seconds it took to exit (SIGKILL after 30 s).
  double stop() {
    if (pid_ <= 0)
      return 0;
    auto start = Clock::now();
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || r < 0)
        break;
      if (Clock::now() - start > std::chrono::seconds(30)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    double took = seconds_between(start, Clock::now());
    if (reader_.joinable())
      reader_.join();
    pid_ = -1;
    exit_status_ = status;
    return took;
  }

  pid_t pid() const { return pid_; }
  Clock::time_point spawned_at() const { return spawned_at_; }
  Clock::time_point ready_at() const {
    std::lock_guard lock(mutex_);
    return ready_at_;
  }
  // The first log line containing `needle`, or "".
  std::string find_line(std::string_view needle) const {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos)
        return l;
    }
    return {};
  }
  long long count_lines(std::string_view needle) const {
    std::lock_guard lock(mutex_);
    return std::count_if(lines_.begin(), lines_.end(),
                         [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
  void print_tail(std::size_t n) const {
    std::lock_guard lock(mutex_);
    for (std::size_t i = lines_.size() > n ? lines_.size() - n : 0; i < lines_.size(); ++i)
      std::fprintf(stderr, "  daemon: %s\n", lines_[i].c_str());
  }

 private:
  void read_output(int fd) {
    std::ofstream log(log_path_, std::ios::app);
    std::string pending;
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      log.write(buf, n);
      pending.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        on_line(std::move(line));
      }
    }
    log.flush();
    ::close(fd);
    std::lock_guard lock(mutex_);
    ended_ = true;
    cv_.notify_all();
  }

  void on_line(std::string line) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    constexpr std::string_view kReady = "event=serve.ready listen=";
    if (!ready_) {
      if (auto at = line.find(kReady); at != std::string::npos) {
        std::string_view rest = std::string_view(line).substr(at + kReady.size());
        rest = rest.substr(0, rest.find(' '));
        auto colon = rest.rfind(':');
        if (colon != std::string_view::npos) {
          port_ =
              static_cast<unsigned short>(std::atoi(std::string(rest.substr(colon + 1)).c_str()));
          ready_ = port_ != 0;
          ready_at_ = now;
          cv_.notify_all();
        }
      }
    }
    lines_.push_back(std::move(line));
  }

  std::string binary_, config_, log_path_;
  pid_t pid_ = -1;
  int exit_status_ = 0;
  Clock::time_point spawned_at_{};
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool ready_ = false, ended_ = false;
  unsigned short port_ = 0;
  Clock::time_point ready_at_{};
  std::vector<std::string> lines_;
};

}  // namespace treve::bench
