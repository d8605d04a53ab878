// The crisis role of the store: crises opened by administrators for one establishment (while
// one is open, the notifications of the categories it covers are delivered at once; see
// docs/policy.md "Crisis mode"). Each opening, extension and closing is written with its audit
// record (`crisis_opened`, `crisis_extended`, `crisis_closed`) in one transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/tz.h>

#include "daemon/store/store_types.h"
#include "policy/establishment_rules.h"
#include "policy/instant.h"

namespace treve::store {

// A crisis as the store keeps it: the policy's view of it, and how it ended.
struct CrisisRecord {
  policy::Crisis crisis;  // `until`: the instant it ends (or ended) by itself
  std::optional<policy::Instant> closed_at;
  std::string closed_by;  // an administrator's name, or "expiry"
  bool open() const { return !closed_at.has_value(); }
};

// What an administrator opens.
struct NewCrisis {
  std::string uai;
  std::string reason;
  std::uint16_t categories = 0;  // bit = policy::Category
  bool release_held = false;
  policy::Instant until;
  std::string by;
  const date::time_zone* zone = nullptr;  // the establishment's: the record's local time
};

struct OpenCrisisResult {
  std::int64_t id = 0;    // the crisis opened, or, with `conflict`, the one already open
  bool conflict = false;  // the establishment already has an open crisis: nothing written
};

// The outcome of extending or closing a crisis.
enum class CrisisChange : std::uint8_t {
  done,
  unknown,  // no such crisis for this establishment
  closed,   // it is closed already: nothing written
};

// The establishment's time zone, for the local time of records the store writes on its own.
using ZoneOf = std::function<const date::time_zone*(std::string_view uai)>;

class CrisisStore {
 public:
  virtual ~CrisisStore() = default;

  // Writes; on the writer (CommitQueue).
  virtual Result<OpenCrisisResult> open_crisis(const NewCrisis& c, policy::Instant now) = 0;
  // Moves the end of an open crisis to `until` (the caller checked it is later and allowed).
  virtual Result<CrisisChange> extend_crisis(std::string_view uai, std::int64_t id,
                                             policy::Instant until, std::string_view by,
                                             const date::time_zone* zone, policy::Instant now) = 0;
  // Closes an open crisis now, by an administrator.
  virtual Result<CrisisChange> close_crisis(std::string_view uai, std::int64_t id,
                                            std::string_view by, const date::time_zone* zone,
                                            policy::Instant now) = 0;
  // Closes, by "expiry", every open crisis whose end is not after `now`; their ids.
  virtual Result<std::vector<std::int64_t>> expire_crises(const ZoneOf& zone_of,
                                                          policy::Instant now) = 0;

  // Reads; any thread.
  // Every open crisis, by id.
  virtual Result<std::vector<CrisisRecord>> open_crises() = 0;
  // One establishment's crises, newest first, at most `limit`.
  virtual Result<std::vector<CrisisRecord>> crises_of(std::string_view uai, std::size_t limit) = 0;
};

// The policy's view of open crises, for the configuration in force.
std::vector<policy::Crisis> crises_in_force(const std::vector<CrisisRecord>& records);

}  // namespace treve::store
