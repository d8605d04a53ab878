// How the ingest benchmarks count the daemon's answers: per HTTP status for single events, per
// line (NDJSON) or element (CloudEvents JSON array) status for a batch answered 200.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace treve::bench {

// Counts the answer to one request that carried `events` events into `r`, which has
// `accepted`, `non_202` (events) and `statuses` (a map of status to count). The first three
// refusals are printed to stderr.
template <typename Counts>
void count_answer(Counts& r, int status, std::string_view body, bool batch, long long events) {
  if (!batch || status != 200) {
    ++r.statuses[status];
    if (status == 202) {
      r.accepted += events;
    } else {
      r.non_202 += events;
      if (r.non_202 <= 3)
        std::fprintf(stderr, "answer %d: %.300s\n", status, std::string(body).c_str());
    }
    return;
  }
  // One NDJSON line per event: {"line":N,"status":S,...}; for CloudEvents, one element of a
  // JSON array per event, each starting {"index":N,"status":S,...
  const bool array = !body.empty() && body.front() == '[';
  static constexpr std::string_view kElement = "{\"index\":";
  long long lines = 0;
  while (!body.empty()) {
    std::string_view line;
    if (array) {
      auto at = body.find(kElement);
      if (at == std::string_view::npos)
        break;
      auto next = body.find(kElement, at + kElement.size());
      line = body.substr(at, next == std::string_view::npos ? next : next - at);
      body = next == std::string_view::npos ? std::string_view{} : body.substr(next);
    } else {
      auto nl = body.find('\n');
      line = body.substr(0, nl);
      body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    }
    if (line.empty())
      continue;
    ++lines;
    int s = 0;
    if (auto at = line.find("\"status\":"); at != std::string_view::npos)
      s = std::atoi(std::string(line.substr(at + 9, 3)).c_str());
    ++r.statuses[s];
    if (s == 202) {
      ++r.accepted;
    } else if (++r.non_202 <= 3) {
      std::fprintf(stderr, "batch line %d: %.300s\n", s, std::string(line).c_str());
    }
  }
  if (lines != events) {
    std::fprintf(stderr, "batch answer has %lld lines for %lld events\n", lines, events);
    r.non_202 += std::max<long long>(0, events - lines);
  }
}

}  // namespace treve::bench
