// `treve deliveries list` and `treve deliveries replay`: what an administrator uses to see
// the deliveries in a state (dead letters first of all) and to send dead ones again.
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <CLI/CLI.hpp>

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/store/postgresql/open_store.h"
#include "daemon/store/state_dir.h"
#include "policy/rfc3339.h"

namespace treve::cli {

int deliveries_list(const config::Config& config, const DeliveriesListRequest& request,
                    std::ostream& out, std::ostream& err) {
  auto state = store::parse_delivery_state(request.state);
  if (!state) {
    err << "unknown state \"" << request.state
        << "\"; expected held, due, retrying, delivered, dead, retracted or no_address\n";
    return kExitFailure;
  }
  auto opened = store::open_store(config, store::StoreUse::command);
  if (!opened) {
    err << opened.error() << '\n';
    return kExitFailure;
  }
  store::DispatchStore& st = *opened->store;
  std::int64_t after = 0;
  std::size_t shown = 0;
  while (shown < request.limit) {
    auto page = st.list(*state, after, std::min<std::size_t>(1000, request.limit - shown));
    if (!page) {
      err << "cannot read the store: " << page.error().message << '\n';
      return kExitFailure;
    }
    for (const auto& d : *page) {
      after = d.ref.seq;
      ++shown;
      const date::time_zone* zone = store::zone_or_utc(d.ref.timezone);
      if (request.json) {
        boost::json::object o;
        o["seq"] = d.ref.seq;
        o["state"] = store::to_string(d.state);
        o["source"] = d.ref.source;
        o["id"] = d.ref.event_id;
        o["establishment"] = d.ref.establishment;
        o["category"] = policy::to_string(d.ref.category);
        o["recipient"] = d.ref.recipient;
        o["role"] = policy::to_string(d.ref.role);
        o["release_at"] = policy::format_rfc3339(d.release_at, zone);
        o["attempts"] = d.attempts;
        o["sink"] = d.sink;
        o["last_error"] = d.last_error;
        o["updated_at"] = policy::format_rfc3339(d.updated_at, zone);
        out << boost::json::serialize(o) << '\n';
      } else {
        out << d.ref.seq << "  " << store::to_string(d.state) << "  " << d.ref.source << '/'
            << d.ref.event_id << "  " << d.ref.establishment << "  "
            << policy::to_string(d.ref.category) << "  " << d.ref.recipient << " ("
            << policy::to_string(d.ref.role) << ")  ";
        if (!d.sink.empty())
          out << "sink " << d.sink << ", ";
        out << d.attempts << " attempt(s)";
        if (!d.last_error.empty())
          out << ", last error: " << d.last_error;
        out << ", since " << policy::format_rfc3339(d.updated_at, zone) << '\n';
      }
    }
    if (page->size() < 1000)
      break;
  }
  if (!request.json) {
    err << shown << " deliver" << (shown == 1 ? "y" : "ies") << " in state "
        << store::to_string(*state) << (shown == request.limit ? " (limit reached)" : "") << '\n';
  }
  return kExitOk;
}

int deliveries_replay(const config::Config& config, const DeliveriesReplayRequest& request,
                      policy::Instant now, std::ostream& out, std::ostream& err) {
  if (request.seqs.empty() && !request.all) {
    err << "say which dead deliveries to replay: --seq N (repeatable) or --all\n";
    return kExitFailure;
  }
  auto opened = store::open_store(config, store::StoreUse::command);
  if (!opened) {
    err << opened.error() << '\n';
    return kExitFailure;
  }
  auto replayed = opened->store->replay(
      request.all ? std::span<const std::int64_t>{} : std::span<const std::int64_t>(request.seqs),
      now);
  if (!replayed) {
    err << "cannot replay: " << replayed.error().message << '\n';
    return kExitFailure;
  }
  out << "replayed " << *replayed << " dead deliver" << (*replayed == 1 ? "y" : "ies")
      << "; a running daemon sends them within a second\n";
  if (!request.all && *replayed < request.seqs.size()) {
    err << (request.seqs.size() - *replayed)
        << " of the given sequence numbers are not dead deliveries: left as they are\n";
    return kExitFailure;
  }
  return kExitOk;
}

void add_deliveries(CLI::App& app, Commands& commands) {
  struct Options {
    std::string config = "/etc/treve/treve.toml";
    DeliveriesListRequest list;
    DeliveriesReplayRequest replay;
  };
  auto o = std::make_shared<Options>();
  auto* d = app.add_subcommand("deliveries", "See deliveries in a state; replay dead ones");
  d->require_subcommand(1);
  auto* list = d->add_subcommand("list", "List deliveries in a state, in receipt order");
  list->add_option("--config", o->config, "Configuration file")->capture_default_str();
  list->add_option("--state", o->list.state, "held, due, retrying, delivered, dead, retracted")
      ->capture_default_str();
  list->add_option("--limit", o->list.limit, "At most this many")->capture_default_str();
  list->add_flag("--json", o->list.json, "One JSON object per line");
  auto* replay = d->add_subcommand("replay", "Send dead deliveries again");
  replay->add_option("--config", o->config, "Configuration file")->capture_default_str();
  replay->add_option("--seq", o->replay.seqs, "Sequence number of a dead delivery (repeatable)");
  replay->add_flag("--all", o->replay.all, "Every dead delivery");
  commands.push_back({list, [o] {
                        auto config = load_or_report(o->config, std::cerr);
                        return config ? deliveries_list(*config, o->list, std::cout, std::cerr)
                                      : kExitFailure;
                      }});
  commands.push_back({replay, [o] {
                        auto config = load_or_report(o->config, std::cerr);
                        return config ? deliveries_replay(*config, o->replay, wall_now(), std::cout,
                                                          std::cerr)
                                      : kExitFailure;
                      }});
}

}  // namespace treve::cli
