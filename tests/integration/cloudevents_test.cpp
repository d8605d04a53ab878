// CloudEvents connectors against the real daemon (`treve serve`) on loopback. The producer is
// the CloudEvents JavaScript SDK (tests/connectors/send_cloudevents.mjs) in structured, binary
// and batched mode; the answers, GET /v1/events/{id}, replays and conflicts are checked, as is
// delivery to a webhook sink of an urgent event the connector may send at once. Problems are
// posted by hand, so that each mode's bad input shows its pointer or header. A connector with a
// directory (directory_stand_in.h, served by this test) sends user ids: the directory says
// where and who they are, in every mode, failing or not.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/channels/push_service.h"  // find_on_path
#include "tests/integration/daemon_harness.h"
#include "tests/integration/directory_stand_in.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

constexpr const char* kCeToken = "ce-connector-token-5b1e0c";
constexpr const char* kCeSource = "https://ent.example/notes";

// Why the SDK cannot run here, or nothing.
std::optional<std::string> sdk_missing() {
  if (test::find_on_path("node").empty())
    return "node is not on PATH: run scripts/install-connector-deps";
  if (!fs::exists(std::string(TREVE_SOURCE_DIR) + "/tests/connectors/node_modules/cloudevents"))
    return "tests/connectors/node_modules/cloudevents is missing: run "
           "scripts/install-connector-deps";
  return std::nullopt;
}

std::string str(const json::value& v) {
  return json::value_to<std::string>(v);
}

// A canonical event's content, as the data of `fr.treve.notification.v1`.
json::object notification_data(const std::string& title = "Nouvelle note") {
  return json::object{
      {"establishment", kUai},
      {"category", "grade"},
      {"recipients", json::array{json::object{{"id", "u-7f3a"}, {"role", "student"}}}},
      {"title", title},
      {"payload", json::object{{"course", "maths"}}}};
}

json::object cloud_event(const std::string& id, json::object data,
                         const std::string& type = "fr.treve.notification.v1",
                         const std::string& source = kCeSource) {
  return json::object{{"specversion", "1.0"},
                      {"id", id},
                      {"source", source},
                      {"type", type},
                      {"time", "2026-11-27T21:14:03+01:00"},
                      {"data", std::move(data)}};
}

// The SDK's answers, one per request: `events` sent with `token` in `mode` to the daemon.
std::vector<json::object> send_with_sdk(std::uint16_t port, const std::string& token,
                                        const std::string& mode, const json::array& events) {
  auto r = test::run(
      test::command(test::find_on_path("node"),
                    {std::string(TREVE_SOURCE_DIR) + "/tests/connectors/send_cloudevents.mjs",
                     "http://127.0.0.1:" + std::to_string(port), token, mode}),
      json::serialize(events));
  EXPECT_EQ(r.status, 0) << r;
  return json_lines(r.out);
}

class CloudEventsConnector : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_.emplace();
    DaemonOptions o;
    std::ostringstream c;
    c << "\n[[connectors]]\nname = \"ce\"\n"
      << "token_sha256 = \"" << sha256_hex(kCeToken) << "\"\n"
      << "may_bypass = true\n"
      << "format = \"cloudevents\"\n"
      << "ce_source = \"" << kCeSource << "\"\n"
      << "types = { \"com.example.alert.raised\" = \"alert\", "
         "\"com.example.grade.published\" = \"grade\" }\n"
      << "establishment_pointer = \"/school/uai\"\n"
      << "recipients_pointer = \"/to\"\n"
      << "title_pointer = \"/headline\"\n"
      << "urgent_pointer = \"/important\"\n"
      << "\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\n"
      << "url = \"" << receiver_->url() << "\"\n"
      << "secret_file = \"hook.secret\"\ndefault = true\n";
    o.extra_config = c.str();
    daemon_.emplace(o);
    std::ofstream(fs::path(daemon_->config_path()).parent_path() / "hook.secret", std::ios::binary)
        << make_webhook_secret() << "\n";
    daemon_->start();
    client_.emplace(daemon_->port());
  }
  void TearDown() override {
    client_.reset();
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->stderr_log();
    }
  }

  // The SDK's answers, one per request.
  std::vector<json::object> send(const std::string& mode, const json::array& events) {
    return send_with_sdk(daemon_->port(), kCeToken, mode, events);
  }

  HttpResponse post(const std::string& target, const std::string& body,
                    const std::string& content_type, Headers extra = {}) {
    extra.emplace_back("Content-Type", content_type);
    extra.emplace_back("Authorization", std::string("Bearer ") + kCeToken);
    return client_->request(bhttp::verb::post, target, body, extra);
  }

  void expect_problem(const HttpResponse& r, int status, const std::string& pointer) {
    EXPECT_EQ(r.status, status) << r;
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json") << r;
    auto o = r.object();
    ASSERT_TRUE(o.contains("pointer")) << r;
    EXPECT_EQ(str(o.at("pointer")), pointer) << r;
  }

  std::optional<WebhookReceiver> receiver_;
  std::optional<Daemon> daemon_;
  std::optional<HttpClient> client_;
};

