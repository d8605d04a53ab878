// The FCM channel against a real stand-in of Google's token endpoint and the FCM HTTP v1 API
// (tests/channels/fcm_service.mjs, Node.js, started for each test by tests/support/
// fcm_service.h over TLS with a CA of the test's own): the stand-in verifies the RS256
// assertion with `jose`, checks every message against the v1 schema and the bearer token,
// records what it accepted, and fails on demand by device token prefix. The channel runs on a
// real io_context (this thread) and the daemon's HttpClient.
#include "daemon/dispatch/fcm_channel.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "daemon/core/clock.h"
#include "daemon/dispatch/http_client.h"
#include "tests/support/fcm_service.h"
#include "tests/support/outbound.h"

namespace treve::dispatch {
namespace {

using namespace std::chrono_literals;
using adapters::Verdict;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
namespace json = boost::json;

// An event as the store keeps it, and one delivery of it to its first recipient.
struct Event {
  std::string body;
  std::string delivery_id;
  std::string event_id;
  bool urgent = false;
  std::string category = "grade";

  adapters::OutboundDelivery delivery() const {
    return test::outbound_delivery(delivery_id, event_id, category, body, urgent);
  }
};

// An event for recipient u-7f3a (parent) with these FCM device tokens (none: no `channels`).
Event event(const std::vector<std::string>& tokens, int n = 1, std::string title = "") {
  json::object recipient{{"id", "u-7f3a"}, {"role", "parent"}};
  if (!tokens.empty()) {
    json::array fcm;
    for (const auto& t : tokens)
      fcm.emplace_back(t);
    recipient["channels"] = json::object{{"fcm", fcm}};
  }
  Event e;
  e.event_id = "msg-" + std::to_string(n);
  e.delivery_id = "dlv_" + std::string(28, '0') + std::to_string(1000 + n);
  json::object body{{"id", e.event_id},
                    {"establishment", "0250001R"},
                    {"category", "grade"},
                    {"recipients", json::array{recipient}},
                    {"created_at", "2026-11-27T21:14:03+01:00"},
                    {"payload", json::object{{"link", "https://ent.example.fr/notes/42"},
                                             {"secret", "never sent"}}}};
  if (!title.empty())
    body["title"] = title;
  e.body = json::serialize(body);
  return e;
}

class FcmChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::FcmService::missing())
      GTEST_FAIL() << *why;
    service_ = std::make_unique<test::FcmService>();
  }

  config::Sink sink() const {
    config::Sink s;
    s.name = "app";
    s.type = "fcm";
    s.project_id = test::FcmService::kProject;
    s.credentials = service_->credentials();
    s.endpoint = service_->endpoint();
    s.ca_file = service_->ca_file();
    s.timeout = 10s;
    s.max_in_flight = 100;
    return s;
  }

  std::unique_ptr<FcmChannel> channel(const config::Sink& s) {
    return std::make_unique<FcmChannel>(s, ChannelContext{ioc_, http_, clock_});
  }
  std::unique_ptr<FcmChannel> channel() { return channel(sink()); }

  // Sends each event's delivery at once, then runs the io_context until every one is done.
  std::vector<ChannelResult> send_all(FcmChannel& c, const std::vector<Event>& events) {
    std::vector<std::optional<ChannelResult>> results(events.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const adapters::OutboundDelivery d = events[i].delivery();
      c.send(std::span(&d, 1), false, [&results, &done, i](ChannelResult r) {
        results[i] = std::move(r);
        ++done;
      });
    }
    EXPECT_EQ(done, 0u) << "done was called from inside send()";
    EXPECT_TRUE(test::run_until(ioc_, [&] { return done == events.size(); }))
        << done << " of " << events.size() << " sends done\n"
        << service_->stderr_text();
    std::vector<ChannelResult> out;
    for (auto& r : results)
      out.push_back(r.value_or(ChannelResult{}));
    return out;
  }
  ChannelResult send(FcmChannel& c, const Event& e) { return send_all(c, {e}).front(); }

  json::object stats() { return service_->stats(ioc_, http_); }
  json::object control(const std::string& body) {
    return service_->post(ioc_, http_, "/control", body);
  }

  boost::asio::io_context ioc_;
  HttpClient http_{ioc_, HttpClient::Options{}};
  core::SystemClock clock_;
  std::unique_ptr<test::FcmService> service_;
};

