#include <algorithm>
#include <cstring>
#include <istream>
#include <ostream>
#include <unordered_map>

#include "adapters/inbound/canonical_event.h"
#include "daemon/cli/commands.h"
#include "policy/decision.h"
#include "policy/rfc3339.h"

namespace treve::cli {
namespace {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

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
           same_chain(a.quiet, b.quiet);
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
    if (d.grade_delay) h = h * 31 + std::hash<long long>{}(d.student_release.time_since_epoch().count());
    for (std::size_t i = 0; i < d.quiet.size; ++i) {
      const auto& c = d.quiet.causes[i];
      h = h * 1000003 + (static_cast<std::size_t>(c.kind) << 40) +
          (static_cast<std::size_t>(c.index) << 24) + static_cast<std::uint32_t>(c.local_day) +
          (static_cast<std::size_t>(c.holiday) << 48);
    }
    return h;
  }
};

struct Row {
  policy::Instant release;
  std::uint64_t order;
  std::string line;
};

}  // namespace

int simulate(const config::Config& config, std::istream& in, std::ostream& out,
             std::ostream& err) {
  adapters::ParseMode mode;
  mode.simulation = true;
  std::vector<Row> rows;
  std::unordered_map<ReasonKey, std::string, ReasonKeyHash> reasons;
  std::vector<std::string> sources;  // keeps source names alive for the reason cache keys
  std::size_t skipped = 0;
  std::uint64_t order = 0;
  std::string text;
  std::size_t line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto event = adapters::parse_canonical_event(text, mode);
    if (!event) {
      const auto& p = event.error();
      err << "line " << line_no << ": " << (p.pointer.empty() ? "" : p.pointer + ": ") << p.detail
          << '\n';
      ++skipped;
      continue;
    }
    const policy::Notification& n = event->notification;
    auto uai = policy::parse_uai(n.establishment);  // validated by the parser
    const policy::EstablishmentPolicy& p = config.policy->find(*uai);
    const config::Connector* connector = config.connector(n.source);
    auto decisions = policy::decide(p, n, *event->received_at, connector && connector->may_bypass);

    auto src = std::find(sources.begin(), sources.end(), n.source);
    if (src == sources.end()) src = sources.insert(sources.end(), n.source);

    for (const auto& d : decisions) {
      const policy::Recipient& r = n.recipients[d.recipient];
      ReasonKey key{&p, *src, d};
      auto it = reasons.find(key);
      if (it == reasons.end()) it = reasons.emplace(key, policy::describe(p, d, n.source)).first;
      Row row;
      // A delivery the policy could not evaluate is held indefinitely: it sorts last.
      row.release = d.evaluated ? d.release_at : policy::Instant::max();
      row.order = order++;
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
  if (in.bad()) {
    err << "error reading the events\n";
    return kExitFailure;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
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

}  // namespace treve::cli
