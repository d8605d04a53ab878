// The durable store: events, their deliveries (one per recipient) and the audit trail.
//
// Every method that changes state does so in one transaction together with the audit records
// that describe the change, and returns only once that transaction is durable. Writes are
// made by one thread at a time (the CommitQueue's writer); reads (`find`, `stats`) may come
// from any thread concurrently with writes. Expected failures (disk full, read-only, I/O
// errors) are returned as StoreError values; nothing partially written stays behind.
//
// The interface is shaped for several backends: SQLite (embedded, the default) and, later,
// a shared PostgreSQL where several daemons claim due deliveries with SKIP LOCKED.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <date/tz.h>

#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::store {

enum class DeliveryState : std::uint8_t {
  held,       // waiting for its release instant
  due,        // released, waiting for the dispatcher
  sending,    // claimed by a dispatcher
  retrying,   // failed, waiting for its next attempt
  delivered,  // a sink accepted it
  dead,       // dead-lettered after its last attempt
  retracted,  // withdrawn by its source while held
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

struct NewDelivery {
  std::string recipient;
  policy::Role role = policy::Role::student;
  DeliveryState state = DeliveryState::held;  // held, or due when decided "now"
  policy::Instant release_at;
  std::string reason;
  bool bypassed = false;  // released at once by an allowed urgent bypass
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
};

struct EventView {
  std::string source;
  std::string id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  policy::Instant received_at;
  std::string timezone;
  std::vector<DeliveryView> deliveries;  // in receipt order
};

struct RetractResult {
  bool found = false;
  std::vector<DeliveryView> retracted;      // were held, now retracted
  std::vector<DeliveryView> not_retracted;  // already released (or retracted before)
};

struct StoreStats {
  std::uint64_t events = 0;
  std::uint64_t held = 0;
  std::uint64_t due = 0;
  std::optional<policy::Instant> next_release;  // earliest release instant of a held delivery
  std::uint64_t audit_records = 0;
};

// A delivery handed from the store to the scheduler and dispatcher.
struct ReleasedDelivery {
  std::int64_t seq = 0;  // receipt sequence: the order deliveries reach a recipient
  std::string source;
  std::string event_id;
  std::string recipient;
  policy::Role role = policy::Role::student;
  policy::Instant release_at;
};

// A delivery ready to be sent (due, or retrying after a failed attempt), with everything a
// sink needs to build its request.
struct DispatchItem {
  std::int64_t seq = 0;        // receipt sequence: a recipient's deliveries go in this order
  std::int64_t ready_seq = 0;  // order in which deliveries became due (due ones only)
  DeliveryState state = DeliveryState::due;
  std::string source;
  std::string event_id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  bool urgent = false;
  std::string timezone;
  std::string recipient;
  policy::Role role = policy::Role::student;
  policy::Instant received_at;
  policy::Instant release_at;   // the instant the policy set
  policy::Instant released_at;  // when it actually became due
  std::string body;             // the event as received
  int attempts = 0;             // attempts already made
  std::optional<policy::Instant> first_attempt_at;
  std::optional<policy::Instant> next_attempt_at;  // retrying ones
};

// What became of one attempt to send a delivery.
struct DeliveryOutcome {
  enum class Kind : std::uint8_t {
    delivered,  // a sink accepted it
    retrying,   // failed; next attempt at next_attempt_at
    dead,       // failed for good (permanent error or last attempt)
  };
  Kind kind = Kind::delivered;
  std::int64_t seq = 0;
  // For the audit record: who and where (copied from the DispatchItem).
  std::string source;
  std::string event_id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  std::string timezone;
  std::string recipient;
  policy::Role role = policy::Role::student;
  std::string sink;
  std::string webhook_id;
  int attempts = 0;   // including this one
  int status = 0;     // HTTP status; 0 when no answer came
  std::string error;  // why it failed (network error, status line), empty on success
  policy::Instant first_attempt_at;
  policy::Instant next_attempt_at;  // retrying
};

// A delivery as `treve deliveries list` shows it.
struct DeliveryRow {
  std::int64_t seq = 0;
  std::string source;
  std::string event_id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  std::string recipient;
  policy::Role role = policy::Role::student;
  DeliveryState state = DeliveryState::held;
  policy::Instant release_at;
  int attempts = 0;
  std::string sink;
  std::string last_error;
  policy::Instant updated_at;
  std::string timezone;
};

// What a purge removes (docs/audit.md, Retention).
struct PurgeLimits {
  policy::Instant audit_before;   // audit records older than this (a leading run of them)
  policy::Instant events_before;  // event bodies older than this, once nothing is left to send
  std::size_t max_rows = 20'000;  // per call, of each: a purge never holds the writer long
};

struct PurgeResult {
  std::int64_t audit_records = 0;  // removed
  std::int64_t purged_through = 0;
  std::int64_t checkpoint_seq = 0;  // the checkpoint record written, if records were removed
  std::string checkpoint_hash;
  std::int64_t bodies = 0;      // event bodies removed
  std::int64_t events = 0;      // whole events (and their deliveries) removed
  std::int64_t deliveries = 0;  // deliveries removed with them
  bool more = false;            // a limit was reached: call again
};

// A change of the configuration file, for the audit trail.
struct ConfigChange {
  std::string digest;  // SHA-256 of the file's bytes
  std::string file;
  std::string by;  // who or what made the change, as far as trêve can tell
  std::string on;  // what applied it: "start" or "reload"
};

// One version of an establishment's policy edited through the admin API.
struct PolicyVersion {
  std::string uai;
  std::int64_t version = 0;  // 1, 2, … per establishment; the highest is in force
  policy::Instant at;
  std::string author;               // the admin's name
  std::string comment;              // why, in the admin's words
  std::string document;             // the policy's JSON object (docs/admin-api.md)
  std::string digest;               // SHA-256 of `document`
  std::vector<std::string> weaker;  // why it is weaker than the national default (confirmed)
  std::int64_t rollback_of = 0;     // the version it restores, if a rollback
};

struct SavePolicyResult {
  bool conflict = false;     // `expected_version` was not the current version: nothing saved
  std::int64_t version = 0;  // the version saved, or the current one on a conflict
};

// A request refused by the admin API (outside the admin's role or scope).
struct AccessRefusal {
  std::string admin;
  std::string role;
  std::string method;
  std::string path;
  std::string establishment;  // the UAI asked for, if any
  std::string reason;
};

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
    std::int64_t seq = 0;
    std::string recipient;
    policy::Role role = policy::Role::student;
    policy::Instant release_at;
  };
  std::vector<Held> held;  // in receipt order
};

