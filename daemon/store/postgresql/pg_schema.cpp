// PgStore: connecting, the schema and its migrations, the write transaction and the audit chain.
#include <spdlog/spdlog.h>

#include "daemon/core/digest.h"
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

namespace {

// The advisory lock under which one daemon at a time creates or migrates the schema.
constexpr std::string_view kSchemaLock = "SELECT pg_advisory_lock(7472657665)";  // "treve"
constexpr std::string_view kSchemaUnlock = "SELECT pg_advisory_unlock(7472657665)";

// Schema migrations, applied in order; entry i brings the schema from version i to i + 1.
// Instants are milliseconds since the epoch (bigint), as in the SQLite store, so that both
// hold the same values.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE audit_head (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seq bigint NOT NULL,
  hash text NOT NULL,
  ready_seq bigint NOT NULL,
  events bigint NOT NULL
);
INSERT INTO audit_head VALUES (true, 0,
  '0000000000000000000000000000000000000000000000000000000000000000', 0, 0);
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source text NOT NULL,
  event_id text NOT NULL,
  establishment text NOT NULL,
  category text NOT NULL,
  urgent boolean NOT NULL,
  received_at bigint NOT NULL,
  timezone text NOT NULL,
  body text,
  body_sha256 text NOT NULL,
  response text NOT NULL,
  UNIQUE (source, event_id)
);
CREATE INDEX events_with_body ON events (received_at) WHERE body IS NOT NULL;
CREATE TABLE deliveries (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event bigint NOT NULL REFERENCES events(id),
  recipient text NOT NULL,
  role text NOT NULL,
  state text NOT NULL,
  release_at bigint NOT NULL,
  reason text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint,
  updated_at bigint NOT NULL,
  ready_seq bigint,
  released_at bigint,
  first_attempt_at bigint,
  sink text,
  last_error text,
  digest text,
  partition smallint NOT NULL
);
CREATE INDEX deliveries_by_state_release ON deliveries (state, release_at, seq);
CREATE INDEX deliveries_by_event ON deliveries (event);
CREATE INDEX deliveries_ready ON deliveries (ready_seq) WHERE ready_seq IS NOT NULL;
CREATE TABLE audit (
  seq bigint PRIMARY KEY,
  at bigint NOT NULL,
  at_local text NOT NULL,
  kind text NOT NULL,
  source text NOT NULL,
  event_id text NOT NULL,
  establishment text NOT NULL,
  category text NOT NULL,
  recipient text NOT NULL,
  role text NOT NULL,
  detail text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE TABLE policy_versions (
  uai text NOT NULL,
  version bigint NOT NULL,
  at bigint NOT NULL,
  author text NOT NULL,
  comment text NOT NULL,
  document text NOT NULL,
  digest text NOT NULL,
  weaker text NOT NULL,
  rollback_of bigint,
  PRIMARY KEY (uai, version)
);
CREATE TABLE crises (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uai text NOT NULL,
  reason text NOT NULL,
  categories integer NOT NULL,
  release_held boolean NOT NULL,
  opened_at bigint NOT NULL,
  until bigint NOT NULL,
  opened_by text NOT NULL,
  closed_at bigint,
  closed_by text
);
CREATE INDEX crises_by_uai ON crises (uai, opened_at);
CREATE UNIQUE INDEX crises_one_open ON crises (uai) WHERE closed_at IS NULL;
CREATE TABLE preferences (
  source text NOT NULL,
  recipient text NOT NULL,
  quiet text NOT NULL,
  updated_at bigint NOT NULL,
  used_at bigint NOT NULL,
  PRIMARY KEY (source, recipient)
);
CREATE TABLE awaiting (
  event bigint PRIMARY KEY REFERENCES events(id),
  directory text NOT NULL,
  users text NOT NULL,
  attempts integer NOT NULL,
  next_attempt_at bigint NOT NULL,
  last_error text NOT NULL
);
)sql",
    // 2: the dispatch lease; instants by the database server's clock, so that the daemons'
    // clocks need not agree.
    R"sql(
CREATE TABLE leases (
  name text PRIMARY KEY,
  owner text NOT NULL,
  expires_at timestamptz NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == PgStore::kSchemaVersion);

