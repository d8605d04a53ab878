#include <ostream>

#include "daemon/cli/commands.h"

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
