// An establishment's rules together with their compiled schedules. Immutable; shared between
// threads through shared_ptr<const EstablishmentPolicy>.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "policy/establishment_rules.h"
#include "policy/schedule.h"

namespace treve::policy {

class EstablishmentPolicy {
 public:
  // `by_category[c]`: the schedule of a category with windows of its own; unset, the category
  // follows `schedule`.
  EstablishmentPolicy(EstablishmentRules rules, Schedule schedule,
                      std::array<std::optional<Schedule>, kCategoryCount> by_category = {})
      : rules_(std::move(rules)),
        schedule_(std::move(schedule)),
        by_category_(std::move(by_category)) {}

  const EstablishmentRules& rules() const { return rules_; }
  // The establishment's windows (those naming no category) and closed days.
  const Schedule& schedule() const { return schedule_; }
  // What holds a notification of category `c`: its own windows if it has some, else the
  // establishment's; the closed days either way.
  const Schedule& schedule(Category c) const {
    const auto i = static_cast<std::size_t>(c);
    return i < by_category_.size() && by_category_[i] ? *by_category_[i] : schedule_;
  }
  const date::time_zone* zone() const { return rules_.zone; }

 private:
  EstablishmentRules rules_;
  Schedule schedule_;
  std::array<std::optional<Schedule>, kCategoryCount> by_category_;
};

}  // namespace treve::policy
