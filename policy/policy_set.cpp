#include "policy/policy_set.h"

#include <algorithm>
#include <stdexcept>

namespace treve::policy {

PolicySet::PolicySet(EstablishmentRules defaults, std::vector<EstablishmentRules> establishments,
                     std::array<const date::time_zone*, kRegionCount> region_zones, Horizon horizon,
                     std::vector<Crisis> crises)
    : defaults_(std::move(defaults)),
      region_zones_(region_zones),
      horizon_(horizon),
      crises_(crises) {
  for (auto& e : establishments) {
    std::string key = e.uai;
    configured_.emplace(std::move(key), std::move(e));
  }
  for (auto& c : crises) {
    if (auto it = configured_.find(c.uai); it != configured_.end()) {
      it->second.crises.push_back(std::move(c));
    } else {
      std::string key = c.uai;
      unconfigured_crises_[std::move(key)].push_back(std::move(c));
    }
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
  if (auto it = unconfigured_crises_.find(uai.code); it != unconfigured_crises_.end()) {
    // The defaults, with this establishment's crises: compiled for it alone.
    if (auto c = compiled_configured_.find(uai.code); c != compiled_configured_.end())
      return *c->second;
    EstablishmentRules rules = defaults_;
    rules.uai = uai.code;
    rules.region = uai.region;
    if (!rules.zone)
      rules.zone = region_zones_[region];
    rules.crises = it->second;
    return compile(rules);
  }
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

// Called with mutex_ held. The layer of the windows that apply to `category` (its own), or to
// every category without windows of its own (nullopt); shared with any establishment that has
// the same zone and windows.
std::shared_ptr<const WindowLayer> PolicySet::window_layer(const EstablishmentRules& rules,
                                                           std::optional<Category> category) const {
  const auto bit = category ? static_cast<std::uint16_t>(1u << static_cast<unsigned>(*category))
                            : std::uint16_t{0};
  std::vector<QuietWindow> windows;
  std::vector<std::uint16_t> indices;
  for (std::size_t i = 0; i < rules.windows.size(); ++i) {
    const QuietWindow& w = rules.windows[i];
    if (category ? (w.categories & bit) != 0 : w.categories == 0) {
      windows.push_back(w);
      indices.push_back(static_cast<std::uint16_t>(i));
    }
  }
  for (const auto& layer : window_layers_) {
    if (layer->zone() == rules.zone && layer->windows() == windows && layer->indices() == indices)
      return layer;
  }
  auto layer =
      std::make_shared<WindowLayer>(rules.zone, std::move(windows), horizon_, std::move(indices));
  layer->compile();
  window_layers_.push_back(layer);
  return layer;
}

// Called with mutex_ held. Stores the result in the right cache.
const EstablishmentPolicy& PolicySet::compile(const EstablishmentRules& rules) const {
  auto closed = std::make_shared<ClosedDayLayer>(rules.zone, rules.region, rules.public_holidays,
                                                 rules.closed, horizon_);
  closed->compile();
  std::array<std::optional<Schedule>, kCategoryCount> by_category;
  for (int c = 0; c < kCategoryCount; ++c) {
    const auto category = static_cast<Category>(c);
    if (rules.has_own_windows(category))
      by_category[static_cast<std::size_t>(c)].emplace(window_layer(rules, category), closed);
  }
  auto policy = std::make_unique<EstablishmentPolicy>(
      rules, Schedule(window_layer(rules, std::nullopt), closed), std::move(by_category));
  const EstablishmentPolicy& ref = *policy;
  if (!rules.uai.empty() &&
      (configured_.contains(rules.uai) || unconfigured_crises_.contains(rules.uai))) {
    compiled_configured_.emplace(rules.uai, std::move(policy));
  } else {
    compiled_defaults_[static_cast<std::size_t>(rules.region)] = std::move(policy);
  }
  return ref;
}

}  // namespace treve::policy
