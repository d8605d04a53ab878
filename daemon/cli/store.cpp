// `treve store migrate --to postgresql`: the SQLite store of the configuration's state
// directory moved into the PostgreSQL store its `[store]` names (docs/operations.md, "Several
// daemons on one PostgreSQL").
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/store/postgresql/migrate.h"
#include "daemon/store/postgresql/open_store.h"
#include "daemon/store/state_dir.h"

namespace treve::cli {

namespace {

// The pid of a treve still running on `state_dir`, or 0.
long running_daemon(const std::string& state_dir) {
  std::ifstream in(store::pid_file(state_dir));
  long pid = 0;
  if (!(in >> pid) || pid <= 1)
    return 0;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return std::getline(comm, name) && name == "treve" ? pid : 0;
}

int migrate(const std::string& path, const std::string& to, std::ostream& out, std::ostream& err) {
  if (to != "postgresql") {
    err << "--to: \"" << to << "\": the only move is to postgresql\n";
    return kExitFailure;
  }
  auto config = load_or_report(path, err);
  if (!config)
    return kExitFailure;
  if (config->store.backend != config::StoreConfig::Backend::postgresql) {
    err << path
        << ": [store] must name the PostgreSQL store to move into (backend = \"postgresql\" "
           "and its url); the SQLite store moved is the one in server.state_dir\n";
    return kExitFailure;
  }
  const std::string& state_dir = config->server.state_dir;
  const std::string db = store::database_path(state_dir);
  if (!std::filesystem::exists(db)) {
    err << db << ": no SQLite store to move\n";
    return kExitFailure;
  }
  if (long pid = running_daemon(state_dir); pid) {
    err << "a daemon (process " << pid << ") is running on " << state_dir
        << ": stop it first (systemctl stop treve), so that nothing is accepted during the move\n";
    return kExitFailure;
  }
  {
    // The schema, and the pseudonym key's check: the key is the SQLite store's, never new.
    auto opened = store::open_store(*config, store::StoreUse::move);
    if (!opened) {
      err << opened.error() << '\n';
      return kExitFailure;
    }
  }
  auto report = store::copy_sqlite_to_postgresql(db, store::connect_options(config->store));
  if (!report) {
    err << "not moved: " << report.error().message << '\n';
    return kExitFailure;
  }
  out << "moved " << db << " into the PostgreSQL store:\n";
  for (const auto& [table, rows] : report->rows)
    out << "  " << table << ": " << rows << " row(s)\n";
  out << "the audit chain continues from record " << report->last_seq << " (hash " << report->head
      << ")\n"
      << "start the daemons with " << path << "; keep " << db
      << " (read it with treve audit … --db) until the first backup of the database\n";
  return kExitOk;
}

}  // namespace

void add_store(CLI::App& app, Commands& commands) {
  struct Options {
    std::string config = "/etc/treve/treve.toml";
    std::string to;
  };
  auto o = std::make_shared<Options>();
  auto* s = app.add_subcommand("store", "Move the store to another backend");
  s->require_subcommand(1);
  auto* m = s->add_subcommand(
      "migrate", "Copy the SQLite store into the empty PostgreSQL store [store] names");
  m->add_option("--config", o->config, "Configuration file")->capture_default_str();
  m->add_option("--to", o->to, "postgresql")->required();
  commands.push_back({m, [o] { return migrate(o->config, o->to, std::cout, std::cerr); }});
}

}  // namespace treve::cli
