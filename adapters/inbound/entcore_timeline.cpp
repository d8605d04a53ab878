#include "adapters/inbound/entcore_timeline.h"
#include "adapters/inbound/json_text.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include <openssl/evp.h>
#include <boost/json.hpp>

#include "adapters/inbound/raw_members.h"
#include "policy/rfc3339.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;
using policy::Category;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

std::unexpected<Problem> bad(std::string pointer, std::string detail) {
  return std::unexpected(invalid_field(std::move(pointer), std::move(detail)));
}

// The member `key` of `o` unless it is absent or null (Vert.x writes null for an unset field:
// the timeline helper puts "pushNotif": null when the module gave none).
const json::value* present(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

// An optional string member: nothing when absent or null, a problem when not a string.
std::expected<std::optional<std::string_view>, Problem> optional_string(
    const json::object& o, std::string_view key, const std::string& pointer) {
  const json::value* v = present(o, key);
  if (!v)
    return std::optional<std::string_view>{};
  if (!v->is_string())
    return bad(pointer, "must be a string, got " + json_type(*v));
  return std::optional<std::string_view>(std::string_view(v->get_string()));
}

// A translation key as entcore modules write push titles: lower-case letters, digits, '.',
// '-' and '_', with at least one dot ("push.notif.new.message").
bool looks_like_key(std::string_view s) {
  if (s.find('.') == std::string_view::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

// The built-in texts of the push titles entcore's modules use (their i18n/timeline/fr.json).
constexpr std::pair<std::string_view, std::string_view> kDefaultTitles[] = {
    {"push.notif.new.message", "Nouveau message"},
    {"push.notif.blog.published.post", "Nouveau billet de blog"},
    {"push.notif.actu.info.published", "Nouvelle actualité"},
    {"push.notif.new.flash.message", "Nouveau message flash"},
    {"push.notif.file.share", "Un fichier a été partagé avec vous"},
    {"push.notif.folder.share", "Un dossier a été partagé avec vous"},
};

// The JSON text of `v` with every object's members sorted by key, no white space: equal
// values give equal texts whatever the order their producer wrote members in.
void canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      const json::object& o = v.get_object();
      std::vector<const json::key_value_pair*> members;
      members.reserve(o.size());
      for (const auto& kv : o)
        members.push_back(&kv);
      std::sort(members.begin(), members.end(),
                [](const auto* a, const auto* b) { return a->key() < b->key(); });
      out += '{';
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (i)
          out += ',';
        out += json::serialize(json::string_view(members[i]->key()));
        out += ':';
        canonical(members[i]->value(), out);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      const json::array& a = v.get_array();
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i)
          out += ',';
        canonical(a[i], out);
      }
      out += ']';
      return;
    }
    default:
      out += json::serialize(v);
  }
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0F];
  }
  return out;
}

// The content key: what makes two documents the same notification (docs/connectors.md).
std::string content_key(const json::object& o, const std::vector<std::string>& recipients) {
  json::object key;
  for (std::string_view field :
       {"type", "event-type", "resource", "sub-resource", "sender", "date", "params"}) {
    if (const json::value* v = present(o, field))
      key[field] = *v;
  }
  json::array ids;
  for (const std::string& r : recipients)
    ids.emplace_back(r);
  key["recipients"] = std::move(ids);
  std::string text;
  canonical(key, text);
  return text;
}

// Milliseconds since the epoch that `date.$date` may hold: 1970 to the end of 9999.
constexpr std::int64_t kMaxMillis = 253402300799999;

std::expected<policy::Instant, Problem> millis(std::int64_t ms, const std::string& pointer) {
  if (ms < 0 || ms > kMaxMillis) {
    return bad(pointer, "is " + std::to_string(ms) +
                            " milliseconds since 1970; expected an instant from 1970 to 9999");
  }
  return policy::Instant(std::chrono::milliseconds(ms));
}

