// What the parts of PgStore share (pg_schema.cpp, pg_ingest.cpp): the write transaction.
// Private to daemon/store/postgresql/.
#pragma once

#include <exception>
#include <mutex>

#include <spdlog/spdlog.h>

#include "daemon/store/postgresql/pg_store.h"

namespace treve::store {

template <typename T, typename Body>
Result<T> PgStore::transaction(Body&& body) {
  if (!writer_->ok()) {
    if (auto r = writer_->reconnect(); !r)
      return std::unexpected(r.error());
  }
  const std::int64_t saved_seq = next_audit_seq_;
  const std::string saved_head = head_;
  const std::int64_t saved_ready = ready_counter_;
  pending_audit_.clear();
  events_added_ = 0;
  Result<T> result = std::unexpected(StoreError{});
  try {
    result = [&]() -> Result<T> {
      if (auto b = writer_->exec("BEGIN"); !b)
        return std::unexpected(b.error());
      // The head row, locked until the commit: every daemon's audited writes queue here.
      auto h = writer_->exec("SELECT seq, hash, ready_seq FROM audit_head FOR UPDATE");
      if (!h)
        return std::unexpected(h.error());
      if (h->empty())
        return std::unexpected(
            StoreError{StoreError::Kind::internal, "the audit head row is missing"});
      next_audit_seq_ = h->integer(0, 0) + 1;
      head_ = h->text(0, 1);
      ready_counter_ = h->integer(0, 2);
      const std::int64_t seq_before = next_audit_seq_;
      const std::int64_t ready_before = ready_counter_;
      Result<T> r = body();
      if (!r)
        return r;
      if (auto f = flush_audit(); !f)
        return std::unexpected(f.error());
      // Told to the other daemons at the commit (pg_peers.h): deliveries became due, or a
      // policy or crisis changed.
      if (ready_counter_ != ready_before) {
        if (auto n = writer_->exec("NOTIFY treve, 'due'"); !n)
          return std::unexpected(n.error());
      }
      if (notify_policy_) {
        if (auto n = writer_->exec("NOTIFY treve, 'policy'"); !n)
          return std::unexpected(n.error());
      }
      if (next_audit_seq_ != seq_before || ready_counter_ != ready_before || events_added_ != 0) {
        auto u = writer_->exec(
            "UPDATE audit_head SET seq = $1, hash = $2, ready_seq = $3, events = events + $4",
            {next_audit_seq_ - 1, head_, ready_counter_, events_added_});
        if (!u)
          return std::unexpected(u.error());
      }
      // With synchronous_commit on (set for the session), COMMIT returns once the WAL is
      // flushed. A connection lost during it leaves the outcome unknown: the caller answers
      // 503 and the connector's retry is told "repeated" if it had committed.
      if (auto c = writer_->exec("COMMIT"); !c)
        return std::unexpected(c.error());
      return r;
    }();
  } catch (const std::exception& e) {
    result = std::unexpected(StoreError{StoreError::Kind::internal, e.what()});
  }
  pending_audit_.clear();
  notify_policy_ = false;
  note_write(result ? nullptr : &result.error());
  if (result) {
    std::lock_guard lock(head_mutex_);
    const std::int64_t before = logged_seq_;
    logged_seq_ = next_audit_seq_ - 1;
    logged_hash_ = head_;
    if (head_log_every_ > 0 && before / head_log_every_ < logged_seq_ / head_log_every_)
      spdlog::info("event=audit.head seq={} hash={}", logged_seq_, logged_hash_);
  }
  if (!result) {
    if (writer_->ok() && writer_->in_transaction())
      (void)writer_->exec("ROLLBACK");
    next_audit_seq_ = saved_seq;
    head_ = saved_head;
    ready_counter_ = saved_ready;
  }
  return result;
}

}  // namespace treve::store
