// The quiet calendar (DESIGN.md "The rules it enforces", rules 1-3 and 8): default windows,
// daylight saving, zones without DST, closed days, public holidays, several windows, failing
// closed, and instants far outside the compiled horizon. Every expectation is an explicit
// release instant written as RFC 3339 in the establishment's zone.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/policy/policy_fixtures.h"

namespace treve::policy {
namespace {

using namespace fixtures;
using date::Friday;
using date::Monday;
using date::Saturday;
using date::Sunday;
using date::Thursday;
using date::Tuesday;
using date::Wednesday;

struct Case {
  const char* received;
  const char* release;
};

// Asserts each received instant is released at the expected instant.
void expect_releases(const Policies& p, std::string_view code, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(p.release(code, c.received), c.release)
        << "received " << c.received << " at " << code;
  }
}

// Asserts each received instant is open (released at once).
void expect_open(const Policies& p, std::string_view code,
                 const std::vector<const char*>& instants) {
  for (const char* t : instants) {
    EXPECT_EQ(p.release(code, t), t) << "expected " << t << " to be open at " << code;
  }
}

Policies with_windows(std::string_view code, std::vector<QuietWindow> windows,
                      bool public_holidays = true) {
  EstablishmentRules r = establishment(code);
  r.windows = std::move(windows);
  r.public_holidays = public_holidays;
  return Policies({r});
}

Policies with_closed(std::string_view code, std::vector<ClosedDays> closed_days,
                     std::optional<std::vector<QuietWindow>> windows = std::nullopt) {
  EstablishmentRules r = establishment(code);
  r.closed = std::move(closed_days);
  if (windows)
    r.windows = *windows;
  return Policies({r});
}

// ---------------------------------------------------------------------------------------------
// Default windows in Paris. The week of Monday 16 November 2026 has no public holiday.

TEST(QuietWindow, OneSecondBeforeEightInTheEveningIsOpen) {
  Policies p;
  expect_open(p, kParis, {"2026-11-17T19:59:59+01:00", "2026-11-17T19:59:59.999+01:00"});
}

TEST(QuietWindow, EightInTheEveningExactlyIsHeldUntilSevenNextMorning) {
  Policies p;
  expect_releases(p, kParis, {{"2026-11-17T20:00:00+01:00", "2026-11-18T07:00:00+01:00"}});
}

TEST(QuietWindow, OneSecondBeforeSevenIsHeldAndReleasedAtSevenExactly) {
  Policies p;
  Release r = p[kParis].schedule().next_open(at("2026-11-18T06:59:59+01:00"));
  ASSERT_TRUE(r.evaluated);
  EXPECT_EQ(r.at, at("2026-11-18T06:00:00Z"));
  EXPECT_EQ(format_rfc3339(r.at, p[kParis].zone()), "2026-11-18T07:00:00+01:00");
  expect_releases(p, kParis, {{"2026-11-18T06:59:59.999+01:00", "2026-11-18T07:00:00+01:00"}});
}

TEST(QuietWindow, SevenInTheMorningExactlyIsOpen) {
  Policies p;
  expect_open(p, kParis, {"2026-11-18T07:00:00+01:00", "2026-11-18T07:00:00.001+01:00"});
  EXPECT_FALSE(p[kParis].schedule().is_quiet(at("2026-11-18T07:00:00+01:00")));
  EXPECT_TRUE(p[kParis].schedule().is_quiet(at("2026-11-18T06:59:59+01:00")));
}

TEST(QuietWindow, EachEveningFromMondayToThursdayIsHeldUntilSevenNextMorning) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"2026-11-16T20:00:00+01:00", "2026-11-17T07:00:00+01:00"},  // Mon
                      {"2026-11-16T23:59:59+01:00", "2026-11-17T07:00:00+01:00"},
                      {"2026-11-17T21:30:00+01:00", "2026-11-18T07:00:00+01:00"},  // Tue
                      {"2026-11-18T22:00:00+01:00", "2026-11-19T07:00:00+01:00"},  // Wed
                      {"2026-11-19T00:00:00+01:00", "2026-11-19T07:00:00+01:00"},  // Thu 00:00
                      {"2026-11-19T20:00:00+01:00", "2026-11-20T07:00:00+01:00"},  // Thu
                      {"2026-11-20T03:00:00+01:00", "2026-11-20T07:00:00+01:00"},  // Fri night
                  });
}

TEST(QuietWindow, DaytimeOnWeekdaysIsOpen) {
  Policies p;
  expect_open(
      p, kParis,
      {"2026-11-16T07:00:00+01:00", "2026-11-16T12:00:00+01:00", "2026-11-17T19:59:00+01:00",
       "2026-11-19T13:00:00+01:00", "2026-11-20T07:00:00+01:00", "2026-11-20T19:59:59+01:00"});
}

TEST(QuietWindow, FridayEveningIsHeldUntilMondaySevenOClock) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"2026-11-20T20:00:00+01:00", "2026-11-23T07:00:00+01:00"},
                      {"2026-11-20T21:14:03+01:00", "2026-11-23T07:00:00+01:00"},
                  });
}

TEST(QuietWindow, SaturdayAndSundayAreHeldUntilMondaySevenOClock) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"2026-11-21T00:00:00+01:00", "2026-11-23T07:00:00+01:00"},
                      {"2026-11-21T12:00:00+01:00", "2026-11-23T07:00:00+01:00"},
                      {"2026-11-22T07:00:00+01:00", "2026-11-23T07:00:00+01:00"},
                      {"2026-11-22T23:59:59+01:00", "2026-11-23T07:00:00+01:00"},
                  });
}

TEST(QuietWindow, MondaySixOClockIsHeldUntilMondaySevenOClock) {
  Policies p;
  expect_releases(p, kParis, {{"2026-11-23T06:00:00+01:00", "2026-11-23T07:00:00+01:00"}});
}

