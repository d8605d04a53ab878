// A recipient's own quiet hours as their connector sends them
// (PUT /v1/recipients/{id}/preferences, docs/api.md):
//   {"quiet": [{"days": ["mon", …], "start": "HH:MM", "end": "HH:MM", "end_day": "mon",
//               "name": "…"}]}
// The windows read like the configuration's, in the wall-clock time of the establishment whose
// event is decided. At most kMaxWindows; together with the national default they must leave
// some time open, or no delivery could ever be released.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/inbound/problem.h"
#include "policy/quiet_window.h"

namespace treve::adapters {

inline constexpr std::size_t kMaxPersonalWindows = 14;

struct PersonalQuiet {
  std::vector<policy::QuietWindow> windows;
  std::string json;  // the windows, normalised, as stored and given back
};

std::expected<PersonalQuiet, Problem> parse_preferences(std::string_view body);

// The windows of a stored preference (written by parse_preferences); empty when unreadable.
std::vector<policy::QuietWindow> windows_from_json(std::string_view json);

}  // namespace treve::adapters
