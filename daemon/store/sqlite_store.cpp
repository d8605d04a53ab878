#include "daemon/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <date/tz.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "daemon/core/json_text.h"
#include "daemon/core/log_field.h"
#include "daemon/store/sqlite_util.h"
#include "policy/rfc3339.h"

namespace treve::store {

using core::append_json_string;

std::string_view to_string(DeliveryState s) {
  switch (s) {
    case DeliveryState::held:
      return "held";
    case DeliveryState::due:
      return "due";
    case DeliveryState::sending:
      return "sending";
    case DeliveryState::retrying:
      return "retrying";
    case DeliveryState::delivered:
      return "delivered";
    case DeliveryState::dead:
      return "dead";
    case DeliveryState::retracted:
      return "retracted";
  }
  return "unknown";
}

std::optional<DeliveryState> parse_delivery_state(std::string_view s) {
  for (auto st :
       {DeliveryState::held, DeliveryState::due, DeliveryState::sending, DeliveryState::retrying,
        DeliveryState::delivered, DeliveryState::dead, DeliveryState::retracted}) {
    if (to_string(st) == s)
      return st;
  }
  return std::nullopt;
}

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
};

policy::Instant ms_instant(std::int64_t ms) {
  return policy::Instant{std::chrono::milliseconds{ms}};
}
std::int64_t instant_ms(policy::Instant t) {
  return t.time_since_epoch().count();
}

// The `detail` of an audit record: a small JSON object, built directly (this runs for every
// record, on the writer thread).
class Detail {
 public:
  Detail& add(std::string_view key, std::string_view value) {
    open(key);
    append_json_string(text_, value);
    return *this;
  }
  Detail& add(std::string_view key, std::int64_t value) {
    open(key);
    text_ += std::to_string(value);
    return *this;
  }
  // An instant in the establishment's time; null for "no release instant" (fail closed).
  Detail& add_instant(std::string_view key, policy::Instant t, const date::time_zone* zone) {
    if (t == policy::Instant::max()) {
      open(key);
      text_ += "null";
      return *this;
    }
    return add(key, policy::format_rfc3339(t, zone));
  }
  // `json` inserted as is: a JSON value the caller built.
  Detail& add_raw(std::string_view key, std::string_view json) {
    open(key);
    text_ += json;
    return *this;
  }
  Detail& add_null(std::string_view key) {
    open(key);
    text_ += "null";
    return *this;
  }
  Detail& add_bool(std::string_view key, bool value) {
    open(key);
    text_ += value ? "true" : "false";
    return *this;
  }
  std::string text() const { return text_ + "}"; }

 private:
  void open(std::string_view key) {
    if (text_.size() > 1)
      text_ += ',';
    append_json_string(text_, key);
    text_ += ':';
  }
  std::string text_ = "{";
};

Result<sqlite3*> open_connection(const std::string& path, bool writer) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
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

const date::time_zone* zone_or_utc(std::string_view name) {
  // Called for every record written and every delivery sent, nearly always with the same
  // few names: the last answer per thread is kept.
  thread_local std::string last_name;
  thread_local const date::time_zone* last_zone = nullptr;
  if (last_zone && name == last_name)
    return last_zone;
  const date::time_zone* zone;
  try {
    zone = date::locate_zone(name);
  } catch (const std::exception&) {
    zone = date::locate_zone("UTC");
  }
  last_name.assign(name);
  last_zone = zone;
  return zone;
}

// The columns of a DispatchItem, read by read_dispatch_item.
#define TREVE_DISPATCH_COLUMNS                                                                 \
  "d.seq, d.ready_seq, d.state, e.source, e.event_id, e.establishment, e.category, e.urgent, " \
  "e.timezone, d.recipient, d.role, e.received_at, d.release_at, d.released_at, e.body, "      \
  "d.attempts, d.first_attempt_at, d.next_attempt_at"

