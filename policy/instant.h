// Instants and wall-clock values used throughout the policy engine.
//
// An `Instant` is a UTC point in time with millisecond precision. Local (wall-clock) values
// use date's `local_time`; converting between the two always goes through a `date::time_zone`
// (never by adding offsets by hand).
#pragma once

#include <chrono>

#include <date/date.h>

namespace treve::policy {

using Instant = std::chrono::sys_time<std::chrono::milliseconds>;
using Seconds = std::chrono::sys_seconds;
using LocalDate = date::local_days;
using LocalMinutes = date::local_time<std::chrono::minutes>;

}  // namespace treve::policy
