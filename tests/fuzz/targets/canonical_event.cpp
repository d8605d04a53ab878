// POST /v1/events with a canonical event (docs/api.md).
#include "adapters/inbound/canonical_event.h"
#include "tests/fuzz/fuzz_checks.h"

TREVE_FUZZ_TARGET(canonical_event) {
  using namespace treve;
  auto e = adapters::parse_canonical_event(input);
  if (!e) {
    fuzz::check_problem(e.error());
    return;
  }
  const auto& n = e->notification;
  TREVE_FUZZ_CHECK(!n.recipients.empty(), n.id);
  TREVE_FUZZ_CHECK(n.recipients.size() <= adapters::EventLimits{}.max_recipients, n.id);
  TREVE_FUZZ_CHECK(!n.id.empty() && n.id.size() <= 4 * adapters::EventLimits{}.max_id_chars, n.id);
  boost::system::error_code ec;
  boost::json::parse(e->payload_json, ec);
  TREVE_FUZZ_CHECK(!ec, "the payload kept is JSON: " + e->payload_json);
}
