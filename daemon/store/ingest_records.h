// What every backend of the store writes the same way into the audit trail: the detail of a
// record (a small JSON object), instants as milliseconds, and the records of an event as it is
// accepted (its own, then each copy's first). The SQLite and PostgreSQL backends both chain
// exactly these records, so that the trail reads the same whichever store made it.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <date/tz.h>

#include "daemon/core/json_text.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/awaiting_store.h"
#include "daemon/store/ingest_store.h"
#include "policy/rfc3339.h"

namespace treve::store {

inline policy::Instant ms_instant(std::int64_t ms) {
  return policy::Instant{std::chrono::milliseconds{ms}};
}
inline std::int64_t instant_ms(policy::Instant t) {
  return t.time_since_epoch().count();
}

// The `detail` of an audit record: a small JSON object, built directly (this runs for every
// record, on the writer thread).
class Detail {
 public:
  Detail& add(std::string_view key, std::string_view value) {
    open(key);
    core::append_json_string(text_, value);
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
    core::append_json_string(text_, key);
    text_ += ':';
  }
  std::string text_ = "{";
};

// The kind of a new delivery's first audit record: bypassed, held or released.
std::string_view first_record_kind(const NewDelivery& d);
// Its detail (without the copy's sink, which delivery_record puts first).
std::string first_record_detail(std::string_view source, const NewDelivery& d,
                                const date::time_zone* zone);
// The detail of a delivery decided "now" but stored held behind the release under way.
std::string behind_release_detail(std::string_view source, const NewDelivery& d,
                                  const date::time_zone* zone);

// The records of the event itself as it is accepted (no recipient): received, then
// bypass_refused when an urgent bypass was refused, then awaiting_directory when it waits for
// its directory. `at_local`: its reception instant in its establishment's zone.
std::vector<AuditRecord> event_records(const NewEvent& e, const std::string& at_local);

// The records of an awaiting event given its deliveries by the directory's answer, at `now`
// in `zone` (the establishment's): `resolved`, then bypass_refused when an urgent bypass was
// refused. `attempts`: the lookups that failed before.
std::vector<AuditRecord> resolved_records(const Resolution& r, int attempts, policy::Instant now,
                                          const date::time_zone* zone);

// The record of a change of one recipient's own quiet hours (preferences_set, _deleted,
// _purged): no establishment (they apply in every one), local time in UTC.
AuditRecord preference_record(std::string_view kind, std::string_view source,
                              std::string_view pseudonym, policy::Instant now, std::string detail);

// The record of one delivery: who and where from `d` (the recipient as `pseudonym`), `kind`,
// the instant (`at_local` in the establishment's zone) and `detail`, the copy's sink first.
AuditRecord delivery_record(const DeliveryRef& d, std::string_view kind, policy::Instant at,
                            std::string at_local, std::string detail, std::string pseudonym);

// IngestStore::prepare for any backend: local times, details and pseudonyms, computed with
// `pseudonyms` under `mutex` (held per pseudonym, so a batch never holds up a single event).
void prepare_events(std::span<NewEvent> events, const Pseudonymizer& pseudonyms, std::mutex& mutex);

// The users an event waits for, as stored (a JSON array of ids), and read back (nothing for a
// text that is not one).
std::string users_text(std::span<const std::string> users);
std::vector<std::string> users_of(std::string_view text);

}  // namespace treve::store
