// The dispatch role of the store: held deliveries released when due (the scheduler), due and
// retrying ones read and their outcomes recorded (the dispatcher), dead letters listed and
// replayed. A shared backend claims due deliveries here (FOR UPDATE SKIP LOCKED).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/store/store_types.h"
#include "policy/instant.h"

namespace treve::store {

// A delivery handed from the store to the scheduler and dispatcher.
struct ReleasedDelivery {
  DeliveryRef ref;
  policy::Instant release_at;
};

// A delivery ready to be sent (due, or retrying after a failed attempt), with everything a
// sink needs to build its request.
struct DispatchItem {
  DeliveryRef ref;             // ref.seq: a recipient's deliveries go in this order
  std::int64_t ready_seq = 0;  // order in which deliveries became due (due ones only)
  DeliveryState state = DeliveryState::due;
  bool urgent = false;
  policy::Instant received_at;
  policy::Instant release_at;   // the instant the policy set
  policy::Instant released_at;  // when it actually became due
  std::string body;             // the event as received
  int attempts = 0;             // attempts already made
  std::optional<policy::Instant> first_attempt_at;
  std::optional<policy::Instant> next_attempt_at;  // retrying ones
};

// A delivery that became due, not sent: its recipient is in quiet time now (a window began
// since it was released, while it waited behind others or for a retry). Held again until
// `until` (Instant::max(): the policy cannot be evaluated, held until it is corrected).
struct HoldAgain {
  policy::Instant until;
  std::string reason;  // in the policy's words, as for a `held` record
};

// What became of one attempt to send a delivery.
struct DeliveryOutcome {
  enum class Kind : std::uint8_t {
    delivered,   // a sink accepted it
    retrying,    // failed; next attempt at next_attempt_at
    dead,        // failed for good (permanent error or last attempt)
    no_address,  // the sink has no address for the recipient: final, nothing was sent
    // Not sent: a quiet time of its recipient began since it became due (it was retrying, or
    // waiting behind others). Held again until `held_until`, released then like any other.
    held_again,
  };
  Kind kind = Kind::delivered;
  DeliveryRef ref;  // the delivery (copied from the DispatchItem), for the audit record
  std::string sink;
  // The sink's channel ("webhook", "fcm", "webpush", "smtp"): recorded so that an auditor
  // reads which way the attempt went without the configuration. Empty: no sink took it.
  std::string channel;
  std::string webhook_id;   // the request's id: the delivery's own, or its batch's
  std::string delivery_id;  // the delivery's own id (the one receivers deduplicate on)
  int attempts = 0;         // including this one
  int status = 0;           // HTTP status; 0 when no answer came
  std::string error;        // why it failed (network error, status line), empty on success
  policy::Instant first_attempt_at;
  policy::Instant next_attempt_at;  // retrying
  // The addresses the attempt went to (device tokens, endpoints, e-mail addresses): recorded
  // only as keyed pseudonyms ("to"), never as they are.
  std::vector<std::string> addresses;
  // Sent within a morning digest: the digest's id. The outcomes of one digest are consecutive;
  // the first is preceded by one `digest` record naming the notifications it covers.
  std::string digest;
  // When the delivery became due (DispatchItem::released_at): what the delivery latency metric
  // is measured from. Not recorded.
  policy::Instant due_at;
  // held_again: the new release instant (Instant::max(): the policy cannot be evaluated, held
  // until it is corrected) and why, in the policy's words.
  policy::Instant held_until;
  std::string hold_reason;
};

// A delivery as `treve deliveries list` shows it.
struct DeliveryRow {
  DeliveryRef ref;
  DeliveryState state = DeliveryState::held;
  policy::Instant release_at;
  int attempts = 0;
  std::string sink;
  std::string last_error;
  policy::Instant updated_at;
};

class DispatchStore {
 public:
  virtual ~DispatchStore() = default;

  // Moves held deliveries whose release instant is at or before `now` to `due`, oldest
  // release first and in receipt order, at most `limit`, audited; returns them.
  virtual Result<std::vector<ReleasedDelivery>> release_due(policy::Instant now,
                                                            std::size_t limit) = 0;

  // Records what became of attempts to send (delivered, retrying, dead, no address, held
  // again), audited. An outcome for a delivery no longer due or retrying (replayed or changed
  // meanwhile) is skipped.
  virtual Result<void> record_outcomes(std::span<const DeliveryOutcome> outcomes,
                                       policy::Instant now) = 0;

  // Makes dead deliveries due again (all of them when `seqs` is empty), audited as replayed,
  // with their attempts counted from zero. Returns how many were replayed.
  virtual Result<std::size_t> replay(std::span<const std::int64_t> seqs, policy::Instant now) = 0;

  // The ready_seq given last, as of the last write transaction (another process writing the
  // store counts too): a delivery with a higher one became due after that transaction.
  // The writer's thread only, between writes.
  virtual std::int64_t last_ready_seq() const = 0;

  // Reads; any thread.
  // Due deliveries that became due after `after_ready_seq`, in the order they became due.
  virtual Result<std::vector<DispatchItem>> ready(std::int64_t after_ready_seq,
                                                  std::size_t limit) = 0;
  // Retrying deliveries with a receipt sequence above `after_seq`, in receipt order.
  virtual Result<std::vector<DispatchItem>> retrying(std::int64_t after_seq, std::size_t limit) = 0;
  // Deliveries in `state` with a receipt sequence above `after_seq`, in receipt order.
  virtual Result<std::vector<DeliveryRow>> list(DeliveryState state, std::int64_t after_seq,
                                                std::size_t limit) = 0;
  // How many deliveries are held (counted over an index: for a status line now and then).
  virtual Result<std::uint64_t> held_count() = 0;
  // The earliest release instant of a held delivery, if any (an index lookup).
  virtual Result<std::optional<policy::Instant>> next_release() = 0;
};

}  // namespace treve::store
