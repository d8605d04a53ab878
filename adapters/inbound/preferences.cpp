#include "adapters/inbound/preferences.h"

#include <boost/json.hpp>

#include "adapters/inbound/json_text.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;

std::unexpected<Problem> bad(std::string pointer, std::string detail) {
  return std::unexpected(invalid_field(std::move(pointer), std::move(detail)));
}

std::optional<std::chrono::minutes> hhmm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':')
    return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (s[i] < '0' || s[i] > '9')
      return std::nullopt;
  }
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59)
    return std::nullopt;
  return std::chrono::minutes{h * 60 + m};
}

std::string hhmm_text(std::chrono::minutes m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(m.count() / 60),
                static_cast<int>(m.count() % 60));
  return buf;
}

json::object window_json(const policy::QuietWindow& w) {
  json::object o;
  json::array days;
  for (unsigned i = 1; i <= 7; ++i) {  // Monday first
    const date::weekday wd{i % 7};
    if (w.starts_on(wd))
      days.emplace_back(policy::weekday_key(wd));
  }
  o["days"] = std::move(days);
  o["start"] = hhmm_text(w.start);
  o["end"] = hhmm_text(w.end);
  if (w.end_day)
    o["end_day"] = policy::weekday_key(*w.end_day);
  if (!w.name.empty())
    o["name"] = w.name;
  return o;
}

std::expected<policy::QuietWindow, Problem> window_of(const json::value& v, const std::string& at) {
  if (!v.is_object())
    return bad(at, "must be an object, got " + json_type(v));
  const json::object& o = v.get_object();
  for (const auto& kv : o) {
    const std::string_view k = kv.key();
    if (k != "days" && k != "start" && k != "end" && k != "end_day" && k != "name") {
      return bad(at + "/" + pointer_token(k), "unknown field \"" + std::string(k) +
                                                  "\"; expected days, start, end, end_day, name");
    }
  }
  policy::QuietWindow w;
  const json::value* days = o.if_contains("days");
  if (!days)
    return bad(at + "/days", "missing required field \"days\"");
  if (!days->is_array() || days->get_array().empty())
    return bad(at + "/days", "must be a non-empty array of days (\"mon\" … \"sun\")");
  const json::array& list = days->get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = at + "/days/" + std::to_string(i);
    if (!list[i].is_string())
      return bad(p, "must be a string, got " + json_type(list[i]));
    auto wd = policy::parse_weekday_key(list[i].get_string());
    if (!wd)
      return bad(p, "unknown day; expected mon, tue, wed, thu, fri, sat or sun");
    w.days |= static_cast<std::uint8_t>(1u << wd->c_encoding());
  }
  for (auto [key, target] : {std::pair{"start", &w.start}, {"end", &w.end}}) {
    const json::value* t = o.if_contains(key);
    const std::string p = at + "/" + key;
    if (!t)
      return bad(p, "missing required field \"" + std::string(key) + "\"");
    if (!t->is_string())
      return bad(p, "must be a string \"HH:MM\", got " + json_type(*t));
    auto m = hhmm(t->get_string());
    if (!m)
      return bad(p, "expected a time \"HH:MM\" (00:00 to 23:59)");
    *target = *m;
  }
  if (const json::value* e = o.if_contains("end_day")) {
    if (!e->is_string())
      return bad(at + "/end_day", "must be a string, got " + json_type(*e));
    auto wd = policy::parse_weekday_key(e->get_string());
    if (!wd)
      return bad(at + "/end_day", "unknown day; expected mon, tue, wed, thu, fri, sat or sun");
    w.end_day = *wd;
  }
  if (const json::value* n = o.if_contains("name")) {
    if (!n->is_string())
      return bad(at + "/name", "must be a string, got " + json_type(*n));
    const std::string_view name = n->get_string();
    if (name.size() > 100)
      return bad(at + "/name", "at most 100 bytes");
    for (unsigned char c : name) {
      if (c < 0x20 || c == 0x7f)
        return bad(at + "/name", "must not hold control characters");
    }
    w.name = std::string(name);
  }
  return w;
}

}  // namespace

std::expected<PersonalQuiet, Problem> parse_preferences(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec)
    return bad("", "the body is not JSON: " + ec.message());
  if (!v.is_object())
    return bad("", "must be a JSON object {\"quiet\": [...]}, got " + json_type(v));
  const json::object& o = v.get_object();
  for (const auto& kv : o) {
    if (kv.key() != "quiet")
      return bad("/" + pointer_token(kv.key()),
                 "unknown field \"" + std::string(kv.key()) + "\"; expected quiet");
  }
  const json::value* quiet = o.if_contains("quiet");
  if (!quiet)
    return bad("/quiet", "missing required field \"quiet\" (to remove the hours, DELETE them)");
  if (!quiet->is_array())
    return bad("/quiet", "must be an array of windows, got " + json_type(*quiet));
  const json::array& list = quiet->get_array();
  if (list.empty())
    return bad("/quiet", "must hold at least one window (to remove the hours, DELETE them)");
  if (list.size() > kMaxPersonalWindows)
    return bad("/quiet", "at most " + std::to_string(kMaxPersonalWindows) + " windows");
  PersonalQuiet out;
  json::array normal;
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto w = window_of(list[i], "/quiet/" + std::to_string(i));
    if (!w)
      return std::unexpected(std::move(w.error()));
    normal.push_back(window_json(*w));
    out.windows.push_back(std::move(*w));
  }
  // With the national default they must leave time open: otherwise nothing could ever reach
  // this recipient (the decision would set the hours aside anyway).
  std::vector<policy::QuietWindow> with_default = policy::default_quiet_windows();
  with_default.insert(with_default.end(), out.windows.begin(), out.windows.end());
  if (policy::windows_cover_whole_week(with_default)) {
    return bad("/quiet",
               "together with the national quiet windows (Mon-Thu 20:00-07:00, Fri 20:00-Mon "
               "07:00) these hours leave no time of the week open: nothing could ever be "
               "delivered");
  }
  out.json = json::serialize(normal);
  return out;
}

std::vector<policy::QuietWindow> windows_from_json(std::string_view text) {
  auto parsed = parse_preferences("{\"quiet\":" + std::string(text) + "}");
  if (!parsed)
    return {};
  return std::move(parsed->windows);
}

}  // namespace treve::adapters
