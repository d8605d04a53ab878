// The maintenance role of the store: retention (purge) and the counts an operator looks at.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "daemon/store/store_types.h"
#include "policy/instant.h"

namespace treve::store {

struct StoreStats {
  std::uint64_t events = 0;
  std::uint64_t held = 0;
  std::uint64_t due = 0;
  std::optional<policy::Instant> next_release;  // earliest release instant of a held delivery
  std::uint64_t audit_records = 0;
};

// What a purge removes (docs/audit.md, Retention).
struct PurgeLimits {
  policy::Instant audit_before;   // audit records older than this (a leading run of them)
  policy::Instant events_before;  // event bodies older than this, once nothing is left to send
  std::size_t max_rows = 20'000;  // per call, of each: a purge never holds the writer long
};

struct PurgeResult {
  std::int64_t audit_records = 0;  // removed
  std::int64_t purged_through = 0;
  std::int64_t checkpoint_seq = 0;  // the checkpoint record written, if records were removed
  std::string checkpoint_hash;
  std::int64_t bodies = 0;      // event bodies removed
  std::int64_t events = 0;      // whole events (and their deliveries) removed
  std::int64_t deliveries = 0;  // deliveries removed with them
  bool more = false;            // a limit was reached: call again
};

class MaintenanceStore {
 public:
  virtual ~MaintenanceStore() = default;

  // Removes old audit records (writing a `checkpoint` record that carries the hash the
  // remaining chain continues from), the bodies of old events that have nothing left to
  // send, and events with all their deliveries once older than the audit retention (a
  // `purged` record counts them).
  virtual Result<PurgeResult> purge(const PurgeLimits& limits, policy::Instant now) = 0;

  // Counts of events, held and due deliveries and audit records. Any thread.
  virtual Result<StoreStats> stats() = 0;

  // Gives back the memory the store keeps only to go faster (its page caches) once it has
  // been idle for a while: a night of held deliveries then costs no cache memory. Called on
  // the writer thread; the next write reads back what it needs.
  virtual void release_memory() {}
};

}  // namespace treve::store