TEST_F(FcmChannelTest, EachDeviceTokenGetsTheMessageWithTheEventsFields) {
  auto c = channel();
  Event e = event({"device-a", "device-b"}, 1, "Nouvelle note en mathématiques");
  const ChannelResult r = send(*c, e);
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.id, e.delivery_id);
  EXPECT_THAT(r.addresses, ElementsAre("device-a", "device-b"));

  auto messages = service_->messages();
  ASSERT_EQ(messages.size(), 2u);
  std::vector<std::string> tokens;
  for (const auto& m : messages) {
    tokens.emplace_back(m.at("token").as_string());
    EXPECT_EQ(m.at("notification"), json::parse(R"({"title":"Nouvelle note en mathématiques",
                              "body":"Notes · établissement 0250001R"})"));
    EXPECT_EQ(m.at("data"), json::parse(R"({"delivery_id":")" + e.delivery_id + R"(",
        "source":"ent","id":"msg-1","establishment":"0250001R","category":"grade",
        "released_at":"2026-11-28T07:00:00+01:00","link":"https://ent.example.fr/notes/42"})"));
    EXPECT_EQ(m.at("android"), json::parse(R"({"priority":"normal"})"));
    EXPECT_EQ(m.at("apns"), json::parse(R"({"headers":{"apns-priority":"5"}})"));
  }
  std::sort(tokens.begin(), tokens.end());
  EXPECT_THAT(tokens, ElementsAre("device-a", "device-b"));
}

TEST_F(FcmChannelTest, AnUrgentEventIsSentAtHighPriority) {
  auto c = channel();
  Event e = event({"device-a"});
  e.urgent = true;
  e.category = "alert";
  EXPECT_EQ(send(*c, e).verdict, Verdict::delivered);
  auto messages = service_->messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].at("android"), json::parse(R"({"priority":"high"})"));
  EXPECT_EQ(messages[0].at("apns"), json::parse(R"({"headers":{"apns-priority":"10"}})"));
  EXPECT_EQ(messages[0].at("notification").at("title"), "Alerte de l'établissement");
}

TEST_F(FcmChannelTest, OneAccessTokenServesManySendsAndA401FetchesOneMore) {
  auto c = channel();
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i)
    events.push_back(event({"device-" + std::to_string(i)}, i));
  for (const ChannelResult& r : send_all(*c, events))
    EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  auto s = stats();
  EXPECT_EQ(s.at("token_requests"), 1);  // the 50 sends waited for the one fetch
  EXPECT_EQ(s.at("messages"), 50);
  EXPECT_EQ(c->tokens_fetched(), 1u);

  // The next message is refused with 401 and every token issued is revoked: the channel
  // fetches one new token for all the sends refused, and each is sent once more.
  control(R"({"reject_next":1})");
  const std::vector<Event> more(events.begin(), events.begin() + 20);
  for (const ChannelResult& r : send_all(*c, more))
    EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  s = stats();
  EXPECT_EQ(s.at("token_requests"), 2);
  EXPECT_EQ(s.at("tokens_issued"), 2);
  EXPECT_GE(s.at("unauthorized").as_int64(), 1);
  EXPECT_EQ(s.at("messages"), 70);
  EXPECT_EQ(c->tokens_fetched(), 2u);
}

TEST_F(FcmChannelTest, ASecond401InARowIsARetry) {
  auto c = channel();
  control(R"({"reject_next":2})");
  const ChannelResult r = send(*c, event({"device-a"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error, "device 1 of 1: 401 UNAUTHENTICATED");
  EXPECT_EQ(stats().at("token_requests"), 2);
}

TEST_F(FcmChannelTest, TheTokenIsRenewedBeforeItExpires) {
  core::FakeClock fake(clock_.now());
  auto c = std::make_unique<FcmChannel>(sink(), ChannelContext{ioc_, http_, fake});
  EXPECT_EQ(send(*c, event({"device-a"})).verdict, Verdict::delivered);
  fake.advance(54min);  // 6 minutes left: kept
  EXPECT_EQ(send(*c, event({"device-a"})).verdict, Verdict::delivered);
  EXPECT_EQ(c->tokens_fetched(), 1u);
  fake.advance(2min);  // 4 minutes left: this send renews it (and goes with the old one)
  EXPECT_EQ(send(*c, event({"device-a"})).verdict, Verdict::delivered);
  EXPECT_TRUE(test::run_until(ioc_, [&] { return c->tokens_fetched() == 2; }));
  EXPECT_EQ(send(*c, event({"device-a"})).verdict, Verdict::delivered);
  EXPECT_EQ(c->tokens_fetched(), 2u);
  EXPECT_EQ(stats().at("token_requests"), 2);
  fake.advance(3599s);  // expired: the send waits for a new one
  EXPECT_EQ(send(*c, event({"device-a"})).verdict, Verdict::delivered);
  EXPECT_EQ(c->tokens_fetched(), 3u);
}

TEST_F(FcmChannelTest, AnUnregisteredTokenIsPermanentButAnotherDeviceStillGetsIt) {
  auto c = channel();
  ChannelResult r = send(*c, event({"unregistered-old-phone", "device-new-phone"}));
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.addresses, ElementsAre("unregistered-old-phone", "device-new-phone"));
  auto messages = service_->messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].at("token"), "device-new-phone");

  // No device left: permanent, every device's reason said, no token in it.
  r = send(*c, event({"unregistered-old-phone", "invalid-typo"}));
  EXPECT_EQ(r.verdict, Verdict::permanent);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error,
            "device 1 of 2: 404 NOT_FOUND UNREGISTERED; device 2 of 2: 400 INVALID_ARGUMENT");
  EXPECT_THAT(r.error, Not(HasSubstr("phone")));
}

