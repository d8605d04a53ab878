// Open ENT NG timeline connectors against the real daemon (`treve serve`) on loopback: timeline
// notifications posted as entcore publishes them, their users resolved by a directory served by
// this test (webhook_receiver.h's server, checking each request's Standard Webhooks signature),
// delivered to a real webhook receiver. The directory answers, fails (500), times out, comes
// back; the daemon is killed while events wait for it.
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/directory_stand_in.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

constexpr const char* kToken = "ent-timeline-token-0123456789";
constexpr const char* kSchoolA = "0250001R";  // the test's "school A"
constexpr const char* kSchoolB = "0750654D";

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

// A timeline notification as entcore's timeline helper publishes it.
std::string timeline(const std::string& type, const std::string& event_type,
                     const std::vector<std::string>& users, const std::string& title = "",
                     const std::string& id = "") {
  json::array recipients;
  for (const auto& u : users)
    recipients.push_back(json::object{{"userId", u}});
  json::object o{
      {"type", type},
      {"event-type", event_type},
      {"recipients", recipients},
      {"sender", "9b1f0c2e-5d7a-4e3b-8f6a-1c2d3e4f5a6b"},
      {"params", json::object{{"uri", "/userbook/annuaire#9b1f"},
                              {"username", "M. Martin"},
                              {"resourceUri", "/conversation/conversation#/read-mail/42"}}},
      {"pushNotif", json::object{{"title", title.empty() ? "push.notif.new.message" : title},
                                 {"body", "M. Martin : Sortie au musée"}}},
      {"disableMailNotification", false},
      {"notificationName", "messagerie.send-message"}};
  if (!id.empty())
    o["_id"] = id;
  return json::serialize(o);
}

class TimelineConnector : public ::testing::Test {
 protected:
  // `open`: the school's quiet window is far from now (events go at once); otherwise every
  // minute but one is quiet.
  void start(bool open = true, const std::string& school_b_policy = "") {
    DaemonOptions o;
    if (open) {
      o.quiet_start = utc_hhmm_ahead(std::chrono::hours(10));
      o.quiet_end = utc_hhmm_ahead(std::chrono::hours(12));
    }
    std::ostringstream c;
    c << "\n[[directories]]\nname = \"ent\"\nurl = \"" << directory_.url() << "\"\n"
      << "secret_file = \"directory.secret\"\ntimeout = \"500ms\"\n"
      << "\n[[connectors]]\nname = \"ent-bfc\"\n"
      << "token_sha256 = \"" << sha256_hex(kToken) << "\"\n"
      << "format = \"entcore-timeline\"\ndirectory = \"ent\"\n"
      << "timeline_types = { \"EXERCIZER\" = \"homework\", \"MESSAGERIE.SEND-URGENT\" = \"alert\" "
         "}\n"
      << "\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\n"
      << "url = \"" << receiver_.url() << "\"\n"
      << "secret_file = \"hook.secret\"\ndefault = true\nretry_initial = \"100ms\"\n"
      << school_b_policy;
    o.extra_config = c.str();
    daemon_.emplace(o);
    start_with_secrets(*daemon_, directory_);
    client_.emplace(daemon_->port());
  }
  void TearDown() override {
    client_.reset();
    if (daemon_ && daemon_->running()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->stderr_log();
    }
  }

  HttpResponse post(const std::string& body, const std::string& target = "/v1/events",
                    const std::string& type = "application/json") {
    Headers h{{"Content-Type", type}, {"Authorization", std::string("Bearer ") + kToken}};
    return client_->request(bhttp::verb::post, target, body, h);
  }
  json::object get(const std::string& id) {
    Headers h{{"Authorization", std::string("Bearer ") + kToken}};
    HttpResponse r = client_->request(bhttp::verb::get, "/v1/events/" + id, "", h);
    EXPECT_EQ(r.status, 200) << r;
    return r.object();
  }
  // Waits until event `id` has deliveries (its directory answered); its GET answer.
  json::object wait_resolved(const std::string& id, std::chrono::seconds patience = 20s) {
    return itest::wait_resolved([&] { return get(id); }, patience, *daemon_);
  }
  bool wait_for_requests(std::size_t n) { return receiver_.wait_for_count(n, 15s); }
  std::vector<std::string> event_kinds(const std::string& id) {
    Db db(daemon_->db_path());
    std::vector<std::string> out;
    for (const auto& r : read_audit(db)) {
      if (r.event_id == id && r.recipient.empty())
        out.push_back(r.kind);
    }
    return out;
  }

