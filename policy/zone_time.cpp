#include "policy/zone_time.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iterator>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace treve::policy::zone_time {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Where Debian's date library (USE_OS_TZDB) reads its zones.
constexpr const char* kZoneDir = "/usr/share/zoneinfo/";

// date's last interval of a zone ends at the end of its representable time: anything ending
// after this is open-ended.
const date::sys_seconds kOpenEnded{date::sys_days{date::year{2200} / 1 / 1}};

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  bool done() const { return i_ == s_.size(); }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }

  // "CET", or "<-03>" quoted.
  std::optional<std::string> abbrev() {
    std::string out;
    if (eat('<')) {
      while (i_ < s_.size() && s_[i_] != '>')
        out += s_[i_++];
      if (!eat('>') || out.empty())
        return std::nullopt;
      return out;
    }
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_])))
      out += s_[i_++];
    if (out.size() < 3)
      return std::nullopt;
    return out;
  }

  std::optional<int> number(int max_digits) {
    int v = 0;
    int n = 0;
    while (n < max_digits && i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      v = v * 10 + (s_[i_++] - '0');
      ++n;
    }
    if (n == 0)
      return std::nullopt;
    return v;
  }

  // [+-]hh[:mm[:ss]], hours up to 167 (TZif version 3 allows it for transition times).
  std::optional<seconds> duration() {
    int sign = 1;
    if (eat('-'))
      sign = -1;
    else
      eat('+');
    auto h = number(3);
    if (!h || *h > 167)
      return std::nullopt;
    seconds out = hours{*h};
    if (eat(':')) {
      auto m = number(2);
      if (!m || *m > 59)
        return std::nullopt;
      out += minutes{*m};
      if (eat(':')) {
        auto sec = number(2);
        if (!sec || *sec > 59)
          return std::nullopt;
        out += seconds{*sec};
      }
    }
    return sign * out;
  }

  std::optional<PosixRule::When> when() {
    PosixRule::When w;
    if (eat('M')) {
      w.kind = PosixRule::When::Kind::month_week_day;
      auto m = number(2);
      if (!m || *m < 1 || *m > 12 || !eat('.'))
        return std::nullopt;
      auto wk = number(1);
      if (!wk || *wk < 1 || *wk > 5 || !eat('.'))
        return std::nullopt;
      auto d = number(1);
      if (!d || *d > 6)
        return std::nullopt;
      w.month = *m;
      w.week = *wk;
      w.weekday = *d;
    } else if (eat('J')) {
      w.kind = PosixRule::When::Kind::julian;
      auto d = number(3);
      if (!d || *d < 1 || *d > 365)
        return std::nullopt;
      w.day = *d;
    } else {
      w.kind = PosixRule::When::Kind::zero_based;
      auto d = number(3);
      if (!d || *d > 365)
        return std::nullopt;
      w.day = *d;
    }
    if (eat('/')) {
      auto t = duration();
      if (!t)
        return std::nullopt;
      w.time = *t;
    }
    return w;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

date::local_days day_in(const PosixRule::When& w, date::year y) {
  using Kind = PosixRule::When::Kind;
  switch (w.kind) {
    case Kind::month_week_day: {
      const date::year_month ym = y / date::month{static_cast<unsigned>(w.month)};
      const date::local_days first{ym / 1};
      const date::local_days last{ym / date::last};
      const unsigned from = date::weekday{first}.c_encoding();
      const int delta = (w.weekday - static_cast<int>(from) + 7) % 7;
      date::local_days d = first + date::days{delta + 7 * (w.week - 1)};
      while (d > last)
        d -= date::days{7};
      return d;
    }
    case Kind::julian: {
      // 29 February is never counted: J60 is always 1 March.
      date::local_days d = date::local_days{y / 1 / 1} + date::days{w.day - 1};
      if (y.is_leap() && w.day >= 60)
        d += date::days{1};
      return d;
    }
    case Kind::zero_based:
      break;
  }
  return date::local_days{y / 1 / 1} + date::days{w.day};
}

// The instant of change `w` in year `y`, its local time read at `offset`.
date::sys_seconds instant_of(const PosixRule::When& w, date::year y, seconds offset) {
  const date::local_seconds local = date::local_seconds{day_in(w, y)} + w.time;
  return date::sys_seconds{local.time_since_epoch() - offset};
}

// The footer of the TZif file of `zone`, read once per zone; null when there is none, it is not
// a rule, or it has no daylight saving (date's answers are then complete).
const PosixRule* footer_of(const date::time_zone* zone) {
  static std::shared_mutex mutex;
  static std::unordered_map<const date::time_zone*, std::optional<PosixRule>> footers;
  {
    std::shared_lock lock(mutex);
    if (auto it = footers.find(zone); it != footers.end())
      return it->second ? &*it->second : nullptr;
  }
  std::optional<PosixRule> rule;
  std::ifstream in(std::string(kZoneDir) + std::string(zone->name()), std::ios::binary);
  const std::string file{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // Version 2 and later: the footer is the file's last line, between two newlines.
  if (file.size() > 5 && file.compare(0, 4, "TZif") == 0 && file[4] >= '2' && file.back() == '\n') {
    const std::size_t open = file.rfind('\n', file.size() - 2);
    if (open != std::string::npos) {
      rule = parse_posix_rule(std::string_view(file).substr(open + 1, file.size() - open - 2));
      if (rule && !rule->has_dst)
        rule.reset();
    }
  }
  std::unique_lock lock(mutex);
  auto [it, inserted] = footers.emplace(zone, std::move(rule));
  return it->second ? &*it->second : nullptr;
}

}  // namespace

void prepare(const date::time_zone* zone) {
  (void)footer_of(zone);
}

std::optional<PosixRule> parse_posix_rule(std::string_view text) {
  Parser p(text);
  PosixRule r;
  auto std_abbrev = p.abbrev();
  auto std_offset = std_abbrev ? p.duration() : std::nullopt;
  if (!std_offset)
    return std::nullopt;
  r.std_abbrev = std::move(*std_abbrev);
  r.std_offset = -*std_offset;  // POSIX counts west of Greenwich as positive
  if (p.done())
    return r;
  auto dst_abbrev = p.abbrev();
  if (!dst_abbrev)
    return std::nullopt;
  r.has_dst = true;
  r.dst_abbrev = std::move(*dst_abbrev);
  r.dst_offset = r.std_offset + hours{1};
  if (p.peek() != ',') {
    auto off = p.duration();
    if (!off)
      return std::nullopt;
    r.dst_offset = -*off;
  }
  // A footer always says when the changes happen; POSIX's implementation-defined default is
  // not guessed.
  if (!p.eat(','))
    return std::nullopt;
  auto start = p.when();
  if (!start || !p.eat(','))
    return std::nullopt;
  auto end = p.when();
  if (!end || !p.done())
    return std::nullopt;
  r.start = *start;
  r.end = *end;
  return r;
}

namespace {

// The changes of a rule in the local year around an instant and in its neighbours, in time
// order (instant, to summer time): enough to answer for any instant within a year of it,
// north or south of the equator.
using Changes = std::array<std::pair<date::sys_seconds, bool>, 6>;

Changes changes_around(const PosixRule& rule, date::sys_seconds t) {
  const auto local_year = date::year_month_day{date::floor<date::days>(t + rule.std_offset)}.year();
  Changes changes;
  std::size_t n = 0;
  for (date::year y = local_year - date::years{1}; y <= local_year + date::years{1};
       y += date::years{1}) {
    changes[n++] = {instant_of(rule.start, y, rule.std_offset), true};
    changes[n++] = {instant_of(rule.end, y, rule.dst_offset), false};
  }
  std::sort(changes.begin(), changes.end());
  return changes;
}

date::sys_info info_in(const PosixRule& rule, const Changes& changes, date::sys_seconds t) {
  date::sys_info out;
  std::size_t before = changes.size();
  for (std::size_t i = 0; i < changes.size(); ++i) {
    if (changes[i].first <= t)
      before = i;
  }
  bool summer;
  if (before == changes.size()) {  // not reached with real rules: before the first change
    summer = !changes.front().second;
    out.begin = date::sys_seconds::min();
    out.end = changes.front().first;
  } else {
    summer = changes[before].second;
    out.begin = changes[before].first;
    out.end = before + 1 < changes.size() ? changes[before + 1].first : date::sys_seconds::max();
  }
  out.offset = summer ? rule.dst_offset : rule.std_offset;
  out.save = summer ? date::floor<minutes>(rule.dst_offset - rule.std_offset) : minutes{0};
  out.abbrev = summer ? rule.dst_abbrev : rule.std_abbrev;
  return out;
}

}  // namespace

date::sys_info PosixRule::info(date::sys_seconds t) const {
  return info_in(*this, changes_around(*this, t), t);
}

date::sys_info info(const date::time_zone* zone, date::sys_seconds t) {
  date::sys_info known = zone->get_info(t);
  if (known.end < kOpenEnded)
    return known;
  const PosixRule* rule = footer_of(zone);
  if (!rule)
    return known;
  date::sys_info continued = rule->info(t);
  // The rule continues date's last interval: it never reaches back before it.
  continued.begin = std::max(continued.begin, known.begin);
  return continued;
}

date::sys_seconds to_sys(const date::time_zone* zone, date::local_seconds local) {
  const date::sys_seconds guess{local.time_since_epoch()};
  // Two days either way covers every offset there is (-12 h to +14 h): from there on, only the
  // footer rule answers.
  const date::sys_info last = zone->get_info(guess - date::days{2});
  const PosixRule* rule = last.end < kOpenEnded ? nullptr : footer_of(zone);
  if (!rule)
    return zone->to_sys(local, date::choose::earliest);
  const Changes changes = changes_around(*rule, guess);  // every instant asked is within days
  const seconds before = info_in(*rule, changes, guess - date::days{1}).offset;
  const seconds after = info_in(*rule, changes, guess + date::days{1}).offset;
  std::optional<date::sys_seconds> earliest;
  for (const seconds offset : {before, after}) {
    const date::sys_seconds s = guess - offset;
    if (info_in(*rule, changes, s).offset == offset && (!earliest || s < *earliest))
      earliest = s;
  }
  if (earliest)
    return *earliest;
  // Skipped when the clocks went forward: the instant they did.
  return info_in(*rule, changes, guess - before).begin;
}

}  // namespace treve::policy::zone_time
