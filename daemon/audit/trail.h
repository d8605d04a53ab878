// Read-only access to the audit trail of a store: the daemon's live database or an auditor's
// copy. Everything is read inside one read transaction, so that a trail still being written
// by a running daemon is seen as it was when the Trail was opened, and the daemon is never
// blocked (WAL readers do not block the writer).
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/store/audit_record.h"

struct sqlite3;

namespace treve::audit {

template <typename T>
using Expected = std::expected<T, std::string>;

struct Range {
  std::int64_t count = 0;
  std::int64_t first_seq = 0;
  std::int64_t last_seq = 0;
  std::int64_t first_at_ms = 0;
  std::int64_t last_at_ms = 0;
};

// A `checkpoint` record: a purge removed records purged_from..purged_through, and the record
// after them was chained to `continues_from` (the hash of the last removed record).
struct Checkpoint {
  std::int64_t seq = 0;
  std::string hash;  // the checkpoint record's own hash
  std::int64_t purged_from = 0;
  std::int64_t purged_through = 0;
  std::string continues_from;
};

// Which records a query takes. Empty lists take everything.
struct Filter {
  std::int64_t from_seq = 0;
  std::int64_t from_ms = std::numeric_limits<std::int64_t>::min();  // inclusive
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();    // exclusive
  std::vector<std::string> establishments;
  std::vector<std::string> kinds;
  std::vector<std::string> recipients;  // pseudonyms
  std::vector<std::string> categories;
  // > 0: only the last `newest` records taken by the filter (still scanned in sequence order).
  std::int64_t newest = 0;
};

// Records counted by kind, category, establishment and local hour (00..23) of their instant.
// `released` records are split: `after_hold` is true for a release at the end of a hold.
struct Count {
  std::string kind;
  std::string category;
  std::string establishment;
  int hour = 0;
  bool after_hold = false;
  std::int64_t n = 0;
};

class Trail {
 public:
  // Opens the database read-only. The error names the file and what is wrong.
  static Expected<std::unique_ptr<Trail>> open(const std::string& path);
  ~Trail();
  Trail(const Trail&) = delete;
  Trail& operator=(const Trail&) = delete;

  const std::string& path() const { return path_; }

  Expected<Range> range();
  // Calls `each` for the records `filter` takes, in sequence order, until it returns false.
  Expected<void> scan(const Filter& filter,
                      const std::function<bool(const store::AuditRecord&)>& each);
  // The sequence number of the record whose hash is `hash` (a full scan; for diagnoses).
  Expected<std::optional<std::int64_t>> seq_of_hash(std::string_view hash);
  Expected<std::vector<Checkpoint>> checkpoints();
  // The connectors named in the trail.
  Expected<std::vector<std::string>> sources();
  Expected<std::vector<Count>> counts(const Filter& filter);

 private:
  Trail(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// The names of record kinds, as written in the `kind` column.
const std::vector<std::string_view>& record_kinds();

}  // namespace treve::audit
