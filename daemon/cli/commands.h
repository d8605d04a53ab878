// The offline subcommands of `treve`, as functions from arguments and streams to an exit
// status, so that tests run them without spawning a process. main.cpp only parses arguments.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include "daemon/audit/report.h"
#include "daemon/config/config.h"
#include "daemon/store/preference_store.h"

namespace treve::cli {

// Exit statuses shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // bad configuration, bad arguments, I/O error
inline constexpr int kExitLinesSkipped = 2;  // simulate: some input lines were invalid

// Prints every configuration error as FILE:LINE: key: message to `err`; 0 when valid.
int check_config(const std::string& path, std::ostream& out, std::ostream& err);

// Validates the configuration as check-config does; if valid, sends SIGHUP to the daemon
// whose pid is in `state_dir`/treve.pid. Invalid: the errors, and nothing is signalled.
int reload(const std::string& path, std::ostream& out, std::ostream& err);

struct ExplainRequest {
  std::string establishment;
  std::string category;
  std::string role;
  std::optional<std::string> at;      // RFC 3339; absent: `now`
  std::optional<std::string> source;  // a configured connector: for urgent events, and `user`
  bool urgent = false;
  bool json = false;
  // The recipient's other establishments (UAIs): held under the strictest of all.
  std::vector<std::string> also;
  // A user id, looked up through the directory of connector `source`: their role, their
  // establishment (`establishment` if given, which must be theirs) and their other ones come
  // from it. Without it, `establishment` and `role` are required.
  std::optional<std::string> user;
  // A recipient id as connector `source` sends it, without asking a directory: their own quiet
  // hours apply (as they do with `user`); role and establishment from `role`, `establishment`.
  std::optional<std::string> recipient;
};
// With `user`, the lookup is made here, by a directory client of its own (no cache shared with
// the daemon), waiting at most about the directory's timeout. With `user` or `recipient`, the
// recipient's own quiet hours are read from the store read-only, by their pseudonym.
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

// Where the audit commands find the store: `db` (an auditor's copy) if given, else
// `state_dir`/treve.db, else the state_dir of the configuration file.
struct AuditLocation {
  std::string config_path = "/etc/treve/treve.toml";
  std::string state_dir;
  std::string db;
};

// `treve audit verify`: exit statuses.
inline constexpr int kExitAuditBroken = 1;        // the trail is not intact
inline constexpr int kExitAuditUnverifiable = 2;  // it could not be read at all

struct AuditVerifyRequest {
  AuditLocation where;
  std::int64_t from = 0;   // start at this record, trusting its prev_hash
  std::string heads_file;  // the daemon's log ("-": standard input)
  bool progress = false;   // a progress bar on `err`
};
int audit_verify(const AuditVerifyRequest& request, std::istream& in, std::ostream& out,
                 std::ostream& err);

using AuditPeriod = audit::Period;

struct AuditExportRequest {
  AuditLocation where;
  AuditPeriod period;
  std::vector<std::string> establishments;
  std::vector<std::string> kinds;
  std::string format = "csv";  // csv | jsonl
};
int audit_export(const AuditExportRequest& request, std::ostream& out, std::ostream& err);

struct AuditFindRequest {
  AuditLocation where;
  std::string recipient;             // the person's id at the connector
  std::vector<std::string> sources;  // connectors; empty: every connector in the trail
  std::string key_file;              // empty: the configured key, else state_dir's
  std::string format = "text";       // text | csv | jsonl
};
int audit_find(const AuditFindRequest& request, std::ostream& out, std::ostream& err);

struct AuditStatsRequest {
  AuditLocation where;
  AuditPeriod period;
  std::vector<std::string> establishments;
  std::string format = "text";  // text | json | csv
};
int audit_stats(const AuditStatsRequest& request, std::ostream& out, std::ostream& err);

// `treve report`: the report to the conseil d'administration of one establishment over whole
// local days, as self-contained HTML (to `out`, or to `output`) or as PDF printed by `chromium`
// run headless (`output` required). `now` is written as the report's generation instant.
struct ReportRequest {
  std::string establishment;
  std::string from;             // YYYY-MM-DD
  std::string to;               // YYYY-MM-DD, included
  std::string format = "html";  // html | pdf
  std::string output;
  std::string chromium = "/usr/bin/chromium";
};
int report(const config::Config& config, const ReportRequest& request, policy::Instant now,
           std::ostream& out, std::ostream& err);

// One request to the admin API (docs/admin-api.md) through the admin listener named by
// `address` ("127.0.0.1:2008", "unix:/run/treve/admin.sock"; empty: server.admin_listen of
// the configuration). The token comes from `token_file`, else TREVE_ADMIN_TOKEN. Prints the
// JSON answer indented; a refusal or an error on standard error, exit 1.
struct AdminCall {
  std::string config_path = "/etc/treve/treve.toml";
  std::string address;
  std::string token_file;
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;
  std::string body;
  std::string content_type = "application/json";
  // TLS (docs/admin-api.md, "From a terminal"): trust `ca_file` (the certificate's name is then
  // checked against the address), or else the chain the configuration names for the admin
  // listener, as it is; `client_certificate` and `client_key` when it asks for one.
  std::string ca_file;
  std::string client_certificate;
  std::string client_key;
};
int admin_call(const AdminCall& call, std::ostream& out, std::ostream& err);

// The configuration in force as the daemon has it: the file, plus the policies saved through
// the admin API in the store of its state_dir (read-only: a running daemon is not blocked),
// when there is one. `explain` and `simulate` answer with it. Errors printed; null on failure.
std::shared_ptr<const config::Config> load_in_force_or_report(const std::string& path,
                                                              std::ostream& err);

// The recipients' own quiet hours as the store of `config` holds them (the SQLite file read
// without writing, or the PostgreSQL store), for `explain`. No store yet: none.
store::Result<std::vector<store::StoredPreference>> stored_preferences(
    const config::Config& config);

// Loads the configuration for a subcommand; prints the errors and returns null on failure.
// Warnings (such as ignored timed events of an .ics file) are left to check-config.
std::shared_ptr<const config::Config> load_or_report(const std::string& path, std::ostream& err);

}  // namespace treve::cli
