// A weekly quiet window, in the establishment's wall-clock time.
//
// A window starts on each of its `days` at `start` and ends at `end` on:
//  - the same day when `end_day` is unset and end > start;
//  - the next day when `end_day` is unset and end <= start (crosses midnight);
//  - the first `end_day` after the start day when `end_day` is set (the start day itself when
//    end_day equals it and end > start; one week later when end_day equals it and end <= start).
// So the longest window lasts seven days. Minute precision.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <date/date.h>

namespace treve::policy {

struct QuietWindow {
  std::uint8_t days = 0;  // bit i set: starts on weekday i (date::weekday::c_encoding, 0 = Sunday)
  std::chrono::minutes start{0};  // since local midnight, [0, 1440)
  std::chrono::minutes end{0};    // since local midnight, [0, 1440)
  std::optional<date::weekday> end_day;
  std::string name;  // optional administrator-given name; shown in reasons when set
  // Bit i set: the window applies to Category i only (with the other windows naming it). No
  // bit: one of the establishment's windows, for every category that has no windows of its own.
  std::uint16_t categories = 0;

  bool starts_on(date::weekday wd) const { return (days >> wd.c_encoding()) & 1u; }
  // Days from the start day to the end day (0..7).
  int span_days(date::weekday start_day) const;
  friend bool operator==(const QuietWindow&, const QuietWindow&) = default;
};

// "Mon-Thu 20:00-07:00", "Fri 20:00-Mon 07:00", or the window's name when it has one.
std::string window_label(const QuietWindow& w);

// The default national windows: Mon-Thu 20:00 -> 07:00 and Fri 20:00 -> Mon 07:00.
std::vector<QuietWindow> default_quiet_windows();

// True when the windows, taken together, leave no minute of the week open: such a policy
// would never release anything, so configuration rejects it.
bool windows_cover_whole_week(const std::vector<QuietWindow>& windows);

// Three-letter English names, as in configuration ("mon").
std::string_view weekday_key(date::weekday wd);
std::optional<date::weekday> parse_weekday_key(std::string_view s);
std::string weekday_label(date::weekday wd);  // "Mon"

}  // namespace treve::policy
