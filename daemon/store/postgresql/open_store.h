// The store the configuration names (`[store] backend`): the SQLite file in the state
// directory (open_state), or the PostgreSQL database that several daemons share. For `serve`
// and the commands that read or change the store.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "daemon/store/postgresql/pg_connection.h"
#include "daemon/store/postgresql/pg_store.h"
#include "daemon/store/store.h"

namespace treve::store {

struct OpenedStore {
  std::unique_ptr<Store> store;
  PgStore* shared = nullptr;  // the same store, when it is PostgreSQL
};

// How a connection to the configured PostgreSQL store is opened.
pg::ConnectOptions connect_options(const config::StoreConfig& s);

// Who opens the store.
enum class StoreUse : std::uint8_t {
  serve,    // a daemon: creates the key if there is none, creates or migrates the schema
  command,  // `deliveries`, `explain`, …: neither (the key must exist, the schema be current)
  move,     // `store migrate`: the key must exist (the SQLite store's); creates the schema
};

// Opens the configured store. With PostgreSQL, the state directory still holds the pseudonym
// key and the pid file. The error says which store and what is wrong.
std::expected<OpenedStore, std::string> open_store(const config::Config& config,
                                                   StoreUse use = StoreUse::serve);

}  // namespace treve::store
