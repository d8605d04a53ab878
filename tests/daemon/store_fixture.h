// What the store's tests share: a temporary directory for real SQLite files, and instants
// written as RFC 3339.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>

#include "daemon/store/store.h"
#include "policy/rfc3339.h"

namespace treve::store::testing {

inline policy::Instant at(std::string_view s) {
  return *policy::parse_rfc3339(s);
}

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("treve-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string db() const { return file("treve.db"); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline std::atomic<int> counter_{0};
  std::filesystem::path path_;
};

// What the dispatcher reports of one attempt at `d`: delivered (200), or failed (503) with
// the next attempt two seconds later.
inline DeliveryOutcome outcome_for(const DispatchItem& d, DeliveryOutcome::Kind kind,
                                   policy::Instant attempted_at) {
  DeliveryOutcome o;
  o.kind = kind;
  o.ref = d.ref;
  o.sink = "push";
  o.webhook_id = "dlv_x";
  o.attempts = d.attempts + 1;
  o.status = kind == DeliveryOutcome::Kind::delivered ? 200 : 503;
  o.error = kind == DeliveryOutcome::Kind::delivered ? "" : "HTTP 503";
  o.first_attempt_at = attempted_at;
  o.next_attempt_at = attempted_at + std::chrono::seconds{2};
  return o;
}

}  // namespace treve::store::testing
