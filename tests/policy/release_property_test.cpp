// Property test of the release instant: for thousands of random policies (weekly windows,
// closed ranges, public holidays on or off) in six time zones and random reception instants,
// the release computed by the engine is checked against a brute-force reference written here:
//  - release >= received;
//  - the release instant itself is open (Schedule::is_quiet is false, and it is in no
//    reference quiet interval);
//  - every minute boundary in [received, release) (and `received` itself) is inside some
//    reference quiet interval, i.e. nothing earlier was open.
// The reference converts each window occurrence and closed day of the local dates around the
// instants to UTC with zone->to_sys(local, choose::earliest), independently of schedule.cpp.
//
// Reproducible: a fixed seed (override with TREVE_PROPERTY_SEED=N); a failure prints the seed,
// the configuration index, the configuration and the instant.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <date/tz.h>
#include <gtest/gtest.h>

#include "policy/decision.h"
#include "policy/holidays.h"
#include "policy/policy_set.h"
#include "policy/rfc3339.h"
#include "policy/uai.h"

namespace treve::policy {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr std::uint64_t kDefaultSeed = 0x7265'7665'2026ULL;
// Under AddressSanitizer each check costs about ten times more: a quarter of the
// configurations keeps the test within ctest's timeout on two cores.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kConfigs = 500;
#else
constexpr int kConfigs = 2000;
#endif
constexpr int kInstantsPerZone = 6;

constexpr std::array<const char*, 6> kZones = {"Europe/Paris",    "America/Miquelon",
                                               "Indian/Reunion",  "Pacific/Noumea",
                                               "America/Cayenne", "Pacific/Tahiti"};

// ------------------------------------------------------------------------------------------
// The random configuration, in the test's own terms.

struct RefWindow {
  std::array<bool, 7> days{};  // index: weekday c_encoding (0 = Sunday)
  int start = 0;               // minutes since local midnight
  int end = 0;
  int end_day = -1;  // -1: none; else c_encoding
};

struct RefClosed {
  date::local_days first;
  date::local_days last;  // inclusive
};

struct RefConfig {
  std::vector<RefWindow> windows;
  std::vector<RefClosed> closed;
  bool holidays = true;
};

std::string hhmm(int m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d", m / 60, m % 60);
  return buf;
}

std::string describe(const RefConfig& c) {
  static const char* names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  std::ostringstream s;
  s << "holidays = " << (c.holidays ? "[\"fr-public\"]" : "[]") << "\nclosed = [";
  for (std::size_t i = 0; i < c.closed.size(); ++i) {
    s << (i ? ", " : "") << '"' << date::format("%F", c.closed[i].first) << ".."
      << date::format("%F", c.closed[i].last) << '"';
  }
  s << "]\n";
  for (const auto& w : c.windows) {
    s << "[[policy.quiet]]\ndays = [";
    bool first = true;
    for (int d = 0; d < 7; ++d) {
      if (!w.days[d])
        continue;
      s << (first ? "" : ", ") << '"' << names[d] << '"';
      first = false;
    }
    s << "]\nstart = \"" << hhmm(w.start) << "\"\nend = \"" << hhmm(w.end) << "\"\n";
    if (w.end_day >= 0)
      s << "end_day = \"" << names[w.end_day] << "\"\n";
  }
  return s.str();
}

QuietWindow to_policy(const RefWindow& w) {
  QuietWindow q;
  for (unsigned d = 0; d < 7; ++d) {
    if (w.days[d])
      q.days |= static_cast<std::uint8_t>(1u << d);
  }
  q.start = minutes{w.start};
  q.end = minutes{w.end};
  if (w.end_day >= 0)
    q.end_day = date::weekday{static_cast<unsigned>(w.end_day)};
  return q;
}

// Times that make windows interesting: midnight, the DST hours, the usual evening/morning.
int random_minute(std::mt19937_64& rng) {
  static constexpr int kSpecial[] = {0,   60,   90,   120,  150,     180,     210,        420,
                                     480, 1200, 1230, 1439, 23 * 60, 12 * 60, 2 * 60 + 59};
  std::uniform_int_distribution<int> coin(0, 2);
  if (coin(rng) == 0) {
    return kSpecial[std::uniform_int_distribution<std::size_t>(0, std::size(kSpecial) - 1)(rng)];
  }
  return std::uniform_int_distribution<int>(0, 1439)(rng);
}

date::local_days random_day(std::mt19937_64& rng) {
  const date::local_days from{date::year{2026} / date::January / 1};
  const date::local_days to{date::year{2035} / date::December / 31};
  return from + date::days{std::uniform_int_distribution<int>(0, (to - from).count())(rng)};
}

RefConfig random_config(std::mt19937_64& rng) {
  RefConfig c;
  const int n = std::uniform_int_distribution<int>(1, 4)(rng);
  std::bernoulli_distribution day_on(0.45);
  for (int i = 0; i < n; ++i) {
    RefWindow w;
    bool any = false;
    for (int d = 0; d < 7; ++d)
      any |= (w.days[d] = day_on(rng));
    if (!any)
      w.days[std::uniform_int_distribution<int>(0, 6)(rng)] = true;
    w.start = random_minute(rng);
    w.end = random_minute(rng);
    if (std::bernoulli_distribution(0.35)(rng)) {
      w.end_day = std::uniform_int_distribution<int>(0, 6)(rng);
    }
    c.windows.push_back(w);
  }
  const int closed = std::uniform_int_distribution<int>(0, 3)(rng);
  for (int i = 0; i < closed; ++i) {
    RefClosed r;
    r.first = random_day(rng);
    r.last = r.first + date::days{std::uniform_int_distribution<int>(0, 16)(rng)};
    c.closed.push_back(r);
  }
  c.holidays = std::bernoulli_distribution(0.7)(rng);
  return c;
}

// Instants to ask about: uniform over 2026-2035, near the closed ranges, near the zone's
// daylight-saving transitions, near public holidays; with random seconds and milliseconds.
Instant random_instant(std::mt19937_64& rng, const RefConfig& c, const date::time_zone* zone) {
  const auto from = date::sys_days{date::year{2026} / date::January / 1};
  const auto to = date::sys_days{date::year{2036} / date::January / 1};
  const std::int64_t span_ms = std::chrono::duration_cast<milliseconds>(to - from).count();
  std::uniform_int_distribution<std::int64_t> any_ms(0, span_ms - 1);
  std::uniform_int_distribution<std::int64_t> near_ms(-3LL * 86'400'000, 3LL * 86'400'000);
  Instant uniform = Instant{from} + milliseconds{any_ms(rng)};
  switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
    case 0:
    case 1:
      return uniform;
    case 2:
      if (!c.closed.empty()) {
        const auto& r =
            c.closed[std::uniform_int_distribution<std::size_t>(0, c.closed.size() - 1)(rng)];
        auto edge = std::bernoulli_distribution(0.5)(rng) ? r.first : r.last + date::days{1};
        return zone->to_sys(date::local_seconds{edge}, date::choose::earliest) +
               milliseconds{near_ms(rng)};
      }
      return uniform;
    case 3: {
      // Around the transition that starts or ends the offset period containing `uniform`.
      auto info = zone->get_info(date::floor<std::chrono::seconds>(uniform));
      auto edge = std::bernoulli_distribution(0.5)(rng) ? info.begin : info.end;
      if (edge > from + date::days{3} && edge < to - date::days{3}) {
        std::uniform_int_distribution<std::int64_t> hours_ms(-3LL * 3'600'000, 3LL * 3'600'000);
        return Instant{edge} +
               milliseconds{std::bernoulli_distribution(0.5)(rng) ? near_ms(rng) : hours_ms(rng)};
      }
      return uniform;
    }
    case 4: {
      int year = std::uniform_int_distribution<int>(2026, 2035)(rng);
      auto hs = public_holidays(year, Region::metropole);
      const auto& h = hs[std::uniform_int_distribution<std::size_t>(0, hs.size() - 1)(rng)];
      return zone->to_sys(date::local_seconds{date::local_days{h.date}}, date::choose::earliest) +
             milliseconds{near_ms(rng)};
    }
    default: {
      // Exactly on a window's start or end minute, in local time.
      const auto& w =
          c.windows[std::uniform_int_distribution<std::size_t>(0, c.windows.size() - 1)(rng)];
      auto day = date::floor<date::days>(zone->to_local(uniform));
      int m = std::bernoulli_distribution(0.5)(rng) ? w.start : w.end;
      auto local = date::local_seconds{day} + minutes{m};
      return Instant{zone->to_sys(local, date::choose::earliest)} +
             milliseconds{std::uniform_int_distribution<int>(-1, 1)(rng)};
    }
  }
}

