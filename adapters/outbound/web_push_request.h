// The requests of a Web Push sink (RFC 8030, 8291, 8292): one POST per push subscription,
// the message encrypted for that browser (web_push.h) and signed for the push service with
// the server's VAPID key (vapid.h); and what the push service's answer means. Builds requests
// only: the channel (daemon/dispatch/web_push_channel.h) finds the subscriptions and sends.
//
// The request:
//   POST <subscription endpoint>
//   Content-Encoding: aes128gcm
//   Content-Type: application/octet-stream
//   TTL: <seconds the push service keeps it for an offline browser; 86400 by default>
//   Urgency: high (an urgent event) | normal
//   Authorization: vapid t=<ES256 JWT for the endpoint's origin>, k=<public key>
//   body: the encrypted message (web_push_message.h)
//
// Immutable once built; safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/sink.h"
#include "adapters/outbound/vapid.h"

namespace treve::adapters {

struct WebPushOptions {
  // VAPID `sub`: the operator's contact, "mailto:…" or "https:…". Required.
  std::string subject;
  // How long a push service keeps a message for a browser that is offline (`TTL`, RFC 8030
  // §5.2). A day: a notification released at 07:00 still reaches a device first switched on
  // in the evening, and one that has waited longer than that is better read in the ENT itself.
  std::chrono::seconds ttl = std::chrono::hours(24);
  // Lifetime of each VAPID token (at most 24 h).
  std::chrono::seconds vapid_validity = std::chrono::hours(12);
};

// What a push service's answer (RFC 8030 §5-§7; FCM, Mozilla autopush and Apple document the
// same) means for the subscription it was sent to.
enum class PushAnswer {
  delivered,  // 2xx: 201 Created as a rule, 202 with a receipt, 200 from some services
  gone,       // 404, 410: the subscription expired or was revoked; it will refuse every message
  retry,      // no answer, 408, 429 (honour Retry-After), 5xx
  refused,    // 400, 413 and every other answer: this message will never be taken
};
PushAnswer read_push_answer(int status);

class WebPushRequests {
 public:
  // `key` null: every request fails (nothing is sent unsigned).
  WebPushRequests(std::shared_ptr<const VapidKey> key, WebPushOptions options);

  const WebPushOptions& options() const { return options_; }

  // The `Authorization` header for every endpoint whose origin is `origin` (push_origin), at
  // `unix_seconds`, valid for options().vapid_validity: one token serves many requests.
  std::expected<std::string, std::string> authorization(std::string_view origin,
                                                        std::int64_t unix_seconds) const;

  // The request carrying `plaintext` (web_push_message, web_push_digest_message) to
  // `subscription`, under `id` (what the browser deduplicates on), with `authorization` made
  // for the endpoint's origin. Errors: a subscription whose keys are unusable (the error names
  // the key, never the endpoint), a plaintext over kWebPushMaxPlaintext.
  std::expected<OutboundRequest, std::string> build(std::string_view plaintext, std::string_view id,
                                                    bool urgent,
                                                    const PushSubscription& subscription,
                                                    std::string authorization) const;

  // All in one: the request for delivery `d` to `subscription` at `unix_seconds`, its
  // message web_push_message(d) and a token made for it.
  std::expected<OutboundRequest, std::string> build_for(const OutboundDelivery& d,
                                                        const PushSubscription& subscription,
                                                        std::int64_t unix_seconds) const;

 private:
  std::shared_ptr<const VapidKey> key_;
  WebPushOptions options_;
};

}  // namespace treve::adapters
