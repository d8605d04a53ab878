#include "adapters/inbound/cloudevents.h"
#include "adapters/inbound/json_text.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <date/date.h>
#include <boost/json.hpp>

#include "adapters/inbound/raw_members.h"
#include "policy/rfc3339.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;

std::string quoted(std::string_view s) {
  return json::serialize(json::string(s));
}

// CloudEvents 1.0: attribute names are lower-case ASCII letters and digits.
bool valid_attribute_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

// A JSON media type, as datacontenttype or Content-Type: application/json, text/json or any
// "+json" suffix; parameters (charset) and case ignored.
bool json_media_type(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.pop_back();
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
    t.erase(t.begin());
  for (char& c : t)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t == "application/json" || t == "text/json" || (t.size() > 5 && t.ends_with("+json"));
}

// The context attributes trêve reads; extensions are checked for their form and ignored.
struct Attributes {
  std::string specversion;
  std::string id;
  std::string source;
  std::string type;
  std::optional<std::string> time;
  std::optional<std::string> datacontenttype;
  bool has_specversion = false, has_id = false, has_source = false, has_type = false;
};

// Where a problem with an attribute is: a pointer into the document (structured and batched
// modes) or a header (binary mode).
class Place {
 public:
  static Place document(std::string prefix) { return Place(std::move(prefix), false); }
  static Place headers() { return Place({}, true); }

  Problem attribute(std::string_view name, std::string detail) const {
    if (!in_headers_)
      return invalid_field(prefix_ + "/" + pointer_token(name), std::move(detail));
    Problem p = make_problem(400, "invalid-header", "Invalid header", std::move(detail));
    p.members["header"] = "ce-" + std::string(name);
    return p;
  }
  // A pointer into `data`: under "/data" in a structured event, the body itself in binary mode.
  std::string data_pointer(std::string_view inside) const {
    return in_headers_ ? std::string(inside) : prefix_ + "/data" + std::string(inside);
  }

 private:
  Place(std::string prefix, bool in_headers)
      : prefix_(std::move(prefix)), in_headers_(in_headers) {}
  std::string prefix_;
  bool in_headers_;
};

// Records one attribute's value (a string); the known ones are kept.
void keep(Attributes& a, std::string_view name, std::string value) {
  if (name == "specversion") {
    a.specversion = std::move(value);
    a.has_specversion = true;
  } else if (name == "id") {
    a.id = std::move(value);
    a.has_id = true;
  } else if (name == "source") {
    a.source = std::move(value);
    a.has_source = true;
  } else if (name == "type") {
    a.type = std::move(value);
    a.has_type = true;
  } else if (name == "time") {
    a.time = std::move(value);
  } else if (name == "datacontenttype") {
    a.datacontenttype = std::move(value);
  }
}

// The checks every mode shares, once the attributes are read.
std::optional<Problem> check_attributes(const Attributes& a, const Place& at) {
  if (!a.has_specversion)
    return at.attribute("specversion", "missing required attribute \"specversion\"");
  if (a.specversion != "1.0") {
    return at.attribute("specversion", "unsupported specversion " + quoted(a.specversion) +
                                           "; trêve takes CloudEvents \"1.0\"");
  }
  if (!a.has_id)
    return at.attribute("id", "missing required attribute \"id\"");
  if (auto p = identifier_problem(a.id, "", kMaxCloudEventIdChars))
    return at.attribute("id", std::move(p->detail));
  if (!a.has_source)
    return at.attribute("source", "missing required attribute \"source\"");
  if (auto p = identifier_problem(a.source, "", kMaxCloudEventSourceChars))
    return at.attribute("source", std::move(p->detail));
  if (!a.has_type)
    return at.attribute("type", "missing required attribute \"type\"");
  if (auto p = identifier_problem(a.type, "", kMaxCloudEventSourceChars))
    return at.attribute("type", std::move(p->detail));
  if (a.time) {
    auto t = policy::parse_rfc3339(*a.time);
    if (!t)
      return at.attribute("time", "must be an RFC 3339 timestamp: " + t.error());
  }
  if (a.datacontenttype && !json_media_type(*a.datacontenttype)) {
    return at.attribute("datacontenttype", "trêve takes JSON data only (application/json), got " +
                                               quoted(*a.datacontenttype));
  }
  return std::nullopt;
}

std::string utc_text(policy::Instant t) {
  return date::format("%FT%TZ", t);
}