// ------------------------------------------------------------------------------------------
// The brute-force reference.

struct Interval {
  std::int64_t start_ms;  // inclusive
  std::int64_t end_ms;    // exclusive
};

std::int64_t utc_ms(const date::time_zone* zone, date::local_seconds local) {
  return std::chrono::duration_cast<milliseconds>(
             zone->to_sys(local, date::choose::earliest).time_since_epoch())
      .count();
}

// Days from a window's start day to its end day.
int end_offset(const RefWindow& w, int start_wd) {
  if (w.end_day < 0)
    return w.end > w.start ? 0 : 1;
  for (int k = 0; k <= 7; ++k) {
    if ((start_wd + k) % 7 != w.end_day)
      continue;
    if (k == 0 && w.end <= w.start)
      continue;
    return k;
  }
  ADD_FAILURE() << "unreachable";
  return 0;
}

// Every quiet interval that starts on a local date in [from, to], unmerged.
std::vector<Interval> reference_intervals(const RefConfig& c, const date::time_zone* zone,
                                          date::local_days from, date::local_days to) {
  std::vector<Interval> out;
  for (auto d = from; d <= to; d += date::days{1}) {
    int wd = static_cast<int>(date::weekday{d}.c_encoding());
    for (const auto& w : c.windows) {
      if (!w.days[wd])
        continue;
      auto start = date::local_seconds{d} + minutes{w.start};
      auto end = date::local_seconds{d + date::days{end_offset(w, wd)}} + minutes{w.end};
      out.push_back({utc_ms(zone, start), utc_ms(zone, end)});
    }
    auto whole_day = [&] {
      out.push_back({utc_ms(zone, date::local_seconds{d}),
                     utc_ms(zone, date::local_seconds{d + date::days{1}})});
    };
    for (const auto& r : c.closed) {
      if (d >= r.first && d <= r.last)
        whole_day();
    }
  }
  if (c.holidays) {
    int y0 = static_cast<int>(date::year_month_day{from}.year());
    int y1 = static_cast<int>(date::year_month_day{to}.year());
    for (int y = y0; y <= y1; ++y) {
      for (const Holiday& h : public_holidays(y, Region::metropole)) {
        date::local_days d{h.date};
        if (d < from || d > to)
          continue;
        out.push_back({utc_ms(zone, date::local_seconds{d}),
                       utc_ms(zone, date::local_seconds{d + date::days{1}})});
      }
    }
  }
  std::erase_if(out, [](const Interval& i) { return i.end_ms <= i.start_ms; });
  std::sort(out.begin(), out.end(),
            [](const Interval& a, const Interval& b) { return a.start_ms < b.start_ms; });
  return out;
}

