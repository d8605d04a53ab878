// RFC 3339 parsing and formatting, and durations for people.
#include <gtest/gtest.h>

#include <string>

#include "tests/policy/policy_fixtures.h"

namespace treve::policy {
namespace {

using namespace fixtures;

Instant utc(int y, unsigned m, unsigned d, int h, int mi, int s, int ms = 0) {
  return Instant{date::sys_days{date::year{y} / date::month{m} / date::day{d}} +
                 std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{s} +
                 std::chrono::milliseconds{ms}};
}

// The error of a text that must be rejected ("" when it was accepted).
std::string error_of(std::string_view text) {
  auto r = parse_rfc3339(text);
  return r ? std::string() : r.error();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(Rfc3339Parse, ReadsUtcWithZ) {
  auto t = parse_rfc3339("2026-11-27T20:14:03Z");
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(*t, utc(2026, 11, 27, 20, 14, 3));
}

TEST(Rfc3339Parse, SubtractsAPositiveOffset) {
  auto t = parse_rfc3339("2026-11-27T21:14:03+01:00");
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(*t, utc(2026, 11, 27, 20, 14, 3));
}

TEST(Rfc3339Parse, AddsANegativeOffset) {
  auto t = parse_rfc3339("2026-11-27T17:14:03-03:00");
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(*t, utc(2026, 11, 27, 20, 14, 3));
}

TEST(Rfc3339Parse, OffsetsWithMinutesAndAcrossMidnight) {
  EXPECT_EQ(parse_rfc3339("2026-11-28T01:44:03+05:30").value(), utc(2026, 11, 27, 20, 14, 3));
  EXPECT_EQ(parse_rfc3339("2026-11-27T10:14:03-10:00").value(), utc(2026, 11, 27, 20, 14, 3));
  EXPECT_EQ(parse_rfc3339("2027-01-01T00:30:00+01:00").value(), utc(2026, 12, 31, 23, 30, 0));
  EXPECT_EQ(parse_rfc3339("2026-12-31T23:30:00-01:00").value(), utc(2027, 1, 1, 0, 30, 0));
}

TEST(Rfc3339Parse, ZeroOffsetsAreUtc) {
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03+00:00").value(), utc(2026, 11, 27, 20, 14, 3));
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03-00:00").value(), utc(2026, 11, 27, 20, 14, 3));
}

TEST(Rfc3339Parse, ReadsFractionsToTheMillisecond) {
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03.250Z").value(), utc(2026, 11, 27, 20, 14, 3, 250));
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03.5Z").value(), utc(2026, 11, 27, 20, 14, 3, 500));
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03.05Z").value(), utc(2026, 11, 27, 20, 14, 3, 50));
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03.007+01:00").value(),
            utc(2026, 11, 27, 19, 14, 3, 7));
}

TEST(Rfc3339Parse, TruncatesFractionsBeyondMilliseconds) {
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03.123456789Z").value(),
            utc(2026, 11, 27, 20, 14, 3, 123));
  EXPECT_EQ(parse_rfc3339("2026-11-27T20:14:03.9999Z").value(), utc(2026, 11, 27, 20, 14, 3, 999));
}

TEST(Rfc3339Parse, AcceptsLowerCaseTAndZ) {
  EXPECT_EQ(parse_rfc3339("2026-11-27t20:14:03z").value(), utc(2026, 11, 27, 20, 14, 3));
  EXPECT_EQ(parse_rfc3339("2026-11-27t20:14:03.250z").value(), utc(2026, 11, 27, 20, 14, 3, 250));
}

TEST(Rfc3339Parse, AcceptsLeapDaysAndYearBoundaries) {
  EXPECT_EQ(parse_rfc3339("2028-02-29T12:00:00Z").value(), utc(2028, 2, 29, 12, 0, 0));
  EXPECT_EQ(parse_rfc3339("2000-02-29T00:00:00Z").value(), utc(2000, 2, 29, 0, 0, 0));
  EXPECT_EQ(parse_rfc3339("1999-12-31T23:59:59Z").value(), utc(1999, 12, 31, 23, 59, 59));
}

TEST(Rfc3339Parse, HoldsALeapSecondToTheLastSecondOfItsMinute) {
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z").value(), utc(2016, 12, 31, 23, 59, 59));
}

TEST(Rfc3339Parse, RejectsMonthThirteen) {
  std::string e = error_of("2026-13-01T00:00:00Z");
  EXPECT_TRUE(contains(e, "month 13")) << e;
  EXPECT_TRUE(contains(error_of("2026-00-01T00:00:00Z"), "month 0"))
      << error_of("2026-00-01T00:00:00Z");
}

TEST(Rfc3339Parse, RejectsDaysThatDoNotExist) {
  std::string feb30 = error_of("2026-02-30T10:00:00Z");
  EXPECT_TRUE(contains(feb30, "day 30")) << feb30;
  std::string feb29 = error_of("2026-02-29T10:00:00Z");
  EXPECT_TRUE(contains(feb29, "day 29")) << feb29;
  EXPECT_TRUE(contains(error_of("2100-02-29T10:00:00Z"), "day 29"));
  EXPECT_TRUE(contains(error_of("2026-04-31T10:00:00Z"), "day 31"));
  EXPECT_TRUE(contains(error_of("2026-04-00T10:00:00Z"), "day 0"));
}

TEST(Rfc3339Parse, RejectsTimesOutOfRange) {
  EXPECT_TRUE(contains(error_of("2026-11-27T24:00:00Z"), "hour 24"))
      << error_of("2026-11-27T24:00:00Z");
  EXPECT_TRUE(contains(error_of("2026-11-27T20:60:00Z"), "minute 60"));
  EXPECT_TRUE(contains(error_of("2026-11-27T20:14:61Z"), "second 61"));
}

TEST(Rfc3339Parse, RejectsAMissingOffset) {
  std::string e = error_of("2026-11-27T21:14:03");
  EXPECT_TRUE(contains(e, "missing UTC offset")) << e;
  std::string f = error_of("2026-11-27T21:14:03.250");
  EXPECT_TRUE(contains(f, "missing UTC offset")) << f;
}

TEST(Rfc3339Parse, RejectsMalformedOffsets) {
  for (std::string_view bad :
       {"2026-11-27T21:14:03+0100", "2026-11-27T21:14:03+01", "2026-11-27T21:14:03+1:00",
        "2026-11-27T21:14:03+24:00", "2026-11-27T21:14:03+01:60", "2026-11-27T21:14:03 +01:00",
        "2026-11-27T21:14:03CET", "2026-11-27T21:14:03+01:0"}) {
    std::string e = error_of(bad);
    EXPECT_TRUE(contains(e, "offset")) << bad << " -> \"" << e << "\"";
  }
}

TEST(Rfc3339Parse, RejectsTrailingCharacters) {
  for (std::string_view bad :
       {"2026-11-27T21:14:03Zjunk", "2026-11-27T21:14:03+01:00 ", "2026-11-27T21:14:03ZZ",
        "2026-11-27T21:14:03+01:00[Europe/Paris]"}) {
    std::string e = error_of(bad);
    EXPECT_TRUE(contains(e, "unexpected characters")) << bad << " -> \"" << e << "\"";
  }
}

TEST(Rfc3339Parse, RejectsGarbageWithAnExample) {
  for (std::string_view bad : {"", "garbage", "27/11/2026 21:14", "2026/11/27T21:14:03Z",
                               "26-11-27T21:14:03Z", "2026-1-27T21:14:03Z", "tomorrow"}) {
    std::string e = error_of(bad);
    EXPECT_TRUE(contains(e, "expected an RFC 3339 date-time"))
        << "\"" << bad << "\" -> \"" << e << "\"";
  }
}

TEST(Rfc3339Parse, RejectsMalformedTimes) {
  EXPECT_TRUE(contains(error_of("2026-11-27"), "'T'"));
  EXPECT_TRUE(contains(error_of("2026-11-27X21:14:03Z"), "'T'"));
  EXPECT_TRUE(contains(error_of("2026-11-27T21:14Z"), "HH:MM:SS"));
  EXPECT_TRUE(contains(error_of("2026-11-27T21-14-03Z"), "HH:MM:SS"));
  EXPECT_TRUE(contains(error_of("2026-11-27T2:14:03Z"), "HH:MM:SS"));
  EXPECT_TRUE(contains(error_of("2026-11-27T21:14:03.Z"), "digits after '.'"));
}

TEST(Rfc3339Parse, ErrorsAreNotEmpty) {
  for (std::string_view bad : {"2026-13-01T00:00:00Z", "x", "2026-11-27T21:14:03"}) {
    EXPECT_FALSE(error_of(bad).empty()) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

TEST(Rfc3339Format, ShowsTheZonesOffsetInWinterAndSummer) {
  const auto* paris = zone("Europe/Paris");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3), paris), "2026-11-27T21:14:03+01:00");
  EXPECT_EQ(format_rfc3339(utc(2026, 7, 1, 5, 0, 0), paris), "2026-07-01T07:00:00+02:00");
}

