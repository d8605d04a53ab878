#include "daemon/store/postgresql/open_store.h"

#include "daemon/store/state_dir.h"

namespace treve::store {

pg::ConnectOptions connect_options(const config::StoreConfig& s) {
  pg::ConnectOptions o;
  o.url = s.url;
  o.password = s.password;
  o.statement_timeout = s.statement_timeout;
  return o;
}

std::expected<OpenedStore, std::string> open_store(const config::Config& config, StoreUse use) {
  if (config.store.backend == config::StoreConfig::Backend::sqlite) {
    auto opened = open_state(config);
    if (!opened)
      return std::unexpected(opened.error());
    return OpenedStore{std::move(*opened), nullptr};
  }
  // The key may be created only for a store without records: PgStore::open then refuses a
  // daemon whose key is not the first daemon's.
  auto key = open_state_key(config, use == StoreUse::serve);
  if (!key)
    return std::unexpected(key.error());
  PgOptions options;
  options.connection = connect_options(config.store);
  options.pseudonym_key = *key;
  options.readers = use == StoreUse::serve ? config.store.pool_size - 1 : 1;
  options.migrate = use != StoreUse::command;
  auto opened = PgStore::open(options);
  if (!opened)
    return std::unexpected("the PostgreSQL store: " + opened.error().message);
  PgStore* shared = opened->get();
  return OpenedStore{std::move(*opened), shared};
}

}  // namespace treve::store