TEST_F(FcmChannelTest, TooManyRequestsIsRetriedAfterTheLongestRetryAfter) {
  auto c = channel();
  const ChannelResult r =
      send(*c, event({"retry429-30-a", "retry429-120-b", "unregistered-c", "fail503-d"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, "120");
  EXPECT_EQ(r.error, "device 2 of 4: 429 RESOURCE_EXHAUSTED QUOTA_EXCEEDED");
}

TEST_F(FcmChannelTest, UnavailableIsRetried) {
  auto c = channel();
  const ChannelResult r = send(*c, event({"fail503-a"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, std::nullopt);
  EXPECT_EQ(r.error, "device 1 of 1: 503 UNAVAILABLE");
}

TEST_F(FcmChannelTest, ARecipientWithoutATokenHasNoAddress) {
  auto c = channel();
  const Event e = event({});
  const ChannelResult r = send(*c, e);  // checks that done is not called from inside send()
  EXPECT_EQ(r.verdict, Verdict::no_address);
  EXPECT_EQ(r.id, e.delivery_id);
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_EQ(stats().at("token_requests"), 0);
}

TEST_F(FcmChannelTest, AFailingTokenEndpointMakesTheSendARetryWithoutSecrets) {
  auto c = channel();
  control(R"({"token_failures":1})");
  ChannelResult r = send(*c, event({"device-a", "device-b"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error, "device 1 of 2: token endpoint: 503 internal_failure");
  EXPECT_THAT(r.error, Not(HasSubstr("eyJ")));
  EXPECT_EQ(stats().at("token_requests"), 1);  // both devices waited for the one fetch
  r = send(*c, event({"device-a"}));
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
}

TEST_F(FcmChannelTest, AnAssertionOfAnotherKeyIsRefusedByTheTokenEndpoint) {
  config::Sink s = sink();
  test::TempDir dir("treve-fcm-other");
  const test::RsaKeyFiles other = test::make_rsa_key(dir, "other");
  json::object account = json::parse(s.credentials).as_object();
  account["private_key"] = test::read_whole_file(other.private_key);
  s.credentials = json::serialize(account);
  auto c = channel(s);
  const ChannelResult r = send(*c, event({"device-a"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.error, StartsWith("device 1 of 1: token endpoint: 400 invalid_grant ("));
  EXPECT_EQ(stats().at("messages"), 0);
}

TEST_F(FcmChannelTest, WithoutTheTestCaTheServiceIsNotTrusted) {
  config::Sink s = sink();
  s.ca_file.clear();  // the system's authorities
  auto c = channel(s);
  const ChannelResult r = send(*c, event({"device-a"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.error, HasSubstr("token endpoint: no answer"));
}

TEST_F(FcmChannelTest, UnusableCredentialsMakeEverySendARetryThatSaysWhy) {
  config::Sink s = sink();
  s.credentials = R"({"type":"service_account","client_email":"a@b.c"})";
  auto c = channel(s);
  const ChannelResult r = send(*c, event({"device-a"}));
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_EQ(r.error, "fcm credentials: \"private_key\" is missing or not a string");

  // A reload with good credentials: sent.
  c->reconfigure(sink());
  EXPECT_EQ(send(*c, event({"device-a"})).verdict, Verdict::delivered);
}

TEST_F(FcmChannelTest, ADigestIsOneMessagePerDevice) {
  auto c = channel();
  const Event a = event({"device-a", "device-b"}, 1);
  const Event b = event({"device-a", "device-b"}, 2);
  const adapters::OutboundDelivery batch[] = {a.delivery(), b.delivery()};
  std::optional<ChannelResult> result;
  c->send(batch, true, [&](ChannelResult r) { result = std::move(r); });
  ASSERT_TRUE(test::run_until(ioc_, [&] { return result.has_value(); }));
  EXPECT_EQ(result->verdict, Verdict::delivered) << result->error;
  EXPECT_THAT(result->id, StartsWith("dig_"));
  auto messages = service_->messages();
  ASSERT_EQ(messages.size(), 2u);
  for (const auto& m : messages) {
    EXPECT_EQ(m.at("data").at("delivery_id"), result->id.c_str());
    EXPECT_EQ(m.at("data").at("digest"), "true");
    EXPECT_EQ(m.at("data").at("count"), "2");
  }
}

TEST_F(FcmChannelTest, ManyConcurrentSendsShareOneHttp2Connection) {
  auto c = channel();
  std::vector<Event> events;
  for (int i = 0; i < 200; ++i)
    events.push_back(event({"device-" + std::to_string(i)}, i));
  for (const ChannelResult& r : send_all(*c, events))
    EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  const auto s = stats();
  EXPECT_EQ(s.at("messages"), 200);
  // The channel's own connection (the token request and the 200 messages), and the test's
  // for /stats.
  EXPECT_EQ(s.at("connections"), 2);
  EXPECT_EQ(s.at("sessions"), 2);                  // HTTP/2
  EXPECT_GT(s.at("max_streams").as_int64(), 10);   // multiplexed, not one after the other
  EXPECT_LE(s.at("max_streams").as_int64(), 101);  // max_in_flight, and /stats
  for (const auto& m : service_->messages())
    EXPECT_EQ(m.at("session"), 1);
}

TEST_F(FcmChannelTest, RequestsBeyondMaxInFlightWaitTheirTurn) {
  config::Sink s = sink();
  s.max_in_flight = 4;
  auto c = channel(s);
  std::vector<Event> events;
  for (int i = 0; i < 40; ++i)
    events.push_back(event({"device-" + std::to_string(i)}, i));
  std::size_t done = 0;
  std::size_t most = 0;
  for (const Event& e : events) {
    const adapters::OutboundDelivery d = e.delivery();
    c->send(std::span(&d, 1), false, [&](ChannelResult r) {
      EXPECT_EQ(r.verdict, Verdict::delivered);
      ++done;
    });
  }
  ASSERT_TRUE(test::run_until(ioc_, [&] {
    most = std::max(most, c->requests_in_flight());
    return done == events.size();
  }));
  EXPECT_LE(most, 4u);
  EXPECT_EQ(c->requests_waiting(), 0u);
  EXPECT_LE(stats().at("max_streams").as_int64(), 5);
}

// The dispatcher stopping: the channel's own client abandons what is under way; a send not
// delivered to any device is cancelled (not an attempt), as are the sends still waiting their
// turn under max_in_flight.
TEST_F(FcmChannelTest, CancelAllEndsEverySendUnderWayAsCancelled) {
  config::Sink s = sink();
  s.max_in_flight = 1;
  auto c = channel(s);
  const Event slow = event({"slow5000-device-a"}, 1);
  const Event next = event({"device-b"}, 2);
  std::vector<ChannelResult> results;
  for (const Event* e : {&slow, &next}) {
    const adapters::OutboundDelivery d = e->delivery();
    c->send(std::span(&d, 1), false, [&](ChannelResult r) { results.push_back(std::move(r)); });
  }
  // The slow message is with the stand-in, the other waits its turn.
  ASSERT_TRUE(test::run_until(ioc_, [&] { return c->requests_in_flight() == 1; }));
  test::run_until(
      ioc_, [] { return false; }, 300ms);
  ASSERT_TRUE(results.empty());
  EXPECT_EQ(c->in_flight(), 2u);
  EXPECT_EQ(c->requests_waiting(), 1u);
  const auto start = std::chrono::steady_clock::now();
  c->cancel_all();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ASSERT_EQ(results.size(), 2u);
  for (const ChannelResult& r : results) {
    EXPECT_TRUE(r.cancelled) << r.error;
    EXPECT_EQ(r.verdict, Verdict::retry);
  }
  EXPECT_EQ(c->in_flight(), 0u);
}

TEST_F(FcmChannelTest, NoCallbackOnceTheChannelIsGone) {
  auto c = channel();
  bool called = false;
  const Event e = event({"device-a"});
  const adapters::OutboundDelivery d = e.delivery();
  c->send(std::span(&d, 1), false, [&](ChannelResult) { called = true; });
  ioc_.poll();  // the token request is on its way
  c.reset();
  test::run_until(
      ioc_, [] { return false; }, 1s);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace treve::dispatch
