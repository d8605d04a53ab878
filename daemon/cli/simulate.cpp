#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <istream>
#include <list>
#include <memory>
#include <ostream>
#include <thread>
#include <unordered_map>

#include <CLI/CLI.hpp>
#include "adapters/inbound/canonical_event.h"

#include "daemon/cli/command.h"
#include "daemon/cli/commands.h"
#include "daemon/core/json_text.h"
#include "policy/decision.h"
#include "policy/rfc3339.h"
#include "policy/strictest.h"

namespace treve::cli {
namespace {

using core::append_json_string;

// Reason texts repeat a lot (every message of the same night has the same one): build each
// once. The key is every field `describe` reads.
struct ReasonKey {
  const policy::EstablishmentPolicy* policy;
  std::string_view source;
  policy::DeliveryDecision decision;
  bool operator==(const ReasonKey& o) const {
    const auto& a = decision;
    const auto& b = o.decision;
    return policy == o.policy && source == o.source && a.evaluated == b.evaluated &&
           a.urgent == b.urgent && a.grade_delay == b.grade_delay &&
           (!a.grade_delay || (a.student_release == b.student_release && a.delay == b.delay &&
                               same_chain(a.student_quiet, b.student_quiet))) &&
           same_chain(a.quiet, b.quiet) && a.urgent_refused_by == b.urgent_refused_by &&
           a.student_attached == b.student_attached && same_attached(a.attached, b.attached);
  }
  static bool same_attached(const std::vector<policy::DeliveryDecision::Attached>& a,
                            const std::vector<policy::DeliveryDecision::Attached>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
      return x.uai == y.uai && same_chain(x.quiet, y.quiet);
    });
  }
  static bool same_chain(const policy::QuietChain& a, const policy::QuietChain& b) {
    return a.size == b.size && a.total == b.total &&
           std::equal(a.causes.begin(), a.causes.begin() + a.size, b.causes.begin());
  }
};
struct ReasonKeyHash {
  std::size_t operator()(const ReasonKey& k) const {
    std::size_t h = std::hash<const void*>{}(k.policy) ^ std::hash<std::string_view>{}(k.source);
    const auto& d = k.decision;
    h = h * 31 + static_cast<std::size_t>(d.urgent) * 7 + d.grade_delay + d.evaluated * 3;
    if (d.grade_delay)
      h = h * 31 + std::hash<long long>{}(d.student_release.time_since_epoch().count());
    for (std::size_t i = 0; i < d.quiet.size; ++i) {
      const auto& c = d.quiet.causes[i];
      h = h * 1000003 + (static_cast<std::size_t>(c.kind) << 40) +
          (static_cast<std::size_t>(c.index) << 24) + static_cast<std::uint32_t>(c.local_day) +
          (static_cast<std::size_t>(c.holiday) << 48);
    }
    for (const auto& a : d.attached)
      h = h * 31 + std::hash<std::string>{}(a.uai) + a.quiet.total;
    return h;
  }
};

struct Row {
  policy::Instant release;
  std::uint64_t order;
  std::string line;
};

}  // namespace

namespace {

// Turns lines into delivery rows. One per worker thread: it owns its parser and reason cache.
class LineWorker {
 public:
  explicit LineWorker(const config::Config& config) : config_(config), reader_(mode()) {}

  struct Skipped {
    std::size_t line_no;
    std::string message;
  };

  // Processes lines[i] for i in [begin, end); line numbers are first_line_no + i.
  void run(const std::vector<std::string>& lines, std::size_t begin, std::size_t end,
           std::size_t first_line_no) {
    for (std::size_t i = begin; i < end; ++i)
      process(lines[i], first_line_no + i);
  }

  std::vector<Row> rows;
  std::vector<Skipped> skipped;

 private:
  static adapters::ParseMode mode() {
    adapters::ParseMode m;
    m.simulation = true;
    m.keep_payload = false;
    return m;
  }

  void process(const std::string& text, std::size_t line_no) {
    if (text.find_first_not_of(" \t\r") == std::string::npos)
      return;
    auto event = reader_.parse(text);
    if (!event) {
      const auto& p = event.error();
      skipped.push_back({line_no, (p.pointer.empty() ? "" : p.pointer + ": ") + p.detail});
      return;
    }
    const policy::Notification& n = event->notification;
    // Both validated by the parser in simulation mode; checked all the same.
    const policy::EstablishmentPolicy* found = establishment(n.establishment);
    if (!found) {
      skipped.push_back({line_no, "/establishment: not a valid UAI"});
      return;
    }
    if (!event->received_at) {
      skipped.push_back({line_no, "/received_at: missing"});
      return;
    }
    const policy::EstablishmentPolicy& p = *found;
    const config::Connector* connector = config_.connector(n.source);
    auto decisions = policy::decide_in(*config_.policy, p, n, *event->received_at,
                                       connector && connector->may_bypass);

    auto src = std::find(sources_.begin(), sources_.end(), n.source);
    if (src == sources_.end())
      src = sources_.insert(sources_.end(), n.source);

    for (const auto& d : decisions) {
      const policy::Recipient& r = n.recipients[d.recipient];
      ReasonKey key{&p, *src, d};
      auto it = reasons_.find(key);
      if (it == reasons_.end())
        it = reasons_.emplace(key, policy::describe_in(*config_.policy, p, d, n.source)).first;
      Row row;
      // A delivery the policy could not evaluate is held indefinitely: it sorts last.
      row.release = d.evaluated ? d.release_at : policy::Instant::max();
      // Input order: line, then recipient (at most 2^16 recipients per event).
      row.order = (static_cast<std::uint64_t>(line_no) << 16) | d.recipient;
      std::string& l = row.line;
      l.reserve(160 + it->second.size());
      l += "{\"source\":";
      append_json_string(l, n.source);
      l += ",\"id\":";
      append_json_string(l, n.id);
      l += ",\"recipient\":";
      append_json_string(l, r.id);
      l += ",\"role\":\"";
      l += policy::to_string(r.role);
      l += "\",\"release_at\":";
      if (d.evaluated) {
        l += '"';
        l += policy::format_rfc3339(d.release_at, p.zone());
        l += '"';
      } else {
        l += "null";
      }
      l += ",\"reason\":";
      append_json_string(l, it->second);
      l += "}\n";
      rows.push_back(std::move(row));
    }
  }