bool covered(const std::vector<Interval>& intervals, std::int64_t t) {
  for (const auto& i : intervals) {
    if (i.start_ms > t)
      break;  // sorted by start
    if (t < i.end_ms)
      return true;
  }
  return false;
}

date::local_days local_day(const date::time_zone* zone, std::int64_t t_ms) {
  return date::floor<date::days>(zone->to_local(date::sys_time<milliseconds>{milliseconds{t_ms}}));
}

// Checks one reception instant; returns an empty string or what went wrong.
std::string check(const EstablishmentPolicy& policy, const RefConfig& c,
                  const date::time_zone* zone, Instant received) {
  std::ostringstream why;
  const Release r = policy.schedule().next_open(received);
  if (!r.evaluated)
    return "next_open could not evaluate the policy";
  const std::int64_t t0 = received.time_since_epoch().count();
  const std::int64_t rel = r.at.time_since_epoch().count();
  if (rel < t0) {
    why << "release " << format_rfc3339(r.at, zone) << " is before reception";
    return why.str();
  }
  if (policy.schedule().is_quiet(r.at)) {
    why << "release " << format_rfc3339(r.at, zone) << " is itself quiet (is_quiet)";
    return why.str();
  }

  // The reference intervals of every local date that can reach [received, release].
  auto intervals = reference_intervals(c, zone, local_day(zone, t0) - date::days{9},
                                       local_day(zone, rel) + date::days{1});
  if (covered(intervals, rel)) {
    why << "release " << format_rfc3339(r.at, zone) << " is inside a reference quiet interval";
    return why.str();
  }
  // Every minute boundary in [received, release), and `received` itself, must be quiet.
  constexpr std::int64_t kMinute = 60'000;
  std::int64_t first_boundary = t0 % kMinute == 0 ? t0 : (t0 / kMinute + 1) * kMinute;
  // The union of the reference intervals, as disjoint sorted intervals, walked with a cursor
  // (t only increases).
  std::vector<Interval> merged;
  for (const auto& i : intervals) {
    if (!merged.empty() && i.start_ms <= merged.back().end_ms) {
      merged.back().end_ms = std::max(merged.back().end_ms, i.end_ms);
    } else {
      merged.push_back(i);
    }
  }
  std::size_t cursor = 0;
  auto quiet_at = [&](std::int64_t t) {
    while (cursor < merged.size() && merged[cursor].end_ms <= t)
      ++cursor;
    return cursor < merged.size() && merged[cursor].start_ms <= t;
  };
  if (rel > t0 && !quiet_at(t0)) {
    why << "received at an open instant but released later, at " << format_rfc3339(r.at, zone);
    return why.str();
  }
  for (std::int64_t t = first_boundary; t < rel; t += kMinute) {
    if (!quiet_at(t)) {
      why << format_rfc3339(Instant{milliseconds{t}}, zone)
          << " is open in the reference, but the release is later, at "
          << format_rfc3339(r.at, zone);
      return why.str();
    }
  }
  if (rel == t0 && covered(intervals, t0)) {
    why << "released at once, but reception is inside a reference quiet interval";
    return why.str();
  }

  // The decision function agrees with the schedule for a student's message.
  Notification n;
  n.source = "property";
  n.id = "p";
  n.establishment = "0750654D";
  n.category = Category::message;
  n.recipients.push_back({"s", Role::student, std::nullopt, {}, nullptr});
  auto decisions = decide(policy, n, received, false);
  if (decisions.size() != 1 || decisions[0].release_at != r.at ||
      decisions[0].held != (r.at > received) || !decisions[0].evaluated) {
    why << "decide() disagrees with Schedule::next_open";
    return why.str();
  }
  return {};
}

