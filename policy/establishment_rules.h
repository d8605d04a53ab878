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

// A crisis opened by an administrator (continuité pédagogique en cas de crise): while it is
// open, the notifications of the categories it covers are delivered at once; with
// `release_held`, those already held when it opened are released at its opening.
struct Crisis {
  std::int64_t id = 0;  // the store's number, named in reasons and audit records
  std::string uai;
  Instant opened;
  Instant until;                 // exclusive; the instant it closed, or will close by itself
  std::uint16_t categories = 0;  // bit = Category
  bool release_held = false;
  std::string reason;  // the administrator's words
  std::string by;      // the administrator who opened it

  bool covers(Category c) const { return (categories >> static_cast<unsigned>(c)) & 1u; }
  bool open_at(Instant t) const { return t >= opened && t < until; }
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
  // Homework whose first release to its students leaves less than this before its `due_at` is
  // marked late (late_homework).
  std::chrono::minutes homework_notice = std::chrono::hours(24);
  // The establishment's crises that have not ended (from the store, not the file).
  std::vector<Crisis> crises;

  // The windows that apply to `c`: those naming it, or else those naming no category.
  bool has_own_windows(Category c) const {
    const auto bit = static_cast<std::uint16_t>(1u << static_cast<unsigned>(c));
    for (const auto& w : windows) {
      if (w.categories & bit)
        return true;
    }
    return false;
  }

  bool is_urgent_category(Category c) const {
    return (urgent_categories >> static_cast<unsigned>(c)) & 1u;
  }
};

}  // namespace treve::policy
