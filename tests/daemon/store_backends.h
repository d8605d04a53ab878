// The store's backends side by side for its contract tests: a fresh SQLite file or a fresh
// PostgreSQL database (on the test's throw-away cluster, tests/support/pg_cluster.h), each
// with the same pseudonym key, read back with a connection of the test's own, as an auditor
// would. A test written against Backend runs against both, so that a behaviour difference
// between them is a failing test.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/audit/trail.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/postgresql/pg_store.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/store.h"

namespace treve::store::testing {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual IngestStore& store() = 0;
  virtual std::string audit_head() const = 0;
  // Closes the store and opens it again on the same database.
  virtual void reopen() = 0;
  // One integer answered by `sql` (-1 when it answers no row).
  virtual long long query_int(const std::string& sql) = 0;
  // One text answered by `sql` ("" when it answers no row or null).
  virtual std::string query_text(const std::string& sql) = 0;
  // Every audit record, in seq order.
  virtual std::vector<AuditRecord> audit() = 0;
  // The auditor's reading of the trail (daemon/audit/trail.h).
  virtual audit::Expected<std::unique_ptr<audit::Trail>> open_trail() = 0;

  // Whether the trail is one chain from genesis, numbered from 1 without gaps; after a purge
  // (`from_genesis` false), one chain from its first record left, numbered without gaps.
  bool chain_verifies(bool from_genesis = true) {
    const std::vector<AuditRecord> records = audit();
    std::string prev(kGenesisHash);
    std::int64_t expected = 1;
    if (!from_genesis && !records.empty()) {
      prev = records.front().prev_hash;
      expected = records.front().seq;
    }
    for (const AuditRecord& r : records) {
      if (r.seq != expected++ || r.prev_hash != prev || compute_hash(r) != r.hash)
        return false;
      prev = r.hash;
    }
    return true;
  }
};

inline constexpr unsigned char kKeyByte = 7;

class SqliteBackend final : public Backend {
 public:
  SqliteBackend() { reopen(); }
  IngestStore& store() override { return *store_; }
  SqliteStore& typed() { return *store_; }
  // A second store on the same file (another process's, as `treve deliveries replay`).
  std::unique_ptr<SqliteStore> open_another() {
    return test::open_store(test::store_options(dir_.db(), kKeyByte));
  }
  std::string audit_head() const override { return store_->audit_head(); }
  void reopen() override {
    store_.reset();
    store_ = test::open_store(test::store_options(dir_.db(), kKeyByte));
    if (!store_)
      throw std::runtime_error("cannot open the SQLite store");
  }
  long long query_int(const std::string& sql) override { return sqlite_query_int(dir_.db(), sql); }
  audit::Expected<std::unique_ptr<audit::Trail>> open_trail() override {
    return audit::Trail::open(dir_.db());
  }
  std::string query_text(const std::string& sql) override {
    sqlite3* db = nullptr;
    sqlite3_open_v2(dir_.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
  std::vector<AuditRecord> audit() override {
    std::vector<AuditRecord> out;
    sqlite3* db = nullptr;
    sqlite3_open_v2(dir_.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT seq, at, at_local, kind, source, event_id, establishment, "
                       "category, recipient, role, detail, prev_hash, hash FROM audit "
                       "ORDER BY seq",
                       -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto text = [&](int c) {
        return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)));
      };
      out.push_back(AuditRecord{sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), text(2),
                                text(3), text(4), text(5), text(6), text(7), text(8), text(9),
                                text(10), text(11), text(12)});
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

 private:
  test::TempDir dir_{"treve-store"};
  std::unique_ptr<SqliteStore> store_;
};

// The options of a PostgreSQL store on database `url` with the tests' key.
inline PgOptions pg_options(const std::string& url) {
  PgOptions o;
  o.connection.url = url;
  o.pseudonym_key.fill(kKeyByte);
  return o;
}

class PostgresBackend final : public Backend {
 public:
  PostgresBackend() : PostgresBackend(test::PgCluster::shared().fresh_database()) {}
  explicit PostgresBackend(std::string url) : url_(std::move(url)) { reopen(); }
  IngestStore& store() override { return *store_; }
  PgStore& typed() { return *store_; }
  // A second store on the same database (another daemon's).
  std::unique_ptr<PgStore> open_another() {
    auto s = PgStore::open(pg_options(url_));
    if (!s)
      throw std::runtime_error("cannot open the PostgreSQL store: " + s.error().message);
    return std::move(*s);
  }
  const std::string& url() const { return url_; }
  std::string audit_head() const override { return store_->audit_head(); }
  void reopen() override {
    store_.reset();
    auto s = PgStore::open(pg_options(url_));
    if (!s)
      throw std::runtime_error("cannot open the PostgreSQL store: " + s.error().message);
    store_ = std::move(*s);
  }
  long long query_int(const std::string& sql) override {
    auto r = connection().exec(sql);
    if (!r)
      throw std::runtime_error(r.error().message);
    return r->empty() ? -1 : r->integer(0, 0);
  }
  audit::Expected<std::unique_ptr<audit::Trail>> open_trail() override {
    return audit::Trail::open_postgresql(url_);
  }
  std::string query_text(const std::string& sql) override {
    auto r = connection().exec(sql);
    if (!r)
      throw std::runtime_error(r.error().message);
    return r->empty() ? "" : r->text(0, 0);
  }
  std::vector<AuditRecord> audit() override {
    auto r = connection().exec(
        "SELECT seq, at, at_local, kind, source, event_id, establishment, category, recipient, "
        "role, detail, prev_hash, hash FROM audit ORDER BY seq");
    if (!r)
      throw std::runtime_error(r.error().message);
    std::vector<AuditRecord> out;
    for (int i = 0; i < r->size(); ++i) {
      out.push_back(AuditRecord{r->integer(i, 0), r->integer(i, 1), r->text(i, 2), r->text(i, 3),
                                r->text(i, 4), r->text(i, 5), r->text(i, 6), r->text(i, 7),
                                r->text(i, 8), r->text(i, 9), r->text(i, 10), r->text(i, 11),
                                r->text(i, 12)});
    }
    return out;
  }
  pg::Connection& connection() {
    if (!own_ || !own_->ok()) {
      pg::ConnectOptions o;
      o.url = url_;
      auto c = pg::Connection::open(o);
      if (!c)
        throw std::runtime_error(c.error().message);
      own_ = std::move(*c);
    }
    return *own_;
  }

 private:
  std::string url_;
  std::unique_ptr<PgStore> store_;
  std::unique_ptr<pg::Connection> own_;
};

// The backend a parameterised test names.
inline std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "postgresql")
    return std::make_unique<PostgresBackend>();
  return std::make_unique<SqliteBackend>();
}

}  // namespace treve::store::testing
