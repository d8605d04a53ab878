// The outbound side of a channel: what a sink sends for a batch of released deliveries, and
// what an answer means. A Sink does no I/O: the dispatcher (daemon/dispatch) owns ordering,
// rate, retries, dead letters and the HTTP client, and asks the sink only to build a request
// and to classify its answer. The webhook is the first implementation; FCM, Web Push and SMTP
// implement the same interface.
//
// Implementations are immutable once built and safe to call from any thread.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace treve::adapters {

struct RecipientChannels;  // addresses.h

// One released delivery, as every channel sees it. Views: valid for the call only.
struct OutboundDelivery {
  std::string_view delivery_id;  // stable across attempts and restarts (webhook_delivery_id)
  std::string_view source;
  std::string_view event_id;
  std::string_view establishment;
  std::string_view category;
  bool urgent = false;
  std::string_view recipient;
  std::string_view role;
  std::string_view event_body;   // the canonical event as received (JSON text)
  std::string_view received_at;  // RFC 3339, the establishment's local time
  std::string_view released_at;
  // The recipient's addresses as a directory answered them for this attempt (docs/delivery.md);
  // null: those in `event_body`. Valid for the call only, like the views.
  const RecipientChannels* addresses = nullptr;
};

struct OutboundRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The identifier a receiver deduplicates the request on (the `webhook-id`): the same on
  // every attempt of the same batch.
  std::string id;
};

// An answer, or its absence (status 0, `error` says why: a timeout, a refused connection).
struct OutboundResponse {
  int status = 0;
  std::string_view error;
};

enum class Verdict {
  delivered,  // the channel took the batch
  retry,      // try again later: no answer, 408, 429, 5xx
  permanent,  // the channel refuses the request itself: dead-lettered, never retried
  // The channel has no address for the recipient (no device token, subscription or e-mail
  // address): final and recorded, neither a failure nor silent.
  no_address,
};

class Sink {
 public:
  virtual ~Sink() = default;
  // The request carrying `batch` (in order; one delivery unless the sink takes batches), at
  // `unix_seconds`. An error means it cannot be built now (no key to sign with, say): counted
  // as a failed attempt, retried — never sent unsigned.
  virtual std::expected<OutboundRequest, std::string> build(std::span<const OutboundDelivery> batch,
                                                            std::int64_t unix_seconds) const = 0;
  virtual Verdict classify(const OutboundResponse& response) const = 0;
};

// HTTP's common reading: 2xx delivered; no answer, 408, 429 and 5xx retried; the rest refused.
Verdict classify_http_status(int status);

}  // namespace treve::adapters
