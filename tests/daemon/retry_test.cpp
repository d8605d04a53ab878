// The retry rules of the dispatcher: Retry-After and the backoff (which answers are retried is
// the sink's: tests/adapters/webhook_sink_test.cpp).
#include "daemon/dispatch/retry.h"

#include <gtest/gtest.h>

#include "policy/rfc3339.h"

namespace treve::dispatch {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

policy::Instant at(std::string_view s) {
  return *policy::parse_rfc3339(s);
}

TEST(RetryAfter, ReadsDelaySecondsAndHttpDates) {
  const auto now = at("2026-10-21T07:28:00Z");
  EXPECT_EQ(parse_retry_after("120", now), milliseconds{120'000});
  EXPECT_EQ(parse_retry_after(" 0 ", now), milliseconds{0});
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now), milliseconds{30'000});
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), milliseconds{0});
  EXPECT_EQ(parse_retry_after("99999999999", now), milliseconds{366LL * 86'400'000});
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("1.5", now));
}

TEST(RetryBackoff, DoublesFromTheInitialDelayUpToTheMaximumWithJitterInTheUpperHalf) {
  RetrySchedule s{1s, 60s, 48h};
  const auto first = at("2026-11-30T07:00:00Z");
  auto delay = [&](int attempts, double jitter) {
    auto next = next_attempt(s, attempts, first, first, std::nullopt, jitter);
    EXPECT_TRUE(next);
    return *next - first;
  };
  EXPECT_EQ(delay(1, 1.0), 1s);
  EXPECT_EQ(delay(2, 1.0), 2s);
  EXPECT_EQ(delay(3, 1.0), 4s);
  EXPECT_EQ(delay(6, 1.0), 32s);
  EXPECT_EQ(delay(7, 1.0), 60s);
  EXPECT_EQ(delay(500, 1.0), 60s);  // no overflow however many attempts
  EXPECT_EQ(delay(3, 0.0), 2s);     // half of 4 s
  EXPECT_EQ(delay(3, 0.5), 3s);
}

TEST(RetryBackoff, HonoursRetryAfterWhenItAsksForLonger) {
  RetrySchedule s{1s, 60s, 48h};
  const auto now = at("2026-11-30T07:00:00Z");
  EXPECT_EQ(*next_attempt(s, 1, now, now, milliseconds{30'000}, 1.0), now + 30s);
  EXPECT_EQ(*next_attempt(s, 3, now, now, milliseconds{500}, 1.0), now + 4s);
}

TEST(RetryBackoff, ARetryAfterPastTheGiveUpInstantLeavesNoAttempt) {
  RetrySchedule s{1s, 60s, 2h};
  const auto first = at("2026-11-30T07:00:00Z");
  EXPECT_EQ(*next_attempt(s, 2, first, first + 1h, milliseconds{3'600'000}, 1.0), first + 2h);
  EXPECT_FALSE(next_attempt(s, 2, first, first + 1h, milliseconds{3'600'001}, 1.0));
  EXPECT_FALSE(next_attempt(s, 2, first, first, milliseconds{366LL * 86'400'000}, 1.0));
}

TEST(RetryBackoff, TheLastAttemptIsAtTheGiveUpInstantThenTheDeliveryIsDead) {
  RetrySchedule s{1s, 1h, 2h};
  const auto first = at("2026-11-30T07:00:00Z");
  // 1h50 in, an hour's backoff would pass the give-up instant: the last try is at 2h.
  EXPECT_EQ(*next_attempt(s, 20, first, first + 110min, std::nullopt, 1.0), first + 2h);
  EXPECT_FALSE(next_attempt(s, 21, first, first + 2h, std::nullopt, 1.0));
  EXPECT_FALSE(next_attempt(s, 21, first, first + 3h, std::nullopt, 1.0));
  // The default schedule spans two days: about 56 attempts, the last at 48 h.
  RetrySchedule d;
  int attempts = 1;
  auto now = first;
  while (auto next = next_attempt(d, attempts, first, now, std::nullopt, 1.0)) {
    now = *next;
    ++attempts;
  }
  EXPECT_EQ(now, first + 48h);
  EXPECT_GT(attempts, 40);
  EXPECT_LT(attempts, 70);
}

}  // namespace
}  // namespace treve::dispatch
