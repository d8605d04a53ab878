// A recipient's own quiet hours: weekly windows in the wall-clock time of the establishment
// whose event is being decided (a teacher's evenings, a parent who wants nothing before
// 08:00). They only ever add quiet time: the decision holds a delivery until an instant open
// under both the establishments' policies and these hours (policy/strictest.h).
//
// Immutable once built and safe to share between threads; the schedule of each time zone is
// built on first use and kept.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "policy/quiet_window.h"
#include "policy/schedule.h"

namespace treve::policy {

class PersonalHours {
 public:
  // `windows` must not cover the whole week (windows_cover_whole_week): such hours never open.
  explicit PersonalHours(std::vector<QuietWindow> windows);

  const std::vector<QuietWindow>& windows() const { return windows_; }
  // The first instant at or after t outside these hours, in `zone`'s wall-clock time. Causes
  // are QuietCause::Kind::window with indices into windows().
  Release next_open(const date::time_zone* zone, Instant t) const;

 private:
  const Schedule& schedule(const date::time_zone* zone) const;

  std::vector<QuietWindow> windows_;
  mutable std::mutex mutex_;
  mutable std::vector<std::pair<const date::time_zone*, std::unique_ptr<const Schedule>>>
      schedules_;
};

// "personal quiet hours Mon-Fri 18:00-08:00" for the causes of `chain`.
std::string describe_personal(const PersonalHours& hours, const QuietChain& chain);

}  // namespace treve::policy
