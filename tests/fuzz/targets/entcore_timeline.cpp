// An Open ENT NG timeline notification (format = "entcore-timeline", docs/connectors.md).
#include "adapters/inbound/entcore_timeline.h"
#include "tests/fuzz/fuzz_checks.h"

TREVE_FUZZ_TARGET(entcore_timeline) {
  using namespace treve;
  static const adapters::TimelineMapping mapping{
      {{"EXERCIZER", policy::Category::homework}, {"BLOG.PUBLISH-POST", policy::Category::news}},
      {{"push.notif.custom", "Un titre"}}};
  const policy::Instant received{std::chrono::milliseconds(1'796'000'000'000)};
  auto e = adapters::parse_entcore_timeline(input, mapping, adapters::EventLimits{}, received);
  if (!e) {
    fuzz::check_problem(e.error());
    return;
  }
  TREVE_FUZZ_CHECK(!e->title.empty(), "a notification always has a title");
  TREVE_FUZZ_CHECK(e->dated || e->created_at == received, "undated means received now");
}