TEST(QuietWindow, InstantsGivenInUtcAreJudgedInParisTime) {
  Policies p;
  // 19:30Z is 20:30 in Paris in November.
  expect_releases(p, kParis,
                  {
                      {"2026-11-17T19:30:00Z", "2026-11-18T07:00:00+01:00"},
                      {"2026-11-17T18:59:59Z", "2026-11-17T19:59:59+01:00"},  // open
                  });
}

TEST(QuietWindow, AnyUnconfiguredMetropolitanUaiGetsTheDefaultWindows) {
  Policies p;
  EXPECT_EQ(p[kDoubs].zone()->name(), "Europe/Paris");
  expect_releases(p, kDoubs, {{"2026-11-20T21:00:00+01:00", "2026-11-23T07:00:00+01:00"}});
  expect_open(p, kDoubs, {"2026-11-20T10:00:00+01:00"});
}

TEST(QuietWindow, ReleaseNamesTheWindowThatHeldIt) {
  Policies p;
  Release weekday = p[kParis].schedule().next_open(at("2026-11-17T21:00:00+01:00"));
  ASSERT_EQ(weekday.chain.size, 1u);
  EXPECT_EQ(weekday.chain.causes[0].kind, QuietCause::Kind::window);
  EXPECT_EQ(weekday.chain.causes[0].index, 0u);
  EXPECT_EQ(weekday.chain.causes[0].local_day, day(2026, 11, 17).time_since_epoch().count());

  Release weekend = p[kParis].schedule().next_open(at("2026-11-21T10:00:00+01:00"));
  ASSERT_EQ(weekend.chain.size, 1u);
  EXPECT_EQ(weekend.chain.causes[0].kind, QuietCause::Kind::window);
  EXPECT_EQ(weekend.chain.causes[0].index, 1u);
  EXPECT_EQ(weekend.chain.causes[0].local_day, day(2026, 11, 20).time_since_epoch().count());

  Release open = p[kParis].schedule().next_open(at("2026-11-17T10:00:00+01:00"));
  EXPECT_EQ(open.chain.size, 0u);
}

TEST(QuietWindow, QuietIntervalsPreviewTheDefaultWeek) {
  Policies p;
  auto intervals = p[kParis].schedule().quiet_intervals(at("2026-11-16T07:00:00+01:00"),
                                                        at("2026-11-23T07:00:00+01:00"));
  std::vector<std::string> got;
  for (auto [from, to] : intervals) {
    got.push_back(format_rfc3339(from, p[kParis].zone()) + " " +
                  format_rfc3339(to, p[kParis].zone()));
  }
  std::vector<std::string> want = {
      "2026-11-16T20:00:00+01:00 2026-11-17T07:00:00+01:00",
      "2026-11-17T20:00:00+01:00 2026-11-18T07:00:00+01:00",
      "2026-11-18T20:00:00+01:00 2026-11-19T07:00:00+01:00",
      "2026-11-19T20:00:00+01:00 2026-11-20T07:00:00+01:00",
      "2026-11-20T20:00:00+01:00 2026-11-23T07:00:00+01:00",
  };
  EXPECT_EQ(got, want);
}

// ---------------------------------------------------------------------------------------------
// Daylight saving: "07:00" is 07:00 wall-clock time on both sides of a change.

TEST(DaylightSaving, ParisSpringForward2026KeepsSevenOClockWallTime) {
  Policies p;  // 29 March 2026, 02:00 -> 03:00
  expect_releases(p, kParis,
                  {
                      {"2026-03-26T21:00:00+01:00", "2026-03-27T07:00:00+01:00"},
                      {"2026-03-27T21:00:00+01:00", "2026-03-30T07:00:00+02:00"},
                      {"2026-03-28T23:00:00+01:00", "2026-03-30T07:00:00+02:00"},
                      {"2026-03-29T01:59:59+01:00", "2026-03-30T07:00:00+02:00"},
                      {"2026-03-29T03:00:00+02:00", "2026-03-30T07:00:00+02:00"},
                      {"2026-03-30T21:00:00+02:00", "2026-03-31T07:00:00+02:00"},
                  });
  expect_open(p, kParis, {"2026-03-30T07:00:00+02:00"});
}

TEST(DaylightSaving, ParisWeekendAcrossSpringForwardIsOneHourShorter) {
  Policies p;
  Instant fri = at("2026-03-27T20:00:00+01:00");
  EXPECT_EQ(p[kParis].schedule().next_open(fri).at - fri, std::chrono::hours(58));
  Instant fri_autumn = at("2026-10-23T20:00:00+02:00");
  EXPECT_EQ(p[kParis].schedule().next_open(fri_autumn).at - fri_autumn, std::chrono::hours(60));
  Instant fri_plain = at("2026-11-20T20:00:00+01:00");
  EXPECT_EQ(p[kParis].schedule().next_open(fri_plain).at - fri_plain, std::chrono::hours(59));
}