// A held delivery moved to another release instant by a change of policy.
struct Replan {
  std::int64_t seq = 0;
  policy::Instant was;         // the release instant it had (checked: skipped if it changed)
  policy::Instant release_at;  // the new one (at or before now: released at the next tick)
  std::string reason;
  // For the audit record.
  std::string source;
  std::string event_id;
  std::string establishment;
  policy::Category category = policy::Category::other;
  std::string timezone;
  std::string recipient;
  policy::Role role = policy::Role::student;
};

class Store {
 public:
  virtual ~Store() = default;

  // Stores events, in order, in one transaction with their deliveries and audit records.
  // Each event gets its own outcome (stored, repeated, conflict); on error nothing is stored.
  virtual Result<std::vector<AcceptResult>> accept(std::span<const NewEvent> events,
                                                   policy::Instant now) = 0;

  // Retracts the held deliveries of an event (audited); the others are listed as they are.
  virtual Result<RetractResult> retract(std::string_view source, std::string_view id,
                                        policy::Instant now) = 0;

  // Moves held deliveries whose release instant is at or before `now` to `due`, oldest
  // release first and in receipt order, at most `limit`, audited; returns them.
  virtual Result<std::vector<ReleasedDelivery>> release_due(policy::Instant now,
                                                            std::size_t limit) = 0;

  // Records what became of attempts to send (delivered, retrying, dead), audited. An outcome
  // for a delivery no longer due or retrying (replayed or changed meanwhile) is skipped.
  virtual Result<void> record_outcomes(std::span<const DeliveryOutcome> outcomes,
                                       policy::Instant now) = 0;

