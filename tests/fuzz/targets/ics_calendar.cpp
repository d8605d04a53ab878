// An iCalendar file of closed days (`closed_ics`, and the admin API's .ics import).
#include "daemon/config/ics_calendar.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(ics_calendar) {
  using namespace treve;
  auto r = config::parse_ics_closed_days(input);
  if (!r) {
    TREVE_FUZZ_CHECK(!r.error().message().empty(), r.error().to_string());
    return;
  }
  for (const auto& range : r->ranges)
    TREVE_FUZZ_CHECK(range.first <= range.last, "a closed range ends after it starts");
}
