#include "daemon/config/ics_calendar.h"
#include "tests/support/temp_dir.h"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <malloc.h>

namespace treve::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const std::string kSourceDir = TREVE_SOURCE_DIR;
const std::string kSample = kSourceDir + "/tests/data/vacances-zone-a.ics";

// A VCALENDAR holding the given VEVENT bodies, with CRLF line endings. Line 1 is BEGIN:VCALENDAR,
// the first BEGIN:VEVENT is line 4.
std::string calendar(const std::vector<std::string>& events) {
  std::string text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//treve//tests//FR\r\n";
  for (const std::string& body : events) {
    text += "BEGIN:VEVENT\r\n";
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);)
      text += line + "\r\n";
    text += "END:VEVENT\r\n";
  }
  return text + "END:VCALENDAR\r\n";
}

// "2026-12-19..2027-01-03 Label", easier to compare than ClosedRange.
std::vector<std::string> describe(const IcsImport& import) {
  std::vector<std::string> out;
  for (const ClosedRange& r : import.ranges) {
    std::ostringstream s;
    s << r.first << ".." << r.last << ' ' << r.label;
    out.push_back(s.str());
  }
  return out;
}

// The warnings' English texts.
std::vector<std::string> texts(const std::vector<Diagnostic>& warnings) {
  std::vector<std::string> out;
  for (const Diagnostic& w : warnings)
    out.push_back(w.to_string());
  return out;
}

std::string write_temp_file(const std::string& name, const std::string& text) {
  static const test::TempDir dir("treve-ics");
  return dir.write(name, text);
}

TEST(IcsCalendar, ReadsTheZoneASampleFile) {
  const auto import = read_ics_closed_days(kSample);
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import),
              ElementsAre("2026-10-17..2026-11-01 Vacances de la Toussaint - Zone A",
                          "2026-12-19..2027-01-03 Vacances de Noël - Zone A",
                          "2027-02-13..2027-02-28 Vacances d'Hiver - Zone A",
                          "2027-04-10..2027-04-25 Vacances de Printemps - Zone A",
                          "2027-05-07..2027-05-07 Pont de l'Ascension",
                          "2027-07-03..2027-08-31 Vacances d'Été - Zone A"));
  EXPECT_THAT(texts(import->warnings),
              ElementsAre("line 27: event \"Réunion parents-professeurs\" has a time, not a "
                          "whole day: ignored"));
}

TEST(IcsCalendar, TheShippedExampleCalendarReadsLikeTheSample) {
  const auto shipped = read_ics_closed_days(kSourceDir + "/systemd/vacances-zone-A.ics");
  const auto sample = read_ics_closed_days(kSample);
  ASSERT_TRUE(shipped.has_value()) << shipped.error();
  ASSERT_TRUE(sample.has_value()) << sample.error();
  EXPECT_EQ(describe(*shipped), describe(*sample));
}

TEST(IcsCalendar, AllDayEventEndIsExclusive) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261219\nDTEND;VALUE=DATE:20270104\nSUMMARY:Vacances de Noël",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-12-19..2027-01-03 Vacances de Noël"));
  EXPECT_THAT(texts(import->warnings), IsEmpty());
}

TEST(IcsCalendar, AllDayEventWithoutEndLastsOneDay) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20270507\nSUMMARY:Pont de l'Ascension",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2027-05-07..2027-05-07 Pont de l'Ascension"));
  EXPECT_THAT(texts(import->warnings), IsEmpty());
}

TEST(IcsCalendar, DurationInDaysOrWeeksIsHonoured) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261017\nDURATION:P3D\nSUMMARY:Trois jours",
      "DTSTART;VALUE=DATE:20261102\nDURATION:P1W\nSUMMARY:Une semaine",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-10-17..2026-10-19 Trois jours",
                                             "2026-11-02..2026-11-08 Une semaine"));
  EXPECT_THAT(texts(import->warnings), IsEmpty());
}

TEST(IcsCalendar, DurationOfPartOfADayIsIgnoredWithAWarning) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261017\nDURATION:PT3H\nSUMMARY:Matinée",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(import->ranges, IsEmpty());
  EXPECT_THAT(texts(import->warnings),
              ElementsAre(StartsWith("line 4: event \"Matinée\" has a DURATION that is not a "
                                     "whole number of days: ignored"),
                          "no whole-day event found: no closed day"));
}

