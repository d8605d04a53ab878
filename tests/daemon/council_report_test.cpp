// The report to the conseil d'administration: its figures counted from crafted audit records
// (holds, evening and weekend shares across a change of time, late homework, crises, delivery
// outcomes, grades to parents) and its HTML (French, escaped, no pseudonym or event id).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/audit/council_figures.h"
#include "daemon/audit/council_report.h"
#include "policy/rfc3339.h"

namespace treve::audit {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kUai = "0750654D";
const date::time_zone* paris() {
  return date::locate_zone("Europe/Paris");
}

std::int64_t ms(const std::string& rfc3339) {
  auto t = policy::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return t ? t->time_since_epoch().count() : 0;
}

constexpr std::int64_t kHour = 3'600'000;

// Records of one establishment, written as the daemon writes them (at_local in Paris).
struct Records {
  std::vector<store::AuditRecord> list;
  store::AuditRecord& add(std::string kind, const std::string& at, std::string event_id,
                          std::string category, std::string recipient = {}, std::string role = {},
                          std::string detail = "{}", std::string establishment = kUai) {
    store::AuditRecord r;
    r.seq = static_cast<std::int64_t>(list.size()) + 1;
    r.at_ms = ms(at);
    r.at_local =
        policy::format_rfc3339(policy::Instant{std::chrono::milliseconds{r.at_ms}}, paris());
    r.kind = std::move(kind);
    r.source = "ent";
    r.event_id = std::move(event_id);
    r.establishment = std::move(establishment);
    r.category = std::move(category);
    r.recipient = std::move(recipient);
    r.role = std::move(role);
    r.detail = std::move(detail);
    list.push_back(r);
    return list.back();
  }
  // An event received at `at` for one recipient, held until `until`.
  void held(const std::string& id, const std::string& at, const std::string& until,
            std::string category = "message", std::string who = "a1b2c3d4e5f6a7b8",
            std::string role = "student", std::string extra = {}) {
    add("received", at, id, category, {}, {}, R"({"deliveries":1,"urgent":false})");
    add("held", at, id, category, who, role,
        R"({"until":")" + until + R"(","reason":"quiet window")" + extra + "}");
  }
  void released(const std::string& id, const std::string& at, std::string category = "message",
                std::string who = "a1b2c3d4e5f6a7b8", std::string role = "student") {
    add("released", at, id, category, who, role, R"({"release_at":")" + at + R"("})");
  }
  void at_once(const std::string& id, const std::string& at, std::string category = "message",
               std::string extra = {}) {
    add("received", at, id, category, {}, {}, R"({"deliveries":1,"urgent":false})");
    add("released", at, id, category, "a1b2c3d4e5f6a7b8", "student",
        R"({"reason":"outside quiet windows")" + extra + "}");
  }
};

CouncilScope december() {
  CouncilScope s;
  s.establishment = kUai;
  s.zone = paris();
  s.from_ms = ms("2026-11-30T00:00:00+01:00");
  s.to_ms = ms("2026-12-21T00:00:00+01:00");
  return s;
}

TEST(CouncilFigures, HoldsRunFromReceiptToReleaseWithTheMedianAndTheLongest) {
  Records r;
  // Released at its end: 11 h.
  r.held("e1", "2026-12-01T20:00:00+01:00", "2026-12-02T07:00:00+01:00");
  r.released("e1", "2026-12-02T07:00:00+01:00");
  // Still held at the end of the records: its planned end counts, 59 h.
  r.held("e2", "2026-12-04T20:00:00+01:00", "2026-12-07T07:00:00+01:00");
  // Re-planned: the new end counts, 1 h.
  r.held("e3", "2026-12-08T21:00:00+01:00", "2026-12-09T07:00:00+01:00");
  r.add("replanned", "2026-12-08T21:10:00+01:00", "e3", "message", "a1b2c3d4e5f6a7b8", "student",
        R"({"was_until":"2026-12-09T07:00:00+01:00","until":"2026-12-08T22:00:00+01:00"})");
  // Retracted: not measured.
  r.held("e4", "2026-12-09T20:00:00+01:00", "2026-12-10T07:00:00+01:00");
  r.add("retracted", "2026-12-09T20:30:00+01:00", "e4", "message", "a1b2c3d4e5f6a7b8", "student",
        R"({"was_until":"2026-12-10T07:00:00+01:00"})");
  // Fail closed (no instant): held, not measured.
  r.add("received", "2026-12-10T21:00:00+01:00", "e5", "news", {}, {}, "{}");
  r.add("held", "2026-12-10T21:00:00+01:00", "e5", "news", "a1b2c3d4e5f6a7b8", "student",
        R"({"until":null,"reason":"the policy could not be evaluated"})");

  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.events, 5);
  EXPECT_EQ(f.held, 5);
  EXPECT_EQ(f.retracted, 1);
  EXPECT_EQ(f.holds_measured, 3);
  EXPECT_EQ(f.median_hold_ms, 11 * kHour);
  EXPECT_EQ(f.longest_hold_ms, 59 * kHour);
  EXPECT_EQ(f.held_by_category.at("message"), 4);
  EXPECT_EQ(f.held_by_category.at("news"), 1);
}

