// What every backend of the store writes the same way for administrators' acts: the audit
// records of a configuration changed, a policy saved, an access refused, a crisis opened,
// extended and closed. The SQLite and PostgreSQL backends both
// chain exactly these records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/tz.h>

#include "daemon/store/audit_record.h"
#include "daemon/store/crisis_store.h"
#include "daemon/store/maintenance_store.h"
#include "daemon/store/policy_store.h"

namespace treve::store {

// `config_changed`: the configuration's digest went from `before` (none: the first) to
// change.digest.
AuditRecord config_changed_record(const ConfigChange& change,
                                  const std::optional<std::string>& before, policy::Instant now);
// `policy_changed`: `v` saved as `version`, the establishment's previous digest `before`.
AuditRecord policy_changed_record(const PolicyVersion& v, std::int64_t version,
                                  const std::optional<std::string>& before, policy::Instant now);
// `access_refused`.
AuditRecord access_refused_record(const AccessRefusal& refusal, policy::Instant now);
// A list of strings as stored (a JSON array), and read back (nothing for another text).
std::string json_strings(const std::vector<std::string>& list);
std::vector<std::string> strings_of(const std::string& text);

// `checkpoint`: the leading run of audit records [first, out.purged_through] removed, the
// chain continuing from `continues_from` (the last removed record's hash).
AuditRecord checkpoint_record(const PurgeResult& out, std::int64_t first,
                              const std::string& continues_from, const PurgeLimits& limits,
                              policy::Instant now);
// `purged`: event bodies and whole events removed.
AuditRecord purged_record(const PurgeResult& out, const PurgeLimits& limits, policy::Instant now);

// `crisis_opened`: crisis `id` as `c` opened it at `now`.
AuditRecord crisis_opened_record(const NewCrisis& c, std::int64_t id, policy::Instant now);
// `crisis_extended`: crisis `id` of `uai` to `until` (it ended at `previous` before).
AuditRecord crisis_extended_record(std::string_view uai, std::int64_t id, policy::Instant until,
                                   policy::Instant previous, std::string_view by,
                                   const date::time_zone* zone, policy::Instant now);
// `crisis_closed`: crisis `id` of `uai` closed by `by` ("expiry" at its end instant).
AuditRecord crisis_closed_record(std::string_view uai, std::int64_t id, std::string_view by,
                                 const date::time_zone* zone, policy::Instant now);

}  // namespace treve::store
