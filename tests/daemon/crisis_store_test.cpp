// The store's crisis role on a real SQLite file: opening, extending, closing (by an admin and by
// expiry) write the crisis and its audit record together, in the establishment's local time;
// one open crisis per establishment; the trail still verifies; explain's read-only reader sees
// the open crises.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/store/in_force.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"

namespace treve::store {
namespace {

using testing::at;
using ::testing::HasSubstr;
using testing::TempDir;

std::string query_text(const TempDir& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

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

TEST(CrisisStore, EachChangeIsWrittenWithItsAuditRecordAndTheTrailVerifies) {
  TempDir dir;
  auto store = test::open_store(test::store_options(dir.db(), 3));
  const auto* paris = date::locate_zone("Europe/Paris");
  auto opened = store->open_crisis(storm(), at("2026-11-29T01:37:00+01:00"));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_FALSE(opened->conflict);
  const std::int64_t id = opened->id;
  EXPECT_EQ(query_text(dir, "SELECT detail FROM audit WHERE kind = 'crisis_opened'"),
            "{\"crisis\":" + std::to_string(id) +
                ",\"reason\":\"Tempête : établissement fermé\",\"categories\":[\"message\","
                "\"news\"],\"until\":\"2026-11-29T18:00:00+01:00\",\"release_held\":true,"
                "\"by\":\"Mme Durand\"}");
  EXPECT_EQ(query_text(dir,
                       "SELECT at_local || ' ' || establishment FROM audit WHERE kind = "
                       "'crisis_opened'"),
            "2026-11-29T01:37:00+01:00 0750654D");

  // A second one for the same school: refused, nothing written.
  auto again = store->open_crisis(storm(), at("2026-11-29T02:00:00+01:00"));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->conflict);
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(query_text(dir, "SELECT count(*) FROM crises"), "1");

  auto extended = store->extend_crisis("0750654D", id, at("2026-11-30T18:00:00+01:00"), "Rectorat",
                                       paris, at("2026-11-29T10:00:00+01:00"));
  ASSERT_TRUE(extended);
  EXPECT_EQ(*extended, CrisisChange::done);
  EXPECT_EQ(query_text(dir, "SELECT detail FROM audit WHERE kind = 'crisis_extended'"),
            "{\"crisis\":" + std::to_string(id) +
                ",\"until\":\"2026-11-30T18:00:00+01:00\",\"previous_until\":"
                "\"2026-11-29T18:00:00+01:00\",\"by\":\"Rectorat\"}");
  auto open = store->open_crises();
  ASSERT_TRUE(open);
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].crisis.until, at("2026-11-30T18:00:00+01:00"));
  EXPECT_EQ(crises_in_force(*open).size(), 1u);

  // Another school's crisis is not this one.
  EXPECT_EQ(*store->close_crisis("0250001R", id, "x", paris, at("2026-11-29T11:00:00+01:00")),
            CrisisChange::unknown);
  auto closed =
      store->close_crisis("0750654D", id, "Mme Durand", paris, at("2026-11-29T12:00:00+01:00"));
  ASSERT_TRUE(closed);
  EXPECT_EQ(*closed, CrisisChange::done);
  EXPECT_EQ(
      *store->close_crisis("0750654D", id, "Mme Durand", paris, at("2026-11-29T12:01:00+01:00")),
      CrisisChange::closed);
  EXPECT_EQ(*store->extend_crisis("0750654D", id, at("2026-12-01T18:00:00+01:00"), "Mme Durand",
                                  paris, at("2026-11-29T12:02:00+01:00")),
            CrisisChange::closed);
  EXPECT_EQ(query_text(dir, "SELECT detail FROM audit WHERE kind = 'crisis_closed'"),
            "{\"crisis\":" + std::to_string(id) + ",\"by\":\"Mme Durand\"}");
  EXPECT_TRUE(store->open_crises()->empty());

  // Expiry: closed at its end by "expiry", the record at the instant it is noticed.
  auto second = store->open_crisis(storm(), at("2026-11-29T13:00:00+01:00"));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->conflict);
  auto none = store->expire_crises([paris](std::string_view) { return paris; },
                                   at("2026-11-29T17:59:59+01:00"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto expired = store->expire_crises([paris](std::string_view) { return paris; },
                                      at("2026-11-30T08:00:00+01:00"));
  ASSERT_TRUE(expired);
  EXPECT_EQ(*expired, std::vector<std::int64_t>{second->id});
  EXPECT_EQ(query_text(dir, "SELECT closed_by || ' ' || closed_at FROM crises WHERE id = " +
                                std::to_string(second->id)),
            "expiry " + std::to_string(at("2026-11-29T18:00:00+01:00").time_since_epoch().count()));
  EXPECT_EQ(query_text(dir,
                       "SELECT at_local FROM audit WHERE kind = 'crisis_closed' AND detail "
                       "LIKE '%expiry%'"),
            "2026-11-30T08:00:00+01:00");
  auto mine = store->crises_of("0750654D", 10);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].crisis.id, second->id);  // newest first
  EXPECT_EQ((*mine)[0].closed_by, "expiry");

  store.reset();
  auto trail = audit::Trail::open(dir.db());
  ASSERT_TRUE(trail) << trail.error();
  auto report = audit::verify(**trail, {});
  ASSERT_TRUE(report) << report.error();
  EXPECT_FALSE(report->problem.has_value());
  EXPECT_EQ(report->records, 5);
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
