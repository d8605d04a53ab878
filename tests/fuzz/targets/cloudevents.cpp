// A CloudEvents connector (docs/connectors.md): structured, batched or binary mode, picked by
// the input's first byte. In binary mode the input is "name: value" header lines, a blank
// line, then the data.
#include <vector>

#include "adapters/inbound/cloudevents.h"
#include "tests/fuzz/fuzz_checks.h"

namespace {

treve::adapters::CloudEventMapping mapping() {
  treve::adapters::CloudEventMapping m;
  m.ce_source = "https://ent.example/timeline";
  m.types = {{"org.example.grade", treve::policy::Category::grade},
             {"org.example.message", treve::policy::Category::message}};
  return m;
}

void check(const std::expected<treve::adapters::InboundCloudEvent, treve::adapters::Problem>& e) {
  if (!e)
    treve::fuzz::check_problem(e.error());
}

}  // namespace

TREVE_FUZZ_TARGET(cloudevents) {
  using namespace treve;
  if (input.empty())
    return;
  static const adapters::CloudEventMapping m = mapping();
  const policy::Instant received{std::chrono::milliseconds(1'796'000'000'000)};
  const char mode = input.front();
  input.remove_prefix(1);
  if (mode % 3 == 0) {
    check(adapters::parse_structured_cloudevent(input, m, received));
  } else if (mode % 3 == 1) {
    auto all = adapters::parse_cloudevent_batch(input, m, received);
    if (!all) {
      fuzz::check_problem(all.error());
      return;
    }
    for (const auto& e : *all)
      check(e);
  } else {
    std::vector<std::string> lines;
    std::vector<adapters::HeaderField> headers;
    std::string_view rest = input;
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (line.empty())
        break;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos)
        continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      headers.push_back({line.substr(0, colon), value});
    }
    check(adapters::parse_binary_cloudevent(headers, rest, m, received));
  }
}
