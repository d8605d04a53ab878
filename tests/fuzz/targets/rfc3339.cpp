// RFC 3339 instants (events' created_at, the admin API's and the CLI's --at): what parses
// formats back to the same instant.
#include <date/tz.h>

#include "policy/rfc3339.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(rfc3339) {
  using namespace treve;
  auto t = policy::parse_rfc3339(input);
  if (!t) {
    TREVE_FUZZ_CHECK(!t.error().empty(), std::string(input));
    return;
  }
  static const date::time_zone* utc = date::locate_zone("UTC");
  static const date::time_zone* paris = date::locate_zone("Europe/Paris");
  for (const date::time_zone* zone : {utc, paris}) {
    const std::string text = policy::format_rfc3339(*t, zone);
    auto again = policy::parse_rfc3339(text);
    TREVE_FUZZ_CHECK(again.has_value(), text);
    TREVE_FUZZ_CHECK(*again == *t, std::string(input) + " -> " + text);
  }
}