TEST(DaylightSaving, ParisFallBack2026KeepsSevenOClockWallTime) {
  Policies p;  // 25 October 2026, 03:00 -> 02:00
  expect_releases(p, kParis,
                  {
                      {"2026-10-22T21:00:00+02:00", "2026-10-23T07:00:00+02:00"},
                      {"2026-10-23T21:00:00+02:00", "2026-10-26T07:00:00+01:00"},
                      {"2026-10-25T02:30:00+02:00", "2026-10-26T07:00:00+01:00"},
                      {"2026-10-25T02:30:00+01:00", "2026-10-26T07:00:00+01:00"},
                      {"2026-10-26T21:00:00+01:00", "2026-10-27T07:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-10-26T07:00:00+01:00"});
}

TEST(DaylightSaving, ParisSpringForward2027MeetsEasterMonday) {
  Policies p;  // 28 March 2027 is both the change and Easter Sunday; Monday 29 is closed.
  expect_releases(p, kParis,
                  {
                      {"2027-03-26T21:00:00+01:00", "2027-03-30T07:00:00+02:00"},
                      {"2027-03-25T21:00:00+01:00", "2027-03-26T07:00:00+01:00"},
                  });
}

TEST(DaylightSaving, ParisFallBack2027MeetsToussaint) {
  Policies p;  // 31 October 2027 change; Monday 1 November is Toussaint.
  expect_releases(p, kParis,
                  {
                      {"2027-10-29T21:00:00+02:00", "2027-11-02T07:00:00+01:00"},
                      {"2027-10-28T21:00:00+02:00", "2027-10-29T07:00:00+02:00"},
                  });
}

TEST(DaylightSaving, MiquelonSpringForward2026KeepsSevenOClockWallTime) {
  Policies p;  // 8 March 2026, 02:00 -> 03:00 (-03 -> -02)
  EXPECT_EQ(p[kMiquelon].zone()->name(), "America/Miquelon");
  expect_releases(p, kMiquelon,
                  {
                      {"2026-03-05T21:00:00-03:00", "2026-03-06T07:00:00-03:00"},
                      {"2026-03-06T21:00:00-03:00", "2026-03-09T07:00:00-02:00"},
                      {"2026-03-08T03:00:00-02:00", "2026-03-09T07:00:00-02:00"},
                  });
}

TEST(DaylightSaving, MiquelonFallBack2026KeepsSevenOClockWallTime) {
  Policies p;  // 1 November 2026 (also Toussaint, a Sunday), 02:00 -> 01:00
  expect_releases(p, kMiquelon,
                  {
                      {"2026-10-30T21:00:00-02:00", "2026-11-02T07:00:00-03:00"},
                      {"2026-11-01T01:30:00-03:00", "2026-11-02T07:00:00-03:00"},
                      {"2026-11-02T21:00:00-03:00", "2026-11-03T07:00:00-03:00"},
                  });
}

TEST(DaylightSaving, MiquelonChanges2027KeepSevenOClockWallTime) {
  Policies p;  // 14 March 2027 and 7 November 2027
  expect_releases(p, kMiquelon,
                  {
                      {"2027-03-12T21:00:00-03:00", "2027-03-15T07:00:00-02:00"},
                      {"2027-11-05T21:00:00-02:00", "2027-11-08T07:00:00-03:00"},
                      // Monday 1 November 2027 is Toussaint, a week before the change.
                      {"2027-10-29T21:00:00-02:00", "2027-11-02T07:00:00-02:00"},
                  });
}

TEST(DaylightSaving, WindowStartingInTheSpringGapStartsAtThreeOClock) {
  // Sunday 02:30 -> 05:00; on 29 March 2026 02:30 does not exist in Paris.
  Policies p = with_windows(kParis, {window({Sunday}, 2h + 30min, 5h)});
  expect_open(p, kParis, {"2026-03-29T01:59:59+01:00"});
  expect_releases(p, kParis,
                  {
                      {"2026-03-29T03:00:00+02:00", "2026-03-29T05:00:00+02:00"},
                      {"2026-03-29T04:59:59+02:00", "2026-03-29T05:00:00+02:00"},
                      // The Sunday before, the window starts at 02:30 as written.
                      {"2026-03-22T02:30:00+01:00", "2026-03-22T05:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-03-22T02:29:59+01:00", "2026-03-29T05:00:00+02:00"});
  auto intervals = p[kParis].schedule().quiet_intervals(at("2026-03-29T00:00:00+01:00"),
                                                        at("2026-03-30T00:00:00+02:00"));
  ASSERT_EQ(intervals.size(), 1u);
  EXPECT_EQ(format_rfc3339(intervals[0].first, p[kParis].zone()), "2026-03-29T03:00:00+02:00");
  EXPECT_EQ(format_rfc3339(intervals[0].second, p[kParis].zone()), "2026-03-29T05:00:00+02:00");
}

TEST(DaylightSaving, WindowEndingInTheSpringGapEndsAtTheFirstInstantAfterIt) {
  // Saturday 22:00 -> 02:30 (crosses midnight); 02:30 on 29 March 2026 does not exist.
  Policies p = with_windows(kParis, {window({Saturday}, 22h, 2h + 30min)});
  expect_releases(p, kParis,
                  {
                      {"2026-03-28T23:00:00+01:00", "2026-03-29T03:00:00+02:00"},
                      {"2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00"},
                      // Other weeks end at 02:30.
                      {"2026-03-21T23:00:00+01:00", "2026-03-22T02:30:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-03-29T03:00:00+02:00"});
}

TEST(DaylightSaving, WindowEndingInTheAutumnOverlapEndsAtTheEarlierInstant) {
  // Saturday 22:00 -> 02:30; on 25 October 2026 02:30 happens twice in Paris.
  Policies p = with_windows(kParis, {window({Saturday}, 22h, 2h + 30min)});
  expect_releases(p, kParis, {{"2026-10-24T23:00:00+02:00", "2026-10-25T02:30:00+02:00"}});
  expect_open(p, kParis, {"2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"});
}

TEST(DaylightSaving, WindowStartingInTheAutumnOverlapStartsAtTheEarlierInstant) {
  // Sunday 02:30 -> 04:00 on 25 October 2026: from 02:30+02:00 to 04:00+01:00 (2h30).
  Policies p = with_windows(kParis, {window({Sunday}, 2h + 30min, 4h)});
  expect_open(p, kParis, {"2026-10-25T02:29:59+02:00"});
  expect_releases(p, kParis,
                  {
                      {"2026-10-25T02:30:00+02:00", "2026-10-25T04:00:00+01:00"},
                      {"2026-10-25T02:10:00+01:00", "2026-10-25T04:00:00+01:00"},
                  });
}

TEST(DaylightSaving, MiquelonWindowStartingInTheSpringGapStartsAtThreeOClock) {
  Policies p = with_windows(kMiquelon, {window({Sunday}, 2h + 30min, 5h)});
  expect_open(p, kMiquelon, {"2026-03-08T01:59:59-03:00"});
  expect_releases(p, kMiquelon, {{"2026-03-08T03:00:00-02:00", "2026-03-08T05:00:00-02:00"}});
}

// ---------------------------------------------------------------------------------------------
// Zones without daylight saving: 21:00 local on a Tuesday is released 07:00 local next day.

TEST(ZonesWithoutDaylightSaving, ReunionTuesdayEveningIsReleasedAtSevenReunionTime) {
  Policies p;
  EXPECT_EQ(p[kReunion].zone()->name(), "Indian/Reunion");
  expect_releases(p, kReunion,
                  {
                      {"2026-11-17T21:00:00+04:00", "2026-11-18T07:00:00+04:00"},
                      {"2026-07-07T21:00:00+04:00", "2026-07-08T07:00:00+04:00"},
                  });
}

TEST(ZonesWithoutDaylightSaving, NoumeaTuesdayEveningIsReleasedAtSevenNoumeaTime) {
  Policies p;
  EXPECT_EQ(p[kNoumea].zone()->name(), "Pacific/Noumea");
  expect_releases(p, kNoumea,
                  {
                      {"2026-11-17T21:00:00+11:00", "2026-11-18T07:00:00+11:00"},
                      {"2026-07-07T21:00:00+11:00", "2026-07-08T07:00:00+11:00"},
                  });
}

TEST(ZonesWithoutDaylightSaving, CayenneTuesdayEveningIsReleasedAtSevenCayenneTime) {
  Policies p;
  EXPECT_EQ(p[kGuyane].zone()->name(), "America/Cayenne");
  expect_releases(p, kGuyane,
                  {
                      {"2026-11-17T21:00:00-03:00", "2026-11-18T07:00:00-03:00"},
                      {"2026-07-07T21:00:00-03:00", "2026-07-08T07:00:00-03:00"},
                  });
}

TEST(ZonesWithoutDaylightSaving, TahitiTuesdayEveningIsReleasedAtSevenTahitiTime) {
  Policies p;
  EXPECT_EQ(p[kTahiti].zone()->name(), "Pacific/Tahiti");
  expect_releases(p, kTahiti,
                  {
                      {"2026-11-17T21:00:00-10:00", "2026-11-18T07:00:00-10:00"},
                      {"2026-07-07T21:00:00-10:00", "2026-07-08T07:00:00-10:00"},
                  });
  // 20:00 in Tahiti on Tuesday is 06:00 UTC on Wednesday: judged by Tahiti's wall clock.
  expect_releases(p, kTahiti, {{"2026-11-18T06:00:00Z", "2026-11-18T07:00:00-10:00"}});
}

TEST(ZonesWithoutDaylightSaving, MayotteUsesItsOwnZone) {
  Policies p;
  EXPECT_EQ(p[kMayotte].zone()->name(), "Indian/Mayotte");
  expect_releases(p, kMayotte, {{"2026-11-17T21:00:00+03:00", "2026-11-18T07:00:00+03:00"}});
}

// ---------------------------------------------------------------------------------------------
// Closed days: quiet 00:00-24:00 local, merged with adjacent windows.

TEST(ClosedDays, ClosedDayIsQuietFromMidnightToMidnight) {
  // No windows at all, so only the closed day is quiet.
  Policies p = with_closed(kParis, {closed(day(2026, 11, 18), day(2026, 11, 18))},
                           std::vector<QuietWindow>{});
  expect_open(p, kParis, {"2026-11-17T23:59:59+01:00", "2026-11-19T00:00:00+01:00"});
  expect_releases(p, kParis,
                  {
                      {"2026-11-18T00:00:00+01:00", "2026-11-19T00:00:00+01:00"},
                      {"2026-11-18T23:59:59.999+01:00", "2026-11-19T00:00:00+01:00"},
                  });
}

TEST(ClosedDays, ClosedDayMergesWithTheEveningBeforeAndTheMorningAfter) {
  Policies p = with_closed(kParis, {closed(day(2026, 11, 18), day(2026, 11, 18))});
  expect_releases(p, kParis,
                  {
                      {"2026-11-17T21:00:00+01:00", "2026-11-19T07:00:00+01:00"},
                      {"2026-11-18T10:00:00+01:00", "2026-11-19T07:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-11-17T19:59:59+01:00", "2026-11-19T07:00:00+01:00"});
}

TEST(ClosedDays, ChristmasEveEveningIsHeldUntilTheMondayAfterChristmas) {
  Policies p;  // Thursday 24 December 2026; Friday 25 is Noël.
  expect_releases(p, kParis, {{"2026-12-24T21:00:00+01:00", "2026-12-28T07:00:00+01:00"}});
  expect_open(p, kParis, {"2026-12-24T10:00:00+01:00"});
}

TEST(ClosedDays, RangeFromWednesdayToTuesdayIsReleasedWednesdayAtSeven) {
  // Wednesday 18 .. Tuesday 24 November 2026. Wednesday 25 00:00-07:00 is inside the
  // Tuesday evening window, so the release is Wednesday 25 at 07:00.
  Policies p = with_closed(kParis, {closed(day(2026, 11, 18), day(2026, 11, 24))});
  expect_releases(p, kParis,
                  {
                      {"2026-11-17T21:00:00+01:00", "2026-11-25T07:00:00+01:00"},
                      {"2026-11-18T10:00:00+01:00", "2026-11-25T07:00:00+01:00"},
                      {"2026-11-22T15:00:00+01:00", "2026-11-25T07:00:00+01:00"},
                      {"2026-11-24T23:59:59+01:00", "2026-11-25T07:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-11-17T10:00:00+01:00", "2026-11-25T07:00:00+01:00"});
}

TEST(ClosedDays, RangeEndingOnFridayIsReleasedMondayAtSeven) {
  Policies p = with_closed(kParis, {closed(day(2026, 11, 16), day(2026, 11, 20))});
  expect_releases(p, kParis, {{"2026-11-16T10:00:00+01:00", "2026-11-23T07:00:00+01:00"}});
}

TEST(ClosedDays, SchoolHolidaysEndingOnSundayAreReleasedMondayAtSeven) {
  Policies p =
      with_closed(kParis, {closed(day(2026, 12, 19), day(2027, 1, 3), "vacances de Noël")});
  expect_releases(p, kParis,
                  {
                      {"2026-12-18T21:00:00+01:00", "2027-01-04T07:00:00+01:00"},
                      {"2026-12-31T12:00:00+01:00", "2027-01-04T07:00:00+01:00"},
                  });
}

TEST(ClosedDays, DayAfterARangeIsOpenAtMidnightWhenNoWindowCoversIt) {
  // Only the weekend window: Monday 16 .. Tuesday 17 closed; Wednesday 00:00 is open.
  Policies p = with_closed(kParis, {closed(day(2026, 11, 16), day(2026, 11, 17))},
                           std::vector<QuietWindow>{window({Friday}, 20h, 7h, Monday)});
  expect_releases(p, kParis,
                  {
                      {"2026-11-16T10:00:00+01:00", "2026-11-18T00:00:00+01:00"},
                      // The weekend before runs straight into the closed days.
                      {"2026-11-13T21:00:00+01:00", "2026-11-18T00:00:00+01:00"},
                  });
}

TEST(ClosedDays, SeveralRangesMergeWhenTheyTouch) {
  Policies p = with_closed(
      kParis,
      {closed(day(2026, 11, 16), day(2026, 11, 17)), closed(day(2026, 11, 18), day(2026, 11, 18))},
      std::vector<QuietWindow>{});
  expect_releases(p, kParis, {{"2026-11-16T10:00:00+01:00", "2026-11-19T00:00:00+01:00"}});
}

TEST(ClosedDays, WindowEndingAtMidnightRunsStraightIntoAClosedDay) {
  // Tuesday 20:00 -> Wednesday 00:00, then Wednesday 18 closed: one stretch until Thursday.
  Policies p = with_closed(kParis, {closed(day(2026, 11, 18), day(2026, 11, 18))},
                           std::vector<QuietWindow>{window({Tuesday}, 20h, 0h)});
  expect_releases(p, kParis, {{"2026-11-17T21:00:00+01:00", "2026-11-19T00:00:00+01:00"}});
}

TEST(ClosedDays, PreviewMergesWindowsAndHolidaysIntoOneInterval) {
  Policies p;
  auto intervals = p[kParis].schedule().quiet_intervals(at("2026-12-24T12:00:00+01:00"),
                                                        at("2026-12-28T12:00:00+01:00"));
  ASSERT_EQ(intervals.size(), 1u);
  EXPECT_EQ(format_rfc3339(intervals[0].first, p[kParis].zone()), "2026-12-24T20:00:00+01:00");
  EXPECT_EQ(format_rfc3339(intervals[0].second, p[kParis].zone()), "2026-12-28T07:00:00+01:00");
}

TEST(ClosedDays, ClosedDaysAcrossTheSpringChangeEndAtLocalMidnight) {
  Policies p =
      with_closed(kParis, {closed(day(2026, 3, 28), day(2026, 3, 29))}, std::vector<QuietWindow>{});
  expect_releases(p, kParis, {{"2026-03-28T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}});
}

// ---------------------------------------------------------------------------------------------
// Public holidays (the built-in fr-public set).

TEST(PublicHolidays, LabourDayOnFriday2026IsHeldUntilMonday) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"2026-05-01T10:00:00+02:00", "2026-05-04T07:00:00+02:00"},
                      {"2026-04-30T21:00:00+02:00", "2026-05-04T07:00:00+02:00"},
                  });
}

TEST(PublicHolidays, VictoryDayOnFriday2026IsHeldUntilMonday) {
  Policies p;
  expect_releases(p, kParis, {{"2026-05-08T10:00:00+02:00", "2026-05-11T07:00:00+02:00"}});
}

TEST(PublicHolidays, AscensionThursdayIsHeldUntilFridayMorning) {
  Policies p;  // Easter 5 April 2026 + 39 days = Thursday 14 May.
  expect_releases(p, kParis,
                  {
                      {"2026-05-14T10:00:00+02:00", "2026-05-15T07:00:00+02:00"},
                      {"2026-05-13T21:00:00+02:00", "2026-05-15T07:00:00+02:00"},
                      // 2027: Easter 28 March + 39 = Thursday 6 May.
                      {"2027-05-06T10:00:00+02:00", "2027-05-07T07:00:00+02:00"},
                  });
}

TEST(PublicHolidays, WhitMondayExtendsTheWeekend) {
  Policies p;  // Monday 25 May 2026
  expect_releases(p, kParis, {{"2026-05-22T21:00:00+02:00", "2026-05-26T07:00:00+02:00"}});
}

TEST(PublicHolidays, ArmisticeOnWednesday2026IsHeldUntilThursdayMorning) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"2026-11-10T21:00:00+01:00", "2026-11-12T07:00:00+01:00"},
                      {"2026-11-11T10:00:00+01:00", "2026-11-12T07:00:00+01:00"},
                  });
}

