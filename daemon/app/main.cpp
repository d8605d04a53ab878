// `treve`: the one binary. Parses the command line and hands over to a subcommand.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "daemon/app/serve.h"
#include "daemon/cli/commands.h"
#include "daemon/core/json_text.h"

int main(int argc, char** argv) {
  using namespace treve;
  CLI::App app{"trêve: holds school notifications during quiet windows (droit à la déconnexion)"};
  app.require_subcommand(1);
  std::string config_path = "/etc/treve/treve.toml";

  auto* serve = app.add_subcommand("serve", "Run the daemon in the foreground");
  serve->add_option("--config", config_path, "Configuration file")->capture_default_str();

  auto* check = app.add_subcommand("check-config", "Validate a configuration file");
  check->add_option("--config", config_path, "Configuration file")->capture_default_str();

  auto* reload = app.add_subcommand(
      "reload", "Validate the configuration, then have the running daemon reload it (SIGHUP)");
  reload->add_option("--config", config_path, "Configuration file")->capture_default_str();

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

  auto* deliveries =
      app.add_subcommand("deliveries", "See deliveries in a state; replay dead ones");
  deliveries->require_subcommand(1);
  cli::DeliveriesListRequest list_req;
  auto* list = deliveries->add_subcommand("list", "List deliveries in a state, in receipt order");
  list->add_option("--config", config_path, "Configuration file")->capture_default_str();
  list->add_option("--state", list_req.state, "held, due, retrying, delivered, dead, retracted")
      ->capture_default_str();
  list->add_option("--limit", list_req.limit, "At most this many")->capture_default_str();
  list->add_flag("--json", list_req.json, "One JSON object per line");
  cli::DeliveriesReplayRequest replay_req;
  auto* replay = deliveries->add_subcommand("replay", "Send dead deliveries again");
  replay->add_option("--config", config_path, "Configuration file")->capture_default_str();
  replay->add_option("--seq", replay_req.seqs, "Sequence number of a dead delivery (repeatable)");
  replay->add_flag("--all", replay_req.all, "Every dead delivery");

  cli::DevReceiverRequest receiver_req;
  std::string receiver_secret_file;
  auto* receiver = app.add_subcommand(
      "dev-receiver", "A webhook receiver that prints what it gets (to try trêve out)");
  receiver->add_option("--listen", receiver_req.listen, "HOST:PORT")->capture_default_str();
  receiver->add_option("--secret-file", receiver_secret_file,
                       "The sink's secret file: check signatures");
  receiver->add_option("--status", receiver_req.status, "HTTP status to answer")
      ->capture_default_str()
      ->check(CLI::Range(200, 599));

  auto* audit = app.add_subcommand("audit", "Verify, export, search and count the audit trail");
  audit->require_subcommand(1);
  cli::AuditLocation where;
  auto locate = [&](CLI::App* c) {
    c->add_option("--config", where.config_path, "Configuration file (for its state_dir)")
        ->capture_default_str();
    c->add_option("--state-dir", where.state_dir, "The daemon's state directory");
    c->add_option("--db", where.db, "A database file (such as an auditor's copy)");
  };
  auto period = [](CLI::App* c, cli::AuditPeriod& p, bool required) {
    auto* from = c->add_option("--from", p.from, "First day (YYYY-MM-DD) or RFC 3339 instant");
    auto* to = c->add_option("--to", p.to, "Last day, included, or RFC 3339 instant (excluded)");
    if (required) {
      from->required();
      to->required();
    }
    c->add_option("--timezone", p.timezone, "Time zone of the days")->capture_default_str();
  };
  cli::AuditVerifyRequest verify_req;
  auto* verify = audit->add_subcommand("verify", "Check the hash chain; exit 1 if not intact");
  locate(verify);
  verify->add_option("--from", verify_req.from, "Start at this record, trusting its prev_hash");
  verify->add_option("--heads", verify_req.heads_file,
                     "The daemon's log, to check the chain heads it wrote (\"-\": stdin)");
  cli::AuditExportRequest export_req;
  auto* exp = audit->add_subcommand("export", "Write records of a period as CSV or JSON lines");
  locate(exp);
  period(exp, export_req.period, true);
  exp->add_option("--establishment", export_req.establishments, "UAI (repeatable)");
  exp->add_option("--kind", export_req.kinds, "Record kind (repeatable)");
  exp->add_option("--format", export_req.format, "csv or jsonl")->capture_default_str();
  cli::AuditFindRequest find_req;
  auto* find = audit->add_subcommand("find", "List the records about one person");
  locate(find);
  find->add_option("--recipient", find_req.recipient, "The person's id at the connector")
      ->required();
  find->add_option("--source", find_req.sources, "Connector (repeatable; default: all)");
  find->add_option("--key-file", find_req.key_file, "The pseudonym key");
  find->add_option("--format", find_req.format, "text, csv or jsonl")->capture_default_str();
  cli::AuditStatsRequest stats_req;
  auto* stats = audit->add_subcommand("stats", "Count records by kind, category and hour");
  locate(stats);
  period(stats, stats_req.period, false);
  stats->add_option("--establishment", stats_req.establishments, "UAI (repeatable)");
  stats->add_option("--format", stats_req.format, "text, json or csv")->capture_default_str();

  // `treve admin …`: the admin API from a terminal.
  auto* admin = app.add_subcommand("admin", "Call the admin API (docs/admin-api.md)");
  admin->require_subcommand(1);
  cli::AdminCall admin_req;
  admin->add_option("--config", admin_req.config_path, "Configuration file (admin_listen)")
      ->capture_default_str();
  admin->add_option("--admin", admin_req.address, "HOST:PORT or unix:/PATH of the admin API");
  admin->add_option("--token-file", admin_req.token_file,
                    "File holding the admin's token (default: $TREVE_ADMIN_TOKEN)");
  std::string a_uai, a_file, a_comment, a_at, a_category = "message", a_role = "student";
  std::string a_from, a_to, a_kind, a_format = "json";
  std::int64_t a_version = 0;
  std::optional<std::int64_t> a_expected;
  bool a_confirm = false;
  std::vector<std::int64_t> a_seqs;
  auto uai_opt = [&](CLI::App* c, bool required) {
    auto* o = c->add_option("--establishment", a_uai, "UAI");
    if (required)
      o->required();
  };
  auto* a_me = admin->add_subcommand("me", "Who the token is, and its establishments");
  auto* a_policy = admin->add_subcommand("policy", "Read or change an establishment's policy");
  a_policy->require_subcommand(1);
  auto* a_get = a_policy->add_subcommand("get", "The policy, and what is in force");
  uai_opt(a_get, true);
  auto* a_set = a_policy->add_subcommand("set", "Save a new version (JSON file of the policy)");
  uai_opt(a_set, true);
  a_set->add_option("--file", a_file, "The policy as a JSON object (\"-\": stdin)")->required();
  a_set->add_option("--comment", a_comment, "Why it changes")->required();
  a_set->add_option("--expected-version", a_expected, "Refuse if another version was saved");
  a_set->add_flag("--confirm-weaker", a_confirm, "Accept a policy weaker than the national one");
  auto* a_versions = admin->add_subcommand("versions", "The versions of a policy");
  uai_opt(a_versions, true);
  auto* a_rollback = admin->add_subcommand("rollback", "Restore an earlier version");
  uai_opt(a_rollback, true);
  a_rollback->add_option("--version", a_version, "The version to restore")->required();
  a_rollback->add_option("--comment", a_comment, "Why")->required();
  a_rollback->add_flag("--confirm-weaker", a_confirm, "Accept a weaker policy");
  auto* a_preview = admin->add_subcommand("preview", "When a notification would arrive");
  uai_opt(a_preview, true);
  a_preview->add_option("--at", a_at, "RFC 3339 instant (default: now)");
  a_preview->add_option("--category", a_category, "Category")->capture_default_str();
  a_preview->add_option("--role", a_role, "student, parent or staff")->capture_default_str();
  a_preview->add_option("--file", a_file, "A draft policy (JSON) instead of the one in force");
  auto* a_ics = admin->add_subcommand("import-ics", "Closed days of an iCalendar file");
  uai_opt(a_ics, true);
  a_ics->add_option("--file", a_file, "The .ics file")->required();
  auto* a_queue = admin->add_subcommand("queue", "Held deliveries of an establishment");
  uai_opt(a_queue, true);
  auto* a_dead = admin->add_subcommand("dead-letters", "Deliveries that could not be sent");
  uai_opt(a_dead, false);
  auto* a_replay = admin->add_subcommand("replay", "Send dead letters again");
  a_replay->add_option("--seq", a_seqs, "A dead letter's seq (repeatable)")->required();
  auto* a_audit = admin->add_subcommand("audit", "The release log");
  auto* a_stats = admin->add_subcommand("stats", "Counts for the conseil d'administration");
  for (auto* c : {a_audit, a_stats}) {
    uai_opt(c, false);
    c->add_option("--from", a_from, "First day (YYYY-MM-DD) or instant");
    c->add_option("--to", a_to, "Last day or instant");
    c->add_option("--format", a_format, "json or csv")->capture_default_str();
  }
  a_audit->add_option("--kind", a_kind, "Record kind");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Bad arguments exit 1 (0 for --help); for `audit verify`, whose 1 means "not intact",
    // they exit 2 like any other reason it could not verify.
    if (app.exit(e) == 0)
      return cli::kExitOk;
    return verify->parsed() ? cli::kExitAuditUnverifiable : cli::kExitFailure;
  }

  std::ios::sync_with_stdio(false);
  if (*serve)
    return app::serve(config_path);
  // What the store logs while a command uses it (a file's mode made private, a failed write)
  // goes to standard error, never into the command's output.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("treve-command"));
  if (*check)
    return cli::check_config(config_path, std::cout, std::cerr);
  if (*reload)
    return cli::reload(config_path, std::cout, std::cerr);
  if (*admin) {
    namespace bhttp = boost::beast::http;
    auto read_all = [](const std::string& path) {
      std::ostringstream s;
      if (path == "-") {
        s << std::cin.rdbuf();
      } else {
        std::ifstream in(path, std::ios::binary);
        if (!in)
          return std::optional<std::string>{};
        s << in.rdbuf();
      }
      return std::optional<std::string>{s.str()};
    };
    const std::string base = "/v1/admin/establishments/" + a_uai + "/";
    auto query = [&](std::string target) {
      char sep = '?';
      for (const auto& [k, v] : {std::pair{"establishment", a_uai},
                                 {"from", a_from},
                                 {"to", a_to},
                                 {"kind", a_kind},
                                 {"format", a_format}}) {
        if (!v.empty()) {
          std::string encoded;
          for (unsigned char ch : v) {
            if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == ':') {
              encoded += static_cast<char>(ch);
            } else {
              char hex[4];
              std::snprintf(hex, sizeof hex, "%%%02X", ch);
              encoded += hex;
            }
          }
          target += sep + std::string(k) + "=" + encoded;
          sep = '&';
        }
      }
      return target;
    };
    if (*a_me) {
      admin_req.target = "/v1/admin/me";
    } else if (*a_get) {
      admin_req.target = base + "policy";
    } else if (*a_set) {
      auto policy = read_all(a_file);
      if (!policy) {
        std::cerr << a_file << ": cannot read\n";
        return cli::kExitFailure;
      }
      admin_req.method = bhttp::verb::put;
      admin_req.target = base + "policy";
      admin_req.body = "{\"policy\":" + *policy + ",\"comment\":" + core::json_quote(a_comment) +
                       ",\"confirm_weaker\":" + (a_confirm ? "true" : "false") +
                       (a_expected ? ",\"expected_version\":" + std::to_string(*a_expected) : "") +
                       "}";
    } else if (*a_versions) {
      admin_req.target = base + "versions";
    } else if (*a_rollback) {
      admin_req.method = bhttp::verb::post;
      admin_req.target = base + "rollback";
      admin_req.body = "{\"version\":" + std::to_string(a_version) +
                       ",\"comment\":" + core::json_quote(a_comment) +
                       ",\"confirm_weaker\":" + (a_confirm ? "true" : "false") + "}";
    } else if (*a_preview) {
      admin_req.method = bhttp::verb::post;
      admin_req.target = base + "preview";
      std::string body =
          "{\"category\":" + core::json_quote(a_category) + ",\"role\":" + core::json_quote(a_role);
      if (!a_at.empty())
        body += ",\"at\":" + core::json_quote(a_at);
      if (!a_file.empty()) {
        auto draft = read_all(a_file);
        if (!draft) {
          std::cerr << a_file << ": cannot read\n";
          return cli::kExitFailure;
        }
        body += ",\"policy\":" + *draft;
      }
      admin_req.body = body + "}";
    } else if (*a_ics) {
      auto text = read_all(a_file);
      if (!text) {
        std::cerr << a_file << ": cannot read\n";
        return cli::kExitFailure;
      }
      admin_req.method = bhttp::verb::post;
      admin_req.target = base + "ics";
      admin_req.body = *text;
      admin_req.content_type = "text/calendar";
    } else if (*a_queue) {
      admin_req.target = "/v1/admin/queue?establishment=" + a_uai;
    } else if (*a_dead) {
      admin_req.target = a_uai.empty() ? "/v1/admin/dead-letters"
                                       : "/v1/admin/dead-letters?establishment=" + a_uai;
    } else if (*a_replay) {
      admin_req.method = bhttp::verb::post;
      admin_req.target = "/v1/admin/dead-letters/replay";
      std::string seqs;
      for (auto s : a_seqs)
        seqs += (seqs.empty() ? "" : ",") + std::to_string(s);
      admin_req.body = "{\"seqs\":[" + seqs + "]}";
    } else if (*a_audit) {
      admin_req.target = query("/v1/admin/audit");
    } else if (*a_stats) {
      admin_req.target = query("/v1/admin/stats");
    }
    return cli::admin_call(admin_req, std::cout, std::cerr);
  }
  if (*verify) {
    verify_req.where = where;
    verify_req.progress = ::isatty(STDERR_FILENO) == 1;
    return cli::audit_verify(verify_req, std::cin, std::cout, std::cerr);
  }
  if (*exp) {
    export_req.where = where;
    return cli::audit_export(export_req, std::cout, std::cerr);
  }
  if (*find) {
    find_req.where = where;
    return cli::audit_find(find_req, std::cout, std::cerr);
  }
  if (*stats) {
    stats_req.where = where;
    return cli::audit_stats(stats_req, std::cout, std::cerr);
  }
  if (*receiver) {
    if (!receiver_secret_file.empty()) {
      std::ifstream in(receiver_secret_file);
      if (!in || !std::getline(in, receiver_req.secret)) {
        std::cerr << receiver_secret_file << ": cannot read the secret file\n";
        return cli::kExitFailure;
      }
      while (!receiver_req.secret.empty() &&
             (receiver_req.secret.back() == '\r' || receiver_req.secret.back() == ' '))
        receiver_req.secret.pop_back();
    }
    return cli::dev_receiver(receiver_req, std::cout, std::cerr);
  }

  auto config = cli::load_or_report(config_path, std::cerr);
  if (!config)
    return cli::kExitFailure;
  auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  if (*explain)
    return cli::explain(*config, req, now, std::cout, std::cerr);
  if (*list)
    return cli::deliveries_list(*config, list_req, std::cout, std::cerr);
  if (*replay)
    return cli::deliveries_replay(*config, replay_req, now, std::cout, std::cerr);
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
