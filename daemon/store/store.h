// The durable store: events, their deliveries (one per recipient) and the audit trail.
//
// Every method that changes state does so in one transaction together with the audit records
// that describe the change, and returns only once that transaction is durable. Writes are
// made by one thread at a time (the CommitQueue's writer); reads may come from any thread
// concurrently with writes. Expected failures (disk full, read-only, I/O errors) are returned
// as StoreError values; nothing partially written stays behind.
//
// The store is used through role interfaces, each in its own header, so that each part of the
// daemon takes only the role it needs and a second backend (a shared PostgreSQL where several
// daemons claim due deliveries with SKIP LOCKED) implements the same roles:
//   IngestStore       (ingest_store.h)       accept, retract, find, check
//   DispatchStore     (dispatch_store.h)     release_due, ready, retrying, record_outcomes,
//                                            replay, list, held_count, next_release
//   PolicyStore       (policy_store.h)       policy versions, config and refusal records,
//                                            an establishment's held deliveries
//   ReplanStore       (replan_store.h)       held events read back, replan
//   MaintenanceStore  (maintenance_store.h)  purge, stats
//   AwaitingStore     (awaiting_store.h)     events waiting for the directory: resolve,
//                                            postpone, awaiting
//   PreferenceStore   (preference_store.h)   recipients' own quiet hours
//   CrisisStore       (crisis_store.h)       crises: open, extend, close, expire, list
// `Store` is all of them: what a backend implements, what the composition root (app/) and the
// CommitQueue's writer hold.
#pragma once

#include <cstdint>

#include "daemon/store/awaiting_store.h"
#include "daemon/store/crisis_store.h"
#include "daemon/store/dispatch_store.h"
#include "daemon/store/ingest_store.h"
#include "daemon/store/maintenance_store.h"
#include "daemon/store/policy_store.h"
#include "daemon/store/preference_store.h"
#include "daemon/store/replan_store.h"
#include "daemon/store/store_types.h"

namespace treve::store {

class Store : public IngestStore,
              public DispatchStore,
              public PolicyStore,
              public ReplanStore,
              public MaintenanceStore,
              public AwaitingStore,
              public PreferenceStore,
              public CrisisStore {
 public:
  ~Store() override = default;

  // The audit chain's head as this store last wrote or read it, for the log: the next record's
  // seq; `event=audit.head seq=… hash=…` (nothing before the first record); and the same every
  // `every` records written (0: never), whichever daemon wrote them when several share the
  // store (each logged head is a point of the one chain).
  virtual std::int64_t next_audit_seq() const = 0;
  virtual void log_head() const = 0;
  virtual void log_heads_every(std::int64_t every) = 0;
};

}  // namespace treve::store