TEST_F(CloudEventsConnector, TheSdkInEveryModeGetsItsEventsHeld) {
  if (auto why = sdk_missing())
    FAIL() << *why;
  for (const std::string mode : {"structured", "binary"}) {
    SCOPED_TRACE(mode);
    auto answers = send(mode, json::array{cloud_event(mode + "-1", notification_data())});
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].at("status").to_number<int>(), 202) << answers[0];
    const json::object& body = answers[0].at("body").as_object();
    EXPECT_EQ(str(body.at("source")), "ce");
    EXPECT_EQ(str(body.at("id")), mode + "-1");  // from the connector's ce_source: the bare id
    ASSERT_EQ(body.at("deliveries").as_array().size(), 1u);
    EXPECT_TRUE(body.at("deliveries").as_array()[0].at("held").as_bool()) << body;
    auto got = client_->get_event(mode + "-1", kCeToken);
    ASSERT_EQ(got.status, 200) << got;
    EXPECT_EQ(str(got.object().at("category")), "grade");
    EXPECT_EQ(str(got.object().at("deliveries").as_array()[0].at("state")), "held");
  }

  json::array batch;
  batch.push_back(cloud_event("batch-1", notification_data()));
  json::object bad = notification_data();
  bad["recipients"].as_array()[0].as_object()["role"] = "teacher";
  batch.push_back(cloud_event("batch-2", bad));
  batch.push_back(
      cloud_event("batch-3",
                  json::object{{"school", json::object{{"uai", kUai}}},
                               {"to", json::array{json::object{{"id", "u-1"}, {"role", "parent"}}}},
                               {"headline", "Note publiée"}},
                  "com.example.grade.published", "https://other.example"));
  auto answers = send("batched", batch);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].at("status").to_number<int>(), 200) << answers[0];
  EXPECT_EQ(str(answers[0].at("content_type")), "application/json");
  const json::array& results = answers[0].at("body").as_array();
  ASSERT_EQ(results.size(), 3u) << answers[0];
  EXPECT_EQ(results[0].at("index").to_number<int>(), 0);
  EXPECT_EQ(results[0].at("status").to_number<int>(), 202);
  EXPECT_EQ(results[1].at("status").to_number<int>(), 400);
  EXPECT_EQ(str(results[1].at("pointer")), "/1/data/recipients/0/role");
  EXPECT_EQ(results[2].at("status").to_number<int>(), 202) << results[2];
  // Another source than the connector's: the composite id, percent-encoded in the path.
  EXPECT_EQ(str(results[2].at("id")), "https://other.example#batch-3");
  auto got = client_->get_event("https://other.example#batch-3", kCeToken);
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(str(got.object().at("category")), "grade");
  EXPECT_EQ(str(got.object().at("deliveries").as_array()[0].at("state")), "held");
}