struct SqliteStore::Statements {
  explicit Statements(sqlite3* w, sqlite3* r)
      : find_event(w, "SELECT body_sha256, response FROM events WHERE source = ? AND event_id = ?"),
        insert_event(w,
                     "INSERT INTO events (source, event_id, establishment, category, urgent, "
                     "received_at, timezone, body, body_sha256, response) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        insert_delivery(w,
                        "INSERT INTO deliveries (event, recipient, role, state, release_at, "
                        "reason, updated_at, ready_seq, released_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        insert_audit(w,
                     "INSERT INTO audit (seq, at, at_local, kind, source, event_id, "
                     "establishment, category, recipient, role, detail, prev_hash, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        event_for_write(w,
                        "SELECT id, establishment, category, timezone FROM events "
                        "WHERE source = ? AND event_id = ?"),
        deliveries_for_write(w,
                             "SELECT seq, recipient, role, state, release_at, reason "
                             "FROM deliveries WHERE event = ? ORDER BY seq"),
        set_state(w, "UPDATE deliveries SET state = ?, updated_at = ? WHERE seq = ?"),
        release(w,
                "UPDATE deliveries SET state = 'due', updated_at = ?1, released_at = ?1, "
                "ready_seq = ?2 WHERE seq = ?3"),
        outcome(w,
                "UPDATE deliveries SET state = ?1, updated_at = ?2, attempts = ?3, "
                "first_attempt_at = ?4, next_attempt_at = ?5, sink = ?6, last_error = ?7, "
                "ready_seq = NULL WHERE seq = ?8 AND state IN ('due', 'retrying')"),
        replay_one(w,
                   "UPDATE deliveries SET state = 'due', updated_at = ?1, released_at = ?1, "
                   "ready_seq = ?2, attempts = 0, first_attempt_at = NULL, "
                   "next_attempt_at = NULL WHERE seq = ?3 AND state = 'dead'"),
        dead_for_replay(w,
                        "SELECT d.seq, e.source, e.event_id, e.establishment, e.category, "
                        "e.timezone, d.recipient, d.role FROM deliveries d "
                        "JOIN events e ON e.id = d.event "
                        "WHERE d.state = 'dead' AND (?1 = 0 OR d.seq = ?1) AND e.body IS NOT NULL "
                        "ORDER BY d.seq"),
        audit_head(w, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"),
        get_ready_counter(w, "SELECT value FROM meta WHERE key = 'ready_seq'"),
        set_ready_counter(w,
                          "INSERT INTO meta (key, value) VALUES ('ready_seq', ?) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        due(w,
            "SELECT d.seq, e.source, e.event_id, e.establishment, e.category, e.timezone, "
            "d.recipient, d.role, d.release_at FROM deliveries d JOIN events e ON e.id = d.event "
            "WHERE d.state = 'held' AND d.release_at <= ? ORDER BY d.release_at, d.seq LIMIT ?"),
        read_event(r,
                   "SELECT id, establishment, category, received_at, timezone FROM events "
                   "WHERE source = ? AND event_id = ?"),
        read_deliveries(r,
                        "SELECT seq, recipient, role, state, release_at, reason "
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
        list(r,
             "SELECT d.seq, e.source, e.event_id, e.establishment, e.category, d.recipient, "
             "d.role, d.state, d.release_at, d.attempts, d.sink, d.last_error, d.updated_at, "
             "e.timezone FROM deliveries d JOIN events e ON e.id = d.event "
             "WHERE d.state = ? AND d.seq > ? ORDER BY d.seq LIMIT ?"),
        replan_one(w,
                   "UPDATE deliveries SET release_at = ?1, reason = ?2, updated_at = ?3 "
                   "WHERE seq = ?4 AND state = 'held' AND release_at = ?5"),
        held_rows(r, "SELECT DISTINCT event FROM deliveries WHERE state = 'held' ORDER BY event"),
        held_event(r,
                   "SELECT source, event_id, establishment, category, received_at, timezone, "
                   "body FROM events WHERE id = ?"),
        held_of_event(r,
                      "SELECT seq, recipient, role, release_at FROM deliveries "
                      "WHERE event = ? AND state = 'held' ORDER BY seq") {}

  Statement find_event, insert_event, insert_delivery, insert_audit, event_for_write,
      deliveries_for_write, set_state, release, outcome, replay_one, dead_for_replay, audit_head,
      get_ready_counter, set_ready_counter, due;
  Statement read_event, read_deliveries, add_events, count_events, count_state, next_release,
      count_audit, count_held, ready, retrying, list;
  Statement replan_one;
  Statement held_rows, held_event, held_of_event;
};

SqliteStore::SqliteStore(sqlite3* writer, sqlite3* reader, std::array<unsigned char, 32> key)
    : writer_(writer), reader_(reader), pseudonyms_(key), head_(kGenesisHash) {}

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
  auto writer = open_connection(options.path, true);
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

Result<std::uint64_t> SqliteStore::held_count() {
  std::lock_guard lock(reader_mutex_);
  Statement& q = st_->count_held;
  Resetter reset{q};
  if (int rc = q.step(); rc != SQLITE_ROW)
    return std::unexpected(error_of(reader_, rc, "read"));
  return static_cast<std::uint64_t>(q.integer(0));
}

Result<std::vector<std::int64_t>> SqliteStore::held_event_rows() {
  std::lock_guard lock(reader_mutex_);
  Statement& q = st_->held_rows;
  Resetter reset{q};
  std::vector<std::int64_t> rows;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    rows.push_back(q.integer(0));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return rows;
}

Result<std::vector<HeldEvent>> SqliteStore::held_events(std::span<const std::int64_t> rows) {
  std::lock_guard lock(reader_mutex_);
  // One read transaction: an event and its held deliveries as of the same instant.
  if (auto r = exec(reader_, "BEGIN"); !r)
    return std::unexpected(r.error());
  struct End {
    sqlite3* db;
    ~End() { exec(db, "COMMIT"); }
  } end{reader_};
  std::vector<HeldEvent> out;
  out.reserve(rows.size());
  for (std::int64_t row : rows) {
    HeldEvent e;
    e.row = row;
    {
      Statement& q = st_->held_of_event;
      Resetter reset{q};
      q.bind(1, row);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        HeldEvent::Held h;
        h.ref.seq = q.integer(0);
        h.ref.recipient = q.text(1);
        h.ref.role = policy::parse_role(q.text(2)).value_or(policy::Role::student);
        h.release_at = ms_instant(q.integer(3));
        e.held.push_back(std::move(h));
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(reader_, rc, "read"));
    }
    if (e.held.empty())
      continue;
    Statement& q = st_->held_event;
    Resetter reset{q};
    q.bind(1, row);
    int rc = q.step();
    if (rc == SQLITE_DONE)
      continue;
    if (rc != SQLITE_ROW)
      return std::unexpected(error_of(reader_, rc, "read"));
    e.source = q.text(0);
    e.id = q.text(1);
    e.establishment = q.text(2);
    e.category = policy::parse_category(q.text(3)).value_or(policy::Category::other);
    e.received_at = ms_instant(q.integer(4));
    e.timezone = q.text(5);
    if (!q.is_null(6))
      e.body = q.text(6);
    for (HeldEvent::Held& h : e.held) {
      h.ref.source = e.source;
      h.ref.event_id = e.id;
      h.ref.establishment = e.establishment;
      h.ref.category = e.category;
      h.ref.timezone = e.timezone;
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::size_t> SqliteStore::replan(std::span<const Replan> changes, policy::Instant now) {
  return transaction<std::size_t>([&]() -> Result<std::size_t> {
    std::size_t moved = 0;
    for (const Replan& c : changes) {
      Statement& u = st_->replan_one;
      {
        Resetter reset{u};
        u.bind(1, instant_ms(c.release_at))
            .bind(2, c.reason)
            .bind(3, instant_ms(now))
            .bind(4, c.ref.seq)
            .bind(5, instant_ms(c.was));
        if (int rc = u.step(); rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot re-plan"));
      }
      if (sqlite3_changes(writer_) == 0)
        continue;  // released, retracted or re-planned meanwhile
      const DeliveryRef& d = c.ref;
      const date::time_zone* zone = zone_or_utc(d.timezone);
      AuditRecord r = delivery_record(d, "replanned", now, policy::format_rfc3339(now, zone),
                                      Detail()
                                          .add_instant("was_until", c.was, zone)
                                          .add_instant("until", c.release_at, zone)
                                          .add("reason", c.reason)
                                          .text());
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
      ++moved;
    }
    return moved;
  });
}

namespace {

std::string json_strings(const std::vector<std::string>& list) {
  std::string out = "[";
  for (const auto& s : list) {
    if (out.size() > 1)
      out += ',';
    append_json_string(out, s);
  }
  return out + "]";
}

// The strings of a JSON array of strings written by json_strings.
std::vector<std::string> strings_of(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array())
    return out;
  for (const auto& s : v.as_array()) {
    if (s.is_string())
      out.emplace_back(s.as_string());
  }
  return out;
}

constexpr const char* kPolicyColumns =
    "uai, version, at, author, comment, document, digest, weaker, rollback_of";

PolicyVersion read_policy(Statement& q) {
  PolicyVersion v;
  v.uai = q.text(0);
  v.version = q.integer(1);
  v.at = ms_instant(q.integer(2));
  v.author = q.text(3);
  v.comment = q.text(4);
  v.document = q.text(5);
  v.digest = q.text(6);
  v.weaker = strings_of(q.text(7));
  v.rollback_of = q.is_null(8) ? 0 : q.integer(8);
  return v;
}

}  // namespace

Result<SavePolicyResult> SqliteStore::save_policy(const PolicyVersion& v,
                                                  std::optional<std::int64_t> expected_version,
                                                  policy::Instant now) {
  return transaction<SavePolicyResult>([&]() -> Result<SavePolicyResult> {
    SavePolicyResult out;
    std::int64_t current = 0;
    std::optional<std::string> before;
    {
      Statement q(writer_,
                  "SELECT version, digest FROM policy_versions WHERE uai = ? "
                  "ORDER BY version DESC LIMIT 1");
      q.bind(1, v.uai);
      int rc = q.step();
      if (rc == SQLITE_ROW) {
        current = q.integer(0);
        before = q.text(1);
      } else if (rc != SQLITE_DONE) {
        return std::unexpected(error_of(writer_, rc, "cannot read the policy's version"));
      }
    }
    if (expected_version && *expected_version != current) {
      out.conflict = true;
      out.version = current;
      return out;
    }
    out.version = current + 1;
    const std::string sql = std::string("INSERT INTO policy_versions (") + kPolicyColumns +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const std::string weaker = json_strings(v.weaker);  // bound without a copy: kept alive
    Statement ins(writer_, sql.c_str());
    ins.bind(1, v.uai)
        .bind(2, out.version)
        .bind(3, instant_ms(now))
        .bind(4, v.author)
        .bind(5, v.comment)
        .bind(6, v.document)
        .bind(7, v.digest)
        .bind(8, weaker);
    if (v.rollback_of > 0)
      ins.bind(9, v.rollback_of);
    if (int rc = ins.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot save the policy"));
    AuditRecord r;
    r.at_ms = instant_ms(now);
    r.at_local = policy::format_rfc3339(now, v.zone ? v.zone : zone_or_utc("UTC"));
    r.kind = "policy_changed";
    r.establishment = v.uai;
    Detail d;
    d.add("by", v.author).add("version", out.version).add("comment", v.comment);
    if (before)
      d.add("before", *before);
    else
      d.add_null("before");
    d.add("after", v.digest).add_raw("weaker", weaker);
    if (v.rollback_of > 0)
      d.add("rollback_of", v.rollback_of);
    r.detail = d.text();
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return out;
  });
}

Result<void> SqliteStore::record_refusal(const AccessRefusal& refusal, policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    AuditRecord r;
    r.at_ms = instant_ms(now);
    r.at_local = policy::format_rfc3339(now, refusal.zone ? refusal.zone : zone_or_utc("UTC"));
    r.kind = "access_refused";
    r.establishment = refusal.establishment;
    r.detail = Detail()
                   .add("admin", refusal.admin)
                   .add("role", refusal.role)
                   .add("method", refusal.method)
                   .add("path", refusal.path)
                   .add("reason", refusal.reason)
                   .text();
    return append_audit(r);
  });
}

Result<std::vector<PolicyVersion>> select_current_policies(sqlite3* db) {
  const std::string sql = std::string("SELECT ") + kPolicyColumns +
                          " FROM policy_versions p WHERE version = (SELECT max(version) FROM "
                          "policy_versions WHERE uai = p.uai) ORDER BY uai";
  Statement q(db, sql.c_str());
  std::vector<PolicyVersion> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_policy(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(db, rc, "read"));
  return out;
}

Result<std::vector<PolicyVersion>> SqliteStore::current_policies() {
  std::lock_guard lock(reader_mutex_);
  return select_current_policies(reader_);
}

Result<std::vector<PolicyVersion>> SqliteStore::policy_versions(std::string_view uai) {
  std::lock_guard lock(reader_mutex_);
  const std::string sql = std::string("SELECT ") + kPolicyColumns +
                          " FROM policy_versions WHERE uai = ? ORDER BY version DESC";
  Statement q(reader_, sql.c_str());
  q.bind(1, uai);
  std::vector<PolicyVersion> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_policy(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::vector<std::pair<policy::Category, std::uint64_t>>> SqliteStore::held_by_category(
    std::string_view uai) {
  std::lock_guard lock(reader_mutex_);
  Statement q(reader_,
              "SELECT e.category, count(*) FROM deliveries d JOIN events e ON e.id = d.event "
              "WHERE d.state = 'held' AND e.establishment = ? GROUP BY e.category "
              "ORDER BY e.category");
  q.bind(1, uai);
  std::vector<std::pair<policy::Category, std::uint64_t>> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    out.emplace_back(policy::parse_category(q.text(0)).value_or(policy::Category::other),
                     static_cast<std::uint64_t>(q.integer(1)));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::optional<policy::Instant>> SqliteStore::next_release_of(std::string_view uai) {
  std::lock_guard lock(reader_mutex_);
  Statement q(reader_,
              "SELECT min(d.release_at) FROM deliveries d JOIN events e ON e.id = d.event "
              "WHERE d.state = 'held' AND e.establishment = ?");
  q.bind(1, uai);
  int rc = q.step();
  if (rc == SQLITE_ROW && !q.is_null(0))
    return std::optional{ms_instant(q.integer(0))};
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return std::optional<policy::Instant>{};
}

Result<std::optional<policy::Instant>> SqliteStore::next_release() {
  std::lock_guard lock(reader_mutex_);
  Statement& q = st_->next_release;
  Resetter reset{q};
  int rc = q.step();
  if (rc == SQLITE_ROW && !q.is_null(0))
    return std::optional{ms_instant(q.integer(0))};
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return std::optional<policy::Instant>{};
}

Result<void> SqliteStore::check() {
  {
    std::lock_guard lock(write_failure_mutex_);
    if (write_failure_) {
      return std::unexpected(StoreError{
          StoreError::Kind::unavailable,
          "the last write failed (" + *write_failure_ + ") and none has succeeded since", true});
    }
  }
  std::lock_guard lock(reader_mutex_);
  // Reads a row of the database file itself, not only the connection.
  return exec(reader_, "SELECT value FROM meta WHERE key = 'schema_version'");
}

Result<void> SqliteStore::load_head() {
  Statement last(writer_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
  int rc = last.step();
  if (rc == SQLITE_ROW) {
    next_audit_seq_ = last.integer(0) + 1;
    head_ = last.text(1);
  } else if (rc != SQLITE_DONE) {
    return std::unexpected(error_of(writer_, rc, "cannot read the audit head"));
  }
  return {};
}

std::string SqliteStore::audit_head() const {
  return head_;
}

Result<void> SqliteStore::append_audit(AuditRecord& r) {
  r.seq = next_audit_seq_;
  chain(r, head_);
  Statement& s = st_->insert_audit;
  Resetter reset{s};
  s.bind(1, r.seq).bind(2, r.at_ms).bind(3, r.at_local).bind(4, r.kind).bind(5, r.source);
  s.bind(6, r.event_id).bind(7, r.establishment).bind(8, r.category).bind(9, r.recipient);
  s.bind(10, r.role).bind(11, r.detail).bind(12, r.prev_hash).bind(13, r.hash);
  if (int rc = s.step(); rc != SQLITE_DONE) {
    return std::unexpected(error_of(writer_, rc, "cannot append to the audit trail"));
  }
  ++next_audit_seq_;
  head_ = r.hash;
  return {};
}

Result<void> SqliteStore::add_events(std::int64_t n) {
  if (n == 0)
    return {};
  Statement& u = st_->add_events;
  Resetter reset{u};
  u.bind(1, n);
  if (int rc = u.step(); rc != SQLITE_DONE)
    return std::unexpected(error_of(writer_, rc, "cannot count events"));
  return {};
}

AuditRecord SqliteStore::delivery_record(const DeliveryRef& d, std::string_view kind,
                                         policy::Instant at, std::string at_local,
                                         std::string detail) const {
  AuditRecord r;
  r.at_ms = instant_ms(at);
  r.at_local = std::move(at_local);
  r.kind = kind;
  r.source = d.source;
  r.event_id = d.event_id;
  r.establishment = d.establishment;
  r.category = policy::to_string(d.category);
  r.recipient = pseudonyms_.pseudonym(d.source, d.recipient);
  r.role = policy::to_string(d.role);
  r.detail = std::move(detail);
  return r;
}

void SqliteStore::note_write(const StoreError* failure, bool changed) {
  std::lock_guard lock(write_failure_mutex_);
  if (failure && failure->storage_failed) {
    if (!write_failure_)
      spdlog::error("event=store.writes_failing error={}", core::quoted(failure->message));
    write_failure_ = failure->message;
  } else if (!failure && changed && write_failure_) {
    spdlog::info("event=store.writes_recovered");
    write_failure_.reset();
  }
}

template <typename T, typename Body>
Result<T> SqliteStore::transaction(Body&& body) {
  const std::int64_t changes_before = sqlite3_total_changes64(writer_);
  const std::int64_t saved_seq = next_audit_seq_;
  const std::string saved_head = head_;
  const std::int64_t saved_ready = ready_counter_;
  std::int64_t seq_at_begin = next_audit_seq_;
  if (auto r = exec(writer_, "BEGIN IMMEDIATE"); !r) {
    note_write(&r.error(), false);
    return std::unexpected(r.error());
  }
  Result<T> result = std::unexpected(StoreError{});
  try {
    result = [&]() -> Result<T> {
      {
        Statement& h = st_->audit_head;
        Resetter reset{h};
        int rc = h.step();
        if (rc == SQLITE_ROW) {
          next_audit_seq_ = h.integer(0) + 1;
          head_ = h.text(1);
        } else if (rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot read the audit head"));
        }
      }
      {
        Statement& c = st_->get_ready_counter;
        Resetter reset{c};
        int rc = c.step();
        if (rc == SQLITE_ROW)
          ready_counter_ = c.integer(0);
        else if (rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot read the ready counter"));
      }
      const std::int64_t ready_before = ready_counter_;
      seq_at_begin = next_audit_seq_;
      Result<T> r = body();
      if (r && ready_counter_ != ready_before) {
        Statement& c = st_->set_ready_counter;
        Resetter reset{c};
        c.bind(1, ready_counter_);
        if (int rc = c.step(); rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot advance the ready counter"));
      }
      return r;
    }();
  } catch (const std::exception& e) {
    result = std::unexpected(StoreError{StoreError::Kind::internal, e.what()});
  }
  if (result) {
    if (auto r = exec(writer_, "COMMIT"); !r)
      result = std::unexpected(r.error());
  }
  note_write(result ? nullptr : &result.error(),
             result && sqlite3_total_changes64(writer_) != changes_before);
  if (!result) {
    if (!sqlite3_get_autocommit(writer_))
      exec(writer_, "ROLLBACK");
    next_audit_seq_ = saved_seq;
    head_ = saved_head;
    ready_counter_ = saved_ready;
  } else if (head_log_every_ > 0 &&
             (next_audit_seq_ - 1) / head_log_every_ > (seq_at_begin - 1) / head_log_every_) {
    log_head();
  }
  return result;
}

void SqliteStore::log_head() const {
  if (next_audit_seq_ == 1)
    return;  // nothing written yet
  spdlog::info("event=audit.head seq={} hash={}", next_audit_seq_ - 1, head_);
}

Result<std::vector<AcceptResult>> SqliteStore::accept(std::span<const NewEvent> events,
                                                      policy::Instant now) {
  (void)now;
  return transaction<std::vector<AcceptResult>>([&]() -> Result<std::vector<AcceptResult>> {
    std::vector<AcceptResult> results;
    results.reserve(events.size());
    std::int64_t stored_events = 0;
    for (const NewEvent& e : events) {
      {
        Statement& f = st_->find_event;
        Resetter reset{f};
        f.bind(1, e.source).bind(2, e.id);
        int rc = f.step();
        if (rc == SQLITE_ROW) {
          AcceptResult r;
          r.outcome = f.text(0) == e.body_sha256 ? AcceptResult::Outcome::repeated
                                                 : AcceptResult::Outcome::conflict;
          r.response = f.text(1);
          results.push_back(std::move(r));
          continue;
        }
        if (rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "lookup"));
      }
      std::int64_t event_row = 0;
      {
        Statement& s = st_->insert_event;
        Resetter reset{s};
        s.bind(1, e.source).bind(2, e.id).bind(3, e.establishment);
        s.bind(4, policy::to_string(e.category)).bind(5, std::int64_t{e.urgent});
        s.bind(6, instant_ms(e.received_at)).bind(7, e.zone->name()).bind(8, e.body);
        s.bind(9, e.body_sha256).bind(10, e.response);
        if (int rc = s.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot store the event"));
        }
        event_row = sqlite3_last_insert_rowid(writer_);
      }
      const date::time_zone* zone = e.zone;
      const std::string at_local = policy::format_rfc3339(e.received_at, zone);
      // The event's own records (no recipient).
      AuditRecord r;
      r.at_ms = instant_ms(e.received_at);
      r.at_local = at_local;
      r.source = e.source;
      r.event_id = e.id;
      r.establishment = e.establishment;
      r.category = policy::to_string(e.category);
      {
        r.kind = "received";
        r.detail = Detail()
                       .add("deliveries", static_cast<std::int64_t>(e.deliveries.size()))
                       .add_bool("urgent", e.urgent)
                       .text();
        if (auto a = append_audit(r); !a)
          return std::unexpected(a.error());
      }
      if (!e.urgent_refusal.empty()) {
        r.kind = "bypass_refused";
        r.detail = Detail().add("connector", e.source).add("reason", e.urgent_refusal).text();
        if (auto a = append_audit(r); !a)
          return std::unexpected(a.error());
      }
      DeliveryRef ref;
      ref.source = e.source;
      ref.event_id = e.id;
      ref.establishment = e.establishment;
      ref.category = e.category;
      ref.timezone = zone->name();
      for (const NewDelivery& d : e.deliveries) {
        Statement& s = st_->insert_delivery;
        {
          Resetter reset{s};
          s.bind(1, event_row).bind(2, d.recipient).bind(3, policy::to_string(d.role));
          s.bind(4, to_string(d.state)).bind(5, instant_ms(d.release_at)).bind(6, d.reason);
          s.bind(7, instant_ms(e.received_at));
          if (d.state == DeliveryState::due) {
            s.bind(8, take_ready_seq()).bind(9, instant_ms(e.received_at));
          } else {
            s.bind_null(8).bind_null(9);
          }
          if (int rc = s.step(); rc != SQLITE_DONE) {
            return std::unexpected(error_of(writer_, rc, "cannot store a delivery"));
          }
        }
        ref.seq = sqlite3_last_insert_rowid(writer_);
        ref.recipient = d.recipient;
        ref.role = d.role;
        AuditRecord dr;
        if (d.bypassed) {
          dr = delivery_record(ref, "bypassed", e.received_at, at_local,
                               Detail().add("connector", e.source).add("reason", d.reason).text());
        } else if (d.state == DeliveryState::held) {
          dr = delivery_record(
              ref, "held", e.received_at, at_local,
              Detail().add_instant("until", d.release_at, zone).add("reason", d.reason).text());
        } else {
          dr = delivery_record(ref, "released", e.received_at, at_local,
                               Detail().add("reason", d.reason).text());
        }
        if (auto a = append_audit(dr); !a)
          return std::unexpected(a.error());
      }
      ++stored_events;
      AcceptResult stored;
      stored.outcome = AcceptResult::Outcome::stored;
      stored.response = e.response;
      results.push_back(std::move(stored));
    }
    if (auto c = add_events(stored_events); !c)
      return std::unexpected(c.error());
    return results;
  });
}

Result<RetractResult> SqliteStore::retract(std::string_view source, std::string_view id,
                                           policy::Instant now) {
  return transaction<RetractResult>([&]() -> Result<RetractResult> {
    RetractResult out;
    std::int64_t event_row = 0;
    DeliveryRef ref;
    ref.source = std::string(source);
    ref.event_id = std::string(id);
    const date::time_zone* zone = nullptr;
    {
      Statement& f = st_->event_for_write;
      Resetter reset{f};
      f.bind(1, source).bind(2, id);
      int rc = f.step();
      if (rc == SQLITE_DONE)
        return out;
      if (rc != SQLITE_ROW)
        return std::unexpected(error_of(writer_, rc, "lookup"));
      out.found = true;
      event_row = f.integer(0);
      ref.establishment = f.text(1);
      ref.category = policy::parse_category(f.text(2)).value_or(policy::Category::other);
      ref.timezone = f.text(3);
      zone = zone_or_utc(ref.timezone);
    }
    const std::string at_local = policy::format_rfc3339(now, zone);
    std::vector<std::pair<std::int64_t, DeliveryView>> rows;
    {
      Statement& q = st_->deliveries_for_write;
      Resetter reset{q};
      q.bind(1, event_row);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        DeliveryView v;
        v.recipient = q.text(1);
        v.role = policy::parse_role(q.text(2)).value_or(policy::Role::student);
        v.state = parse_delivery_state(q.text(3)).value_or(DeliveryState::held);
        v.release_at = ms_instant(q.integer(4));
        v.reason = q.text(5);
        rows.emplace_back(q.integer(0), std::move(v));
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "read"));
    }
    for (auto& [seq, v] : rows) {
      if (v.state != DeliveryState::held) {
        out.not_retracted.push_back(std::move(v));
        continue;
      }
      Statement& u = st_->set_state;
      {
        Resetter reset{u};
        u.bind(1, to_string(DeliveryState::retracted)).bind(2, instant_ms(now)).bind(3, seq);
        if (int rc = u.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot retract"));
        }
      }
      ref.seq = seq;
      ref.recipient = v.recipient;
      ref.role = v.role;
      AuditRecord r = delivery_record(ref, "retracted", now, at_local,
                                      Detail().add_instant("was_until", v.release_at, zone).text());
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
      v.state = DeliveryState::retracted;
      out.retracted.push_back(std::move(v));
    }
    return out;
  });
}

Result<std::vector<ReleasedDelivery>> SqliteStore::release_due(policy::Instant now,
                                                               std::size_t limit) {
  return transaction<std::vector<ReleasedDelivery>>([&]() -> Result<std::vector<ReleasedDelivery>> {
    std::vector<ReleasedDelivery> out;
    std::vector<AuditRecord> records;
    {
      Statement& q = st_->due;
      Resetter reset{q};
      q.bind(1, instant_ms(now)).bind(2, static_cast<std::int64_t>(limit));
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        ReleasedDelivery d;
        d.ref.seq = q.integer(0);
        d.ref.source = q.text(1);
        d.ref.event_id = q.text(2);
        d.ref.establishment = q.text(3);
        d.ref.category = policy::parse_category(q.text(4)).value_or(policy::Category::other);
        d.ref.timezone = q.text(5);
        d.ref.recipient = q.text(6);
        d.ref.role = policy::parse_role(q.text(7)).value_or(policy::Role::student);
        d.release_at = ms_instant(q.integer(8));
        const date::time_zone* zone = zone_or_utc(d.ref.timezone);
        records.push_back(delivery_record(
            d.ref, "released", now, policy::format_rfc3339(now, zone),
            Detail().add("release_at", policy::format_rfc3339(d.release_at, zone)).text()));
        out.push_back(std::move(d));
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "read"));
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      Statement& u = st_->release;
      {
        Resetter reset{u};
        u.bind(1, instant_ms(now)).bind(2, take_ready_seq()).bind(3, out[i].ref.seq);
        if (int rc = u.step(); rc != SQLITE_DONE) {
          return std::unexpected(error_of(writer_, rc, "cannot release"));
        }
      }
      if (auto a = append_audit(records[i]); !a)
        return std::unexpected(a.error());
    }
    return out;
  });
}

Result<std::optional<EventView>> SqliteStore::find(std::string_view source, std::string_view id) {
  std::lock_guard lock(reader_mutex_);
  EventView v;
  std::int64_t row = 0;
  {
    Statement& q = st_->read_event;
    Resetter reset{q};
    q.bind(1, source).bind(2, id);
    int rc = q.step();
    if (rc == SQLITE_DONE)
      return std::optional<EventView>{};
    if (rc != SQLITE_ROW)
      return std::unexpected(error_of(reader_, rc, "read"));
    row = q.integer(0);
    v.source = std::string(source);
    v.id = std::string(id);
    v.establishment = q.text(1);
    v.category = policy::parse_category(q.text(2)).value_or(policy::Category::other);
    v.received_at = ms_instant(q.integer(3));
    v.timezone = q.text(4);
  }
  Statement& q = st_->read_deliveries;
  Resetter reset{q};
  q.bind(1, row);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    DeliveryView d;
    d.recipient = q.text(1);
    d.role = policy::parse_role(q.text(2)).value_or(policy::Role::student);
    d.state = parse_delivery_state(q.text(3)).value_or(DeliveryState::held);
    d.release_at = ms_instant(q.integer(4));
    d.reason = q.text(5);
    v.deliveries.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return std::optional<EventView>{std::move(v)};
}

Result<StoreStats> SqliteStore::stats() {
  std::lock_guard lock(reader_mutex_);
  StoreStats s;
  auto single = [&](Statement& q, auto&& use) -> Result<void> {
    Resetter reset{q};
    int rc = q.step();
    if (rc == SQLITE_ROW)
      use(q);
    else if (rc != SQLITE_DONE)
      return std::unexpected(error_of(reader_, rc, "read"));
    return {};
  };
  if (auto r = single(st_->count_events, [&](Statement& q) { s.events = q.integer(0); }); !r) {
    return std::unexpected(r.error());
  }
  {
    Statement& q = st_->count_state;
    Resetter reset{q};
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      if (q.text(0) == "held")
        s.held = q.integer(1);
      if (q.text(0) == "due")
        s.due = q.integer(1);
    }
    if (rc != SQLITE_DONE)
      return std::unexpected(error_of(reader_, rc, "read"));
  }
  if (auto r = single(st_->next_release,
                      [&](Statement& q) {
                        if (!q.is_null(0))
                          s.next_release = ms_instant(q.integer(0));
                      });
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = single(st_->count_audit, [&](Statement& q) { s.audit_records = q.integer(0); });
      !r) {
    return std::unexpected(r.error());
  }
  return s;
}

namespace {

DispatchItem read_dispatch_item(const Statement& q) {
  DispatchItem d;
  d.ref.seq = q.integer(0);
  d.ready_seq = q.is_null(1) ? 0 : q.integer(1);
  d.state = parse_delivery_state(q.text(2)).value_or(DeliveryState::due);
  d.ref.source = q.text(3);
  d.ref.event_id = q.text(4);
  d.ref.establishment = q.text(5);
  d.ref.category = policy::parse_category(q.text(6)).value_or(policy::Category::other);
  d.urgent = q.integer(7) != 0;
  d.ref.timezone = q.text(8);
  d.ref.recipient = q.text(9);
  d.ref.role = policy::parse_role(q.text(10)).value_or(policy::Role::student);
  d.received_at = ms_instant(q.integer(11));
  d.release_at = ms_instant(q.integer(12));
  d.released_at = q.is_null(13) ? d.release_at : ms_instant(q.integer(13));
  d.body = q.text(14);
  d.attempts = static_cast<int>(q.integer(15));
  if (!q.is_null(16))
    d.first_attempt_at = ms_instant(q.integer(16));
  if (!q.is_null(17))
    d.next_attempt_at = ms_instant(q.integer(17));
  return d;
}

std::string_view outcome_state(DeliveryOutcome::Kind k) {
  switch (k) {
    case DeliveryOutcome::Kind::delivered:
      return "delivered";
    case DeliveryOutcome::Kind::retrying:
      return "retrying";
    case DeliveryOutcome::Kind::dead:
      return "dead";
  }
  return "dead";
}

}  // namespace

Result<void> SqliteStore::record_outcomes(std::span<const DeliveryOutcome> outcomes,
                                          policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    for (const DeliveryOutcome& o : outcomes) {
      Statement& u = st_->outcome;
      {
        Resetter reset{u};
        u.bind(1, outcome_state(o.kind)).bind(2, instant_ms(now));
        u.bind(3, std::int64_t{o.attempts}).bind(4, instant_ms(o.first_attempt_at));
        if (o.kind == DeliveryOutcome::Kind::retrying)
          u.bind(5, instant_ms(o.next_attempt_at));
        else
          u.bind_null(5);
        u.bind(6, o.sink);
        if (o.error.empty())
          u.bind_null(7);
        else
          u.bind(7, o.error);
        u.bind(8, o.ref.seq);
        if (int rc = u.step(); rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot record a delivery outcome"));
      }
      if (sqlite3_changes(writer_) == 0)
        continue;  // no longer due or retrying: replayed or changed meanwhile
      const DeliveryRef& d = o.ref;
      const date::time_zone* zone = zone_or_utc(d.timezone);
      Detail detail;
      detail.add("sink", o.sink).add("attempt", std::int64_t{o.attempts});
      if (o.status)
        detail.add("status", std::int64_t{o.status});
      if (!o.error.empty())
        detail.add("error", o.error);
      detail.add("webhook_id", o.webhook_id);
      // Sent in a batch, the request's id is the batch's: the delivery's own id (the one the
      // receiver deduplicates on) is recorded beside it.
      if (!o.delivery_id.empty() && o.delivery_id != o.webhook_id)
        detail.add("delivery_id", o.delivery_id);
      std::string_view kind = "dead_lettered";
      switch (o.kind) {
        case DeliveryOutcome::Kind::delivered:
          kind = "delivered";
          break;
        case DeliveryOutcome::Kind::retrying:
          kind = "retrying";
          detail.add_instant("next_attempt", o.next_attempt_at, zone);
          break;
        case DeliveryOutcome::Kind::dead:
          kind = "dead_lettered";
          break;
      }
      AuditRecord r =
          delivery_record(d, kind, now, policy::format_rfc3339(now, zone), detail.text());
      if (auto a = append_audit(r); !a)
        return std::unexpected(a.error());
    }
    return {};
  });
}

Result<std::size_t> SqliteStore::replay(std::span<const std::int64_t> seqs, policy::Instant now) {
  return transaction<std::size_t>([&]() -> Result<std::size_t> {
    std::size_t replayed = 0;
    auto replay_matching = [&](std::int64_t seq) -> Result<void> {
      std::vector<DeliveryRef> rows;
      {
        Statement& q = st_->dead_for_replay;
        Resetter reset{q};
        q.bind(1, seq);
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) {
          DeliveryRef d;
          d.seq = q.integer(0);
          d.source = q.text(1);
          d.event_id = q.text(2);
          d.establishment = q.text(3);
          d.category = policy::parse_category(q.text(4)).value_or(policy::Category::other);
          d.timezone = q.text(5);
          d.recipient = q.text(6);
          d.role = policy::parse_role(q.text(7)).value_or(policy::Role::student);
          rows.push_back(std::move(d));
        }
        if (rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "read"));
      }
      for (const DeliveryRef& row : rows) {
        Statement& u = st_->replay_one;
        {
          Resetter reset{u};
          u.bind(1, instant_ms(now)).bind(2, take_ready_seq()).bind(3, row.seq);
          if (int rc = u.step(); rc != SQLITE_DONE)
            return std::unexpected(error_of(writer_, rc, "cannot replay"));
        }
        AuditRecord r = delivery_record(
            row, "replayed", now, policy::format_rfc3339(now, zone_or_utc(row.timezone)), "{}");
        if (auto a = append_audit(r); !a)
          return std::unexpected(a.error());
        ++replayed;
      }
      return {};
    };
    if (seqs.empty()) {
      if (auto r = replay_matching(0); !r)
        return std::unexpected(r.error());
    }
    for (std::int64_t seq : seqs) {
      if (seq <= 0)
        continue;
      if (auto r = replay_matching(seq); !r)
        return std::unexpected(r.error());
    }
    return replayed;
  });
}

