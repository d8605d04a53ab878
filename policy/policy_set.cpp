#include "policy/policy_set.h"

#include <algorithm>
#include <stdexcept>

namespace treve::policy {

PolicySet::PolicySet(EstablishmentRules defaults, std::vector<EstablishmentRules> establishments,
                     std::array<const date::time_zone*, kRegionCount> region_zones, Horizon horizon)
    : defaults_(std::move(defaults)), region_zones_(region_zones), horizon_(horizon) {
  for (auto& e : establishments) {
    std::string key = e.uai;
    configured_.emplace(std::move(key), std::move(e));
  }
}

bool PolicySet::is_configured(std::string_view uai) const {
  return configured_.contains(uai);
}

std::vector<std::string> PolicySet::configured_uais() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : configured_)
    out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

const EstablishmentPolicy& PolicySet::find(const Uai& uai) const {
  std::lock_guard lock(mutex_);
  if (auto it = configured_.find(uai.code); it != configured_.end()) {
    auto c = compiled_configured_.find(uai.code);
    if (c != compiled_configured_.end())
      return *c->second;
    const EstablishmentPolicy& p = compile(it->second);
    return p;
  }
  // A Uai comes from parse_uai; one with a region outside the table is a bug upstream (a failed
  // parse_uai used unchecked), refused here rather than read past the table.
  const auto region = static_cast<std::size_t>(uai.region);
  if (region >= kRegionCount)
    throw std::invalid_argument("PolicySet::find: not a UAI from parse_uai");
  auto& slot = compiled_defaults_[region];
  if (!slot) {
    EstablishmentRules rules = defaults_;
    rules.region = uai.region;
    if (!rules.zone)
      rules.zone = region_zones_[static_cast<std::size_t>(uai.region)];
    compile(rules);
  }
  return *slot;
}

// Called with mutex_ held. Stores the result in the right cache.
const EstablishmentPolicy& PolicySet::compile(const EstablishmentRules& rules) const {
  std::shared_ptr<const WindowLayer> windows;
  for (const auto& layer : window_layers_) {
    if (layer->zone() == rules.zone && layer->windows() == rules.windows)
      windows = layer;
  }
  if (!windows) {
    auto layer = std::make_shared<WindowLayer>(rules.zone, rules.windows, horizon_);
    layer->compile();
    windows = layer;
    window_layers_.push_back(windows);
  }
  auto closed = std::make_shared<ClosedDayLayer>(rules.zone, rules.region, rules.public_holidays,
                                                 rules.closed, horizon_);
  closed->compile();
  auto policy = std::make_unique<EstablishmentPolicy>(rules, Schedule(windows, closed));
  const EstablishmentPolicy& ref = *policy;
  if (!rules.uai.empty() && configured_.contains(rules.uai)) {
    compiled_configured_.emplace(rules.uai, std::move(policy));
  } else {
    compiled_defaults_[static_cast<std::size_t>(rules.region)] = std::move(policy);
  }
  return ref;
}

}  // namespace treve::policy
