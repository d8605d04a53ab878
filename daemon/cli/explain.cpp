#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>

#include <boost/json.hpp>

#include <CLI/CLI.hpp>

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "policy/decision.h"
#include "policy/rfc3339.h"
#include "policy/strictest.h"

namespace treve::cli {

int explain(const config::Config& config, const ExplainRequest& req, policy::Instant now,
            std::ostream& out, std::ostream& err) {
  auto uai = policy::parse_uai(req.establishment);
  if (!uai) {
    err << "--establishment: " << uai.error() << '\n';
    return kExitFailure;
  }
  auto category = policy::parse_category(req.category);
  if (!category) {
    err << "--category: unknown category \"" << req.category
        << "\"; expected one of: message, grade, homework, blog, news, schedule, absence, "
           "alert, other\n";
    return kExitFailure;
  }
  auto role = policy::parse_role(req.role);
  if (!role) {
    err << "--role: unknown role \"" << req.role << "\"; expected student, parent or staff\n";
    return kExitFailure;
  }
  std::vector<std::string> also;
  for (const std::string& text : req.also) {
    auto other = policy::parse_uai(text);
    if (!other) {
      err << "--also: " << other.error() << '\n';
      return kExitFailure;
    }
    if (other->code != uai->code && std::find(also.begin(), also.end(), other->code) == also.end())
      also.push_back(other->code);
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
  if (req.source) {
    const config::Connector* c = config.connector(*req.source);
    if (!c) {
      err << "--source: no connector named \"" << *req.source << "\" in " << config.path << '\n';
      return kExitFailure;
    }
    may_bypass = c->may_bypass;
  } else if (req.urgent) {
    err << "--urgent needs --source: whether an urgent notification may bypass depends on "
           "its connector\n";
    return kExitFailure;
  }

  // The question is about one recipient; a parent's grade is sequenced after its student's,
  // so the student is part of the event, received at the same instant.
  policy::Notification n;
  n.source = req.source.value_or("explain");
  n.id = "explain";
  n.establishment = uai->code;
  n.category = *category;
  n.urgent = req.urgent;
  std::size_t asked = 0;
  if (*role == policy::Role::parent && *category == policy::Category::grade) {
    n.recipients.push_back({"student", policy::Role::student, std::nullopt, {}});
    n.recipients.push_back({"parent", policy::Role::parent, std::string("student"), {}});
    asked = 1;
  } else {
    n.recipients.push_back({"recipient", *role, std::nullopt, {}});
  }
  n.recipients[asked].establishments = std::move(also);

  const policy::EstablishmentPolicy& p = config.policy->find(*uai);
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
    if (const std::int64_t v = config.api_policy_version(uai->code); v > 0)
      err << "policy: version " << v << " saved through the admin API\n";
    out << boost::json::serialize(o) << '\n';
    return kExitOk;
  }

  out << "A " << req.category << " for a " << req.role << " of " << uai->code << " received "
      << policy::format_human(at, p.zone()) << '\n';
  if (!d.evaluated) {
    out << "  is HELD with no release instant: the policy could not be evaluated.\n";
  } else if (d.held) {
    out << "  is HELD until " << policy::format_human(d.release_at, p.zone()) << "\n";
  } else {
    out << "  is DELIVERED AT ONCE\n";
  }
  out << "  because: " << reason << '\n';
  const std::int64_t version = config.api_policy_version(uai->code);
  out << "  policy: ";
  if (version > 0)
    out << "version " << version << " saved through the admin API (on top of " << config.path
        << ")\n";
  else if (config.policy->is_configured(uai->code))
    out << "the establishment's table in " << config.path << '\n';
  else
    out << "the defaults of [policy] in " << config.path << '\n';
  out << "  time zone: " << zone_name << " (" << policy::region_name(uai->region) << ")\n";
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
  c->add_option("--establishment", o->request.establishment, "UAI of the establishment")
      ->required();
  c->add_option("--category", o->request.category, "message, grade, homework, ...")->required();
  c->add_option("--role", o->request.role, "student, parent or staff")->required();
  c->add_option("--at", o->request.at, "Reception instant, RFC 3339 (default: now)");
  c->add_option("--source", o->request.source, "Connector name (needed with --urgent)");
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
