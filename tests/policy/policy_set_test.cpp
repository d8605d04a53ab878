// The policy set's lookup: a UAI's policy, and a Uai that parse_uai never made refused rather
// than read past the table of regions.
#include "policy/policy_set.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/policy/policy_fixtures.h"

namespace treve::policy {
namespace {

using fixtures::Policies;
using fixtures::uai;

TEST(PolicySet, FindsTheDefaultsOfAnUnconfiguredUaiInItsRegionsZone) {
  Policies policies;
  EXPECT_EQ(policies["9710001Z"].zone()->name(), "America/Guadeloupe");
  EXPECT_EQ(policies["0750654D"].zone()->name(), "Europe/Paris");
}

TEST(PolicySet, RefusesAUaiWhoseRegionIsNoRegionInsteadOfReadingPastItsTable) {
  Policies policies;
  // What `*parse_uai(text)` makes of a failed parse: a region read from whatever bytes follow.
  Uai forged = uai("0750654D");
  forged.code = "0750654d";
  forged.region = static_cast<Region>(32);
  EXPECT_THROW(policies.set().find(forged), std::invalid_argument);
  forged.region = static_cast<Region>(kRegionCount);
  EXPECT_THROW(policies.set().find(forged), std::invalid_argument);
  // The set is still usable.
  EXPECT_EQ(policies["0750654D"].zone()->name(), "Europe/Paris");
}

}  // namespace
}  // namespace treve::policy
