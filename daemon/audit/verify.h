// Verification of the audit trail's hash chain (docs/audit.md gives the algorithm), and of
// the chain heads the daemon wrote to its log, which catch a consistent rewrite of the whole
// trail (a truncated or recomputed chain) that the chain alone cannot.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "daemon/audit/trail.h"

namespace treve::audit {

// A chain head as the daemon logs it: "event=audit.head seq=N hash=H", or the checkpoint a
// purge wrote: "event=audit.checkpoint seq=N hash=H purged_through=K".
struct LoggedHead {
  std::int64_t seq = 0;
  std::string hash;
  int line = 0;  // in the log given to verify
  bool checkpoint = false;
};

// The heads found in a log (the daemon's stderr, or `journalctl -u treve -o cat`); other
// lines are ignored.
std::vector<LoggedHead> parse_heads(std::istream& log);

struct Problem {
  enum class Kind {
    edited,      // a record's fields no longer give its hash, or it was rehashed
    missing,     // records were removed
    inserted,    // a record was added inside the chain
    reordered,   // records are out of their chained order
    truncated,   // the trail ends before a head the daemon logged
    rewritten,   // a logged head no longer matches: the chain was recomputed
    unanchored,  // the first record continues from nothing known (genesis or a checkpoint)
  };
  Kind kind = Kind::edited;
  std::int64_t seq = 0;  // the first bad record
  std::string message;
};

std::string_view to_string(Problem::Kind kind);

struct VerifyOptions {
  std::int64_t from_seq = 0;  // 0: from the first record, anchored at genesis or a checkpoint
  std::vector<LoggedHead> heads;
  // Called now and then with (records checked, records to check).
  std::function<void(std::int64_t, std::int64_t)> progress;
};

struct VerifyReport {
  std::int64_t records = 0;  // checked
  std::int64_t first_seq = 0;
  std::int64_t last_seq = 0;
  std::int64_t first_at_ms = 0;
  std::int64_t last_at_ms = 0;
  std::string head;    // hash of the last record checked
  std::string anchor;  // what the first record was checked against, for people
  std::size_t heads_matched = 0;
  // Logged heads of records before the first one checked (purged, or before --from).
  std::size_t heads_before = 0;
  std::optional<Problem> problem;
};

Expected<VerifyReport> verify(Trail& trail, const VerifyOptions& options);

}  // namespace treve::audit
