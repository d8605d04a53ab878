// `treve`: the one binary. Parses the command line and hands over to a subcommand.
#include <chrono>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "daemon/cli/commands.h"
#include "daemon/service/serve.h"

int main(int argc, char** argv) {
  using namespace treve;
  CLI::App app{"trêve: holds school notifications during quiet windows (droit à la déconnexion)"};
  app.require_subcommand(1);
  std::string config_path = "/etc/treve/treve.toml";

  auto* serve = app.add_subcommand("serve", "Run the daemon in the foreground");
  serve->add_option("--config", config_path, "Configuration file")->capture_default_str();

  auto* check = app.add_subcommand("check-config", "Validate a configuration file");
  check->add_option("--config", config_path, "Configuration file")->capture_default_str();

  cli::ExplainRequest req;
  auto* explain = app.add_subcommand(
      "explain", "Say whether a notification received at an instant is held, until when, and why");
  explain->add_option("--config", config_path, "Configuration file")->capture_default_str();
  explain->add_option("--establishment", req.establishment, "UAI of the establishment")->required();
  explain->add_option("--category", req.category, "message, grade, homework, ...")->required();
  explain->add_option("--role", req.role, "student, parent or staff")->required();
  explain->add_option("--at", req.at, "Reception instant, RFC 3339 (default: now)");
  explain->add_option("--source", req.source, "Connector name (needed with --urgent)");
  explain->add_flag("--urgent", req.urgent, "The event is marked urgent");
  explain->add_flag("--json", req.json, "Print one JSON object");

  std::string events_path;
  auto* simulate = app.add_subcommand(
      "simulate",
      "Print the deliveries of canonical events (NDJSON with received_at) in release order");
  simulate->add_option("--config", config_path, "Configuration file")->capture_default_str();
  simulate->add_option("--events", events_path, "NDJSON file (default: standard input)");

  CLI11_PARSE(app, argc, argv);

  std::ios::sync_with_stdio(false);
  if (*serve)
    return service::serve(config_path);
  if (*check)
    return cli::check_config(config_path, std::cout, std::cerr);

  auto config = cli::load_or_report(config_path, std::cerr);
  if (!config)
    return cli::kExitFailure;
  if (*explain) {
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return cli::explain(*config, req, now, std::cout, std::cerr);
  }
  if (*simulate) {
    if (events_path.empty())
      return cli::simulate(*config, std::cin, std::cout, std::cerr);
    std::ifstream in(events_path);
    if (!in) {
      std::cerr << events_path << ": cannot read the events file\n";
      return cli::kExitFailure;
    }
    return cli::simulate(*config, in, std::cout, std::cerr);
  }
  return cli::kExitFailure;
}
