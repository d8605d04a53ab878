#include "daemon/config/ics_calendar.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include <libical/ical.h>

namespace treve::config {
namespace {

// Recurrence expansion is bounded so that an endless RRULE stays finite: occurrences starting
// after the year 2100 are dropped, and one event yields at most 1000 occurrences, whichever bound
// is reached first. Only the occurrence cap is worth a warning (a yearly rule without an end
// reaching 2100 is normal; a daily one hitting 1000 occurrences is probably a mistake).
constexpr int kLastRecurrenceYear = 2100;
constexpr std::size_t kMaxOccurrences = 1000;

constexpr std::string_view kDefaultLabel = "closed day";

// RAII for the libical objects.
struct ComponentFree {
  void operator()(icalcomponent* c) const noexcept { icalcomponent_free(c); }
};
using ComponentPtr = std::unique_ptr<icalcomponent, ComponentFree>;

struct ParserFree {
  void operator()(icalparser* p) const noexcept { icalparser_free(p); }
};
using ParserPtr = std::unique_ptr<icalparser, ParserFree>;

struct RecurIteratorFree {
  void operator()(icalrecur_iterator* i) const noexcept { icalrecur_iterator_free(i); }
};
using RecurIteratorPtr = std::unique_ptr<icalrecur_iterator, RecurIteratorFree>;

struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileClose>;

// libical returns some strings (an error property's text, a value as text) in a ring of
// temporary buffers that belongs to the calling thread and keeps up to 2500 of them until it
// wraps: kept for the thread's life, they would hold on to copies of a whole calendar's text
// long after the parse. Each parse frees the ring when it ends, after everything it read was
// copied out.
struct RingRelease {
  RingRelease() = default;
  RingRelease(const RingRelease&) = delete;
  RingRelease& operator=(const RingRelease&) = delete;
  ~RingRelease() { icalmemory_free_ring(); }
};

// The input handed to libical's parser. libical's own icalparser_string_line_generator cannot be
// used here because its state struct is private; this one behaves the same: each call copies the
// next physical line (or, for a line longer than the buffer, its next size-1 bytes), and libical
// does the unfolding and the parsing.
struct TextCursor {
  std::string_view text;
  std::size_t pos = 0;
};

char* next_chunk(char* out, std::size_t size, void* data) {
  auto* cursor = static_cast<TextCursor*>(data);
  if (cursor->pos >= cursor->text.size() || size < 2)
    return nullptr;
  const std::string_view rest = cursor->text.substr(cursor->pos);
  std::size_t n = rest.find('\n');
  n = n == std::string_view::npos ? rest.size() : n + 1;
  n = std::min(n, size - 1);
  std::memcpy(out, rest.data(), n);
  out[n] = '\0';
  cursor->pos += n;
  return out;
}

// Parses the whole text with libical. Returns the root component (a VCALENDAR, an XROOT holding
// several top-level components, or whatever single component the text held), or null when libical
// found no complete component at all.
// An error about the calendar as a whole (no path: the caller adds it).
Diagnostic calendar_error(Code code) {
  return Diagnostic{.code = code, .args = {""}};
}

std::expected<ComponentPtr, Diagnostic> parse_root(std::string_view text) {
  // libical works on C strings: a NUL byte would silently cut the input short.
  if (text.find('\0') != std::string_view::npos) {
    return std::unexpected(calendar_error(Code::ics_nul_bytes));
  }
  // A UTF-8 byte order mark (common in files saved on Windows) would hide the first
  // BEGIN:VCALENDAR from libical's parser.
  if (text.starts_with("\xEF\xBB\xBF"))
    text.remove_prefix(3);
  ParserPtr parser(icalparser_new());
  if (!parser)
    return std::unexpected(calendar_error(Code::ics_no_parser));
  TextCursor cursor{text};
  icalparser_set_gen_data(parser.get(), &cursor);
  ComponentPtr root(icalparser_parse(parser.get(), next_chunk));
  // A component still open at the end of the input (a missing END:VEVENT or END:VCALENDAR) is
  // never returned by icalparser_parse: the whole unfinished VCALENDAR would silently vanish.
  // icalparser_clean closes such components and returns them; the parser keeps owning what it
  // returns (icalparser_free frees it), so it is only tested here, never freed.
  if (icalparser_clean(parser.get()) != nullptr) {
    return std::unexpected(calendar_error(Code::ics_unbalanced));
  }
  return root;
}

bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

// libical does not report line numbers. The physical lines reading BEGIN:VEVENT, in order, are
// the positions of the VEVENTs libical returns (also in document order); the caller uses them only
// when both counts agree.
std::vector<std::size_t> vevent_lines(std::string_view text) {
  std::vector<std::size_t> lines;
  std::size_t number = 1;
  for (std::size_t pos = 0; pos < text.size(); ++number) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (equals_ignoring_ascii_case(line, "BEGIN:VEVENT"))
      lines.push_back(number);
    pos = end + 1;
  }
  return lines;
}

std::optional<date::year_month_day> to_date(const icaltimetype& t) {
  if (icaltime_is_null_time(t) || t.month < 1 || t.month > 12 || t.day < 1 || t.day > 31) {
    return std::nullopt;
  }
  const date::year_month_day ymd{date::year{t.year}, date::month{static_cast<unsigned>(t.month)},
                                 date::day{static_cast<unsigned>(t.day)}};
  if (!ymd.ok())
    return std::nullopt;
  return ymd;
}

std::string iso(const icaltimetype& t) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d", t.year, t.month, t.day);
  return buffer;
}

