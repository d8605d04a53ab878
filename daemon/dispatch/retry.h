// What to do after an attempt to deliver: the classification of an answer and the retry
// schedule. Pure: the instant and the jitter are passed in.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "policy/instant.h"

namespace treve::dispatch {

struct RetrySchedule {
  std::chrono::milliseconds initial{1'000};
  std::chrono::milliseconds max_interval{3'600'000};
  std::chrono::milliseconds give_up_after{48LL * 3'600'000};  // since the first attempt
};

// A Retry-After value: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2026 07:28:00
// GMT"), as a delay from `now` (zero for a date in the past); nullopt when it is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           policy::Instant now);

// When to try again after `attempts` failed attempts (1 after the first), or nullopt when
// the delivery is to be dead-lettered: no attempt is made once `give_up_after` has passed
// since the first. The delay doubles from `initial` up to `max_interval`, times a jitter
// factor in [0.5, 1] (`jitter` in [0, 1)); it is never shorter than `retry_after`. The last
// attempt is made at the give-up instant; a Retry-After pointing past it leaves no attempt.
std::optional<policy::Instant> next_attempt(const RetrySchedule& schedule, int attempts,
                                            policy::Instant first_attempt, policy::Instant now,
                                            std::optional<std::chrono::milliseconds> retry_after,
                                            double jitter);

}  // namespace treve::dispatch