std::uint64_t base_seed() {
  if (const char* s = std::getenv("TREVE_PROPERTY_SEED"))
    return std::strtoull(s, nullptr, 0);
  return kDefaultSeed;
}

void run_property(int configs, Horizon horizon, std::uint64_t salt) {
  const std::uint64_t seed = base_seed() ^ salt;
  std::array<const date::time_zone*, kRegionCount> zones{};
  for (std::size_t r = 0; r < kRegionCount; ++r) {
    zones[r] = date::locate_zone(default_timezone(static_cast<Region>(r)));
  }
  const Uai uai = *parse_uai("0750654D");
  int failures = 0;
  int tested = 0;
  int skipped = 0;
  for (int i = 0; i < configs && failures < 5; ++i) {
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
    RefConfig c = random_config(rng);
    std::vector<QuietWindow> windows;
    for (const auto& w : c.windows)
      windows.push_back(to_policy(w));
    if (windows_cover_whole_week(windows)) {
      ++skipped;
      continue;
    }
    for (const char* zone_name : kZones) {
      const date::time_zone* zone = date::locate_zone(zone_name);
      EstablishmentRules rules;
      rules.zone = zone;
      rules.windows = windows;
      rules.public_holidays = c.holidays;
      for (const auto& r : c.closed)
        rules.closed.push_back({r.first, r.last, "closed"});
      PolicySet set(rules, {}, zones, horizon);
      const EstablishmentPolicy& policy = set.find(uai);
      for (int k = 0; k < kInstantsPerZone; ++k) {
        Instant received = random_instant(rng, c, zone);
        std::string problem = check(policy, c, zone, received);
        ++tested;
        if (!problem.empty()) {
          ++failures;
          ADD_FAILURE() << problem << "\n  seed " << seed << " (TREVE_PROPERTY_SEED=" << base_seed()
                        << "), configuration #" << i << ", zone " << zone_name << ", horizon "
                        << horizon.first_year << ".." << horizon.last_year << "\n  received "
                        << format_rfc3339(received, zone) << " ("
                        << received.time_since_epoch().count() << " ms)\n"
                        << describe(c);
          break;
        }
      }
    }
  }
  EXPECT_GT(tested, configs * 4);  // most configurations are not whole-week
  ::testing::Test::RecordProperty("instants_tested", tested);
  ::testing::Test::RecordProperty("configurations_skipped", skipped);
}

