#include "daemon/store/postgresql/migrate.h"

#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "daemon/store/postgresql/pg_store.h"
#include "daemon/store/sqlite_store.h"

namespace treve::store {

namespace {

// The tables copied, in an order their references allow.
constexpr const char* kTables[] = {"events", "deliveries",  "audit",   "policy_versions",
                                   "crises", "preferences", "awaiting"};
// Tables whose key is generated: the copied values are kept, and the sequence moved past them.
constexpr std::pair<const char*, const char*> kIdentities[] = {
    {"events", "id"}, {"deliveries", "seq"}, {"crises", "id"}};
constexpr std::size_t kRowsPerStatement = 2000;

StoreError failed(std::string message) {
  return StoreError{StoreError::Kind::internal, std::move(message)};
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Sqlite = std::unique_ptr<sqlite3, SqliteCloser>;

struct StatementCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using SqliteStatement = std::unique_ptr<sqlite3_stmt, StatementCloser>;

Result<SqliteStatement> prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    return std::unexpected(failed("the SQLite store: " + std::string(sqlite3_errmsg(db))));
  return SqliteStatement(s);
}

Result<std::int64_t> sqlite_int(sqlite3* db, const std::string& sql) {
  auto s = prepare(db, sql);
  if (!s)
    return std::unexpected(s.error());
  if (sqlite3_step(s->get()) != SQLITE_ROW)
    return std::int64_t{0};
  return static_cast<std::int64_t>(sqlite3_column_int64(s->get(), 0));
}

// One table: PostgreSQL's columns (their names and types) read from the same columns of the
// SQLite table, a few thousand rows per statement. The deliveries' partition, which the SQLite
// store does not keep, is computed from their event's source and their recipient.
Result<std::int64_t> copy_table(sqlite3* db, pg::Connection& pg, const std::string& table) {
  auto columns = pg.exec(
      "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = "
      "current_schema() AND table_name = $1 ORDER BY ordinal_position",
      {table});
  if (!columns)
    return std::unexpected(columns.error());
  std::vector<std::string> names, types;
  std::string select;
  int partition_at = -1;
  for (int i = 0; i < columns->size(); ++i) {
    names.push_back(columns->text(i, 0));
    types.push_back(columns->text(i, 1));
    if (table == "deliveries" && names.back() == "partition") {
      partition_at = i;
      select += std::string(select.empty() ? "" : ", ") +
                "(SELECT source FROM events WHERE events.id = deliveries.event)";
      continue;
    }
    select += (select.empty() ? "\"" : ", \"") + names.back() + "\"";
  }
  if (names.empty())
    return std::unexpected(failed("the PostgreSQL store has no table " + table));
  // The deliveries' recipient, read for their partition: found once, not for every row.
  const int recipient_at =
      static_cast<int>(std::find(names.begin(), names.end(), "recipient") - names.begin());
  if (partition_at >= 0 && recipient_at >= static_cast<int>(names.size()))
    return std::unexpected(failed(table + " has no recipient column"));
  std::string list;
  for (const auto& n : names)
    list += (list.empty() ? "\"" : ", \"") + n + "\"";
  auto s = prepare(db, "SELECT " + select + " FROM " + table + " ORDER BY 1");
  if (!s)
    return std::unexpected(s.error());
  const std::string head = "INSERT INTO " + table + " (" + list + ") OVERRIDING SYSTEM VALUE";
  std::int64_t copied = 0;
  std::optional<pg::MultiRow> batch;
  std::vector<std::string> values(names.size());
  std::vector<pg::Param> row;
  auto flush = [&]() -> Result<void> {
    if (!batch || batch->rows() == 0)
      return {};
    if (auto x = batch->exec(pg); !x)
      return std::unexpected(StoreError{x.error().kind, table + ": " + x.error().message});
    batch.reset();
    return {};
  };
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    if (!batch)
      batch.emplace(head, types);
    row.clear();
    for (int c = 0; c < static_cast<int>(names.size()); ++c) {
      const bool null = sqlite3_column_type(s->get(), c) == SQLITE_NULL;
      const auto* text = sqlite3_column_text(s->get(), c);
      values[c].assign(text ? reinterpret_cast<const char*>(text) : "",
                       static_cast<std::size_t>(sqlite3_column_bytes(s->get(), c)));
      if (c == partition_at) {
        const auto* recipient = sqlite3_column_text(s->get(), recipient_at);
        values[c] = std::to_string(PgStore::partition_of(
            values[c], recipient ? reinterpret_cast<const char*>(recipient) : ""));
      } else if (null) {
        row.emplace_back(std::nullopt);
        continue;
      }
      if (values[c].find('\0') != std::string::npos)
        return std::unexpected(failed(table + "." + names[c] + ": a value holds a NUL byte"));
      row.emplace_back(std::string_view(values[c]));
    }
    batch->add(row);
    ++copied;
    if (batch->rows() >= kRowsPerStatement) {
      if (auto f = flush(); !f)
        return std::unexpected(f.error());
    }
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(failed(table + ": " + sqlite3_errmsg(db)));
  if (auto f = flush(); !f)
    return std::unexpected(f.error());
  return copied;
}

}  // namespace

Result<MigrationReport> copy_sqlite_to_postgresql(const std::string& sqlite_path,
                                                  const pg::ConnectOptions& target) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(sqlite_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    Sqlite closing(raw);
    return std::unexpected(failed("cannot open " + sqlite_path + ": " +
                                  (raw ? sqlite3_errmsg(raw) : "out of memory")));
  }
  Sqlite db(raw);
  sqlite3_busy_timeout(db.get(), 5000);
  // One snapshot of the source for the whole copy.
  if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
    return std::unexpected(failed(sqlite_path + ": " + sqlite3_errmsg(db.get())));
  auto version = sqlite_int(db.get(), "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!version)
    return std::unexpected(
        failed(sqlite_path + " is not a trêve store: " + version.error().message));
  const auto current = static_cast<std::int64_t>(SqliteStore::kSchemaVersion);
  if (*version != current) {
    return std::unexpected(
        failed(sqlite_path + ": its schema is version " + std::to_string(*version) +
               ", this trêve's is " + std::to_string(current) +
               (*version < current
                    ? ": start this trêve once on it (it migrates it), stop it, then move it"
                    : ": use the trêve that wrote it")));
  }
  auto opened = pg::Connection::open(target);
  if (!opened)
    return std::unexpected(opened.error());
  pg::Connection& pg = **opened;
  auto run = [&]() -> Result<MigrationReport> {
    if (auto b = pg.exec("BEGIN"); !b)
      return std::unexpected(b.error());
    auto head = pg.exec("SELECT seq, events FROM audit_head FOR UPDATE");
    if (!head)
      return std::unexpected(head.error());
    auto events = pg.exec("SELECT count(*) FROM events");
    if (!events)
      return std::unexpected(events.error());
    if (head->empty() || head->integer(0, 0) != 0 || events->integer(0, 0) != 0) {
      return std::unexpected(failed(
          "the PostgreSQL store is not empty (it has audit records or events): a store is moved "
          "into a new database only"));
    }
    MigrationReport report;
    for (const char* table : kTables) {
      auto copied = copy_table(db.get(), pg, table);
      if (!copied)
        return std::unexpected(copied.error());
      auto source = sqlite_int(db.get(), std::string("SELECT count(*) FROM ") + table);
      if (!source)
        return std::unexpected(source.error());
      auto landed = pg.exec(std::string("SELECT count(*) FROM ") + table);
      if (!landed)
        return std::unexpected(landed.error());
      if (*source != *copied || landed->integer(0, 0) != *copied) {
        return std::unexpected(failed(std::string(table) + ": " + std::to_string(*source) +
                                      " rows in the SQLite store, " +
                                      std::to_string(landed->integer(0, 0)) + " copied"));
      }
      report.rows.emplace_back(table, *copied);
    }
    for (auto [table, column] : kIdentities) {
      const std::string t = table, c = column;
      if (auto r = pg.exec("SELECT setval(pg_get_serial_sequence('" + t + "', '" + c +
                           "'), coalesce((SELECT max(" + c + ") FROM " + t + "), 0) + 1, false)");
          !r)
        return std::unexpected(r.error());
    }
    auto last = pg.exec("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!last)
      return std::unexpected(last.error());
    report.last_seq = last->empty() ? 0 : last->integer(0, 0);
    report.head = last->empty() ? std::string(kGenesisHash) : last->text(0, 1);
    auto ready = sqlite_int(db.get(), "SELECT value FROM meta WHERE key = 'ready_seq'");
    auto counted = sqlite_int(db.get(), "SELECT value FROM meta WHERE key = 'events'");
    if (!ready || !counted)
      return std::unexpected(!ready ? ready.error() : counted.error());
    if (auto u = pg.exec("UPDATE audit_head SET seq = $1, hash = $2, ready_seq = $3, events = $4",
                         {report.last_seq, report.head, *ready, *counted});
        !u)
      return std::unexpected(u.error());
    if (auto c = pg.exec("COMMIT"); !c)
      return std::unexpected(c.error());
    return report;
  };
  auto report = run();
  if (!report && pg.ok() && pg.in_transaction())
    (void)pg.exec("ROLLBACK");
  return report;
}

}  // namespace treve::store
