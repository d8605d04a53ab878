// The Web Push channel (RFC 8030, 8291, 8292) behind the outbound Sink interface: each
// delivery is one POST to its recipient's push subscription, the message encrypted for that
// browser (web_push.h) and signed for the push service with the server's VAPID key
// (vapid.h). Not yet chosen by `[[sinks]] type`: the dispatcher does not know where a
// recipient's subscription is (see SubscriptionLookup).
//
// The request:
//   POST <subscription endpoint>
//   Content-Encoding: aes128gcm
//   Content-Type: application/octet-stream
//   TTL: <seconds the push service keeps it for an offline browser; 86400 by default>
//   Urgency: high (an urgent event) | normal
//   Authorization: vapid t=<ES256 JWT for the endpoint's origin>, k=<public key>
//   body: the encrypted web_push_message of the delivery
//
// Immutable once built; safe to call from any thread if the lookup is.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/sink.h"
#include "adapters/outbound/vapid.h"

namespace treve::adapters {

// Where the subscription of a delivery's recipient comes from (the event or a directory,
// DESIGN.md "Delivery"). The Sink interface carries no address yet, so the sink is given this
// function; an error means there is none to send to.
using SubscriptionLookup =
    std::function<std::expected<PushSubscription, std::string>(const OutboundDelivery&)>;

struct WebPushOptions {
  // VAPID `sub`: the operator's contact, "mailto:…" or "https:…". Required.
  std::string subject;
  // How long a push service keeps a message for a browser that is offline (`TTL`, RFC 8030
  // §5.2). A day: a notification released at 07:00 still reaches a device first switched on
  // in the evening, and one that has waited longer than that is better read in the ENT itself.
  std::chrono::seconds ttl = std::chrono::hours(24);
  // Lifetime of each VAPID token (at most 24 h; tokens are made per request).
  std::chrono::seconds vapid_validity = std::chrono::hours(12);
};

class WebPushSink final : public Sink {
 public:
  // `key` null: every build fails (nothing is sent unsigned).
  WebPushSink(std::shared_ptr<const VapidKey> key, WebPushOptions options,
              SubscriptionLookup lookup);

  // One delivery per request: a batch of more is refused.
  std::expected<OutboundRequest, std::string> build(std::span<const OutboundDelivery> batch,
                                                    std::int64_t unix_seconds) const override;
  // 2xx (201 Created, 202 for a receipt, 200 from some services) delivered; 404 and 410 (the
  // subscription is gone), 400, 413 and other 4xx refused; no answer, 408, 429 and 5xx retried
  // (the dispatcher honours Retry-After).
  Verdict classify(const OutboundResponse& response) const override;

  // The request for one delivery to a known subscription.
  std::expected<OutboundRequest, std::string> build_for(const OutboundDelivery& d,
                                                        const PushSubscription& subscription,
                                                        std::int64_t unix_seconds) const;

 private:
  std::shared_ptr<const VapidKey> key_;
  WebPushOptions options_;
  SubscriptionLookup lookup_;
};

// The plaintext of one delivery, compact JSON for the ENT's service worker:
//   {"delivery_id","source","id","establishment","category","urgent","recipient","title",
//    "payload","released_at"}
// `title` and `payload` as the connector wrote them (absent when it sent none). When the whole
// would not fit in a push message (kWebPushMaxPlaintext), the payload is left out and
// "payload_omitted":true says so (the page fetches it from the ENT); a title still too long is
// cut at a character boundary. An error only if even the identifiers do not fit.
std::expected<std::string, std::string> web_push_message(const OutboundDelivery& d);

}  // namespace treve::adapters
