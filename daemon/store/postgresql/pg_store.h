// The shared store: one PostgreSQL database that several trêve daemons use at once
// (docs/design/postgresql.md). Every role of the store: events accepted by any daemon,
// idempotent by the unique (source, event_id), released, sent and recorded, policies, crises,
// preferences, the purge (once per cluster), in one audit chain that every daemon appends to
// under the head row's lock, so that `treve audit verify` checks one chain however many
// daemons wrote it. Dispatching is for one daemon at a time until partitions are leased (the
// design's next step).
//
// One connection for writes, used by one thread at a time (the CommitQueue's writer), and a
// pool of connections for reads (`[store] pool_size` less one), each used by one reader at a
// time. A connection lost is opened again at its next use; until the server answers, every
// call fails as unavailable.
//
// A write transaction that makes deliveries due sends `NOTIFY treve, 'due'`, and one that
// changes a policy or a crisis `NOTIFY treve, 'policy'`, delivered to the other daemons when it
// commits (pg_peers.h).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/store/audit_record.h"
#include "daemon/store/dispatch_records.h"
#include "daemon/store/postgresql/pg_connection.h"
#include "daemon/store/store.h"

namespace treve::store {

struct PgOptions {
  pg::ConnectOptions connection;
  std::array<unsigned char, 32> pseudonym_key{};
  std::size_t readers = 1;  // connections for reads
  // A daemon (true) creates or migrates the schema and records its key's check; a command
  // (false) changes neither: it refuses a schema of another version, and a key whose check
  // differs from the one recorded.
  bool migrate = true;
};

class PgStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 2;

  // Connects, and creates or migrates the schema (one daemon at a time, under an advisory
  // lock); refuses a schema from a newer trêve.
  static Result<std::unique_ptr<PgStore>> open(const PgOptions& options);
  // The schema version of the database at `options`, without changing it (check-config): 0
  // for a database trêve never used.
  static Result<int> schema_version(const pg::ConnectOptions& options);

  Result<std::vector<AcceptResult>> accept(std::span<const NewEvent> events,
                                           policy::Instant now) override;
  void prepare(std::span<NewEvent> events) const override;
  Result<RetractResult> retract(std::string_view source, std::string_view id,
                                policy::Instant now) override;
  Result<std::optional<EventView>> find(std::string_view source, std::string_view id) override;
  Result<void> check() override;

  Result<std::vector<ReleasedDelivery>> release_due(policy::Instant now,
                                                    std::size_t limit) override;
  Result<void> record_outcomes(std::span<const DeliveryOutcome> outcomes,
                               policy::Instant now) override;
  Result<std::size_t> replay(std::span<const std::int64_t> seqs, policy::Instant now) override;
  std::int64_t last_ready_seq() const override { return ready_counter_; }
  Result<std::vector<DispatchItem>> ready(std::int64_t after_ready_seq, std::size_t limit) override;
  Result<std::vector<DispatchItem>> retrying(std::int64_t after_seq, std::size_t limit) override;
  Result<std::vector<DeliveryRow>> list(DeliveryState state, std::int64_t after_seq,
                                        std::size_t limit) override;
  Result<std::uint64_t> held_count() override;
  Result<std::optional<policy::Instant>> next_release() override;

  Result<bool> resolve(const Resolution& r, policy::Instant now) override;
  Result<void> postpone(std::int64_t row, policy::Instant next_attempt_at,
                        std::string_view error) override;
  Result<std::vector<AwaitingEvent>> awaiting(std::size_t limit) override;

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

  Result<bool> record_config(const ConfigChange& change, policy::Instant now) override;
  Result<SavePolicyResult> save_policy(const PolicyVersion& v,
                                       std::optional<std::int64_t> expected_version,
                                       policy::Instant now) override;
  Result<void> record_refusal(const AccessRefusal& r, policy::Instant now) override;
  Result<std::vector<PolicyVersion>> current_policies() override;
  Result<std::vector<PolicyVersion>> policy_versions(std::string_view uai) override;
  Result<std::vector<std::pair<policy::Category, std::uint64_t>>> held_by_category(
      std::string_view uai) override;
  Result<std::optional<policy::Instant>> next_release_of(std::string_view uai) override;

  Result<std::size_t> replan(std::span<const Replan> changes, policy::Instant now) override;
  Result<std::vector<std::int64_t>> held_event_rows() override;
  Result<std::vector<HeldEvent>> held_events(std::span<const std::int64_t> rows) override;

  Result<PurgeResult> purge(const PurgeLimits& limits, policy::Instant now) override;
  Result<StoreStats> stats() override;

  std::int64_t next_audit_seq() const override;
  void log_head() const override;
  void log_heads_every(std::int64_t every) override { head_log_every_ = every; }

  // The dispatch lease (docs/design/postgresql.md), on the connection `c` (the peers' own, so
  // that neither a long write transaction nor a busy read pool delays it): true when `owner`
  // holds it after the call, taken because it was free or had lapsed, or renewed because
  // `owner` held it; it lapses `ttl` after this call, by the database server's clock, unless
  // renewed.
  static Result<bool> hold_lease(pg::Connection& c, std::string_view owner,
                                 std::chrono::milliseconds ttl);
  // Gives the lease up if `owner` holds it (a daemon that stops), so that another takes it at
  // once.
  static Result<void> drop_lease(pg::Connection& c, std::string_view owner);