// `date`: {"$date": milliseconds} as the timeline helper writes it, or the extended JSON
// forms a document read back from MongoDB may carry ({"$date": "RFC 3339"},
// {"$date": {"$numberLong": "…"}}).
std::expected<policy::Instant, Problem> document_date(const json::value& d) {
  if (!d.is_object())
    return bad("/date", "must be an object {\"$date\": …}, got " + json_type(d));
  const json::value* v = d.get_object().if_contains("$date");
  if (!v)
    return bad("/date/$date", "missing required field \"$date\"");
  const std::string pointer = "/date/$date";
  switch (v->kind()) {
    case json::kind::int64:
      return millis(v->get_int64(), pointer);
    case json::kind::uint64:
      return bad(pointer, "is too large for an instant in milliseconds");
    case json::kind::double_:
      return bad(pointer, "must be a whole number of milliseconds since 1970");
    case json::kind::string: {
      auto t = policy::parse_rfc3339(v->get_string());
      if (!t)
        return bad(pointer, t.error());
      return *t;
    }
    case json::kind::object: {
      const json::value* n = v->get_object().if_contains("$numberLong");
      const std::string inner = pointer + "/$numberLong";
      if (!n || !n->is_string())
        return bad(n ? inner : pointer,
                   "must be milliseconds, an RFC 3339 string or "
                   "{\"$numberLong\": \"…\"}");
      std::string_view digits = n->get_string();
      if (digits.empty() || digits.size() > 18 ||
          !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return bad(inner, "must be a string of at most 18 decimal digits");
      return millis(std::stoll(std::string(digits)), inner);
    }
    default:
      return bad(pointer,
                 "must be milliseconds since 1970 or an RFC 3339 string, got " + json_type(*v));
  }
}

// `_id`: a string, or {"$oid": "…"} as MongoDB's extended JSON writes an ObjectId.
std::expected<std::optional<std::string>, Problem> document_id(const json::object& o,
                                                               const EventLimits& limits) {
  const json::value* v = present(o, "_id");
  if (!v)
    return std::optional<std::string>{};
  std::string pointer = "/_id";
  std::string_view id;
  if (v->is_string()) {
    id = v->get_string();
  } else if (v->is_object() && v->get_object().if_contains("$oid") &&
             v->get_object().at("$oid").is_string()) {
    id = v->get_object().at("$oid").get_string();
    pointer = "/_id/$oid";
  } else {
    return bad(pointer, "must be a string or {\"$oid\": \"…\"}, got " + json_type(*v));
  }
  if (auto p = identifier_problem(id, pointer, limits.max_id_chars))
    return std::unexpected(std::move(*p));
  if (id.starts_with(kTimelineDerivedIdPrefix)) {
    return bad(pointer, "must not start with \"" + std::string(kTimelineDerivedIdPrefix) +
                            "\", the prefix of ids trêve derives");
  }
  return std::optional<std::string>(std::string(id));
}

// The recipients, each once, in order; `recipients` first, then `recipientsIds`.
std::expected<std::vector<std::string>, Problem> recipient_ids(const json::object& o,
                                                               const EventLimits& limits) {
  const json::value* listed = present(o, "recipients");
  const json::value* ids = present(o, "recipientsIds");
  if (!listed && !ids)
    return bad("/recipients", "missing required field \"recipients\" (or \"recipientsIds\")");
  std::vector<std::string> out;
  auto add = [&](std::string_view id, const std::string& pointer) -> std::optional<Problem> {
    if (auto p = identifier_problem(id, pointer, limits.max_id_chars))
      return p;
    if (std::find(out.begin(), out.end(), id) == out.end()) {
      if (out.size() == limits.max_recipients) {
        return invalid_field(pointer, "the notification names more than " +
                                          std::to_string(limits.max_recipients) +
                                          " distinct recipients; at most " +
                                          std::to_string(limits.max_recipients) + " are allowed");
      }
      out.emplace_back(id);
    }
    return std::nullopt;
  };
  auto too_many = [&](const json::array& a, const std::string& pointer) -> std::optional<Problem> {
    if (a.size() <= limits.max_recipients)
      return std::nullopt;
    return invalid_field(pointer, "holds " + std::to_string(a.size()) + " recipients; at most " +
                                      std::to_string(limits.max_recipients) + " are allowed");
  };
  if (listed) {
    if (!listed->is_array())
      return bad("/recipients", "must be an array, got " + json_type(*listed));
    const json::array& a = listed->get_array();
    if (auto p = too_many(a, "/recipients"))
      return std::unexpected(std::move(*p));
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string base = "/recipients/" + std::to_string(i);
      if (!a[i].is_object())
        return bad(base,
                   "each recipient must be an object {\"userId\": …}, got " + json_type(a[i]));
      const json::value* id = a[i].get_object().if_contains("userId");
      if (!id)
        return bad(base + "/userId", "missing required field \"userId\"");
      if (!id->is_string())
        return bad(base + "/userId", "must be a string, got " + json_type(*id));
      if (auto p = add(id->get_string(), base + "/userId"))
        return std::unexpected(std::move(*p));
    }
  }
  if (ids) {
    if (!ids->is_array())
      return bad("/recipientsIds", "must be an array, got " + json_type(*ids));
    const json::array& a = ids->get_array();
    if (auto p = too_many(a, "/recipientsIds"))
      return std::unexpected(std::move(*p));
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string pointer = "/recipientsIds/" + std::to_string(i);
      if (!a[i].is_string())
        return bad(pointer, "must be a string, got " + json_type(a[i]));
      if (auto p = add(a[i].get_string(), pointer))
        return std::unexpected(std::move(*p));
    }
  }
  if (out.empty())
    return bad("/recipients", "names no recipient");
  return out;
}

