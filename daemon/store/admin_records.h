// What every backend of the store writes the same way for administrators' acts: the audit
// records of a crisis opened, extended and closed. The SQLite and PostgreSQL backends both
// chain exactly these records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <date/tz.h>

#include "daemon/store/audit_record.h"
#include "daemon/store/crisis_store.h"

namespace treve::store {

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
