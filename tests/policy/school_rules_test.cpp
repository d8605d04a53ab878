// The rules school heads set beyond the national default (issue 17): windows per category,
// recipients' own quiet hours, crises, and late homework. Decided through decide_in, as the
// daemon decides. Times are Paris time unless they say otherwise.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "policy/personal_hours.h"
#include "policy/strictest.h"
#include "tests/policy/policy_fixtures.h"

namespace treve::policy {
namespace {

using namespace fixtures;

constexpr std::uint16_t bit(Category c) {
  return static_cast<std::uint16_t>(1u << static_cast<unsigned>(c));
}

// The default windows, and the same ending at 06:00 for absence and schedule.
EstablishmentRules early_absences() {
  EstablishmentRules r = establishment(kParis);
  r.windows = default_quiet_windows();
  QuietWindow weekdays =
      window({date::Monday, date::Tuesday, date::Wednesday, date::Thursday}, 20h, 6h);
  weekdays.categories = bit(Category::absence) | bit(Category::schedule);
  QuietWindow weekend = window({date::Friday}, 20h, 6h, date::Monday);
  weekend.categories = weekdays.categories;
  r.windows.push_back(weekdays);
  r.windows.push_back(weekend);
  return r;
}

std::vector<DeliveryDecision> decide_at(const Policies& p, const Notification& n,
                                        std::string_view received) {
  return decide_in(p.set(), p[n.establishment], n, at(received), false);
}

std::string released(const Policies& p, const Notification& n, std::string_view received,
                     std::size_t i = 0) {
  auto ds = decide_at(p, n, received);
  return release_text(p[n.establishment], ds.at(i));
}

Recipient with_hours(Recipient r, std::vector<QuietWindow> windows) {
  r.personal = std::make_shared<PersonalHours>(std::move(windows));
  return r;
}

// --- windows per category ------------------------------------------------------------------

TEST(CategoryWindows, AnAbsenceIsReleasedAtItsOwnWindowsEnd) {
  Policies p({early_absences()});
  const auto absence = notification(Category::absence, {parent("p1")});
  EXPECT_EQ(released(p, absence, "2026-11-17T21:00:00+01:00"), "2026-11-18T06:00:00+01:00");
  const auto schedule = notification(Category::schedule, {student("s1")});
  EXPECT_EQ(released(p, schedule, "2026-11-17T21:00:00+01:00"), "2026-11-18T06:00:00+01:00");
}

TEST(CategoryWindows, ACategoryWithoutItsOwnFollowsTheEstablishments) {
  Policies p({early_absences()});
  const auto message = notification(Category::message, {parent("p1")});
  EXPECT_EQ(released(p, message, "2026-11-17T21:00:00+01:00"), "2026-11-18T07:00:00+01:00");
  // The absence windows do not add to the others: 06:30 is open for an absence only.
  EXPECT_EQ(released(p, message, "2026-11-18T06:30:00+01:00"), "2026-11-18T07:00:00+01:00");
  const auto absence = notification(Category::absence, {parent("p1")});
  const auto ds = decide_at(p, absence, "2026-11-18T06:30:00+01:00");
  EXPECT_FALSE(ds[0].held);
}

TEST(CategoryWindows, TheReasonNamesTheCategorysWindow) {
  Policies p({early_absences()});
  const auto absence = notification(Category::absence, {parent("p1")});
  const auto ds = decide_at(p, absence, "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]), "quiet window Mon-Thu 20:00-06:00");
}

TEST(CategoryWindows, ClosedDaysStillHoldEveryCategory) {
  EstablishmentRules r = early_absences();
  r.closed = {closed(day(2026, 11, 18), day(2026, 11, 18), "journée pédagogique")};
  Policies p({r});
  const auto absence = notification(Category::absence, {parent("p1")});
  // Quiet from Tuesday 20:00, closed all Wednesday, then the Wednesday night window to 06:00.
  EXPECT_EQ(released(p, absence, "2026-11-17T21:00:00+01:00"), "2026-11-19T06:00:00+01:00");
}

TEST(CategoryWindows, AcrossTheAutumnChangeTheWindowEndsAtWallClockTime) {
  Policies p({early_absences()});
  const auto absence = notification(Category::absence, {parent("p1")});
  // Saturday 24 October 2026; clocks go back on Sunday 25: Monday 06:00 is UTC+1.
  EXPECT_EQ(released(p, absence, "2026-10-24T12:00:00+02:00"), "2026-10-26T06:00:00+01:00");
  const auto message = notification(Category::message, {parent("p1")});
  EXPECT_EQ(released(p, message, "2026-10-24T12:00:00+02:00"), "2026-10-26T07:00:00+01:00");
}

TEST(CategoryWindows, AWindowCrossingMidnightOnTheSpringNightKeepsItsWallClockEnd) {
  EstablishmentRules r = establishment(kParis);
  r.windows = default_quiet_windows();
  // Absences: also quiet on Saturday night, 22:00 to Sunday 06:00.
  QuietWindow saturday = window({date::Saturday}, 22h, 6h);
  saturday.categories = bit(Category::absence);
  QuietWindow weekdays =
      window({date::Monday, date::Tuesday, date::Wednesday, date::Thursday}, 20h, 7h);
  weekdays.categories = bit(Category::absence);
  r.windows.push_back(saturday);
  r.windows.push_back(weekdays);
  Policies p({r});
  const auto absence = notification(Category::absence, {parent("p1")});
  // Clocks go forward on Sunday 28 March 2027 at 02:00: 06:00 that morning is UTC+2.
  EXPECT_EQ(released(p, absence, "2027-03-27T23:00:00+01:00"), "2027-03-28T06:00:00+02:00");
  // Absences have no Friday window of their own: Friday 21:00 is open for them.
  EXPECT_FALSE(decide_at(p, absence, "2027-03-26T21:00:00+01:00")[0].held);
}

// --- personal quiet hours ------------------------------------------------------------------

const std::vector<QuietWindow> kNothingBeforeEight = {
    window({date::Monday, date::Tuesday, date::Wednesday, date::Thursday, date::Friday,
            date::Saturday, date::Sunday},
           20h, 8h)};

TEST(PersonalHours, AParentWhoWantsNothingBeforeEightGetsItAtEight) {
  Policies p({establishment(kParis)});
  const auto n = notification(Category::message,
                              {student("s1"), with_hours(parent("p1"), kNothingBeforeEight)});
  auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], ds[1]), "2026-11-18T08:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[1]),
            "quiet window Mon-Thu 20:00-07:00; held by the recipient's personal quiet hours "
            "Mon-Sun 20:00-08:00 (a recipient's own hours only ever hold longer)");
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]), "quiet window Mon-Thu 20:00-07:00");
}

