// SqliteStore's audit chain (its head, appending a record, the record of one delivery), what
// every write transaction keeps up to date, and the names of delivery states.
#include "daemon/store/sqlite_store.h"

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

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
    case DeliveryState::no_address:
      return "no_address";
  }
  return "unknown";
}

std::optional<DeliveryState> parse_delivery_state(std::string_view s) {
  for (auto st : {DeliveryState::held, DeliveryState::due, DeliveryState::sending,
                  DeliveryState::retrying, DeliveryState::delivered, DeliveryState::dead,
                  DeliveryState::retracted, DeliveryState::no_address}) {
    if (to_string(st) == s)
      return st;
  }
  return std::nullopt;
}

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
                                         std::string detail, std::string pseudonym) const {
  if (pseudonym.empty())
    pseudonym = pseudonyms_.pseudonym(d.source, d.recipient);
  return store::delivery_record(d, kind, at, std::move(at_local), std::move(detail),
                                std::move(pseudonym));
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

void SqliteStore::log_head() const {
  if (next_audit_seq_ == 1)
    return;  // nothing written yet
  spdlog::info("event=audit.head seq={} hash={}", next_audit_seq_ - 1, head_);
}

}  // namespace treve::store
