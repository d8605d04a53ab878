// SqliteStore: opening the database (pragmas, schema migrations, the prepared statements),
// the background checkpointer, closing; the pseudonym key file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

namespace {

// Schema migrations, applied in order; entry i brings the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  establishment TEXT NOT NULL,
  category TEXT NOT NULL,
  urgent INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  timezone TEXT NOT NULL,
  body TEXT,
  body_sha256 TEXT NOT NULL,
  response TEXT NOT NULL,
  UNIQUE (source, event_id)
);
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY,
  event INTEGER NOT NULL REFERENCES events(id),
  recipient TEXT NOT NULL,
  role TEXT NOT NULL,
  state TEXT NOT NULL,
  release_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE INDEX deliveries_by_state_release ON deliveries (state, release_at, seq);
CREATE INDEX deliveries_by_event ON deliveries (event);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  at_local TEXT NOT NULL,
  kind TEXT NOT NULL,
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  establishment TEXT NOT NULL,
  category TEXT NOT NULL,
  recipient TEXT NOT NULL,
  role TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
)sql",
    // 2: dispatching. ready_seq orders deliveries by the moment they became due (the
    // dispatcher reads due ones past a cursor); it is cleared when they leave `due`, and its
    // counter lives in meta so that it never goes back. The last attempt's sink and error
    // are kept for dead letters.
    R"sql(
ALTER TABLE deliveries ADD COLUMN ready_seq INTEGER;
ALTER TABLE deliveries ADD COLUMN released_at INTEGER;
ALTER TABLE deliveries ADD COLUMN first_attempt_at INTEGER;
ALTER TABLE deliveries ADD COLUMN sink TEXT;
ALTER TABLE deliveries ADD COLUMN last_error TEXT;
UPDATE deliveries SET ready_seq = seq, released_at = updated_at WHERE state = 'due';
CREATE INDEX deliveries_ready ON deliveries (ready_seq) WHERE ready_seq IS NOT NULL;
INSERT INTO meta (key, value)
  SELECT 'ready_seq', coalesce(max(ready_seq), 0) FROM deliveries;
)sql",
    // 3: retention. The events whose body is still kept, oldest first, for the purge.
    R"sql(
CREATE INDEX events_with_body ON events (received_at) WHERE body IS NOT NULL;
)sql",
    // 4: the admin API. Each establishment's policy as edited through it, every version kept
    // (the highest is in force); a rollback is a new version.
    R"sql(
CREATE TABLE policy_versions (
  uai TEXT NOT NULL,
  version INTEGER NOT NULL,
  at INTEGER NOT NULL,
  author TEXT NOT NULL,
  comment TEXT NOT NULL,
  document TEXT NOT NULL,
  digest TEXT NOT NULL,
  weaker TEXT NOT NULL,
  rollback_of INTEGER,
  PRIMARY KEY (uai, version)
);
)sql",
    // 5: the number of events, kept in meta by the transactions that store or remove them, so
    // that counting them never scans the table.
    R"sql(
INSERT OR REPLACE INTO meta (key, value) SELECT 'events', count(*) FROM events;
)sql",
    // 6: the morning digest a copy's last attempt went in (its `dig_…` id), shown with the
    // copy by the admin API; NULL when it went alone.
    R"sql(
ALTER TABLE deliveries ADD COLUMN digest TEXT;
)sql",
    // 7: events accepted while the directory that says who their recipients are could not
    // answer: no deliveries until it does (awaiting_store.h). `users` is a JSON array of ids.
    R"sql(
CREATE TABLE awaiting (
  event INTEGER PRIMARY KEY REFERENCES events(id),
  directory TEXT NOT NULL,
  users TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT NOT NULL
);
)sql",
    // 8: crises opened by administrators (crisis_store.h), and recipients' own quiet hours set
    // by their connector (preference_store.h), keyed by source and pseudonym. Instants in ms.
    R"sql(
CREATE TABLE crises (
  id INTEGER PRIMARY KEY,
  uai TEXT NOT NULL,
  reason TEXT NOT NULL,
  categories INTEGER NOT NULL,
  release_held INTEGER NOT NULL,
  opened_at INTEGER NOT NULL,
  until INTEGER NOT NULL,
  opened_by TEXT NOT NULL,
  closed_at INTEGER,
  closed_by TEXT
);
CREATE INDEX crises_by_uai ON crises (uai, opened_at);
CREATE TABLE preferences (
  source TEXT NOT NULL,
  recipient TEXT NOT NULL,
  quiet TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL,
  PRIMARY KEY (source, recipient)
) WITHOUT ROWID;
)sql",
};

static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

