// The embedded store: one SQLite database in WAL mode under state_dir, with synchronous=FULL
// so that a committed transaction survives a power cut. Two connections: one for writes, used
// by one thread at a time; one for reads, shared behind a mutex.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "daemon/store/audit_record.h"
#include "daemon/store/dispatch_records.h"
#include "daemon/store/store.h"

struct sqlite3;

namespace treve::store {

struct SqliteOptions {
  std::string path;  // the database file
  std::array<unsigned char, 32> pseudonym_key{};
  // Cap the database at this many pages (0: no cap): a full disk for tests, set by the
  // configuration's test hook `[testing] max_page_count` or by tests in process.
  long long max_page_count = 0;
  // The SQLite VFS the writer's connection opens the file through (empty: the default). The
  // seam for injected I/O faults: tests register one that fails the N-th write, sync or read
  // (tests/support/fault_vfs.h), as SQLite's own test suite does.
  std::string vfs;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating and migrating as needed) the database.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& options);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<std::vector<AcceptResult>> accept(std::span<const NewEvent> events,
                                           policy::Instant now) override;
  Result<RetractResult> retract(std::string_view source, std::string_view id,
                                policy::Instant now) override;
  Result<std::vector<ReleasedDelivery>> release_due(policy::Instant now,
                                                    std::size_t limit) override;
  Result<void> record_outcomes(std::span<const DeliveryOutcome> outcomes,
                               policy::Instant now) override;
  Result<std::size_t> replay(std::span<const std::int64_t> seqs, policy::Instant now) override;
  Result<PurgeResult> purge(const PurgeLimits& limits, policy::Instant now) override;
  Result<bool> record_config(const ConfigChange& change, policy::Instant now) override;
  Result<std::size_t> replan(std::span<const Replan> changes, policy::Instant now) override;
  Result<std::vector<std::int64_t>> held_event_rows() override;
  Result<SavePolicyResult> save_policy(const PolicyVersion& v,
                                       std::optional<std::int64_t> expected_version,
                                       policy::Instant now) override;
  Result<void> record_refusal(const AccessRefusal& r, policy::Instant now) override;
  Result<std::vector<PolicyVersion>> current_policies() override;
  Result<std::vector<PolicyVersion>> policy_versions(std::string_view uai) override;
  Result<std::vector<std::pair<policy::Category, std::uint64_t>>> held_by_category(
      std::string_view uai) override;
  Result<std::optional<policy::Instant>> next_release_of(std::string_view uai) override;
  Result<std::vector<HeldEvent>> held_events(std::span<const std::int64_t> rows) override;
  std::int64_t last_ready_seq() const override { return ready_counter_; }
  Result<std::vector<DispatchItem>> ready(std::int64_t after_ready_seq, std::size_t limit) override;
  Result<std::vector<DispatchItem>> retrying(std::int64_t after_seq, std::size_t limit) override;
  Result<std::vector<DeliveryRow>> list(DeliveryState state, std::int64_t after_seq,
                                        std::size_t limit) override;
  Result<std::optional<EventView>> find(std::string_view source, std::string_view id) override;
  Result<StoreStats> stats() override;
  void prepare(std::span<NewEvent> events) const override;
  void release_memory() override;
  Result<void> check() override;
  Result<std::optional<policy::Instant>> next_release() override;
  Result<bool> resolve(const Resolution& r, policy::Instant now) override;
  Result<void> postpone(std::int64_t row, policy::Instant next_attempt_at,
                        std::string_view error) override;
  Result<std::vector<AwaitingEvent>> awaiting(std::size_t limit) override;
  Result<std::uint64_t> held_count() override;
  std::string pseudonym(std::string_view source, std::string_view recipient) const override;
  Result<StoredPreference> set_preference(std::string_view source, std::string_view recipient,
                                          std::string_view quiet, std::size_t windows,
                                          policy::Instant now) override;
  Result<bool> delete_preference(std::string_view source, std::string_view recipient,
                                 policy::Instant now) override;
  Result<void> touch_preference(std::string_view source, std::string_view pseudonym,
                                policy::Instant at) override;
  Result<std::vector<StoredPreference>> purge_preferences(policy::Instant unused_since,
                                                          policy::Instant now) override;
  Result<std::vector<StoredPreference>> preferences() override;
  Result<std::optional<StoredPreference>> preference(std::string_view source,
                                                     std::string_view recipient) override;
  Result<OpenCrisisResult> open_crisis(const NewCrisis& c, policy::Instant now) override;
  Result<CrisisChange> extend_crisis(std::string_view uai, std::int64_t id, policy::Instant until,
                                     std::string_view by, const date::time_zone* zone,
                                     policy::Instant now) override;
  Result<CrisisChange> close_crisis(std::string_view uai, std::int64_t id, std::string_view by,
                                    const date::time_zone* zone, policy::Instant now) override;
  Result<std::vector<std::int64_t>> expire_crises(const ZoneOf& zone_of,
                                                  policy::Instant now) override;
  Result<std::vector<CrisisRecord>> open_crises() override;
  Result<std::vector<CrisisRecord>> crises_of(std::string_view uai, std::size_t limit) override;

  // The sequence number the next audit record will take.
  std::int64_t next_audit_seq() const override { return next_audit_seq_; }

  // Frames of the write-ahead log copied into the database so far by the checkpointer (a
  // running total; a frame copied twice counts twice).
  std::uint64_t checkpointed_frames() const { return checkpointed_frames_.load(); }

  // Heap memory held by the writer connection's page cache, in bytes. Read it from the
  // writer thread, or while no write runs.
  std::int64_t writer_cache_bytes() const;

  // The hash of the last audit record (kGenesisHash when there is none).
  std::string audit_head() const;
  // Logs the chain head ("event=audit.head seq=N hash=H") after each commit that crosses a
  // multiple of `every` records (0: never), so that the daemon's log keeps anchors against
  // which `treve audit verify --heads` catches a rewritten trail. Before any write.
  void log_heads_every(std::int64_t every) override { head_log_every_ = every; }
  void log_head() const override;
  static constexpr int kSchemaVersion = 8;
  // The SQL that brings the schema from version i to i + 1, for i < kSchemaVersion (after
  // the meta table: `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)`).
  static std::span<const char* const> migrations();

 private:
  struct Statements;
  SqliteStore(sqlite3* writer, sqlite3* reader, std::array<unsigned char, 32> key);

  Result<void> load_head();
  Result<PurgeResult> purge_once(const PurgeLimits& limits, policy::Instant now);
  Result<void> append_audit(AuditRecord& r);
  Result<void> append_audit(AuditRecord&& r) { return append_audit(r); }
  // Adds `n` (negative: removes) to the count of events kept in meta, in the transaction.
  Result<void> add_events(std::int64_t n);
  // The audit record of one delivery: who and where from `d` (the recipient as its
  // pseudonym), `kind`, the instant (`at_local` in the establishment's zone) and `detail`.
  // Whether held deliveries whose release instant is at or before `at` are still held.
  Result<bool> release_under_way(policy::Instant at);
  // Each delivery of `deliveries` (a copy per sink) with its audit record, at `at`.
  Result<void> store_deliveries(std::int64_t event_row, DeliveryRef ref,
                                std::span<const NewDelivery> deliveries, policy::Instant at,
                                const date::time_zone* zone, const std::string& at_local);
  // The `awaiting` row of an event accepted while its directory failed.
  Result<void> insert_awaiting(std::int64_t event_row, const NewAwaiting& a);
  Result<bool> record_held_again(const DeliveryOutcome& o, policy::Instant now);
  Result<void> hold_followers(const HeldAgain& held, policy::Instant now);
  Result<void> hold_overdue_followers(const HeldAgain& held, policy::Instant now);
  Result<bool> move_held(const Replan& c, policy::Instant now);
  // `pseudonym`: the recipient's, when already known (prepare); computed when empty.
  AuditRecord delivery_record(const DeliveryRef& d, std::string_view kind, policy::Instant at,
                              std::string at_local, std::string detail,
                              std::string pseudonym = {}) const;
  // Runs `body` in a write transaction. The audit head and the ready counter are read again
  // inside it, so that another process writing the same database (`treve deliveries replay`)
  // never forks the chain. On any error: rollback, and the in-memory state is restored.
  template <typename T, typename Body>
  Result<T> transaction(Body&& body);
  std::int64_t take_ready_seq() { return ++ready_counter_; }
  // Runs a DispatchItem query with (after, limit) on the reader.
  template <typename Query>
  Result<std::vector<DispatchItem>> dispatch_items(Query& q, std::int64_t after, std::size_t limit);

  // Copies the write-ahead log into the database in the background (PASSIVE checkpoints on
  // its own connection), so that commits never wait for a checkpoint.
  void run_checkpoints(sqlite3* db);
  // After each write transaction: remembers a failure for a full or failing disk, forgets it
  // once a transaction changed the store; logs each change of state once.
  void note_write(const StoreError* failure, bool changed);

  sqlite3* writer_;
  sqlite3* reader_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wake_;
  bool stopping_ = false;
  std::thread checkpointer_;
  std::atomic<std::uint64_t> checkpointed_frames_{0};
  std::mutex reader_mutex_;
  mutable std::mutex write_failure_mutex_;
  std::optional<std::string> write_failure_;  // why the last write failed; check() reports it
  Pseudonymizer pseudonyms_;                  // the writer's
  Pseudonymizer reader_pseudonyms_;           // the reader's, under reader_mutex_
  mutable std::mutex prepare_mutex_;
  Pseudonymizer prepare_pseudonyms_;  // prepare()'s, under prepare_mutex_
  std::unique_ptr<Statements> st_;
  std::int64_t next_audit_seq_ = 1;
  std::string head_;
  std::int64_t ready_counter_ = 0;  // the last ready_seq given (meta.ready_seq)
  std::int64_t head_log_every_ = 0;
};

// Reads the pseudonym key from `path`, creating it (32 random bytes, mode 0600) if absent and
// `may_create`. A key must never be replaced once records were made with it: the caller says
// whether the store already holds audit records (see has_audit_records).
Result<std::array<unsigned char, 32>> load_or_create_key(const std::string& path,
                                                         bool may_create = true);

// Whether the database at `path` exists and holds at least one audit record.
bool has_audit_records(const std::string& path);

// The policy versions in force (the highest of each establishment), read through `db`.
Result<std::vector<PolicyVersion>> select_current_policies(sqlite3* db);

// The open crises, read through `db`.
Result<std::vector<CrisisRecord>> select_open_crises(sqlite3* db);

// The recipients' own quiet hours, read through `db`.
Result<std::vector<StoredPreference>> select_preferences(sqlite3* db);

}  // namespace treve::store