  // The hash of the last audit record (kGenesisHash when there is none), as of this daemon's
  // last write.
  std::string audit_head() const { return head_; }
  // The recipient's partition: the first byte of SHA-256(source "\n" recipient). The unit a
  // daemon owns when several dispatch (docs/design/postgresql.md).
  static int partition_of(std::string_view source, std::string_view recipient);

 private:
  PgStore(std::unique_ptr<pg::Connection> writer, std::array<unsigned char, 32> key);

  // Runs `body` in a write transaction that first locks the audit head row (the chain's last
  // seq and hash, the ready counter), so that the daemons sharing the database append one
  // record at a time to one chain; the row is written back before the commit. Reconnects a
  // lost connection first. On any error: rollback, nothing of the body stays.
  template <typename T, typename Body>
  Result<T> transaction(Body&& body);
  void append_audit(AuditRecord r);
  Result<void> flush_audit();
  // The deliveries of a group of events, inserted together once the group is read, and the
  // earliest release instant of the held ones (stored before, and in the group).
  struct DeliveryRows {
    DeliveryRows();
    pg::MultiRow insert;
    std::optional<policy::Instant> earliest_stored_held;
    policy::Instant earliest_new_held = policy::Instant::max();
  };
  // Whether held deliveries whose release instant is at or before `at` are still held.
  Result<bool> release_under_way(DeliveryRows& rows, policy::Instant at);
  Result<void> store_deliveries(DeliveryRows& rows, std::int64_t event_row, DeliveryRef ref,
                                std::span<const NewDelivery> deliveries, policy::Instant at,
                                const date::time_zone* zone, const std::string& at_local);
  // A connection of the read pool, for one reader at a time: waits for one to be free, and
  // reconnects it if it was lost.
  struct Reader {
    std::unique_ptr<pg::Connection> connection;
    Pseudonymizer pseudonyms;
  };
  class ReaderLease {
   public:
    ReaderLease(PgStore* store, Reader* reader) : store_(store), reader_(reader) {}
    ReaderLease(ReaderLease&& o) noexcept : store_(o.store_), reader_(o.reader_) {
      o.reader_ = nullptr;
    }
    ReaderLease& operator=(ReaderLease&&) = delete;
    ~ReaderLease();
    pg::Connection* operator->() const { return reader_->connection.get(); }
    pg::Connection& operator*() const { return *reader_->connection; }
    const Pseudonymizer& pseudonyms() const { return reader_->pseudonyms; }

   private:
    PgStore* store_;
    Reader* reader_;
  };
  Result<ReaderLease> reader();
  // A due or retrying delivery held again (false when it no longer was), with its record.
  Result<bool> record_held_again(const DeliveryOutcome& o, policy::Instant now);
  // The same without the record.
  Result<bool> hold_again(const DeliveryOutcome& o, policy::Instant now);
  Result<void> hold_followers(const HeldAgain& held, policy::Instant now);
  Result<void> record_run(std::span<const DeliveryOutcome> outcomes, std::size_t from,
                          std::size_t to, HeldAgain& held, policy::Instant now);
  Result<bool> move_held(const Replan& c, policy::Instant now);
  // Runs a DispatchItem query with ($1 after, $2 limit) on the reader.
  Result<std::vector<DispatchItem>> dispatch_items(std::string_view sql, std::int64_t after,
                                                   std::size_t limit);

  // Checks that the store's records were made with this daemon's pseudonym key (its first
  // daemon writes a keyed digest of it in `meta`).
  Result<void> check_key(bool record);

  std::unique_ptr<pg::Connection> writer_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::mutex reader_mutex_;
  std::condition_variable reader_free_;
  std::vector<Reader*> idle_readers_;  // under reader_mutex_
  Pseudonymizer pseudonyms_;           // the writer's
  mutable std::mutex prepare_mutex_;
  Pseudonymizer prepare_pseudonyms_;  // prepare()'s, under prepare_mutex_
  // Inside a write transaction: the chain as locked, and the records appended, written in one
  // statement before the head row.
  std::int64_t next_audit_seq_ = 1;
  std::string head_{kGenesisHash};
  std::int64_t ready_counter_ = 0;
  std::int64_t events_added_ = 0;
  std::vector<AuditRecord> pending_audit_;
  bool notify_policy_ = false;  // the transaction changes a policy or a crisis
  // The last write failed for a full disk or an I/O error on the server (SQLSTATE 53100,
  // 58030), until a write succeeds: check() fails meanwhile, so /healthz answers 503.
  void note_write(const StoreError* failure);
  mutable std::mutex write_failure_mutex_;
  std::optional<std::string> write_failure_;
  std::int64_t head_log_every_ = 0;
  // The chain as of this daemon's last commit, for log_head() from any thread.
  mutable std::mutex head_mutex_;
  std::int64_t logged_seq_ = 0;
  std::string logged_hash_;
};

}  // namespace treve::store
