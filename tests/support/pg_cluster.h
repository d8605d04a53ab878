// A throw-away PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary directory,
// the server listening only on a unix socket in that directory (no TCP), stopped and removed
// at the end. Run as `nobody` when the tests run as root (initdb refuses root). Each test takes
// a fresh database of its own (fresh_database). Needs Debian's postgresql-15, which
// scripts/install-deps installs; without it, open() says so and the test fails.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "daemon/store/postgresql/pg_connection.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace treve::test {

class PgCluster {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

  // Creates and starts a cluster; throws with the server's log when it cannot.
  PgCluster() : dir_("treve-pg") {
    if (!std::filesystem::exists(std::string(kBin) + "/initdb"))
      throw std::runtime_error(std::string("PostgreSQL 15 is not installed (") + kBin +
                               "/initdb); scripts/install-deps installs it");
    if (::geteuid() == 0) {
      // The server runs as nobody, which must own the directory and reach it.
      if (::chown(dir_.str().c_str(), 65534, 65534) != 0)
        throw std::runtime_error("cannot give " + dir_.str() + " to nobody");
      ::chmod(dir_.str().c_str(), 0755);
    }
    run("initdb -D " + data() + " -A trust -U treve -E UTF8 --no-locale --no-sync", "initdb");
    start();
  }
  ~PgCluster() {
    forget_server();
    (void)std::system(
        (as_server() + kBin + "/pg_ctl -D " + data() + " -m immediate stop >/dev/null 2>&1")
            .c_str());
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // The same cluster for every test of this process (each test is its own process under
  // ctest, so this is one cluster per test there).
  static PgCluster& shared() {
    static PgCluster c;
    return c;
  }

  void start() {
    run("pg_ctl -D " + data() + " -l " + dir_.file("server.log") + " -w -t 60 -o \"-k " +
            dir_.str() + " -c listen_addresses= -c max_connections=100\" start",
        "pg_ctl start");
    // pg_ctl leaves the server running on its own: registered as a child, so that a test
    // process that crashes takes it along (its backends end when it does).
    std::ifstream pid_file(data() + "/postmaster.pid");
    if (pid_file >> server_pid_ && server_pid_ > 0)
      ChildRegistry::add(server_pid_);
  }
  // Stops the server: `fast` lets it end its sessions, as an operator's restart does.
  void stop() { run("pg_ctl -D " + data() + " -m fast -w stop", "pg_ctl stop"); }

  // A libpq connection string for `database` on this cluster.
  std::string url(const std::string& database = "postgres") const {
    return "host=" + dir_.str() + " user=treve dbname=" + database;
  }
  // A new, empty database; its connection string.
  std::string fresh_database() {
    const std::string name = "t" + std::to_string(next_++);
    store::pg::ConnectOptions o;
    o.url = url();
    auto c = store::pg::Connection::open(o);
    if (!c)
      throw std::runtime_error(c.error().message);
    if (auto r = (*c)->exec("CREATE DATABASE " + name); !r)
      throw std::runtime_error(r.error().message);
    return url(name);
  }
  const TempDir& dir() const { return dir_; }
  double server_cpu_seconds() const { return server_cpu_seconds(dir_.str()); }
  // CPU seconds of every process whose command line names the cluster's directory `data_dir`
  // or whose parent does (the postmaster and its backends), from /proc.
  static double server_cpu_seconds(const std::string& data_dir) {
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    std::vector<long> postmasters;
    double total = 0;
    DIR* proc = opendir("/proc");
    if (!proc)
      return 0;
    std::vector<std::pair<long, std::string>> stats;
    while (dirent* d = readdir(proc)) {
      char* end = nullptr;
      const long pid = std::strtol(d->d_name, &end, 10);
      if (!end || *end)
        continue;
      std::ifstream cmd("/proc/" + std::string(d->d_name) + "/cmdline");
      std::string line((std::istreambuf_iterator<char>(cmd)), {});
      if (line.find(data_dir) != std::string::npos)
        postmasters.push_back(pid);
      std::ifstream st("/proc/" + std::string(d->d_name) + "/stat");
      std::string text((std::istreambuf_iterator<char>(st)), {});
      stats.emplace_back(pid, text);
    }
    closedir(proc);
    for (const auto& [pid, text] : stats) {
      const auto close = text.rfind(')');
      if (close == std::string::npos)
        continue;
      std::istringstream rest(text.substr(close + 2));
      std::string state;
      long ppid = 0;
      rest >> state >> ppid;
      bool ours = false;
      for (long p : postmasters)
        ours = ours || p == pid || p == ppid;
      if (!ours)
        continue;
      std::string skip;
      for (int i = 0; i < 9; ++i)
        rest >> skip;  // pgrp … majflt, cmajflt (fields 5–13)
      double utime = 0, stime = 0;
      rest >> utime >> stime;
      total += (utime + stime) / tick;
    }
    return total;
  }

 private:
  std::string data() const { return dir_.file("data"); }
  static std::string as_server() { return ::geteuid() == 0 ? "runuser -u nobody -- " : ""; }
  void run(const std::string& command, const char* what) {
    std::string name = what;
    for (char& c : name)
      c = c == ' ' ? '-' : c;
    const std::string log = dir_.file(name + ".out");
    const std::string line = as_server() + kBin + "/" + command + " >" + log + " 2>&1";
    if (std::system(line.c_str()) != 0) {
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      std::ifstream server(dir_.file("server.log"));
      text << server.rdbuf();
      throw std::runtime_error(std::string(what) + " failed: " + text.str());
    }
  }

  void forget_server() {
    if (server_pid_ > 0)
      ChildRegistry::remove(server_pid_);
    server_pid_ = 0;
  }

  TempDir dir_;
  int next_ = 0;
  pid_t server_pid_ = 0;
};

}  // namespace treve::test