TEST_F(CloudEventsConnector, TheSameEventTwiceIsAReplayAndAnotherBodyAConflict) {
  if (auto why = sdk_missing())
    FAIL() << *why;
  for (const std::string mode : {"structured", "binary"}) {
    SCOPED_TRACE(mode);
    const json::object event = cloud_event("again-" + mode, notification_data());
    auto first = send(mode, json::array{event, event});
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].at("status").to_number<int>(), 202);
    EXPECT_TRUE(first[0].at("replayed").is_null());
    EXPECT_EQ(first[1].at("status").to_number<int>(), 202);
    EXPECT_EQ(str(first[1].at("replayed")), "true");
    EXPECT_EQ(first[1].at("body"), first[0].at("body"));
    auto other = send(mode, json::array{cloud_event("again-" + mode, notification_data("Autre"))});
    ASSERT_EQ(other.size(), 1u);
    EXPECT_EQ(other[0].at("status").to_number<int>(), 409) << other[0];
    EXPECT_EQ(str(other[0].at("body").at("type")), "urn:treve:problem:id-conflict");
  }
  // The same id from another source is another event.
  auto elsewhere = send(
      "structured", json::array{cloud_event("again-structured", notification_data("Autre"),
                                            "fr.treve.notification.v1", "https://other.example")});
  ASSERT_EQ(elsewhere.size(), 1u);
  EXPECT_EQ(elsewhere[0].at("status").to_number<int>(), 202) << elsewhere[0];
  // In a batch: replayed, then a conflict at the element's id.
  json::array batch{cloud_event("again-structured", notification_data()),
                    cloud_event("again-structured", notification_data("Encore autre"))};
  auto answers = send("batched", batch);
  ASSERT_EQ(answers.size(), 1u);
  const json::array& results = answers[0].at("body").as_array();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].at("status").to_number<int>(), 202);
  EXPECT_TRUE(results[0].at("replayed").as_bool());
  EXPECT_EQ(results[1].at("status").to_number<int>(), 409);
  EXPECT_EQ(str(results[1].at("pointer")), "/1/id");
}

TEST_F(CloudEventsConnector, AnUrgentMappedEventGoesToTheSinkWithItsDataAsPayload) {
  if (auto why = sdk_missing())
    FAIL() << *why;
  json::object data{{"school", json::object{{"uai", kUai}}},
                    {"to", json::array{json::object{{"id", "u-9"}, {"role", "staff"}}}},
                    {"headline", "Confinement"},
                    {"important", true},
                    {"extra", json::array{1, 2, 3}}};
  auto answers =
      send("binary", json::array{cloud_event("alert-1", data, "com.example.alert.raised")});
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_EQ(answers[0].at("status").to_number<int>(), 202) << answers[0];
  EXPECT_FALSE(answers[0].at("body").at("deliveries").as_array()[0].at("held").as_bool());
  ASSERT_TRUE(receiver_->wait_for_count(1, 10s));
  const auto requests = receiver_->requests();
  const json::value delivered = json::parse(requests[0].body);
  EXPECT_THAT(requests[0].body, HasSubstr("alert-1"));
  EXPECT_THAT(requests[0].body, HasSubstr("Confinement"));
  EXPECT_THAT(requests[0].body, HasSubstr("\"extra\":[1,2,3]")) << requests[0].body;
}

TEST_F(CloudEventsConnector, BadInputInEachModeNamesTheField) {
  // Structured.
  json::object e = cloud_event("bad-1", notification_data());
  e["data"].as_object()["recipients"].as_array()[0].as_object()["role"] = "teacher";
  expect_problem(post("/v1/events", json::serialize(e), "application/cloudevents+json"), 400,
                 "/data/recipients/0/role");
  e = cloud_event("bad-1", notification_data());
  e["specversion"] = "0.3";
  expect_problem(post("/v1/events", json::serialize(e), "application/cloudevents+json"), 400,
                 "/specversion");
  // Batched, at either path.
  json::object titled = notification_data();
  titled["title"] = 3;
  json::array batch{cloud_event("ok", notification_data()), cloud_event("bad-2", titled)};
  for (const char* target : {"/v1/events:batch", "/v1/events"}) {
    auto r = post(target, json::serialize(batch), "application/cloudevents-batch+json");
    ASSERT_EQ(r.status, 200) << r;
    auto results = json::parse(r.body).as_array();
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(str(results[1].at("pointer")), "/1/data/title");
  }
  expect_problem(post("/v1/events:batch", "{}", "application/cloudevents-batch+json"), 400, "");
  // Binary: a header is named, data is the body.
  Headers headers{{"ce-specversion", "1.0"},
                  {"ce-id", "bad-3"},
                  {"ce-source", kCeSource},
                  {"ce-type", "fr.treve.notification.v1"},
                  {"ce-time", "yesterday"}};
  auto r = post("/v1/events", json::serialize(notification_data()), "application/json", headers);
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(str(r.object().at("type")), "urn:treve:problem:invalid-header");
  EXPECT_EQ(str(r.object().at("header")), "ce-time");
  headers.pop_back();
  json::object bad = notification_data();
  bad["urgnet"] = true;
  expect_problem(post("/v1/events", json::serialize(bad), "application/json", headers), 400,
                 "/urgnet");
  // A canonical event is no CloudEvent: the headers are missing.
  r = post("/v1/events", simple_event("plain"), "application/json");
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(str(r.object().at("header")), "ce-specversion");
  // Another media type.
  r = post("/v1/events", "x", "text/plain");
  EXPECT_EQ(r.status, 415) << r;
  r = post("/v1/events:batch", simple_event("nd") + "\n", "application/x-ndjson");
  EXPECT_EQ(r.status, 415) << r;
}

