// The webhook channel behind the outbound Sink interface: the request it builds for a batch
// (Standard Webhooks headers, a signature a receiver verifies) and how it reads an answer.
#include "adapters/outbound/webhook_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include <boost/json/parse.hpp>

#include "adapters/outbound/webhook_body.h"

namespace treve::adapters {
namespace {

OutboundDelivery delivery(std::string_view id) {
  return {.delivery_id = id,
          .source = "ent",
          .event_id = "msg-1",
          .establishment = "0250001R",
          .category = "message",
          .recipient = "u-1",
          .role = "student",
          .event_body = R"({"id":"msg-1","payload":{"n":1}})",
          .received_at = "2026-11-27T21:14:03+01:00",
          .released_at = "2026-11-28T07:00:00+01:00"};
}

std::shared_ptr<const WebhookSigner> signer() {
  return std::make_shared<const WebhookSigner>(
      *WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}

std::map<std::string, std::string> headers_of(const OutboundRequest& r) {
  return {r.headers.begin(), r.headers.end()};
}

TEST(WebhookSink, OneDeliveryIsOneSignedObjectIdentifiedByItsDeliveryId) {
  WebhookSink sink("http://127.0.0.1:9/hook", signer(), 1);
  const OutboundDelivery d = delivery("dlv_1");
  auto r = sink.build({&d, 1}, 1'800'000'000);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->url, "http://127.0.0.1:9/hook");
  EXPECT_EQ(r->id, "dlv_1");
  auto h = headers_of(*r);
  EXPECT_EQ(h["webhook-id"], "dlv_1");
  EXPECT_EQ(h["webhook-timestamp"], "1800000000");
  EXPECT_EQ(h["Content-Type"], "application/json");
  EXPECT_TRUE(signer()->verify(h["webhook-signature"], "dlv_1", 1'800'000'000, r->body));
  EXPECT_TRUE(boost::json::parse(r->body).is_object());
}

TEST(WebhookSink, ASinkTakingBatchesAlwaysSendsAnArrayIdentifiedByTheBatch) {
  WebhookSink sink("http://127.0.0.1:9/hook", signer(), 10);
  const std::vector<OutboundDelivery> ds = {delivery("dlv_1"), delivery("dlv_2")};
  auto r = sink.build(ds, 1'800'000'000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(boost::json::parse(r->body).as_array().size(), 2u);
  const std::vector<std::string> ids = {"dlv_1", "dlv_2"};
  EXPECT_EQ(r->id, webhook_batch_id(ids));
  auto one = sink.build({ds.data(), 1}, 1'800'000'000);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(boost::json::parse(one->body).as_array().size(), 1u);
}

TEST(WebhookSink, WithoutAKeyNothingIsBuiltSoNothingGoesOutUnsigned) {
  WebhookSink sink("http://127.0.0.1:9/hook", nullptr, 1);
  const OutboundDelivery d = delivery("dlv_1");
  auto r = sink.build({&d, 1}, 1'800'000'000);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), "cannot sign the request");
}

TEST(WebhookSink, TwoHundredsAreDeliveredTransientErrorsRetriedOtherAnswersRefused) {
  WebhookSink sink("http://127.0.0.1:9/hook", signer(), 1);
  for (int s : {200, 201, 202, 204, 299})
    EXPECT_EQ(sink.classify({s, ""}), Verdict::delivered) << s;
  for (int s : {0, 408, 429, 500, 502, 503, 504, 599})
    EXPECT_EQ(sink.classify({s, ""}), Verdict::retry) << s;
  for (int s : {100, 301, 304, 400, 401, 403, 404, 409, 410, 413, 422})
    EXPECT_EQ(sink.classify({s, ""}), Verdict::permanent) << s;
}

}  // namespace
}  // namespace treve::adapters
