#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>

#include <CLI/CLI.hpp>

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/store/in_force.h"
#include "daemon/store/postgresql/open_store.h"
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
  store::Result<std::vector<store::PolicyVersion>> versions;
  store::Result<std::vector<policy::Crisis>> crises;
  if (file->store.backend == config::StoreConfig::Backend::postgresql) {
    auto opened = store::open_store(*file, store::StoreUse::command);
    if (!opened) {
      err << "warning: " << opened.error() << ": answering from " << path << " alone\n";
      return file;
    }
    versions = opened->store->current_policies();
    auto open = opened->store->open_crises();
    crises = open ? store::Result<std::vector<policy::Crisis>>(store::crises_in_force(*open))
                  : std::unexpected(open.error());
  } else {
    const std::string db = store::database_path(file->server.state_dir);
    versions = store::read_policies_in_force(db);
    crises = store::read_crises_in_force(db);
  }
  if (!versions) {
    err << "warning: cannot read the policies saved through the admin API ("
        << versions.error().message << "): answering from " << path << " alone\n";
    return file;
  }
  if (!crises) {
    err << "warning: cannot read the open crises (" << crises.error().message
        << "): answering without them\n";
    crises = std::vector<policy::Crisis>{};
  }
  if (versions->empty() && crises->empty())
    return file;
  auto loaded = store::load_in_force(path, *versions, *crises);
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
  if (c.store.backend == config::StoreConfig::Backend::postgresql) {
    // The database is reached as the daemon would, without changing it.
    auto version = store::PgStore::schema_version(store::connect_options(c.store));
    if (!version) {
      err << path << ": store.url: cannot reach the PostgreSQL store: " << version.error().message
          << '\n';
      return kExitFailure;
    }
    if (*version > store::PgStore::kSchemaVersion) {
      err << path << ": store.url: the database's schema is version " << *version
          << ", newer than this trêve's (" << store::PgStore::kSchemaVersion << ")\n";
      return kExitFailure;
    }
    out << "store: PostgreSQL, schema version " << *version;
    if (*version == 0)
      out << " (empty: the daemon creates the schema at its first start)";
    else if (*version < store::PgStore::kSchemaVersion)
      out << " (the daemon migrates it to " << store::PgStore::kSchemaVersion << " at start)";
    out << '\n';
  }
  return kExitOk;
}

store::Result<std::vector<store::StoredPreference>> stored_preferences(
    const config::Config& config) {
  if (config.store.backend == config::StoreConfig::Backend::postgresql) {
    auto opened = store::open_store(config, store::StoreUse::command);
    if (!opened)
      return std::unexpected(
          store::StoreError{store::StoreError::Kind::unavailable, opened.error()});
    return opened->store->preferences();
  }
  return store::read_preferences(store::database_path(config.server.state_dir));
}

void add_check_config(CLI::App& app, Commands& commands) {
  auto path = std::make_shared<std::string>("/etc/treve/treve.toml");
  auto* c = app.add_subcommand("check-config", "Validate a configuration file");
  c->add_option("--config", *path, "Configuration file")->capture_default_str();
  commands.push_back({c, [path] { return check_config(*path, std::cout, std::cerr); }});
}

const Command* parsed(const Commands& commands) {
  for (const Command& c : commands) {
    if (c.app->parsed())
      return &c;
  }
  return nullptr;
}

std::chrono::sys_time<std::chrono::milliseconds> wall_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace treve::cli