TEST_F(CloudEventsConnector, CanonicalConnectorsAreUnchanged) {
  auto r = client_->post_event(simple_event("canonical-1"));
  EXPECT_EQ(r.status, 202) << r;
  r = client_->post_event(json::serialize(cloud_event("c", notification_data())), kEntToken,
                          "application/cloudevents+json");
  EXPECT_EQ(r.status, 415) << r;
}

// ---- a connector whose recipients come from the directory ------------------------------

constexpr const char* kDirToken = "ce-directory-token-7a2c91";
constexpr const char* kSchoolA = "0250001R";
constexpr const char* kSchoolB = "0750654D";
constexpr const char* kGrade = "com.example.grade.published";

// A mapped event whose data names its recipients by user id (strings or {"userId": …}).
json::object users_event(const std::string& id, json::array to,
                         const std::string& source = kCeSource) {
  return cloud_event(id,
                     json::object{{"to", std::move(to)},
                                  {"headline", "Nouvelle note"},
                                  {"note", json::object{{"value", 15}, {"subject", "maths"}}}},
                     kGrade, source);
}

class CloudEventsFromTheDirectory : public ::testing::Test {
 protected:
  // The schools are open now: what is not held for another reason goes at once.
  void start() {
    DaemonOptions o;
    o.quiet_start = utc_hhmm_ahead(std::chrono::hours(10));
    o.quiet_end = utc_hhmm_ahead(std::chrono::hours(12));
    std::ostringstream c;
    c << "\n[[directories]]\nname = \"ent\"\nurl = \"" << directory_.url() << "\"\n"
      << "secret_file = \"directory.secret\"\ntimeout = \"500ms\"\n"
      << "\n[[connectors]]\nname = \"ce-ent\"\n"
      << "token_sha256 = \"" << sha256_hex(kDirToken) << "\"\n"
      << "format = \"cloudevents\"\ndirectory = \"ent\"\n"
      << "ce_source = \"" << kCeSource << "\"\n"
      << "types = { \"" << kGrade << "\" = \"grade\" }\n"
      << "recipients_pointer = \"/to\"\ntitle_pointer = \"/headline\"\n"
      << "\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\n"
      << "url = \"" << receiver_.url() << "\"\n"
      << "secret_file = \"hook.secret\"\ndefault = true\nretry_initial = \"100ms\"\n";
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

  HttpResponse post(const std::string& body, const std::string& content_type, Headers extra = {},
                    const std::string& target = "/v1/events") {
    extra.emplace_back("Content-Type", content_type);
    extra.emplace_back("Authorization", std::string("Bearer ") + kDirToken);
    return client_->request(bhttp::verb::post, target, body, extra);
  }
  // A mapped event in binary mode: its attributes in headers, `data` the body.
  HttpResponse post_binary(const std::string& id, const json::object& data) {
    return post(
        json::serialize(data), "application/json",
        {{"ce-specversion", "1.0"}, {"ce-id", id}, {"ce-source", kCeSource}, {"ce-type", kGrade}});
  }
  json::object get(const std::string& id) {
    HttpResponse r = client_->get_event(id, kDirToken);
    EXPECT_EQ(r.status, 200) << r;
    return r.status == 200 ? r.object() : json::object{};
  }
  // Each recipient's role in event `id`, as GET /v1/events/{id} shows it.
  std::map<std::string, std::string> roles(const json::object& event) {
    std::map<std::string, std::string> out;
    for (const auto& d : event.at("deliveries").as_array())
      out[str(d.at("recipient"))] = str(d.at("role"));
    return out;
  }
  // Waits until event `id` has deliveries (its directory answered); its GET answer.
  json::object wait_resolved(const std::string& id) {
    return itest::wait_resolved([&] { return get(id); }, 20s, *daemon_);
  }
  bool wait_for_requests(std::size_t n) { return receiver_.wait_for_count(n, 15s); }
  // What the database keeps of event `id` (the canonical event sinks get).
  json::object stored_body(const std::string& id) {
    Db db(daemon_->db_path());
    auto rows = db.query("SELECT body FROM events WHERE event_id = ?", {id});
    if (rows.size() != 1 || !rows[0][0])
      return {};
    return json::parse(*rows[0][0]).as_object();
  }

  Directory directory_;
  WebhookReceiver receiver_;
  std::optional<Daemon> daemon_;
  std::optional<HttpClient> client_;
};

TEST_F(CloudEventsFromTheDirectory, StructuredAndBinaryEventsGetSchoolAndRolesFromTheDirectory) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.add("p-1", "Relative", {kSchoolA}, {"s-9", "s-1"});
  directory_.add("t-1", "Teacher", {kSchoolA, kSchoolB});
  directory_.add("s-2", "Student", {kSchoolA});
  start();
  const std::string event = json::serialize(
      users_event("ce-dir-1", json::array{"s-1", json::object{{"userId", "p-1"}}, "t-1"}));
  HttpResponse r = post(event, "application/cloudevents+json");
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(str(r.object().at("id")), "ce-dir-1");
  EXPECT_EQ(r.object().at("deliveries").as_array().size(), 3u) << r;
  EXPECT_FALSE(r.object().contains("unknown_recipients")) << r;
  EXPECT_FALSE(r.object().contains("awaiting_directory")) << r;

