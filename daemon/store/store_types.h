// What every role of the store shares: delivery states, errors as values, and `DeliveryRef`,
// who and where a delivery is.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <date/tz.h>

#include "policy/notification.h"

namespace treve::store {

enum class DeliveryState : std::uint8_t {
  held,        // waiting for its release instant
  due,         // released, waiting for the dispatcher
  sending,     // claimed by a dispatcher
  retrying,    // failed, waiting for its next attempt
  delivered,   // a sink accepted it
  dead,        // dead-lettered after its last attempt
  retracted,   // withdrawn by its source while held
  no_address,  // its sink has no address for the recipient: final, neither sent nor failed
};
std::string_view to_string(DeliveryState s);
std::optional<DeliveryState> parse_delivery_state(std::string_view s);

struct StoreError {
  enum class Kind : std::uint8_t {
    unavailable,  // disk full, read-only, locked, I/O error: retry later
    internal,     // a bug or a damaged database
  };
  Kind kind = Kind::unavailable;
  std::string message;
  // The disk is full or failing (unavailable, but not because of a lock): /healthz reports it.
  bool storage_failed = false;
};

template <typename T>
using Result = std::expected<T, StoreError>;

// Who and where one delivery is: its event (source, id, establishment, category, the
// establishment's time zone by name) and its recipient, with its receipt sequence. Every
// value that carries a delivery between the store, the scheduler and the dispatcher holds one,
// and every audit record about one delivery is made from one.
struct DeliveryRef {
  std::int64_t seq = 0;  // receipt sequence: the order deliveries reach a recipient
  std::string source;
  std::string event_id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  std::string timezone;
  std::string recipient;
  policy::Role role = policy::Role::student;
  // The sink this copy of the delivery goes to (fan-out: one copy per sink that takes it).
  // Empty for a delivery stored before fan-out, or when no sink took it then: routed when sent.
  std::string sink;
};

// The zone of a stored name (events keep their establishment's zone by name); UTC for a name
// the system's tz database no longer knows.
const date::time_zone* zone_or_utc(std::string_view name);

}  // namespace treve::store