Result<int> read_version(pg::Connection& c) {
  auto exists = c.exec("SELECT to_regclass('meta') IS NOT NULL");
  if (!exists)
    return std::unexpected(exists.error());
  if (exists->integer(0, 0) == 0)
    return 0;
  auto v = c.exec("SELECT value FROM meta WHERE key = 'schema_version'");
  if (!v)
    return std::unexpected(v.error());
  return v->empty() ? 0 : static_cast<int>(v->integer(0, 0));
}

Result<void> migrate(pg::Connection& c) {
  auto version = read_version(c);
  if (!version)
    return std::unexpected(version.error());
  if (*version > PgStore::kSchemaVersion) {
    return std::unexpected(StoreError{
        StoreError::Kind::internal, "the database's schema is version " + std::to_string(*version) +
                                        ", newer than this trêve's (" +
                                        std::to_string(PgStore::kSchemaVersion) +
                                        "): run the trêve that wrote it, or a newer one"});
  }
  for (int v = *version; v < PgStore::kSchemaVersion; ++v) {
    std::string script = "BEGIN;\n";
    if (v == 0)
      script += "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);\n";
    script += kMigrations[v];
    script += "\nINSERT INTO meta (key, value) VALUES ('schema_version', '" +
              std::to_string(v + 1) +
              "') ON CONFLICT (key) DO UPDATE SET value = excluded.value;\nCOMMIT;";
    if (auto r = c.script(script); !r) {
      (void)c.script("ROLLBACK");
      StoreError e = r.error();
      e.message = "cannot bring the schema to version " + std::to_string(v + 1) + ": " + e.message;
      return std::unexpected(e);
    }
    spdlog::info("event=store.migrated backend=postgresql schema_version={}", v + 1);
  }
  return {};
}

}  // namespace

PgStore::PgStore(std::unique_ptr<pg::Connection> writer, std::array<unsigned char, 32> key)
    : writer_(std::move(writer)), pseudonyms_(key), prepare_pseudonyms_(key) {}

PgStore::ReaderLease::~ReaderLease() {
  if (!reader_)
    return;
  {
    std::lock_guard lock(store_->reader_mutex_);
    store_->idle_readers_.push_back(reader_);
  }
  store_->reader_free_.notify_one();
}

Result<PgStore::ReaderLease> PgStore::reader() {
  Reader* r = nullptr;
  {
    std::unique_lock lock(reader_mutex_);
    reader_free_.wait(lock, [this] { return !idle_readers_.empty(); });
    r = idle_readers_.back();
    idle_readers_.pop_back();
  }
  ReaderLease lease(this, r);  // given back to the pool whatever happens below
  if (!r->connection->ok()) {
    if (auto c = r->connection->reconnect(); !c)
      return std::unexpected(c.error());
  }
  return lease;
}

Result<void> PgStore::check_key(bool record) {
  // A pseudonym of a name no recipient can have: the same for every daemon with the same key.
  const std::string check = pseudonyms_.pseudonym("treve", "\n pseudonym key check");
  auto stored =
      record ? writer_->exec(
                   "INSERT INTO meta (key, value) VALUES ('pseudonym_key_check', $1) ON CONFLICT "
                   "(key) DO UPDATE SET value = meta.value RETURNING value",
                   {check})
             : writer_->exec("SELECT value FROM meta WHERE key = 'pseudonym_key_check'");
  if (!stored)
    return std::unexpected(stored.error());
  if (!stored->empty() && stored->text(0, 0) != check) {
    return std::unexpected(StoreError{
        StoreError::Kind::internal,
        "this daemon's pseudonym key is not the one the store's records were made with: give "
        "every daemon sharing the database the same key (server.pseudonym_key)"});
  }
  return {};
}

std::int64_t PgStore::next_audit_seq() const {
  std::lock_guard lock(head_mutex_);
  return logged_seq_ + 1;
}

void PgStore::log_head() const {
  std::lock_guard lock(head_mutex_);
  if (logged_seq_ == 0)
    return;  // nothing written yet
  spdlog::info("event=audit.head seq={} hash={}", logged_seq_, logged_hash_);
}

