// The real `treve serve` as a child process for benchmarks (through tests/support/process.h):
// spawned with a configuration, its log lines read (serve.ready gives the port), its memory,
// CPU time, threads and open descriptors read from /proc, signalled (SIGHUP: a reload), stopped
// with SIGTERM (or killed). Header-only, shared by the benchmarks that drive the daemon.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace treve::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Memory {
  long long rss_kb = -1, hwm_kb = -1;
  // VmRSS's parts: the heap and other anonymous memory, and pages of mapped files.
  long long anon_kb = -1, file_kb = -1;
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
    if (line.starts_with("RssAnon:"))
      m.anon_kb = std::atoll(line.c_str() + 8);
    if (line.starts_with("RssFile:"))
      m.file_kb = std::atoll(line.c_str() + 8);
  }
  return m;
}

// CPU seconds (user + system) of process `pid`, from /proc.
inline double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14)
      utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The process's threads ("Threads:" of /proc/PID/status), or -1.
inline int process_threads(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("Threads:"))
      return std::atoi(line.c_str() + 8);
  }
  return -1;
}

// The process's open file descriptors (the entries of /proc/PID/fd), or -1.
inline int open_descriptors(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec)
    return -1;
  int n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec)
      return -1;
    ++n;
  }
  return n;
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
    test::Command c;
    c.program = binary_;
    c.args = {"serve", "--config", config_};
    c.output_fd = fds[1];
    spawned_at_ = Clock::now();
    try {
      process_.emplace(c);
    } catch (const std::exception& e) {
      ::close(fds[1]);
      std::fprintf(stderr, "%s\n", e.what());
      ::close(fds[0]);
      return false;
    }
    ::close(fds[1]);
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

  // SIGTERM, then wait; returns the seconds it took to exit (SIGKILL after 30 s; 0 when it had
  // already exited).
  double stop() {
    if (!process_)
      return 0;
    auto start = Clock::now();
    double took = 0;
    if (process_->pid() > 0) {
      process_->signal(SIGTERM);
      if (!process_->wait_for(std::chrono::seconds(30)))
        process_->kill();
      took = seconds_between(start, Clock::now());
    }
    if (reader_.joinable())
      reader_.join();
    exit_status_ = process_->status();
    process_.reset();
    return took;
  }

  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // False once the daemon has exited (it is then reaped: stop() still collects its status).
  bool running() { return process_ && process_->running(); }
  // Sends `sig` to the running daemon (SIGHUP: reload); false when it is not running.
  bool signal(int sig) {
    if (!process_ || process_->pid() <= 0)
      return false;
    process_->signal(sig);
    return true;
  }
  // The daemon's exit status once stopped (as test::Process reports it).
  int exit_status() const { return exit_status_; }
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
  // Every log line containing `needle`, in order.
  std::vector<std::string> lines_with(std::string_view needle) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos)
        out.push_back(l);
    }
    return out;
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
  std::optional<test::Process> process_;
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