TEST(CouncilFigures, TheMedianOfAnEvenCountIsBetweenTheTwoMiddleValues) {
  EXPECT_EQ(median({4, 1, 3, 2}), 2);  // (2 + 3) / 2, rounded down
  EXPECT_EQ(median({10, 30}), 20);
  EXPECT_EQ(median({7}), 7);
  EXPECT_EQ(median({}), std::nullopt);
}

TEST(CouncilFigures, EveningAndWeekendFollowLocalWallTimeAcrossAChangeOfTime) {
  Records r;
  // 18:30 UTC on a Monday: 19:30 in winter (daytime), 20:30 in summer time (evening).
  r.at_once("winter", "2026-03-23T18:30:00Z");
  r.at_once("summer", "2026-03-30T18:30:00Z");
  // The night of the change (Sunday 29 March, 02:00 -> 03:00): weekend.
  r.at_once("change", "2026-03-29T01:30:00Z");
  // Friday 21:30 local, weekend; Monday 06:30 local, still weekend; 07:30 local, daytime.
  r.at_once("friday", "2026-03-27T20:30:00Z");
  r.at_once("monday-early", "2026-03-30T04:30:00Z");
  r.at_once("monday-day", "2026-03-30T05:30:00Z");
  // Wednesday 06:59 local: evening (the night from Tuesday).
  r.at_once("wednesday", "2026-04-01T04:59:00Z");
  CouncilScope s = december();
  s.from_ms = ms("2026-03-01T00:00:00+01:00");
  s.to_ms = ms("2026-04-30T00:00:00+02:00");
  const CouncilFigures f = count_council_figures(r.list, s);
  EXPECT_EQ(f.events, 7);
  EXPECT_EQ(f.events_evening, 2);  // summer, wednesday
  EXPECT_EQ(f.events_weekend, 3);  // change, friday, monday-early
  EXPECT_EQ(f.events_by_hour[19], 1);
  EXPECT_EQ(f.events_by_hour[20], 1);
  EXPECT_EQ(f.events_by_hour[3], 1);  // 01:30 UTC is 03:30 summer time
  EXPECT_EQ(f.events_by_hour[6], 2);
  EXPECT_EQ(f.events_by_hour[7], 1);
  EXPECT_EQ(f.events_by_hour[21], 1);

  using Local = date::local_time<std::chrono::milliseconds>;
  auto local = [](int y, unsigned m, unsigned d, int h, int min) {
    return Local{date::local_days{date::year{y} / date::month{m} / date::day{d}}} +
           std::chrono::hours{h} + std::chrono::minutes{min};
  };
  EXPECT_EQ(receipt_time(local(2026, 12, 4, 19, 59)), ReceiptTime::daytime);  // Friday
  EXPECT_EQ(receipt_time(local(2026, 12, 4, 20, 0)), ReceiptTime::weekend);   // Friday
  EXPECT_EQ(receipt_time(local(2026, 12, 6, 12, 0)), ReceiptTime::weekend);   // Sunday
  EXPECT_EQ(receipt_time(local(2026, 12, 7, 6, 59)), ReceiptTime::weekend);   // Monday
  EXPECT_EQ(receipt_time(local(2026, 12, 7, 7, 0)), ReceiptTime::daytime);    // Monday
  EXPECT_EQ(receipt_time(local(2026, 12, 7, 20, 0)), ReceiptTime::evening);   // Monday
  EXPECT_EQ(receipt_time(local(2026, 12, 4, 6, 59)), ReceiptTime::evening);   // Friday
}

TEST(CouncilFigures, HeldDeliveriesAreCountedByTheHourTheirEventWasReceived) {
  Records r;
  r.held("e1", "2026-12-01T21:15:00+01:00", "2026-12-02T07:00:00+01:00");
  r.at_once("e2", "2026-12-01T10:00:00+01:00");
  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.held_by_hour[21], 1);
  EXPECT_EQ(f.events_by_hour[21], 1);
  EXPECT_EQ(f.events_by_hour[10], 1);
  EXPECT_EQ(f.held_by_hour[10], 0);
  EXPECT_EQ(f.deliveries, 2);
}

