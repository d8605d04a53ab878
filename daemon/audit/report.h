// What auditors read out of a trail, as values: a period turned into a Filter, records written
// as export writes them (CSV or JSON), and statistics counted by kind, category and local hour.
// `treve audit export|find|stats` and the admin API's /audit and /stats render these, so the
// command line and the page always agree. Pure functions over a Trail; no configuration.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "daemon/audit/trail.h"

namespace treve::audit {

// Dates are YYYY-MM-DD in `timezone` (`to` includes its whole day) or RFC 3339 instants.
struct Period {
  std::string from;
  std::string to;
  std::string timezone = "Europe/Paris";
};

// Sets the filter's bounds from `period`. The error is worded for the command line
// ("--from: …", "--to must come after --from"), which the admin API quotes as is.
Expected<void> apply_period(const Period& period, Filter& filter);
// Every kind is a known record kind; the error lists the known ones.
Expected<void> check_kinds(const std::vector<std::string>& kinds);

// The header line of a CSV export, and one record as CSV (RFC 4180) or as a JSON object with
// every column, `at` as stored and as an RFC 3339 instant in UTC (`at_utc`).
extern const std::string_view kCsvHeader;
void write_csv(std::ostream& out, const store::AuditRecord& r);
boost::json::object to_json(const store::AuditRecord& r);
// One field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break.
void write_csv_field(std::ostream& out, std::string_view s);
// An instant stored as milliseconds, in RFC 3339 UTC.
std::string utc_text(std::int64_t ms);

// Deliveries and events counted over a period. `released` is split in two: `released` (at the
// end of a hold) and `sent_at_once` (released when received).
struct Stats {
  Period period;
  std::vector<std::string> establishments;
  std::vector<Count> counts;  // as read, `kind` renamed as in `totals`
  std::map<std::string, std::int64_t> totals;
  std::map<std::string, std::map<std::string, std::int64_t>> by_category;
  std::array<std::map<std::string, std::int64_t>, 24> by_hour;
  std::int64_t total(std::string_view kind) const;
  // Deliveries decided: held, sent at once, or urgent bypasses.
  std::int64_t deliveries() const;
};
Expected<Stats> compute_stats(Trail& trail, const Period& period,
                              const std::vector<std::string>& establishments);
// `treve audit stats --format json`, /v1/admin/stats.
boost::json::object to_json(const Stats& stats);
// establishment,kind,category,hour,count
void write_csv(std::ostream& out, const Stats& stats);

}  // namespace treve::audit
