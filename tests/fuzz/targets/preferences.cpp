// PUT /v1/recipients/{id}/preferences: a recipient's own quiet hours (docs/api.md).
#include "adapters/inbound/preferences.h"
#include "tests/fuzz/fuzz_checks.h"

TREVE_FUZZ_TARGET(preferences) {
  using namespace treve;
  auto p = adapters::parse_preferences(input);
  if (!p) {
    fuzz::check_problem(p.error());
    return;
  }
  TREVE_FUZZ_CHECK(p->windows.size() <= adapters::kMaxPersonalWindows, p->json);
  // What is stored reads back as the same windows, and is stable when parsed again.
  TREVE_FUZZ_CHECK(adapters::windows_from_json(p->json).size() == p->windows.size(), p->json);
}
