// RFC 3339 timestamps: strict parsing of the instants events carry, and formatting of
// instants with an establishment's UTC offset (taken from the time zone database).
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include <date/tz.h>

#include "policy/instant.h"

namespace treve::policy {

// "2026-11-27T21:14:03+01:00", "2026-11-27T20:14:03.250Z". Fractions beyond milliseconds are
// truncated. The error says what is wrong ("month 13 out of range").
std::expected<Instant, std::string> parse_rfc3339(std::string_view text);

// The instant in the zone's local time with its offset: "2026-11-28T07:00:00+01:00";
// milliseconds are shown only when not zero.
std::string format_rfc3339(Instant t, const date::time_zone* zone);

// For people: "Mon 28 Dec 2026 07:00 (UTC+01:00)".
std::string format_human(Instant t, const date::time_zone* zone);

// "24h", "7 days", "1h30m", "0".
std::string format_duration(std::chrono::minutes d);

}  // namespace treve::policy