// The JSON text of `o` with `payload` (a value's text as written, or empty) as its last member.
std::string render(json::object o, std::string_view payload) {
  o.erase("payload");
  std::string out = json::serialize(o);
  if (!payload.empty()) {
    out.pop_back();  // '}'
    if (!o.empty())
      out += ',';
    out += "\"payload\":";
    out += payload;
    out += '}';
  }
  return out;
}

// A canonical parser's problem about `o`'s fields, moved to where the connector wrote them.
using PointerMap = std::vector<std::pair<std::string, std::string>>;  // canonical -> sent
Problem relocate(Problem p, const PointerMap& map) {
  for (const auto& [from, to] : map) {
    if (p.pointer == from || p.pointer.starts_with(from + "/")) {
      p.pointer = to + p.pointer.substr(from.size());
      return p;
    }
  }
  return p;
}

// The user ids of the array `v` (at `pointer` in the document sent), into `out`: each element
// a string or an object {"userId": "…"}; each user once, in order of first appearance.
std::optional<Problem> user_ids(const json::value& v, const std::string& pointer,
                                InboundCloudEvent& out) {
  const EventLimits limits;
  if (!v.is_array()) {
    return invalid_field(pointer,
                         "must be an array of user ids (strings, or objects {\"userId\": "
                         "…}), got " +
                             json_type(v));
  }
  const json::array& a = v.get_array();
  if (a.empty())
    return invalid_field(pointer, "names no recipient");
  if (a.size() > limits.max_recipients) {
    return invalid_field(pointer, "holds " + std::to_string(a.size()) + " recipients; at most " +
                                      std::to_string(limits.max_recipients) + " are allowed");
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::string at = pointer + "/" + std::to_string(i);
    const json::value* id = &a[i];
    if (a[i].is_object()) {
      at += "/userId";
      id = a[i].get_object().if_contains("userId");
      if (!id)
        return invalid_field(at, "missing required field \"userId\"");
    }
    if (!id->is_string()) {
      return invalid_field(at,
                           "each recipient must be a user id (a string) or an object "
                           "{\"userId\": …}, got " +
                               json_type(*id));
    }
    if (auto p = identifier_problem(id->get_string(), at, limits.max_id_chars))
      return p;
    if (std::find(out.users.begin(), out.users.end(), id->get_string()) == out.users.end()) {
      out.users.emplace_back(id->get_string());
      out.user_pointers.push_back(std::move(at));
    }
  }
  return std::nullopt;
}

