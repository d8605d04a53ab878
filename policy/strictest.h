// Decisions for recipients attached to several establishments (Recipient::establishments): a
// teacher in two collèges, a parent with children in two schools. Such a recipient is held
// under the strictest of their establishments' policies, the union of their quiet time.
// Used wherever a decision is made (ingest, re-planning, explain, simulate, the admin
// preview), in place of decide() and describe().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/decision.h"
#include "policy/establishment_policy.h"
#include "policy/notification.h"
#include "policy/policy_set.h"

namespace treve::policy {

// Decides every recipient of `n`, in recipient order. `primary` is the policy of
// `n.establishment` (found in `policies`). With no recipient naming other establishments, the
// answer is decide()'s, exactly. Otherwise:
//  - the event's establishment decides first, as decide() does;
//  - a recipient with other establishments is then held until an instant open under every
//    one of them: from its release, the first open instant of each policy in turn, until none
//    moves it (bounded: a union that never opens within Schedule::kSearchLimit, or does not
//    settle in a bounded number of rounds, fails closed, evaluated = false);
//  - an urgent notification bypasses for such a recipient only when every one of their
//    establishments lists the category (otherwise refused_category, urgent_refused_by naming
//    the one that does not);
//  - a parent's grade still waits for its student's release, as held by the student's own
//    establishments, plus the event's establishment's delay.
// A UAI in `establishments` that is not valid (never from the canonical parser) fails closed
// for that recipient.
// `sequencing`: as for decide().
std::vector<DeliveryDecision> decide_in(const PolicySet& policies,
                                        const EstablishmentPolicy& primary, const Notification& n,
                                        Instant received, bool connector_may_bypass,
                                        Sequencing sequencing = Sequencing::grades_follow_students);

// describe() for a decision of decide_in, naming the other establishments that held it and
// why, e.g. "quiet window Mon-Thu 20:00-07:00; also attached to 0250001R: quiet window
// \"Soirée\" (the strictest of the recipient's establishments' policies applies)".
std::string describe_in(const PolicySet& policies, const EstablishmentPolicy& primary,
                        const DeliveryDecision& d, std::string_view source = {});

}  // namespace treve::policy