TEST(CouncilFigures, LateHomeworkIsAnEventWithAFlaggedRecord) {
  Records r;
  r.held("h1", "2026-12-01T21:00:00+01:00", "2026-12-02T07:00:00+01:00", "homework",
         "a1b2c3d4e5f6a7b8", "student", R"(,"late_homework":true)");
  r.at_once("h2", "2026-12-02T10:00:00+01:00", "homework");
  r.add("received", "2026-12-02T21:00:00+01:00", "h3", "homework", {}, {}, "{}");
  r.add("bypassed", "2026-12-02T21:00:00+01:00", "h3", "homework", "a1b2c3d4e5f6a7b8", "student",
        R"({"connector":"ent","reason":"urgent","late_homework":true})");
  r.held("h4", "2026-12-03T21:00:00+01:00", "2026-12-04T07:00:00+01:00", "homework",
         "a1b2c3d4e5f6a7b8", "student", R"(,"late_homework":false)");
  r.held("m1", "2026-12-03T21:00:00+01:00", "2026-12-04T07:00:00+01:00", "message",
         "a1b2c3d4e5f6a7b8", "student", R"(,"late_homework":true)");
  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.homework_events, 4);
  EXPECT_EQ(f.late_homework_events, 2);
}

TEST(CouncilFigures, CrisesLastFromOpeningToClosingOrTheirPlannedEnd) {
  Records r;
  // Opened before the period: not counted.
  r.add(
      "crisis_opened", "2026-11-29T10:00:00+01:00", "", "", {}, {},
      R"({"crisis":1,"reason":"x","categories":["alert"],"until":"2026-11-29T12:00:00+01:00","release_held":false,"by":"A"})");
  // Closed by an administrator after an extension: 3 h.
  r.add(
      "crisis_opened", "2026-12-01T10:00:00+01:00", "", "", {}, {},
      R"({"crisis":2,"reason":"Mme X absente","categories":["alert","message"],"until":"2026-12-01T12:00:00+01:00","release_held":true,"by":"Mme Durand"})");
  r.add(
      "crisis_extended", "2026-12-01T11:30:00+01:00", "", "", {}, {},
      R"({"crisis":2,"until":"2026-12-01T14:00:00+01:00","previous_until":"2026-12-01T12:00:00+01:00","by":"Mme Durand"})");
  r.add("crisis_closed", "2026-12-01T13:00:00+01:00", "", "", {}, {},
        R"({"crisis":2,"by":"Mme Durand"})");
  // Ended by itself: 2 h.
  r.add(
      "crisis_opened", "2026-12-02T08:00:00+01:00", "", "", {}, {},
      R"({"crisis":3,"reason":"y","categories":["news"],"until":"2026-12-02T10:00:00+01:00","release_held":false,"by":"B"})");
  r.add("crisis_closed", "2026-12-02T10:00:00+01:00", "", "", {}, {},
        R"({"crisis":3,"by":"expiry"})");
  // Still open: its planned end, 5 h.
  r.add(
      "crisis_opened", "2026-12-20T19:00:00+01:00", "", "", {}, {},
      R"({"crisis":4,"reason":"z","categories":[],"until":"2026-12-21T00:00:00+01:00","release_held":false,"by":"B"})");
  // Another establishment's crisis.
  r.add(
      "crisis_opened", "2026-12-03T08:00:00+01:00", "", "", {}, {},
      R"({"crisis":5,"reason":"w","categories":["alert"],"until":"2026-12-03T10:00:00+01:00","release_held":false,"by":"C"})",
      "0250001R");
  // A delivery sent at once because of crisis 2.
  r.add("received", "2026-12-01T10:30:00+01:00", "c1", "message", {}, {}, "{}");
  r.add("bypassed", "2026-12-01T10:30:00+01:00", "c1", "message", "a1b2c3d4e5f6a7b8", "parent",
        R"({"connector":"ent","reason":"crisis","crisis":2})");

  const CouncilFigures f = count_council_figures(r.list, december());
  ASSERT_EQ(f.crises.size(), 3u);
  EXPECT_EQ(f.crises[0].duration_ms(), 3 * kHour);
  EXPECT_FALSE(f.crises[0].ongoing);
  EXPECT_FALSE(f.crises[0].by_expiry);
  EXPECT_EQ(f.crises[0].extensions, 1);
  EXPECT_THAT(f.crises[0].categories, ElementsAre("alert", "message"));
  EXPECT_EQ(f.crises[1].duration_ms(), 2 * kHour);
  EXPECT_TRUE(f.crises[1].by_expiry);
  EXPECT_TRUE(f.crises[2].ongoing);
  EXPECT_EQ(f.crises[2].duration_ms(), 5 * kHour);
  EXPECT_EQ(f.crisis_total_ms(), 10 * kHour);
  EXPECT_EQ(f.crisis_bypasses, 1);
  EXPECT_EQ(f.bypassed, 1);
}