// The canonical event built from checked attributes and `data` (its text as written: `raw`).
std::expected<InboundCloudEvent, Problem> translate(const Attributes& a, const json::value* data,
                                                    std::string_view raw, const Place& at,
                                                    const CloudEventMapping& mapping,
                                                    policy::Instant received) {
  if (!data)
    return std::unexpected(invalid_field(at.data_pointer(""),
                                         "missing \"data\": trêve needs "
                                         "the notification in the event's "
                                         "data"));
  if (!data->is_object()) {
    return std::unexpected(
        invalid_field(at.data_pointer(""), "data must be a JSON object, got " + json_type(*data)));
  }
  const json::object& d = data->get_object();
  std::optional<policy::Instant> time;
  if (a.time)
    time = *policy::parse_rfc3339(*a.time);  // checked by check_attributes

  InboundCloudEvent out;
  json::object o;
  std::string payload;
  PointerMap map;
  std::optional<std::string> given_created_at;  // from the event itself, not the clock
  if (a.type == kNotificationType) {
    if (auto p = repeated_member(raw, at.data_pointer("")))
      return std::unexpected(std::move(*p));
    o = d;
    if (const json::value* id = d.if_contains("id")) {
      if (!id->is_string() || id->get_string() != a.id) {
        return std::unexpected(
            invalid_field(at.data_pointer("/id"),
                          "must be the CloudEvent's id " + quoted(a.id) + ", or left out"));
      }
    }
    o["id"] = a.id;
    if (const json::value* c = d.if_contains("created_at"); c && c->is_string()) {
      auto t = policy::parse_rfc3339(c->get_string());
      if (t && time && *t != *time) {
        return std::unexpected(invalid_field(at.data_pointer("/created_at"),
                                             "names another instant than the CloudEvent's time " +
                                                 quoted(*a.time) + "; give one, or the same"));
      }
      given_created_at = std::string(c->get_string());
    } else if (!c && a.time) {
      given_created_at = *a.time;
    }
    payload = std::string(raw_member(raw, "payload"));
    map.emplace_back("", at.data_pointer(""));
  } else {
    // A mapped type: the fields where the connector's pointers say; with a directory, the
    // recipients are user ids and there is no establishment.
    const bool users = mapping.recipients_from_directory;
    std::error_code ec;
    const json::value* establishment = nullptr;
    if (!users) {
      establishment = data->find_pointer(mapping.establishment_pointer, ec);
      if (!establishment) {
        return std::unexpected(
            invalid_field(at.data_pointer(mapping.establishment_pointer),
                          "missing: the establishment's UAI is expected here (the connector's "
                          "establishment_pointer)"));
      }
    }
    const json::value* recipients = data->find_pointer(mapping.recipients_pointer, ec);
    if (!recipients) {
      return std::unexpected(invalid_field(
          at.data_pointer(mapping.recipients_pointer),
          std::string("missing: the recipients") + (users ? "' user ids are" : " are") +
              " expected here (the connector's recipients_pointer)"));
    }
    if (users) {
      if (auto p = user_ids(*recipients, at.data_pointer(mapping.recipients_pointer), out))
        return std::unexpected(std::move(*p));
    }
    o["id"] = a.id;
    if (establishment)
      o["establishment"] = *establishment;
    o["category"] = policy::to_string(mapping.category_of(a.type));
    if (!users)
      o["recipients"] = *recipients;
    if (const json::value* title = data->find_pointer(mapping.title_pointer, ec))
      o["title"] = *title;
    if (const json::value* urgent = data->find_pointer(mapping.urgent_pointer, ec))
      o["urgent"] = *urgent;
    if (a.time)
      given_created_at = *a.time;
    payload = std::string(raw);
    if (!users) {
      map.emplace_back("/establishment", at.data_pointer(mapping.establishment_pointer));
      map.emplace_back("/recipients", at.data_pointer(mapping.recipients_pointer));
    }
    map.emplace_back("/title", at.data_pointer(mapping.title_pointer));
    map.emplace_back("/urgent", at.data_pointer(mapping.urgent_pointer));
  }

  json::object identity = o;
  identity.erase("created_at");
  if (given_created_at) {
    identity["created_at"] = *given_created_at;
    o["created_at"] = *given_created_at;
  } else if (!o.contains("created_at")) {
    o["created_at"] = utc_text(received);
  }
  ParseMode mode;
  mode.without_audience = !out.users.empty();
  auto parsed = canonical_event_from_json(o, mode);
  if (!parsed)
    return std::unexpected(relocate(std::move(parsed.error()), map));
  out.event = std::move(*parsed);
  out.event.notification.id = stored_event_id(a.source, a.id, mapping);
  out.event.payload_json = payload.empty() ? std::string("null") : payload;
  out.source = a.source;
  out.id = a.id;
  out.body = render(std::move(o), payload);
  out.fingerprint = a.source + '\n' + a.type + '\n' + render(std::move(identity), payload);
  return out;
}

// One event in the JSON format: the object `o`, written as `raw`, at `prefix` in the document.
std::expected<InboundCloudEvent, Problem> from_object(const json::object& o, std::string_view raw,
                                                      const std::string& prefix,
                                                      const CloudEventMapping& mapping,
                                                      policy::Instant received) {
  if (auto p = repeated_member(raw, prefix))
    return std::unexpected(std::move(*p));
  const Place at = Place::document(prefix);
  Attributes a;
  for (const auto& kv : o) {
    const std::string_view name = kv.key();
    const json::value& v = kv.value();
    if (name == "data")
      continue;
    if (name == "data_base64") {
      return std::unexpected(at.attribute(
          name, "trêve takes JSON data only: send the notification as \"data\", not base64"));
    }
    if (!valid_attribute_name(name)) {
      return std::unexpected(at.attribute(
          name, "not a CloudEvents attribute name: lower-case letters a-z and digits only"));
    }
    const bool known = name == "specversion" || name == "id" || name == "source" ||
                       name == "type" || name == "time" || name == "datacontenttype" ||
                       name == "subject" || name == "dataschema";
    if (v.is_null())
      continue;  // an attribute without a value is absent
    if (known && !v.is_string())
      return std::unexpected(at.attribute(name, "must be a string, got " + json_type(v)));
    if (!known && (v.is_object() || v.is_array())) {
      return std::unexpected(at.attribute(
          name, "an extension attribute is a string, a number or a boolean, got " + json_type(v)));
    }
    if (v.is_string())
      keep(a, name, std::string(v.get_string()));
  }
  if (auto p = check_attributes(a, at))
    return std::unexpected(std::move(*p));
  return translate(a, o.if_contains("data"), raw_member(raw, "data"), at, mapping, received);
}

