// How each subcommand of `treve` joins the command line: the file of cli/ that implements it
// declares its options on the CLI11 application and says what runs once it is parsed. main()
// is then a list of these calls (daemon/app/main.cpp).
#pragma once

#include <chrono>
#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace treve::cli {

struct Command {
  CLI::App* app;             // the subcommand, as CLI11 parsed it
  std::function<int()> run;  // its exit status, run with the process's standard streams
};
using Commands = std::vector<Command>;

// Each adds its subcommand (and any sub-subcommands) to `app` and to `commands`.
void add_check_config(CLI::App& app, Commands& commands);
void add_reload(CLI::App& app, Commands& commands);
void add_explain(CLI::App& app, Commands& commands);
void add_simulate(CLI::App& app, Commands& commands);
void add_deliveries(CLI::App& app, Commands& commands);
void add_dev_receiver(CLI::App& app, Commands& commands);
void add_audit(CLI::App& app, Commands& commands);
void add_report(CLI::App& app, Commands& commands);
void add_store(CLI::App& app, Commands& commands);
void add_admin(CLI::App& app, Commands& commands);

// The command whose subcommand was parsed, or null.
const Command* parsed(const Commands& commands);

// Wall-clock now, for the commands that ask about the present.
std::chrono::sys_time<std::chrono::milliseconds> wall_now();

}  // namespace treve::cli
