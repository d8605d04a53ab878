// How `serve` shares the file descriptors its limit allows between the listeners.
#include "daemon/app/descriptors.h"

#include <sys/resource.h>

#include <gtest/gtest.h>

namespace treve::app {
namespace {

TEST(ConnectionCaps, EachListenerGetsWhatItWantsWhenTheLimitIsHigh) {
  const ConnectionCaps caps = connection_caps(65'536, 64, 1024, 64);
  EXPECT_EQ(caps.ingest, 1024u);
  EXPECT_EQ(caps.admin, 64u);
}

TEST(ConnectionCaps, UnderSystemdsDefaultSoftLimitTheCapsStayBelowIt) {
  // 1024 descriptors, 64 reserved and 256 for the sinks' connections.
  const ConnectionCaps caps = connection_caps(1024, 64 + 256, 1024, 64);
  EXPECT_EQ(caps.admin, 64u);
  EXPECT_EQ(caps.ingest, 1024u - 64 - 256 - 64);
}

TEST(ConnectionCaps, TheAdminListenerKeepsAnEighthOfWhatIsLeft) {
  const ConnectionCaps caps = connection_caps(256, 64, 1024, 64);
  EXPECT_EQ(caps.admin, (256u - 64) / 8);
  EXPECT_EQ(caps.ingest, 256u - 64 - caps.admin);
}

TEST(ConnectionCaps, AFewConnectionsEachWhenNothingIsLeft) {
  const ConnectionCaps caps = connection_caps(32, 64, 1024, 64);
  EXPECT_EQ(caps.admin, 4u);
  EXPECT_EQ(caps.ingest, 8u);
}

TEST(DescriptorLimit, TheSoftLimitIsRaisedToTheHardOne) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max < 128)
    GTEST_SKIP() << "hard limit too low to lower the soft one";
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const DescriptorLimit raised = raise_descriptor_limit();
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_EQ(raised.found, 64u);
  EXPECT_EQ(raised.soft, saved.rlim_max);
  EXPECT_EQ(raised.hard, saved.rlim_max);
  EXPECT_EQ(raised.error, "");
  EXPECT_EQ(now.rlim_cur, saved.rlim_max);
}

}  // namespace
}  // namespace treve::app
