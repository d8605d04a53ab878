#include "daemon/runtime/preferences.h"

#include <atomic>
#include <mutex>

#include "adapters/inbound/preferences.h"

namespace treve::runtime {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

}  // namespace

Preferences::Preferences(Pseudonym pseudonym, Used on_used)
    : pseudonym_(std::move(pseudonym)), on_used_(std::move(on_used)) {}

std::size_t Preferences::load(const std::vector<store::StoredPreference>& stored) {
  std::unordered_map<std::string, BySource> next;
  std::size_t unreadable = 0;
  for (const auto& p : stored) {
    auto windows = adapters::windows_from_json(p.quiet);
    if (windows.empty()) {
      ++unreadable;
      continue;
    }
    Entry e;
    e.hours = std::make_shared<const policy::PersonalHours>(std::move(windows));
    e.noted_ms = p.used_at.time_since_epoch().count();
    next[p.source][p.recipient] = std::move(e);
  }
  std::unique_lock lock(mutex_);
  by_source_ = std::move(next);
  return unreadable;
}

void Preferences::put(const std::string& source, const std::string& pseudonym,
                      std::shared_ptr<const policy::PersonalHours> hours) {
  std::unique_lock lock(mutex_);
  Entry& e = by_source_[source][pseudonym];
  e.hours = std::move(hours);
  e.noted_ms = 0;
}

void Preferences::erase(const std::string& source, const std::string& pseudonym) {
  std::unique_lock lock(mutex_);
  auto it = by_source_.find(source);
  if (it == by_source_.end())
    return;
  it->second.erase(pseudonym);
  if (it->second.empty())
    by_source_.erase(it);
}

void Preferences::attach(policy::Notification& n, policy::Instant now) const {
  std::shared_lock lock(mutex_);
  auto source = by_source_.find(n.source);
  if (source == by_source_.end())
    return;
  const std::int64_t now_ms = now.time_since_epoch().count();
  for (policy::Recipient& r : n.recipients) {
    const std::string key = pseudonym_(n.source, r.id);
    auto it = source->second.find(key);
    if (it == source->second.end())
      continue;
    r.personal = it->second.hours;
    std::atomic_ref<std::int64_t> noted(it->second.noted_ms);
    std::int64_t before = noted.load();
    if (on_used_ && now_ms - before >= kDayMs && noted.compare_exchange_strong(before, now_ms))
      on_used_(n.source, key, now);
  }
}

std::size_t Preferences::size() const {
  std::shared_lock lock(mutex_);
  std::size_t n = 0;
  for (const auto& [source, entries] : by_source_)
    n += entries.size();
  return n;
}

}  // namespace treve::runtime
