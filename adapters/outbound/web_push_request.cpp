#include "adapters/outbound/web_push_request.h"

#include "adapters/outbound/web_push.h"
#include "adapters/outbound/web_push_message.h"

namespace treve::adapters {

PushAnswer read_push_answer(int status) {
  if (status == 404 || status == 410)
    return PushAnswer::gone;
  switch (classify_http_status(status)) {
    case Verdict::delivered:
      return PushAnswer::delivered;
    case Verdict::retry:
      return PushAnswer::retry;
    case Verdict::permanent:
    case Verdict::no_address:
      break;
  }
  return PushAnswer::refused;
}

WebPushRequests::WebPushRequests(std::shared_ptr<const VapidKey> key, WebPushOptions options)
    : key_(std::move(key)), options_(std::move(options)) {}

std::expected<std::string, std::string> WebPushRequests::authorization(
    std::string_view origin, std::int64_t unix_seconds) const {
  if (!key_)
    return std::unexpected(std::string("cannot sign the request: no VAPID key"));
  return key_->authorization(origin, options_.subject, unix_seconds, options_.vapid_validity);
}

std::expected<OutboundRequest, std::string> WebPushRequests::build(
    std::string_view plaintext, std::string_view id, bool urgent,
    const PushSubscription& subscription, std::string authorization) const {
  auto body = web_push_encrypt(plaintext, subscription.p256dh, subscription.auth);
  if (!body)
    return std::unexpected("push subscription " + body.error());
  OutboundRequest r;
  r.url = subscription.endpoint;
  r.id = std::string(id);
  r.body = std::move(*body);
  r.headers = {{"Content-Encoding", "aes128gcm"},
               {"Content-Type", "application/octet-stream"},
               {"TTL", std::to_string(options_.ttl.count())},
               {"Urgency", urgent ? "high" : "normal"},
               {"Authorization", std::move(authorization)},
               {"User-Agent", "treve/0.1"}};
  return r;
}

std::expected<OutboundRequest, std::string> WebPushRequests::build_for(
    const OutboundDelivery& d, const PushSubscription& subscription,
    std::int64_t unix_seconds) const {
  auto origin = push_origin(subscription.endpoint);
  if (!origin)
    return std::unexpected("push subscription endpoint: " + origin.error());
  auto signed_for = authorization(*origin, unix_seconds);
  if (!signed_for)
    return std::unexpected(signed_for.error());
  auto plaintext = web_push_message(d);
  if (!plaintext)
    return std::unexpected(plaintext.error());
  return build(*plaintext, d.delivery_id, d.urgent, subscription, std::move(*signed_for));
}

}  // namespace treve::adapters
