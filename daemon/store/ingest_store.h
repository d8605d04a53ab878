// The ingest role of the store: events in (accept), withdrawn (retract) and looked up (find),
// and whether the store can take writes at all (check), which the ingest API's /healthz and
// its 503 answers report.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <date/tz.h>

#include "daemon/store/store_types.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::store {

struct NewDelivery {
  std::string recipient;
  policy::Role role = policy::Role::student;
  DeliveryState state = DeliveryState::held;  // held, or due when decided "now"
  policy::Instant release_at;
  std::string reason;
  bool bypassed = false;       // released at once by an allowed urgent bypass, or by a crisis
  std::int64_t crisis = 0;     // the crisis that released it at once (bypassed), if any
  bool late_homework = false;  // homework its students receive too close to its due date
  // The sinks that take it: one stored copy each (fan-out), with its own state and records.
  // Empty: one copy, routed when it is sent.
  std::vector<std::string> sinks;
  // Filled by IngestStore::prepare away from the writer; empty: accept computes them.
  std::string pseudonym;     // the recipient as the audit trail names it
  std::string audit_detail;  // the detail of its held / released / bypassed record
};

// An event accepted while its directory could not say who its recipients are: stored with no
// deliveries until it does (awaiting_store.h).
struct NewAwaiting {
  std::string directory;
  std::vector<std::string> users;  // the recipients' user ids
  std::string error;               // why the lookup failed; names no user
  policy::Instant next_attempt_at;
};

struct NewEvent {
  std::string source;
  std::string id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  bool urgent = false;
  std::string urgent_refusal;  // why an urgent bypass was refused; empty otherwise
  policy::Instant received_at;
  // The establishment's time zone (the decision's): local instants in the audit trail, and
  // stored by name with the event.
  const date::time_zone* zone = nullptr;
  std::string body;         // the event as received (JSON); forwarded to sinks on release
  std::string body_sha256;  // identifies the content: the same id with another body conflicts
  std::string response;     // the answer given on acceptance, given again for a repeat
  std::vector<NewDelivery> deliveries;
  // Set: the event waits for the directory (`deliveries` empty, `establishment` empty, `zone`
  // UTC, `body` the canonical event but its establishment and recipients).
  std::optional<NewAwaiting> awaiting;
  // Filled by IngestStore::prepare away from the writer; empty: accept computes it.
  std::string at_local;  // received_at in `zone`, RFC 3339
};

struct AcceptResult {
  enum class Outcome : std::uint8_t {
    stored,    // new: stored now
    repeated,  // same source, id and body as an earlier event: nothing stored
    conflict,  // same source and id, different body: nothing stored
  };
  Outcome outcome = Outcome::stored;
  std::string response;  // stored, repeated: the answer given the first time
};

struct DeliveryView {
  std::string recipient;
  policy::Role role = policy::Role::student;
  DeliveryState state = DeliveryState::held;
  policy::Instant release_at;
  std::string reason;
  std::string sink;  // the copy's sink; empty: routed when sent
  // Filled by find() only (retract() leaves them at these defaults):
  std::int64_t seq = 0;             // the copy's receipt sequence (what a replay takes)
  std::string recipient_pseudonym;  // the recipient as the audit trail names it
  int attempts = 0;                 // attempts made (counted from zero again after a replay)
  std::optional<policy::Instant> released_at;  // when it became due; none while held
  std::string last_error;      // why its last attempt failed; empty when none failed
  std::string digest;          // the morning digest its last attempt went in; empty when none
  policy::Instant updated_at;  // its last change of state
};

struct AwaitingView {
  std::string directory;
  std::string reason;  // why the last lookup failed
  int attempts = 0;
  policy::Instant next_attempt_at;
};

struct EventView {
  std::string source;
  std::string id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  policy::Instant received_at;
  std::string timezone;
  std::vector<DeliveryView> deliveries;  // in receipt order, one per copy (sink)
  std::optional<AwaitingView> awaiting;  // while it waits for the directory (no deliveries)
};

struct RetractResult {
  bool found = false;
  bool was_awaiting = false;  // it waited for the directory: its wait is ended, nothing is sent
  std::vector<DeliveryView> retracted;      // were held, now retracted
  std::vector<DeliveryView> not_retracted;  // already released (or retracted before)
};

class IngestStore {
 public:
  virtual ~IngestStore() = default;

  // Stores events, in order, in one transaction with their deliveries and audit records.
  // Each event gets its own outcome (stored, repeated, conflict); on error nothing is stored.
  virtual Result<std::vector<AcceptResult>> accept(std::span<const NewEvent> events,
                                                   policy::Instant now) = 0;
  // Computes, on the calling thread, the parts of the events' audit records that do not
  // depend on their place in the chain (local times, pseudonyms, details), so that accept,
  // on the single writer, only chains, binds and steps. Optional: accept computes whatever is
  // missing. Any thread.
  virtual void prepare(std::span<NewEvent> events) const { (void)events; }

  // Retracts the held deliveries of an event (audited); the others are listed as they are.
  virtual Result<RetractResult> retract(std::string_view source, std::string_view id,
                                        policy::Instant now) = 0;

  // Reads; any thread.
  // An event and each of its copies (the ingest API's GET /v1/events/{id}, the admin API's
  // GET /v1/admin/events); nullopt when the source sent no event with this id.
  virtual Result<std::optional<EventView>> find(std::string_view source, std::string_view id) = 0;
  // Whether the store can take writes as far as it knows, for health checks: it answers a
  // cheap query, and its last write did not fail for a full or failing disk
  // (StoreError::storage_failed) without a write changing the store since. Any thread.
  virtual Result<void> check() = 0;
};

}  // namespace treve::store