template <typename Query>
Result<std::vector<DispatchItem>> SqliteStore::dispatch_items(Query& q, std::int64_t after,
                                                              std::size_t limit) {
  std::lock_guard lock(reader_mutex_);
  std::vector<DispatchItem> out;
  Resetter reset{q};
  q.bind(1, after).bind(2, static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_dispatch_item(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::vector<DispatchItem>> SqliteStore::ready(std::int64_t after_ready_seq,
                                                     std::size_t limit) {
  return dispatch_items(st_->ready, after_ready_seq, limit);
}

Result<std::vector<DispatchItem>> SqliteStore::retrying(std::int64_t after_seq, std::size_t limit) {
  return dispatch_items(st_->retrying, after_seq, limit);
}

Result<std::vector<DeliveryRow>> SqliteStore::list(DeliveryState state, std::int64_t after_seq,
                                                   std::size_t limit) {
  std::lock_guard lock(reader_mutex_);
  std::vector<DeliveryRow> out;
  Statement& q = st_->list;
  Resetter reset{q};
  q.bind(1, to_string(state)).bind(2, after_seq).bind(3, static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    DeliveryRow d;
    d.ref.seq = q.integer(0);
    d.ref.source = q.text(1);
    d.ref.event_id = q.text(2);
    d.ref.establishment = q.text(3);
    d.ref.category = policy::parse_category(q.text(4)).value_or(policy::Category::other);
    d.ref.recipient = q.text(5);
    d.ref.role = policy::parse_role(q.text(6)).value_or(policy::Role::student);
    d.state = parse_delivery_state(q.text(7)).value_or(state);
    d.release_at = ms_instant(q.integer(8));
    d.attempts = static_cast<int>(q.integer(9));
    d.sink = q.text(10);
    d.last_error = q.text(11);
    d.updated_at = ms_instant(q.integer(12));
    d.ref.timezone = q.text(13);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<PurgeResult> SqliteStore::purge(const PurgeLimits& limits, policy::Instant now) {
  auto result = purge_once(limits, now);
  // In the log, out of reach of whoever can write the database: `audit verify --heads`
  // accepts a trail that starts after a purge only if the log vouches for its checkpoint.
  if (result && result->checkpoint_seq > 0) {
    spdlog::info("event=audit.checkpoint seq={} hash={} purged_through={}", result->checkpoint_seq,
                 result->checkpoint_hash, result->purged_through);
  }
  return result;
}

Result<PurgeResult> SqliteStore::purge_once(const PurgeLimits& limits, policy::Instant now) {
  return transaction<PurgeResult>([&]() -> Result<PurgeResult> {
    PurgeResult out;
    const auto max_rows = static_cast<std::int64_t>(limits.max_rows);
    const date::time_zone* utc = zone_or_utc("UTC");
    AuditRecord record;
    record.at_ms = instant_ms(now);
    record.at_local = policy::format_rfc3339(now, utc);

    // Audit records: the leading run older than the cutoff, never one written after it.
    std::int64_t first = 0;
    std::string continues_from;
    {
      Statement q(writer_, "SELECT seq, at, hash FROM audit ORDER BY seq LIMIT ?");
      q.bind(1, max_rows + 1);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        if (q.integer(1) >= instant_ms(limits.audit_before))
          break;
        if (out.audit_records == max_rows) {
          out.more = true;
          break;
        }
        if (first == 0)
          first = q.integer(0);
        out.purged_through = q.integer(0);
        continues_from = q.text(2);
        ++out.audit_records;
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read the audit trail"));
    }
    if (out.audit_records > 0) {
      Statement d(writer_, "DELETE FROM audit WHERE seq <= ?");
      d.bind(1, out.purged_through);
      if (int rc = d.step(); rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot purge the audit trail"));
      record.kind = "checkpoint";
      record.detail = Detail()
                          .add("purged_from", first)
                          .add("purged_through", out.purged_through)
                          .add("records", out.audit_records)
                          .add("continues_from", continues_from)
                          .add("before", policy::format_rfc3339(limits.audit_before, utc))
                          .text();
      if (auto a = append_audit(record); !a)
        return std::unexpected(a.error());
      out.checkpoint_seq = record.seq;
      out.checkpoint_hash = record.hash;
    }

    // Whether an event still has a delivery to send (or one held): its body must stay.
    Statement pending(writer_,
                      "SELECT 1 FROM deliveries WHERE event = ? AND state IN "
                      "('held', 'due', 'sending', 'retrying') LIMIT 1");
    auto has_pending = [&](std::int64_t event) -> Result<bool> {
      Resetter reset{pending};
      pending.bind(1, event);
      int rc = pending.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read deliveries"));
      return rc == SQLITE_ROW;
    };

    // The first ids a query lists while `take` holds, at most max_rows; `limited` when there
    // were more. Another slice is asked for only if this one removed something: events that
    // must stay (held with no release instant) never make the purge loop.
    auto first_ids = [&](Statement& q, bool& limited,
                         auto&& take) -> Result<std::vector<std::int64_t>> {
      std::vector<std::int64_t> ids;
      int rc;
      while ((rc = q.step()) == SQLITE_ROW && take(q))
        ids.push_back(q.integer(0));
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read events"));
      limited = std::ssize(ids) > max_rows;
      if (limited)
        ids.pop_back();
      return ids;
    };
    // Runs `statement` with each id, in order, for the events with nothing left to send; how
    // many it changed.
    auto run_finished = [&](const std::vector<std::int64_t>& ids, Statement& statement,
                            const char* what) -> Result<std::int64_t> {
      std::int64_t changed = 0;
      for (std::int64_t id : ids) {
        auto p = has_pending(id);
        if (!p)
          return std::unexpected(p.error());
        if (*p)
          continue;
        Resetter reset{statement};
        statement.bind(1, id);
        if (int rc = statement.step(); rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, what));
        changed += sqlite3_changes(writer_);
      }
      return changed;
    };

    // Bodies (title and payload) of events older than events_before.
    {
      // Only events with nothing left to send: those that must keep their body never fill
      // the slice and stop the purge from reaching the others.
      Statement q(writer_,
                  "SELECT id FROM events WHERE body IS NOT NULL AND received_at < ? "
                  "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event = events.id AND state "
                  "IN ('held', 'due', 'sending', 'retrying')) ORDER BY received_at LIMIT ?");
      q.bind(1, instant_ms(limits.events_before)).bind(2, max_rows + 1);
      bool limited = false;
      auto ids = first_ids(q, limited, [](Statement&) { return true; });
      if (!ids)
        return std::unexpected(ids.error());
      Statement u(writer_, "UPDATE events SET body = NULL WHERE id = ?");
      auto n = run_finished(*ids, u, "cannot purge an event body");
      if (!n)
        return std::unexpected(n.error());
      out.bodies = *n;
      out.more = out.more || (limited && *n > 0);
    }

    // Whole events, with their deliveries (and the raw recipient ids they hold), once older
    // than the audit retention and finished. Events are numbered in receipt order, so the
    // oldest are the first rows: read in order up to the first one too recent, passing over
    // those that still have something to send (they stay, and must not fill the slice).
    {
      Statement q(writer_,
                  "SELECT id, received_at, EXISTS (SELECT 1 FROM deliveries WHERE event = "
                  "events.id AND state IN ('held', 'due', 'sending', 'retrying')) "
                  "FROM events ORDER BY id");
      bool limited = false;
      std::vector<std::int64_t> found;
      {
        int rc;
        while ((rc = q.step()) == SQLITE_ROW) {
          if (q.integer(1) >= instant_ms(limits.audit_before))
            break;
          if (q.integer(2) != 0)
            continue;
          if (std::ssize(found) == max_rows) {
            limited = true;
            break;
          }
          found.push_back(q.integer(0));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
          return std::unexpected(error_of(writer_, rc, "cannot read events"));
      }
      const std::vector<std::int64_t>* ids = &found;
      // Deliveries first (they refer to their event), then the events themselves.
      Statement dd(writer_, "DELETE FROM deliveries WHERE event = ?");
      auto n = run_finished(*ids, dd, "cannot purge deliveries");
      if (!n)
        return std::unexpected(n.error());
      out.deliveries = *n;
      Statement de(writer_,
                   "DELETE FROM events WHERE id = ? AND NOT EXISTS "
                   "(SELECT 1 FROM deliveries WHERE event = events.id)");
      auto e = run_finished(*ids, de, "cannot purge an event");
      if (!e)
        return std::unexpected(e.error());
      out.events = *e;
      out.more = out.more || (limited && *e > 0);
      if (auto c = add_events(-out.events); !c)
        return std::unexpected(c.error());
    }
    if (out.bodies > 0 || out.events > 0) {
      record.kind = "purged";
      record.detail = Detail()
                          .add("bodies", out.bodies)
                          .add("bodies_before", policy::format_rfc3339(limits.events_before, utc))
                          .add("events", out.events)
                          .add("deliveries", out.deliveries)
                          .add("events_before", policy::format_rfc3339(limits.audit_before, utc))
                          .text();
      if (auto a = append_audit(record); !a)
        return std::unexpected(a.error());
    }
    return out;
  });
}

Result<bool> SqliteStore::record_config(const ConfigChange& change, policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    std::optional<std::string> before;
    {
      Statement q(writer_, "SELECT value FROM meta WHERE key = 'config_digest'");
      int rc = q.step();
      if (rc == SQLITE_ROW)
        before = q.text(0);
      else if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read the configuration digest"));
    }
    if (before == change.digest)
      return false;
    Statement u(writer_,
                "INSERT INTO meta (key, value) VALUES ('config_digest', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    u.bind(1, change.digest);
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot record the configuration digest"));
    AuditRecord r;
    r.at_ms = instant_ms(now);
    r.at_local = policy::format_rfc3339(now, zone_or_utc("UTC"));
    r.kind = "config_changed";
    Detail d;
    d.add("file", change.file).add("by", change.by);
    if (!change.on.empty())
      d.add("on", change.on);
    if (before)
      d.add("before", *before);
    else
      d.add_null("before");
    r.detail = d.add("after", change.digest).text();
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return true;
  });
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
