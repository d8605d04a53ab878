// What school heads set beyond the national default, through the real daemon on loopback:
// recipients' own quiet hours (PUT/GET/DELETE /v1/recipients/{id}/preferences, applied to every
// decision, kept across restarts, audited by pseudonym), late homework (the answer and the audit
// record say so) and windows per category. The daemon's clock is set to a Tuesday at 21:00 UTC
// (`[testing] clock_start`); the school is quiet every day 20:00-07:00, absences 20:00-06:00.
#include <chrono>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Tuesday 2 March 2027, 21:00 UTC.
constexpr std::chrono::sys_seconds kTuesdayEvening{std::chrono::seconds{1804021200}};

class SchoolRules : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.quiet_start = "20:00";
    o.quiet_end = "07:00";
    o.clock_offset = std::chrono::duration_cast<std::chrono::milliseconds>(
        kTuesdayEvening - std::chrono::system_clock::now());
    o.extra_config = "\n[establishments.\"" + kUai + "\"]\nhomework_notice = \"24h\"\n" +
                     "[[establishments.\"" + kUai + "\".quiet]]\n" +
                     "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n" +
                     "start = \"20:00\"\nend = \"07:00\"\n" + "[[establishments.\"" + kUai +
                     "\".quiet]]\n" +
                     "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n" +
                     "start = \"20:00\"\nend = \"06:00\"\ncategories = [\"absence\"]\n";
    daemon_.emplace(o);
    daemon_->start();
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->stderr_log();
    }
  }

  HttpResponse preferences(bhttp::verb method, const std::string& recipient,
                           const std::string& body = "",
                           const std::string& type = "application/json",
                           const std::string& token = kEntToken) {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Authorization", "Bearer " + token}};
    if (!body.empty())
      headers.emplace_back("Content-Type", type);
    return HttpClient(daemon_->port())
        .request(method, "/v1/recipients/" + url_encode(recipient) + "/preferences", body, headers);
  }

  // The release instants and reasons of a message to p-1 and p-2, by recipient.
  json::array deliveries(const std::string& id, const std::string& category = "message") {
    EventSpec spec;
    spec.id = id;
    spec.category = category;
    spec.recipients = {{"p-1", "parent", ""}, {"p-2", "parent", ""}};
    auto r = HttpClient(daemon_->port()).post_event(event_body(spec));
    EXPECT_EQ(r.status, 202) << r.body;
    return r.object().at("deliveries").as_array();
  }

  std::optional<Daemon> daemon_;
};

constexpr const char* kNothingBeforeEight =
    R"({"quiet": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                   "start": "20:00", "end": "08:00", "name": "Pas avant 8 h"}]})";

TEST_F(SchoolRules, ARecipientsOwnHoursHoldTheirDeliveriesLongerUntilDeleted) {
  auto put = preferences(bhttp::verb::put, "p-1", kNothingBeforeEight);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.object().at("recipient"), "p-1");
  EXPECT_EQ(
      json::serialize(put.object().at("quiet")),
      R"([{"days":["mon","tue","wed","thu","fri","sat","sun"],"start":"20:00","end":"08:00","name":"Pas avant 8 h"}])");
  auto get = preferences(bhttp::verb::get, "p-1");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.object().at("quiet"), put.object().at("quiet"));

  json::array d = deliveries("m-1");
  EXPECT_EQ(d[0].as_object().at("release_at"), "2027-03-03T08:00:00+00:00") << d;
  EXPECT_THAT(std::string(d[0].as_object().at("reason").as_string()),
              HasSubstr("personal quiet hours Pas avant 8 h"));
  EXPECT_EQ(d[1].as_object().at("release_at"), "2027-03-03T07:00:00+00:00") << d;
  EXPECT_THAT(std::string(d[1].as_object().at("reason").as_string()), Not(HasSubstr("personal")));

  // Kept across a restart.
  daemon_->restart();
  d = deliveries("m-2");
  EXPECT_EQ(d[0].as_object().at("release_at"), "2027-03-03T08:00:00+00:00") << d;

  auto del = preferences(bhttp::verb::delete_, "p-1");
  EXPECT_EQ(del.status, 204) << del.body;
  EXPECT_EQ(preferences(bhttp::verb::get, "p-1").status, 404);
  EXPECT_EQ(preferences(bhttp::verb::delete_, "p-1").status, 404);
  d = deliveries("m-3");
  EXPECT_EQ(d[0].as_object().at("release_at"), "2027-03-03T07:00:00+00:00") << d;
}

