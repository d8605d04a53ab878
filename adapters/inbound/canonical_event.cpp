#include "adapters/inbound/canonical_event.h"
#include "adapters/inbound/json_text.h"

#include <cstdio>
#include <optional>
#include <utility>

#include <boost/json.hpp>

#include "adapters/inbound/raw_members.h"
#include "adapters/outbound/addresses.h"
#include "policy/rfc3339.h"
#include "policy/uai.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;

std::unexpected<Problem> bad(std::string pointer, std::string detail) {
  return std::unexpected(invalid_field(std::move(pointer), std::move(detail)));
}

std::expected<std::string_view, Problem> required_string(const json::object& o,
                                                         std::string_view key,
                                                         const std::string& pointer) {
  const json::value* v = o.if_contains(key);
  if (!v)
    return bad(pointer, "missing required field \"" + std::string(key) + "\"");
  if (!v->is_string())
    return bad(pointer, "must be a string, got " + json_type(*v));
  return std::string_view(v->get_string());
}

// The first character of `s` (valid UTF-8, as the JSON parser guarantees) that must not be in
// an identifier, as U+XXXX, and its position in characters from 1; nullopt when there is none.
// Identifiers are written to the daemon's log and the audit trail: C0 and C1 controls and DEL
// could end or forge a line there or drive a terminal, and line separators and bidirectional
// overrides could make one id read as another.
std::optional<std::pair<char32_t, std::size_t>> forbidden_character(std::string_view s) {
  std::size_t position = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    ++position;
    char32_t c = b;
    std::size_t length = 1;
    if (b >= 0xF0) {
      length = 4;
    } else if (b >= 0xE0) {
      length = 3;
      if (i + 2 < s.size()) {
        c = static_cast<char32_t>(((b & 0x0Fu) << 12) |
                                  ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                                  (static_cast<unsigned char>(s[i + 2]) & 0x3Fu));
      }
    } else if (b >= 0xC0) {
      length = 2;
      if (i + 1 < s.size())
        c = static_cast<char32_t>(((b & 0x1Fu) << 6) |
                                  (static_cast<unsigned char>(s[i + 1]) & 0x3Fu));
    }
    const bool control = c < 0x20 || (c >= 0x7F && c <= 0x9F);
    const bool separator = c == 0x2028 || c == 0x2029;
    const bool bidi = (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
    if (control || separator || bidi)
      return std::pair{c, position};
    i += length;
  }
  return std::nullopt;
}

std::string code_point(char32_t c) {
  char text[16];
  std::snprintf(text, sizeof text, "U+%04X", static_cast<unsigned>(c));
  return text;
}

// A problem at `pointer` if `s` holds a character refused in identifiers.
std::optional<Problem> unprintable(std::string_view s, const std::string& pointer) {
  auto f = forbidden_character(s);
  if (!f)
    return std::nullopt;
  return invalid_field(pointer,
                       "must not contain a control character, line separator or bidirectional "
                       "override (" +
                           code_point(f->first) + " at character " + std::to_string(f->second) +
                           ")");
}

std::expected<std::string, Problem> identifier(std::string_view s, const std::string& pointer,
                                               std::size_t max_chars) {
  std::size_t n = utf8_chars(s);
  if (n == 0)
    return bad(pointer, "must not be empty");
  if (auto p = unprintable(s, pointer))
    return std::unexpected(std::move(*p));
  if (n > max_chars) {
    return bad(pointer, "is " + std::to_string(n) + " characters long; at most " +
                            std::to_string(max_chars) + " are allowed");
  }
  return std::string(s);
}

std::expected<policy::Instant, Problem> instant(const json::object& o, std::string_view key) {
  std::string pointer = "/" + std::string(key);
  auto s = required_string(o, key, pointer);
  if (!s)
    return std::unexpected(s.error());
  auto t = policy::parse_rfc3339(*s);
  if (!t)
    return bad(pointer, t.error());
  return *t;
}

}  // namespace

// The payload as the connector wrote it, and no field given twice (which of the two would be
// forwarded is not something to guess).
std::expected<CanonicalEvent, Problem> with_raw_payload(std::expected<CanonicalEvent, Problem> e,
                                                        std::string_view body,
                                                        const ParseMode& mode) {
  if (!e || !mode.keep_payload)
    return e;
  const std::vector<RawMember> members = raw_members(body);
  if (auto repeated = repeated_member(members))
    return std::unexpected(std::move(*repeated));
  std::string_view payload;
  for (const RawMember& m : members) {
    if (m.key == "payload")
      payload = m.value;
  }
  e->payload_json = payload.empty() ? std::string("null") : std::string(payload);
  return e;
}

