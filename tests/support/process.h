// A child process for tests and benchmarks: the real `treve` binary (or another program)
// spawned with arguments, extra environment and a standard input, its output captured in files
// or sent to a descriptor, waited for with a timeout, killed with SIGKILL. The one launcher of
// trêve's tests; header-only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/temp_dir.h"

extern char** environ;

namespace treve::test {

#ifdef TREVE_BINARY
inline const std::string kTreveBinary = TREVE_BINARY;
#endif

// Children alive now, so that a test program that crashes (or is interrupted) takes them with
// it instead of leaving them running. Async-signal-safe: a fixed array of atomics.
class ChildRegistry {
 public:
  static void add(pid_t pid) {
    install();
    for (auto& slot : slots()) {
      pid_t empty = 0;
      if (slot.compare_exchange_strong(empty, pid))
        return;
    }
  }
  static void remove(pid_t pid) {
    for (auto& slot : slots()) {
      pid_t p = pid;
      if (slot.compare_exchange_strong(p, 0))
        return;
    }
  }

 private:
  static std::array<std::atomic<pid_t>, 64>& slots() {
    static std::array<std::atomic<pid_t>, 64> s{};
    return s;
  }
  static void on_fatal(int sig) {
    for (auto& slot : slots()) {
      if (pid_t p = slot.load(); p > 0)
        ::kill(p, SIGKILL);
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
  static void install() {
    static std::once_flag once;
    std::call_once(once, [] {
      slots();
      for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction sa {};
        sa.sa_handler = &ChildRegistry::on_fatal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        ::sigaction(sig, &sa, nullptr);
      }
    });
  }
};

// What to start.
struct Command {
  std::string program;            // a path; argv[0] is the same
  std::vector<std::string> args;  // argv[1…]
  // Added to this process's environment, each in place of a variable of the same name.
  std::vector<std::pair<std::string, std::string>> env;
  std::string stdin_path = "/dev/null";  // empty: this process's standard input
  // Empty: /dev/null. Appended to when `append`, truncated otherwise.
  std::string stdout_path;
  std::string stderr_path;
  bool append = false;
  // >= 0: standard output and error both go to this descriptor (say a pipe's end), in place
  // of the two paths. The child's copy only: the caller still owns and closes it.
  int output_fd = -1;
  // The child starts with an empty signal mask and default dispositions.
  bool default_signals = false;
};

// A status as tests read it: the exit status; 128 + the signal when killed by one.
inline int exit_status_of(int wait_status) {
  return WIFEXITED(wait_status)     ? WEXITSTATUS(wait_status)
         : WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status)
                                    : -1;
}

// A spawned child. Killed (SIGKILL) and reaped when the object goes, if still running.
class Process {
 public:
  // Spawns `c`; throws std::runtime_error when it cannot.
  explicit Process(const Command& c) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      std::string_view key = kv.substr(0, kv.find('='));
      bool overridden = false;
      for (const auto& [k, v] : c.env)
        overridden = overridden || key == k;
      if (!overridden)
        env.emplace_back(kv);
    }
    for (const auto& [k, v] : c.env)
      env.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env)
      envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> all{c.program};
    all.insert(all.end(), c.args.begin(), c.args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);

    const int out_flags = O_WRONLY | O_CREAT | (c.append ? O_APPEND : O_TRUNC);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!c.stdin_path.empty())
      posix_spawn_file_actions_addopen(&actions, 0, c.stdin_path.c_str(), O_RDONLY, 0);
    if (c.output_fd >= 0) {
      posix_spawn_file_actions_adddup2(&actions, c.output_fd, 1);
      posix_spawn_file_actions_adddup2(&actions, c.output_fd, 2);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1,
                                       c.stdout_path.empty() ? "/dev/null" : c.stdout_path.c_str(),
                                       out_flags, 0600);
      posix_spawn_file_actions_addopen(&actions, 2,
                                       c.stderr_path.empty() ? "/dev/null" : c.stderr_path.c_str(),
                                       out_flags, 0600);
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (c.default_signals) {
      sigset_t none, all_signals;
      sigemptyset(&none);
      sigfillset(&all_signals);
      posix_spawnattr_setsigmask(&attr, &none);
      posix_spawnattr_setsigdefault(&attr, &all_signals);
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    }
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, c.program.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      throw std::runtime_error("cannot spawn " + c.program + ": " + std::strerror(rc));
    pid_ = pid;
    ChildRegistry::add(pid_);
  }
  ~Process() { kill(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The child's pid; -1 once it has been reaped.
  pid_t pid() const { return pid_; }

  // True once the child has exited and was reaped (waiting for that when `block`).
  bool reap(bool block) {
    if (pid_ <= 0)
      return true;
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
      return false;
    if (r == pid_)
      status_ = exit_status_of(status);
    ChildRegistry::remove(pid_);
    pid_ = -1;
    return true;
  }
  bool running() { return !reap(false); }

  // Waits for the exit; its status.
  int wait() {
    reap(true);
    return status_;
  }
  // Waits at most `timeout`; the exit status, or nothing while it still runs.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (reap(false))
        return status_;
      if (std::chrono::steady_clock::now() > deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void signal(int sig) {
    if (pid_ > 0)
      ::kill(pid_, sig);
  }
  // SIGKILL, then reaps the child.
  void kill() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  // The exit status once reaped (-1 before).
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// What a command printed and how it ended.
struct ProcessResult {
  int status = -1;  // exit status; 128 + signal when killed; -1 when it could not run
  std::string out;
  std::string err;
  std::chrono::milliseconds took{0};
};

inline std::ostream& operator<<(std::ostream& os, const ProcessResult& r) {
  return os << "exit " << r.status << "\n--- stdout ---\n"
            << r.out.substr(0, 4000) << "\n--- stderr ---\n"
            << r.err.substr(0, 4000);
}

inline std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `c` to completion with `input` on its standard input (c.stdin_path is ignored);
// stdout and stderr go through files, so that a large output never fills a pipe. After
// `timeout` the child is killed (status 128 + SIGKILL).
inline ProcessResult run(Command c, const std::string& input = "",
                         std::chrono::milliseconds timeout = std::chrono::minutes(10)) {
  TempDir io("treve-run");
  c.stdin_path = io.write("stdin", input);
  c.stdout_path = io.file("stdout");
  c.stderr_path = io.file("stderr");
  c.output_fd = -1;
  c.append = false;
  const auto start = std::chrono::steady_clock::now();
  Process p(c);
  ProcessResult r;
  if (auto status = p.wait_for(timeout)) {
    r.status = *status;
  } else {
    p.kill();
    r.status = p.status();
  }
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  r.out = read_whole_file(c.stdout_path);
  r.err = read_whole_file(c.stderr_path);
  return r;
}

// A command of `program` with `args`.
inline Command command(std::string program, std::vector<std::string> args) {
  Command c;
  c.program = std::move(program);
  c.args = std::move(args);
  return c;
}

// `sh -c command` with its standard error in its standard output: the status and the output.
inline ProcessResult run_shell(const std::string& command) {
  Command c;
  c.program = "/bin/sh";
  c.args = {"-c", command + " 2>&1"};
  return run(c);
}

}  // namespace treve::test
