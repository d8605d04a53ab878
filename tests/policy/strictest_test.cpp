// A recipient attached to several establishments is held under the strictest of their
// policies (policy/strictest.h): decide_in and describe_in. Times are Paris time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/strictest.h"
#include "tests/policy/policy_fixtures.h"

namespace treve::policy {
namespace {

using namespace fixtures;

// Tuesday 17 November 2026, 21:00: the weekday window (20:00-07:00) is running in Paris.
constexpr std::string_view kTuesdayEvening = "2026-11-17T21:00:00+01:00";

const std::vector<date::weekday> kEveryDay = {date::Monday,   date::Tuesday, date::Wednesday,
                                              date::Thursday, date::Friday,  date::Saturday,
                                              date::Sunday};

// School B (kDoubs, also Europe/Paris): quiet every evening 19:00-08:00, named "Soirée".
EstablishmentRules school_b() {
  EstablishmentRules r = establishment(kDoubs);
  QuietWindow w = window({}, 19h, 8h, std::nullopt, "Soirée");
  for (date::weekday wd : kEveryDay)
    w.days |= static_cast<std::uint8_t>(1u << wd.c_encoding());
  r.windows = {w};
  return r;
}

Recipient attached(Recipient r, std::vector<std::string> others) {
  r.establishments = std::move(others);
  return r;
}

std::vector<DeliveryDecision> decide_in_at(const Policies& p, const Notification& n,
                                           std::string_view received, bool may_bypass = false) {
  return decide_in(p.set(), p[n.establishment], n, at(received), may_bypass);
}

std::string chain_of(const QuietChain& c) {
  std::string out;
  for (std::size_t i = 0; i < c.size; ++i) {
    out += std::to_string(static_cast<int>(c.causes[i].kind)) + ":" +
           std::to_string(c.causes[i].index) + ":" + std::to_string(c.causes[i].local_day) + " ";
  }
  return out + "/" + std::to_string(c.total);
}

// ---------------------------------------------------------------------------------------------

TEST(Strictest, WithoutOtherEstablishmentsIsExactlyDecide) {
  EstablishmentRules a = establishment(kParis);
  a.closed = {closed(day(2026, 12, 21), day(2027, 1, 3), "vacances de Noël")};
  Policies p({a, school_b()});
  const std::vector<Notification> events = {
      notification(Category::message, {student("s1"), staff("t1")}),
      notification(Category::grade,
                   {student("s1"), parent("p1", "s1"), parent("p2"), student("s2"), staff("t")}),
      notification(Category::grade, {parent("p1", "nobody")}),
      notification(Category::alert, {student("s1"), parent("p1")}, true),
      notification(Category::message, {student("s1")}, true),
  };
  const std::vector<std::string_view> instants = {
      kTuesdayEvening, "2026-11-17T10:00:00+01:00", "2026-11-27T21:14:03+01:00",
      "2026-12-18T19:59:00+01:00", "2026-10-24T23:00:00+02:00"};
  for (const auto& n : events) {
    for (auto received : instants) {
      for (bool may_bypass : {false, true}) {
        auto expected = decide(p[kParis], n, at(received), may_bypass);
        auto got = decide_in_at(p, n, received, may_bypass);
        ASSERT_EQ(got.size(), expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
          SCOPED_TRACE(std::string(received) + " recipient " + std::to_string(i));
          EXPECT_EQ(got[i].recipient, expected[i].recipient);
          EXPECT_EQ(got[i].held, expected[i].held);
          EXPECT_EQ(got[i].evaluated, expected[i].evaluated);
          EXPECT_EQ(got[i].release_at, expected[i].release_at);
          EXPECT_EQ(got[i].urgent, expected[i].urgent);
          EXPECT_EQ(got[i].grade_delay, expected[i].grade_delay);
          EXPECT_EQ(got[i].student_release, expected[i].student_release);
          EXPECT_EQ(chain_of(got[i].quiet), chain_of(expected[i].quiet));
          EXPECT_EQ(chain_of(got[i].student_quiet), chain_of(expected[i].student_quiet));
          EXPECT_TRUE(got[i].attached.empty());
          EXPECT_EQ(describe_in(p.set(), p[kParis], got[i], "pronote"),
                    describe(p[kParis], expected[i], "pronote"));
        }
      }
    }
  }
}

TEST(Strictest, TheEventsOwnEstablishmentAndRepeatsAreFoldedAway) {
  Policies p({school_b()});
  auto plain = notification(Category::message, {staff("t1")});
  auto folded = notification(Category::message,
                             {attached(staff("t1"), {std::string(kParis), std::string(kParis)})});
  auto a = decide_in_at(p, plain, kTuesdayEvening);
  auto b = decide_in_at(p, folded, kTuesdayEvening);
  EXPECT_EQ(release_text(p[kParis], b[0]), release_text(p[kParis], a[0]));
  EXPECT_TRUE(b[0].attached.empty());
  EXPECT_EQ(describe_in(p.set(), p[kParis], b[0]), "quiet window Mon-Thu 20:00-07:00");
}

TEST(Strictest, TeacherInTwoSchoolsIsReleasedAtTheLaterOpenInstant) {
  Policies p({school_b()});
  auto n = notification(Category::message,
                        {staff("t-a"), attached(staff("t-ab"), {std::string(kDoubs)})});
  auto d = decide_in_at(p, n, kTuesdayEvening);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-18T08:00:00+01:00");
  EXPECT_TRUE(d[1].held);
  ASSERT_EQ(d[1].attached.size(), 1u);
  EXPECT_EQ(d[1].attached[0].uai, kDoubs);
  EXPECT_EQ(describe_in(p.set(), p[kParis], d[1], "pronote"),
            "quiet window Mon-Thu 20:00-07:00; also attached to 0250001R: quiet window "
            "\"Soirée\" (the strictest of the recipient's establishments' policies applies)");
  // Daytime at school A, evening at school B: only B holds it.
  d = decide_in_at(p, n, "2026-11-17T19:30:00+01:00");
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-18T08:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], d[1]),
            "outside the event's establishment's quiet windows and closed days; also attached "
            "to 0250001R: quiet window \"Soirée\" (the strictest of the recipient's "
            "establishments' policies applies)");
}

