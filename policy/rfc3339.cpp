#include "policy/rfc3339.h"

#include <array>
#include <cstdio>

#include "policy/zone_time.h"

namespace treve::policy {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

std::unexpected<std::string> fail(std::string why) {
  return std::unexpected(std::move(why));
}

constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct LocalParts {
  date::year_month_day ymd;
  date::hh_mm_ss<std::chrono::milliseconds> tod{std::chrono::milliseconds{0}};
  std::chrono::seconds offset{0};
};

LocalParts local_parts(Instant t, const date::time_zone* zone) {
  auto info = zone_time::info(zone, date::floor<std::chrono::seconds>(t));
  if (info.offset.count() % 60 != 0) {
    // Local mean time (Paris before 1911: +00:09:21): RFC 3339 offsets are whole minutes, so
    // such an instant is written in UTC, which names it exactly.
    static const date::time_zone* const utc = date::locate_zone("UTC");
    if (zone != utc)
      return local_parts(t, utc);
  }
  auto local = zone_time::to_local(zone, t);
  auto day = date::floor<date::days>(local);
  return {date::year_month_day{day}, date::hh_mm_ss{local - day}, info.offset};
}

std::string offset_text(std::chrono::seconds off) {
  char sign = off < std::chrono::seconds{0} ? '-' : '+';
  long long m = std::abs(off.count()) / 60;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", sign, m / 60, m % 60);
  return buf;
}

}  // namespace

std::expected<Instant, std::string> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 5 || s[4] != '-' || !digits(s, 5, 2, mo) || s.size() < 8 ||
      s[7] != '-' || !digits(s, 8, 2, d)) {
    return fail("expected an RFC 3339 date-time such as 2026-11-27T21:14:03+01:00");
  }
  if (s.size() < 11 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) {
    return fail("expected 'T' between date and time (RFC 3339)");
  }
  if (!digits(s, 11, 2, h) || s.size() < 14 || s[13] != ':' || !digits(s, 14, 2, mi) ||
      s.size() < 17 || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return fail("expected a time HH:MM:SS (RFC 3339)");
  }
  if (mo < 1 || mo > 12)
    return fail("month " + std::to_string(mo) + " out of range");
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok())
    return fail("day " + std::to_string(d) + " does not exist in that month");
  if (h > 23)
    return fail("hour " + std::to_string(h) + " out of range");
  if (mi > 59)
    return fail("minute " + std::to_string(mi) + " out of range");
  if (sec > 60)
    return fail("second " + std::to_string(sec) + " out of range");
  if (sec == 60)
    sec = 59;  // a leap second is held to the last second of its minute
  std::size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t begin = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == begin)
      return fail("expected digits after '.' in the seconds");
  }
  if (pos >= s.size())
    return fail("missing UTC offset ('Z' or +HH:MM)");
  std::chrono::minutes offset{0};
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return fail("bad UTC offset, expected +HH:MM or -HH:MM");
    }
    offset = std::chrono::hours{oh} + std::chrono::minutes{om};
    if (s[pos] == '-')
      offset = -offset;
    pos += 6;
  } else {
    return fail("bad UTC offset, expected 'Z' or +HH:MM");
  }
  if (pos != s.size())
    return fail("unexpected characters after the UTC offset");
  // The offset written in the text is part of the value, not a time zone rule.
  auto utc = date::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} +
             std::chrono::seconds{sec} + std::chrono::milliseconds{millis} - offset;
  return Instant{utc};
}

// Appends `v` as exactly `width` decimal digits (v >= 0).
void put_digits(std::string& out, long long v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

std::string format_rfc3339(Instant t, const date::time_zone* zone) {
  // Hot in `simulate` (one per delivery): built by hand rather than through printf.
  LocalParts p = local_parts(t, zone);
  std::string out;
  out.reserve(32);
  int year = static_cast<int>(p.ymd.year());
  if (year >= 0 && year <= 9999) {
    put_digits(out, year, 4);
  } else {
    out += std::to_string(year);  // outside RFC 3339's range; never from parsed input
  }
  out += '-';
  put_digits(out, static_cast<unsigned>(p.ymd.month()), 2);
  out += '-';
  put_digits(out, static_cast<unsigned>(p.ymd.day()), 2);
  out += 'T';
  put_digits(out, p.tod.hours().count(), 2);
  out += ':';
  put_digits(out, p.tod.minutes().count(), 2);
  out += ':';
  put_digits(out, p.tod.seconds().count(), 2);
  if (p.tod.subseconds().count() != 0) {
    out += '.';
    put_digits(out, p.tod.subseconds().count(), 3);
  }
  long long m = p.offset.count() / 60;
  out += m < 0 ? '-' : '+';
  if (m < 0)
    m = -m;
  put_digits(out, m / 60, 2);
  out += ':';
  put_digits(out, m % 60, 2);
  return out;
}

std::string format_human(Instant t, const date::time_zone* zone) {
  LocalParts p = local_parts(t, zone);
  date::weekday wd{date::sys_days{p.ymd}};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %u %s %d %02d:%02d", kDays[wd.c_encoding()],
                static_cast<unsigned>(p.ymd.day()),
                kMonths[static_cast<unsigned>(p.ymd.month()) - 1], static_cast<int>(p.ymd.year()),
                static_cast<int>(p.tod.hours().count()), static_cast<int>(p.tod.minutes().count()));
  return std::string(buf) + " (UTC" + offset_text(p.offset) + ")";
}

std::string format_duration(std::chrono::minutes d) {
  long long m = d.count();
  if (m == 0)
    return "0";
  if (m % 1440 == 0 && m >= 2 * 1440)
    return std::to_string(m / 1440) + " days";
  std::string out;
  if (m >= 60)
    out += std::to_string(m / 60) + "h";
  if (m % 60 != 0)
    out += std::to_string(m % 60) + "m";
  return out;
}

}  // namespace treve::policy
