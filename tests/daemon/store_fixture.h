// What the store's tests share: a temporary directory for real SQLite files (the support's),
// instants written as RFC 3339, and a delivery's outcome.
#pragma once

#include <string>
#include <string_view>

#include "daemon/store/store.h"
#include "policy/rfc3339.h"
#include "tests/support/temp_dir.h"

namespace treve::store::testing {

inline policy::Instant at(std::string_view s) {
  return *policy::parse_rfc3339(s);
}

// The tests' one temporary directory (tests/support/temp_dir.h).
using ::treve::test::TempDir;

// What the dispatcher reports of one attempt at `d`: delivered (200), or failed (503) with
// the next attempt two seconds later.
inline DeliveryOutcome outcome_for(const DispatchItem& d, DeliveryOutcome::Kind kind,
                                   policy::Instant attempted_at) {
  DeliveryOutcome o;
  o.kind = kind;
  o.ref = d.ref;
  o.sink = "push";
  o.webhook_id = "dlv_x";
  o.attempts = d.attempts + 1;
  o.status = kind == DeliveryOutcome::Kind::delivered ? 200 : 503;
  o.error = kind == DeliveryOutcome::Kind::delivered ? "" : "HTTP 503";
  o.first_attempt_at = attempted_at;
  o.next_attempt_at = attempted_at + std::chrono::seconds{2};
  return o;
}

}  // namespace treve::store::testing
