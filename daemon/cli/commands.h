// The offline subcommands of `treve`, as functions from arguments and streams to an exit
// status, so that tests run them without spawning a process. main.cpp only parses arguments.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/config.h"

namespace treve::cli {

// Exit statuses shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // bad configuration, bad arguments, I/O error
inline constexpr int kExitLinesSkipped = 2;  // simulate: some input lines were invalid

// Prints every configuration error as FILE:LINE: key: message to `err`; 0 when valid.
int check_config(const std::string& path, std::ostream& out, std::ostream& err);

struct ExplainRequest {
  std::string establishment;
  std::string category;
  std::string role;
  std::optional<std::string> at;      // RFC 3339; absent: `now`
  std::optional<std::string> source;  // a configured connector, for urgent events
  bool urgent = false;
  bool json = false;
};
int explain(const config::Config& config, const ExplainRequest& request, policy::Instant now,
            std::ostream& out, std::ostream& err);

// Reads canonical events with "received_at" (NDJSON) from `in`, prints the deliveries in
// release order (ties: input order, then recipient order) to `out`, one JSON object per line.
// Invalid lines are reported on `err` with their line number and skipped.
int simulate(const config::Config& config, std::istream& in, std::ostream& out, std::ostream& err);

struct DeliveriesListRequest {
  std::string state = "dead";
  std::size_t limit = 100;
  bool json = false;
};
// Lists the deliveries in a state, in receipt order, from the store under state_dir (works
// while the daemon runs).
int deliveries_list(const config::Config& config, const DeliveriesListRequest& request,
                    std::ostream& out, std::ostream& err);

struct DeliveriesReplayRequest {
  std::vector<std::int64_t> seqs;  // the deliveries' sequence numbers, as `list` shows them
  bool all = false;                // every dead delivery
};
// Makes dead deliveries due again, audited; a running daemon picks them up within a second.
int deliveries_replay(const config::Config& config, const DeliveriesReplayRequest& request,
                      policy::Instant now, std::ostream& out, std::ostream& err);

struct DevReceiverRequest {
  std::string listen = "127.0.0.1:2009";
  std::string secret;  // "whsec_…": signatures are checked when given
  int status = 200;    // the answer to every request
};
// A webhook receiver for trying trêve out: prints each delivery and whether its signature
// verifies, answers `status`. Runs until SIGINT/SIGTERM.
int dev_receiver(const DevReceiverRequest& request, std::ostream& out, std::ostream& err);

// Loads the configuration for a subcommand; prints the errors and returns null on failure.
// Warnings (such as ignored timed events of an .ics file) are left to check-config.
std::shared_ptr<const config::Config> load_or_report(const std::string& path, std::ostream& err);

}  // namespace treve::cli
