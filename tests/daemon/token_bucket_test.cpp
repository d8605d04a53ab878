// The token bucket shared by the sinks' and the connectors' rates.
#include "daemon/core/token_bucket.h"

#include <gtest/gtest.h>

namespace treve::core {
namespace {

using namespace std::chrono_literals;

const TokenBucket::Time kStart{1h};

TEST(TokenBucket, HoldsOneSecondsWorthAndRefillsAtItsRate) {
  TokenBucket b(4, kStart);
  EXPECT_DOUBLE_EQ(b.refill(kStart), 4.0);
  b.take(4);
  EXPECT_DOUBLE_EQ(b.wait_for_one(), 0.25);
  EXPECT_DOUBLE_EQ(b.refill(kStart + 500ms), 2.0);
  EXPECT_DOUBLE_EQ(b.wait_for_one(), 0.0);
  EXPECT_DOUBLE_EQ(b.refill(kStart + 10s), 4.0);  // never more than a second's worth
  // Time that does not move on adds nothing.
  b.take(3);
  EXPECT_DOUBLE_EQ(b.refill(kStart + 5s), 1.0);
}

TEST(TokenBucket, BelowOneASecondItStillHoldsOneAndANewRateKeepsWhatItHolds) {
  TokenBucket slow(0.5, kStart);
  EXPECT_DOUBLE_EQ(slow.refill(kStart), 1.0);
  slow.take(1);
  EXPECT_DOUBLE_EQ(slow.wait_for_one(), 2.0);
  TokenBucket b(10, kStart);
  b.take(2);
  b.set_rate(5);
  EXPECT_DOUBLE_EQ(b.refill(kStart), 5.0);
  b.set_rate(50);
  EXPECT_DOUBLE_EQ(b.refill(kStart), 5.0);
}

}  // namespace
}  // namespace treve::core
