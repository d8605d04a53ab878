// Deterministic mutation testing of the parsers that take outside input: canonical events,
// RFC 3339 instants, configuration files and iCalendar text. Each mutated input must give a
// value or an error — never a crash, a hang or (under the asan preset) a memory error.
// A quick, deterministic complement to the coverage-guided fuzzing of scripts/fuzz
// (tests/fuzz/targets/, docs/development.md "Fuzzing"): it runs in every build, with g++.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "adapters/inbound/canonical_event.h"
#include "daemon/config/config.h"
#include "daemon/config/ics_calendar.h"
#include "policy/rfc3339.h"
#include "tests/support/tokens.h"

namespace treve {
namespace {

std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string kBytes = "{}[]\":,\\0123456789-+.eEtfnul TZz\x01\xff\xc3\xa9\n";
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 4) {
      case 0:  // insert
        s.insert(pos, 1, kBytes[rng() % kBytes.size()]);
        break;
      case 1:  // delete
        if (!s.empty())
          s.erase(std::min(pos, s.size() - 1), 1 + rng() % 3);
        break;
      case 2:  // replace
        if (!s.empty())
          s[std::min(pos, s.size() - 1)] = kBytes[rng() % kBytes.size()];
        break;
      default:  // duplicate a slice
        if (!s.empty()) {
          const std::size_t from = rng() % s.size();
          s.insert(pos, s.substr(from, 1 + rng() % 16));
        }
    }
  }
  return s;
}

constexpr int kRounds = 20000;

TEST(Mutation, CanonicalEventParserAnswersEveryInput) {
  const std::string seed = R"({"id":"msg-8812","establishment":"0250001R","category":"grade",)"
                           R"("recipients":[{"id":"u-7f3a","role":"student"},)"
                           R"({"id":"u-99c1","role":"parent","of":"u-7f3a"}],)"
                           R"("created_at":"2026-11-27T21:14:03+01:00","urgent":false,)"
                           R"("title":"Nouvelle note","payload":{"any":[1,2,{"x":null}]}})";
  std::mt19937 rng(20261128);
  int accepted = 0;
  for (int i = 0; i < kRounds; ++i) {
    auto e = adapters::parse_canonical_event(mutate(seed, rng));
    if (e) {
      ++accepted;
      EXPECT_FALSE(e->notification.recipients.empty());
    } else {
      EXPECT_GE(e.error().status, 400);
      EXPECT_FALSE(e.error().to_json().empty());
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations keep the event valid: the seed is exercised
}

TEST(Mutation, Rfc3339ParserAnswersEveryInput) {
  std::mt19937 rng(7);
  for (int i = 0; i < kRounds; ++i) {
    auto t = policy::parse_rfc3339(mutate("2026-11-27T21:14:03.250+01:00", rng));
    if (!t) {
      EXPECT_FALSE(t.error().empty());
    }
  }
}

TEST(Mutation, ConfigurationLoaderAnswersEveryInput) {
  const std::string seed = R"([server]
listen = "127.0.0.1:2007"
[policy]
parent_grade_delay = "24h"
urgent_categories = ["alert"]
[[policy.quiet]]
days = ["fri"]
start = "20:00"
end = "07:00"
end_day = "mon"
[establishments."0250001R"]
closed = ["2026-12-21..2027-01-03"]
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";
  std::mt19937 rng(11);
  for (int i = 0; i < kRounds / 10; ++i) {
    auto c = config::parse_config(mutate(seed, rng), "fuzz.toml", policy::Horizon{2026, 2027});
    if (!c) {
      ASSERT_FALSE(c.error().empty());
      for (const auto& e : c.error())
        EXPECT_EQ(e.file, "fuzz.toml");
    }
  }
}

TEST(Mutation, ICalendarReaderAnswersEveryInput) {
  const std::string seed =
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261017\r\n"
      "DTEND;VALUE=DATE:20261102\r\nRRULE:FREQ=YEARLY;COUNT=3\r\nSUMMARY:Vacances\r\n"
      "END:VEVENT\r\nEND:VCALENDAR\r\n";
  std::mt19937 rng(13);
  for (int i = 0; i < kRounds / 10; ++i) {
    auto r = config::parse_ics_closed_days(mutate(seed, rng));
    if (r) {
      for (const auto& range : r->ranges)
        EXPECT_LE(range.first, range.last);
    }
  }
}

}  // namespace
}  // namespace treve