// Percent-decodes a binary-mode header value (CloudEvents HTTP binding 3.1.3.2).
std::optional<std::string> percent_decoded(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

policy::Category CloudEventMapping::category_of(std::string_view type) const {
  for (const auto& [name, category] : types) {
    if (name == type)
      return category;
  }
  return policy::Category::other;
}

bool valid_member_pointer(std::string_view text) {
  if (text.empty() || text.front() != '/')
    return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '~' && (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1')))
      return false;
  }
  return true;
}

std::string stored_event_id(std::string_view source, std::string_view id,
                            const CloudEventMapping& mapping) {
  if (!mapping.ce_source.empty() && source == mapping.ce_source &&
      id.find('#') == std::string_view::npos)
    return std::string(id);
  std::string out;
  out.reserve(source.size() + id.size() + 1);
  for (char c : source) {
    if (c == '%') {
      out += "%25";
    } else if (c == '#') {
      out += "%23";
    } else {
      out += c;
    }
  }
  out += '#';
  out += id;
  return out;
}

std::expected<InboundCloudEvent, Problem> parse_structured_cloudevent(
    std::string_view body, const CloudEventMapping& mapping, policy::Instant received) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec)
    return std::unexpected(malformed_json("the body is not valid JSON: " + ec.message()));
  if (!v.is_object()) {
    return std::unexpected(
        invalid_field("", "a structured CloudEvent is a JSON object, got " + json_type(v)));
  }
  return from_object(v.get_object(), body, "", mapping, received);
}

std::expected<InboundCloudEvent, Problem> parse_binary_cloudevent(
    std::span<const HeaderField> headers, std::string_view body, const CloudEventMapping& mapping,
    policy::Instant received) {
  const Place at = Place::headers();
  Attributes a;
  std::vector<std::string> seen;
  for (const HeaderField& h : headers) {
    const std::string name = lower(h.name);
    if (name == "content-type") {
      a.datacontenttype = std::string(h.value);
      continue;
    }
    if (!name.starts_with("ce-"))
      continue;
    const std::string attribute = name.substr(3);
    if (!valid_attribute_name(attribute)) {
      return std::unexpected(at.attribute(
          attribute, "not a CloudEvents attribute name: lower-case letters a-z and digits only"));
    }
    if (std::find(seen.begin(), seen.end(), attribute) != seen.end())
      return std::unexpected(at.attribute(attribute, "given twice"));
    seen.push_back(attribute);
    auto value = percent_decoded(h.value);
    if (!value || !valid_utf8(*value)) {
      return std::unexpected(at.attribute(
          attribute, "malformed value: a percent-encoded escape is cut short or not UTF-8"));
    }
    if (attribute == "datacontenttype")
      continue;  // Content-Type carries it in binary mode
    keep(a, attribute, std::move(*value));
  }
  if (a.datacontenttype && !json_media_type(*a.datacontenttype)) {
    return std::unexpected(make_problem(415, "unsupported-media-type", "Unsupported media type",
                                        "in binary mode the body is the event's data, which "
                                        "must be JSON (Content-Type: application/json), got " +
                                            quoted(*a.datacontenttype)));
  }
  if (auto p = check_attributes(a, at))
    return std::unexpected(std::move(*p));
  boost::system::error_code ec;
  json::value data = json::parse(body, ec);
  if (ec) {
    return std::unexpected(
        malformed_json("the body (the event's data) is not valid JSON: " + ec.message()));
  }
  return translate(a, &data, body, at, mapping, received);
}

std::expected<std::vector<CloudEventResult>, Problem> parse_cloudevent_batch(
    std::string_view body, const CloudEventMapping& mapping, policy::Instant received) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec)
    return std::unexpected(malformed_json("the body is not valid JSON: " + ec.message()));
  if (!v.is_array()) {
    return std::unexpected(
        invalid_field("", "a batch of CloudEvents is a JSON array of events, got " + json_type(v)));
  }
  const json::array& events = v.get_array();
  const std::vector<std::string_view> raw = raw_elements(body);
  std::vector<CloudEventResult> out;
  out.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string prefix = "/" + std::to_string(i);
    if (!events[i].is_object()) {
      out.push_back(std::unexpected(
          invalid_field(prefix, "each event must be a JSON object, got " + json_type(events[i]))));
      continue;
    }
    // The scanner and the parser agree on valid JSON; should they not, the element's text
    // is written again (its payload then as Boost.JSON prints it).
    std::string again;
    std::string_view text = raw.size() == events.size() ? raw[i] : std::string_view{};
    if (text.empty()) {
      again = json::serialize(events[i]);
      text = again;
    }
    out.push_back(from_object(events[i].get_object(), text, prefix, mapping, received));
  }
  return out;
}

}  // namespace treve::adapters