TEST(PublicHolidays, GoodFridayIsClosedInAlsaceMoselleButNotInParis) {
  Policies p;  // Friday 3 April 2026; Monday 6 is Easter Monday everywhere.
  expect_releases(p, kMoselle, {{"2026-04-03T10:00:00+02:00", "2026-04-07T07:00:00+02:00"}});
  expect_releases(p, kBasRhin, {{"2026-04-03T10:00:00+02:00", "2026-04-07T07:00:00+02:00"}});
  expect_open(p, kParis, {"2026-04-03T10:00:00+02:00"});
  expect_releases(p, kParis, {{"2026-04-03T21:00:00+02:00", "2026-04-07T07:00:00+02:00"}});
}

TEST(PublicHolidays, SaintStephenIsClosedInAlsaceMoselleButNotInParis) {
  Policies p;
  // Friday 26 December 2025.
  expect_releases(p, kMoselle, {{"2025-12-26T10:00:00+01:00", "2025-12-29T07:00:00+01:00"}});
  expect_open(p, kParis, {"2025-12-26T10:00:00+01:00"});
  // Tuesday 25 / Wednesday 26 December 2029.
  expect_releases(p, kMoselle, {{"2029-12-25T10:00:00+01:00", "2029-12-27T07:00:00+01:00"}});
  expect_releases(p, kParis, {{"2029-12-25T10:00:00+01:00", "2029-12-26T07:00:00+01:00"}});
}