TEST(PersonalHours, ATeachersEveningsHoldWhatTheSchoolWouldSend) {
  Policies p({establishment(kParis)});
  const auto n = notification(
      Category::message, {with_hours(staff("t1"), {window({date::Monday, date::Tuesday}, 18h, 20h,
                                                          std::nullopt, "Soirées")})});
  // Tuesday 18:30: the school is open, the teacher's evening is not; then the school's window.
  auto ds = decide_at(p, n, "2026-11-17T18:30:00+01:00");
  EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]),
            "quiet window Mon-Thu 20:00-07:00; held by the recipient's personal quiet hours "
            "Soirées (a recipient's own hours only ever hold longer)");
}

TEST(PersonalHours, LooserHoursChangeNothing) {
  Policies p({establishment(kParis)});
  const auto n =
      notification(Category::message,
                   {with_hours(parent("p1"), {window({date::Monday, date::Tuesday}, 22h, 6h)})});
  auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]), "quiet window Mon-Thu 20:00-07:00");
}

TEST(PersonalHours, AParentsGradeWaitsForTheStudentThenForTheParentsHours) {
  EstablishmentRules r = establishment(kParis);
  r.parent_grade_delay = std::chrono::minutes{0};
  Policies p({r});
  const auto n = notification(Category::grade,
                              {student("s1"), with_hours(parent("p1", "s1"), kNothingBeforeEight)});
  auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], ds[1]), "2026-11-18T08:00:00+01:00");
}

