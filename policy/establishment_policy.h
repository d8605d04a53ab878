// An establishment's rules together with their compiled schedule. Immutable; shared between
// threads through shared_ptr<const EstablishmentPolicy>.
#pragma once

#include <memory>
#include <string>

#include "policy/establishment_rules.h"
#include "policy/schedule.h"

namespace treve::policy {

class EstablishmentPolicy {
 public:
  EstablishmentPolicy(EstablishmentRules rules, Schedule schedule)
      : rules_(std::move(rules)), schedule_(std::move(schedule)) {}

  const EstablishmentRules& rules() const { return rules_; }
  const Schedule& schedule() const { return schedule_; }
  const date::time_zone* zone() const { return rules_.zone; }

 private:
  EstablishmentRules rules_;
  Schedule schedule_;
};

}  // namespace treve::policy