TEST(PublicHolidays, GuadeloupeAbolitionDayIsClosedOnlyInGuadeloupe) {
  Policies p;  // Wednesday 27 May 2026
  EXPECT_EQ(p[kGuadeloupe].zone()->name(), "America/Guadeloupe");
  expect_releases(p, kGuadeloupe, {{"2026-05-27T10:00:00-04:00", "2026-05-28T07:00:00-04:00"}});
  expect_open(p, kMartinique, {"2026-05-27T10:00:00-04:00"});
  expect_open(p, kParis, {"2026-05-27T10:00:00+02:00"});
}

TEST(PublicHolidays, ReunionAbolitionDayOnMonday2027IsHeldUntilTuesday) {
  Policies p;  // Monday 20 December 2027
  expect_releases(p, kReunion,
                  {
                      {"2027-12-20T10:00:00+04:00", "2027-12-21T07:00:00+04:00"},
                      {"2027-12-17T21:00:00+04:00", "2027-12-21T07:00:00+04:00"},
                  });
  expect_open(p, kGuadeloupe, {"2027-12-20T10:00:00-04:00"});
}

TEST(PublicHolidays, TurningPublicHolidaysOffKeepsOnlyTheWindows) {
  EstablishmentRules defaults;
  defaults.public_holidays = false;
  Policies p({}, defaults);
  expect_open(p, kParis, {"2026-05-01T10:00:00+02:00", "2026-12-25T10:00:00+01:00"});
  expect_open(p, kMoselle, {"2026-04-03T10:00:00+02:00"});
  expect_releases(p, kParis, {{"2026-12-24T21:00:00+01:00", "2026-12-25T07:00:00+01:00"}});
}

