#include "daemon/audit/report.h"

#include <algorithm>
#include <ostream>
#include <sstream>

#include <date/tz.h>

#include <boost/json/array.hpp>

#include "policy/rfc3339.h"
#include "policy/zone_time.h"

namespace treve::audit {
namespace {

// A period's bound: a date (its midnight in `zone`, or the next midnight for an inclusive end)
// or an RFC 3339 instant.
Expected<std::int64_t> bound(const std::string& text, const date::time_zone* zone, bool end) {
  if (text.size() == 10) {
    int y = 0, m = 0, d = 0;
    char dash1 = 0, dash2 = 0;
    std::istringstream in(text);
    in >> y >> dash1 >> m >> dash2 >> d;
    const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                                   date::day{static_cast<unsigned>(d)}};
    if (!in || dash1 != '-' || dash2 != '-' || text[4] != '-' || !ymd.ok())
      return std::unexpected("\"" + text + "\" is not a date (expected YYYY-MM-DD)");
    date::local_days day{ymd};
    if (end)
      day += date::days{1};
    auto t = policy::zone_time::to_sys(zone, date::local_seconds{day});
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
  auto t = policy::parse_rfc3339(text);
  if (!t)
    return std::unexpected("\"" + text +
                           "\" is neither a date (YYYY-MM-DD) nor an RFC 3339 "
                           "instant: " +
                           t.error());
  return t->time_since_epoch().count();
}

}  // namespace

Expected<void> apply_period(const Period& period, Filter& filter) {
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(period.timezone);
  } catch (const std::exception&) {
    return std::unexpected("--timezone: unknown time zone \"" + period.timezone + "\"");
  }
  if (!period.from.empty()) {
    auto b = bound(period.from, zone, false);
    if (!b)
      return std::unexpected("--from: " + b.error());
    filter.from_ms = *b;
  }
  if (!period.to.empty()) {
    auto b = bound(period.to, zone, true);
    if (!b)
      return std::unexpected("--to: " + b.error());
    filter.to_ms = *b;
  }
  if (filter.to_ms <= filter.from_ms)
    return std::unexpected(std::string("--to must come after --from"));
  return {};
}

Expected<void> check_kinds(const std::vector<std::string>& kinds) {
  const auto& all = record_kinds();
  for (const std::string& k : kinds) {
    if (std::find(all.begin(), all.end(), k) == all.end()) {
      std::string e = "--kind: unknown kind \"" + k + "\"; expected one of:";
      for (auto a : all) {
        e += ' ';
        e += a;
      }
      return std::unexpected(e);
    }
  }
  return {};
}

const std::string_view kCsvHeader =
    "seq,at,at_utc,at_local,kind,source,event_id,establishment,category,recipient,role,detail,"
    "prev_hash,hash";

std::string utc_text(std::int64_t ms) {
  static const date::time_zone* utc = date::locate_zone("UTC");
  return policy::format_rfc3339(policy::Instant{std::chrono::milliseconds{ms}}, utc);
}

void write_csv_field(std::ostream& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out << s;
    return;
  }
  out << '"';
  for (char c : s) {
    if (c == '"')
      out << '"';
    out << c;
  }
  out << '"';
}

void write_csv(std::ostream& out, const store::AuditRecord& r) {
  out << r.seq << ',' << r.at_ms << ',' << utc_text(r.at_ms) << ',';
  for (const std::string* f : {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment,
                               &r.category, &r.recipient, &r.role, &r.detail, &r.prev_hash}) {
    write_csv_field(out, *f);
    out << ',';
  }
  out << r.hash << '\n';
}

boost::json::object to_json(const store::AuditRecord& r) {
  boost::json::object o;
  o["seq"] = r.seq;
  o["at"] = r.at_ms;
  o["at_utc"] = utc_text(r.at_ms);
  o["at_local"] = r.at_local;
  o["kind"] = r.kind;
  o["source"] = r.source;
  o["event_id"] = r.event_id;
  o["establishment"] = r.establishment;
  o["category"] = r.category;
  o["recipient"] = r.recipient;
  o["role"] = r.role;
  o["detail"] = r.detail;  // as text: exactly what the hash covers
  o["prev_hash"] = r.prev_hash;
  o["hash"] = r.hash;
  return o;
}

std::int64_t Stats::total(std::string_view kind) const {
  auto it = totals.find(std::string(kind));
  return it == totals.end() ? std::int64_t{0} : it->second;
}

std::int64_t Stats::deliveries() const {
  return total("held") + total("sent_at_once") + total("bypassed");
}

Expected<Stats> compute_stats(Trail& trail, const Period& period,
                              const std::vector<std::string>& establishments) {
  Filter filter;
  filter.establishments = establishments;
  if (auto p = apply_period(period, filter); !p)
    return std::unexpected(p.error());
  auto counts = trail.counts(filter);
  if (!counts)
    return std::unexpected(counts.error());
  Stats s;
  s.period = period;
  s.establishments = establishments;
  s.counts = std::move(*counts);
  for (Count& c : s.counts) {
    if (c.kind == "released" && !c.after_hold)
      c.kind = "sent_at_once";
    s.totals[c.kind] += c.n;
    if (!c.category.empty())
      s.by_category[c.category][c.kind] += c.n;
    if (c.hour >= 0 && c.hour < 24)
      s.by_hour[static_cast<std::size_t>(c.hour)][c.kind] += c.n;
  }
  return s;
}

boost::json::object to_json(const Stats& s) {
  boost::json::object o;
  o["from"] = s.period.from.empty() ? "the first record" : s.period.from;
  o["to"] = s.period.to.empty() ? "the last record" : s.period.to;
  o["timezone"] = s.period.timezone;
  boost::json::array est;
  for (const auto& e : s.establishments)
    est.emplace_back(e);
  o["establishments"] = std::move(est);
  o["deliveries"] = s.deliveries();
  boost::json::object t;
  for (const auto& [k, n] : s.totals)
    t[k] = n;
  o["totals"] = std::move(t);
  boost::json::object cats;
  for (const auto& [cat, m] : s.by_category) {
    boost::json::object c;
    for (const auto& [k, n] : m)
      c[k] = n;
    cats[cat] = std::move(c);
  }
  o["by_category"] = std::move(cats);
  boost::json::array hours;
  for (std::size_t h = 0; h < 24; ++h) {
    boost::json::object c;
    c["hour"] = static_cast<std::int64_t>(h);
    for (const auto& [k, n] : s.by_hour[h])
      c[k] = n;
    hours.push_back(std::move(c));
  }
  o["by_hour"] = std::move(hours);
  return o;
}

void write_csv(std::ostream& out, const Stats& s) {
  out << "establishment,kind,category,hour,count\n";
  for (const Count& c : s.counts) {
    write_csv_field(out, c.establishment);
    out << ',' << c.kind << ',';
    write_csv_field(out, c.category);
    out << ',' << c.hour << ',' << c.n << '\n';
  }
}

}  // namespace treve::audit
