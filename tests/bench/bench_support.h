// Shared set-up for the benchmarks: a PolicySet with the national defaults, and a
// deterministic stream of reception instants.
#pragma once

#include <array>
#include <memory>
#include <random>
#include <vector>

#include "policy/policy_set.h"

namespace treve::bench {

inline std::shared_ptr<policy::PolicySet> default_policy_set() {
  std::array<const date::time_zone*, policy::kRegionCount> zones{};
  for (std::size_t r = 0; r < policy::kRegionCount; ++r) {
    zones[r] = date::locate_zone(policy::default_timezone(static_cast<policy::Region>(r)));
  }
  return std::make_shared<policy::PolicySet>(policy::EstablishmentRules{},
                                             std::vector<policy::EstablishmentRules>{}, zones);
}

// Uniform instants between 2026-01-01 and 2031-01-01, with millisecond jitter.
inline std::vector<policy::Instant> random_instants(std::size_t n, unsigned seed = 42) {
  std::mt19937_64 rng(seed);
  const auto from = date::sys_days{date::year{2026} / 1 / 1};
  const auto to = date::sys_days{date::year{2031} / 1 / 1};
  std::uniform_int_distribution<long long> ms(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
  std::vector<policy::Instant> out(n);
  for (auto& t : out)
    t = policy::Instant{from} + std::chrono::milliseconds{ms(rng)};
  return out;
}

}  // namespace treve::bench