TEST(IcsCalendar, TimedEventIsIgnoredWithAWarningNamingItAndItsLine) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261111\nSUMMARY:Armistice",
      "DTSTART;TZID=Europe/Paris:20261112T180000\nDTEND;TZID=Europe/Paris:20261112T200000\n"
      "SUMMARY:Réunion",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-11-11..2026-11-11 Armistice"));
  EXPECT_THAT(texts(import->warnings),
              ElementsAre("line 8: event \"Réunion\" has a time, not a whole day: ignored"));
}

TEST(IcsCalendar, YearlyRuleIsExpandedIntoEachOccurrence) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261226\nRRULE:FREQ=YEARLY;COUNT=3\n"
      "SUMMARY:Réveillon et Noël",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-12-24..2026-12-25 Réveillon et Noël",
                                             "2027-12-24..2027-12-25 Réveillon et Noël",
                                             "2028-12-24..2028-12-25 Réveillon et Noël"));
  EXPECT_THAT(texts(import->warnings), IsEmpty());
}

TEST(IcsCalendar, EndlessYearlyRuleStopsAfterTheYear2100) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY\nSUMMARY:Noël",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  ASSERT_EQ(import->ranges.size(), 75U);  // 2026..2100
  EXPECT_EQ(import->ranges.back().first, date::year{2100} / 12 / 25);
  EXPECT_THAT(texts(import->warnings), IsEmpty());
}

TEST(IcsCalendar, EndlessDailyRuleIsCappedAtAThousandOccurrencesWithAWarning) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20260101\nRRULE:FREQ=DAILY\nSUMMARY:Tous les jours",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_EQ(import->ranges.size(), 1000U);
  EXPECT_THAT(texts(import->warnings), ElementsAre(HasSubstr("more than 1000 times")));
}

// A whole-day event repeating by the second, the minute or the hour: the cap counts the rule's
// occurrences, not the days they fall on. Before, only new days counted, and FREQ=SECONDLY
// walked 86,400 occurrences a day for 1000 days: one line kept the parser (a reload, an
// admin's import) busy for minutes (found by fuzzing).
TEST(IcsCalendar, RuleBySecondsIsCappedAtAThousandOccurrencesAtOnce) {
  for (const char* freq : {"SECONDLY", "MINUTELY", "HOURLY"}) {
    const auto started = std::chrono::steady_clock::now();
    const auto import = parse_ics_closed_days(calendar({
        std::string("DTSTART;VALUE=DATE:20260101\nRRULE:FREQ=") + freq + "\nSUMMARY:Sans fin",
    }));
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(import.has_value()) << freq << ": " << import.error();
    EXPECT_LT(took, std::chrono::seconds(2)) << freq;
    EXPECT_THAT(texts(import->warnings), ElementsAre(HasSubstr("more than 1000 times"))) << freq;
    ASSERT_FALSE(import->ranges.empty()) << freq;
    EXPECT_EQ(import->ranges.front().first, date::year{2026} / 1 / 1) << freq;
    // 1000 hours reach the 42nd day; 1000 minutes or seconds stay on the first.
    EXPECT_LE(import->ranges.back().last, date::year{2026} / 2 / 12) << freq;
  }
}

// libical hands some strings out of a per-thread ring of up to 2500 buffers, kept until the
// ring wraps: the admin API's thread, importing calendar after calendar, would keep copies of
// their text for good. Each parse frees the ring when it ends (found by fuzzing: libFuzzer saw
// more allocations than frees in every run). glibc's count of bytes in use must come back to
// where it was; AddressSanitizer's allocator reports nothing and the test then checks nothing.
TEST(IcsCalendar, AParseKeepsNoMemoryOnceItEnds) {
  // A VALUE type libical does not know: its error message goes through the ring.
  const std::string text = calendar({"DTSTART;VALUE=DA:20261017\nSUMMARY:Fermé"});
  ASSERT_TRUE(parse_ics_closed_days(text).has_value());  // libical's one-time set-up
  const std::size_t before = mallinfo2().uordblks;
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(parse_ics_closed_days(text).has_value());
  const std::size_t after = mallinfo2().uordblks;
  EXPECT_LT(after, before + 16 * 1024) << "bytes in use grew from " << before << " to " << after;
}