TEST(Strictest, UnionChainsIntoTheNextDay) {
  // A quiet until Wednesday 07:00; B closed all Wednesday; A's next night runs until
  // Thursday 07:00.
  EstablishmentRules b = establishment(kDoubs);
  b.closed = {closed(day(2026, 11, 18), day(2026, 11, 18), "journée pédagogique")};
  b.windows = {};  // B opens at Thursday 00:00; A is quiet then: a second round
  Policies p({b});
  auto n = notification(Category::message, {attached(student("s1"), {std::string(kDoubs)})});
  auto d = decide_in_at(p, n, kTuesdayEvening);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-19T07:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], d[0]),
            "quiet window Mon-Thu 20:00-07:00, then quiet window Mon-Thu 20:00-07:00; also "
            "attached to 0250001R: closed journée pédagogique (the strictest of the "
            "recipient's establishments' policies applies)");
}

TEST(Strictest, UrgentIsRefusedWhenOneSchoolDoesNotListTheCategory) {
  EstablishmentRules b = school_b();
  b.urgent_categories = 0;
  Policies p({b});
  auto n = notification(Category::alert,
                        {student("s-a"), attached(student("s-ab"), {std::string(kDoubs)})}, true);
  auto d = decide_in_at(p, n, kTuesdayEvening, true);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::bypassed);
  EXPECT_FALSE(d[0].held);
  EXPECT_EQ(d[1].urgent, UrgentOutcome::refused_category);
  EXPECT_EQ(d[1].urgent_refused_by, kDoubs);
  EXPECT_TRUE(d[1].held);
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-18T08:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], d[1], "pronote"),
            "urgent bypass refused (category not in the urgent list of 0250001R, another "
            "establishment of this recipient); quiet window Mon-Thu 20:00-07:00; also attached "
            "to 0250001R: quiet window \"Soirée\" (the strictest of the recipient's "
            "establishments' policies applies)");
}

TEST(Strictest, UrgentBypassesWhenEverySchoolListsTheCategory) {
  Policies p({school_b()});
  auto n = notification(Category::alert, {attached(staff("t"), {std::string(kDoubs)})}, true);
  auto d = decide_in_at(p, n, kTuesdayEvening, true);
  EXPECT_EQ(d[0].urgent, UrgentOutcome::bypassed);
  EXPECT_FALSE(d[0].held);
}

