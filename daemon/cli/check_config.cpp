#include <ostream>

#include "daemon/cli/commands.h"
#include "daemon/store/in_force.h"
#include "daemon/store/state_dir.h"

namespace treve::cli {

std::shared_ptr<const config::Config> load_or_report(const std::string& path, std::ostream& err) {
  auto loaded = config::load_config(path);
  if (!loaded) {
    for (const auto& e : loaded.error())
      err << e.to_string() << '\n';
    return nullptr;
  }
  return *loaded;
}

std::shared_ptr<const config::Config> load_in_force_or_report(const std::string& path,
                                                              std::ostream& err) {
  auto file = load_or_report(path, err);
  if (!file)
    return nullptr;
  const std::string db = store::database_path(file->server.state_dir);
  auto versions = store::read_policies_in_force(db);
  if (!versions) {
    err << "warning: cannot read the policies saved through the admin API ("
        << versions.error().message << "): answering from " << path << " alone\n";
    return file;
  }
  if (versions->empty())
    return file;
  auto loaded = store::load_in_force(path, *versions);
  if (!loaded) {
    for (const auto& e : loaded.error())
      err << e.to_string() << '\n';
    return nullptr;
  }
  return *loaded;
}

int check_config(const std::string& path, std::ostream& out, std::ostream& err) {
  auto config = load_or_report(path, err);
  if (!config)
    return kExitFailure;
  const auto& c = *config;
  for (const auto& w : c.warnings)
    err << "warning: " << w << '\n';
  out << path << ": configuration is valid (" << c.policy->configured_uais().size()
      << " establishment(s) configured, " << c.connectors.size() << " connector(s), "
      << c.sinks.size() << " sink(s))\n";
  return kExitOk;
}

}  // namespace treve::cli