TEST(PublicHolidays, TurningPublicHolidaysOffKeepsTheSchoolsClosedDays) {
  EstablishmentRules r = establishment(kParis);
  r.public_holidays = false;
  r.closed = {closed(day(2026, 5, 4), day(2026, 5, 4))};
  Policies p({r});
  expect_open(p, kParis, {"2026-05-01T10:00:00+02:00"});
  expect_releases(p, kParis, {{"2026-05-01T21:00:00+02:00", "2026-05-05T07:00:00+02:00"}});
}

// ---------------------------------------------------------------------------------------------
// Several windows.

TEST(SeveralWindows, OverlappingWindowsOnWednesdayAreReleasedAtTheLaterEnd) {
  for (bool reversed : {false, true}) {
    SCOPED_TRACE(reversed ? "declared 16:00-19:00 first" : "declared 12:00-18:00 first");
    std::vector<QuietWindow> w = {window({Wednesday}, 12h, 18h), window({Wednesday}, 16h, 19h)};
    if (reversed)
      std::swap(w[0], w[1]);
    Policies p = with_windows(kParis, w);
    expect_releases(p, kParis,
                    {
                        {"2026-11-18T12:00:00+01:00", "2026-11-18T19:00:00+01:00"},
                        {"2026-11-18T13:00:00+01:00", "2026-11-18T19:00:00+01:00"},
                        {"2026-11-18T17:00:00+01:00", "2026-11-18T19:00:00+01:00"},
                    });
    expect_open(
        p, kParis,
        {"2026-11-18T11:59:59+01:00", "2026-11-18T19:00:00+01:00", "2026-11-17T13:00:00+01:00"});
  }
}

TEST(SeveralWindows, WindowOverlappingTheEveningWindowIsMergedWithIt) {
  std::vector<QuietWindow> w = default_quiet_windows();
  w.push_back(window({Wednesday}, 18h, 21h));
  Policies p = with_windows(kParis, w);
  expect_releases(p, kParis, {{"2026-11-18T18:30:00+01:00", "2026-11-19T07:00:00+01:00"}});
  expect_open(p, kParis, {"2026-11-17T18:30:00+01:00"});
}

TEST(SeveralWindows, TouchingWindowsAreReleasedAtTheEndOfTheLast) {
  Policies p = with_windows(kParis, {window({Wednesday}, 12h, 14h), window({Wednesday}, 14h, 16h)});
  expect_releases(p, kParis, {{"2026-11-18T13:00:00+01:00", "2026-11-18T16:00:00+01:00"}});
}