Result<bool> PgStore::hold_lease(pg::Connection& c, std::string_view owner,
                                 std::chrono::milliseconds ttl) {
  auto q = c.exec(
      "INSERT INTO leases (name, owner, expires_at) VALUES ('dispatch', $1, clock_timestamp() + "
      "$2 * interval '1 millisecond') ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
      "expires_at = excluded.expires_at WHERE leases.owner = excluded.owner OR "
      "leases.expires_at < clock_timestamp() RETURNING owner",
      {owner, static_cast<std::int64_t>(ttl.count())});
  if (!q)
    return std::unexpected(q.error());
  return !q->empty();
}

Result<void> PgStore::drop_lease(pg::Connection& c, std::string_view owner) {
  auto q = c.exec("DELETE FROM leases WHERE name = 'dispatch' AND owner = $1", {owner});
  if (!q)
    return std::unexpected(q.error());
  return {};
}

Result<std::unique_ptr<PgStore>> PgStore::open(const PgOptions& options) {
  auto writer = pg::Connection::open(options.connection);
  if (!writer)
    return std::unexpected(writer.error());
  if (options.migrate) {
    if (auto l = (*writer)->exec(kSchemaLock); !l)
      return std::unexpected(l.error());
    auto migrated = migrate(**writer);
    (void)(*writer)->exec(kSchemaUnlock);
    if (!migrated)
      return std::unexpected(migrated.error());
  } else {
    auto version = read_version(**writer);
    if (!version)
      return std::unexpected(version.error());
    if (*version != kSchemaVersion) {
      return std::unexpected(
          StoreError{StoreError::Kind::internal,
                     "the database's schema is version " + std::to_string(*version) +
                         ", this trêve's " + std::to_string(kSchemaVersion) +
                         (*version < kSchemaVersion
                              ? ": a daemon of this version creates or migrates it when it starts"
                              : ": use the trêve that wrote it")});
    }
  }
  std::unique_ptr<PgStore> store(new PgStore(std::move(*writer), options.pseudonym_key));
  for (std::size_t i = 0; i < std::max<std::size_t>(options.readers, 1); ++i) {
    auto reader = pg::Connection::open(options.connection);
    if (!reader)
      return std::unexpected(reader.error());
    store->readers_.push_back(std::unique_ptr<Reader>(
        new Reader{std::move(*reader), Pseudonymizer(options.pseudonym_key)}));
    store->idle_readers_.push_back(store->readers_.back().get());
  }
  if (auto k = store->check_key(options.migrate); !k)
    return std::unexpected(k.error());
  auto head = store->writer_->exec("SELECT seq, hash, ready_seq FROM audit_head");
  if (!head)
    return std::unexpected(head.error());
  if (head->empty())
    return std::unexpected(StoreError{StoreError::Kind::internal, "the audit head row is missing"});
  store->next_audit_seq_ = head->integer(0, 0) + 1;
  store->head_ = head->text(0, 1);
  store->ready_counter_ = head->integer(0, 2);
  store->logged_seq_ = store->next_audit_seq_ - 1;
  store->logged_hash_ = store->head_;
  return store;
}

Result<int> PgStore::schema_version(const pg::ConnectOptions& options) {
  auto c = pg::Connection::open(options);
  if (!c)
    return std::unexpected(c.error());
  return read_version(**c);
}

int PgStore::partition_of(std::string_view source, std::string_view recipient) {
  const std::string h = core::sha256_hex_of({source, "\n", recipient});
  return std::stoi(h.substr(0, 2), nullptr, 16);
}

void PgStore::append_audit(AuditRecord r) {
  r.seq = next_audit_seq_++;
  chain(r, head_);
  head_ = r.hash;
  pending_audit_.push_back(std::move(r));
}

Result<void> PgStore::flush_audit() {
  pg::MultiRow insert(
      "INSERT INTO audit (seq, at, at_local, kind, source, event_id, establishment, category, "
      "recipient, role, detail, prev_hash, hash)",
      {"bigint", "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "text",
       "text", "text"});
  for (const AuditRecord& r : pending_audit_) {
    insert.add({r.seq, r.at_ms, r.at_local, r.kind, r.source, r.event_id, r.establishment,
                r.category, r.recipient, r.role, r.detail, r.prev_hash, r.hash});
  }
  if (auto x = insert.exec(*writer_); !x) {
    StoreError e = x.error();
    e.message = "cannot append to the audit trail: " + e.message;
    return std::unexpected(e);
  }
  return {};
}

}  // namespace treve::store