TEST(ReleaseProperty, ReleaseIsTheFirstOpenInstantForRandomPolicies) {
  // A horizon just wider than the instants (2026..2035): they are answered from the
  // precompiled intervals, and compiling 12 years instead of the default 26 keeps the test
  // fast enough for 2000 configurations x 6 zones.
  run_property(kConfigs, Horizon{2025, 2036}, 0);
}

TEST(ReleaseProperty, ReleaseIsTheFirstOpenInstantWithTheDefaultHorizon) {
  // PolicySet(rules, {}, zones) exactly as the daemon builds it (default horizon).
  run_property(kConfigs / 8, Horizon{}, 0x5EED);
}

TEST(ReleaseProperty, ReleaseIsTheSameOutsideTheCompiledHorizon) {
  // A horizon of one year: almost every instant is answered by generating intervals on the
  // fly, which must give the same answers.
  run_property(kConfigs / 2, Horizon{2030, 2030}, 0xABCDEF);
}

TEST(ReleaseProperty, TheReferenceAgreesWithKnownReleases) {
  // Sanity check of the reference itself on the default windows in Paris.
  RefConfig c;
  RefWindow weekdays;
  for (int d : {1, 2, 3, 4})
    weekdays.days[d] = true;
  weekdays.start = 20 * 60;
  weekdays.end = 7 * 60;
  RefWindow weekend;
  weekend.days[5] = true;
  weekend.start = 20 * 60;
  weekend.end = 7 * 60;
  weekend.end_day = 1;
  c.windows = {weekdays, weekend};
  const date::time_zone* paris = date::locate_zone("Europe/Paris");
  auto t = *parse_rfc3339("2026-12-24T21:00:00+01:00");
  auto day = date::local_days{date::year{2026} / date::December / 24};
  auto iv = reference_intervals(c, paris, day - date::days{9}, day + date::days{5});
  EXPECT_TRUE(covered(iv, t.time_since_epoch().count()));
  auto monday = *parse_rfc3339("2026-12-28T07:00:00+01:00");
  EXPECT_TRUE(covered(iv, monday.time_since_epoch().count() - 1));
  EXPECT_FALSE(covered(iv, monday.time_since_epoch().count()));
  // With the engine.
  std::array<const date::time_zone*, kRegionCount> zones{};
  for (std::size_t r = 0; r < kRegionCount; ++r) {
    zones[r] = date::locate_zone(default_timezone(static_cast<Region>(r)));
  }
  EstablishmentRules rules;
  rules.zone = paris;
  PolicySet set(rules, {}, zones);
  EXPECT_EQ(check(set.find(*parse_uai("0750654D")), c, paris, t), "");
  EXPECT_EQ(set.find(*parse_uai("0750654D")).schedule().next_open(t).at, monday);
}

}  // namespace
}  // namespace treve::policy
