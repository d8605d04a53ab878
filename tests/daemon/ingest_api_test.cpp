// The ingest API as a plain function from request to response, without sockets: a real store
// on a temporary file, a fake clock, the example configuration's policy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "daemon/api/ingest_api.h"
#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/support/store.h"
#include "tests/support/tokens.h"

namespace treve::api {
namespace {

namespace fs = std::filesystem;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr const char* kConfig = R"(
[server]
state_dir = "/nonexistent"
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";  // token "change-me"

constexpr const char* kEvent = R"({"id":"msg-1","establishment":"0750654D","category":"message",
"recipients":[{"id":"u-1","role":"student"}],"created_at":"2026-11-27T21:14:03+01:00"})";

class IngestApiTest : public ::testing::Test {
 protected:
  explicit IngestApiTest(long long max_pages = 0)
      : clock_(*policy::parse_rfc3339("2026-11-27T21:14:03+01:00")) {
    config_ = *config::parse_config(kConfig, "test.toml");
    store_ = test::open_store(test::store_options(dir_.db(), 0, max_pages));
    queue_ = std::make_unique<store::CommitQueue>(*store_, clock_);
    api_ = std::make_unique<IngestApi>([this] { return config_; }, *queue_, *store_, clock_);
  }
  ~IngestApiTest() override {
    api_.reset();
    queue_.reset();
    store_.reset();
  }

  http::Response call(bhttp::verb method, std::string target, std::string body = {},
                      std::string content_type = "application/json",
                      std::string token = test::kChangeMeToken) {
    http::Request req{method, target, 11};
    if (!token.empty())
      req.set(bhttp::field::authorization, "Bearer " + token);
    if (!content_type.empty())
      req.set(bhttp::field::content_type, content_type);
    req.body() = std::move(body);
    req.prepare_payload();
    std::promise<http::Response> answer;
    api_->handle({"127.0.0.1:40000"}, std::move(req),
                 [&](http::Reply r) { answer.set_value(std::move(r.response)); });
    return answer.get_future().get();
  }

  test::TempDir dir_{"treve-api"};
  core::FakeClock clock_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::CommitQueue> queue_;
  std::unique_ptr<IngestApi> api_;
};

TEST_F(IngestApiTest, AcceptsAnEventAfterStoringItAndSaysWhenItWillBeDelivered) {
  auto res = call(bhttp::verb::post, "/v1/events", kEvent);
  ASSERT_EQ(res.result_int(), 202) << res.body();
  auto body = json::parse(res.body()).as_object();
  EXPECT_EQ(body.at("source").as_string(), "ent");
  auto d = body.at("deliveries").as_array()[0].as_object();
  EXPECT_EQ(d.at("held").as_bool(), true);
  EXPECT_EQ(d.at("release_at").as_string(), "2026-11-30T07:00:00+01:00");
  auto stats = store_->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->held, 1u);
}

TEST_F(IngestApiTest, RefusesAMissingOrUnknownToken) {
  EXPECT_EQ(call(bhttp::verb::post, "/v1/events", kEvent, "application/json", "").result_int(),
            401);
  auto res = call(bhttp::verb::post, "/v1/events", kEvent, "application/json", "wrong");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(res[bhttp::field::content_type], "application/problem+json");
}

TEST_F(IngestApiTest, RefusesAnotherContentTypeWith415) {
  auto res = call(bhttp::verb::post, "/v1/events", kEvent, "text/plain");
  EXPECT_EQ(res.result_int(), 415);
  EXPECT_THAT(res.body(), ::testing::HasSubstr("unsupported-media-type"));
}

TEST_F(IngestApiTest, NamesTheBadFieldWithItsJsonPointer) {
  std::string bad = kEvent;
  bad.replace(bad.find("student"), 7, "teacher");
  auto res = call(bhttp::verb::post, "/v1/events", bad);
  ASSERT_EQ(res.result_int(), 400);
  EXPECT_EQ(json::parse(res.body()).as_object().at("pointer").as_string(), "/recipients/0/role");
}

TEST_F(IngestApiTest, ReturnsTheFirstAnswerForARepeatAndConflictsOnAnotherBody) {
  auto first = call(bhttp::verb::post, "/v1/events", kEvent);
  clock_.advance(std::chrono::hours(12));
  auto again = call(bhttp::verb::post, "/v1/events", kEvent);
  EXPECT_EQ(again.result_int(), 202);
  EXPECT_EQ(again.body(), first.body());
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
  std::string other = kEvent;
  other.replace(other.find("message"), 7, "news");
  EXPECT_EQ(call(bhttp::verb::post, "/v1/events", other).result_int(), 409);
}