TEST(SeveralWindows, WindowOnSeveralDaysStartsOnEachOfThem) {
  Policies p = with_windows(kParis, {window({Monday, Wednesday}, 12h, 13h)});
  expect_releases(p, kParis,
                  {
                      {"2026-11-16T12:30:00+01:00", "2026-11-16T13:00:00+01:00"},
                      {"2026-11-18T12:30:00+01:00", "2026-11-18T13:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-11-17T12:30:00+01:00"});
}

TEST(SeveralWindows, WindowWithEndDaySpansSeveralDays) {
  // Wednesday 12:00 -> Friday 08:00.
  Policies p = with_windows(kParis, {window({Wednesday}, 12h, 8h, Friday)});
  expect_releases(p, kParis,
                  {
                      {"2026-11-18T12:00:00+01:00", "2026-11-20T08:00:00+01:00"},
                      {"2026-11-19T15:00:00+01:00", "2026-11-20T08:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2026-11-18T11:59:59+01:00", "2026-11-20T08:00:00+01:00"});
}

TEST(SeveralWindows, WindowCrossingMidnightWithoutEndDayEndsNextDay) {
  Policies p = with_windows(kParis, {window({Saturday}, 23h, 1h)});
  expect_releases(p, kParis, {{"2026-11-21T23:30:00+01:00", "2026-11-22T01:00:00+01:00"}});
  expect_open(p, kParis, {"2026-11-22T01:00:00+01:00", "2026-11-21T22:59:00+01:00"});
}

TEST(SeveralWindows, EndDayEqualToStartDayWithLaterEndEndsTheSameDay) {
  Policies p = with_windows(kParis, {window({Monday}, 9h, 10h, Monday)});
  expect_releases(p, kParis, {{"2026-11-16T09:30:00+01:00", "2026-11-16T10:00:00+01:00"}});
  expect_open(p, kParis, {"2026-11-17T09:30:00+01:00", "2026-11-16T10:00:00+01:00"});
}

TEST(SeveralWindows, EndDayEqualToStartDayWithEarlierEndLastsAlmostSevenDays) {
  // Monday 10:00 -> the next Monday 09:00.
  Policies p = with_windows(kParis, {window({Monday}, 10h, 9h, Monday)});
  expect_releases(p, kParis,
                  {
                      {"2026-11-16T10:00:00+01:00", "2026-11-23T09:00:00+01:00"},
                      {"2026-11-18T12:00:00+01:00", "2026-11-23T09:00:00+01:00"},
                      {"2026-11-22T23:00:00+01:00", "2026-11-23T09:00:00+01:00"},
                  });
  expect_open(
      p, kParis,
      {"2026-11-16T09:00:00+01:00", "2026-11-16T09:59:59+01:00", "2026-11-23T09:30:00+01:00"});
}

TEST(SeveralWindows, EndDayEqualToStartDayWithEqualEndCoversTheWholeWeek) {
  std::vector<QuietWindow> w = {window({Monday}, 9h, 9h, Monday)};
  EXPECT_EQ(w[0].span_days(Monday), 7);
  EXPECT_TRUE(windows_cover_whole_week(w));
  Policies p = with_windows(kParis, w);
  // Nothing is ever open: fail closed rather than release.
  EXPECT_EQ(p.release(kParis, "2026-11-18T12:00:00+01:00"), "not evaluated");
}

TEST(SeveralWindows, WindowsAndHolidayChainIntoOneQuietStretch) {
  // Tuesday 18:00 -> 21:00 plus the defaults, before Armistice (Wednesday 11 November 2026).
  std::vector<QuietWindow> w = default_quiet_windows();
  w.push_back(window({Tuesday}, 18h, 21h));
  Policies p = with_windows(kParis, w);
  expect_releases(p, kParis, {{"2026-11-10T18:30:00+01:00", "2026-11-12T07:00:00+01:00"}});
}

TEST(SeveralWindows, IdenticalWindowsInDifferentZonesFollowEachZone) {
  EstablishmentRules paris = establishment(kParis);
  EstablishmentRules reunion = establishment(kReunion);
  paris.windows = reunion.windows = {window({Wednesday}, 12h, 13h)};
  Policies p({paris, reunion});
  expect_releases(p, kParis, {{"2026-11-18T12:30:00+01:00", "2026-11-18T13:00:00+01:00"}});
  expect_releases(p, kReunion, {{"2026-11-18T12:30:00+04:00", "2026-11-18T13:00:00+04:00"}});
  expect_open(p, kReunion, {"2026-11-18T13:00:00+04:00"});
}

// ---------------------------------------------------------------------------------------------
// Fail closed (rule 8).

TEST(FailClosed, ClosedRangeOfTenYearsCannotBeEvaluated) {
  Policies p = with_closed(kParis, {closed(day(2026, 1, 1), day(2035, 12, 31))});
  Release r = p[kParis].schedule().next_open(at("2026-11-17T10:00:00+01:00"));
  EXPECT_FALSE(r.evaluated);
  EXPECT_EQ(p.release(kParis, "2026-11-17T10:00:00+01:00"), "not evaluated");
}

TEST(FailClosed, ClosedRangeShorterThanTheSearchLimitIsEvaluated) {
  // Four years, ending Friday 15 November 2030: released Monday 18 at 07:00.
  Policies p = with_closed(kParis, {closed(day(2026, 11, 16), day(2030, 11, 15))});
  EXPECT_EQ(p.release(kParis, "2026-11-16T10:00:00+01:00"), "2030-11-18T07:00:00+01:00");
}

TEST(FailClosed, TenYearClosedRangeOutsideTheHorizonCannotBeEvaluated) {
  Policies p = with_closed(kParis, {closed(day(2060, 1, 1), day(2069, 12, 31))});
  EXPECT_EQ(p.release(kParis, "2060-06-01T10:00:00+02:00"), "not evaluated");
}

// Rule 8 (fail closed): a schedule that can never be open is quiet.
TEST(FailClosed, IsQuietAnswersQuietWhenThePolicyCannotBeEvaluated) {
  Policies p = with_closed(kParis, {closed(day(2026, 1, 1), day(2035, 12, 31))});
  EXPECT_TRUE(p[kParis].schedule().is_quiet(at("2026-11-17T10:00:00+01:00")))
      << "Schedule::is_quiet must fail closed";
}

// ---------------------------------------------------------------------------------------------
// Instants far outside the compiled horizon (2020-2045) answer like those inside it.

TEST(FarInstants, FridayEveningIn2070IsHeldUntilMondaySeven) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"2070-11-21T21:00:00+01:00", "2070-11-24T07:00:00+01:00"},
                      {"2070-11-18T20:00:00+01:00", "2070-11-19T07:00:00+01:00"},
                  });
  expect_open(p, kParis, {"2070-11-18T19:59:59+01:00", "2070-11-19T07:00:00+01:00"});
}

TEST(FarInstants, FridayEveningIn1990IsHeldUntilMondaySeven) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"1990-11-23T21:00:00+01:00", "1990-11-26T07:00:00+01:00"},
                      {"1990-07-06T21:00:00+02:00", "1990-07-09T07:00:00+02:00"},
                      {"1990-11-20T20:00:00+01:00", "1990-11-21T07:00:00+01:00"},
                  });
  expect_open(p, kParis, {"1990-11-20T19:59:59+01:00", "1990-11-21T07:00:00+01:00"});
}

