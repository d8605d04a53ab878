// `treve audit verify|export|find|stats`: the auditor's tools. They read the store through a
// read-only snapshot (audit::Trail), on the daemon's live database or on a copy, and never
// print a title, a payload or a raw recipient id: the audit table holds none.
#include <unistd.h>
#include <iostream>
#include <memory>

#include <array>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <CLI/CLI.hpp>

#include "daemon/audit/report.h"
#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/state_dir.h"
#include "policy/rfc3339.h"

namespace treve::cli {
namespace {

using audit::Expected;
using audit::utc_text;

struct Located {
  std::string db;
  std::string state_dir;                         // empty when given a database file
  std::shared_ptr<const config::Config> config;  // when read
};

Expected<Located> locate(const AuditLocation& where, std::ostream& err) {
  Located l;
  if (!where.db.empty()) {
    l.db = where.db;
    return l;
  }
  if (!where.state_dir.empty()) {
    l.state_dir = where.state_dir;
  } else {
    l.config = load_or_report(where.config_path, err);
    if (!l.config)
      return std::unexpected(where.config_path + ": the configuration is not valid");
    l.state_dir = l.config->server.state_dir;
  }
  l.db = store::database_path(l.state_dir);
  return l;
}

// The trail located: a PostgreSQL store when the configuration read names one, else the
// SQLite file.
Expected<std::unique_ptr<audit::Trail>> open_located(const Located& l) {
  if (l.config && l.config->store.backend == config::StoreConfig::Backend::postgresql)
    return audit::Trail::open_configured(*l.config);
  return audit::Trail::open(l.db);
}

Expected<std::unique_ptr<audit::Trail>> open_trail(const AuditLocation& where, std::ostream& err) {
  auto l = locate(where, err);
  if (!l)
    return std::unexpected(l.error());
  return open_located(*l);
}

// One record as export and find write it.
void write_record(std::ostream& out, std::string_view format, const store::AuditRecord& r) {
  if (format == "jsonl")
    out << boost::json::serialize(audit::to_json(r)) << '\n';
  else
    audit::write_csv(out, r);
}

void progress_bar(std::ostream& err, std::int64_t done, std::int64_t total) {
  constexpr int kWidth = 30;
  const double share = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int filled = static_cast<int>(share * kWidth);
  err << "\rverifying [" << std::string(static_cast<std::size_t>(filled), '#')
      << std::string(static_cast<std::size_t>(kWidth - filled), '.') << "] " << std::setw(3)
      << static_cast<int>(share * 100) << "% " << done << '/' << total << " records" << std::flush;
}

}  // namespace

int audit_verify(const AuditVerifyRequest& request, std::istream& in, std::ostream& out,
                 std::ostream& err) {
  audit::VerifyOptions options;
  options.from_seq = request.from;
  if (!request.heads_file.empty()) {
    if (request.heads_file == "-") {
      options.heads = audit::parse_heads(in);
    } else {
      std::ifstream log(request.heads_file);
      if (!log) {
        err << "--heads: cannot read " << request.heads_file << '\n';
        return kExitAuditUnverifiable;
      }
      options.heads = audit::parse_heads(log);
    }
    if (options.heads.empty()) {
      err << "--heads: " << request.heads_file
          << " has no line with \"event=audit.head seq=… hash=…\"\n";
      return kExitAuditUnverifiable;
    }
  }
  auto trail = open_trail(request.where, err);
  if (!trail) {
    err << trail.error() << '\n';
    return kExitAuditUnverifiable;
  }
  bool drew = false;
  if (request.progress) {
    options.progress = [&](std::int64_t done, std::int64_t total) {
      drew = true;
      progress_bar(err, done, total);
    };
  }
  Expected<audit::VerifyReport> report = std::unexpected(std::string());
  try {
    report = audit::verify(**trail, options);
  } catch (const std::exception& e) {
    report = std::unexpected(std::string(e.what()));
  }
  if (drew)
    err << '\n';
  if (!report) {
    err << (*trail)->path() << ": cannot verify: " << report.error() << '\n';
    return kExitAuditUnverifiable;
  }
  const audit::VerifyReport& r = *report;
  if (r.problem) {
    out << (*trail)->path() << ": the audit trail is NOT intact\n"
        << "record " << r.problem->seq << ": " << audit::to_string(r.problem->kind) << ": "
        << r.problem->message << '\n';
    // The bad record may be one already counted (an inserted one, or one rehashed after an
    // edit, is found by the record after it).
    const std::int64_t last_ok = std::min(r.last_seq, r.problem->seq - 1);
    if (r.records > 0 && last_ok >= r.first_seq) {
      out << "records " << r.first_seq << " to " << last_ok << " verified before it (" << r.anchor
          << ")\n";
    }
    return kExitAuditBroken;
  }
  out << (*trail)->path() << ": the audit trail is intact\n";
  if (r.records == 0) {
    out << "no records\n";
  } else {
    out << "records:  " << r.records << " (" << r.first_seq << " to " << r.last_seq << ")\n"
        << "period:   " << utc_text(r.first_at_ms) << " to " << utc_text(r.last_at_ms) << '\n'
        << "from:     " << r.anchor << '\n'
        << "head:     " << r.head << '\n';
  }
  if (options.heads.empty()) {
    out << "logged heads: none given; a consistent rewrite of the whole trail is caught only "
           "against the heads in the daemon's log (--heads)\n";
  } else {
    out << "logged heads: " << r.heads_matched << " matched";
    if (r.heads_before) {
      out << ", " << r.heads_before << " of records before record " << r.first_seq
          << (request.from > 0 ? " (not checked: --from)" : " (purged since)");
    }
    out << '\n';
  }
  return kExitOk;
}

int audit_export(const AuditExportRequest& request, std::ostream& out, std::ostream& err) {
  if (request.format != "csv" && request.format != "jsonl") {
    err << "--format: expected csv or jsonl, got \"" << request.format << "\"\n";
    return kExitFailure;
  }
  audit::Filter filter;
  filter.establishments = request.establishments;
  filter.kinds = request.kinds;
  auto valid = audit::apply_period(request.period, filter);
  if (valid)
    valid = audit::check_kinds(request.kinds);
  if (!valid) {
    err << valid.error() << '\n';
    return kExitFailure;
  }
  auto trail = open_trail(request.where, err);
  if (!trail) {
    err << trail.error() << '\n';
    return kExitFailure;
  }
  if (request.format == "csv")
    out << audit::kCsvHeader << '\n';
  std::int64_t n = 0;
  auto scanned = (*trail)->scan(filter, [&](const store::AuditRecord& r) {
    write_record(out, request.format, r);
    ++n;
    return static_cast<bool>(out);
  });
  out.flush();
  if (!scanned) {
    err << scanned.error() << '\n';
    return kExitFailure;
  }
  if (!out) {
    err << "cannot write the export\n";
    return kExitFailure;
  }
  err << n << " record(s) exported\n";
  return kExitOk;
}

int audit_find(const AuditFindRequest& request, std::ostream& out, std::ostream& err) {
  if (request.format != "text" && request.format != "csv" && request.format != "jsonl") {
    err << "--format: expected text, csv or jsonl, got \"" << request.format << "\"\n";
    return kExitFailure;
  }
  if (request.recipient.empty()) {
    err << "--recipient: must not be empty\n";
    return kExitFailure;
  }
  auto located = locate(request.where, err);
  if (!located) {
    err << located.error() << '\n';
    return kExitFailure;
  }
  std::string key_file = request.key_file;
  if (key_file.empty() && located->config && !located->config->server.pseudonym_key.empty())
    key_file = located->config->server.pseudonym_key;
  if (key_file.empty() && !located->state_dir.empty())
    key_file = located->state_dir + "/pseudonym.key";
  if (key_file.empty()) {
    err << "--key-file: needed with --db (the pseudonym key is kept apart from the database)\n";
    return kExitFailure;
  }
  auto key = store::load_or_create_key(key_file, false);
  if (!key) {
    err << "cannot read the pseudonym key " << key_file << ": " << key.error().message << '\n';
    return kExitFailure;
  }
  auto trail = open_located(*located);
  if (!trail) {
    err << trail.error() << '\n';
    return kExitFailure;
  }
  std::vector<std::string> sources = request.sources;
  if (sources.empty()) {
    auto all = (*trail)->sources();
    if (!all) {
      err << all.error() << '\n';
      return kExitFailure;
    }
    sources = *all;
  }
  store::Pseudonymizer pseudonyms(*key);
  audit::Filter filter;
  for (const std::string& source : sources) {
    filter.recipients.push_back(pseudonyms.pseudonym(source, request.recipient));
    if (request.format == "text") {
      out << "pseudonym at " << source << ": " << filter.recipients.back() << '\n';
    }
  }
  if (filter.recipients.empty()) {
    err << "the trail names no connector: nothing to look up\n";
    return kExitOk;
  }
  std::int64_t n = 0;
  if (request.format == "csv")
    out << audit::kCsvHeader << '\n';
  auto scanned = (*trail)->scan(filter, [&](const store::AuditRecord& r) {
    ++n;
    if (request.format != "text") {
      write_record(out, request.format, r);
      return true;
    }
    out << r.seq << "  " << r.at_local << "  " << r.kind << "  " << r.source << '/' << r.event_id
        << "  " << r.establishment << "  " << r.category << "  " << r.role << "  " << r.detail
        << '\n';
    return true;
  });
  if (!scanned) {
    err << scanned.error() << '\n';
    return kExitFailure;
  }
  err << n << " record(s) about this person\n";
  return kExitOk;
}

int audit_stats(const AuditStatsRequest& request, std::ostream& out, std::ostream& err) {
  if (request.format != "text" && request.format != "json" && request.format != "csv") {
    err << "--format: expected text, json or csv, got \"" << request.format << "\"\n";
    return kExitFailure;
  }
  auto trail = open_trail(request.where, err);
  if (!trail) {
    err << trail.error() << '\n';
    return kExitFailure;
  }
  auto stats = audit::compute_stats(**trail, request.period, request.establishments);
  if (!stats) {
    err << stats.error() << '\n';
    return kExitFailure;
  }
  if (request.format == "csv") {
    audit::write_csv(out, *stats);
    return kExitOk;
  }
  if (request.format == "json") {
    out << boost::json::serialize(audit::to_json(*stats)) << '\n';
    return kExitOk;
  }
  const auto total = [&](const char* k) { return stats->total(k); };
  const std::int64_t deliveries = stats->deliveries();
  const auto& by_category = stats->by_category;
  const auto& by_hour = stats->by_hour;
  const std::string from = request.period.from.empty() ? "the first record" : request.period.from;
  const std::string to = request.period.to.empty() ? "the last record" : request.period.to;
  out << "Audit statistics from " << from << " to " << to << " (" << request.period.timezone << ")";
  if (request.establishments.empty()) {
    out << ", all establishments\n";
  } else {
    out << ", establishment(s)";
    for (const auto& e : request.establishments)
      out << ' ' << e;
    out << '\n';
  }
  auto line = [&](std::string_view label, std::int64_t n) {
    out << "  " << std::left << std::setw(34) << label << std::right << std::setw(10) << n;
  };
  line("events received", total("received"));
  out << '\n';
  line("deliveries decided", deliveries);
  out << '\n';
  line("  held for a quiet time", total("held"));
  if (deliveries > 0) {
    out << "  (" << std::fixed << std::setprecision(1)
        << 100.0 * static_cast<double>(total("held")) / static_cast<double>(deliveries) << " %)";
  }
  out << '\n';
  line("  sent at once", total("sent_at_once"));
  out << '\n';
  line("  urgent, sent at once (bypass)", total("bypassed"));
  out << '\n';
  for (auto [label, kind] : {std::pair{"urgent bypass refused", "bypass_refused"},
                             {"released after a hold", "released"},
                             {"retracted while held", "retracted"},
                             {"delivered", "delivered"},
                             {"failed attempts, retried", "retrying"},
                             {"dead-lettered", "dead_lettered"},
                             {"replayed", "replayed"},
                             {"configuration changes", "config_changed"},
                             {"held deliveries re-planned", "replanned"},
                             {"held again before being sent", "held_again"},
                             {"policy changes (admin API)", "policy_changed"},
                             {"admin requests refused", "access_refused"},
                             {"crises opened", "crisis_opened"},
                             {"crises extended", "crisis_extended"},
                             {"crises closed", "crisis_closed"},
                             {"purges", "purged"},
                             {"personal quiet hours set", "preferences_set"},
                             {"personal quiet hours deleted", "preferences_deleted"},
                             {"personal quiet hours purged (unused)", "preferences_purged"},
                             {"events awaiting the directory", "awaiting_directory"},
                             {"events resolved by the directory", "resolved"},
                             {"checkpoints", "checkpoint"}}) {
    line(label, total(kind));
    out << '\n';
  }
  const std::array<std::pair<const char*, const char*>, 5> columns = {{{"received", "received"},
                                                                       {"held", "held"},
                                                                       {"at once", "sent_at_once"},
                                                                       {"released", "released"},
                                                                       {"delivered", "delivered"}}};
  auto header = [&](std::string_view first) {
    out << '\n' << "  " << std::left << std::setw(10) << first << std::right;
    for (const auto& [label, kind] : columns)
      out << std::setw(11) << label;
    out << '\n';
  };
  auto row = [&](std::string_view first, const std::map<std::string, std::int64_t>& m) {
    out << "  " << std::left << std::setw(10) << first << std::right;
    for (const auto& [label, kind] : columns) {
      auto it = m.find(kind);
      out << std::setw(11) << (it == m.end() ? 0 : it->second);
    }
    out << '\n';
  };
  header("category");
  for (const auto& [cat, m] : by_category)
    row(cat, m);
  header("hour");
  for (std::size_t h = 0; h < 24; ++h) {
    std::ostringstream label;
    label << std::setw(2) << std::setfill('0') << h << ":00";
    row(label.str(), by_hour[h]);
  }
  out << "  (hours are local to each establishment)\n";
  return kExitOk;
}

void add_audit(CLI::App& app, Commands& commands) {
  struct Options {
    AuditLocation where;
    AuditVerifyRequest verify;
    AuditExportRequest export_;
    AuditFindRequest find;
    AuditStatsRequest stats;
  };
  auto o = std::make_shared<Options>();
  auto* audit = app.add_subcommand("audit", "Verify, export, search and count the audit trail");
  audit->require_subcommand(1);
  auto locate = [o](CLI::App* c) {
    c->add_option("--config", o->where.config_path, "Configuration file (for its state_dir)")
        ->capture_default_str();
    c->add_option("--state-dir", o->where.state_dir, "The daemon's state directory");
    c->add_option("--db", o->where.db, "A database file (such as an auditor's copy)");
  };
  auto period = [](CLI::App* c, AuditPeriod& p, bool required) {
    auto* from = c->add_option("--from", p.from, "First day (YYYY-MM-DD) or RFC 3339 instant");
    auto* to = c->add_option("--to", p.to, "Last day, included, or RFC 3339 instant (excluded)");
    if (required) {
      from->required();
      to->required();
    }
    c->add_option("--timezone", p.timezone, "Time zone of the days")->capture_default_str();
  };
  auto* verify = audit->add_subcommand("verify", "Check the hash chain; exit 1 if not intact");
  locate(verify);
  verify->add_option("--from", o->verify.from, "Start at this record, trusting its prev_hash");
  verify->add_option("--heads", o->verify.heads_file,
                     "The daemon's log, to check the chain heads it wrote (\"-\": stdin)");
  auto* exp = audit->add_subcommand("export", "Write records of a period as CSV or JSON lines");
  locate(exp);
  period(exp, o->export_.period, true);
  exp->add_option("--establishment", o->export_.establishments, "UAI (repeatable)");
  exp->add_option("--kind", o->export_.kinds, "Record kind (repeatable)");
  exp->add_option("--format", o->export_.format, "csv or jsonl")->capture_default_str();
  auto* find = audit->add_subcommand("find", "List the records about one person");
  locate(find);
  find->add_option("--recipient", o->find.recipient, "The person's id at the connector")
      ->required();
  find->add_option("--source", o->find.sources, "Connector (repeatable; default: all)");
  find->add_option("--key-file", o->find.key_file, "The pseudonym key");
  find->add_option("--format", o->find.format, "text, csv or jsonl")->capture_default_str();
  auto* stats = audit->add_subcommand("stats", "Count records by kind, category and hour");
  locate(stats);
  period(stats, o->stats.period, false);
  stats->add_option("--establishment", o->stats.establishments, "UAI (repeatable)");
  stats->add_option("--format", o->stats.format, "text, json or csv")->capture_default_str();

  commands.push_back({verify, [o] {
                        o->verify.where = o->where;
                        o->verify.progress = ::isatty(STDERR_FILENO) == 1;
                        return audit_verify(o->verify, std::cin, std::cout, std::cerr);
                      }});
  commands.push_back({exp, [o] {
                        o->export_.where = o->where;
                        return audit_export(o->export_, std::cout, std::cerr);
                      }});
  commands.push_back({find, [o] {
                        o->find.where = o->where;
                        return audit_find(o->find, std::cout, std::cerr);
                      }});
  commands.push_back({stats, [o] {
                        o->stats.where = o->where;
                        return audit_stats(o->stats, std::cout, std::cerr);
                      }});
}

}  // namespace treve::cli