// Found by fuzzing (tests/fuzz/targets/rfc3339.cpp): Paris kept local mean time, +00:09:21,
// until 1911; an offset in whole minutes would name another instant, so such instants are
// written in UTC and read back as themselves.
TEST(Rfc3339Format, AnOffsetWithSecondsIsWrittenInUtc) {
  const auto t = *parse_rfc3339("1492-04-12T23:20:50.52Z");
  EXPECT_EQ(format_rfc3339(t, zone("Europe/Paris")), "1492-04-12T23:20:50.520+00:00");
  EXPECT_EQ(*parse_rfc3339(format_rfc3339(t, zone("Europe/Paris"))), t);
  EXPECT_EQ(format_rfc3339(utc(1912, 1, 1, 0, 0, 0), zone("Europe/Paris")),
            "1912-01-01T00:00:00+00:00");  // after 1911: GMT, whole minutes again
}

TEST(Rfc3339Format, ShowsNegativeAndFractionalHourOffsets) {
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3), zone("Pacific/Tahiti")),
            "2026-11-27T10:14:03-10:00");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3), zone("America/Cayenne")),
            "2026-11-27T17:14:03-03:00");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3), zone("Asia/Kolkata")),
            "2026-11-28T01:44:03+05:30");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3), zone("America/St_Johns")),
            "2026-11-27T16:44:03-03:30");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3), zone("UTC")), "2026-11-27T20:14:03+00:00");
}

