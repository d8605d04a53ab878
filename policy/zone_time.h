// Wall-clock time of a zone, from the date/tz library, continued past its last transition.
//
// Debian builds the date library with USE_OS_TZDB: it reads the explicit transitions of the
// TZif files under /usr/share/zoneinfo, which zic writes up to 2037, and ignores the footer
// that ends each file, the POSIX TZ rule that continues them ("CET-1CEST,M3.5.0,M10.5.0/3").
// Asked about 2040, it answers winter time all summer. These functions ask date first; where
// its answer is its last interval, open-ended, and the zone's footer has daylight saving, they
// answer from the footer rule, in the same terms (date::sys_info). Every place in trêve that
// turns an instant into wall-clock time or back goes through them (docs/policy.md, "Daylight
// saving after 2037").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <date/tz.h>

namespace treve::policy::zone_time {

// Reads `zone`'s footer rule now (it is otherwise read the first time an instant past date's
// last transition is asked), so that no file is opened later on a request path.
void prepare(const date::time_zone* zone);

// The offset, saving and abbreviation in force at `t`, and the interval they hold over.
date::sys_info info(const date::time_zone* zone, date::sys_seconds t);

// `t` in `zone`'s wall-clock time.
template <class Duration>
date::local_time<Duration> to_local(const date::time_zone* zone, date::sys_time<Duration> t) {
  const auto at = info(zone, date::floor<std::chrono::seconds>(t));
  return date::local_time<Duration>{t.time_since_epoch() + at.offset};
}

// The instant of wall-clock time `local`, as date::choose::earliest chooses: the earlier of
// two when the clocks go back, and the instant of the change when `local` is skipped.
date::sys_seconds to_sys(const date::time_zone* zone, date::local_seconds local);

// A POSIX TZ rule, as a TZif footer holds it. Exposed for its tests.
struct PosixRule {
  // When a change happens: Mm.w.d (day d of week w of month m, 5 = last), Jn (1..365, 29
  // February never counted) or n (0..365, counted), at `time` local (may exceed 24 h or be
  // negative).
  struct When {
    enum class Kind : std::uint8_t { month_week_day, julian, zero_based } kind{};
    int month = 0;
    int week = 0;
    int weekday = 0;
    int day = 0;
    std::chrono::seconds time{7200};
  };
  std::string std_abbrev;
  std::chrono::seconds std_offset{0};  // UTC offset (east positive), unlike POSIX's sign
  bool has_dst = false;
  std::string dst_abbrev;
  std::chrono::seconds dst_offset{0};
  When start;
  When end;

  // The interval of this rule holding `t`; valid when has_dst.
  date::sys_info info(date::sys_seconds t) const;
};

// Parses a footer rule; nullopt when it is not one (an empty footer is not).
std::optional<PosixRule> parse_posix_rule(std::string_view text);

}  // namespace treve::policy::zone_time
