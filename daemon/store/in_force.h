// The configuration in force: the file, plus the policies saved through the admin API for the
// establishments the file does not configure, plus the open crises. One construction for every
// place that decides: `serve` at start and on reload (runtime/reload.h), and `explain` and
// `simulate`, which read the store's policies read-only, so that they answer exactly as the daemon
// does.
#pragma once

#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/store/store.h"

namespace treve::store {

// The versions in force as the configuration takes them.
std::vector<config::ApiPolicy> api_policies(const std::vector<PolicyVersion>& versions);

// Loads `path` with `versions` (the versions in force). A policy whose establishment no
// longer validates (the file changed under it) is left out, with an `event=policy.left_out`
// log line, rather than stopping the daemon; the file's own errors are returned.
// `crises`: the open crises (crises_in_force), part of the configuration in force.
config::LoadResult load_in_force(const std::string& path,
                                 const std::vector<PolicyVersion>& versions,
                                 const std::vector<policy::Crisis>& crises = {});

// The versions in force read from the database `db_path` without writing or locking anything
// a running daemon needs (a read-only WAL reader). No database yet: none.
Result<std::vector<PolicyVersion>> read_policies_in_force(const std::string& db_path);

// The open crises read likewise (crises_in_force of the open ones). No database or no crises
// table yet: none.
Result<std::vector<policy::Crisis>> read_crises_in_force(const std::string& db_path);

// The recipients' own quiet hours read likewise (for `explain`). No database or no preferences
// table yet: none.
Result<std::vector<StoredPreference>> read_preferences(const std::string& db_path);

}  // namespace treve::store
