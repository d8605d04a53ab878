// What the parts of SqliteStore share (sqlite_schema.cpp, sqlite_ingest.cpp,
// sqlite_dispatch.cpp, sqlite_policies.cpp, sqlite_maintenance.cpp, sqlite_store.cpp): the
// prepared statements, the builder of an audit record's detail, the write transaction.
// Private to daemon/store/: never included outside it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <date/tz.h>

#include "daemon/store/ingest_records.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_util.h"
#include "policy/rfc3339.h"

namespace treve::store {

// The instant a one-row aggregate (`SELECT min(release_at) …`) answers in its first column, if
// any: none for an empty set.
inline Result<std::optional<policy::Instant>> optional_instant(Statement& q, sqlite3* db) {
  const int rc = q.step();
  if (rc == SQLITE_ROW && !q.is_null(0))
    return std::optional{ms_instant(q.integer(0))};
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return std::unexpected(error_of(db, rc, "read"));
  return std::optional<policy::Instant>{};
}

// The statements prepared once when the store opens (sqlite_schema.cpp): `w` on the writer,
// `r` on the reader.
struct SqliteStore::Statements {
  explicit Statements(sqlite3* w, sqlite3* r);

  Statement find_event, insert_event, insert_delivery, insert_audit, event_for_write,
      deliveries_for_write, set_state, release, outcome, hold_again, pending_of_recipients,
      replay_one, dead_for_replay, audit_head, get_ready_counter, set_ready_counter, due, overdue,
      overdue_of_recipients;
  Statement read_event, read_deliveries, add_events, count_events, count_state, next_release,
      count_audit, count_held, ready, retrying, list;
  Statement replan_one;
  Statement held_rows, held_event, held_of_event;
};

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

}  // namespace treve::store