TEST(IcsCalendar, ExcludedAndAddedDatesOfARuleAreHonoured) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20260105\nRRULE:FREQ=WEEKLY;COUNT=4\n"
      "EXDATE;VALUE=DATE:20260112,20260119\nRDATE;VALUE=DATE:20260301\nSUMMARY:Fermé",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import),
              ElementsAre("2026-01-05..2026-01-05 Fermé", "2026-01-26..2026-01-26 Fermé",
                          "2026-03-01..2026-03-01 Fermé"));
}

TEST(IcsCalendar, RuleThatLibicalCannotExpandKeepsItsFirstOccurrence) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20260101\nRRULE:FREQ=DAILY;BYMONTH=13\nSUMMARY:Bizarre",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-01-01..2026-01-01 Bizarre"));
  EXPECT_THAT(texts(import->warnings), ElementsAre(HasSubstr("RRULE that libical cannot expand")));
}

TEST(IcsCalendar, CancelledEventIsSkipped) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261111\nSUMMARY:Armistice",
      "DTSTART;VALUE=DATE:20261120\nSTATUS:CANCELLED\nSUMMARY:Journée annulée",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-11-11..2026-11-11 Armistice"));
  EXPECT_THAT(texts(import->warnings), IsEmpty());
}

TEST(IcsCalendar, CancelledOrMovedOccurrenceOfARecurringEventReplacesIt) {
  const auto import = parse_ics_closed_days(calendar({
      "UID:pedago@example\nDTSTART;VALUE=DATE:20260105\nRRULE:FREQ=WEEKLY;COUNT=3\n"
      "SUMMARY:Journée pédagogique",
      "UID:pedago@example\nRECURRENCE-ID;VALUE=DATE:20260112\nDTSTART;VALUE=DATE:20260112\n"
      "STATUS:CANCELLED\nSUMMARY:Journée pédagogique",
      "UID:pedago@example\nRECURRENCE-ID;VALUE=DATE:20260119\nDTSTART;VALUE=DATE:20260120\n"
      "SUMMARY:Journée pédagogique (déplacée)",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-01-05..2026-01-05 Journée pédagogique",
                                             "2026-01-20..2026-01-20 Journée pédagogique "
                                             "(déplacée)"));
}

TEST(IcsCalendar, EndBeforeStartIsAnErrorNamingTheEvent) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261102\nDTEND;VALUE=DATE:20261017\nSUMMARY:Toussaint",
  }));
  ASSERT_FALSE(import.has_value());
  EXPECT_EQ(import.error().to_string(),
            "line 4: event \"Toussaint\": DTEND 2026-10-17 is before DTSTART 2026-11-02");
}

TEST(IcsCalendar, EndOnTheStartDayIsTakenAsOneDayWithAWarning) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261111\nDTEND;VALUE=DATE:20261111\nSUMMARY:Armistice",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-11-11..2026-11-11 Armistice"));
  EXPECT_THAT(texts(import->warnings), ElementsAre(HasSubstr("DTEND equal to DTSTART")));
}

TEST(IcsCalendar, PropertyLibicalCannotReadIsReportedAndTheEventKeptWhenPossible) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261111\nDTEND;VALUE=DATE:2026\nSUMMARY:Armistice",
      "DTSTART;VALUE=DATE:2026111\nSUMMARY:Sans date",
      "DTSTART;VALUE=DATE:20260230\nSUMMARY:30 février",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-11-11..2026-11-11 Armistice"));
  EXPECT_THAT(
      texts(import->warnings),
      ElementsAre(StartsWith("line 4: event \"Armistice\" is damaged: "),
                  StartsWith("line 9: event \"Sans date\" is damaged: "),
                  "line 9: event \"Sans date\" has no valid DTSTART: ignored",
                  "line 13: event \"30 février\" has an invalid DTSTART date 2026-02-30: ignored"));
}

