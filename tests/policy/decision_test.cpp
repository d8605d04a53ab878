// The decision per recipient (DESIGN.md "The rules it enforces", rules 4, 5 and 8) and the
// reasons in words (describe). Every expectation is an explicit instant in Paris time unless
// said otherwise.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/policy/policy_fixtures.h"

namespace treve::policy {
namespace {

using namespace fixtures;

// Friday 27 November 2026, 21:14 in Paris: the weekend window is running.
constexpr std::string_view kFridayEvening = "2026-11-27T21:14:03+01:00";

Policies with_grade_delay(std::chrono::minutes delay) {
  EstablishmentRules r = establishment(kParis);
  r.parent_grade_delay = delay;
  return Policies({r});
}

std::vector<DeliveryDecision> decide_at(const Policies& p, const Notification& n,
                                        std::string_view received, bool may_bypass = false) {
  return decide(p[n.establishment], n, at(received), may_bypass);
}

// ---------------------------------------------------------------------------------------------
// Grades reach students before parents (rule 4).

TEST(GradeSequencing, ParentOfAStudentIsReleasedADayAfterTheStudent) {
  Policies p;
  auto n = notification(Category::grade, {student("s1"), parent("p1", "s1")});
  auto d = decide_at(p, n, kFridayEvening);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].recipient, 0u);
  EXPECT_TRUE(d[0].held);
  EXPECT_FALSE(d[0].grade_delay);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");

  EXPECT_EQ(d[1].recipient, 1u);
  EXPECT_TRUE(d[1].held);
  EXPECT_TRUE(d[1].evaluated);
  EXPECT_TRUE(d[1].grade_delay);
  EXPECT_EQ(d[1].delay, std::chrono::hours(24));
  EXPECT_EQ(format_rfc3339(d[1].student_release, p[kParis].zone()), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-12-01T07:00:00+01:00");
}

TEST(GradeSequencing, ZeroDelayReleasesTheParentWithTheStudent) {
  Policies p = with_grade_delay(std::chrono::minutes(0));
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     kFridayEvening);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T07:00:00+01:00");
  EXPECT_TRUE(d[1].grade_delay);
}

TEST(GradeSequencing, ZeroDelayInDaytimeReleasesBothAtOnce) {
  Policies p = with_grade_delay(std::chrono::minutes(0));
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(d[0].held);
  EXPECT_FALSE(d[1].held);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-17T10:00:00+01:00");
}

TEST(GradeSequencing, SeventyTwoHoursFromMondaySevenLandsOnThursdaySeven) {
  Policies p = with_grade_delay(std::chrono::hours(72));
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     kFridayEvening);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-12-03T07:00:00+01:00");
}

TEST(GradeSequencing, SevenDaysFromMondaySevenLandsOnTheNextMondaySeven) {
  Policies p = with_grade_delay(std::chrono::days(7));
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     kFridayEvening);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-12-07T07:00:00+01:00");
}

TEST(GradeSequencing, AnyDurationIsAccepted) {
  Policies p = with_grade_delay(std::chrono::minutes(90));
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     kFridayEvening);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T08:30:00+01:00");
}

TEST(GradeSequencing, DelayEndingOnSaturdayIsHeldUntilMondaySeven) {
  // Student released at once on Friday 10:00; +24h is Saturday 10:00, in the weekend window.
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2026-11-27T10:00:00+01:00");
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-27T10:00:00+01:00");
  EXPECT_TRUE(d[1].held);
  EXPECT_EQ(format_rfc3339(d[1].student_release, p[kParis].zone()), "2026-11-27T10:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T07:00:00+01:00");
  ASSERT_EQ(d[1].quiet.size, 1u);
  EXPECT_EQ(d[1].quiet.causes[0].kind, QuietCause::Kind::window);
}

TEST(GradeSequencing, DelayEndingOnArmisticeIsHeldUntilThursdaySeven) {
  // Tuesday 10 November 2026 10:00; +24h is Wednesday 11 November, a public holiday.
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2026-11-10T10:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-10T10:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-12T07:00:00+01:00");
}

TEST(GradeSequencing, DelayCrossingAHolidayButEndingOnAnOpenDayIsNotExtended) {
  // Student released Tuesday 10 November 2026 at 10:00 with 72h: Friday 13 at 10:00 is open.
  Policies p = with_grade_delay(std::chrono::hours(72));
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2026-11-10T10:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-13T10:00:00+01:00");
}

