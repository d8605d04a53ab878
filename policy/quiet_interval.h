// Quiet intervals in UTC and the reason each one exists.
//
// A `QuietPiece` is one occurrence of one rule (a window on a given night, a holiday, a closed
// range) converted to UTC. A `QuietIntervalSet` merges overlapping and touching pieces and
// answers "is this instant quiet, and until when" with a binary search.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "policy/holidays.h"
#include "policy/instant.h"

namespace treve::policy {

// Why a piece of time is quiet. Eight bytes, so decisions carry them without allocating.
struct QuietCause {
  enum class Kind : std::uint8_t { window, holiday, closed };
  Kind kind = Kind::window;
  HolidayKind holiday = HolidayKind::new_year;  // Kind::holiday
  std::uint16_t index = 0;     // Kind::window: window index; Kind::closed: closed-range index
  std::int32_t local_day = 0;  // the local date the occurrence starts on (days since 1970-01-01)

  friend bool operator==(const QuietCause&, const QuietCause&) = default;
};

struct QuietPiece {
  std::int64_t start = 0;  // UTC seconds since the epoch, inclusive
  std::int64_t end = 0;    // exclusive
  QuietCause cause;
};

class QuietIntervalSet {
 public:
  QuietIntervalSet() = default;
  // Takes pieces in any order; empty pieces are dropped.
  explicit QuietIntervalSet(std::vector<QuietPiece> pieces);

  struct Hit {
    std::int64_t end = 0;                // end of the merged quiet interval containing the instant
    std::span<const QuietPiece> pieces;  // the pieces that make it up, by start
  };
  // The merged interval containing `t_ms` (milliseconds since the epoch), if any.
  const Hit* find(std::int64_t t_ms, Hit& out) const;

  std::span<const QuietPiece> pieces() const { return pieces_; }
  std::size_t merged_count() const { return merged_.size(); }
  // Merged intervals overlapping [from_s, to_s), as (start, end) pairs in seconds.
  std::vector<std::pair<std::int64_t, std::int64_t>> merged_between(std::int64_t from_s,
                                                                    std::int64_t to_s) const;

 private:
  struct Merged {
    std::int64_t start;
    std::int64_t end;
    std::uint32_t first_piece;
    std::uint32_t piece_count;
  };
  std::vector<QuietPiece> pieces_;
  std::vector<Merged> merged_;
  // day_index_[k]: the first merged interval ending after the start of UTC day (first_day_ + k),
  // so that `find` is one lookup and a short scan instead of a binary search.
  std::int64_t first_day_ = 0;
  std::vector<std::uint32_t> day_index_;
};

}  // namespace treve::policy
