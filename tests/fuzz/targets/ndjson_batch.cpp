// POST /v1/events:batch: NDJSON, one canonical event per line, read by one reader reusing its
// parser between lines as ingest does.
#include "adapters/inbound/canonical_event.h"
#include "tests/fuzz/fuzz_checks.h"

TREVE_FUZZ_TARGET(ndjson_batch) {
  using namespace treve;
  adapters::CanonicalEventReader reader{adapters::ParseMode{}};
  std::size_t lines = 0;
  while (!input.empty() && lines < 64) {
    const std::size_t nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    ++lines;
    auto e = reader.parse(line);
    // The same line alone gives the same answer: nothing is carried over from the lines before.
    auto alone = adapters::parse_canonical_event(line);
    TREVE_FUZZ_CHECK(e.has_value() == alone.has_value(), std::string(line));
    if (!e) {
      fuzz::check_problem(e.error());
      TREVE_FUZZ_CHECK(e.error().pointer == alone.error().pointer, std::string(line));
    } else {
      TREVE_FUZZ_CHECK(e->notification.id == alone->notification.id, std::string(line));
      TREVE_FUZZ_CHECK(e->payload_json == alone->payload_json, std::string(line));
    }
  }
}