// Title and body: from `pushNotif`, else the category's title and the preview's text.
std::optional<Problem> title_and_body(const json::object& o, const TimelineMapping& mapping,
                                      const EventLimits& limits, TimelineEvent& e) {
  std::optional<std::string> title;
  if (const json::value* push = present(o, "pushNotif")) {
    if (!push->is_object())
      return invalid_field("/pushNotif",
                           "must be an object {\"title\", \"body\"}, got " + json_type(*push));
    auto t = optional_string(push->get_object(), "title", "/pushNotif/title");
    if (!t)
      return std::move(t.error());
    if (*t) {
      std::string_view text = trim(**t);
      if (auto known = mapping.title_of(text)) {
        title = std::move(*known);
      } else if (!text.empty() && !looks_like_key(text)) {
        title = std::string(text);
      }
    }
    auto b = optional_string(push->get_object(), "body", "/pushNotif/body");
    if (!b)
      return std::move(b.error());
    if (*b)
      e.body = std::string(**b);
  }
  if (title) {
    std::size_t chars = utf8_chars(*title);
    if (chars > limits.max_title_chars) {
      return invalid_field("/pushNotif/title",
                           "is " + std::to_string(chars) + " characters long; at most " +
                               std::to_string(limits.max_title_chars) + " are allowed");
    }
    e.title = std::move(*title);
  } else {
    e.title = std::string(default_timeline_title(e.category));
  }
  if (e.body.empty()) {
    if (const json::value* preview = present(o, "preview"); preview && preview->is_object()) {
      if (const json::value* text = preview->get_object().if_contains("text");
          text && text->is_string())
        e.body = std::string(text->get_string());
    }
  }
  return std::nullopt;
}

