// Small helpers over SQLite's C API shared by the store and the audit tools: prepared
// statements that reset themselves, errors as StoreError values.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "daemon/store/store.h"

namespace treve::store {

// Disk full, I/O errors, locks: worth retrying later; anything else is a bug or corruption.
inline bool is_unavailable(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

// The disk is full or failing: every write will fail until an operator acts.
inline bool is_storage_failure(int rc) {
  const int primary = rc & 0xFF;
  return primary == SQLITE_FULL || primary == SQLITE_IOERR;
}

inline StoreError error_of(sqlite3* db, int rc, std::string_view what) {
  StoreError e;
  e.kind = is_unavailable(rc) ? StoreError::Kind::unavailable : StoreError::Kind::internal;
  e.storage_failed = is_storage_failure(rc);
  e.message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  return e;
}

// A prepared statement, reset after each use.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
      throw std::runtime_error(std::string("cannot prepare statement: ") + sqlite3_errmsg(db) +
                               " in: " + sql);
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // The text is not copied: it must stay alive until step().
  Statement& bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    return *this;
  }
  // A temporary string would be gone before step(): refused at compile time.
  Statement& bind(int i, std::string&& s) = delete;
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  // Every parameter is bound again before each use, so bindings need no clearing.
  void reset() { sqlite3_reset(stmt_); }
  std::string text(int col) const {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  // Valid until the next step() or reset().
  std::string_view view(int col) const {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when leaving scope.
struct Resetter {
  Statement& s;
  ~Resetter() { s.reset(); }
};

inline Result<void> exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    StoreError e = error_of(db, rc, sql);
    sqlite3_free(msg);
    return std::unexpected(e);
  }
  return {};
}

}  // namespace treve::store
