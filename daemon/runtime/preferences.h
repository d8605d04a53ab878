// The recipients' own quiet hours in force, in memory: loaded from the store at start, changed
// by the ingest API's PUT and DELETE after their commit, read by every decision (ingest,
// re-planning). Keyed by connector and pseudonym, as stored: the recipient's id is turned into
// its pseudonym only for the sources that have hours at all, so connectors whose recipients set
// none pay nothing. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/store/preference_store.h"
#include "policy/notification.h"
#include "policy/personal_hours.h"

namespace treve::runtime {

class Preferences {
 public:
  // `pseudonym` names a recipient as the store does (PreferenceStore::pseudonym). `on_used` is
  // told, at most once a day per recipient, that their hours were applied (to keep them from
  // being purged as unused); it may be empty.
  using Pseudonym = std::function<std::string(std::string_view, std::string_view)>;
  using Used = std::function<void(const std::string& source, const std::string& pseudonym,
                                  policy::Instant at)>;
  Preferences(Pseudonym pseudonym, Used on_used);

  // Replaces everything (at start). Unreadable entries are left out and counted.
  std::size_t load(const std::vector<store::StoredPreference>& stored);
  void put(const std::string& source, const std::string& pseudonym,
           std::shared_ptr<const policy::PersonalHours> hours);
  void erase(const std::string& source, const std::string& pseudonym);

  // Sets the hours of `n`'s recipients that have some (n.source must be set), as decided at
  // `now`.
  void attach(policy::Notification& n, policy::Instant now) const;
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const policy::PersonalHours> hours;
    mutable std::int64_t noted_ms = 0;  // when on_used was last told (atomic access)
  };
  using BySource = std::unordered_map<std::string, Entry>;

  Pseudonym pseudonym_;
  Used on_used_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, BySource> by_source_;
};

}  // namespace treve::runtime
