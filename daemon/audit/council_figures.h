// The figures of the report to the conseil d'administration (CA) of one establishment over a
// period, counted from its audit records: what was held and when it was received, how long
// holds lasted, how deliveries ended, grades released to parents after students, late
// homework and crises. Counts and durations only: no pseudonym, event id, title or free text
// of a record ever reaches a figure, so nothing in them names a person.
//
// A pure computation: CouncilTally is given records one by one (in sequence order, as
// Trail::scan reads them) and says the figures; it reads no clock and no store. Not
// thread-safe; one per report.
//
// Which events count: those whose `received` record (for an event that waited for its
// directory, its `resolved` record) is in [from_ms, to_ms). Their later
// records (holds, releases, deliveries) count wherever they are, even after the period's end,
// so the caller passes the establishment's records from `from_ms` to the end of the trail.
// Crises count when opened in the period. docs/audit.md gives the definitions.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <date/tz.h>

#include "daemon/store/audit_record.h"

namespace treve::audit {

struct CouncilScope {
  std::string establishment;              // UAI
  const date::time_zone* zone = nullptr;  // the establishment's: local hours and days
  std::int64_t from_ms = 0;               // inclusive
  std::int64_t to_ms = 0;                 // exclusive
};

// When an event counts as sent "in the evening" or "at the weekend", by the local wall time of
// its receipt (mutually exclusive; the default quiet windows):
//   weekend: Friday 20:00 to Monday 07:00;
//   evening: 20:00 to 07:00 on the other nights (Monday evening to Friday morning).
enum class ReceiptTime { daytime, evening, weekend };
ReceiptTime receipt_time(const date::local_time<std::chrono::milliseconds>& local);

struct CrisisFigure {
  std::int64_t opened_ms = 0;
  std::int64_t ended_ms = 0;  // closed; or, while still open, its planned end
  bool ongoing = false;       // not closed at the end of the records
  bool by_expiry = false;     // ended by itself at its planned end
  int extensions = 0;
  std::vector<std::string> categories;
  std::int64_t duration_ms() const { return ended_ms - opened_ms; }
};

struct CouncilFigures {
  CouncilScope scope;
  std::int64_t events = 0;      // received in the period
  std::int64_t deliveries = 0;  // decided for them: held, sent at once or urgent bypasses
  std::int64_t held = 0;
  std::int64_t bypassed = 0;
  std::int64_t retracted = 0;  // held, then withdrawn by their connector
  // Per category: deliveries decided and held.
  std::map<std::string, std::int64_t> deliveries_by_category;
  std::map<std::string, std::int64_t> held_by_category;
  // By local hour of receipt (0-23): events received, deliveries held.
  std::array<std::int64_t, 24> events_by_hour{};
  std::array<std::int64_t, 24> held_by_hour{};
  std::int64_t events_evening = 0;
  std::int64_t events_weekend = 0;
  // Holds: release instant minus receipt, over held deliveries with a release instant (the
  // `released` record's, else the last planned `until`); retracted ones and holds without an
  // instant (policy not evaluated) are not measured.
  std::int64_t holds_measured = 0;
  std::optional<std::int64_t> median_hold_ms;
  std::optional<std::int64_t> longest_hold_ms;
  // Copies sent to sinks, by their last outcome.
  std::int64_t copies_delivered = 0;
  std::int64_t copies_dead = 0;
  std::int64_t copies_retrying = 0;
  std::int64_t copies_no_address = 0;
  std::int64_t copies() const {
    return copies_delivered + copies_dead + copies_retrying + copies_no_address;
  }
  // Grades to parents held after the student's release: how many, and the median time between
  // the student's release and the parent's (in the same event).
  std::int64_t parent_grades_held = 0;
  std::int64_t parent_grade_delays_measured = 0;
  std::optional<std::int64_t> median_parent_grade_delay_ms;
  // Homework events, and those flagged late (`"late_homework": true` on a delivery's record).
  std::int64_t homework_events = 0;
  std::int64_t late_homework_events = 0;
  // Crises opened in the period, in order, and the deliveries they sent at once.
  std::vector<CrisisFigure> crises;
  std::int64_t crisis_bypasses = 0;
  std::int64_t crisis_total_ms() const;
};

class CouncilTally {
 public:
  explicit CouncilTally(CouncilScope scope);
  // Records of other establishments, and those of events received outside the period, are
  // passed over.
  void add(const store::AuditRecord& r);
  CouncilFigures figures() const;

 private:
  struct Event {
    std::string category;
    std::int64_t received_ms = 0;
    bool late_homework = false;
  };
  struct Delivery {
    std::size_t event = 0;
    std::string role;
    bool held = false;
    bool decided = false;  // sent at once, bypassed, or released after its hold
    bool bypassed = false;
    bool retracted = false;
    std::optional<std::int64_t> until_ms;     // the last planned release
    std::optional<std::int64_t> released_ms;  // the release at the end of the hold
  };
  std::optional<std::int64_t> instant(const std::string& text) const;
  CouncilScope scope_;
  std::unordered_map<std::string, std::size_t> event_index_;  // source \n event id
  std::vector<Event> events_;
  std::unordered_map<std::string, std::size_t> delivery_index_;  // event \n recipient \n role
  std::vector<Delivery> deliveries_;
  // A copy is a delivery sent to one sink; its last outcome so far.
  enum class Outcome { delivered, retrying, dead, no_address };
  std::map<std::pair<std::size_t, std::string>, Outcome> copies_;
  std::map<std::int64_t, CrisisFigure> crises_;  // by crisis id
  std::int64_t crisis_bypasses_ = 0;
};

// Over a whole list of records.
CouncilFigures count_council_figures(const std::vector<store::AuditRecord>& records,
                                     const CouncilScope& scope);

// The median of `values` (the mean of the two middle ones for an even count); nullopt if empty.
std::optional<std::int64_t> median(std::vector<std::int64_t> values);

}  // namespace treve::audit
