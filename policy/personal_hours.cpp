#include "policy/personal_hours.h"

namespace treve::policy {

PersonalHours::PersonalHours(std::vector<QuietWindow> windows) : windows_(std::move(windows)) {}

const Schedule& PersonalHours::schedule(const date::time_zone* zone) const {
  std::lock_guard lock(mutex_);
  for (const auto& [z, s] : schedules_) {
    if (z == zone)
      return *s;
  }
  // Nothing precompiled: a recipient's hours are asked about a few times per event.
  auto windows = std::make_shared<WindowLayer>(zone, windows_, Horizon::none());
  windows->compile();
  auto closed = std::make_shared<ClosedDayLayer>(zone, Region::metropole, false,
                                                 std::vector<ClosedDays>{}, Horizon::none());
  closed->compile();
  schedules_.emplace_back(zone, std::make_unique<const Schedule>(windows, closed));
  return *schedules_.back().second;
}

Release PersonalHours::next_open(const date::time_zone* zone, Instant t) const {
  return schedule(zone).next_open(t);
}

std::string describe_personal(const PersonalHours& hours, const QuietChain& chain) {
  std::string out;
  for (std::size_t i = 0; i < chain.size; ++i) {
    const QuietCause& c = chain.causes[i];
    if (!out.empty())
      out += ", then ";
    out += "personal quiet hours";
    if (c.kind == QuietCause::Kind::window && c.index < hours.windows().size())
      out += " " + window_label(hours.windows()[c.index]);
  }
  if (chain.total > chain.size)
    out += ", and " + std::to_string(chain.total - chain.size) + " more";
  return out;
}

}  // namespace treve::policy
