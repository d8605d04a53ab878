// A TZif footer's POSIX TZ rule (policy/zone_time.h), read from the system's zone files.
#include "policy/zone_time.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(posix_rule) {
  using namespace treve;
  (void)policy::zone_time::parse_posix_rule(input);
}
