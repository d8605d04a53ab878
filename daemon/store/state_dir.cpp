#include "daemon/store/state_dir.h"

#include <sys/stat.h>

#include <filesystem>

namespace treve::store {

std::expected<std::unique_ptr<store::SqliteStore>, std::string> open_state(
    const config::Config& config) {
  const std::string& state_dir = config.server.state_dir;
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec)
    return std::unexpected("cannot create the state directory " + state_dir + ": " + ec.message());
  ::chmod(state_dir.c_str(), 0700);
  const std::string db_path = state_dir + "/treve.db";
  const std::string key_path = config.server.pseudonym_key.empty() ? state_dir + "/pseudonym.key"
                                                                   : config.server.pseudonym_key;
  auto key = store::load_or_create_key(key_path, !store::has_audit_records(db_path));
  if (!key)
    return std::unexpected(key.error().message);
  store::SqliteOptions options;
  options.path = db_path;
  options.pseudonym_key = *key;
  options.max_page_count = config.testing.max_page_count;
  auto opened = store::SqliteStore::open(options);
  if (!opened)
    return std::unexpected(db_path + ": " + opened.error().message);
  return std::move(*opened);
}

}  // namespace treve::store