TEST_F(IngestApiTest, BatchAnswersOneLinePerEventInOrder) {
  std::string batch =
      std::string(kEvent).replace(std::string(kEvent).find('\n'), 1, " ") + "\n{not json}\n";
  auto res = call(bhttp::verb::post, "/v1/events:batch", batch, "application/x-ndjson");
  ASSERT_EQ(res.result_int(), 200);
  std::vector<json::object> lines;
  std::string_view b = res.body();
  while (!b.empty()) {
    auto nl = b.find('\n');
    lines.push_back(json::parse(b.substr(0, nl)).as_object());
    b.remove_prefix(nl + 1);
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("status").as_int64(), 202);
  EXPECT_EQ(lines[1].at("status").as_int64(), 400);
  EXPECT_EQ(lines[1].at("line").as_int64(), 2);
}

TEST_F(IngestApiTest, RetractsHeldDeliveries) {
  call(bhttp::verb::post, "/v1/events", kEvent);
  auto res = call(bhttp::verb::delete_, "/v1/events/msg-1", "", "");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto got = call(bhttp::verb::get, "/v1/events/msg-1", "", "");
  EXPECT_THAT(got.body(), ::testing::HasSubstr(R"("state":"retracted")"));
}

}  // namespace
}  // namespace treve::api

namespace treve::api {
namespace {

TEST_F(IngestApiTest, ASecondDeleteAfterAPartialRetractIsHarmless) {
  // One delivery already released (due), one held: the first DELETE retracts the held one.
  store::NewEvent e;
  e.source = "ent";
  e.id = "mixed";
  e.establishment = "0750654D";
  e.received_at = clock_.now();
  e.zone = date::locate_zone("Europe/Paris");
  e.body = "{}";
  e.body_sha256 = core::sha256_hex(e.body);
  e.response = "{}";
  for (auto [who, state] :
       {std::pair{"s", store::DeliveryState::due}, std::pair{"p", store::DeliveryState::held}}) {
    store::NewDelivery d;
    d.recipient = who;
    d.state = state;
    d.release_at = clock_.now();
    d.reason = "test";
    e.deliveries.push_back(d);
  }
  std::vector<store::NewEvent> events{e};
  ASSERT_TRUE(store_->accept(events, clock_.now()));
  EXPECT_EQ(call(bhttp::verb::delete_, "/v1/events/mixed", "", "").result_int(), 200);
  auto again = call(bhttp::verb::delete_, "/v1/events/mixed", "", "");
  EXPECT_EQ(again.result_int(), 200) << again.body();
}

}  // namespace
}  // namespace treve::api

