// The Web Push channel against an independent push service: tests/channels/push_service.mjs,
// started for real over HTTPS with the test's own certificate authority, verifies each
// request's VAPID token (npm jose) and decrypts its body (npm http_ece) with the keys of the
// browser it plays. The channel runs on a real io_context and dispatch::HttpClient, run by the
// test's thread as the dispatcher runs them.
#include "daemon/dispatch/web_push_channel.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "adapters/outbound/web_push_message.h"
#include "daemon/core/clock.h"
#include "daemon/dispatch/http_client.h"
#include "tests/channels/push_service.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"

namespace treve::dispatch {
namespace {

namespace json = boost::json;
using adapters::OutboundDelivery;
using adapters::Verdict;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

// An event for one recipient (a parent) whose browsers are `subscriptions`.
std::string event_body(const std::string& event_id, const std::string& recipient,
                       const std::vector<json::object>& subscriptions,
                       const std::string& title = "Absence signalée") {
  json::array webpush;
  for (const auto& s : subscriptions)
    webpush.push_back(s);
  json::object channels;
  if (!subscriptions.empty())
    channels["webpush"] = webpush;
  json::object event = {
      {"id", event_id},
      {"title", title},
      {"payload", {{"eleve", "Léa"}, {"cours", "Mathématiques"}}},
      {"recipients",
       json::array{json::object{{"id", recipient}, {"role", "parent"}, {"channels", channels}}}}};
  return json::serialize(event);
}

// Deliveries and the texts their views point into (event i is "msg-<i>").
struct Deliveries {
  std::vector<std::string> ids, event_ids, recipients, bodies;
  std::vector<bool> urgent;
  std::vector<OutboundDelivery> list;

  void add(std::string id, std::string recipient, std::string body, bool is_urgent = false) {
    ids.push_back(std::move(id));
    event_ids.push_back("msg-" + std::to_string(event_ids.size()));
    recipients.push_back(std::move(recipient));
    bodies.push_back(std::move(body));
    urgent.push_back(is_urgent);
    list.clear();  // the strings may have moved
    for (std::size_t i = 0; i < ids.size(); ++i) {
      list.push_back({.delivery_id = ids[i],
                      .source = "ent",
                      .event_id = event_ids[i],
                      .establishment = "0250001R",
                      .category = "absence",
                      .urgent = urgent[i],
                      .recipient = recipients[i],
                      .role = "parent",
                      .event_body = bodies[i],
                      .received_at = "2026-11-27T21:14:03+01:00",
                      .released_at = "2026-11-28T07:00:00+01:00"});
    }
  }
  std::span<const OutboundDelivery> one(std::size_t i) const { return {&list[i], 1}; }
};

class WebPushChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = test::push_service_missing(TREVE_SOURCE_DIR))
      FAIL() << *missing;
    ca_ = test::make_test_ca(dir_);
    // The server's key as operators make it (SEC 1, "EC PRIVATE KEY").
    const auto key =
        test::run(test::command(test::kOpenssl, {"ecparam", "-name", "prime256v1", "-genkey",
                                                 "-noout", "-out", dir_.file("vapid.pem")}));
    ASSERT_EQ(key.status, 0) << key;
    sink_.name = "push";
    sink_.type = "webpush";
    sink_.vapid_key = test::read_whole_file(dir_.file("vapid.pem"));
    sink_.subject = "mailto:dpo@ent.example";
    sink_.ttl = 3600s;
    sink_.timeout = 10s;
    sink_.ca_file = ca_.ca_file;
  }

  void start(std::vector<std::string> ids) {
    test::PushService::Options options;
    options.ids = std::move(ids);
    options.application_server_key = dir_.file("vapid.pem");
    service_.emplace(TREVE_SOURCE_DIR, dir_, ca_, options);
    channel_.emplace(sink_, ChannelContext{ioc_, http_, clock_});
  }

  std::vector<json::object> subscriptions(std::initializer_list<const char*> ids) const {
    std::vector<json::object> out;
    for (const char* id : ids)
      out.push_back(service_->subscription(id));
    return out;
  }

  // Sends and runs the io_context until the channel answers (at most 30 s).
  ChannelResult send(std::span<const OutboundDelivery> batch, bool digest = false) {
    std::optional<ChannelResult> result;
    channel_->send(batch, digest, [&](ChannelResult r) { result = std::move(r); });
    EXPECT_FALSE(result) << "done was called from inside send()";
    run_until([&] { return result.has_value(); });
    if (!result) {
      ADD_FAILURE() << "no answer from the channel; the stand-in said: " << service_->errors();
      return {};
    }
    return *result;
  }

  template <typename Done>
  void run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    ioc_.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline)
      ioc_.run_one_for(100ms);
  }

  // The records of the requests to subscription `id`.
  std::vector<json::object> records_of(const std::string& id) const {
    std::vector<json::object> out;
    for (auto& r : service_->records()) {
      if (r.at("id").as_string() == id)
        out.push_back(r);
    }
    return out;
  }

  test::TempDir dir_{"treve-webpush"};
  test::TestCa ca_;
  config::Sink sink_;
  boost::asio::io_context ioc_;
  HttpClient http_{ioc_, {}};
  core::SystemClock clock_;
  std::optional<test::PushService> service_;
  std::optional<WebPushChannel> channel_;
};

