// The awaiting role of the store: events accepted while the directory that says who their
// recipients are could not answer (docs/connectors.md, "When the directory fails"). Such an
// event is stored with no deliveries and an `awaiting` row; nothing of it can be sent. Once the
// directory answers, `resolve` gives it its establishment, its canonical body and its
// deliveries, decided then, in one transaction with their audit records.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <date/tz.h>

#include "daemon/store/ingest_store.h"
#include "daemon/store/store_types.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::store {

// One event waiting for the directory.
struct AwaitingEvent {
  std::int64_t row = 0;  // the event's row
  std::string source;
  std::string id;
  policy::Category category = policy::Category::other;
  bool urgent = false;
  policy::Instant received_at;
  std::string body;  // the canonical event but its establishment and recipients (JSON)
  std::string directory;
  std::vector<std::string> users;  // the recipients' user ids, in the document's order
  int attempts = 0;                // lookups that failed, the one at acceptance included
  policy::Instant next_attempt_at;
  std::string last_error;  // why the last lookup failed; names no user
};

// What the directory's answer makes of an awaiting event.
struct Resolution {
  std::int64_t row = 0;
  std::string source;
  std::string id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  const date::time_zone* zone = nullptr;  // the establishment's
  std::string body;                       // the canonical event, now complete
  std::string urgent_refusal;             // as NewEvent's
  std::vector<NewDelivery> deliveries;
  std::size_t unknown = 0;  // users the directory does not know: no delivery
  std::string directory;
};

class AwaitingStore {
 public:
  virtual ~AwaitingStore() = default;

  // Gives an awaiting event its deliveries (records `resolved`, then each delivery's `held`,
  // `released` or `bypassed` record at `now`) and ends its wait. False, and nothing changed,
  // when it no longer waits (retracted, or resolved already).
  virtual Result<bool> resolve(const Resolution& r, policy::Instant now) = 0;
  // Another failed lookup: when to try again and why it failed. No audit record.
  virtual Result<void> postpone(std::int64_t row, policy::Instant next_attempt_at,
                                std::string_view error) = 0;

  // Reads; any thread. The awaiting events, the soonest to try first, at most `limit`.
  virtual Result<std::vector<AwaitingEvent>> awaiting(std::size_t limit) = 0;
};

}  // namespace treve::store
