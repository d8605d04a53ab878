// The daemon's state directory: the SQLite store and the pseudonym key, opened the same way
// by `treve serve` and by the commands that read or change the store (`treve deliveries`),
// and the pid file `treve reload` signals through.
//
// Everything trêve keeps there is private to the daemon's user: the directory 0700, the files
// 0600, whatever the umask. trêve never changes a mode through a symlink, and never writes
// through one it did not make (docs/operations.md, "Files the daemon writes").
#pragma once

#include <array>
#include <expected>
#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "daemon/store/sqlite_store.h"

namespace treve::store {

// The store's database file in `state_dir`: treve.db.
std::string database_path(const std::string& state_dir);

// Creates state_dir (mode 0700) if needed, reads or creates the pseudonym key, and opens
// (creating and migrating) the store, 0600. A state directory that is a real directory is made
// 0700; one that is a symlink is used, its target's mode left as it is (logged as
// `state.dir_is_symlink`). The store, its WAL files and the key, when other users could read
// them, are made 0600 (logged as `state.mode_tightened`). The configuration's test hook
// `[testing] max_page_count` caps the store. The error names the file and what is wrong.
std::expected<std::unique_ptr<store::SqliteStore>, std::string> open_state(
    const config::Config& config);

// For a store kept elsewhere (PostgreSQL): creates state_dir (0700) as open_state does, for the
// pid file and the key, and reads the pseudonym key, creating it when `may_create` (the shared
// store checks that every daemon has the same key). The error names the file.
std::expected<std::array<unsigned char, 32>, std::string> open_state_key(
    const config::Config& config, bool may_create);

// The pseudonym key's file: `server.pseudonym_key`, or `state_dir`/pseudonym.key.
std::string pseudonym_key_path(const config::Config& config);

// `state_dir`/treve.pid.
std::string pid_file(const std::string& state_dir);

// Writes this process's pid to `path` (mode 0600): under a temporary name created exclusively,
// then renamed over `path`, so that whatever was at `path` (a stale file, a symlink planted
// there) is replaced and never written through. The error says what failed.
std::expected<void, std::string> write_pid_file(const std::string& path);

}  // namespace treve::store