Result<sqlite3*> open_connection(const std::string& path, bool writer,
                                 const std::string& vfs = {}) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    StoreError e = error_of(db, rc, "cannot open " + path);
    sqlite3_close(db);
    return std::unexpected(e);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace

// The columns of a DeliveryRef, first in every query that reads one (read_ref in
// sqlite_dispatch.cpp).
#define TREVE_REF_COLUMNS                                                               \
  "d.seq, e.source, e.event_id, e.establishment, e.category, e.timezone, d.recipient, " \
  "d.role, d.sink"
// The columns of a DispatchItem, read by read_dispatch_item (sqlite_dispatch.cpp).
#define TREVE_DISPATCH_COLUMNS                                      \
  TREVE_REF_COLUMNS                                                 \
  ", d.ready_seq, d.state, e.urgent, e.received_at, d.release_at, " \
  "d.released_at, e.body, d.attempts, d.first_attempt_at, d.next_attempt_at"

SqliteStore::Statements::Statements(sqlite3* w, sqlite3* r)
    : find_event(w, "SELECT body_sha256, response FROM events WHERE source = ? AND event_id = ?"),
      insert_event(w,
                   "INSERT INTO events (source, event_id, establishment, category, urgent, "
                   "received_at, timezone, body, body_sha256, response) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (source, event_id) DO NOTHING"),
      insert_delivery(w,
                      "INSERT INTO deliveries (event, recipient, role, state, release_at, "
                      "reason, updated_at, ready_seq, released_at, sink) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      insert_audit(w,
                   "INSERT INTO audit (seq, at, at_local, kind, source, event_id, "
                   "establishment, category, recipient, role, detail, prev_hash, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      event_for_write(w,
                      "SELECT id, establishment, category, timezone FROM events "
                      "WHERE source = ? AND event_id = ?"),
      deliveries_for_write(w,
                           "SELECT seq, recipient, role, state, release_at, reason, sink "
                           "FROM deliveries WHERE event = ? ORDER BY seq"),
      set_state(w, "UPDATE deliveries SET state = ?, updated_at = ? WHERE seq = ?"),
      release(w,
              "UPDATE deliveries SET state = 'due', updated_at = ?1, released_at = ?1, "
              "ready_seq = ?2 WHERE seq = ?3"),
      outcome(w,
              "UPDATE deliveries SET state = ?1, updated_at = ?2, attempts = ?3, "
              "first_attempt_at = ?4, next_attempt_at = ?5, sink = ?6, last_error = ?7, "
              "digest = ?9, ready_seq = NULL WHERE seq = ?8 AND state IN ('due', 'retrying')"),
      hold_again(w,
                 "UPDATE deliveries SET state = 'held', release_at = ?1, reason = ?2, "
                 "updated_at = ?3, ready_seq = NULL, first_attempt_at = NULL, "
                 "next_attempt_at = NULL WHERE seq = ?4 AND state IN ('due', 'retrying')"),
      pending_of_recipients(w, "SELECT " TREVE_REF_COLUMNS
                               ", e.urgent FROM deliveries d JOIN events e ON e.id = d.event "
                               "WHERE d.state IN ('due', 'retrying') ORDER BY d.seq"),
      replay_one(w,
                 "UPDATE deliveries SET state = 'due', updated_at = ?1, released_at = ?1, "
                 "ready_seq = ?2, attempts = 0, first_attempt_at = NULL, "
                 "next_attempt_at = NULL WHERE seq = ?3 AND state = 'dead'"),
      dead_for_replay(w, "SELECT " TREVE_REF_COLUMNS
                         " FROM deliveries d "
                         "JOIN events e ON e.id = d.event "
                         "WHERE d.state = 'dead' AND (?1 = 0 OR d.seq = ?1) AND e.body IS NOT NULL "
                         "ORDER BY d.seq"),
      audit_head(w, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"),
      get_ready_counter(w, "SELECT value FROM meta WHERE key = 'ready_seq'"),
      set_ready_counter(w,
                        "INSERT INTO meta (key, value) VALUES ('ready_seq', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      due(w,
          "SELECT " TREVE_REF_COLUMNS
          ", d.release_at FROM deliveries d "
          "JOIN events e ON e.id = d.event WHERE d.state = 'held' AND d.release_at <= ? ORDER BY "
          "d.release_at, d.seq LIMIT ?"),
      overdue(w, "SELECT 1 FROM deliveries WHERE state = 'held' AND release_at <= ? LIMIT 1"),
      overdue_of_recipients(w, "SELECT " TREVE_REF_COLUMNS
                               ", e.urgent, d.release_at FROM deliveries d JOIN events e ON "
                               "e.id = d.event WHERE d.state = 'held' AND d.release_at <= ? "
                               "ORDER BY d.seq"),
      read_event(r,
                 "SELECT id, establishment, category, received_at, timezone FROM events "
                 "WHERE source = ? AND event_id = ?"),
      read_deliveries(r,
                      "SELECT seq, recipient, role, state, release_at, reason, sink, attempts, "
                      "released_at, last_error, digest, updated_at "
                      "FROM deliveries WHERE event = ? ORDER BY seq"),
      add_events(w, "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'events'"),
      count_events(r, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'events'"),
      count_state(r,
                  "SELECT state, count(*) FROM deliveries "
                  "WHERE state IN ('held', 'due') GROUP BY state"),
      next_release(r, "SELECT min(release_at) FROM deliveries WHERE state = 'held'"),
      // The trail's records are numbered without gaps from the first one left after the
      // last purge: two lookups of the primary key, not a scan.
      count_audit(r,
                  "SELECT coalesce((SELECT seq FROM audit ORDER BY seq DESC LIMIT 1) - "
                  "(SELECT seq FROM audit ORDER BY seq LIMIT 1) + 1, 0)"),
      count_held(r, "SELECT count(*) FROM deliveries WHERE state = 'held'"),
      ready(r, "SELECT " TREVE_DISPATCH_COLUMNS
               " FROM deliveries d JOIN events e ON e.id = d.event "
               // `+d.state`: the state index would scan every due delivery and sort them,
               // once per page; the ready index reads only the page past the cursor.
               "WHERE d.ready_seq > ? AND +d.state = 'due' ORDER BY d.ready_seq LIMIT ?"),
      retrying(r, "SELECT " TREVE_DISPATCH_COLUMNS
                  " FROM deliveries d JOIN events e ON e.id = d.event "
                  "WHERE d.state = 'retrying' AND d.seq > ? ORDER BY d.seq LIMIT ?"),
      list(r, "SELECT " TREVE_REF_COLUMNS
              ", d.state, d.release_at, d.attempts, d.last_error, "
              "d.updated_at FROM deliveries d JOIN events e ON e.id = d.event "
              "WHERE d.state = ? AND d.seq > ? ORDER BY d.seq LIMIT ?"),
      replan_one(w,
                 "UPDATE deliveries SET release_at = ?1, reason = ?2, updated_at = ?3 "
                 "WHERE seq = ?4 AND state = 'held' AND release_at = ?5"),
      held_rows(r, "SELECT DISTINCT event FROM deliveries WHERE state = 'held' ORDER BY event"),
      held_event(r,
                 "SELECT source, event_id, establishment, category, received_at, timezone, "
                 "body FROM events WHERE id = ?"),
      held_of_event(r,
                    "SELECT seq, recipient, role, release_at, sink FROM deliveries "
                    "WHERE event = ? AND state = 'held' ORDER BY seq") {}

SqliteStore::SqliteStore(sqlite3* writer, sqlite3* reader, std::array<unsigned char, 32> key)
    : writer_(writer),
      reader_(reader),
      pseudonyms_(key),
      reader_pseudonyms_(key),
      prepare_pseudonyms_(key),
      head_(kGenesisHash) {}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(checkpoint_mutex_);
    stopping_ = true;
  }
  checkpoint_wake_.notify_one();
  if (checkpointer_.joinable())
    checkpointer_.join();
  st_.reset();
  sqlite3_close(reader_);
  // A clean close checkpoints the WAL into the database.
  sqlite3_close(writer_);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& options) {
  auto writer = open_connection(options.path, true, options.vfs);
  if (!writer)
    return std::unexpected(writer.error());
  auto fail = [&](StoreError e) -> Result<std::unique_ptr<SqliteStore>> {
    sqlite3_close(*writer);
    return std::unexpected(std::move(e));
  };
  // The writer's page cache (32 MB, against SQLite's 2 MB default) keeps the upper levels of
  // the delivery indexes in memory while a night's worth of deliveries is released.
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
        "PRAGMA wal_autocheckpoint = 0", "PRAGMA cache_size = -32768"}) {
    if (auto r = exec(*writer, pragma); !r)
      return fail(r.error());
  }
  if (options.max_page_count > 0) {
    std::string sql = "PRAGMA max_page_count = " + std::to_string(options.max_page_count);
    if (auto r = exec(*writer, sql.c_str()); !r)
      return fail(r.error());
  }
  // Migrations, in one transaction.
  if (auto r = exec(*writer, "BEGIN IMMEDIATE"); !r)
    return fail(r.error());
  if (auto r = exec(*writer, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)");
      !r) {
    exec(*writer, "ROLLBACK");
    return fail(r.error());
  }
  int version = 0;
  {
    Statement v(*writer, "SELECT value FROM meta WHERE key = 'schema_version'");
    if (v.step() == SQLITE_ROW)
      version = std::stoi(v.text(0));
  }
  if (version > kSchemaVersion) {
    exec(*writer, "ROLLBACK");
    return fail({StoreError::Kind::internal,
                 "the database has schema version " + std::to_string(version) +
                     ", newer than this trêve (" + std::to_string(kSchemaVersion) +
                     "): refusing to open it"});
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    if (auto r = exec(*writer, kMigrations[v]); !r) {
      exec(*writer, "ROLLBACK");
      return fail(r.error());
    }
  }
  {
    Statement set(*writer,
                  "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const std::string version_text = std::to_string(kSchemaVersion);
    set.bind(1, version_text);
    if (int rc = set.step(); rc != SQLITE_DONE) {
      StoreError e = error_of(*writer, rc, "cannot record the schema version");
      exec(*writer, "ROLLBACK");
      return fail(e);
    }
  }
  if (auto r = exec(*writer, "COMMIT"); !r)
    return fail(r.error());

  auto reader = open_connection(options.path, false);
  if (!reader)
    return fail(reader.error());
  std::unique_ptr<SqliteStore> store(new SqliteStore(*writer, *reader, options.pseudonym_key));
  try {
    store->st_ = std::make_unique<Statements>(*writer, *reader);
  } catch (const std::exception& e) {
    return std::unexpected(StoreError{StoreError::Kind::internal, e.what()});
  }
  if (auto r = store->load_head(); !r)
    return std::unexpected(r.error());
  auto checkpoint_db = open_connection(options.path, false);
  if (!checkpoint_db)
    return std::unexpected(checkpoint_db.error());
  SqliteStore* raw = store.get();
  raw->checkpointer_ = std::thread([raw, db = *checkpoint_db] { raw->run_checkpoints(db); });
  return store;
}