TEST(Strictest, DaylightSavingWeeksKeepSevenAndEightOClockWallTimes) {
  Policies p({school_b()});
  auto n = notification(Category::news, {staff("a"), attached(staff("ab"), {std::string(kDoubs)})});
  // Autumn: Sunday 25 October 2026, 03:00 CEST becomes 02:00 CET.
  auto d = decide_in_at(p, n, "2026-10-24T21:00:00+02:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-10-26T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-10-26T08:00:00+01:00");
  // Spring: Sunday 29 March 2026, 02:00 CET becomes 03:00 CEST.
  d = decide_in_at(p, n, "2026-03-28T21:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-03-30T07:00:00+02:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-03-30T08:00:00+02:00");
  // A weekday night in the week after the change.
  d = decide_in_at(p, n, "2026-10-27T22:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-10-28T08:00:00+01:00");
}

TEST(Strictest, ParentWaitsForAStudentHeldByTheStudentsOtherSchool) {
  Policies p({school_b()});
  auto n = notification(Category::grade,
                        {attached(student("s1"), {std::string(kDoubs)}), parent("p1", "s1")});
  auto d = decide_in_at(p, n, kTuesdayEvening);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-18T08:00:00+01:00");
  EXPECT_TRUE(d[1].grade_delay);
  EXPECT_TRUE(d[1].student_attached);
  EXPECT_EQ(format_rfc3339(d[1].student_release, p[kParis].zone()), "2026-11-18T08:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-19T08:00:00+01:00");
  EXPECT_EQ(describe_in(p.set(), p[kParis], d[1]),
            "grade for a parent: 24h after the student's release (2026-11-18T08:00:00+01:00, "
            "held by quiet window Mon-Thu 20:00-07:00 and by the student's other "
            "establishments) (the strictest of the recipient's establishments' policies "
            "applies)");
}

TEST(Strictest, ParentInTwoSchoolsIsHeldAfterTheDelayUnderBoth) {
  Policies p({school_b()});
  auto n = notification(Category::grade,
                        {student("s1"), attached(parent("p1", "s1"), {std::string(kDoubs)})});
  // Student at 07:00 Wednesday; +24h is Thursday 07:00, quiet at B until 08:00.
  auto d = decide_in_at(p, n, kTuesdayEvening);
  EXPECT_EQ(release_text(p[kParis], d[0]), "2026-11-18T07:00:00+01:00");
  EXPECT_EQ(release_text(p[kParis], d[1]), "2026-11-19T08:00:00+01:00");
  ASSERT_EQ(d[1].attached.size(), 1u);
}

TEST(Strictest, AUnionThatNeverOpensFailsClosed) {
  // B is quiet Mon-Fri 07:00-20:00 and on weekends: with A's nights, no minute is open.
  EstablishmentRules b = establishment(kDoubs);
  b.windows = {
      window({date::Monday, date::Tuesday, date::Wednesday, date::Thursday, date::Friday}, 7h, 20h),
      window({date::Saturday}, 0min, 0min, date::Monday)};
  Policies p({b});
  auto n =
      notification(Category::message, {staff("a"), attached(staff("ab"), {std::string(kDoubs)})});
  auto d = decide_in_at(p, n, kTuesdayEvening);
  EXPECT_TRUE(d[0].evaluated);
  EXPECT_FALSE(d[1].evaluated);
  EXPECT_TRUE(d[1].held);
  EXPECT_EQ(describe_in(p.set(), p[kParis], d[1]),
            "the policy could not be evaluated: held until an administrator corrects the "
            "configuration");
}

TEST(Strictest, AnInvalidOtherEstablishmentFailsClosed) {
  Policies p;
  auto n = notification(Category::message, {attached(staff("ab"), {"0250001A"})});
  auto d = decide_in_at(p, n, "2026-11-17T10:00:00+01:00");
  EXPECT_FALSE(d[0].evaluated);
  EXPECT_TRUE(d[0].held);
}

}  // namespace
}  // namespace treve::policy