std::string_view summary_of(icalcomponent* event) {
  const char* summary = icalcomponent_get_summary(event);
  return summary == nullptr ? std::string_view{} : std::string_view{summary};
}

std::string_view uid_of(icalcomponent* event) {
  const char* uid = icalcomponent_get_uid(event);
  return uid == nullptr ? std::string_view{} : std::string_view{uid};
}

bool has_recurrence_id(icalcomponent* event) {
  return icalcomponent_get_first_property(event, ICAL_RECURRENCEID_PROPERTY) != nullptr;
}

class Importer {
 public:
  // UID -> the dates of the occurrences that a separate VEVENT (with a RECURRENCE-ID) replaces,
  // or cancels when that VEVENT is itself STATUS:CANCELLED.
  void note_override(icalcomponent* event) {
    const std::string_view uid = uid_of(event);
    if (uid.empty())
      return;
    const icaltimetype id = icalcomponent_get_recurrenceid(event);
    if (const auto day = to_date(id))
      overridden_[std::string(uid)].insert(date::sys_days{*day});
  }

  // Adds the ranges of one VEVENT, the `position`-th (from 1) of the file, at `line` (0:
  // unknown).
  std::expected<void, Diagnostic> add_event(icalcomponent* event, std::size_t line,
                                            std::size_t position) {
    if (icalcomponent_get_status(event) == ICAL_STATUS_CANCELLED)
      return {};

    const std::string_view summary = summary_of(event);
    // The diagnostic `code` about this event, with the arguments after the event's own.
    const auto who = [&](Code code, std::vector<std::string> more = {}) {
      Diagnostic d{
          .code = code,
          .args = {"", std::to_string(line), std::to_string(position), std::string(summary)}};
      d.args.insert(d.args.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
      return d;
    };
    const auto warn = [&](Code code, std::vector<std::string> more = {}) {
      warnings_.push_back(who(code, std::move(more)));
    };

    icalproperty* start_prop = icalcomponent_get_first_property(event, ICAL_DTSTART_PROPERTY);
    const icaltimetype start =
        start_prop == nullptr ? icaltime_null_time() : icalproperty_get_dtstart(start_prop);
    if (start_prop != nullptr && !start.is_date) {
      warn(Code::ics_timed_event);
      return {};
    }
    // What libical had to drop while parsing this event (an unreadable DTEND, RRULE, ...).
    for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_XLICERROR_PROPERTY);
         p != nullptr; p = icalcomponent_get_next_property(event, ICAL_XLICERROR_PROPERTY)) {
      const char* message = icalproperty_get_xlicerror(p);
      warn(Code::ics_damaged, {message != nullptr ? message : "unknown libical error"});
    }
    if (start_prop == nullptr) {
      warn(Code::ics_no_dtstart);
      return {};
    }
    const auto first = to_date(start);
    if (!first) {
      warn(Code::ics_bad_dtstart, {iso(start)});
      return {};
    }

    const auto length = length_in_days(event, start, *first, who, warn);
    if (!length)
      return std::unexpected(length.error());
    if (*length == 0)
      return {};  // ignored, already warned about

