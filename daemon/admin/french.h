// What the admin page says in French: instants ("lundi 30 novembre à 07:00"), the cause of a
// quiet time ("fenêtre du week-end", "jour férié (Noël)"), and the preview's sentence. The French
// of configuration and .ics diagnostics is messages_fr.h's.
#pragma once

#include <string>

#include "policy/decision.h"
#include "policy/establishment_policy.h"

namespace treve::admin {

// "lundi 30 novembre à 07:00", with the year when it is not the year of `now`.
std::string french_instant(policy::Instant t, const date::time_zone* zone, policy::Instant now);

// The last cause of a quiet chain, in French; empty for an empty chain.
std::string french_cause(const policy::EstablishmentRules& rules, const policy::QuietChain& chain);

// Every cause of a quiet chain, in time order, each once: "fenêtre du week-end, jour férié :
// Noël"; empty for an empty chain.
std::string french_causes(const policy::EstablishmentRules& rules, const policy::QuietChain& chain);

// "Un message envoyé maintenant serait remis lundi 30 novembre à 07:00 (fenêtre du week-end)".
// `now` says whether `at` is the present ("maintenant") or another instant.
std::string french_summary(const policy::EstablishmentPolicy& policy,
                           const policy::DeliveryDecision& d, policy::Category category,
                           policy::Instant at, policy::Instant now);

}  // namespace treve::admin
