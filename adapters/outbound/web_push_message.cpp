#include "adapters/outbound/web_push_message.h"

#include <optional>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "adapters/inbound/raw_members.h"
#include "adapters/outbound/digest_text.h"
#include "adapters/outbound/web_push.h"
#include "adapters/outbound/webhook_body.h"

namespace treve::adapters {
namespace {

std::string json_string(std::string_view s) {
  return boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

void field(std::string& out, std::string_view key, std::string_view value) {
  out.append(",\"").append(key).append("\":").append(json_string(value));
}

// `title_json` and `payload_json`: JSON texts, or empty to leave the member out.
std::string message(const OutboundDelivery& d, std::string_view title_json,
                    std::string_view payload_json, bool payload_omitted) {
  std::string out = "{";
  out.append("\"delivery_id\":").append(json_string(d.delivery_id));
  field(out, "source", d.source);
  field(out, "id", d.event_id);
  field(out, "establishment", d.establishment);
  field(out, "category", d.category);
  out += d.urgent ? ",\"urgent\":true" : ",\"urgent\":false";
  field(out, "recipient", d.recipient);
  if (!title_json.empty())
    out.append(",\"title\":").append(title_json);
  if (!payload_json.empty())
    out.append(",\"payload\":").append(payload_json);
  if (payload_omitted)
    out += ",\"payload_omitted\":true";
  field(out, "released_at", d.released_at);
  out += '}';
  return out;
}

// The length of the longest prefix of `s` of at most `n` bytes that ends on a UTF-8 character
// boundary.
std::size_t utf8_prefix(std::string_view s, std::size_t n) {
  if (n >= s.size())
    return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  return n;
}

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // …

// The first `keep` bytes of `text` (fewer, to end on a character boundary) and an ellipsis.
std::string cut(std::string_view text, std::size_t keep) {
  return std::string(text.substr(0, utf8_prefix(text, keep))).append(kEllipsis);
}

// Cuts `text` until `compose(json of the cut text)` fits a push message; its result, or
// nothing when even an empty text does not fit.
template <typename Compose>
std::optional<std::string> fit_by_cutting(std::string_view text, Compose compose) {
  std::size_t keep = text.size();
  for (;;) {
    const std::string out = compose(json_string(cut(text, keep)));
    if (out.size() <= kWebPushMaxPlaintext)
      return out;
    if (keep == 0)
      return std::nullopt;
    const std::size_t over = out.size() - kWebPushMaxPlaintext;
    keep = utf8_prefix(text, keep > over ? keep - over : 0);
  }
}

// The text of a member's value written as a JSON string; empty when it is not one.
std::string string_value(std::string_view raw) {
  if (raw.empty() || raw.front() != '"')
    return {};
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(raw, ec);
  if (ec || !parsed.is_string())
    return {};
  return std::string(parsed.get_string().data(), parsed.get_string().size());
}

}  // namespace

std::expected<std::string, std::string> web_push_message(const OutboundDelivery& d) {
  std::string_view title, payload;
  for (const RawMember& m : raw_members(d.event_body)) {
    if (m.key == "title" && !m.value.empty() && m.value.front() == '"')
      title = m.value;
    else if (m.key == "payload" && m.value != "null")
      payload = m.value;
  }
  std::string whole = message(d, title, payload, false);
  if (whole.size() <= kWebPushMaxPlaintext)
    return whole;
  std::string without_payload = message(d, title, {}, !payload.empty());
  if (without_payload.size() <= kWebPushMaxPlaintext)
    return without_payload;
  // Only the title can be long (the identifiers are at most 128 characters): cut it.
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(title, ec);
  if (ec || !parsed.is_string())
    return std::unexpected(std::string("the event's title is not a JSON string"));
  const std::string text(parsed.get_string().data(), parsed.get_string().size());
  auto out = fit_by_cutting(text, [&](const std::string& cut_title) {
    return message(d, cut_title, {}, !payload.empty());
  });
  if (!out)
    return std::unexpected(std::string("the delivery's identifiers do not fit a push message"));
  return std::move(*out);
}

std::string web_push_digest_id(std::span<const OutboundDelivery> batch) {
  return digest_text(batch).id;
}

std::expected<std::string, std::string> web_push_digest_message(
    std::span<const OutboundDelivery> batch) {
  if (batch.empty())
    return std::unexpected(std::string("no delivery in the digest"));
  const DigestText text = digest_text(batch);
  const std::string head =
      "{\"digest\":true,\"delivery_id\":" + json_string(web_push_digest_id(batch)) +
      ",\"title\":" + json_string(text.title) + ",\"body\":";

  std::vector<std::string> entries;
  entries.reserve(batch.size());
  for (const OutboundDelivery& d : batch) {
    std::string entry = "{\"delivery_id\":" + json_string(d.delivery_id);
    field(entry, "id", d.event_id);
    field(entry, "category", d.category);
    std::string title = string_value(raw_member(d.event_body, "title"));
    if (title.size() > kDigestEntryTitle)
      title = cut(title, kDigestEntryTitle - kEllipsis.size());
    if (!title.empty())
      field(entry, "title", title);
    entry += '}';
    entries.push_back(std::move(entry));
  }
  const auto more = [&](std::size_t kept) {
    return kept < entries.size() ? ",\"more\":" + std::to_string(entries.size() - kept)
                                 : std::string();
  };
  // The first `kept` entries, with `body_json` as the body.
  const auto compose = [&](const std::string& body_json, std::size_t kept) {
    std::string out = head + body_json + ",\"notifications\":[";
    for (std::size_t i = 0; i < kept; ++i) {
      if (i > 0)
        out += ',';
      out += entries[i];
    }
    return out.append("]").append(more(kept)).append("}");
  };

  const std::string body_json = json_string(text.body);
  // As many entries as fit, in order: adding one adds more bytes than "more" can save.
  std::size_t size = compose(body_json, 0).size() - more(0).size();
  std::size_t kept = 0;
  while (kept < entries.size()) {
    const std::size_t next = size + entries[kept].size() + (kept > 0 ? 1 : 0);
    if (next + more(kept + 1).size() > kWebPushMaxPlaintext)
      break;
    size = next;
    ++kept;
  }
  std::string out = compose(body_json, kept);
  if (out.size() <= kWebPushMaxPlaintext)
    return out;
  auto cut_body =
      fit_by_cutting(text.body, [&](const std::string& cut_json) { return compose(cut_json, 0); });
  if (!cut_body)
    return std::unexpected(std::string("the digest's title does not fit a push message"));
  return std::move(*cut_body);
}

}  // namespace treve::adapters
