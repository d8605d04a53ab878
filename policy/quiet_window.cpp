#include "policy/quiet_window.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace treve::policy {
namespace {

constexpr std::array<std::string_view, 7> kKeys = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr std::array<std::string_view, 7> kLabels = {"Sun", "Mon", "Tue", "Wed",
                                                     "Thu", "Fri", "Sat"};

std::string hhmm(std::chrono::minutes m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(m.count() / 60),
                static_cast<int>(m.count() % 60));
  return buf;
}

// Monday-first order, as people read a week.
constexpr std::array<unsigned, 7> kMondayFirst = {1, 2, 3, 4, 5, 6, 0};

std::string days_label(std::uint8_t days) {
  std::string out;
  std::size_t i = 0;
  while (i < 7) {
    if (!((days >> kMondayFirst[i]) & 1u)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j + 1 < 7 && ((days >> kMondayFirst[j + 1]) & 1u))
      ++j;
    if (!out.empty())
      out += ",";
    out += kLabels[kMondayFirst[i]];
    if (j >= i + 2) {
      out += "-";
      out += kLabels[kMondayFirst[j]];
    } else if (j == i + 1) {
      out += ",";
      out += kLabels[kMondayFirst[j]];
    }
    i = j + 1;
  }
  return out;
}

}  // namespace

int QuietWindow::span_days(date::weekday start_day) const {
  if (!end_day)
    return end > start ? 0 : 1;
  int d = static_cast<int>((*end_day - start_day).count());  // 0..6
  if (d == 0 && end <= start)
    d = 7;
  return d;
}

std::string window_label(const QuietWindow& w) {
  if (!w.name.empty())
    return w.name;
  std::string out = days_label(w.days) + " " + hhmm(w.start) + "-";
  if (w.end_day) {
    out += kLabels[w.end_day->c_encoding()];
    out += " ";
  }
  out += hhmm(w.end);
  return out;
}

std::vector<QuietWindow> default_quiet_windows() {
  using namespace std::chrono_literals;
  QuietWindow weekdays;
  for (unsigned d : {1u, 2u, 3u, 4u})
    weekdays.days |= static_cast<std::uint8_t>(1u << d);
  weekdays.start = 20h;
  weekdays.end = 7h;
  QuietWindow weekend;
  weekend.days = static_cast<std::uint8_t>(1u << 5);
  weekend.start = 20h;
  weekend.end = 7h;
  weekend.end_day = date::Monday;
  return {weekdays, weekend};
}

bool windows_cover_whole_week(const std::vector<QuietWindow>& windows) {
  constexpr int kWeek = 7 * 1440;
  std::vector<bool> quiet(kWeek, false);
  for (const auto& w : windows) {
    for (unsigned d = 0; d < 7; ++d) {
      date::weekday wd{d};
      if (!w.starts_on(wd))
        continue;
      int from = static_cast<int>(d) * 1440 + static_cast<int>(w.start.count());
      int to = (static_cast<int>(d) + w.span_days(wd)) * 1440 + static_cast<int>(w.end.count());
      for (int m = from; m < to; ++m)
        quiet[m % kWeek] = true;
    }
  }
  return std::all_of(quiet.begin(), quiet.end(), [](bool q) { return q; });
}

std::string_view weekday_key(date::weekday wd) {
  return kKeys[wd.c_encoding()];
}

std::optional<date::weekday> parse_weekday_key(std::string_view s) {
  for (unsigned i = 0; i < 7; ++i) {
    if (kKeys[i] == s)
      return date::weekday{i};
  }
  return std::nullopt;
}

std::string weekday_label(date::weekday wd) {
  return std::string(kLabels[wd.c_encoding()]);
}

}  // namespace treve::policy
