// Where a recipient is reached on each channel, as the connector wrote it in the event: the
// recipient's `channels` member (docs/api.md):
//
//   "channels": {"fcm": ["<device token>", …],
//                "webpush": [<PushSubscription.toJSON()>, …],
//                "email": "parent@example.fr" | ["…", …]}
//
// Addresses are personal data: they live in the stored event body only (purged with it), and
// are never logged, audited or exported.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/outbound/sink.h"

namespace treve::adapters {

// A browser's subscription, as PushSubscription.toJSON() gives it: the endpoint URL and the
// `p256dh` and `auth` keys in base64url.
struct PushSubscription {
  std::string endpoint;
  std::string p256dh;
  std::string auth;
};

struct RecipientChannels {
  std::vector<std::string> fcm;
  std::vector<PushSubscription> webpush;
  std::vector<std::string> email;
};

// Limits checked at ingest (validate_channels) and relied on here.
inline constexpr std::size_t kMaxAddressesPerChannel = 10;
inline constexpr std::size_t kMaxDeviceToken = 4096;
inline constexpr std::size_t kMaxPushEndpoint = 2048;
inline constexpr std::size_t kMaxEmailAddress = 254;

// The addresses given for the recipient `recipient` with role `role` in `event_body` (a
// canonical event's JSON text). Empty lists when there are none, or when the body is gone.
RecipientChannels recipient_channels(std::string_view event_body, std::string_view recipient,
                                     std::string_view role);

// The addresses in `channels_json`, a JSON object shaped as a recipient's `channels` member
// (as a directory answers them, docs/delivery.md); nullopt when it is not a JSON object.
// Check it with validate_channels first: this keeps what it can read and skips the rest.
std::optional<RecipientChannels> parse_channels(std::string_view channels_json);

// The addresses of `d`'s recipient: those a directory answered (d.addresses) when set, else
// those in the event.
RecipientChannels addresses_of(const OutboundDelivery& d);

// Why `channels` (a recipient's member, as JSON text) is not acceptable, with the JSON
// pointer below the member ("/fcm/0"): the ingest API's 400. nullopt when it is fine.
struct ChannelsError {
  std::string pointer;  // relative to the `channels` member
  std::string message;
};
std::optional<ChannelsError> validate_channels(std::string_view channels_json);

// Whether `address` is an e-mail address trêve will send to: local@domain, printable ASCII
// without spaces, angle brackets, quotes or control characters, at most 254 bytes.
bool plausible_email(std::string_view address);

}  // namespace treve::adapters
