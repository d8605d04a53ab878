// The daemon's state directory: the SQLite store and the pseudonym key, opened the same way
// by `treve serve` and by the commands that read or change the store (`treve deliveries`).
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "daemon/store/sqlite_store.h"

namespace treve::store {

// Creates state_dir (mode 0700) if needed, reads or creates the pseudonym key, and opens
// (creating and migrating) the store. The configuration's test hook `[testing]
// max_page_count` caps the store. The error names the file and what is wrong.
std::expected<std::unique_ptr<store::SqliteStore>, std::string> open_state(
    const config::Config& config);

}  // namespace treve::store
