// explain's read-only reader of a SQLite store sees the open crises. The crisis role itself is
// tested against both backends in store_contract_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/store/in_force.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"

namespace treve::store {
namespace {

using testing::at;
using testing::storm;
using testing::TempDir;

TEST(CrisisStore, TheReadOnlyReaderSeesTheOpenCrises) {
  TempDir dir;
  EXPECT_TRUE(read_crises_in_force(dir.db())->empty());  // no database yet
  auto store = test::open_store(test::store_options(dir.db(), 3));
  ASSERT_TRUE(store->open_crisis(storm(), at("2026-11-29T01:37:00+01:00")));
  auto crises = read_crises_in_force(dir.db());
  ASSERT_TRUE(crises) << crises.error().message;
  ASSERT_EQ(crises->size(), 1u);
  EXPECT_EQ((*crises)[0].reason, "Tempête : établissement fermé");
  EXPECT_TRUE((*crises)[0].covers(policy::Category::news));
  EXPECT_FALSE((*crises)[0].covers(policy::Category::grade));
  EXPECT_TRUE((*crises)[0].release_held);
}

}  // namespace
}  // namespace treve::store