TEST(IcsCalendar, GarbageTextIsNotAnICalendarFile) {
  const auto import = parse_ics_closed_days("Ceci n'est pas un calendrier.\nVraiment pas.\n");
  ASSERT_FALSE(import.has_value());
  EXPECT_EQ(import.error().to_string(), "not an iCalendar file (no VCALENDAR)");
}

TEST(IcsCalendar, GarbageFileErrorNamesTheFile) {
  const std::string path = write_temp_file("treve-garbage.ics", "<html>404 Not Found</html>\n");
  const auto import = read_ics_closed_days(path);
  ASSERT_FALSE(import.has_value());
  EXPECT_EQ(import.error().to_string(), path + ": not an iCalendar file (no VCALENDAR)");
  std::filesystem::remove(path);
}

TEST(IcsCalendar, LoneEventWithoutVcalendarIsNotAnICalendarFile) {
  const auto import =
      parse_ics_closed_days("BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261111\r\nEND:VEVENT\r\n");
  ASSERT_FALSE(import.has_value());
  EXPECT_EQ(import.error().to_string(), "not an iCalendar file (no VCALENDAR)");
}

TEST(IcsCalendar, TruncatedFileIsAnError) {
  std::string text = calendar({"DTSTART;VALUE=DATE:20261111\nSUMMARY:Armistice"});
  text.resize(text.find("END:VEVENT"));
  const auto import = parse_ics_closed_days(text);
  ASSERT_FALSE(import.has_value());
  EXPECT_THAT(import.error().to_string(), HasSubstr("no matching END"));
}

TEST(IcsCalendar, MissingFileErrorNamesThePath) {
  const std::string path = kSourceDir + "/tests/data/no-such-calendar.ics";
  const auto import = read_ics_closed_days(path);
  ASSERT_FALSE(import.has_value());
  EXPECT_EQ(import.error().to_string(), "cannot read " + path + ": No such file or directory");
}

TEST(IcsCalendar, Utf8SummaryIsPreservedEvenWhenFoldedInsideACharacter) {
  // "Journée pédagogique – école fermée", its content line folded between the two bytes of "é"
  // (RFC 5545 folds by octets), and with an escaped comma.
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20261120\nSUMMARY:Journée p\xC3\n \xA9"
      "dagogique – école fermée\\, pas de cours",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(
      describe(*import),
      ElementsAre("2026-11-20..2026-11-20 Journée pédagogique – école fermée, pas de cours"));
}

TEST(IcsCalendar, EventWithoutSummaryIsLabelledClosedDay) {
  const auto import = parse_ics_closed_days(calendar({"DTSTART;VALUE=DATE:20261111"}));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-11-11..2026-11-11 closed day"));
}

TEST(IcsCalendar, RangesAreSortedByFirstDay) {
  const auto import = parse_ics_closed_days(calendar({
      "DTSTART;VALUE=DATE:20270410\nDTEND;VALUE=DATE:20270426\nSUMMARY:Printemps",
      "DTSTART;VALUE=DATE:20261017\nDTEND;VALUE=DATE:20261102\nSUMMARY:Toussaint",
      "DTSTART;VALUE=DATE:20270213\nDTEND;VALUE=DATE:20270301\nSUMMARY:Hiver",
  }));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import),
              ElementsAre("2026-10-17..2026-11-01 Toussaint", "2027-02-13..2027-02-28 Hiver",
                          "2027-04-10..2027-04-25 Printemps"));
}

TEST(IcsCalendar, ByteOrderMarkAndBareLineFeedsAreAccepted) {
  const auto import = parse_ics_closed_days(
      "\xEF\xBB\xBF"
      "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261111\n"
      "SUMMARY:Armistice\nEND:VEVENT\nEND:VCALENDAR\n");
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(describe(*import), ElementsAre("2026-11-11..2026-11-11 Armistice"));
}

TEST(IcsCalendar, CalendarWithoutWholeDayEventsSaysSo) {
  const auto import = parse_ics_closed_days(calendar({}));
  ASSERT_TRUE(import.has_value()) << import.error();
  EXPECT_THAT(import->ranges, IsEmpty());
  EXPECT_THAT(texts(import->warnings), ElementsAre("no whole-day event found: no closed day"));
}

}  // namespace
}  // namespace treve::config