// `treve explain --recipient` reads the hours from the running daemon's store, by pseudonym,
// and says whether they or the school held the notification.
TEST_F(SchoolRules, ExplainSaysWhetherARecipientsOwnHoursHeldIt) {
  ASSERT_EQ(preferences(bhttp::verb::put, "p-1", kNothingBeforeEight).status, 200);
  auto explain = [&](const std::string& recipient, const std::string& at) {
    return run_treve({"explain", "--config", daemon_->config_path(), "--establishment", kUai,
                      "--role", "parent", "--category", "message", "--at", at, "--source", "ent",
                      "--recipient", recipient});
  };
  auto morning = explain("p-1", "2027-03-03T07:30:00+00:00");
  EXPECT_EQ(morning.status, 0) << morning;
  EXPECT_THAT(morning.out, HasSubstr("is HELD until"));
  EXPECT_THAT(morning.out, HasSubstr("08:00"));
  EXPECT_THAT(morning.out, HasSubstr("personal quiet hours Pas avant 8 h"));
  EXPECT_THAT(
      morning.out,
      HasSubstr("own quiet hours: set by connector \"ent\" (1 window), they held this one"));
  // At 21:00 the school's window holds it until 07:00, the hours until 08:00: theirs again.
  auto evening = explain("p-1", "2027-03-02T21:00:00+00:00");
  EXPECT_THAT(evening.out, HasSubstr("they held this one")) << evening;
  // At noon neither holds it.
  auto noon = explain("p-1", "2027-03-03T12:00:00+00:00");
  EXPECT_THAT(noon.out, HasSubstr("DELIVERED AT ONCE")) << noon;
  EXPECT_THAT(noon.out, HasSubstr("they do not hold this one")) << noon;
  // Someone without hours: the school's answer, said so.
  auto other = explain("p-2", "2027-03-03T07:30:00+00:00");
  EXPECT_THAT(other.out, HasSubstr("DELIVERED AT ONCE")) << other;
  EXPECT_THAT(other.out, HasSubstr("own quiet hours: none set for p-2 by connector \"ent\""));
  // The hours are the connector's: --source is required, and not with --user.
  auto no_source =
      run_treve({"explain", "--config", daemon_->config_path(), "--establishment", kUai, "--role",
                 "parent", "--category", "message", "--recipient", "p-1"});
  EXPECT_NE(no_source.status, 0);
  EXPECT_THAT(no_source.err, HasSubstr("--recipient needs --source"));
}

TEST_F(SchoolRules, HoursAreTheConnectorsOwnAndAuditedByPseudonymOnly) {
  ASSERT_EQ(preferences(bhttp::verb::put, "p-1", kNothingBeforeEight).status, 200);
  // Another connector does not see them, and its events to "p-1" are not held by them.
  EXPECT_EQ(preferences(bhttp::verb::get, "p-1", "", "", kAlertToken).status, 404);
  ASSERT_EQ(preferences(bhttp::verb::delete_, "p-1").status, 204);

  Db db(daemon_->db_path());
  const auto rows = read_audit(db);
  EXPECT_EQ(verify_chain(rows), "");
  int set = 0;
  int deleted = 0;
  for (const auto& r : rows) {
    if (r.kind == "preferences_set") {
      ++set;
      EXPECT_EQ(r.source, "ent");
      EXPECT_EQ(r.detail, R"({"windows":1})");
      EXPECT_EQ(r.recipient.size(), 32u) << r.recipient;
    }
    if (r.kind == "preferences_deleted")
      ++deleted;
    EXPECT_THAT(r.recipient, Not(HasSubstr("p-1")));
    EXPECT_THAT(r.detail, Not(HasSubstr("p-1")));
  }
  EXPECT_EQ(set, 1);
  EXPECT_EQ(deleted, 1);
  auto verify = run_treve({"audit", "verify", "--config", daemon_->config_path()});
  EXPECT_EQ(verify.status, 0) << verify;
}

