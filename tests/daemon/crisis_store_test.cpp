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
using testing::TempDir;

NewCrisis storm() {
  NewCrisis c;
  c.uai = "0750654D";
  c.reason = "Tempête : établissement fermé";
  c.categories = (1u << static_cast<unsigned>(policy::Category::message)) |
                 (1u << static_cast<unsigned>(policy::Category::news));
  c.release_held = true;
  c.until = at("2026-11-29T18:00:00+01:00");
  c.by = "Mme Durand";
  c.zone = date::locate_zone("Europe/Paris");
  return c;
}

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
