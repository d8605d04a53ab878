// `treve`: the one binary. Each subcommand is added by the file that implements it; `serve`,
// the daemon, is wired here, at the top of the layers.
#include <iostream>
#include <memory>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "daemon/app/serve.h"
#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"

namespace {

void add_serve(CLI::App& app, treve::cli::Commands& commands) {
  auto path = std::make_shared<std::string>("/etc/treve/treve.toml");
  auto* c = app.add_subcommand("serve", "Run the daemon in the foreground");
  c->add_option("--config", *path, "Configuration file")->capture_default_str();
  commands.push_back({c, [path] { return treve::app::serve(*path); }});
}

}  // namespace

int main(int argc, char** argv) {
  using namespace treve;
  CLI::App app{"trêve: holds school notifications during quiet windows (droit à la déconnexion)"};
  app.require_subcommand(1);
  cli::Commands commands;
  add_serve(app, commands);
  cli::add_check_config(app, commands);
  cli::add_reload(app, commands);
  cli::add_explain(app, commands);
  cli::add_simulate(app, commands);
  cli::add_deliveries(app, commands);
  cli::add_dev_receiver(app, commands);
  cli::add_audit(app, commands);
  cli::add_report(app, commands);
  cli::add_admin(app, commands);
  cli::add_store(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Bad arguments exit 1 (0 for --help); for `audit verify`, whose 1 means "not intact",
    // they exit 2 like any other reason it could not verify.
    if (app.exit(e) == 0)
      return cli::kExitOk;
    const bool verifying = app.get_subcommand("audit")->get_subcommand("verify")->parsed();
    return verifying ? cli::kExitAuditUnverifiable : cli::kExitFailure;
  }
  std::ios::sync_with_stdio(false);
  const cli::Command* command = cli::parsed(commands);
  // What the store logs while a command uses it (a file's mode made private, a failed write)
  // goes to standard error, never into the command's output. `serve` sets up its own logger.
  if (command && command->app->get_name() != "serve")
    spdlog::set_default_logger(spdlog::stderr_logger_mt("treve-command"));
  return command ? command->run() : cli::kExitFailure;
}
