// What a webhook sink POSTs: one delivery as a JSON object, or several as a JSON array (in
// order), and the identifiers a receiver uses to recognise a request it has already seen.
//
// One delivery:
//   {"type": "treve.delivery", "delivery_id": "dlv_…", "source": "ent", "id": "msg-8812",
//    "establishment": "0250001R", "category": "grade", "urgent": false,
//    "recipient": "u-7f3a", "role": "student", "title": "…", "payload": {…},
//    "received_at": "2026-11-27T21:14:03+01:00", "released_at": "2026-11-28T07:00:00+01:00"}
// `title` and `payload` are the event's, as the connector sent them (absent if it sent none).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "adapters/outbound/sink.h"

namespace treve::adapters {

using WebhookDelivery = OutboundDelivery;

// Appends the JSON object of one delivery to `out`.
void append_webhook_delivery(std::string& out, const WebhookDelivery& d);

// The identifier of a delivery, the same on every attempt and after a restart: "dlv_" and 32
// hex digits of SHA-256 over the source, event id, recipient and role. A receiver
// deduplicates on it (the `webhook-id` of a single-delivery request).
std::string webhook_delivery_id(std::string_view source, std::string_view event_id,
                                std::string_view recipient, std::string_view role);

// The `webhook-id` of a request carrying an array of deliveries: "bat_" and 32 hex digits of
// SHA-256 over their delivery ids. Failed deliveries are retried each on its own schedule, so
// a retry may travel in another array: receivers deduplicate on each `delivery_id`.
std::string webhook_batch_id(std::span<const std::string> delivery_ids);

}  // namespace treve::adapters