    const std::set<date::sys_days> starts = occurrences(event, start, *first, warn);
    const std::string label = summary.empty() ? std::string(kDefaultLabel) : std::string(summary);
    for (const date::sys_days day : starts) {
      const date::year_month_day last{day + date::days{*length - 1}};
      if (!last.ok()) {
        warn(Code::ics_after_32767);
        continue;
      }
      ranges_.push_back({date::year_month_day{day}, last, label});
    }
    return {};
  }

  IcsImport finish() && {
    std::ranges::sort(ranges_, [](const ClosedRange& a, const ClosedRange& b) {
      return std::tie(a.first, a.last, a.label) < std::tie(b.first, b.last, b.label);
    });
    if (ranges_.empty())
      warnings_.push_back(calendar_error(Code::ics_no_whole_day_event));
    return IcsImport{std::move(ranges_), std::move(warnings_)};
  }

 private:
  // The number of days of each occurrence; 0 when the event is to be ignored (after a warning);
  // an error when it ends before it starts.
  template <typename Who, typename Warn>
  static std::expected<std::int64_t, Diagnostic> length_in_days(icalcomponent* event,
                                                                const icaltimetype& start,
                                                                date::year_month_day first,
                                                                const Who& who, const Warn& warn) {
    icalproperty* end_prop = icalcomponent_get_first_property(event, ICAL_DTEND_PROPERTY);
    icalproperty* duration_prop = icalcomponent_get_first_property(event, ICAL_DURATION_PROPERTY);
    if (end_prop != nullptr) {
      if (duration_prop != nullptr)
        warn(Code::ics_dtend_and_duration, {});
      const icaltimetype end = icalproperty_get_dtend(end_prop);
      if (!end.is_date) {
        warn(Code::ics_dtend_with_time, {});
        return 0;
      }
      const auto end_day = to_date(end);  // exclusive (RFC 5545)
      if (!end_day) {
        warn(Code::ics_bad_dtend, {iso(end)});
        return 0;
      }
      const std::int64_t days = (date::sys_days{*end_day} - date::sys_days{first}).count();
      if (days < 0) {
        return std::unexpected(who(Code::ics_dtend_before_dtstart, {iso(end), iso(start)}));
      }
      if (days == 0) {
        warn(Code::ics_dtend_equals_dtstart, {});
        return 1;
      }
      return days;
    }
    if (duration_prop != nullptr) {
      const icaldurationtype d = icalproperty_get_duration(duration_prop);
      const std::int64_t seconds = (static_cast<std::int64_t>(d.weeks) * 7 + d.days) * 86400 +
                                   static_cast<std::int64_t>(d.hours) * 3600 +
                                   static_cast<std::int64_t>(d.minutes) * 60 + d.seconds;
      if (d.is_neg != 0 && seconds > 0) {
        return std::unexpected(who(Code::ics_negative_duration, {iso(start)}));
      }
      if (seconds % 86400 != 0) {
        warn(Code::ics_duration_not_whole_days, {});
        return 0;
      }
      if (seconds == 0) {
        warn(Code::ics_zero_duration, {});
        return 1;
      }
      return seconds / 86400;
    }
    return 1;  // neither DTEND nor DURATION: the day of DTSTART (RFC 5545, 3.6.1)
  }

  // The start days of the event's occurrences: DTSTART, the RRULE occurrences (bounded, see
  // kLastRecurrenceYear and kMaxOccurrences) and RDATEs, minus EXDATEs and the occurrences that
  // another VEVENT overrides.
  template <typename Warn>
  std::set<date::sys_days> occurrences(icalcomponent* event, const icaltimetype& start,
                                       date::year_month_day first, const Warn& warn) const {
    std::set<date::sys_days> starts{date::sys_days{first}};
    bool capped = false;
    // Occurrences as the rule gives them, not days: a rule by the second or the minute (a
    // whole-day event's FREQ=SECONDLY) gives 86,400 or 1,440 a day, and counting days alone let
    // one such line keep the parser busy for minutes (found by fuzzing).
    std::size_t given = 0;
    for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_RRULE_PROPERTY);
         p != nullptr && !capped; p = icalcomponent_get_next_property(event, ICAL_RRULE_PROPERTY)) {
      RecurIteratorPtr it(icalrecur_iterator_new(icalproperty_get_rrule(p), start));
      if (!it) {
        warn(Code::ics_rrule_unexpandable, {});
        continue;
      }
      for (icaltimetype next = icalrecur_iterator_next(it.get());
           !icaltime_is_null_time(next) && next.year <= kLastRecurrenceYear;
           next = icalrecur_iterator_next(it.get())) {
        if (++given > kMaxOccurrences) {
          capped = true;
          break;
        }
        const auto day = to_date(next);
        if (!day)
          continue;
        starts.insert(date::sys_days{*day});
      }
    }
    if (capped) {
      warn(Code::ics_too_many_occurrences, {std::to_string(kMaxOccurrences)});
    }
    for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_RDATE_PROPERTY);
         p != nullptr; p = icalcomponent_get_next_property(event, ICAL_RDATE_PROPERTY)) {
      const icaldatetimeperiodtype rdate = icalproperty_get_rdate(p);
      const auto day = rdate.time.is_date ? to_date(rdate.time) : std::nullopt;
      if (day) {
        starts.insert(date::sys_days{*day});
      } else {
        warn(Code::ics_rdate_with_time, {});
      }
    }
    for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_EXDATE_PROPERTY);
         p != nullptr; p = icalcomponent_get_next_property(event, ICAL_EXDATE_PROPERTY)) {
      if (const auto day = to_date(icalproperty_get_exdate(p)))
        starts.erase(date::sys_days{*day});
    }
    if (!has_recurrence_id(event)) {
      const auto found = overridden_.find(uid_of(event));
      if (found != overridden_.end()) {
        for (const date::sys_days day : found->second)
          starts.erase(day);
      }
    }
    return starts;
  }

  std::vector<ClosedRange> ranges_;
  std::vector<Diagnostic> warnings_;
  std::map<std::string, std::set<date::sys_days>, std::less<>> overridden_;
};

}  // namespace

