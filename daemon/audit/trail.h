// Read-only access to the audit trail of a store: the daemon's live SQLite database or an
// auditor's copy of it, or a shared PostgreSQL store. Everything is read inside one read
// transaction, so that a trail still being written by running daemons is seen as it was when
// the Trail was opened, and the daemons are never blocked (WAL readers do not block the
// writer; a PostgreSQL snapshot blocks nobody).
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

#include "daemon/config/config.h"
#include "daemon/store/audit_record.h"

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
  // Opens the SQLite database at `path` read-only. The error names the file and what is wrong.
  static Expected<std::unique_ptr<Trail>> open(const std::string& path);
  // Opens the trail of the PostgreSQL store at `url` (a libpq connection string; `password`:
  // empty for the URL's, PGPASSFILE's or ~/.pgpass's). The error says what is wrong.
  static Expected<std::unique_ptr<Trail>> open_postgresql(const std::string& url,
                                                          const std::string& password = {});
  // The trail of the store `config` names ([store] backend): the SQLite file in its state
  // directory, or the PostgreSQL database.
  static Expected<std::unique_ptr<Trail>> open_configured(const config::Config& config);
  virtual ~Trail() = default;
  Trail(const Trail&) = delete;
  Trail& operator=(const Trail&) = delete;

  // What was opened: the file, or the database (without its password).
  const std::string& path() const { return path_; }

  virtual Expected<Range> range() = 0;
  // Calls `each` for the records `filter` takes, in sequence order, until it returns false.
  virtual Expected<void> scan(const Filter& filter,
                              const std::function<bool(const store::AuditRecord&)>& each) = 0;
  // The sequence number of the record whose hash is `hash` (a full scan; for diagnoses).
  virtual Expected<std::optional<std::int64_t>> seq_of_hash(std::string_view hash) = 0;
  virtual Expected<std::vector<Checkpoint>> checkpoints() = 0;
  // The connectors named in the trail.
  virtual Expected<std::vector<std::string>> sources() = 0;
  virtual Expected<std::vector<Count>> counts(const Filter& filter) = 0;

 protected:
  explicit Trail(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

// What the readers share: a `checkpoint` record's detail read back (nullopt for a detail that
// is not its JSON: an edited record, which the chain check names), and the filter as SQL,
// with `?` placeholders (SQLite) or `$n` from `first` (PostgreSQL), and its values in order.
std::optional<Checkpoint> read_checkpoint(std::int64_t seq, std::string_view detail,
                                          std::string hash);
struct FilterSql {
  std::string where;  // " WHERE seq >= … AND …"
  // After from_seq, from_ms and to_ms: the lists' values (establishments, kinds, recipients,
  // categories), in the placeholders' order.
  std::vector<std::string> values;
};
FilterSql filter_sql(const Filter& f, bool numbered);
// The columns of a record, in AuditRecord's order.
inline constexpr const char* kRecordColumns =
    "seq, at, at_local, kind, source, event_id, establishment, category, recipient, role, "
    "detail, prev_hash, hash";

// The names of record kinds, as written in the `kind` column.
const std::vector<std::string_view>& record_kinds();

}  // namespace treve::audit
