#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <CLI/CLI.hpp>

#include "adapters/inbound/preferences.h"
#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/core/clock.h"
#include "daemon/directory/directory_client.h"
#include "daemon/runtime/directory_events.h"
#include "daemon/store/in_force.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/state_dir.h"
#include "policy/decision.h"
#include "policy/rfc3339.h"
#include "policy/strictest.h"

namespace treve::cli {

namespace {

// Who `id` is per directory `d`, asked for connector `source`: a client of its own on an
// io_context run here until it answers (the client's timeout bounds each request; the wait is
// bounded too, in case).
directory::UserAnswer look_up(const config::Directory& d, const std::string& source,
                              const std::string& id) {
  boost::asio::io_context ioc;
  core::SystemClock clock;
  std::optional<directory::UserAnswer> got;
  {
    directory::DirectoryClient client(ioc, d, clock);
    client.lookup(source, {id}, [&](std::vector<directory::UserAnswer> answers) {
      got = answers.empty() ? directory::UserAnswer{} : std::move(answers.front());
      ioc.stop();
    });
    ioc.run_for(d.timeout + std::chrono::seconds(2));
  }
  if (!got) {
    directory::UserAnswer none;
    none.error = "no answer within " + std::to_string(d.timeout.count()) + " ms";
    return none;
  }
  return std::move(*got);
}

// The own quiet hours of `recipient` at connector `source`, as the daemon holds them: read from
// the store under the configuration's state directory without writing, through the pseudonym
// key. None set: null. Unreadable store or key: null, with a warning on `err` (the answer is
// then the school's alone, and says so).
std::shared_ptr<const policy::PersonalHours> own_hours(const config::Config& config,
                                                       const std::string& source,
                                                       const std::string& recipient,
                                                       std::ostream& err) {
  auto stored = stored_preferences(config);
  if (!stored) {
    err << "warning: cannot read the recipients' own quiet hours (" << stored.error().message
        << "): answering without them\n";
    return nullptr;
  }
  if (std::none_of(stored->begin(), stored->end(),
                   [&](const store::StoredPreference& p) { return p.source == source; }))
    return nullptr;
  const std::string key_file = store::pseudonym_key_path(config);
  auto key = store::load_or_create_key(key_file, false);
  if (!key) {
    err << "warning: cannot read the pseudonym key " << key_file << " (" << key.error().message
        << "): answering without the recipient's own quiet hours\n";
    return nullptr;
  }
  const std::string pseudonym = store::Pseudonymizer(*key).pseudonym(source, recipient);
  for (const store::StoredPreference& p : *stored) {
    if (p.source != source || p.recipient != pseudonym)
      continue;
    // Read as the daemon reads them (runtime::Preferences::load).
    auto windows = adapters::windows_from_json(p.quiet);
    if (windows.empty())
      return nullptr;
    return std::make_shared<const policy::PersonalHours>(std::move(windows));
  }
  return nullptr;
}

// "0211234A", "0211234A and 0219999Z", "0211234A, 0219999Z and 0750654D".
std::string listed(const std::string& first, const std::vector<std::string>& others) {
  std::string out = first;
  for (std::size_t i = 0; i < others.size(); ++i)
    out += (i + 1 == others.size() ? " and " : ", ") + others[i];
  return out;
}

}  // namespace

int explain(const config::Config& config, const ExplainRequest& req, policy::Instant now,
            std::ostream& out, std::ostream& err) {
  if (!req.user) {
    if (req.establishment.empty()) {
      err << "--establishment is required (or --user with --source, to ask the directory)\n";
      return kExitFailure;
    }
    if (req.role.empty()) {
      err << "--role is required (or --user with --source, to ask the directory)\n";
      return kExitFailure;
    }
  } else if (!req.role.empty()) {
    err << "--role: with --user, the role comes from the directory\n";
    return kExitFailure;
  }
  std::optional<policy::Uai> asked_uai;
  if (!req.establishment.empty()) {
    auto parsed = policy::parse_uai(req.establishment);
    if (!parsed) {
      err << "--establishment: " << parsed.error() << '\n';
      return kExitFailure;
    }
    asked_uai = std::move(*parsed);
  }
  auto category = policy::parse_category(req.category);
  if (!category) {
    err << "--category: unknown category \"" << req.category
        << "\"; expected one of: message, grade, homework, blog, news, schedule, absence, "
           "alert, other\n";
    return kExitFailure;
  }
  std::optional<policy::Role> role;
  if (!req.user) {
    auto parsed = policy::parse_role(req.role);
    if (!parsed) {
      err << "--role: unknown role \"" << req.role << "\"; expected student, parent or staff\n";
      return kExitFailure;
    }
    role = *parsed;
  }
  std::vector<policy::Uai> also_asked;
  for (const std::string& text : req.also) {
    auto other = policy::parse_uai(text);
    if (!other) {
      err << "--also: " << other.error() << '\n';
      return kExitFailure;
    }
    also_asked.push_back(std::move(*other));
  }
  policy::Instant at = now;
  if (req.at) {
    auto parsed = policy::parse_rfc3339(*req.at);
    if (!parsed) {
      err << "--at: " << parsed.error() << '\n';
      return kExitFailure;
    }
    at = *parsed;
  }
  bool may_bypass = false;
  const config::Connector* connector = nullptr;
  if (req.source) {
    connector = config.connector(*req.source);
    if (!connector) {
      err << "--source: no connector named \"" << *req.source << "\" in " << config.path << '\n';
      return kExitFailure;
    }
    may_bypass = connector->may_bypass;
  } else if (req.urgent) {
    err << "--urgent needs --source: whether an urgent notification may bypass depends on "
           "its connector\n";
    return kExitFailure;
  } else if (req.user) {
    err << "--user needs --source: the connector whose directory knows the user\n";
    return kExitFailure;
  } else if (req.recipient) {
    err << "--recipient needs --source: a recipient's own quiet hours are set by their "
           "connector\n";
    return kExitFailure;
  }
  if (req.user && req.recipient) {
    err << "--recipient: not with --user, which names the recipient already\n";
    return kExitFailure;
  }

  // With --user: who the recipient is, per the connector's directory.
  std::string uai;
  std::vector<std::string> user_also;
  std::string recipient_line;
  if (req.user) {
    if (connector->directory.empty()) {
      err << "--source: connector \"" << connector->name
          << "\" has no directory; --user needs one whose users a directory resolves\n";
      return kExitFailure;
    }
    const config::Directory* d = config.directory_named(connector->directory);
    if (!d) {
      err << "--source: connector \"" << connector->name << "\" names directory \""
          << connector->directory << "\", which is not in " << config.path << '\n';
      return kExitFailure;
    }
    const directory::UserAnswer answer = look_up(*d, connector->name, *req.user);
    auto who = runtime::explain_recipient(answer, asked_uai ? asked_uai->code : "");
    if (!who) {
      using Kind = runtime::ExplainRefusal::Kind;
      switch (who.error().kind) {
        case Kind::failed:
          err << "--user: the directory \"" << d->name
              << "\" did not answer: " << who.error().detail << '\n';
          break;
        case Kind::unknown:
          err << "--user: the directory \"" << d->name << "\" does not know user \"" << *req.user
              << "\"\n";
          break;
        case Kind::no_establishment:
          err << "--user: the directory \"" << d->name << "\" knows user \"" << *req.user
              << "\" in no establishment\n";
          break;
        case Kind::not_in_establishment:
          err << "--establishment: " << who.error().detail << " \"" << d->name << "\"\n";
          break;
      }
      return kExitFailure;
    }
    role = who->role;
    uai = who->establishment;
    user_also = who->also;
    recipient_line = "  recipient: user " + *req.user + " per the directory \"" + d->name +
                     "\": " + std::string(policy::to_string(*role)) + ", of " +
                     listed(uai, user_also) + '\n';
  } else {
    uai = asked_uai->code;
  }
  // The directory's structures are valid UAIs (the adapter checks them).
  auto parsed_uai = policy::parse_uai(uai);
  if (!parsed_uai) {
    err << "--establishment: " << parsed_uai.error() << '\n';
    return kExitFailure;
  }
  const policy::Uai& establishment = *parsed_uai;
  std::vector<std::string> also;
  for (const std::string& code : user_also) {
    if (code != uai && std::find(also.begin(), also.end(), code) == also.end())
      also.push_back(code);
  }
  for (const policy::Uai& other : also_asked) {
    if (other.code != uai && std::find(also.begin(), also.end(), other.code) == also.end())
      also.push_back(other.code);
  }

  // The question is about one recipient; a parent's grade is sequenced after its student's,
  // so the student is part of the event, received at the same instant.
  policy::Notification n;
  n.source = req.source.value_or("explain");
  n.id = "explain";
  n.establishment = uai;
  n.category = *category;
  n.urgent = req.urgent;
  std::size_t asked = 0;
  if (*role == policy::Role::parent && *category == policy::Category::grade) {
    n.recipients.push_back({"student", policy::Role::student, std::nullopt, {}, nullptr});
    n.recipients.push_back({"parent", policy::Role::parent, std::string("student"), {}, nullptr});
    asked = 1;
  } else {
    n.recipients.push_back({"recipient", *role, std::nullopt, {}, nullptr});
  }
  n.recipients[asked].establishments = std::move(also);
  // The recipient's own quiet hours, when they have some.
  std::shared_ptr<const policy::PersonalHours> hours;
  if (const auto& id = req.user ? req.user : req.recipient; id) {
    n.recipients[asked].id = *id;
    hours = own_hours(config, connector->name, *id, err);
    n.recipients[asked].personal = hours;
  }

  const policy::EstablishmentPolicy& p = config.policy->find(establishment);
  auto decisions = policy::decide_in(*config.policy, p, n, at, may_bypass);
  const policy::DeliveryDecision& d = decisions[asked];
  std::string reason = policy::describe_in(*config.policy, p, d, req.source.value_or(""));
  const std::string zone_name(p.zone()->name());

  if (req.json) {
    boost::json::object o;
    o["held"] = d.held;
    if (d.evaluated) {
      o["release_at"] = policy::format_rfc3339(d.release_at, p.zone());
    } else {
      o["release_at"] = nullptr;
    }
    o["reason"] = reason;
    o["timezone"] = zone_name;
    // The object's four keys are fixed (DESIGN.md); which policy answered, when it is one saved
    // through the admin API, goes to standard error.
    if (const std::int64_t v = config.api_policy_version(uai); v > 0)
      err << "policy: version " << v << " saved through the admin API\n";
    out << boost::json::serialize(o) << '\n';
    return kExitOk;
  }

  out << "A " << req.category << " for a " << policy::to_string(*role) << " of " << uai
      << " received " << policy::format_human(at, p.zone()) << '\n';
  if (!d.evaluated) {
    out << "  is HELD with no release instant: the policy could not be evaluated.\n";
  } else if (d.held) {
    out << "  is HELD until " << policy::format_human(d.release_at, p.zone()) << "\n";
  } else {
    out << "  is DELIVERED AT ONCE\n";
  }
  out << recipient_line;
  out << "  because: " << reason << '\n';
  if (req.user || req.recipient) {
    const std::string& id = req.user ? *req.user : *req.recipient;
    out << "  own quiet hours: ";
    if (!hours)
      out << "none set for " << id << " by connector \"" << connector->name << "\"\n";
    else if (d.personal_set_aside)
      out << "set aside: with the school's windows they would leave no time open\n";
    else
      out << "set by connector \"" << connector->name << "\" (" << hours->windows().size()
          << " window" << (hours->windows().size() == 1 ? "" : "s") << "), "
          << (d.personal.total == 0 ? "they do not hold this one" : "they held this one") << '\n';
  }
  const std::int64_t version = config.api_policy_version(uai);
  out << "  policy: ";
  if (version > 0)
    out << "version " << version << " saved through the admin API (on top of " << config.path
        << ")\n";
  else if (config.policy->is_configured(uai))
    out << "the establishment's table in " << config.path << '\n';
  else
    out << "the defaults of [policy] in " << config.path << '\n';
  out << "  time zone: " << zone_name << " (" << policy::region_name(establishment.region) << ")\n";
  return kExitOk;
}

void add_explain(CLI::App& app, Commands& commands) {
  struct Options {
    std::string config = "/etc/treve/treve.toml";
    ExplainRequest request;
  };
  auto o = std::make_shared<Options>();
  auto* c = app.add_subcommand(
      "explain", "Say whether a notification received at an instant is held, until when, and why");
  c->add_option("--config", o->config, "Configuration file")->capture_default_str();
  // --establishment and --role are required without --user: checked by explain().
  c->add_option("--establishment", o->request.establishment,
                "UAI of the establishment (with --user: one of the user's, default their first)");
  c->add_option("--category", o->request.category, "message, grade, homework, ...")->required();
  c->add_option("--role", o->request.role, "student, parent or staff (not with --user)");
  c->add_option("--at", o->request.at, "Reception instant, RFC 3339 (default: now)");
  c->add_option("--source", o->request.source, "Connector name (needed with --urgent and --user)");
  c->add_option("--user", o->request.user,
                "A user id, asked of --source's directory: role and establishments from it");
  c->add_option("--recipient", o->request.recipient,
                "A recipient id as --source sends it: their own quiet hours apply (with --role "
                "and --establishment; --user implies it)");
  c->add_flag("--urgent", o->request.urgent, "The event is marked urgent");
  c->add_option("--also", o->request.also,
                "Another establishment (UAI) of the recipient, whose quiet times apply too; "
                "repeatable");
  c->add_flag("--json", o->request.json, "Print one JSON object");
  commands.push_back({c, [o] {
                        // As the daemon decides: with the admin API's saved policies too.
                        auto config = load_in_force_or_report(o->config, std::cerr);
                        if (!config)
                          return kExitFailure;
                        return explain(*config, o->request, wall_now(), std::cout, std::cerr);
                      }});
}

}  // namespace treve::cli
