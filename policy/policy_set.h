// Every establishment's policy: the configured ones, and the defaults that protect any other
// UAI. Immutable from the outside; compiles each establishment's schedule on first use and
// keeps it. Thread-safe: any number of threads may call `find` at once.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/establishment_policy.h"

namespace treve::policy {

inline constexpr std::size_t kRegionCount = 13;

class PolicySet {
 public:
  // `defaults.zone` may be null: each UAI then takes its region's zone from `region_zones`
  // (index: Region). `establishments` hold fully inherited rules, one per UAI. `crises` are
  // added to the rules of their establishment, configured or not.
  PolicySet(EstablishmentRules defaults, std::vector<EstablishmentRules> establishments,
            std::array<const date::time_zone*, kRegionCount> region_zones, Horizon horizon = {},
            std::vector<Crisis> crises = {});
  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  // The policy of a UAI validated by parse_uai. The reference lives as long as the PolicySet.
  // Throws std::invalid_argument for a Uai whose region is not a Region (one parse_uai never
  // made), instead of reading past the table of regions.
  const EstablishmentPolicy& find(const Uai& uai) const;
  bool is_configured(std::string_view uai) const;
  const EstablishmentRules& defaults() const { return defaults_; }
  std::vector<std::string> configured_uais() const;
  // Every crisis given at construction.
  const std::vector<Crisis>& crises() const { return crises_; }

 private:
  const EstablishmentPolicy& compile(const EstablishmentRules& rules) const;

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  EstablishmentRules defaults_;
  std::unordered_map<std::string, EstablishmentRules, StringHash, std::equal_to<>> configured_;
  std::array<const date::time_zone*, kRegionCount> region_zones_;
  Horizon horizon_;
  std::vector<Crisis> crises_;
  // The crises of establishments the configuration does not name (the others' are in their
  // rules).
  std::unordered_map<std::string, std::vector<Crisis>, StringHash, std::equal_to<>>
      unconfigured_crises_;

  std::shared_ptr<const WindowLayer> window_layer(const EstablishmentRules& rules,
                                                  std::optional<Category> category) const;

  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::unique_ptr<EstablishmentPolicy>, StringHash,
                             std::equal_to<>>
      compiled_configured_;
  mutable std::array<std::unique_ptr<EstablishmentPolicy>, kRegionCount> compiled_defaults_;
  // Window layers are shared between establishments with the same zone and windows.
  mutable std::vector<std::shared_ptr<const WindowLayer>> window_layers_;
};

}  // namespace treve::policy