TEST(GradeSequencing, DelayIsCountedFromTheStudentReleaseNotFromReception) {
  // Received Tuesday 21:00, student released Wednesday 07:00, parent Thursday 07:00.
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-19T07:00:00+01:00");
}

TEST(GradeSequencing, ParentWithoutOfWaitsForTheLatestStudent) {
  Policies p;
  auto n = notification(Category::grade, {student("s1"), student("s2"), parent("p1")});
  auto d = decide_at(p, n, kFridayEvening);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T07:00:00+01:00");
  EXPECT_TRUE(d[2].grade_delay);
  EXPECT_EQ(format_rfc3339(d[2].student_release, p[kParis].zone()), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[2]), "2026-12-01T07:00:00+01:00");
}

TEST(GradeSequencing, ParentWhoseOfNamesNobodyInTheEventCountsFromItsOwnRelease) {
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s9")}),
                     kFridayEvening);
  EXPECT_TRUE(d[1].grade_delay);
  EXPECT_EQ(format_rfc3339(d[1].student_release, p[kParis].zone()), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-12-01T07:00:00+01:00");
}

TEST(GradeSequencing, ParentWithNoStudentInTheEventCountsFromItsOwnRelease) {
  Policies p;
  auto evening = decide_at(p, notification(Category::grade, {parent("p1")}), kFridayEvening);
  EXPECT_EQ(release_text(p[kParis], evening[0]), "2026-12-01T07:00:00+01:00");
  // In daytime its own release is the reception: +24h.
  auto day = decide_at(p, notification(Category::grade, {parent("p1", "s1")}),
                       "2026-11-17T10:00:00+01:00");
  EXPECT_TRUE(day[0].held);
  EXPECT_EQ(release_text(p[kParis], day[0]), "2026-11-18T10:00:00+01:00");
}

TEST(GradeSequencing, ParentWhoseOfNamesAStaffMemberCountsFromItsOwnRelease) {
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {staff("t1"), parent("p1", "t1")}),
                     "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-18T10:00:00+01:00");
}

TEST(GradeSequencing, ParentListedBeforeItsStudentStillWaits) {
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {parent("p1", "s1"), student("s1")}),
                     kFridayEvening);
  EXPECT_EQ(d[0].recipient, 0u);
  EXPECT_EQ(d[1].recipient, 1u);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-12-01T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T07:00:00+01:00");
}

TEST(GradeSequencing, TwoParentsOfOneStudentAreBothDelayed) {
  Policies p;
  auto d = decide_at(
      p, notification(Category::grade, {student("s1"), parent("p1", "s1"), parent("p2", "s1")}),
      kFridayEvening);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-12-01T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[2]), "2026-12-01T07:00:00+01:00");
}

TEST(GradeSequencing, NonGradeCategoriesAreNotSequenced) {
  Policies p;
  for (Category c : {Category::message, Category::homework, Category::blog, Category::news,
                     Category::schedule, Category::absence, Category::alert, Category::other}) {
    SCOPED_TRACE(std::string(to_string(c)));
    auto d = decide_at(p, notification(c, {student("s1"), parent("p1", "s1")}), kFridayEvening);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_FALSE(d[1].grade_delay);
    EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
    EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T07:00:00+01:00");
  }
  auto day = decide_at(p, notification(Category::message, {student("s1"), parent("p1", "s1")}),
                       "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(day[1].held);
}

TEST(GradeSequencing, StaffIsNotDelayed) {
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), staff("t1"), parent("p1")}),
                     kFridayEvening);
  EXPECT_FALSE(d[1].grade_delay);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[2]), "2026-12-01T07:00:00+01:00");
}

TEST(GradeSequencing, ParentReleaseKeepsSevenOClockAcrossDaylightSaving) {
  // Friday 27 March 2026 evening; student Monday 30 (+02:00), parent Tuesday 31 at 07:00.
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2026-03-27T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-03-30T07:00:00+02:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-03-31T07:00:00+02:00");
}

// ---------------------------------------------------------------------------------------------
// Urgent notifications (rule 5).