TEST(CouncilFigures, EachCopyCountsByItsLastOutcome) {
  Records r;
  r.at_once("d1", "2026-12-01T10:00:00+01:00");
  const std::string who = "a1b2c3d4e5f6a7b8";
  auto outcome = [&](const char* kind, const char* at, const char* sink) {
    r.add(kind, at, "d1", "message", who, "student",
          std::string(R"({"sink":")") + sink + R"(","attempt":1})");
  };
  outcome("retrying", "2026-12-01T10:00:01+01:00", "push");  // then delivered
  outcome("delivered", "2026-12-01T10:01:00+01:00", "push");
  outcome("retrying", "2026-12-01T10:00:01+01:00", "mail");  // still retrying
  outcome("dead_lettered", "2026-12-01T10:00:01+01:00", "hook");
  outcome("no_address", "2026-12-01T10:00:01+01:00", "fcm");
  r.at_once("d2", "2026-12-01T11:00:00+01:00");
  r.add("dead_lettered", "2026-12-01T11:00:01+01:00", "d2", "message", who, "student",
        R"({"sink":"hook","attempt":3})");
  r.add("replayed", "2026-12-02T09:00:00+01:00", "d2", "message", who, "student", "{}");
  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.copies_delivered, 1);
  EXPECT_EQ(f.copies_retrying, 2);  // mail, and d2's replayed copy
  EXPECT_EQ(f.copies_dead, 1);
  EXPECT_EQ(f.copies_no_address, 1);
  EXPECT_EQ(f.copies(), 5);
}

TEST(CouncilFigures, GradesReachParentsAfterStudentsWithTheMedianDelay) {
  Records r;
  for (auto [id, day] : {std::pair{"g1", "01"}, {"g2", "08"}}) {
    const std::string at = std::string("2026-12-") + day + "T21:00:00+01:00";
    r.add("received", at, id, "grade", {}, {}, R"({"deliveries":2,"urgent":false})");
    r.add("held", at, id, "grade", "5555aaaa5555aaaa", "student",
          std::string(R"({"until":"2026-12-)") + (day[1] == '1' ? "02" : "09") +
              R"(T07:00:00+01:00","reason":"q"})");
    r.add("held", at, id, "grade", "6666bbbb6666bbbb", "parent",
          std::string(R"({"until":"2026-12-)") + (day[1] == '1' ? "03" : "10") +
              R"(T07:00:00+01:00","reason":"grade for a parent"})");
  }
  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.parent_grades_held, 2);
  EXPECT_EQ(f.parent_grade_delays_measured, 2);
  EXPECT_EQ(f.median_parent_grade_delay_ms, 24 * kHour);
}

TEST(CouncilFigures, OnlyEventsOfTheEstablishmentReceivedInThePeriodCount) {
  Records r;
  r.held("before", "2026-11-29T21:00:00+01:00", "2026-11-30T07:00:00+01:00");
  r.released("before", "2026-11-30T07:00:00+01:00");  // released in the period: not counted
  r.held("inside", "2026-12-20T23:00:00+01:00", "2026-12-21T07:00:00+01:00");
  r.released("inside", "2026-12-21T07:00:00+01:00");  // released after: still counted
  r.add("received", "2026-12-21T00:00:00+01:00", "after", "message", {}, {}, "{}");
  r.add("received", "2026-12-05T10:00:00+01:00", "other", "message", {}, {}, "{}", "0250001R");
  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.events, 1);
  EXPECT_EQ(f.held, 1);
  EXPECT_EQ(f.median_hold_ms, 8 * kHour);
}

