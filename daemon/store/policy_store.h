// The policy role of the store: the policies edited through the admin API (every version
// kept), what the admin API shows of an establishment's held deliveries, and the records of
// who changed the configuration or was refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/store/store_types.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::store {

// A change of the configuration file, for the audit trail.
struct ConfigChange {
  std::string digest;  // SHA-256 of the file's bytes
  std::string file;
  std::string by;  // who or what made the change, as far as trêve can tell
  std::string on;  // what applied it: "start" or "reload"
};

// One version of an establishment's policy edited through the admin API.
struct PolicyVersion {
  std::string uai;
  std::int64_t version = 0;  // 1, 2, … per establishment; the highest is in force
  policy::Instant at;
  std::string author;               // the admin's name
  std::string comment;              // why, in the admin's words
  std::string document;             // the policy's JSON object (docs/admin-api.md)
  std::string digest;               // SHA-256 of `document`
  std::vector<std::string> weaker;  // why it is weaker than the national default (confirmed)
  std::int64_t rollback_of = 0;     // the version it restores, if a rollback
  // The establishment's time zone under this version: the record's local time. UTC if null.
  const date::time_zone* zone = nullptr;
};

struct SavePolicyResult {
  bool conflict = false;     // `expected_version` was not the current version: nothing saved
  std::int64_t version = 0;  // the version saved, or the current one on a conflict
};

// A request refused by the admin API (outside the admin's role or scope).
struct AccessRefusal {
  std::string admin;
  std::string role;
  std::string method;
  std::string path;
  std::string establishment;  // the UAI asked for, if any
  std::string reason;
  // That establishment's time zone: the record's local time. UTC if null (no establishment).
  const date::time_zone* zone = nullptr;
};

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;

  // Records a `config_changed` record when `change.digest` differs from the digest recorded
  // last (on a new store too, with `before` null: the trail says which configuration was in
  // force from the start). Returns whether a record was written.
  virtual Result<bool> record_config(const ConfigChange& change, policy::Instant now) = 0;

  // Saves `v` as the establishment's next version (v.version is ignored), with a
  // `policy_changed` record (author, version, comment, digests before and after, weaker,
  // rollback_of). With `expected_version` (0: none yet), saves only if it is the current one.
  virtual Result<SavePolicyResult> save_policy(const PolicyVersion& v,
                                               std::optional<std::int64_t> expected_version,
                                               policy::Instant now) = 0;
  // An `access_refused` record.
  virtual Result<void> record_refusal(const AccessRefusal& r, policy::Instant now) = 0;

  // Reads; any thread.
  // The version in force of every establishment edited through the admin API.
  virtual Result<std::vector<PolicyVersion>> current_policies() = 0;
  // Every version of one establishment's policy, newest first.
  virtual Result<std::vector<PolicyVersion>> policy_versions(std::string_view uai) = 0;
  // Held deliveries of one establishment by category.
  virtual Result<std::vector<std::pair<policy::Category, std::uint64_t>>> held_by_category(
      std::string_view uai) = 0;
  // The earliest release instant of one establishment's held deliveries, if any.
  virtual Result<std::optional<policy::Instant>> next_release_of(std::string_view uai) = 0;
};

}  // namespace treve::store