  Directory directory_;
  WebhookReceiver receiver_;
  std::optional<Daemon> daemon_;
  std::optional<HttpClient> client_;
};

TEST_F(TimelineConnector, RecipientsGetTheirRolesAndSchoolFromTheDirectory) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.add("s-2", "Student", {kSchoolA});
  directory_.add("p-1", "Relative", {kSchoolA}, {"s-9", "s-2"});
  directory_.add("t-1", "Teacher", {kSchoolA});
  start();
  HttpResponse r = post(timeline("COMPETENCES", "NEW-GRADE", {"s-1", "s-2", "p-1", "t-1"},
                                 "Nouvelle note", "tl-grade-1"));
  ASSERT_EQ(r.status, 202) << r;
  const json::object a = r.object();
  EXPECT_EQ(str(a.at("id")), "tl-grade-1");
  const auto& ds = a.at("deliveries").as_array();
  ASSERT_EQ(ds.size(), 4u) << r;
  std::map<std::string, std::string> roles;
  for (const auto& d : ds)
    roles[str(d.at("recipient"))] = str(d.at("role"));
  EXPECT_EQ(roles,
            (std::map<std::string, std::string>{
                {"s-1", "student"}, {"s-2", "student"}, {"p-1", "parent"}, {"t-1", "staff"}}));
  EXPECT_FALSE(a.contains("unknown_recipients"));
  EXPECT_FALSE(a.contains("awaiting_directory"));

  const json::object e = get("tl-grade-1");
  EXPECT_EQ(str(e.at("establishment")), kSchoolA);
  EXPECT_EQ(str(e.at("category")), "grade");
  // The parent's grade waits for their child's (s-2, the one of this event) plus the delay.
  for (const auto& d : e.at("deliveries").as_array()) {
    if (str(d.at("recipient")) == "p-1") {
      EXPECT_EQ(str(d.at("state")), "held") << json::serialize(d);
      EXPECT_THAT(str(d.at("reason")), HasSubstr("grade")) << json::serialize(d);
    }
  }
  // The others go at once, each with the document entcore would have pushed as payload.
  ASSERT_TRUE(wait_for_requests(3)) << daemon_->stderr_log();
  const json::value body = json::parse(receiver_.requests().front().body);
  const json::object& payload = body.as_object().at("payload").as_object();
  EXPECT_EQ(str(payload.at("type")), "COMPETENCES");
  EXPECT_EQ(str(payload.at("pushNotif").as_object().at("title")), "Nouvelle note");
  EXPECT_EQ(str(body.as_object().at("title")), "Nouvelle note");
}

TEST_F(TimelineConnector, AUserOfTwoSchoolsIsHeldUnderTheStricterOne) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.add("t-3", "Teacher", {kSchoolA, kSchoolB});
  // School A is open now (start()); school B is quiet from an hour ago to two hours ahead.
  const std::string days = R"(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])";
  start(true, std::string("\n[establishments.\"") + kSchoolB + "\"]\n[[establishments.\"" +
                  kSchoolB + "\".quiet]]\ndays = " + days + "\nstart = \"" +
                  utc_hhmm_ahead(std::chrono::hours(-1)) + "\"\nend = \"" +
                  utc_hhmm_ahead(std::chrono::hours(2)) + "\"\nname = \"Soirée B\"\n");
  HttpResponse r = post(timeline("MESSAGERIE", "SEND-MESSAGE", {"s-1", "t-3"}, "", "tl-two-1"));
  ASSERT_EQ(r.status, 202) << r;
  const json::object answer = r.object();
  std::map<std::string, json::object> by;
  for (const auto& d : answer.at("deliveries").as_array())
    by[str(d.at("recipient"))] = d.as_object();
  ASSERT_EQ(by.size(), 2u) << r;
  EXPECT_FALSE(by["s-1"].at("held").as_bool()) << r;
  EXPECT_TRUE(by["t-3"].at("held").as_bool()) << r;
  EXPECT_THAT(str(by["t-3"].at("reason")), HasSubstr(kSchoolB)) << r;
  EXPECT_THAT(str(by["t-3"].at("reason")), HasSubstr("Soirée B")) << r;
  EXPECT_EQ(str(get("tl-two-1").at("establishment")), kSchoolA);
}