TEST(Urgent, UrgentAlertFromAConnectorThatMayBypassIsDeliveredAtOnce) {
  Policies p;
  auto n = notification(Category::alert, {student("s1"), parent("p1", "s1"), staff("t1")}, true);
  auto d = decide_at(p, n, kFridayEvening, true);
  ASSERT_EQ(d.size(), 3u);
  for (const auto& x : d) {
    EXPECT_FALSE(x.held);
    EXPECT_TRUE(x.evaluated);
    EXPECT_EQ(x.release_at, at(kFridayEvening));
    EXPECT_EQ(x.urgent, UrgentOutcome::bypassed);
  }
  EXPECT_EQ(describe(p[kParis], d[0], "pronote"), "urgent: bypass allowed for connector pronote");
  EXPECT_NE(describe(p[kParis], d[0]).find("bypass allowed"), std::string::npos);
}

TEST(Urgent, UrgentAlertFromAConnectorThatMayNotBypassIsHeldAndTheRefusalRecorded) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::alert, {student("s1")}, true), kFridayEvening, false);
  EXPECT_TRUE(d[0].held);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::refused_connector);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], d[0], "pronote"),
            "urgent bypass refused (connector pronote may not bypass); quiet window Fri "
            "20:00-Mon 07:00");
}

TEST(Urgent, UrgentMessageIsHeldBecauseMessagesAreNotInTheUrgentList) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}, true), kFridayEvening, true);
  EXPECT_TRUE(d[0].held);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::refused_category);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], d[0], "pronote"),
            "urgent bypass refused (category not in this establishment's urgent list); quiet "
            "window Fri 20:00-Mon 07:00");
}

TEST(Urgent, ConnectorRefusalIsReportedBeforeCategoryRefusal) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}, true), kFridayEvening, false);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::refused_connector);
  EXPECT_TRUE(d[0].held);
}

TEST(Urgent, EstablishmentUrgentListDecidesWhichCategoriesBypass) {
  EstablishmentRules r = establishment(kParis);
  r.urgent_categories = (1u << static_cast<unsigned>(Category::alert)) |
                        (1u << static_cast<unsigned>(Category::absence));
  Policies p({r});
  auto absence = decide_at(p, notification(Category::absence, {parent("p1", "s1")}, true),
                           kFridayEvening, true);
  EXPECT_FALSE(absence[0].held);
  EXPECT_EQ(absence[0].urgent, UrgentOutcome::bypassed);
  auto message = decide_at(p, notification(Category::message, {parent("p1", "s1")}, true),
                           kFridayEvening, true);
  EXPECT_TRUE(message[0].held);
  EXPECT_EQ(message[0].urgent, UrgentOutcome::refused_category);
}

TEST(Urgent, AlertNotMarkedUrgentIsHeldLikeAnyOther) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::alert, {student("s1")}, false), kFridayEvening, true);
  EXPECT_TRUE(d[0].held);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::not_urgent);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
}

TEST(Urgent, BypassOutsideQuietTimeIsStillRecordedAsABypass) {
  Policies p;
  auto d = decide_at(p, notification(Category::alert, {student("s1")}, true),
                     "2026-11-17T10:00:00+01:00", true);
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::bypassed);
}

TEST(Urgent, RefusedUrgentGradeIsStillSequenced) {
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}, true),
                     kFridayEvening, true);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::refused_category);
  EXPECT_EQ(d[1].urgent, UrgentOutcome::refused_category);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-30T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-12-01T07:00:00+01:00");
}

TEST(Urgent, BypassedUrgentGradeReachesParentsAtOnceToo) {
  EstablishmentRules r = establishment(kParis);
  r.urgent_categories = 1u << static_cast<unsigned>(Category::grade);
  Policies p({r});
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}, true),
                     kFridayEvening, true);
  for (const auto& x : d) {
    EXPECT_FALSE(x.held);
    EXPECT_EQ(x.urgent, UrgentOutcome::bypassed);
    EXPECT_EQ(release_text(p[kParis], x), "2026-11-27T21:14:03+01:00");
  }
}

TEST(Urgent, RefusedUrgentInDaytimeIsDeliveredAndTheRefusalStillSaid) {
  Policies p;
  auto d = decide_at(p, notification(Category::alert, {student("s1")}, true),
                     "2026-11-17T10:00:00+01:00", false);
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::refused_connector);
  EXPECT_EQ(describe(p[kParis], d[0]),
            "urgent bypass refused (this connector may not bypass); outside quiet windows and "
            "closed days");
}

