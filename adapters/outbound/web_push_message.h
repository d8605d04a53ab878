// What a Web Push message says: the plaintext the ENT's service worker reads once the browser
// has decrypted it (web_push.h encrypts it). Compact JSON, at most kWebPushMaxPlaintext bytes
// (3993: a push service takes 4096 bytes of body). Pure functions; any thread.
#pragma once

#include <expected>
#include <span>
#include <string>

#include "adapters/outbound/sink.h"

namespace treve::adapters {

// The plaintext of one delivery:
//   {"delivery_id","source","id","establishment","category","urgent","recipient","title",
//    "payload","released_at"}
// `title` and `payload` as the connector wrote them (absent when it sent none). When the whole
// would not fit in a push message (kWebPushMaxPlaintext), the payload is left out and
// "payload_omitted":true says so (the page fetches it from the ENT); a title still too long is
// cut at a character boundary. An error only if even the identifiers do not fit.
std::expected<std::string, std::string> web_push_message(const OutboundDelivery& d);

// The id a digest of `batch` goes under, the same on every attempt of the same batch: what the
// service worker deduplicates on (digest_text's id: "dig_" and the hash of webhook_batch_id).
std::string web_push_digest_id(std::span<const OutboundDelivery> batch);

// The plaintext of a digest: several deliveries of one recipient in one message,
//   {"digest":true,"delivery_id":<web_push_digest_id>,"title","body",
//    "notifications":[{"delivery_id","id","category","title"},…],"more":N}
// `title` and `body` summarise the batch for the notification the browser shows; each entry
// of `notifications` names one delivery (its title cut to kDigestEntryTitle bytes). Entries
// that would not fit are left out from the end and "more" counts them (absent when none is);
// a body still too long is then cut at a character boundary. An error for an empty batch.
inline constexpr std::size_t kDigestEntryTitle = 160;
std::expected<std::string, std::string> web_push_digest_message(
    std::span<const OutboundDelivery> batch);

}  // namespace treve::adapters
