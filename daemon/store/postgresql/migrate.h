// `treve store migrate --to postgresql`: an existing SQLite store copied whole into an empty
// PostgreSQL store, so that a deployment moves to several daemons without losing its held
// deliveries, its policies, its crises, its recipients' quiet hours or a record of its audit
// trail. The chain continues: the records keep their seq and hashes, and the PostgreSQL
// store's head is the SQLite store's last record.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/store/postgresql/pg_connection.h"
#include "daemon/store/store_types.h"

namespace treve::store {

struct MigrationReport {
  std::vector<std::pair<std::string, std::int64_t>> rows;  // (table, rows copied), in order
  std::int64_t last_seq = 0;                               // the chain's last record
  std::string head;                                        // its hash
};

// Copies the SQLite store at `sqlite_path` (read-only; its schema must be this trêve's: start
// the daemon on it once after an upgrade) into the PostgreSQL store at `target`, whose schema
// must exist and hold no event and no audit record. One transaction: an interruption leaves
// the target empty. The counts copied are checked against the source's before the commit.
Result<MigrationReport> copy_sqlite_to_postgresql(const std::string& sqlite_path,
                                                  const pg::ConnectOptions& target);

}  // namespace treve::store