  const json::object e = get("ce-dir-1");
  EXPECT_EQ(str(e.at("establishment")), kSchoolA);
  EXPECT_EQ(str(e.at("category")), "grade");
  EXPECT_EQ(roles(e), (std::map<std::string, std::string>{
                          {"s-1", "student"}, {"p-1", "parent"}, {"t-1", "staff"}}));
  // The canonical event kept: the directory's answer, then the event's own fields, its data
  // as the payload and its time as created_at.
  const json::object body = stored_body("ce-dir-1");
  EXPECT_EQ(str(body.at("establishment")), kSchoolA) << json::serialize(body);
  const json::array& recipients = body.at("recipients").as_array();
  ASSERT_EQ(recipients.size(), 3u);
  EXPECT_EQ(str(recipients[1].at("of")), "s-1");  // the parent's child of this event
  EXPECT_EQ(json::serialize(recipients[2].at("establishments")),
            "[\"" + std::string(kSchoolB) + "\"]");
  EXPECT_EQ(str(body.at("created_at")), "2026-11-27T21:14:03+01:00");
  EXPECT_EQ(str(body.at("title")), "Nouvelle note");
  EXPECT_EQ(
      body.at("payload"),
      users_event("x", json::array{"s-1", json::object{{"userId", "p-1"}}, "t-1"}).at("data"));

  // The same event again is a replay; another with its id, a conflict.
  HttpResponse again = post(event, "application/cloudevents+json");
  EXPECT_EQ(again.status, 202) << again;
  EXPECT_EQ(again.header("Idempotent-Replayed").value_or(""), "true") << again;
  EXPECT_EQ(again.body, r.body);
  HttpResponse other = post(json::serialize(users_event("ce-dir-1", json::array{"s-1"})),
                            "application/cloudevents+json");
  EXPECT_EQ(other.status, 409) << other;

