// CloudEvents connectors against the real daemon (`treve serve`) on loopback. The producer is
// the CloudEvents JavaScript SDK (tests/connectors/send_cloudevents.mjs) in structured, binary
// and batched mode; the answers, GET /v1/events/{id}, replays and conflicts are checked, as is
// delivery to a webhook sink of an urgent event the connector may send at once. Problems are
// posted by hand, so that each mode's bad input shows its pointer or header.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/channels/push_service.h"  // find_on_path
#include "tests/integration/daemon_harness.h"
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
    auto r = test::run(
        test::command(test::find_on_path("node"),
                      {std::string(TREVE_SOURCE_DIR) + "/tests/connectors/send_cloudevents.mjs",
                       "http://127.0.0.1:" + std::to_string(daemon_->port()), kCeToken, mode}),
        json::serialize(events));
    EXPECT_EQ(r.status, 0) << r;
    std::vector<json::object> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty())
        out.push_back(json::parse(line).as_object());
    }
    return out;
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

}  // namespace
}  // namespace treve::itest