std::expected<CanonicalEvent, Problem> parse_canonical_event(std::string_view body,
                                                             const ParseMode& mode) {
  // Events are small: parse into a stack buffer and spill to the heap only when needed.
  unsigned char buffer[8192];
  json::monotonic_resource resource(buffer, sizeof buffer);
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, &resource);
  if (ec)
    return std::unexpected(malformed_json("the body is not valid JSON: " + ec.message()));
  if (!v.is_object())
    return bad("", "the event must be a JSON object, got " + json_type(v));
  return with_raw_payload(canonical_event_from_json(v.get_object(), mode), body, mode);
}

struct CanonicalEventReader::State {
  json::parser parser;
  std::unique_ptr<unsigned char[]> buffer{new unsigned char[kBufferSize]};
  static constexpr std::size_t kBufferSize = 16384;
};

CanonicalEventReader::CanonicalEventReader(ParseMode mode)
    : mode_(mode), state_(std::make_unique<State>()) {}
CanonicalEventReader::~CanonicalEventReader() = default;

std::expected<CanonicalEvent, Problem> CanonicalEventReader::parse(std::string_view body) {
  json::monotonic_resource resource(state_->buffer.get(), State::kBufferSize);
  state_->parser.reset(&resource);
  boost::system::error_code ec;
  state_->parser.write(body.data(), body.size(), ec);
  if (ec)
    return std::unexpected(malformed_json("the body is not valid JSON: " + ec.message()));
  json::value v = state_->parser.release();
  if (!v.is_object())
    return bad("", "the event must be a JSON object, got " + json_type(v));
  return with_raw_payload(canonical_event_from_json(v.get_object(), mode_), body, mode_);
}

// The recipients of `o`, into `n` (whose establishment is read).
static std::expected<void, Problem> recipients_of(const json::object& o, const ParseMode& mode,
                                                  policy::Notification& n) {
  const json::value* rv = o.if_contains("recipients");
  if (!rv)
    return bad("/recipients", "missing required field \"recipients\"");
  if (!rv->is_array())
    return bad("/recipients", "must be an array, got " + json_type(*rv));
  const json::array& recipients = rv->get_array();
  if (recipients.empty())
    return bad("/recipients", "must hold at least one recipient");
  if (recipients.size() > mode.limits.max_recipients) {
    return bad("/recipients", "holds " + std::to_string(recipients.size()) +
                                  " recipients; at most " +
                                  std::to_string(mode.limits.max_recipients) + " are allowed");
  }
  n.recipients.reserve(recipients.size());
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    std::string base = "/recipients/" + std::to_string(i);
    if (!recipients[i].is_object()) {
      return bad(base, "each recipient must be an object, got " + json_type(recipients[i]));
    }
    const json::object& r = recipients[i].get_object();
    for (const auto& kv : r) {
      std::string_view k = kv.key();
      if (k != "id" && k != "role" && k != "of" && k != "channels" && k != "establishments") {
        return bad(base + "/" + pointer_token(k), "unknown field \"" + std::string(k) + "\"");
      }
    }
    policy::Recipient rec;
    auto rid = required_string(r, "id", base + "/id");
    if (!rid)
      return std::unexpected(rid.error());
    auto ridv = identifier(*rid, base + "/id", mode.limits.max_id_chars);
    if (!ridv)
      return std::unexpected(ridv.error());
    rec.id = std::move(*ridv);
    auto role = required_string(r, "role", base + "/role");
    if (!role)
      return std::unexpected(role.error());
    auto rl = policy::parse_role(*role);
    if (!rl) {
      return bad(base + "/role",
                 "unknown role \"" + std::string(*role) + "\"; expected student, parent or staff");
    }
    rec.role = *rl;
    if (const json::value* of = r.if_contains("of")) {
      if (!of->is_string())
        return bad(base + "/of", "must be a string, got " + json_type(*of));
      if (rec.role != policy::Role::parent) {
        return bad(base + "/of", "only a parent recipient may name the student it is a parent of");
      }
      auto ofv = identifier(of->get_string(), base + "/of", mode.limits.max_id_chars);
      if (!ofv)
        return std::unexpected(ofv.error());
      rec.of = std::move(*ofv);
    }
    // The recipient's other establishments, whose quiet times apply too (the strictest of
    // all holds it). The event's own establishment and repeats are folded away.
    if (const json::value* others = r.if_contains("establishments")) {
      const std::string at = base + "/establishments";
      if (!others->is_array())
        return bad(at, "must be an array of UAIs, got " + json_type(*others));
      const json::array& list = others->get_array();
      if (list.size() > kMaxRecipientEstablishments) {
        return bad(at, "holds " + std::to_string(list.size()) + " establishments; at most " +
                           std::to_string(kMaxRecipientEstablishments) + " are allowed");
      }
      for (std::size_t j = 0; j < list.size(); ++j) {
        const std::string item = at + "/" + std::to_string(j);
        if (!list[j].is_string())
          return bad(item, "must be a UAI string, got " + json_type(list[j]));
        auto other = policy::parse_uai(list[j].get_string());
        if (!other)
          return bad(item, other.error());
        if (other->code == n.establishment ||
            std::find(rec.establishments.begin(), rec.establishments.end(), other->code) !=
                rec.establishments.end())
          continue;
        rec.establishments.push_back(std::move(other->code));
      }
    }
    // Addresses for the push and e-mail sinks; personal data kept in the body only.
    if (const json::value* channels = r.if_contains("channels")) {
      if (auto e = validate_channels(json::serialize(*channels)))
        return bad(base + "/channels" + e->pointer, e->message);
    }
    for (const auto& earlier : n.recipients) {
      if (earlier.id == rec.id) {
        return bad(base + "/id", "recipient \"" + rec.id + "\" is listed twice");
      }
    }
    n.recipients.push_back(std::move(rec));
  }
  return {};
}