// ---------------------------------------------------------------------------------------------
// Reasons in words.

TEST(Describe, NamesTheWeekdayWindow) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], d[0]), "quiet window Mon-Thu 20:00-07:00");
}

TEST(Describe, NamesTheWeekendWindow) {
  Policies p;
  auto d = decide_at(p, notification(Category::message, {student("s1")}), kFridayEvening);
  EXPECT_EQ(describe(p[kParis], d[0]), "quiet window Fri 20:00-Mon 07:00");
}

TEST(Describe, NamesTheHolidayWithItsFrenchName) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-12-24T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-12-28T07:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], d[0]),
            "quiet window Mon-Thu 20:00-07:00, then public holiday Noël (Fri 2026-12-25), then "
            "quiet window Fri 20:00-Mon 07:00");
}

TEST(Describe, NamesTheAlsaceMoselleEasterHolidays) {
  Policies p;
  auto d = decide_at(p, notification(Category::message, {student("s1")}, false, kMoselle),
                     "2026-04-03T10:00:00+02:00");
  EXPECT_EQ(release_text(p[kMoselle], d[0]), "2026-04-07T07:00:00+02:00");
  EXPECT_EQ(describe(p[kMoselle], d[0]),
            "public holiday Vendredi saint (Fri 2026-04-03), then quiet window Fri 20:00-Mon "
            "07:00, then public holiday Lundi de Pâques (Mon 2026-04-06), then quiet window "
            "Mon-Thu 20:00-07:00");
}

TEST(Describe, NamesAnAdministratorGivenWindowByItsName) {
  EstablishmentRules r = establishment(kParis);
  r.windows = {window({date::Monday, date::Tuesday, date::Wednesday, date::Thursday}, 20h, 7h,
                      std::nullopt, "soirées de semaine")};
  Policies p({r});
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], d[0]), "quiet window \"soirées de semaine\"");
}

TEST(Describe, NamesAClosedRangeByItsLabel) {
  EstablishmentRules r = establishment(kParis);
  r.closed = {closed(day(2026, 12, 19), day(2027, 1, 3), "vacances de Noël"),
              closed(day(2026, 11, 18), day(2026, 11, 18))};
  Policies p({r});
  auto holidays =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-12-18T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], holidays[0]), "2027-01-04T07:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], holidays[0]),
            "quiet window Fri 20:00-Mon 07:00, then closed vacances de Noël, then quiet window "
            "Fri 20:00-Mon 07:00");
  auto one_day =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-11-18T10:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], one_day[0]),
            "closed 2026-11-18..2026-11-18, then quiet window Mon-Thu 20:00-07:00");
}

TEST(Describe, NamesTheGradeDelay) {
  Policies p;
  auto friday = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                          kFridayEvening);
  EXPECT_EQ(describe(p[kParis], friday[1]),
            "grade for a parent: 24h after the student's release (2026-11-30T07:00:00+01:00, "
            "held by quiet window Fri 20:00-Mon 07:00)");
  auto daytime = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                           "2026-11-27T10:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], daytime[1]),
            "grade for a parent: 24h after the student's release (2026-11-27T10:00:00+01:00), "
            "then quiet window Fri 20:00-Mon 07:00");
  auto armistice = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                             "2026-11-10T10:00:00+01:00");
  EXPECT_EQ(describe(p[kParis], armistice[1]),
            "grade for a parent: 24h after the student's release (2026-11-10T10:00:00+01:00), "
            "then public holiday Armistice 1918 (Wed 2026-11-11), then quiet window Mon-Thu "
            "20:00-07:00");
}

TEST(Describe, NamesOtherGradeDelaysInDaysOrHours) {
  Policies three_days = with_grade_delay(std::chrono::hours(72));
  auto d = decide_at(three_days, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     kFridayEvening);
  EXPECT_EQ(describe(three_days[kParis], d[1]),
            "grade for a parent: 3 days after the student's release (2026-11-30T07:00:00+01:00, "
            "held by quiet window Fri 20:00-Mon 07:00)");
  Policies ninety = with_grade_delay(std::chrono::minutes(90));
  auto e = decide_at(ninety, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     kFridayEvening);
  EXPECT_EQ(describe(ninety[kParis], e[1]),
            "grade for a parent: 1h30m after the student's release (2026-11-30T07:00:00+01:00, "
            "held by quiet window Fri 20:00-Mon 07:00)");
}

