// The preference role of the store: recipients' own quiet hours, set by their connector
// (PUT /v1/recipients/{id}/preferences), kept by connector and pseudonym — never by the
// recipient's id — and removed on request (the right to erasure) or when unused for the audit
// retention. Each change is one audit record (`preferences_set`, `preferences_deleted`,
// `preferences_purged`) naming the pseudonym only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/store/store_types.h"
#include "policy/instant.h"

namespace treve::store {

struct StoredPreference {
  std::string source;
  std::string recipient;  // the pseudonym
  std::string quiet;      // the windows, as the JSON array the connector sent (validated)
  policy::Instant updated_at;
  policy::Instant used_at;  // last set, or last applied to a delivery (to within a day)
};

class PreferenceStore {
 public:
  virtual ~PreferenceStore() = default;

  // The pseudonym of a recipient, as the trail and this table name them. Any thread.
  virtual std::string pseudonym(std::string_view source, std::string_view recipient) const = 0;

  // Writer only.
  // Sets (replacing) one recipient's hours; `windows` counts them for the audit record.
  virtual Result<StoredPreference> set_preference(std::string_view source,
                                                  std::string_view recipient,
                                                  std::string_view quiet, std::size_t windows,
                                                  policy::Instant now) = 0;
  // Deletes them; false when there were none (no record then).
  virtual Result<bool> delete_preference(std::string_view source, std::string_view recipient,
                                         policy::Instant now) = 0;
  // Notes that they were applied at `at` (no audit record: not a change).
  virtual Result<void> touch_preference(std::string_view source, std::string_view pseudonym,
                                        policy::Instant at) = 0;
  // Deletes those neither set nor applied since `unused_since`, one `preferences_purged`
  // record each; returns what was deleted.
  virtual Result<std::vector<StoredPreference>> purge_preferences(policy::Instant unused_since,
                                                                  policy::Instant now) = 0;

  // Reads; any thread.
  virtual Result<std::vector<StoredPreference>> preferences() = 0;
  virtual Result<std::optional<StoredPreference>> preference(std::string_view source,
                                                             std::string_view recipient) = 0;
};

}  // namespace treve::store
