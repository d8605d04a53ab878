#include <signal.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>

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

}  // namespace treve::cli