TEST(PersonalHours, AnUrgentAlertStillBypasses) {
  Policies p({establishment(kParis)});
  const auto n =
      notification(Category::alert, {with_hours(parent("p1"), kNothingBeforeEight)}, true);
  auto ds = decide_in(p.set(), p[kParis], n, at("2026-11-17T21:00:00+01:00"), true);
  EXPECT_FALSE(ds[0].held);
  EXPECT_EQ(ds[0].urgent, UrgentOutcome::bypassed);
}

TEST(PersonalHours, AreReadInTheEstablishmentsTimeZone) {
  Policies p({establishment(kReunion)});
  const auto n = notification(Category::message, {with_hours(parent("p1"), kNothingBeforeEight)},
                              false, kReunion);
  // Réunion is UTC+4: the school opens at 07:00 local, the parent's hours at 08:00 local.
  EXPECT_EQ(released(p, n, "2026-11-17T21:00:00+04:00"), "2026-11-18T08:00:00+04:00");
}

// Property: for random hours and instants, a recipient's own hours never make a delivery
// earlier than without them, and the release is open under both the school and the hours.
TEST(PersonalHours, NeverMakeADeliveryEarlierAndReleaseOnlyWhenBothAreOpen) {
  std::mt19937 rng(20261206);
  EstablishmentRules school = early_absences();
  school.closed = {closed(day(2026, 12, 19), day(2027, 1, 3), "vacances de Noël")};
  Policies p({school});
  const EstablishmentPolicy& policy = p[kParis];
  const Instant from = at("2026-10-01T00:00:00+02:00");
  std::uniform_int_distribution<int> minute(0, 1439);
  std::uniform_int_distribution<int> day_bits(1, 127);
  std::uniform_int_distribution<int> count(1, 3);
  std::uniform_int_distribution<long long> offset(0, 200LL * 24 * 60);
  std::uniform_int_distribution<int> category(0, kCategoryCount - 1);
  int set_aside = 0;
  int checked = 0;
  for (int round = 0; round < 400; ++round) {
    std::vector<QuietWindow> windows;
    for (int i = count(rng); i > 0; --i) {
      QuietWindow w;
      w.days = static_cast<std::uint8_t>(day_bits(rng));
      w.start = std::chrono::minutes{minute(rng)};
      w.end = std::chrono::minutes{minute(rng)};
      windows.push_back(w);
    }
    if (windows_cover_whole_week(windows))
      continue;
    auto hours = std::make_shared<PersonalHours>(windows);
    const Instant received = from + std::chrono::minutes{offset(rng)};
    const auto cat = static_cast<Category>(category(rng));
    Notification plain = notification(cat, {parent("p1")});
    Notification own = plain;
    own.recipients[0].personal = hours;
    const auto without = decide_in(p.set(), policy, plain, received, false)[0];
    const auto with = decide_in(p.set(), policy, own, received, false)[0];
    ASSERT_TRUE(with.evaluated);
    if (with.personal_set_aside) {
      // Together they never open: the hours are set aside, never a release earlier.
      EXPECT_EQ(with.release_at, without.release_at);
      ++set_aside;
      continue;
    }
    ASSERT_GE(with.release_at, without.release_at)
        << "received " << format_rfc3339(received, policy.zone());
    // Open under the school's schedule for the category and under the hours.
    const Release school_open = policy.schedule(cat).next_open(with.release_at);
    EXPECT_EQ(school_open.at, with.release_at);
    const Release own_open = hours->next_open(policy.zone(), with.release_at);
    EXPECT_EQ(own_open.at, with.release_at);
    ++checked;
  }
  EXPECT_GT(checked, 200);
  EXPECT_LT(set_aside, checked);
}

