// core::OffsetClock: wall time from a chosen instant, at the speed of the clock beneath it.
#include <chrono>

#include <gtest/gtest.h>

#include "daemon/core/clock.h"
#include "policy/rfc3339.h"

namespace treve::core {
namespace {

using std::chrono::milliseconds;

policy::Instant at(std::string_view s) {
  return *policy::parse_rfc3339(s);
}

TEST(OffsetClock, StartsAtTheChosenInstantAndAdvancesWithItsBase) {
  FakeClock base(at("2026-03-02T10:00:00Z"));
  OffsetClock clock(base, at("2026-12-07T19:59:58+01:00"));
  EXPECT_EQ(clock.now(), at("2026-12-07T19:59:58+01:00"));
  base.advance(milliseconds(2500));
  EXPECT_EQ(clock.now(), at("2026-12-07T20:00:00.500+01:00"));
  EXPECT_EQ(clock.offset(), at("2026-12-07T19:59:58+01:00") - at("2026-03-02T10:00:00Z"));
}

TEST(OffsetClock, SteadyTimeIsTheBasesOwn) {
  FakeClock base(at("2026-03-02T10:00:00Z"));
  OffsetClock clock(base, at("2020-01-01T00:00:00Z"));
  EXPECT_EQ(clock.steady_now(), base.steady_now());
  base.advance(milliseconds(40));
  EXPECT_EQ(clock.steady_now(), base.steady_now());
}

TEST(OffsetClock, MayRunBehindItsBase) {
  FakeClock base(at("2026-03-02T10:00:00Z"));
  OffsetClock clock(base, at("2026-03-02T09:59:00Z"));
  EXPECT_EQ(clock.offset(), milliseconds(-60'000));
  base.set_wall(at("2026-03-02T11:00:00Z"));  // a step of the base is followed
  EXPECT_EQ(clock.now(), at("2026-03-02T10:59:00Z"));
}

TEST(OffsetClock, OverTheSystemClockRunsAtRealSpeed) {
  SystemClock system;
  const policy::Instant start = at("2026-12-07T19:59:58+01:00");
  OffsetClock clock(system, start);
  const policy::Instant first = clock.now();
  EXPECT_GE(first, start);
  EXPECT_LT(first - start, milliseconds(1000));
  const policy::Instant real_before = system.now();
  const policy::Instant second = clock.now();
  const policy::Instant real_after = system.now();
  EXPECT_GE(second, first);
  EXPECT_GE(second - clock.offset(), real_before);
  EXPECT_LE(second - clock.offset(), real_after);
}

}  // namespace
}  // namespace treve::core