std::string endpoint_of(const json::object& subscription) {
  return std::string(subscription.at("endpoint").as_string());
}

TEST_F(WebPushChannelTest, EachBrowserOfTheRecipientGetsExactlyTheDeliverysMessage) {
  start({"ok-1", "ok-2", "ok-3"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000001", "u-1",
        event_body("msg-0", "u-1", subscriptions({"ok-1", "ok-2"})));
  d.add("dlv_00000000000000000000000000000002", "u-2",
        event_body("msg-1", "u-2", subscriptions({"ok-3"}), "Alerte : sortie annulée"), true);

  const ChannelResult first = send(d.one(0));
  EXPECT_EQ(first.verdict, Verdict::delivered) << first.error;
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(first.id, d.ids[0]);
  EXPECT_EQ(first.addresses,
            (std::vector<std::string>{endpoint_of(service_->subscription("ok-1")),
                                      endpoint_of(service_->subscription("ok-2"))}));
  const ChannelResult second = send(d.one(1));
  EXPECT_EQ(second.verdict, Verdict::delivered) << second.error;

  for (const auto& [id, index, urgency] :
       {std::tuple{"ok-1", 0, "normal"}, std::tuple{"ok-2", 0, "normal"},
        std::tuple{"ok-3", 1, "high"}}) {
    const auto records = records_of(id);
    ASSERT_EQ(records.size(), 1u) << id;
    const json::object& r = records.front();
    EXPECT_FALSE(r.contains("error")) << json::serialize(r);
    EXPECT_EQ(r.at("status").as_int64(), 201);
    EXPECT_EQ(r.at("plaintext").as_string(), *adapters::web_push_message(d.list[index])) << id;
    const json::object& headers = r.at("headers").as_object();
    EXPECT_EQ(headers.at("content-encoding").as_string(), "aes128gcm");
    EXPECT_EQ(headers.at("ttl").as_string(), "3600");
    EXPECT_EQ(headers.at("urgency").as_string(), urgency) << id;
    const json::object& claims = r.at("claims").as_object();
    EXPECT_EQ(claims.at("aud").as_string(), service_->origin());
    EXPECT_EQ(claims.at("sub").as_string(), "mailto:dpo@ent.example");
  }
}

TEST_F(WebPushChannelTest, AGoneSubscriptionFailsAloneWhileAnotherBrowserOfTheRecipientDelivers) {
  start({"gone410-a", "gone404-b", "ok-c", "gone410-d", "gone404-e", "big413-f"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000010", "u-1",
        event_body("msg-0", "u-1", subscriptions({"gone410-a", "gone404-b", "ok-c"})));
  d.add("dlv_00000000000000000000000000000011", "u-2",
        event_body("msg-1", "u-2", subscriptions({"gone410-d"})));
  d.add("dlv_00000000000000000000000000000012", "u-3",
        event_body("msg-2", "u-3", subscriptions({"gone404-e", "big413-f"})));

  const ChannelResult mixed = send(d.one(0));
  EXPECT_EQ(mixed.verdict, Verdict::delivered) << mixed.error;
  EXPECT_EQ(mixed.status, 201);
  EXPECT_EQ(mixed.addresses.size(), 3u);
  // The gone subscriptions were sent the very same message, well formed.
  for (const char* id : {"gone410-a", "gone404-b", "ok-c"}) {
    const auto records = records_of(id);
    ASSERT_EQ(records.size(), 1u) << id;
    EXPECT_FALSE(records.front().contains("error")) << json::serialize(records.front());
    EXPECT_EQ(records.front().at("plaintext").as_string(), *adapters::web_push_message(d.list[0]));
  }

  const ChannelResult gone = send(d.one(1));
  EXPECT_EQ(gone.verdict, Verdict::permanent);
  EXPECT_EQ(gone.status, 410);
  EXPECT_EQ(gone.error, "push subscription gone (HTTP 410)");

  const ChannelResult refused = send(d.one(2));
  EXPECT_EQ(refused.verdict, Verdict::permanent);
  EXPECT_EQ(refused.status, 404);
  EXPECT_EQ(refused.error,
            "subscription 1 of 2: push subscription gone (HTTP 404); "
            "subscription 2 of 2: push service refused the message (HTTP 413)");
}

TEST_F(WebPushChannelTest, ABusyPushServiceIsRetriedWithTheRetryAfterItGave) {
  start({"busy429-a", "down503-b", "gone410-c", "down503-d"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000020", "u-1",
        event_body("msg-0", "u-1", subscriptions({"busy429-a"})));
  d.add("dlv_00000000000000000000000000000021", "u-2",
        event_body("msg-1", "u-2", subscriptions({"gone410-c", "down503-b", "busy429-a"})));
  d.add("dlv_00000000000000000000000000000022", "u-3",
        event_body("msg-2", "u-3", subscriptions({"down503-d"})));

  const ChannelResult busy = send(d.one(0));
  EXPECT_EQ(busy.verdict, Verdict::retry);
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(busy.retry_after, "120");
  EXPECT_EQ(busy.error, "push service busy (HTTP 429)");

  // Retried while any browser may take it later; the first retryable answer decides.
  const ChannelResult mixed = send(d.one(1));
  EXPECT_EQ(mixed.verdict, Verdict::retry);
  EXPECT_EQ(mixed.status, 503);
  EXPECT_EQ(mixed.retry_after, "120");

  const ChannelResult down = send(d.one(2));
  EXPECT_EQ(down.verdict, Verdict::retry);
  EXPECT_EQ(down.status, 503);
  EXPECT_FALSE(down.retry_after);
  EXPECT_EQ(down.error, "push service unavailable (HTTP 503)");
}

TEST_F(WebPushChannelTest, ARecipientWithoutSubscriptionHasNoAddressAndNothingIsSent) {
  start({"ok-1"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000030", "u-1", event_body("msg-0", "u-1", {}));
  const ChannelResult none = send(d.one(0));
  EXPECT_EQ(none.verdict, Verdict::no_address);
  EXPECT_EQ(none.id, d.ids[0]);
  EXPECT_TRUE(none.addresses.empty());
  EXPECT_TRUE(service_->records().empty());
}

TEST_F(WebPushChannelTest, ADigestIsOneMessageThatDecryptsToTheDigest) {
  start({"ok-1", "ok-2"});
  Deliveries d;
  // The newest event's subscriptions are the ones used.
  d.add("dlv_00000000000000000000000000000040", "u-1",
        event_body("msg-0", "u-1", subscriptions({"ok-1"}), "Absence en SVT"));
  d.add("dlv_00000000000000000000000000000041", "u-1",
        event_body("msg-1", "u-1", subscriptions({"ok-2"}), "Retard en EPS"));
  d.add("dlv_00000000000000000000000000000042", "u-1",
        event_body("msg-2", "u-1", subscriptions({"ok-2"}), "Punition"));

  const ChannelResult digest = send(d.list, true);
  EXPECT_EQ(digest.verdict, Verdict::delivered) << digest.error;
  EXPECT_EQ(digest.id, adapters::web_push_digest_id(d.list));
  EXPECT_TRUE(records_of("ok-1").empty());
  const auto records = records_of("ok-2");
  ASSERT_EQ(records.size(), 1u);
  const std::string plaintext(records.front().at("plaintext").as_string());
  EXPECT_EQ(plaintext, *adapters::web_push_digest_message(d.list));
  const json::object message = json::parse(plaintext).as_object();
  EXPECT_TRUE(message.at("digest").as_bool());
  EXPECT_EQ(message.at("delivery_id").as_string(), digest.id);
  const json::array& list = message.at("notifications").as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2].as_object().at("title").as_string(), "Punition");
  EXPECT_EQ(list[2].as_object().at("delivery_id").as_string(), d.ids[2]);
}

TEST_F(WebPushChannelTest, AnUnusableSubscriptionFailsAloneAndNeverNamesItsEndpoint) {
  start({"ok-1"});
  json::object broken = service_->subscription("ok-1");
  broken["endpoint"] = service_->origin() + "/push/ok-broken";
  broken["keys"].as_object()["p256dh"] = std::string(87, 'A');  // 65 zero bytes: not a point
  Deliveries d;
  d.add("dlv_00000000000000000000000000000050", "u-1",
        event_body("msg-0", "u-1", {broken, service_->subscription("ok-1")}));
  d.add("dlv_00000000000000000000000000000051", "u-2", event_body("msg-1", "u-2", {broken}));

  EXPECT_EQ(send(d.one(0)).verdict, Verdict::delivered);
  const ChannelResult alone = send(d.one(1));
  EXPECT_EQ(alone.verdict, Verdict::permanent);
  EXPECT_EQ(alone.status, 0);
  EXPECT_THAT(alone.error, HasSubstr("p256dh"));
  EXPECT_THAT(alone.error, Not(HasSubstr("ok-broken")));
}

TEST_F(WebPushChannelTest, ThePushServiceIsTrustedThroughTheSinksCaFileOnly) {
  sink_.ca_file.clear();
  start({"ok-1"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000060", "u-1",
        event_body("msg-0", "u-1", subscriptions({"ok-1"})));
  const ChannelResult untrusted = send(d.one(0));
  EXPECT_EQ(untrusted.verdict, Verdict::retry);
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_THAT(untrusted.error, HasSubstr("no answer from the push service"));
  EXPECT_THAT(untrusted.error, Not(HasSubstr("/push/")));
  EXPECT_TRUE(service_->records().empty());

  sink_.ca_file = ca_.ca_file;
  channel_->reconfigure(sink_);
  EXPECT_EQ(send(d.one(0)).verdict, Verdict::delivered);
}

TEST_F(WebPushChannelTest, AnUnusableVapidKeyIsRetriedAndNothingGoesUnsigned) {
  sink_.vapid_key = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  start({"ok-1"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000070", "u-1",
        event_body("msg-0", "u-1", subscriptions({"ok-1"})));
  const ChannelResult r = send(d.one(0));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_THAT(r.error, HasSubstr("cannot sign the request"));
  EXPECT_EQ(r.addresses.size(), 1u);
  EXPECT_TRUE(service_->records().empty());
}

TEST_F(WebPushChannelTest, AChannelGoneBeforeTheAnswerNeverCallsBack) {
  start({"ok-1"});
  Deliveries d;
  d.add("dlv_00000000000000000000000000000080", "u-1",
        event_body("msg-0", "u-1", subscriptions({"ok-1"})));
  bool called = false;
  channel_->send(d.one(0), false, [&](ChannelResult) { called = true; });
  channel_.reset();
  run_until([&] { return http_.in_flight() == 0; });
  EXPECT_EQ(http_.in_flight(), 0u);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace treve::dispatch