TEST(CouncilFigures, AnEventThatWaitedForItsDirectoryCountsFromItsResolution) {
  Records r;
  r.add("awaiting_directory", "2026-12-01T20:50:00+01:00", "w1", "message", {}, {},
        R"({"directory":"annuaire","users":1,"error":"timeout"})", "");
  r.add("resolved", "2026-12-01T21:00:00+01:00", "w1", "message", {}, {},
        R"({"directory":"annuaire","deliveries":1,"unknown":0,"attempts":1})");
  r.add("held", "2026-12-01T21:00:00+01:00", "w1", "message", "a1b2c3d4e5f6a7b8", "student",
        R"({"until":"2026-12-02T07:00:00+01:00","reason":"q"})");
  const CouncilFigures f = count_council_figures(r.list, december());
  EXPECT_EQ(f.events, 1);
  EXPECT_EQ(f.held, 1);
  EXPECT_EQ(f.median_hold_ms, 10 * kHour);
}

TEST(CouncilScope, ThePeriodIsWholeLocalDaysAndBadDatesNameTheirArgument) {
  CouncilRequest q{kUai, "2026-12-01", "2026-12-07", paris()};
  auto s = council_scope(q);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->from_ms, ms("2026-12-01T00:00:00+01:00"));
  EXPECT_EQ(s->to_ms, ms("2026-12-08T00:00:00+01:00"));
  q.from = "2026-13-01";
  EXPECT_THAT(council_scope(q).error(), HasSubstr("--from"));
  q.from = "2026-12-01T00:00:00Z";
  EXPECT_THAT(council_scope(q).error(), HasSubstr("--from"));
  q.from = "2026-12-01";
  q.to = "2026-11-01";
  EXPECT_THAT(council_scope(q).error(), HasSubstr("--to"));
}

TEST(CouncilReport, FrenchDurationsAndDates) {
  EXPECT_EQ(french_duration(29'999), "moins d'une minute");
  EXPECT_EQ(french_duration(30'000), "1 min");
  EXPECT_EQ(french_duration(10 * kHour - 400), "10 h");  // to the nearest minute
  EXPECT_EQ(french_duration(45 * 60'000), "45 min");
  EXPECT_EQ(french_duration(11 * kHour), "11 h");
  EXPECT_EQ(french_duration(59 * kHour + 15 * 60'000), "2 j 11 h 15 min");
  EXPECT_EQ(french_date("2026-12-01"), "1er décembre 2026");
  EXPECT_EQ(french_date("2027-02-14"), "14 février 2027");
  EXPECT_EQ(french_date("nope"), "nope");
}

TEST(CouncilReport, IsFrenchSelfContainedEscapedAndShowsNoPseudonymOrEventId) {
  Records r;
  r.held("evt-secret-42", "2026-12-01T21:00:00+01:00", "2026-12-02T07:00:00+01:00",
         "<script>alert(1)</script>", "feedfacefeedface", "parent");
  r.released("evt-secret-42", "2026-12-02T07:00:00+01:00", "<script>alert(1)</script>",
             "feedfacefeedface", "parent");
  r.add(
      "crisis_opened", "2026-12-03T08:00:00+01:00", "", "", {}, {},
      R"({"crisis":7,"reason":"Élève Martin Dupont","categories":["a&b"],"until":"2026-12-03T09:00:00+01:00","release_held":false,"by":"Mme Durand"})");
  const CouncilFigures f = count_council_figures(r.list, december());
  const CouncilRequest q{kUai, "2026-11-30", "2026-12-20", paris()};
  const std::string html = council_report_html(f, q, ms("2026-12-21T09:05:00+01:00"));

  EXPECT_THAT(html, HasSubstr("<html lang=\"fr\">"));
  EXPECT_THAT(html, HasSubstr("<title>Rapport au conseil d'administration — 0750654D"));
  EXPECT_THAT(html, HasSubstr("du 30 novembre 2026 au 20 décembre 2026 inclus"));
  EXPECT_THAT(html, HasSubstr("21 décembre 2026 à 9 h 05"));
  EXPECT_THAT(html, HasSubstr("Europe/Paris"));
  EXPECT_THAT(html, HasSubstr("<style>" + std::string(council_report_css()) + "</style>"));
  EXPECT_THAT(html, HasSubstr("@media print"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("<table"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("a&amp;b"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("feedfacefeedface")));
  EXPECT_THAT(html, Not(HasSubstr("evt-secret-42")));
  EXPECT_THAT(html, Not(HasSubstr("Martin")));
  EXPECT_THAT(html, Not(HasSubstr("Durand")));
  // Nothing loaded from elsewhere.
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  // The definitions are written in it.
  EXPECT_THAT(html, HasSubstr("du vendredi 20 h au lundi 7 h"));
}

}  // namespace
}  // namespace treve::audit