TEST(FarInstants, NewYear1970AcrossTheEpochIsHeldUntilFridaySeven) {
  // Wednesday 31 December 1969 evening; Thursday 1 January 1970 is Jour de l'an.
  Policies p;
  expect_releases(p, kParis,
                  {
                      {"1969-12-31T21:00:00+01:00", "1970-01-02T07:00:00+01:00"},
                      {"1970-01-01T00:59:59+01:00", "1970-01-02T07:00:00+01:00"},
                      {"1965-11-19T21:00:00+01:00", "1965-11-22T07:00:00+01:00"},
                  });
  expect_open(p, kParis, {"1969-12-31T19:59:59.999+01:00"});
}

TEST(FarInstants, HolidaysOutsideTheHorizonAreClosed) {
  Policies p;
  expect_releases(p, kParis,
                  {
                      // Christmas 2070 is a Thursday.
                      {"2070-12-24T21:00:00+01:00", "2070-12-26T07:00:00+01:00"},
                      // Ascension 1990: Thursday 24 May.
                      {"1990-05-24T10:00:00+02:00", "1990-05-25T07:00:00+02:00"},
                  });
  expect_releases(p, kMoselle, {{"2070-12-24T21:00:00+01:00", "2070-12-29T07:00:00+01:00"}});
}

TEST(FarInstants, ClosedRangesOutsideTheHorizonAreClosed) {
  Policies p = with_closed(kParis, {closed(day(2070, 11, 17), day(2070, 11, 19))});
  expect_releases(p, kParis, {{"2070-11-17T10:00:00+01:00", "2070-11-20T07:00:00+01:00"}});
}

// Daylight saving after 2037 (docs/policy.md): Debian's date library reads only the explicit
// transitions of /usr/share/zoneinfo, which zic writes up to 2037; policy/zone_time continues
// them with each file's footer rule ("CET-1CEST,M3.5.0,M10.5.0/3"), so Europe/Paris and
// America/Miquelon keep their summer time.
TEST(FarInstants, SummerFridayEveningIn2070IsHeldUntilMondaySevenSummerTime) {
  Policies p;
  expect_releases(p, kParis, {{"2070-07-04T21:00:00+02:00", "2070-07-07T07:00:00+02:00"}});
  // 20:30 summer time on a Tuesday is quiet.
  expect_releases(p, kParis, {{"2070-07-01T20:30:00+02:00", "2070-07-02T07:00:00+02:00"}});
}

TEST(DaylightSaving, SummerTimeInsideTheHorizonAfter2037KeepsSevenOClockWallTime) {
  // Friday 6 July 2040 is inside the compiled horizon.
  Policies p;
  expect_releases(p, kParis, {{"2040-07-06T21:00:00+02:00", "2040-07-09T07:00:00+02:00"}});
  // 20:30 summer time on a Tuesday is quiet.
  expect_releases(p, kParis, {{"2040-07-03T20:30:00+02:00", "2040-07-04T07:00:00+02:00"}});
  expect_releases(p, kMiquelon, {{"2040-07-06T21:00:00-02:00", "2040-07-09T07:00:00-02:00"}});
}

// Summer time in 2070, outside the compiled horizon.
TEST(FarInstants, DaylightSavingOutsideTheHorizonKeepsSevenOClockWallTime) {
  Policies p;  // 2070: last Sunday of March is the 30th, also Easter; Monday 31 is closed.
  expect_releases(p, kParis,
                  {
                      {"2070-03-28T21:00:00+01:00", "2070-04-01T07:00:00+02:00"},
                      {"2070-03-27T21:00:00+01:00", "2070-03-28T07:00:00+01:00"},
                      {"2070-04-01T21:00:00+02:00", "2070-04-02T07:00:00+02:00"},
                  });
}

// Every half hour of one week: the answer, as a duration from the question, is the same in
// 2026 (inside the horizon), 2070, 1990 and 1965 (outside it, 1965 before the epoch). The three
// weeks start on a Monday in November, with no public holiday and no change of offset.
TEST(FarInstants, AWholeWeekIn2070And1990AnswersLikeTheSameWeekIn2026) {
  Policies p;
  const Schedule& s = p[kParis].schedule();
  Instant base = at("2026-11-16T00:00:00+01:00");
  for (Instant other : {at("2070-11-17T00:00:00+01:00"), at("1990-11-19T00:00:00+01:00"),
                        at("1965-11-15T00:00:00+01:00")}) {
    for (int half_hours = 0; half_hours < 7 * 48; ++half_hours) {
      auto offset = std::chrono::minutes(30 * half_hours) + std::chrono::seconds(17);
      Release a = s.next_open(base + offset);
      Release b = s.next_open(other + offset);
      ASSERT_TRUE(a.evaluated);
      ASSERT_TRUE(b.evaluated);
      EXPECT_EQ(a.at - (base + offset), b.at - (other + offset))
          << format_rfc3339(base + offset, s.zone()) << " vs "
          << format_rfc3339(other + offset, s.zone());
    }
  }
}

// The horizon only changes the cost: a set compiled for 2000-2060 answers exactly like the
// default one around the default horizon's edges, with closed ranges straddling them.
TEST(FarInstants, AnswersDoNotDependOnTheHorizonAtItsEdges) {
  EstablishmentRules r = establishment(kParis);
  r.closed = {closed(day(2019, 12, 21), day(2020, 1, 5)),
              closed(day(2045, 12, 20), day(2046, 1, 4))};
  Policies narrow({r});
  Policies wide({r}, {}, Horizon{2000, 2060});
  for (const char* from : {"2019-11-15T00:00:00Z", "2045-11-15T00:00:00Z"}) {
    Instant t = at(from);
    for (int i = 0; i < 90 * 24; ++i, t += std::chrono::hours(1) + std::chrono::minutes(7)) {
      std::string a = narrow.release(kParis, t);
      std::string b = wide.release(kParis, t);
      ASSERT_EQ(a, b) << "received " << format_rfc3339(t, narrow[kParis].zone());
    }
  }
  EXPECT_EQ(narrow.release(kParis, "2045-12-19T21:00:00+01:00"), "2046-01-05T07:00:00+01:00");
  EXPECT_EQ(narrow.release(kParis, "2019-12-20T21:00:00+01:00"), "2020-01-06T07:00:00+01:00");
}

}  // namespace
}  // namespace treve::policy