  // Binary mode: a user the directory does not know is named, and gets nothing.
  HttpResponse b = post_binary(
      "ce-dir-2", json::object{{"to", json::array{"s-2", "x-404"}}, {"headline", "Devoir"}});
  ASSERT_EQ(b.status, 202) << b;
  EXPECT_EQ(b.object().at("deliveries").as_array().size(), 1u) << b;
  EXPECT_EQ(json::serialize(b.object().at("unknown_recipients")), R"(["x-404"])") << b;
  EXPECT_EQ(roles(get("ce-dir-2")), (std::map<std::string, std::string>{{"s-2", "student"}}));

  // None known: refused, the pointer naming the first user where it was written.
  HttpResponse none = post(
      json::serialize(users_event("ce-dir-3", json::array{json::object{{"userId", "x-1"}}, "x-2"})),
      "application/cloudevents+json");
  EXPECT_EQ(none.status, 422) << none;
  EXPECT_THAT(str(none.object().at("type")), HasSubstr("unknown-recipients")) << none;
  EXPECT_EQ(str(none.object().at("pointer")), "/data/to/0/userId") << none;
  HttpResponse none_binary = post_binary("ce-dir-4", json::object{{"to", json::array{"x-3"}}});
  EXPECT_EQ(none_binary.status, 422) << none_binary;
  EXPECT_EQ(str(none_binary.object().at("pointer")), "/to/0") << none_binary;
  EXPECT_EQ(client_->get_event("ce-dir-3", kDirToken).status, 404);

  // Delivered with the event's data as the payload; no user id in the log.
  ASSERT_TRUE(wait_for_requests(3)) << daemon_->stderr_log();
  const json::value hook = json::parse(receiver_.requests().front().body);
  EXPECT_EQ(str(hook.at("establishment")), kSchoolA);
  EXPECT_EQ(str(hook.at("payload").at("headline")), "Nouvelle note");
  EXPECT_THAT(daemon_->stderr_log(), ::testing::Not(HasSubstr("x-404")));
}

TEST_F(CloudEventsFromTheDirectory, ABatchIsLookedUpOnceAndAnsweredInOrder) {
  directory_.add("s-3", "Student", {kSchoolA});
  directory_.add("s-4", "Student", {kSchoolA});
  start();
  json::array batch;
  batch.push_back(cloud_event("ce-batch-0", notification_data()));  // names its own recipients
  batch.push_back(users_event("ce-batch-1", json::array{"s-3", "x-5"}));
  batch.push_back(users_event("ce-batch-2", json::array{"x-6", json::object{{"userId", "x-7"}}}));
  batch.push_back(users_event("ce-batch-3", json::array{"s-4", 42}));
  batch.push_back(users_event("ce-batch-4", json::array{json::object{{"userId", "s-4"}}}));
  const int before = directory_.requests();
  HttpResponse r =
      post(json::serialize(batch), "application/cloudevents-batch+json", {}, "/v1/events:batch");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(directory_.requests(), before + 1);  // every user of the batch in one lookup
  const json::array results = json::parse(r.body).as_array();
  ASSERT_EQ(results.size(), 5u) << r;
  for (std::size_t i = 0; i < results.size(); ++i)
    EXPECT_EQ(results[i].at("index").to_number<std::size_t>(), i) << r;
  EXPECT_EQ(results[0].at("status").to_number<int>(), 202) << r;
  EXPECT_EQ(results[1].at("status").to_number<int>(), 202) << r;
  EXPECT_EQ(json::serialize(results[1].at("unknown_recipients")), R"(["x-5"])") << r;
  EXPECT_EQ(results[2].at("status").to_number<int>(), 422) << r;
  EXPECT_EQ(str(results[2].at("pointer")), "/2/data/to/0") << r;
  EXPECT_EQ(results[3].at("status").to_number<int>(), 400) << r;
  EXPECT_EQ(str(results[3].at("pointer")), "/3/data/to/1") << r;
  EXPECT_EQ(results[4].at("status").to_number<int>(), 202) << r;

  // The notification type keeps its own establishment; the others get the directory's.
  EXPECT_EQ(str(get("ce-batch-0").at("establishment")), kUai);
  EXPECT_EQ(str(get("ce-batch-1").at("establishment")), kSchoolA);
  EXPECT_EQ(roles(get("ce-batch-4")), (std::map<std::string, std::string>{{"s-4", "student"}}));
}

