// One event decided for the store: each recipient's delivery (held or due, its release instant
// and reason in words, the sinks that take it) and the answer given to the connector. Used by
// the ingest API when an event arrives, and by the directory resolver when an event that
// waited for its directory is decided late.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/store/ingest_store.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::runtime {

struct DecidedEvent {
  const date::time_zone* zone = nullptr;  // the establishment's
  std::vector<store::NewDelivery> deliveries;
  std::string urgent_refusal;  // why an urgent bypass was refused; empty otherwise
  bool late_homework = false;  // homework its students receive too close to its due date
};

// Decides `n` (source set, establishment a valid UAI) received at `received`. With `late`, the
// decision is made at that later instant for an event that could not be decided on receipt: a
// delivery the policy would have released by then is released at `late`, unless `late` is
// quiet, then at the end of that quiet time — never inside a quiet window.
DecidedEvent decide_event(const config::Config& config, const config::Connector& connector,
                          const policy::Notification& n, policy::Instant received,
                          std::optional<policy::Instant> late = std::nullopt);

// Decides a notification for each establishment the configuration names, and one of the
// default policy's (Paris), at `now`, and forgets the answers: the first decision in an
// establishment's time zone reads its tz data (2-3 ms), which would otherwise fall on the first
// event received, or the first delivery sent at a window's end after a start.
void warm_up(const config::Config& config, policy::Instant now);

// The JSON answer to an accepted event: {"source","id","deliveries":[…]} and, when some users
// are unknown to the directory, "unknown_recipients".
std::string accepted_answer(const policy::Notification& n, const DecidedEvent& d,
                            std::span<const std::string> unknown = {});

}  // namespace treve::runtime