TEST(Describe, SaysNothingHeldItWhenOpen) {
  Policies p;
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(describe(p[kParis], d[0]), "outside quiet windows and closed days");
}

TEST(Describe, LongChainsEndWithHowManyMoreCauses) {
  // Every day but Sunday is one window occurrence of 24h; Sunday 22 November is closed: the
  // quiet stretch runs from Monday 16 to Sunday 29 November 00:00 through 13 causes.
  EstablishmentRules r = establishment(kParis);
  r.windows = {window(
      {date::Monday, date::Tuesday, date::Wednesday, date::Thursday, date::Friday, date::Saturday},
      0h, 0h)};
  r.closed = {closed(day(2026, 11, 22), day(2026, 11, 22))};
  Policies p({r});
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-11-16T10:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-29T00:00:00+01:00");
  EXPECT_EQ(d[0].quiet.size, QuietChain::kMax);
  EXPECT_EQ(d[0].quiet.total, 13u);
  std::string w = "quiet window Mon-Sat 00:00-00:00";
  EXPECT_EQ(describe(p[kParis], d[0]), w + ", then " + w + ", then " + w + ", then " + w +
                                           ", then " + w + ", then " + w + ", and 7 more");
}

// ---------------------------------------------------------------------------------------------
// Fail closed (rule 8).

TEST(FailClosed, DecisionThatCannotBeEvaluatedIsHeld) {
  EstablishmentRules r = establishment(kParis);
  r.closed = {closed(day(2026, 1, 1), day(2035, 12, 31), "ten years")};
  Policies p({r});
  auto d = decide_at(
      p, notification(Category::grade, {student("s1"), parent("p1", "s1"), parent("p2", "nobody")}),
      "2026-11-17T10:00:00+01:00");
  ASSERT_EQ(d.size(), 3u);
  for (const auto& x : d) {
    EXPECT_FALSE(x.evaluated) << "recipient " << x.recipient;
    EXPECT_TRUE(x.held) << "recipient " << x.recipient;
    EXPECT_EQ(describe(p[kParis], x),
              "the policy could not be evaluated: held until an administrator corrects the "
              "configuration");
  }
  auto message =
      decide_at(p, notification(Category::message, {staff("t1")}), "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(message[0].evaluated);
  EXPECT_TRUE(message[0].held);
}

TEST(FailClosed, WindowsCoveringTheWholeWeekHoldEverything) {
  EstablishmentRules r = establishment(kParis);
  r.windows = {window({date::Monday}, 9h, 9h, date::Monday)};
  Policies p({r});
  auto d =
      decide_at(p, notification(Category::message, {student("s1")}), "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(d[0].evaluated);
  EXPECT_TRUE(d[0].held);
}

TEST(FailClosed, RefusedUrgentDecisionThatCannotBeEvaluatedSaysBoth) {
  EstablishmentRules r = establishment(kParis);
  r.closed = {closed(day(2026, 1, 1), day(2035, 12, 31))};
  Policies p({r});
  auto d = decide_at(p, notification(Category::alert, {student("s1")}, true),
                     "2026-11-17T10:00:00+01:00", false);
  EXPECT_TRUE(d[0].held);
  EXPECT_FALSE(d[0].evaluated);
  EXPECT_EQ(describe(p[kParis], d[0], "pronote"),
            "urgent bypass refused (connector pronote may not bypass); the policy could not be "
            "evaluated: held until an administrator corrects the configuration");
}

// ---------------------------------------------------------------------------------------------
// Far from the compiled horizon, decisions are the same.

TEST(FarInstants, GradeSequencingIn2070MatchesTheSameWeekdaysIn2026) {
  Policies p;
  auto d = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                     "2070-11-21T21:14:03+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2070-11-24T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2070-11-25T07:00:00+01:00");
  auto old = decide_at(p, notification(Category::grade, {student("s1"), parent("p1", "s1")}),
                       "1990-11-23T21:14:03+01:00");
  EXPECT_EQ(release_text(p[kParis], old[0]), "1990-11-26T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], old[1]), "1990-11-27T07:00:00+01:00");
}

}  // namespace
}  // namespace treve::policy