TEST_F(TimelineConnector, EveryFixtureIsAcceptedAndRepeatsAreReplays) {
  start(false);
  // Every user of every fixture is a student of school A.
  std::vector<std::string> documents;
  for (const auto& f :
       fs::directory_iterator(std::string(TREVE_SOURCE_DIR) + "/tests/fixtures/entcore")) {
    if (f.path().extension() != ".json")
      continue;
    documents.push_back(read_file(f.path().string()));
    const json::object o = json::parse(documents.back()).as_object();
    for (const char* key : {"recipients", "recipientsIds"}) {
      if (!o.contains(key))
        continue;
      for (const auto& u : o.at(key).as_array()) {
        directory_.add(u.is_string() ? str(u) : str(u.as_object().at("userId")), "Student",
                       {kSchoolA});
      }
    }
  }
  ASSERT_EQ(documents.size(), 7u);
  for (const auto& doc : documents) {
    HttpResponse r = post(doc);
    ASSERT_EQ(r.status, 202) << r << "\n" << doc;
    EXPECT_FALSE(r.object().at("deliveries").as_array().empty()) << r;
    HttpResponse again = post(doc);
    EXPECT_EQ(again.status, 202) << again;
    EXPECT_EQ(again.header("Idempotent-Replayed").value_or(""), "true") << again;
    EXPECT_EQ(again.body, r.body);
  }
  // The same notifications as one NDJSON batch, each on one line: every line a replay.
  std::string batch;
  for (const auto& doc : documents)
    batch += json::serialize(json::parse(doc)) + "\n";
  HttpResponse b = post(batch, "/v1/events:batch", "application/x-ndjson");
  ASSERT_EQ(b.status, 200) << b;
  std::istringstream lines(b.body);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const json::object o = json::parse(line).as_object();
    EXPECT_EQ(o.at("status").as_int64(), 202) << line;
    EXPECT_TRUE(o.contains("replayed")) << line;
  }
  EXPECT_EQ(n, 7);
}

TEST_F(TimelineConnector, UnknownUsersGetNoDeliveryAndNoneKnownIsRefused) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.add("g-1", "Guest", {});  // in no establishment
  start(false);
  HttpResponse r = post(timeline("MESSAGERIE", "SEND-MESSAGE", {"s-1", "x-404", "g-1"}));
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(r.object().at("deliveries").as_array().size(), 1u) << r;
  EXPECT_EQ(json::serialize(r.object().at("unknown_recipients")), R"(["x-404","g-1"])") << r;

  HttpResponse none = post(timeline("MESSAGERIE", "SEND-MESSAGE", {"x-1", "x-2"}));
  EXPECT_EQ(none.status, 422) << none;
  EXPECT_EQ(none.header("Content-Type").value_or(""), "application/problem+json");
  EXPECT_EQ(str(none.object().at("pointer")), "/recipients/0/userId") << none;
  EXPECT_THAT(str(none.object().at("type")), HasSubstr("unknown-recipients")) << none;

  // Bad input names the field in the document sent.
  HttpResponse bad = post(R"({"type":"MESSAGERIE","recipients":[{"userId":7}]})");
  EXPECT_EQ(bad.status, 400) << bad;
  EXPECT_EQ(str(bad.object().at("pointer")), "/recipients/0/userId") << bad;
  HttpResponse wrong_type = post("{}", "/v1/events", "application/cloudevents+json");
  EXPECT_EQ(wrong_type.status, 415) << wrong_type;
}