std::expected<IcsImport, Diagnostic> parse_ics_closed_days(std::string_view text) {
  const RingRelease ring;  // declared first, so it is released last
  auto root = parse_root(text);
  if (!root)
    return std::unexpected(root.error());

  std::vector<icalcomponent*> calendars;
  if (*root != nullptr) {
    icalcomponent* top = root->get();
    if (icalcomponent_isa(top) == ICAL_VCALENDAR_COMPONENT) {
      calendars.push_back(top);
    } else if (icalcomponent_isa(top) == ICAL_XROOT_COMPONENT) {  // several top-level components
      for (icalcomponent* c = icalcomponent_get_first_component(top, ICAL_VCALENDAR_COMPONENT);
           c != nullptr; c = icalcomponent_get_next_component(top, ICAL_VCALENDAR_COMPONENT)) {
        calendars.push_back(c);
      }
    }
  }
  if (calendars.empty())
    return std::unexpected(calendar_error(Code::ics_no_vcalendar));

  std::vector<icalcomponent*> events;
  for (icalcomponent* calendar : calendars) {
    for (icalcomponent* e = icalcomponent_get_first_component(calendar, ICAL_VEVENT_COMPONENT);
         e != nullptr; e = icalcomponent_get_next_component(calendar, ICAL_VEVENT_COMPONENT)) {
      events.push_back(e);
    }
  }
  const std::vector<std::size_t> lines = vevent_lines(text);
  const bool have_lines = lines.size() == events.size();

  Importer importer;
  for (icalcomponent* event : events) {
    if (has_recurrence_id(event))
      importer.note_override(event);
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (auto added = importer.add_event(events[i], have_lines ? lines[i] : 0, i + 1); !added) {
      return std::unexpected(added.error());
    }
  }
  return std::move(importer).finish();
}

std::expected<IcsImport, Diagnostic> read_ics_closed_days(const std::string& path) {
  const auto cannot_read = [&](int error) {
    return std::unexpected(Diagnostic{.code = Code::ics_unreadable,
                                      .args = {path, std::generic_category().message(error)}});
  };
  errno = 0;
  const FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file)
    return cannot_read(errno);
  std::string text;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0)
    text.append(buffer, n);
  if (std::ferror(file.get()) != 0)
    return cannot_read(errno != 0 ? errno : EIO);

  auto parsed = parse_ics_closed_days(text);
  if (!parsed) {
    Diagnostic d = std::move(parsed.error());
    if (!d.args.empty())
      d.args[0] = path;  // "FILE: not an iCalendar file …"
    return std::unexpected(std::move(d));
  }
  return parsed;
}

}  // namespace treve::config