TEST_F(SchoolRules, BadPreferencesAreRefusedWithWhatIsWrong) {
  struct Case {
    std::string body;
    int status;
    std::string pointer;
  };
  const std::vector<Case> cases = {
      {R"({"quiet": []})", 400, "/quiet"},
      {R"({"quiet": [{"days": ["mon"], "start": "25:00", "end": "08:00"}]})", 400,
       "/quiet/0/start"},
      {R"({"quiet": [{"days": ["lun"], "start": "20:00", "end": "08:00"}]})", 400,
       "/quiet/0/days/0"},
      {R"({"quiet": [{"days": ["mon"], "start": "20:00"}]})", 400, "/quiet/0/end"},
      {R"({"quiet": [{"days": ["mon"], "start": "20:00", "end": "08:00", "categories": []}]})", 400,
       "/quiet/0/categories"},
      {R"({"hours": []})", 400, "/hours"},
      {R"([1])", 400, ""},
      // With the national windows, every minute of the week would be quiet.
      {R"({"quiet": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": "06:00",
                      "end": "21:00"}]})",
       400, "/quiet"},
  };
  for (const auto& c : cases) {
    auto r = preferences(bhttp::verb::put, "p-1", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json") << c.body;
    EXPECT_EQ(r.object().at("pointer"), json::value(c.pointer)) << r.body;
  }
  EXPECT_EQ(preferences(bhttp::verb::put, "p-1", kNothingBeforeEight, "text/plain").status, 415);
  EXPECT_EQ(preferences(bhttp::verb::post, "p-1", kNothingBeforeEight).status, 405);
  EXPECT_EQ(preferences(bhttp::verb::get, "p-1", "", "", "not-a-token").status, 401);
  // Nothing was stored by any of them.
  EXPECT_EQ(preferences(bhttp::verb::get, "p-1").status, 404);
}

TEST_F(SchoolRules, AbsencesFollowTheirOwnWindowOthersTheSchools) {
  json::array absence = deliveries("a-1", "absence");
  EXPECT_EQ(absence[0].as_object().at("release_at"), "2027-03-03T06:00:00+00:00") << absence;
  json::array message = deliveries("m-1");
  EXPECT_EQ(message[0].as_object().at("release_at"), "2027-03-03T07:00:00+00:00") << message;
}

TEST_F(SchoolRules, LateHomeworkIsHeldAsUsualAndSaidSo) {
  auto post = [&](const std::string& id, const std::string& due, const std::string& category) {
    EventSpec spec;
    spec.id = id;
    spec.category = category;
    json::object o = event_object(spec);
    o["due_at"] = due;
    return HttpClient(daemon_->port()).post_event(json::serialize(o));
  };
  auto late = post("h-1", "2027-03-03T08:00:00+00:00", "homework");
  ASSERT_EQ(late.status, 202) << late.body;
  EXPECT_EQ(late.object().at("late_homework"), true) << late.body;
  const json::object answer = late.object();
  const json::object& d = answer.at("deliveries").as_array()[0].as_object();
  EXPECT_EQ(d.at("held"), true);
  EXPECT_EQ(d.at("release_at"), "2027-03-03T07:00:00+00:00");
  EXPECT_THAT(std::string(d.at("reason").as_string()), HasSubstr("late homework"));

  auto in_time = post("h-2", "2027-03-05T08:00:00+00:00", "homework");
  ASSERT_EQ(in_time.status, 202) << in_time.body;
  EXPECT_FALSE(in_time.object().contains("late_homework")) << in_time.body;

  auto not_homework = post("h-3", "2027-03-05T08:00:00+00:00", "message");
  EXPECT_EQ(not_homework.status, 400) << not_homework.body;
  EXPECT_EQ(not_homework.object().at("pointer"), "/due_at");
  auto bad_date = post("h-4", "tomorrow", "homework");
  EXPECT_EQ(bad_date.status, 400) << bad_date.body;
  EXPECT_EQ(bad_date.object().at("pointer"), "/due_at");

  Db db(daemon_->db_path());
  int marked = 0;
  for (const auto& r : read_audit(db)) {
    if (r.kind == "held" && r.event_id == "h-1") {
      EXPECT_THAT(r.detail, HasSubstr(R"("late_homework":true)"));
      ++marked;
    }
    if (r.event_id == "h-2") {
      EXPECT_THAT(r.detail, Not(HasSubstr("late_homework")));
    }
  }
  EXPECT_EQ(marked, 1);
}

}  // namespace
}  // namespace treve::itest