TEST_F(TimelineConnector, ADirectoryOutageHoldsEventsUntilItAnswersThenDeliversThem) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.add("s-2", "Student", {kSchoolA});
  directory_.set_mode(Directory::Mode::fail);
  start();
  HttpResponse r = post(timeline("MESSAGERIE", "SEND-MESSAGE", {"s-1", "s-2"}, "", "tl-out-1"));
  ASSERT_EQ(r.status, 202) << r;
  const json::object a = r.object();
  EXPECT_TRUE(a.at("deliveries").as_array().empty()) << r;
  ASSERT_TRUE(a.contains("awaiting_directory")) << r;
  EXPECT_EQ(str(a.at("awaiting_directory").as_object().at("directory")), "ent");
  EXPECT_THAT(str(a.at("awaiting_directory").as_object().at("reason")),
              HasSubstr("awaiting the directory"));
  // While the directory fails, the event waits: tried again, nothing sent.
  std::this_thread::sleep_for(2500ms);
  json::object e = get("tl-out-1");
  ASSERT_TRUE(e.contains("awaiting_directory")) << json::serialize(e);
  EXPECT_GE(e.at("awaiting_directory").as_object().at("attempts").as_int64(), 2)
      << json::serialize(e);
  EXPECT_TRUE(e.at("establishment").is_null());
  EXPECT_EQ(receiver_.count(), 0u);

  directory_.set_mode(Directory::Mode::answer);
  e = wait_resolved("tl-out-1");
  EXPECT_EQ(str(e.at("establishment")), kSchoolA);
  ASSERT_TRUE(wait_for_requests(2)) << daemon_->stderr_log();
  EXPECT_THAT(event_kinds("tl-out-1"), ElementsAre("received", "awaiting_directory", "resolved"));
  EXPECT_THAT(daemon_->stderr_log(), HasSubstr("event=directory.resolved"));
  // The log names no user.
  EXPECT_THAT(daemon_->stderr_log(), ::testing::Not(HasSubstr("s-1")));
}

TEST_F(TimelineConnector, ADirectoryThatTimesOutDoesNotHoldTheAnswerBack) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.set_mode(Directory::Mode::slow);
  start();
  const auto before = std::chrono::steady_clock::now();
  HttpResponse r = post(timeline("BLOG", "PUBLISH-POST", {"s-1"}, "", "tl-slow-1"));
  const auto took = std::chrono::steady_clock::now() - before;
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_TRUE(r.object().contains("awaiting_directory")) << r;
  EXPECT_LT(took, 2s);  // the directory's timeout is 500 ms
  directory_.set_mode(Directory::Mode::answer);
  const json::object e = wait_resolved("tl-slow-1");
  EXPECT_EQ(str(e.at("category")), "blog");
}

TEST_F(TimelineConnector, EventsWaitingForTheDirectorySurviveAKill) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.set_mode(Directory::Mode::fail);
  start();
  ASSERT_EQ(post(timeline("NEWS", "NEWS-PUBLISHED", {"s-1"}, "", "tl-kill-1")).status, 202);
  ASSERT_EQ(post(timeline("EXERCIZER", "ASSIGN", {"s-1"}, "", "tl-kill-2")).status, 202);
  daemon_->kill();
  directory_.set_mode(Directory::Mode::answer);
  daemon_->start();
  client_.emplace(daemon_->port());
  EXPECT_EQ(str(wait_resolved("tl-kill-1").at("category")), "news");
  EXPECT_EQ(str(wait_resolved("tl-kill-2").at("category")), "homework");  // timeline_types
  ASSERT_TRUE(wait_for_requests(2)) << daemon_->stderr_log();
  const auto verify = run_treve({"audit", "verify", "--state-dir", daemon_->state_dir()});
  EXPECT_EQ(verify.status, 0) << verify;
}

TEST_F(TimelineConnector, AnEventWaitingForTheDirectoryCanBeRetracted) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.set_mode(Directory::Mode::fail);
  start();
  ASSERT_EQ(post(timeline("NEWS", "NEWS-PUBLISHED", {"s-1"}, "", "tl-del-1")).status, 202);
  Headers h{{"Authorization", std::string("Bearer ") + kToken}};
  HttpResponse d = client_->request(bhttp::verb::delete_, "/v1/events/tl-del-1", "", h);
  ASSERT_EQ(d.status, 200) << d;
  EXPECT_TRUE(d.object().at("awaiting_directory_ended").as_bool()) << d;
  directory_.set_mode(Directory::Mode::answer);
  std::this_thread::sleep_for(2500ms);
  const json::object e = get("tl-del-1");
  EXPECT_TRUE(e.at("deliveries").as_array().empty()) << json::serialize(e);
  EXPECT_FALSE(e.contains("awaiting_directory")) << json::serialize(e);
  EXPECT_EQ(receiver_.count(), 0u);
}

}  // namespace
}  // namespace treve::itest
