// A sink's Retry-After header (webhook, FCM, Web Push answers), as the dispatcher reads it.
#include "daemon/dispatch/retry.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(retry_after) {
  using namespace treve;
  const policy::Instant now{std::chrono::milliseconds(1'796'000'000'000)};
  if (auto delay = dispatch::parse_retry_after(input, now))
    TREVE_FUZZ_CHECK(delay->count() >= 0, std::string(input));
}