TEST(PersonalHours, HoursThatLeaveNothingOpenWithTheSchoolsAreSetAside) {
  Policies p({establishment(kParis)});
  // Quiet every day 07:00-20:00: with the school's 20:00-07:00, never open.
  const auto n =
      notification(Category::message,
                   {with_hours(parent("p1"),
                               {window({date::Monday, date::Tuesday, date::Wednesday,
                                        date::Thursday, date::Friday, date::Saturday, date::Sunday},
                                       7h, 20h)})});
  auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
  EXPECT_TRUE(ds[0].evaluated);
  EXPECT_TRUE(ds[0].personal_set_aside);
  EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]),
            "quiet window Mon-Thu 20:00-07:00; the recipient's personal quiet hours were set "
            "aside: with the establishment's they leave no time open");
}

// --- crises --------------------------------------------------------------------------------

Crisis storm(bool release_held = false, std::uint16_t categories = 0x1ff) {
  Crisis c;
  c.id = 7;
  c.uai = std::string(kParis);
  c.opened = at("2026-11-17T22:00:00+01:00");
  c.until = at("2026-11-18T22:00:00+01:00");
  c.categories = categories;
  c.release_held = release_held;
  c.reason = "Tempête : collège fermé";
  c.by = "Mme Durand";
  return c;
}

TEST(Crisis, DuringACrisisCoveredNotificationsGoAtOnce) {
  Policies p({}, {}, {}, {storm()});
  const auto n = notification(Category::schedule, {student("s1"), parent("p1")});
  auto ds = decide_at(p, n, "2026-11-17T23:00:00+01:00");
  for (const auto& d : ds) {
    EXPECT_FALSE(d.held);
    EXPECT_EQ(d.crisis, 7);
    EXPECT_EQ(describe_in(p.set(), p[kParis], d),
              "crisis 7 (\"Tempête : collège fermé\", opened by Mme Durand at "
              "2026-11-17T22:00:00+01:00, until 2026-11-18T22:00:00+01:00): delivered at once");
  }
}

TEST(Crisis, ItCoversOnlyItsCategoriesAndOnlyItsEstablishment) {
  Policies p({}, {}, {}, {storm(false, bit(Category::schedule))});
  const auto message = notification(Category::message, {student("s1")});
  EXPECT_EQ(released(p, message, "2026-11-17T23:00:00+01:00"), "2026-11-18T07:00:00+01:00");
  const auto elsewhere = notification(Category::schedule, {student("s1")}, false, kDoubs);
  EXPECT_EQ(released(p, elsewhere, "2026-11-17T23:00:00+01:00"), "2026-11-18T07:00:00+01:00");
}

TEST(Crisis, AGradeForAParentIsNotDelayedInACrisis) {
  Policies p({}, {}, {}, {storm()});
  const auto n = notification(Category::grade, {student("s1"), parent("p1", "s1")});
  auto ds = decide_at(p, n, "2026-11-17T23:00:00+01:00");
  EXPECT_FALSE(ds[1].held);
  EXPECT_FALSE(ds[1].grade_delay);
}

TEST(Crisis, WhatWasHeldBeforeItIsReleasedAtItsOpeningOnlyWhenAsked) {
  const auto n = notification(Category::message, {student("s1")});
  {
    Policies p({}, {}, {}, {storm(true)});
    auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
    EXPECT_TRUE(ds[0].held);
    EXPECT_TRUE(ds[0].crisis_released_held);
    EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-17T22:00:00+01:00");
    EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]),
              "quiet window Mon-Thu 20:00-07:00; released at the opening of crisis 7 "
              "(\"Tempête : collège fermé\", opened by Mme Durand at 2026-11-17T22:00:00+01:00, "
              "until 2026-11-18T22:00:00+01:00)");
  }
  {
    Policies p({}, {}, {}, {storm(false)});
    EXPECT_EQ(released(p, n, "2026-11-17T21:00:00+01:00"), "2026-11-18T07:00:00+01:00");
  }
}

