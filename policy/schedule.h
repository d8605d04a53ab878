// The compiled quiet calendar of one establishment: "is this instant quiet, and until when?"
//
// Rules are compiled into sorted UTC intervals for a horizon of years (precomputed
// transitions, a binary search per question). Instants outside the horizon are answered by
// generating the intervals around them on the fly, with the same code, so the answer never
// depends on the horizon, only its cost does. A Schedule is immutable after construction and
// safe to share between threads.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/establishment_rules.h"
#include "policy/quiet_interval.h"

namespace treve::policy {

struct Horizon {
  int first_year = 2020;
  int last_year = 2045;
  // No year precompiled (last before first): every question generates the intervals around
  // it. For small schedules built per recipient (policy/personal_hours.h).
  static constexpr Horizon none() { return {1, 0}; }
};

// One source of quiet time (weekly windows, or closed days) for one time zone.
class QuietLayer {
 public:
  QuietLayer(const date::time_zone* zone, Horizon horizon) : zone_(zone), horizon_(horizon) {}
  virtual ~QuietLayer() = default;
  QuietLayer(const QuietLayer&) = delete;
  QuietLayer& operator=(const QuietLayer&) = delete;

  // Pieces of quiet time whose start falls on a local date in [from, to), in UTC.
  virtual std::vector<QuietPiece> generate(LocalDate from, LocalDate to) const = 0;

  // Compiles the horizon. Called once by the owner right after construction.
  void compile();

  // The merged quiet interval containing t, if any. `scratch` holds intervals generated for
  // instants outside the horizon; the returned pieces may point into it.
  const QuietIntervalSet::Hit* find(std::int64_t t_ms, QuietIntervalSet::Hit& out,
                                    QuietIntervalSet& scratch) const;

  const date::time_zone* zone() const { return zone_; }
  const QuietIntervalSet& compiled() const { return compiled_; }

 protected:
  // Local wall time to UTC: a time in a spring gap resolves to the first instant after the
  // gap, an ambiguous autumn time to the earlier instant (DESIGN.md rule 2).
  std::int64_t to_utc(date::local_seconds local) const;

 private:
  const date::time_zone* zone_;
  Horizon horizon_;
  QuietIntervalSet compiled_;
  std::int64_t fast_from_ms_ = 0;
  std::int64_t fast_to_ms_ = 0;
};

class WindowLayer final : public QuietLayer {
 public:
  // `indices[i]` is the index causes give for windows[i] (its place in the establishment's
  // list, when the layer holds some of them only); empty: i itself.
  WindowLayer(const date::time_zone* zone, std::vector<QuietWindow> windows, Horizon horizon,
              std::vector<std::uint16_t> indices = {});
  std::vector<QuietPiece> generate(LocalDate from, LocalDate to) const override;
  const std::vector<QuietWindow>& windows() const { return windows_; }
  const std::vector<std::uint16_t>& indices() const { return indices_; }

 private:
  std::vector<QuietWindow> windows_;
  std::vector<std::uint16_t> indices_;
};

class ClosedDayLayer final : public QuietLayer {
 public:
  ClosedDayLayer(const date::time_zone* zone, Region region, bool public_holidays,
                 std::vector<ClosedDays> closed, Horizon horizon);
  std::vector<QuietPiece> generate(LocalDate from, LocalDate to) const override;

 private:
  Region region_;
  bool public_holidays_;
  std::vector<ClosedDays> closed_;
};

// The causes that kept a notification quiet, in time order. Holds the first kMax; `total`
// counts all of them.
struct QuietChain {
  static constexpr std::size_t kMax = 6;
  std::array<QuietCause, kMax> causes{};
  std::size_t size = 0;
  std::size_t total = 0;
  void add(const QuietCause& c);
};

struct Release {
  bool evaluated = true;  // false: the policy could not be evaluated (fail closed)
  Instant at;             // the first open instant at or after the question
  QuietChain chain;       // why, when at > question
};

class Schedule {
 public:
  Schedule(std::shared_ptr<const WindowLayer> windows,
           std::shared_ptr<const ClosedDayLayer> closed);

  // The first instant at or after t that is in no quiet interval. Searches at most
  // kSearchLimit ahead; beyond that the result is not evaluated (fail closed).
  Release next_open(Instant t) const;
  // Quiet when held at t; a schedule that cannot be evaluated is quiet (fail closed).
  bool is_quiet(Instant t) const {
    Release r = next_open(t);
    return !r.evaluated || r.at != t;
  }

  // Merged quiet intervals (both layers) overlapping [from, to), for previews.
  std::vector<std::pair<Instant, Instant>> quiet_intervals(Instant from, Instant to) const;

  const date::time_zone* zone() const { return windows_->zone(); }

  static constexpr std::chrono::days kSearchLimit{366 * 5};

 private:
  std::shared_ptr<const WindowLayer> windows_;
  std::shared_ptr<const ClosedDayLayer> closed_;
};

}  // namespace treve::policy
