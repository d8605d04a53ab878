// A directory's answer to a lookup of users (docs/connectors.md, "The directory"), and the
// addresses a directory or an event gives for a recipient (`channels`, docs/delivery.md).
#include <array>

#include "adapters/inbound/directory_answer.h"
#include "adapters/outbound/addresses.h"
#include "policy/uai.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(directory_answer) {
  using namespace treve;
  static const std::array<std::string, 3> asked{"u-7f3a", "u-99c1", "1234-abcd"};
  auto users = adapters::parse_user_lookup_answer(input, asked);
  if (users) {
    TREVE_FUZZ_CHECK(users->size() <= asked.size(), "only users asked are answered");
    for (const auto& [id, user] : *users) {
      for (const auto& s : user.structures)
        TREVE_FUZZ_CHECK(policy::parse_uai(s).has_value(), s);
    }
  } else {
    TREVE_FUZZ_CHECK(!users.error().message.empty(), users.error().pointer);
    TREVE_FUZZ_CHECK(users.error().scrubbed_pointer.find("u-7f3a") == std::string::npos,
                     "a scrubbed pointer names no user");
  }
  (void)adapters::parse_profile(input);
  // A recipient's addresses: checked as ingest does, then read as the dispatcher does.
  if (!adapters::validate_channels(input)) {
    auto channels = adapters::parse_channels(input);
    TREVE_FUZZ_CHECK(channels.has_value(), "validated channels can be read");
    TREVE_FUZZ_CHECK(channels->fcm.size() <= adapters::kMaxAddressesPerChannel, "fcm");
    TREVE_FUZZ_CHECK(channels->webpush.size() <= adapters::kMaxAddressesPerChannel, "webpush");
    TREVE_FUZZ_CHECK(channels->email.size() <= adapters::kMaxAddressesPerChannel, "email");
  }
}