TEST(Crisis, AfterItsEndNotificationsAreHeldAgain) {
  Policies p({}, {}, {}, {storm()});
  const auto n = notification(Category::message, {student("s1")});
  EXPECT_EQ(released(p, n, "2026-11-18T22:00:00+01:00"), "2026-11-19T07:00:00+01:00");
  EXPECT_EQ(released(p, n, "2026-11-17T21:59:59+01:00"), "2026-11-18T07:00:00+01:00");
}

TEST(Crisis, OverridesARecipientsOwnHours) {
  Policies p({}, {}, {}, {storm()});
  const auto n = notification(Category::message, {with_hours(parent("p1"), kNothingBeforeEight)});
  EXPECT_FALSE(decide_at(p, n, "2026-11-17T23:00:00+01:00")[0].held);
}

// --- late homework -------------------------------------------------------------------------

Notification homework(std::string_view due, std::vector<Recipient> recipients) {
  Notification n = notification(Category::homework, std::move(recipients));
  n.due_at = at(due);
  return n;
}

TEST(LateHomework, HomeworkDueTheMorningAfterAnEveningPostIsLate) {
  Policies p({establishment(kParis)});
  const auto n = homework("2026-11-18T08:00:00+01:00", {student("s1"), parent("p1")});
  auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
  EXPECT_TRUE(ds[0].held);
  EXPECT_EQ(release_text(p[kParis], ds[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_TRUE(ds[0].late_homework);
  EXPECT_TRUE(ds[1].late_homework);
  EXPECT_EQ(describe_in(p.set(), p[kParis], ds[0]),
            "quiet window Mon-Thu 20:00-07:00; late homework: its students receive it less "
            "than 24h before it is due");
}

TEST(LateHomework, GivenInClassTwoDaysAheadIsNotLate) {
  Policies p({establishment(kParis)});
  const auto n = homework("2026-11-19T08:00:00+01:00", {student("s1")});
  auto ds = decide_at(p, n, "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(ds[0].held);
  EXPECT_FALSE(ds[0].late_homework);
}

TEST(LateHomework, TheNoticeIsTheEstablishments) {
  EstablishmentRules r = establishment(kParis);
  r.homework_notice = std::chrono::hours{48};
  Policies p({r});
  const auto n = homework("2026-11-19T08:00:00+01:00", {student("s1")});
  EXPECT_TRUE(decide_at(p, n, "2026-11-17T10:00:00+01:00")[0].late_homework);
}

TEST(LateHomework, TheStudentsReleaseCountsNotTheParents) {
  EstablishmentRules r = establishment(kParis);
  Policies p({r});
  // The student gets it at 07:00 (25 h before it is due); the parent's own hours hold the
  // parent's copy to 08:00, which does not make it late.
  const auto n = homework("2026-11-19T08:00:00+01:00",
                          {student("s1"), with_hours(parent("p1"), kNothingBeforeEight)});
  auto ds = decide_at(p, n, "2026-11-17T21:00:00+01:00");
  EXPECT_FALSE(ds[0].late_homework);
  EXPECT_FALSE(ds[1].late_homework);
}

TEST(LateHomework, WithoutADueDateOrForAnotherCategoryNothingIsMarked) {
  Policies p({establishment(kParis)});
  auto n = notification(Category::homework, {student("s1")});
  EXPECT_FALSE(decide_at(p, n, "2026-11-17T21:00:00+01:00")[0].late_homework);
  n.category = Category::message;
  n.due_at = at("2026-11-18T08:00:00+01:00");
  EXPECT_FALSE(decide_at(p, n, "2026-11-17T21:00:00+01:00")[0].late_homework);
}

}  // namespace
}  // namespace treve::policy