TEST(Rfc3339Format, ShowsMillisecondsOnlyWhenNotZero) {
  const auto* paris = zone("Europe/Paris");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3, 250), paris),
            "2026-11-27T21:14:03.250+01:00");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3, 5), paris),
            "2026-11-27T21:14:03.005+01:00");
  EXPECT_EQ(format_rfc3339(utc(2026, 11, 27, 20, 14, 3, 0), paris), "2026-11-27T21:14:03+01:00");
}

TEST(Rfc3339Format, ShowsTheOffsetInForceOnEachSideOfAChange) {
  const auto* paris = zone("Europe/Paris");
  EXPECT_EQ(format_rfc3339(at("2026-03-29T00:59:59Z"), paris), "2026-03-29T01:59:59+01:00");
  EXPECT_EQ(format_rfc3339(at("2026-03-29T01:00:00Z"), paris), "2026-03-29T03:00:00+02:00");
  EXPECT_EQ(format_rfc3339(at("2026-10-25T00:30:00Z"), paris), "2026-10-25T02:30:00+02:00");
  EXPECT_EQ(format_rfc3339(at("2026-10-25T01:30:00Z"), paris), "2026-10-25T02:30:00+01:00");
}

// Summer time after 2037, from the zone's footer rule (docs/policy.md, "Daylight saving after
// 2037").
TEST(Rfc3339Format, ShowsSummerTimeAfter2037) {
  const auto* paris = zone("Europe/Paris");
  EXPECT_EQ(format_rfc3339(utc(2037, 7, 1, 5, 0, 0), paris), "2037-07-01T07:00:00+02:00");
  EXPECT_EQ(format_rfc3339(utc(2038, 7, 1, 5, 0, 0), paris), "2038-07-01T07:00:00+02:00");
  EXPECT_EQ(format_rfc3339(utc(2040, 7, 1, 5, 0, 0), paris), "2040-07-01T07:00:00+02:00");
  EXPECT_EQ(format_rfc3339(utc(2070, 7, 1, 5, 0, 0), paris), "2070-07-01T07:00:00+02:00");
}

TEST(Rfc3339Format, FormatsInstantsBefore1970) {
  EXPECT_EQ(format_rfc3339(utc(1969, 12, 31, 23, 59, 59, 500), zone("UTC")),
            "1969-12-31T23:59:59.500+00:00");
  EXPECT_EQ(format_rfc3339(utc(1960, 6, 1, 12, 0, 0), zone("UTC")), "1960-06-01T12:00:00+00:00");
}

TEST(Rfc3339Format, RoundTripsThroughParse) {
  const auto* paris = zone("Europe/Paris");
  for (std::string_view text :
       {"2026-11-27T21:14:03+01:00", "2026-07-01T07:00:00.125+02:00", "2070-11-21T21:00:00+01:00",
        "1990-11-23T21:00:00+01:00", "2026-10-25T02:30:00+01:00"}) {
    EXPECT_EQ(format_rfc3339(at(text), paris), text);
  }
}

TEST(FormatHuman, ShowsWeekdayDateTimeAndOffset) {
  EXPECT_EQ(format_human(at("2026-12-28T07:00:00+01:00"), zone("Europe/Paris")),
            "Mon 28 Dec 2026 07:00 (UTC+01:00)");
  EXPECT_EQ(format_human(at("2026-11-18T07:00:00-10:00"), zone("Pacific/Tahiti")),
            "Wed 18 Nov 2026 07:00 (UTC-10:00)");
}

// ---------------------------------------------------------------------------------------------
// Durations for people

TEST(FormatDuration, ZeroIsZero) {
  EXPECT_EQ(format_duration(std::chrono::minutes(0)), "0");
}

TEST(FormatDuration, WholeHoursAreWrittenInHours) {
  EXPECT_EQ(format_duration(std::chrono::hours(1)), "1h");
  EXPECT_EQ(format_duration(std::chrono::hours(24)), "24h");
  EXPECT_EQ(format_duration(std::chrono::hours(25)), "25h");
}

TEST(FormatDuration, MinutesAreAddedToHours) {
  EXPECT_EQ(format_duration(std::chrono::minutes(30)), "30m");
  EXPECT_EQ(format_duration(std::chrono::minutes(90)), "1h30m");
  EXPECT_EQ(format_duration(std::chrono::minutes(24 * 60 + 1)), "24h1m");
}

TEST(FormatDuration, WholeDaysFromTwoOnAreWrittenInDays) {
  EXPECT_EQ(format_duration(std::chrono::hours(48)), "2 days");
  EXPECT_EQ(format_duration(std::chrono::hours(72)), "3 days");
  EXPECT_EQ(format_duration(std::chrono::days(7)), "7 days");
  EXPECT_EQ(format_duration(std::chrono::hours(49)), "49h");
}

}  // namespace
}  // namespace treve::policy
