#include "daemon/dispatch/retry.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <string>

#include <date/date.h>

namespace treve::dispatch {

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           policy::Instant now) {
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    long long seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || end != value.data() + value.size())
      return std::nullopt;
    // More than a year is not a delay anyone means.
    seconds = std::min(seconds, 366LL * 86'400);
    return std::chrono::milliseconds{seconds * 1000};
  }
  std::istringstream in{std::string(value)};
  date::sys_seconds at;
  in >> date::parse("%a, %d %b %Y %H:%M:%S GMT", at);
  if (in.fail())
    return std::nullopt;
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
  return std::clamp(delay, std::chrono::milliseconds{0},
                    std::chrono::milliseconds{366LL * 86'400'000});
}

std::optional<policy::Instant> next_attempt(const RetrySchedule& schedule, int attempts,
                                            policy::Instant first_attempt, policy::Instant now,
                                            std::optional<std::chrono::milliseconds> retry_after,
                                            double jitter) {
  const policy::Instant give_up = first_attempt + schedule.give_up_after;
  if (now >= give_up)
    return std::nullopt;
  // initial * 2^(attempts-1), without overflowing: stop doubling at max_interval.
  auto interval = schedule.initial;
  for (int i = 1; i < attempts && interval < schedule.max_interval; ++i)
    interval *= 2;
  interval = std::min(interval, schedule.max_interval);
  jitter = std::clamp(jitter, 0.0, 1.0);
  auto delay = std::chrono::milliseconds{
      static_cast<long long>(static_cast<double>(interval.count()) * (0.5 + 0.5 * jitter))};
  policy::Instant next = std::min(now + delay, give_up);
  if (retry_after && now + *retry_after > next) {
    // Never sooner than the receiver asks; if that is past the give-up instant, there is no
    // attempt left to make.
    if (now + *retry_after > give_up)
      return std::nullopt;
    next = now + *retry_after;
  }
  return next;
}

}  // namespace treve::dispatch