namespace treve::api {
namespace {

TEST_F(IngestApiTest, OnlyAuthenticatedRequestsMaySendLargeBodies) {
  http::Request header{bhttp::verb::post, "/v1/events:batch", 11};
  EXPECT_EQ(api_->body_limit(header), IngestApi::kUnauthenticatedBodyLimit);
  header.set(bhttp::field::authorization, "Bearer wrong");
  EXPECT_EQ(api_->body_limit(header), IngestApi::kUnauthenticatedBodyLimit);
  header.set(bhttp::field::authorization, "Bearer " + test::kChangeMeToken);
  EXPECT_EQ(api_->body_limit(header), config_->server.max_batch_body_bytes);
  header.target("/v1/events");
  EXPECT_EQ(api_->body_limit(header), config_->server.max_body_bytes);
}

http::Request batch_header(const std::string& token) {
  http::Request header{bhttp::verb::post, "/v1/events:batch", 11};
  if (!token.empty())
    header.set(bhttp::field::authorization, "Bearer " + token);
  return header;
}

TEST_F(IngestApiTest, CountsBodiesInFlightUntilReleasedAndRefusesThemBeyondTheBounds) {
  config_ = *config::parse_config(
      "[server]\nstate_dir = \"/nonexistent\"\nmax_batch_body_bytes = 1048576\n"
      "max_bytes_in_flight_per_connector = 3145728\nmax_bytes_in_flight = 4194304\n"
      "[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" +
          core::sha256_hex(test::kChangeMeToken) + "\"\n[[connectors]]\nname = \"other\"\n" +
          "token_sha256 = \"" + core::sha256_hex(test::kOtherToken) + "\"\n",
      "test.toml");
  constexpr std::size_t MiB = 1024 * 1024;
  auto ent_1 = api_->admit_body(batch_header(test::kChangeMeToken), MiB);
  auto ent_2 = api_->admit_body(batch_header(test::kChangeMeToken), MiB);
  auto other_1 = api_->admit_body(batch_header(test::kOtherToken), MiB);
  ASSERT_TRUE(ent_1 && ent_2 && other_1);
  EXPECT_EQ(api_->bytes_in_flight(), 3 * MiB);

  // Over "ent"'s own bound: 429.
  auto over_connector = api_->admit_body(batch_header(test::kChangeMeToken), 2 * MiB);
  ASSERT_FALSE(over_connector);
  EXPECT_EQ(over_connector.error().result_int(), 429);
  EXPECT_EQ(over_connector.error()[bhttp::field::retry_after], "2");
  EXPECT_EQ(over_connector.error()[bhttp::field::content_type], "application/problem+json");
  EXPECT_EQ(json::parse(over_connector.error().body()).at("type"),
            "urn:treve:problem:connector-busy");
  // Within "other"'s, over the server's: 503.
  auto over_total = api_->admit_body(batch_header(test::kOtherToken), 3 * MiB / 2);
  ASSERT_FALSE(over_total);
  EXPECT_EQ(over_total.error().result_int(), 503);
  EXPECT_EQ(over_total.error()[bhttp::field::retry_after], "2");
  EXPECT_EQ(json::parse(over_total.error().body()).at("type"), "urn:treve:problem:server-busy");
  EXPECT_EQ(api_->bytes_in_flight(), 3 * MiB);

  // Requests without a valid token are not counted (their bodies are small anyway).
  auto anonymous = api_->admit_body(batch_header(""), 64 * 1024);
  auto wrong = api_->admit_body(batch_header("wrong"), 64 * 1024);
  ASSERT_TRUE(anonymous && wrong);
  EXPECT_EQ(api_->bytes_in_flight(), 3 * MiB);

  // Released with the answers: room again.
  ent_1->reset();
  other_1->reset();
  EXPECT_EQ(api_->bytes_in_flight(), MiB);
  auto later = api_->admit_body(batch_header(test::kOtherToken), 3 * MiB / 2);
  EXPECT_TRUE(later);
  EXPECT_EQ(api_->bytes_in_flight(), MiB + 3 * MiB / 2);
}

TEST_F(IngestApiTest, ParsesABatchAndRendersItsAnswerThroughOffload) {
  std::atomic<int> offloaded{0};
  IngestApi::Options options;
  options.offload = [&](std::function<void()> work) {
    ++offloaded;
    work();
  };
  api_ = std::make_unique<IngestApi>([this] { return config_; }, *queue_, *store_, clock_,
                                     std::move(options));
  auto res = call(bhttp::verb::post, "/v1/events:batch",
                  json::serialize(json::parse(kEvent)) + "\n", "application/x-ndjson");
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(offloaded, 2);  // the parsing, then the answer
  res = call(bhttp::verb::post, "/v1/events", json::serialize(json::parse(kEvent)));
  EXPECT_EQ(res.result_int(), 202) << res.body();
  EXPECT_EQ(offloaded, 2);  // one event is parsed at once
}

}  // namespace
}  // namespace treve::api

namespace treve::api {
namespace {

// The store at a size cap of 60 pages: a large batch does not fit, a single event does.
class IngestApiOnACappedStore : public IngestApiTest {
 protected:
  IngestApiOnACappedStore() : IngestApiTest(60) {}
};

TEST_F(IngestApiOnACappedStore, HealthzIs503AfterAWriteFailedForLackOfSpaceAnd200OnceOneSucceeds) {
  EXPECT_EQ(call(bhttp::verb::get, "/healthz", "", "", "").result_int(), 200);
  std::string one = kEvent;
  std::replace(one.begin(), one.end(), '\n', ' ');
  std::string batch;
  for (int i = 0; i < 3000; ++i) {
    std::string line = one;
    line.replace(line.find("msg-1"), 5, "big-" + std::to_string(i));
    batch += line + "\n";
  }
  auto refused = call(bhttp::verb::post, "/v1/events:batch", batch, "application/x-ndjson");
  ASSERT_EQ(refused.result_int(), 503) << refused.body().substr(0, 400);

  auto sick = call(bhttp::verb::get, "/healthz", "", "", "");
  EXPECT_EQ(sick.result_int(), 503);
  EXPECT_EQ(sick[bhttp::field::content_type], "application/problem+json");
  auto problem = json::parse(sick.body()).as_object();
  EXPECT_EQ(problem.at("type").as_string(), "urn:treve:problem:store-unavailable");
  EXPECT_EQ(problem.at("status").as_int64(), 503);
  EXPECT_THAT(std::string(problem.at("detail").as_string()), ::testing::HasSubstr("full"));
  EXPECT_FALSE(sick[bhttp::field::retry_after].empty());

  ASSERT_EQ(call(bhttp::verb::post, "/v1/events", kEvent).result_int(), 202);
  EXPECT_EQ(call(bhttp::verb::get, "/healthz", "", "", "").result_int(), 200);
}

}  // namespace
}  // namespace treve::api
