#include <signal.h>
#include <iostream>
#include <memory>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/store/state_dir.h"

namespace treve::cli {

int reload(const std::string& path, std::ostream& out, std::ostream& err) {
  auto config = load_or_report(path, err);
  if (!config) {
    err << path << ": not reloaded: the running daemon keeps its configuration\n";
    return kExitFailure;
  }
  for (const auto& w : config->warnings)
    err << "warning: " << w << '\n';
  const std::string pid_path = store::pid_file(config->server.state_dir);
  std::ifstream in(pid_path);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
    err << pid_path << ": no running daemon found (under systemd: systemctl reload treve)\n";
    return kExitFailure;
  }
  // A pid file left by a daemon killed hard may name another process by now.
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  if (!std::getline(comm, name) || name != "treve") {
    err << pid_path << ": names process " << pid
        << ", which is not a running treve (a stale file from a daemon that did not stop "
           "cleanly?)\n";
    return kExitFailure;
  }
  if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
    err << "cannot signal process " << pid << ": " << std::strerror(errno)
        << (errno == EPERM ? " (run as root or as the daemon's user)" : "") << '\n';
    return kExitFailure;
  }
  out << path << ": configuration is valid; reload requested from process " << pid
      << " (its log says event=config.reloaded once held deliveries are re-planned)\n";
  return kExitOk;
}

void add_reload(CLI::App& app, Commands& commands) {
  auto path = std::make_shared<std::string>("/etc/treve/treve.toml");
  auto* c = app.add_subcommand(
      "reload", "Validate the configuration, then have the running daemon reload it (SIGHUP)");
  c->add_option("--config", *path, "Configuration file")->capture_default_str();
  commands.push_back({c, [path] { return reload(*path, std::cout, std::cerr); }});
}

}  // namespace treve::cli