std::optional<Problem> link(const json::object& o, TimelineEvent& e) {
  const json::value* params = present(o, "params");
  if (!params)
    return std::nullopt;
  if (!params->is_object())
    return invalid_field("/params", "must be an object, got " + json_type(*params));
  for (std::string_view key : {"resourceUri", "uri"}) {
    auto s = optional_string(params->get_object(), key, "/params/" + std::string(key));
    if (!s)
      return std::move(s.error());
    if (*s && !(*s)->empty()) {
      e.link = std::string(**s);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

const std::vector<std::pair<std::string_view, Category>>& default_timeline_types() {
  static const std::vector<std::pair<std::string_view, Category>> kTypes = {
      {"MESSAGERIE", Category::message},
      {"MESSAGERIE.STORAGE", Category::other},
      {"SCHOOLBOOK", Category::message},
      {"BLOG", Category::blog},
      {"NEWS", Category::news},
      {"ACTUALITES", Category::news},
      {"TIMELINE.SEND-FLASH-MESSAGE-PUSH", Category::news},
      {"TIMELINE.SEND-FLASH-MESSAGE-MAIL", Category::news},
      {"HOMEWORKS", Category::homework},
      {"DIARY", Category::homework},
      {"EXERCIZER", Category::homework},
      {"COMPETENCES", Category::grade},
      {"VIESCOLAIRE", Category::grade},
      {"PRESENCES", Category::absence},
  };
  return kTypes;
}

std::string_view default_timeline_title(Category c) {
  switch (c) {
    case Category::message:
      return "Nouveau message";
    case Category::grade:
      return "Nouvelle évaluation";
    case Category::homework:
      return "Nouveau travail à faire";
    case Category::blog:
      return "Nouveau billet de blog";
    case Category::news:
      return "Nouvelle actualité";
    case Category::schedule:
      return "Changement d'emploi du temps";
    case Category::absence:
      return "Absence ou retard";
    case Category::alert:
      return "Alerte";
    case Category::other:
      break;
  }
  return "Nouvelle notification";
}

bool valid_timeline_type_key(std::string_view key) {
  auto part = [](std::string_view p) {
    return !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_';
    });
  };
  const std::size_t dot = key.find('.');
  if (dot == std::string_view::npos)
    return part(key);
  return part(key.substr(0, dot)) && part(key.substr(dot + 1));
}

Category TimelineMapping::category_of(std::string_view type, std::string_view event_type) const {
  auto find_in = [](const auto& table, std::string_view key) -> std::optional<Category> {
    for (auto it = table.rbegin(); it != table.rend(); ++it) {
      if (iequals(it->first, key))
        return it->second;
    }
    return std::nullopt;
  };
  if (!event_type.empty()) {
    std::string both = std::string(type) + "." + std::string(event_type);
    if (auto c = find_in(types, both))
      return *c;
    if (auto c = find_in(default_timeline_types(), both))
      return *c;
  }
  if (auto c = find_in(types, type))
    return *c;
  if (auto c = find_in(default_timeline_types(), type))
    return *c;
  return Category::other;
}

std::optional<std::string> TimelineMapping::title_of(std::string_view key) const {
  for (auto it = titles.rbegin(); it != titles.rend(); ++it) {
    if (it->first == key)
      return std::string(trim(it->second));
  }
  for (const auto& [k, text] : kDefaultTitles) {
    if (k == key)
      return std::string(text);
  }
  return std::nullopt;
}

std::expected<TimelineEvent, Problem> parse_entcore_timeline(std::string_view body,
                                                             const TimelineMapping& mapping,
                                                             const EventLimits& limits,
                                                             policy::Instant received) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec)
    return std::unexpected(malformed_json("the body is not valid JSON: " + ec.message()));
  if (!v.is_object())
    return bad("", "the notification must be a JSON object, got " + json_type(v));
  const json::object& o = v.get_object();

  // A member given twice: which one entcore meant, and which one the sinks would read, is not
  // something to guess.
  if (auto repeated = repeated_member(body))
    return std::unexpected(std::move(*repeated));

  if (const json::value* action = present(o, "action")) {
    if (!action->is_string())
      return bad("/action", "must be a string, got " + json_type(*action));
    if (action->get_string() != "add") {
      return bad("/action", "only \"add\" carries a notification; got \"" +
                                std::string(action->get_string()) + "\"");
    }
  }

  TimelineEvent e;
  const json::value* type = o.if_contains("type");
  if (!type || type->is_null())
    return bad("/type", "missing required field \"type\"");
  if (!type->is_string())
    return bad("/type", "must be a string, got " + json_type(*type));
  if (auto p = identifier_problem(type->get_string(), "/type", limits.max_id_chars))
    return std::unexpected(std::move(*p));
  e.type = std::string(type->get_string());

  auto event_type = optional_string(o, "event-type", "/event-type");
  if (!event_type)
    return std::unexpected(std::move(event_type.error()));
  if (*event_type) {
    if (auto p = identifier_problem(**event_type, "/event-type", limits.max_id_chars))
      return std::unexpected(std::move(*p));
    e.event_type = std::string(**event_type);
  }
  e.category = mapping.category_of(e.type, e.event_type);

  auto recipients = recipient_ids(o, limits);
  if (!recipients)
    return std::unexpected(std::move(recipients.error()));
  e.recipients = std::move(*recipients);

  auto sender = optional_string(o, "sender", "/sender");
  if (!sender)
    return std::unexpected(std::move(sender.error()));
  if (*sender) {
    if (auto p = identifier_problem(**sender, "/sender", limits.max_id_chars))
      return std::unexpected(std::move(*p));
    e.sender = std::string(**sender);
  }
  for (std::string_view key : {"resource", "sub-resource"}) {
    auto s = optional_string(o, key, "/" + std::string(key));
    if (!s)
      return std::unexpected(std::move(s.error()));
  }

  if (const json::value* date = present(o, "date")) {
    auto t = document_date(*date);
    if (!t)
      return std::unexpected(std::move(t.error()));
    e.created_at = *t;
    e.dated = true;
  } else {
    e.created_at = received;
  }

  if (auto p = link(o, e))
    return std::unexpected(std::move(*p));
  if (auto p = title_and_body(o, mapping, limits, e))
    return std::unexpected(std::move(*p));

  auto id = document_id(o, limits);
  if (!id)
    return std::unexpected(std::move(id.error()));
  if (*id) {
    e.id = std::move(**id);
  } else {
    e.id = std::string(kTimelineDerivedIdPrefix) + sha256_hex(content_key(o, e.recipients));
    e.id_derived = true;
  }

  e.payload_json = std::string(trim(body));
  return e;
}

}  // namespace treve::adapters