std::expected<CanonicalEvent, Problem> canonical_event_from_json(const json::object& o,
                                                                 const ParseMode& mode) {
  static constexpr std::string_view kFields[] = {"id",         "establishment", "category",
                                                 "recipients", "created_at",    "urgent",
                                                 "title",      "payload",       "due_at"};
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    bool known = std::find(std::begin(kFields), std::end(kFields), k) != std::end(kFields);
    if (mode.simulation && (k == "received_at" || k == "source"))
      known = true;
    if (!known)
      return bad("/" + pointer_token(k), "unknown field \"" + std::string(k) + "\"");
  }

  CanonicalEvent e;
  policy::Notification& n = e.notification;

  auto id = required_string(o, "id", "/id");
  if (!id)
    return std::unexpected(id.error());
  auto idv = identifier(*id, "/id", mode.limits.max_id_chars);
  if (!idv)
    return std::unexpected(idv.error());
  n.id = std::move(*idv);

  // Before its directory answered, an event has neither establishment nor recipients.
  if (mode.without_audience) {
    for (std::string_view k : {"establishment", "recipients"}) {
      if (o.contains(k))
        return bad("/" + std::string(k), "given by the directory, not by the event");
    }
  } else {
    auto est = required_string(o, "establishment", "/establishment");
    if (!est)
      return std::unexpected(est.error());
    auto uai = policy::parse_uai(*est);
    if (!uai)
      return bad("/establishment", uai.error());
    n.establishment = uai->code;
  }

  auto cat = required_string(o, "category", "/category");
  if (!cat)
    return std::unexpected(cat.error());
  auto category = policy::parse_category(*cat);
  if (!category) {
    return bad("/category", "unknown category \"" + std::string(*cat) +
                                "\"; expected one of: message, grade, homework, blog, news, "
                                "schedule, absence, alert, other");
  }
  n.category = *category;

  if (!mode.without_audience) {
    if (auto r = recipients_of(o, mode, n); !r)
      return std::unexpected(std::move(r.error()));
  }

  auto created = instant(o, "created_at");
  if (!created)
    return std::unexpected(created.error());
  e.created_at = *created;

  if (o.contains("due_at")) {
    if (n.category != policy::Category::homework)
      return bad("/due_at", "only a homework event has a due date");
    auto due = instant(o, "due_at");
    if (!due)
      return std::unexpected(due.error());
    n.due_at = *due;
  }

  if (const json::value* u = o.if_contains("urgent")) {
    if (!u->is_bool())
      return bad("/urgent", "must be true or false, got " + json_type(*u));
    n.urgent = u->get_bool();
  }
  if (const json::value* t = o.if_contains("title")) {
    if (!t->is_string())
      return bad("/title", "must be a string, got " + json_type(*t));
    std::size_t chars = utf8_chars(t->get_string());
    if (chars > mode.limits.max_title_chars) {
      return bad("/title", "is " + std::to_string(chars) + " characters long; at most " +
                               std::to_string(mode.limits.max_title_chars) + " are allowed");
    }
    e.title = std::string(t->get_string());
  }

  if (mode.simulation) {
    auto received = instant(o, "received_at");
    if (!received)
      return std::unexpected(received.error());
    e.received_at = *received;
    if (const json::value* s = o.if_contains("source")) {
      if (!s->is_string())
        return bad("/source", "must be a string, got " + json_type(*s));
      if (auto p = unprintable(s->get_string(), "/source"))
        return std::unexpected(std::move(*p));
      n.source = std::string(s->get_string());
    } else {
      n.source = "simulate";
    }
  }
  return e;
}

std::optional<Problem> identifier_problem(std::string_view s, const std::string& pointer,
                                          std::size_t max_chars) {
  auto checked = identifier(s, pointer, max_chars);
  if (checked)
    return std::nullopt;
  return std::move(checked.error());
}

}  // namespace treve::adapters
