// The SQLite store's own side of dispatching: a database of schema version 1 migrated with its
// due deliveries readable, and the background checkpointer. What both backends share is tested
// against both in store_contract_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"

namespace treve::store {
namespace {

using core::sha256_hex;

namespace fs = std::filesystem;

using testing::at;
using testing::event_for;

NewEvent event(const std::string& id, std::vector<std::string> recipients, DeliveryState state,
               policy::Instant release = at("2026-11-30T07:00:00+01:00")) {
  return event_for(id, std::move(recipients), state, release);
}
using Dir = testing::TempDir;
std::unique_ptr<SqliteStore> open(const Dir& dir) {
  return test::open_store(test::store_options(dir.db(), 3));
}

void accept(SqliteStore& s, NewEvent e) {
  std::vector<NewEvent> v;
  v.push_back(std::move(e));
  auto r = s.accept(v, v.front().received_at);
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

TEST(DispatchStore, ASchemaOneDatabaseIsMigratedWithItsDueDeliveriesReadable) {
  Dir dir;
  {
    auto s = open(dir);
    accept(*s, event("old", {"a"}, DeliveryState::due));
  }
  // Back to what version 1 wrote: no ready order, schema_version 1.
  sqlite3* db = nullptr;
  sqlite3_open(dir.db().c_str(), &db);
  const char* downgrade =
      "DROP TABLE policy_versions;"
      "DROP TABLE awaiting;"
      "DROP TABLE crises;"
      "DROP TABLE preferences;"
      "DROP INDEX deliveries_ready;"
      "DROP INDEX events_with_body;"
      "ALTER TABLE deliveries DROP COLUMN ready_seq;"
      "ALTER TABLE deliveries DROP COLUMN released_at;"
      "ALTER TABLE deliveries DROP COLUMN first_attempt_at;"
      "ALTER TABLE deliveries DROP COLUMN sink;"
      "ALTER TABLE deliveries DROP COLUMN last_error;"
      "ALTER TABLE deliveries DROP COLUMN digest;"
      "DELETE FROM meta WHERE key = 'ready_seq';"
      "UPDATE meta SET value = '1' WHERE key = 'schema_version';";
  ASSERT_EQ(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto s = open(dir);
  auto due = s->ready(0, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].ref.event_id, "old");
  accept(*s, event("new", {"b"}, DeliveryState::due));
  auto more = s->ready((*due)[0].ready_seq, 10);
  ASSERT_TRUE(more);
  ASSERT_EQ(more->size(), 1u);
  EXPECT_EQ((*more)[0].ref.event_id, "new");
}

}  // namespace
}  // namespace treve::store

namespace treve::store {
namespace {

TEST(SqliteCheckpoints, TheWriteAheadLogIsCopiedIntoTheDatabaseWhileTheStoreIsOpen) {
  Dir dir;
  auto s = open(dir);
  const auto before = fs::file_size(dir.db());
  for (int i = 0; i < 20; ++i) {
    std::vector<std::string> recipients;
    for (int r = 0; r < 200; ++r)
      recipients.push_back("r" + std::to_string(r));
    accept(*s, event("e" + std::to_string(i), recipients, DeliveryState::held));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s->checkpointed_frames() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(s->checkpointed_frames(), 0u);
  // Only a checkpoint writes pages into the database file itself.
  EXPECT_GT(fs::file_size(dir.db()), before);
}

}  // namespace
}  // namespace treve::store
