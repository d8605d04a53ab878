// The re-plan role of the store: after a change of policy, the held deliveries are read back
// with what re-deciding them needs, and those whose release instant changed are moved.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "daemon/store/store_types.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::store {

// An event that still has held deliveries, with what re-deciding them needs.
struct HeldEvent {
  std::int64_t row = 0;  // the event's row (held_event_rows)
  std::string source;
  std::string id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  policy::Instant received_at;
  std::string timezone;
  std::string body;  // the event as received (empty if purged)
  struct Held {
    DeliveryRef ref;
    policy::Instant release_at;
  };
  std::vector<Held> held;  // in receipt order
};

// A held delivery moved to another release instant by a change of policy.
struct Replan {
  DeliveryRef ref;             // the delivery (ref.seq), for the audit record too
  policy::Instant was;         // the release instant it had (checked: skipped if it changed)
  policy::Instant release_at;  // the new one (at or before now: released at the next tick)
  std::string reason;
};

class ReplanStore {
 public:
  virtual ~ReplanStore() = default;

  // Moves held deliveries to new release instants, each with a `replanned` record (the
  // instant before and after, the new reason). A delivery no longer held, or whose release
  // instant is no longer `was`, is skipped. Returns how many moved.
  virtual Result<std::size_t> replan(std::span<const Replan> changes, policy::Instant now) = 0;

  // Reads; any thread.
  // The rows of the events that have held deliveries, in increasing order.
  virtual Result<std::vector<std::int64_t>> held_event_rows() = 0;
  // Those of `rows` that still have held deliveries, with them.
  virtual Result<std::vector<HeldEvent>> held_events(std::span<const std::int64_t> rows) = 0;
};

}  // namespace treve::store