  // The policy set is shared by every worker behind a lock; each worker remembers its answers.
  // Null for a code that is not a UAI.
  const policy::EstablishmentPolicy* establishment(const std::string& code) {
    auto it = establishments_.find(code);
    if (it != establishments_.end())
      return it->second;
    auto uai = policy::parse_uai(code);
    if (!uai)
      return nullptr;
    const policy::EstablishmentPolicy* p = &config_.policy->find(*uai);
    establishments_.emplace(code, p);
    return p;
  }

  const config::Config& config_;
  adapters::CanonicalEventReader reader_;
  std::unordered_map<std::string, const policy::EstablishmentPolicy*> establishments_;
  std::unordered_map<ReasonKey, std::string, ReasonKeyHash> reasons_;
  std::list<std::string> sources_;  // stable storage for the reason cache keys
};

}  // namespace

int simulate(const config::Config& config, std::istream& in, std::ostream& out, std::ostream& err) {
  // Lines are read in batches and split between worker threads; the output order depends
  // only on release instants and line numbers, so it is the same whatever the thread count.
  const std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4);
  constexpr std::size_t kBatch = 1 << 15;
  std::vector<std::unique_ptr<LineWorker>> workers;
  for (std::size_t t = 0; t < threads; ++t)
    workers.push_back(std::make_unique<LineWorker>(config));

  std::vector<std::string> lines;
  std::size_t next_line_no = 1;
  std::size_t skipped = 0;
  bool more = true;
  while (more) {
    lines.clear();
    std::string text;
    while (lines.size() < kBatch && (more = static_cast<bool>(std::getline(in, text)))) {
      lines.push_back(std::move(text));
    }
    const std::size_t per = (lines.size() + threads - 1) / threads;
    std::vector<std::thread> running;
    for (std::size_t t = 1; t < threads; ++t) {
      std::size_t b = std::min(lines.size(), t * per), e = std::min(lines.size(), (t + 1) * per);
      if (b < e)
        running.emplace_back([&, t, b, e] { workers[t]->run(lines, b, e, next_line_no); });
    }
    workers[0]->run(lines, 0, std::min(lines.size(), per), next_line_no);
    for (auto& th : running)
      th.join();
    // Workers hold consecutive ranges: their reports, in worker order, are in line order.
    for (auto& w : workers) {
      for (const auto& sk : w->skipped)
        err << "line " << sk.line_no << ": " << sk.message << '\n';
      skipped += w->skipped.size();
      w->skipped.clear();
    }
    next_line_no += lines.size();
  }
  if (in.bad()) {
    err << "error reading the events\n";
    return kExitFailure;
  }
  std::vector<Row> rows = std::move(workers[0]->rows);
  for (std::size_t t = 1; t < threads; ++t) {
    rows.insert(rows.end(), std::make_move_iterator(workers[t]->rows.begin()),
                std::make_move_iterator(workers[t]->rows.end()));
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.release != b.release ? a.release < b.release : a.order < b.order;
  });
  std::string buffer;
  buffer.reserve(1 << 20);
  for (const auto& row : rows) {
    buffer += row.line;
    if (buffer.size() >= (1 << 20)) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  out.flush();
  if (skipped) {
    err << skipped << " line(s) skipped\n";
    return kExitLinesSkipped;
  }
  return kExitOk;
}

void add_simulate(CLI::App& app, Commands& commands) {
  struct Options {
    std::string config = "/etc/treve/treve.toml";
    std::string events;
  };
  auto o = std::make_shared<Options>();
  auto* c = app.add_subcommand(
      "simulate",
      "Print the deliveries of canonical events (NDJSON with received_at) in release order");
  c->add_option("--config", o->config, "Configuration file")->capture_default_str();
  c->add_option("--events", o->events, "NDJSON file (default: standard input)");
  commands.push_back({c, [o] {
                        auto config = load_in_force_or_report(o->config, std::cerr);
                        if (!config)
                          return kExitFailure;
                        if (o->events.empty())
                          return simulate(*config, std::cin, std::cout, std::cerr);
                        std::ifstream in(o->events);
                        if (!in) {
                          std::cerr << o->events << ": cannot read the events file\n";
                          return kExitFailure;
                        }
                        return simulate(*config, in, std::cout, std::cerr);
                      }});
}

}  // namespace treve::cli
