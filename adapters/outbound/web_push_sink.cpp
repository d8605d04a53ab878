#include "adapters/outbound/web_push_sink.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "adapters/inbound/raw_members.h"
#include "adapters/outbound/web_push.h"

namespace treve::adapters {
namespace {

void field(std::string& out, std::string_view key, std::string_view value) {
  out.append(",\"").append(key).append("\":");
  out += boost::json::serialize(boost::json::string_view(value.data(), value.size()));
}

// `title_json` and `payload_json`: JSON texts, or empty to leave the member out.
std::string message(const OutboundDelivery& d, std::string_view title_json,
                    std::string_view payload_json, bool payload_omitted) {
  std::string out = "{";
  out.append("\"delivery_id\":");
  out +=
      boost::json::serialize(boost::json::string_view(d.delivery_id.data(), d.delivery_id.size()));
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
  std::size_t keep = text.size();
  for (;;) {
    const std::string cut = text.substr(0, keep) + "\xE2\x80\xA6";  // …
    const std::string out =
        message(d, boost::json::serialize(boost::json::string_view(cut.data(), cut.size())), {},
                !payload.empty());
    if (out.size() <= kWebPushMaxPlaintext)
      return out;
    if (keep == 0)
      return std::unexpected(std::string("the delivery's identifiers do not fit a push message"));
    const std::size_t over = out.size() - kWebPushMaxPlaintext;
    keep = utf8_prefix(text, keep > over ? keep - over : 0);
  }
}

WebPushSink::WebPushSink(std::shared_ptr<const VapidKey> key, WebPushOptions options,
                         SubscriptionLookup lookup)
    : key_(std::move(key)), options_(std::move(options)), lookup_(std::move(lookup)) {}

std::expected<OutboundRequest, std::string> WebPushSink::build(
    std::span<const OutboundDelivery> batch, std::int64_t unix_seconds) const {
  if (batch.empty())
    return std::unexpected(std::string("no delivery to send"));
  if (batch.size() > 1)
    return std::unexpected(std::string("Web Push sends one delivery per request"));
  if (!lookup_)
    return std::unexpected(std::string("no subscription lookup"));
  auto subscription = lookup_(batch.front());
  if (!subscription)
    return std::unexpected("no push subscription: " + subscription.error());
  return build_for(batch.front(), *subscription, unix_seconds);
}

std::expected<OutboundRequest, std::string> WebPushSink::build_for(
    const OutboundDelivery& d, const PushSubscription& subscription,
    std::int64_t unix_seconds) const {
  if (!key_)
    return std::unexpected(std::string("cannot sign the request: no VAPID key"));
  auto audience = push_origin(subscription.endpoint);
  if (!audience)
    return std::unexpected("push subscription endpoint: " + audience.error());
  auto plaintext = web_push_message(d);
  if (!plaintext)
    return std::unexpected(plaintext.error());
  auto body = web_push_encrypt(*plaintext, subscription.p256dh, subscription.auth);
  if (!body)
    return std::unexpected("push subscription " + body.error());
  auto authorization =
      key_->authorization(*audience, options_.subject, unix_seconds, options_.vapid_validity);
  if (!authorization)
    return std::unexpected(authorization.error());
  OutboundRequest r;
  r.url = subscription.endpoint;
  r.id = std::string(d.delivery_id);
  r.body = std::move(*body);
  r.headers = {{"Content-Encoding", "aes128gcm"},
               {"Content-Type", "application/octet-stream"},
               {"TTL", std::to_string(options_.ttl.count())},
               {"Urgency", d.urgent ? "high" : "normal"},
               {"Authorization", std::move(*authorization)},
               {"User-Agent", "treve/0.1"}};
  return r;
}

Verdict WebPushSink::classify(const OutboundResponse& response) const {
  // The push services' answers (RFC 8030 §5-§7; FCM, Mozilla autopush and Apple document the
  // same): 201 accepted, 404/410 the subscription expired or was revoked, 413 payload too
  // large, 400 malformed, 429 too many requests, 5xx their outage. That is HTTP's common
  // reading; a 404 or 410 refuses every later delivery to the same subscription too.
  return classify_http_status(response.status);
}

}  // namespace treve::adapters