TEST_F(CloudEventsFromTheDirectory, ADirectoryOutageHoldsEventsUntilItAnswers) {
  directory_.add("s-1", "Student", {kSchoolA});
  directory_.add("t-1", "Teacher", {kSchoolA});
  directory_.set_mode(Directory::Mode::fail);
  start();
  // Another source than the connector's: stored under the composite id.
  HttpResponse r = post(
      json::serialize(users_event("ce-out-1", json::array{"s-1", "t-1"}, "https://other.example")),
      "application/cloudevents+json");
  ASSERT_EQ(r.status, 202) << r;
  const std::string id = "https://other.example#ce-out-1";
  EXPECT_EQ(str(r.object().at("id")), id);
  EXPECT_TRUE(r.object().at("deliveries").as_array().empty()) << r;
  ASSERT_TRUE(r.object().contains("awaiting_directory")) << r;
  const json::object answer = r.object();
  const json::object& awaiting = answer.at("awaiting_directory").as_object();
  EXPECT_EQ(str(awaiting.at("directory")), "ent");
  EXPECT_THAT(str(awaiting.at("reason")), HasSubstr("awaiting the directory"));
  HttpResponse batch =
      post(json::serialize(json::array{users_event("ce-out-2", json::array{"s-1"})}),
           "application/cloudevents-batch+json");
  ASSERT_EQ(batch.status, 200) << batch;
  EXPECT_TRUE(json::parse(batch.body).as_array()[0].as_object().contains("awaiting_directory"))
      << batch;
  // A repeat while it waits is a replay.
  HttpResponse again = post(
      json::serialize(users_event("ce-out-1", json::array{"s-1", "t-1"}, "https://other.example")),
      "application/cloudevents+json");
  EXPECT_EQ(again.header("Idempotent-Replayed").value_or(""), "true") << again;

  std::this_thread::sleep_for(1500ms);
  json::object e = get(id);
  ASSERT_TRUE(e.contains("awaiting_directory")) << json::serialize(e);
  EXPECT_TRUE(e.at("establishment").is_null());
  EXPECT_EQ(receiver_.count(), 0u);

  directory_.set_mode(Directory::Mode::answer);
  e = wait_resolved(id);
  EXPECT_EQ(str(e.at("establishment")), kSchoolA);
  EXPECT_EQ(roles(e), (std::map<std::string, std::string>{{"s-1", "student"}, {"t-1", "staff"}}));
  EXPECT_EQ(str(wait_resolved("ce-out-2").at("establishment")), kSchoolA);
  ASSERT_TRUE(wait_for_requests(3)) << daemon_->stderr_log();
  // The event resolved is the CloudEvent's: its data the payload, its time created_at.
  const json::object body = stored_body(id);
  EXPECT_EQ(str(body.at("created_at")), "2026-11-27T21:14:03+01:00") << json::serialize(body);
  EXPECT_EQ(str(body.at("payload").at("headline")), "Nouvelle note") << json::serialize(body);
  for (const auto& req : receiver_.requests()) {
    const json::value hook = json::parse(req.body);
    EXPECT_EQ(str(hook.at("payload").at("note").at("subject")), "maths");
  }
  EXPECT_THAT(daemon_->stderr_log(), HasSubstr("event=directory.resolved"));
}

TEST_F(CloudEventsFromTheDirectory, TheSdkSendsUserIds) {
  if (auto why = sdk_missing())
    FAIL() << *why;
  directory_.add("s-1", "Student", {kSchoolA});
  start();
  auto answers = send_with_sdk(daemon_->port(), kDirToken, "binary",
                               json::array{users_event("ce-sdk-1", json::array{"s-1", "x-1"})});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].at("status").to_number<int>(), 202) << answers[0];
  const json::object& body = answers[0].at("body").as_object();
  EXPECT_EQ(json::serialize(body.at("unknown_recipients")), R"(["x-1"])") << body;
  EXPECT_EQ(str(get("ce-sdk-1").at("establishment")), kSchoolA);
}

}  // namespace
}  // namespace treve::itest