std::span<const char* const> SqliteStore::migrations() {
  return kMigrations;
}

void SqliteStore::run_checkpoints(sqlite3* db) {
  // A connection learns that the database is in WAL mode only when it first reads it; until
  // then a checkpoint on it does nothing at all.
  exec(db, "SELECT count(*) FROM sqlite_master");
  std::unique_lock lock(checkpoint_mutex_);
  bool warned = false;
  while (!stopping_) {
    checkpoint_wake_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_)
      break;
    lock.unlock();
    // PASSIVE never blocks the writer or readers; frames still in use stay for the next round.
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && !warned) {
      spdlog::warn("event=store.checkpoint_failed error={}", core::quoted(sqlite3_errmsg(db)));
      warned = true;
    }
    checkpointed_frames_.fetch_add(static_cast<std::uint64_t>(std::max(done, 0)),
                                   std::memory_order_relaxed);
    lock.lock();
  }
  sqlite3_close(db);
}

bool has_audit_records(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return false;
  }
  bool found = false;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT 1 FROM audit LIMIT 1", -1, &st, nullptr) == SQLITE_OK) {
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return found;
}

Result<std::array<unsigned char, 32>> load_or_create_key(const std::string& path, bool may_create) {
  std::array<unsigned char, 32> key{};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, key.data(), key.size());
    char extra = 0;
    const bool longer = ::read(fd, &extra, 1) > 0;
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size()) || longer) {
      return std::unexpected(StoreError{StoreError::Kind::internal,
                                        path + ": the pseudonym key must be exactly 32 bytes"});
    }
    return key;
  }
  if (errno != ENOENT) {
    return std::unexpected(StoreError{StoreError::Kind::unavailable,
                                      "cannot read " + path + ": " + std::strerror(errno)});
  }
  if (!may_create) {
    return std::unexpected(StoreError{
        StoreError::Kind::internal,
        path + " is missing but the store already holds audit records made with it: restore "
               "the key from its backup (a new key would make earlier pseudonyms unfindable)"});
  }
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    return std::unexpected(StoreError{StoreError::Kind::internal, "no randomness for the key"});
  }
  // Written under a temporary name and renamed, so that a crash never leaves half a key.
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // a leftover could carry other permissions
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, key.data(), key.size()) != static_cast<ssize_t>(key.size()) ||
      ::fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0)
      ::close(fd);
    return std::unexpected(StoreError{StoreError::Kind::unavailable,
                                      "cannot write " + tmp + ": " + std::strerror(err)});
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return std::unexpected(StoreError{StoreError::Kind::unavailable,
                                      "cannot create " + path + ": " + std::strerror(errno)});
  }
  // The rename itself must survive a power cut before any record is made with the key.
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  if (int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return key;
}

}  // namespace treve::store
