// What every backend of the store writes the same way when deliveries move after their
// acceptance: the audit records of a release, an attempt's outcome, a morning digest, a hold
// again, a re-plan and a replay, and the rule that a recipient's later deliveries follow one
// held again. The SQLite and PostgreSQL backends both chain exactly these records.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include "daemon/store/audit_record.h"
#include "daemon/store/dispatch_store.h"
#include "daemon/store/replan_store.h"

namespace treve::store {

// The state a delivery takes for an outcome ("held" for held_again).
std::string_view outcome_state(DeliveryOutcome::Kind k);

// A JSON array of the keyed pseudonyms of `addresses` (personal data never recorded as is).
std::string address_pseudonyms(const Pseudonymizer& pseudonyms, std::string_view source,
                               std::span<const std::string> addresses);

// The `released` record of a delivery that became due at `now`.
AuditRecord released_record(const Pseudonymizer& pseudonyms, const DeliveryRef& ref,
                            policy::Instant release_at, policy::Instant now);
// The record of an attempt's outcome: delivered, retrying, dead_lettered or no_address.
AuditRecord outcome_record(const Pseudonymizer& pseudonyms, const DeliveryOutcome& o,
                           policy::Instant now);
// The `held_again` record of a due or retrying delivery held again.
AuditRecord held_again_record(const Pseudonymizer& pseudonyms, const DeliveryOutcome& o,
                              policy::Instant now);
// The `digest` record before those of the deliveries a morning digest carried: the first
// outcomes of `from` with the same digest and sink.
AuditRecord digest_record(const Pseudonymizer& pseudonyms, std::span<const DeliveryOutcome> from,
                          policy::Instant now);
// Whether outcome i of `outcomes` opens a digest (its record goes before it).
bool opens_digest(std::span<const DeliveryOutcome> outcomes, std::size_t i);
// The `replanned` record of a held delivery moved to another instant.
AuditRecord replanned_record(const Pseudonymizer& pseudonyms, const Replan& c, policy::Instant now);
// The `replayed` record of a dead delivery made due again.
AuditRecord replayed_record(const Pseudonymizer& pseudonyms, const DeliveryRef& ref,
                            policy::Instant now);

// Deliveries held again in one transaction, by recipient (source, recipient, sink): the
// earliest of each (their followers are held with it).
using HeldAgain =
    std::map<std::tuple<std::string, std::string, std::string>, const DeliveryOutcome*>;
// Remembers `o`, held again, in `held` if it is its recipient's earliest so far.
void remember_held_again(HeldAgain& held, const DeliveryOutcome& o);
// The delivery held again that `ref` follows (same source, recipient and sink, received
// before it); null when none, or when `ref` is urgent (an urgent bypass never waits).
const DeliveryOutcome* followed(const HeldAgain& held, const DeliveryRef& ref, bool urgent);
// A follower of `first`, due or retrying, held again with it.
DeliveryOutcome follower_held_again(const DeliveryOutcome& first, DeliveryRef ref);
// A follower of `first`, still held with an instant already past, moved to first's instant;
// none when its instant is not before first's.
std::optional<Replan> follower_moved(const DeliveryOutcome& first, DeliveryRef ref,
                                     policy::Instant was);

}  // namespace treve::store
