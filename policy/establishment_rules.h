// The effective rules of one establishment, after inheritance from the [policy] defaults.
// Plain data: configuration builds it, `EstablishmentPolicy` compiles it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <date/tz.h>

#include "policy/instant.h"
#include "policy/notification.h"
#include "policy/quiet_window.h"
#include "policy/uai.h"

namespace treve::policy {

// Whole local days that are quiet from 00:00 to 24:00, inclusive of both ends.
struct ClosedDays {
  LocalDate first;
  LocalDate last;
  std::string label;  // "2026-12-21..2027-01-03" or an iCalendar event's summary
  friend bool operator==(const ClosedDays&, const ClosedDays&) = default;
};

struct EstablishmentRules {
  std::string uai;  // empty for the defaults template
  const date::time_zone* zone = nullptr;
  Region region = Region::metropole;
  std::vector<QuietWindow> windows = default_quiet_windows();
  bool public_holidays = true;  // the built-in `fr-public` set
  std::vector<ClosedDays> closed;
  std::chrono::minutes parent_grade_delay = std::chrono::hours(24);
  std::uint16_t urgent_categories = 1u << static_cast<unsigned>(Category::alert);

  bool is_urgent_category(Category c) const {
    return (urgent_categories >> static_cast<unsigned>(c)) & 1u;
  }
};

}  // namespace treve::policy