  // Makes dead deliveries due again (all of them when `seqs` is empty), audited as replayed,
  // with their attempts counted from zero. Returns how many were replayed.
  virtual Result<std::size_t> replay(std::span<const std::int64_t> seqs, policy::Instant now) = 0;

  // Removes old audit records (writing a `checkpoint` record that carries the hash the
  // remaining chain continues from), the bodies of old events that have nothing left to
  // send, and events with all their deliveries once older than the audit retention (a
  // `purged` record counts them).
  virtual Result<PurgeResult> purge(const PurgeLimits& limits, policy::Instant now) = 0;

  // Records a `config_changed` record when `change.digest` differs from the digest recorded
  // last (on a new store too, with `before` null: the trail says which configuration was in
  // force from the start). Returns whether a record was written.
  virtual Result<bool> record_config(const ConfigChange& change, policy::Instant now) = 0;

  // Saves `v` as the establishment's next version (v.version is ignored), with a
  // `policy_changed` record (author, version, comment, digests before and after, weaker,
  // rollback_of). With `expected_version` (0: none yet), saves only if it is the current one.
  virtual Result<SavePolicyResult> save_policy(const PolicyVersion& v,
                                               std::optional<std::int64_t> expected_version,
                                               policy::Instant now) = 0;
  // An `access_refused` record.
  virtual Result<void> record_refusal(const AccessRefusal& r, policy::Instant now) = 0;

  // Moves held deliveries to new release instants, each with a `replanned` record (the
  // instant before and after, the new reason). A delivery no longer held, or whose release
  // instant is no longer `was`, is skipped. Returns how many moved.
  virtual Result<std::size_t> replan(std::span<const Replan> changes, policy::Instant now) = 0;

  // Reads; any thread.
  // Due deliveries that became due after `after_ready_seq`, in the order they became due.
  virtual Result<std::vector<DispatchItem>> ready(std::int64_t after_ready_seq,
                                                  std::size_t limit) = 0;
  // Retrying deliveries with a receipt sequence above `after_seq`, in receipt order.
  virtual Result<std::vector<DispatchItem>> retrying(std::int64_t after_seq, std::size_t limit) = 0;
  // Deliveries in `state` with a receipt sequence above `after_seq`, in receipt order.
  virtual Result<std::vector<DeliveryRow>> list(DeliveryState state, std::int64_t after_seq,
                                                std::size_t limit) = 0;
  // Whether the store can take writes as far as it knows, for health checks: it answers a
  // cheap query, and its last write did not fail for a full or failing disk
  // (StoreError::storage_failed) without a write changing the store since. Any thread.
  virtual Result<void> check() = 0;
  // How many deliveries are held (counted over an index: for a status line now and then).
  virtual Result<std::uint64_t> held_count() = 0;
  // The earliest release instant of a held delivery, if any (an index lookup).
  virtual Result<std::optional<policy::Instant>> next_release() = 0;
  // The version in force of every establishment edited through the admin API.
  virtual Result<std::vector<PolicyVersion>> current_policies() = 0;
  // Every version of one establishment's policy, newest first.
  virtual Result<std::vector<PolicyVersion>> policy_versions(std::string_view uai) = 0;
  // Held deliveries of one establishment by category.
  virtual Result<std::vector<std::pair<policy::Category, std::uint64_t>>> held_by_category(
      std::string_view uai) = 0;
  // The earliest release instant of one establishment's held deliveries, if any.
  virtual Result<std::optional<policy::Instant>> next_release_of(std::string_view uai) = 0;

  // The rows of the events that have held deliveries, in increasing order.
  virtual Result<std::vector<std::int64_t>> held_event_rows() = 0;
  // Those of `rows` that still have held deliveries, with them.
  virtual Result<std::vector<HeldEvent>> held_events(std::span<const std::int64_t> rows) = 0;
  virtual Result<std::optional<EventView>> find(std::string_view source, std::string_view id) = 0;
  virtual Result<StoreStats> stats() = 0;
};

// The zone of a stored name (events keep their establishment's zone by name); UTC for a name
// the system's tz database no longer knows.
const date::time_zone* zone_or_utc(std::string_view name);

}  // namespace treve::store
