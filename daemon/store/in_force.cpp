#include "daemon/store/in_force.h"

#include <sqlite3.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_util.h"

namespace treve::store {

std::vector<config::ApiPolicy> api_policies(const std::vector<PolicyVersion>& versions) {
  std::vector<config::ApiPolicy> out;
  for (const auto& v : versions)
    out.push_back({v.uai, v.document, v.version});
  return out;
}

config::LoadResult load_in_force(const std::string& path,
                                 const std::vector<PolicyVersion>& versions,
                                 const std::vector<policy::Crisis>& crises) {
  std::vector<config::ApiPolicy> policies = api_policies(versions);
  for (;;) {
    auto loaded = config::load_config_with(path, policies, {}, crises);
    if (loaded || policies.empty())
      return loaded;
    std::vector<config::ApiPolicy> kept;
    for (auto& p : policies) {
      bool bad = false;
      for (const auto& e : loaded.error()) {
        if (!config::policy_pointer(e.key, p.uai).empty()) {
          bad = true;
          spdlog::error("event=policy.left_out establishment={} error={}", core::quoted(p.uai),
                        core::quoted(e.to_string()));
        }
      }
      if (!bad)
        kept.push_back(std::move(p));
    }
    if (kept.size() == policies.size())
      return loaded;  // the errors are the file's
    policies = std::move(kept);
  }
}

namespace {

// `select` run on a read-only connection to `db_path` when `table` exists; otherwise (no
// database, or one made before that table) an empty list.
template <typename T, typename Select>
Result<std::vector<T>> read_table(const std::string& db_path, const char* table, Select select) {
  if (::access(db_path.c_str(), F_OK) != 0)
    return std::vector<T>{};
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    StoreError e{StoreError::Kind::unavailable,
                 db_path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
    sqlite3_close(db);
    return std::unexpected(e);
  }
  sqlite3_busy_timeout(db, 2000);
  bool has_table = false;
  sqlite3_stmt* probe = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1, &probe, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(probe, 1, table, -1, SQLITE_STATIC);
    rc = sqlite3_step(probe);
  }
  has_table = rc == SQLITE_ROW;
  sqlite3_finalize(probe);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    StoreError e = error_of(db, rc, db_path);
    sqlite3_close(db);
    return std::unexpected(e);
  }
  Result<std::vector<T>> out = std::vector<T>{};
  if (has_table) {
    try {
      out = select(db);
    } catch (const std::runtime_error& e) {  // the statement could not be prepared
      out = std::unexpected(StoreError{StoreError::Kind::unavailable, e.what()});
    }
  }
  sqlite3_close(db);
  if (!out)
    return std::unexpected(StoreError{out.error().kind, db_path + ": " + out.error().message});
  return out;
}

}  // namespace

Result<std::vector<PolicyVersion>> read_policies_in_force(const std::string& db_path) {
  // A store made before the admin API (schema < 4) has no policy versions yet.
  return read_table<PolicyVersion>(db_path, "policy_versions", select_current_policies);
}

Result<std::vector<policy::Crisis>> read_crises_in_force(const std::string& db_path) {
  auto records = read_table<CrisisRecord>(db_path, "crises", select_open_crises);
  if (!records)
    return std::unexpected(records.error());
  return crises_in_force(*records);
}

Result<std::vector<StoredPreference>> read_preferences(const std::string& db_path) {
  return read_table<StoredPreference>(db_path, "preferences", select_preferences);
}

}  // namespace treve::store
