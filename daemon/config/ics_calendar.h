// School closed days read from an iCalendar (.ics) file, such as the Ministry's school-holiday
// calendars (one all-day VEVENT per holiday).
//
// Only whole-day events count: a VEVENT whose DTSTART is a DATE. DTEND is exclusive (RFC 5545),
// DURATION is honoured, an event with neither lasts one day, RRULE/RDATE/EXDATE are expanded
// (bounded, see ics_calendar.cpp) and STATUS:CANCELLED events are skipped. Timed events and
// events libical could not make sense of are ignored with a warning. The parsing itself is
// libical's; this header keeps libical out of its includers.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>

#include "daemon/config/diagnostic.h"

namespace treve::config {

struct ClosedRange {  // inclusive local dates
  date::year_month_day first;
  date::year_month_day last;
  std::string label;  // the event SUMMARY, or "closed day" when absent
};

struct IcsImport {
  std::vector<ClosedRange> ranges;  // sorted by first (then last, then label)
  // What was ignored, and why (codes ics.*); in English, e.g. "line 12: event \"Réunion\" has a
  // time, not a whole day: ignored". Not prefixed with the file name.
  std::vector<Diagnostic> warnings;
};

// Reads the all-day events of an iCalendar file as closed ranges. Errors (codes ics.*), in
// English: "cannot read FILE: reason", "FILE: not an iCalendar file (no VCALENDAR)", "FILE:
// malformed iCalendar file: ...", "FILE: line N: event \"X\": DTEND 2026-10-01 is before DTSTART
// 2026-10-17". A diagnostic's file, line and key are left empty: the message names the calendar.
std::expected<IcsImport, Diagnostic> read_ics_closed_days(const std::string& path);

// The same, from the text of a file; the errors are not prefixed with a file name.
std::expected<IcsImport, Diagnostic> parse_ics_closed_days(std::string_view text);

}  // namespace treve::config
