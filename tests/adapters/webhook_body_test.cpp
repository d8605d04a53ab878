// What a webhook receiver gets: the delivery as JSON and identifiers stable across retries.
#include "adapters/outbound/webhook_body.h"

#include "adapters/inbound/raw_members.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace treve::adapters {
namespace {

using ::testing::StartsWith;

WebhookDelivery sample(std::string_view body) {
  return {.delivery_id = "dlv_1",
          .source = "ent",
          .event_id = "msg-\"8812\"",
          .establishment = "0250001R",
          .category = "grade",
          .urgent = false,
          .recipient = "u-7f3a",
          .role = "student",
          .event_body = body,
          .received_at = "2026-11-27T21:14:03+01:00",
          .released_at = "2026-11-28T07:00:00+01:00"};
}

TEST(WebhookBody, CarriesTheDeliveryWithTheEventsTitleAndPayloadAsSent) {
  std::string out;
  append_webhook_delivery(
      out, sample(R"({"id":"x","title":"Note de maths é","payload":{"grade":12.5,"ids":[1,2]}})"));
  auto v = boost::json::parse(out).as_object();
  EXPECT_EQ(v["type"], "treve.delivery");
  EXPECT_EQ(v["delivery_id"], "dlv_1");
  EXPECT_EQ(v["id"], "msg-\"8812\"");
  EXPECT_EQ(v["establishment"], "0250001R");
  EXPECT_EQ(v["category"], "grade");
  EXPECT_EQ(v["urgent"], false);
  EXPECT_EQ(v["recipient"], "u-7f3a");
  EXPECT_EQ(v["role"], "student");
  EXPECT_EQ(v["title"], "Note de maths é");
  EXPECT_EQ(v["payload"].at("grade").as_double(), 12.5);
  EXPECT_EQ(v["payload"].at("ids").as_array().size(), 2u);
  EXPECT_EQ(v["received_at"], "2026-11-27T21:14:03+01:00");
  EXPECT_EQ(v["released_at"], "2026-11-28T07:00:00+01:00");
}

TEST(WebhookBody, AnEventWithoutTitleOrPayloadGivesADeliveryWithoutThem) {
  std::string out;
  append_webhook_delivery(out, sample(R"({"id":"x"})"));
  auto v = boost::json::parse(out).as_object();
  EXPECT_FALSE(v.contains("title"));
  EXPECT_FALSE(v.contains("payload"));
  out.clear();
  append_webhook_delivery(out, sample("not json"));
  EXPECT_NO_THROW(boost::json::parse(out));
}

TEST(WebhookBody, ThePayloadIsForwardedByteForByteAsTheConnectorWroteIt) {
  // Numbers a parser would change (overflow, digits beyond a double, exponent form), keys in
  // the payload given twice, an escaped key, white space: all reach the receiver as sent.
  const std::string payload =
      R"({"x": 1e999, "big":123456789012345678901234567890,"f":0.1,"d":1,"d":2,)"
      R"( "\u00e9":[ -0.0 , 1E+2 ]})";
  const std::string title = R"("Note \u00e9 \"maths\"")";
  std::string out;
  append_webhook_delivery(
      out, sample(R"({"id":"x", "title" : )" + title + R"(, "payload":  )" + payload + " }"));
  EXPECT_NE(out.find(",\"payload\":" + payload + ","), std::string::npos) << out;
  EXPECT_NE(out.find(",\"title\":" + title + ","), std::string::npos) << out;
}

TEST(RawMembers, FindsEachTopLevelMemberAsWritten) {
  auto m = raw_members(R"( { "a" : [1, {"b": "}"}] , "c\u0064":"x\"y", "e":null,"f":-1.5e3 } )");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].key, "a");
  EXPECT_EQ(m[0].value, R"([1, {"b": "}"}])");
  EXPECT_EQ(m[1].key, "cd");
  EXPECT_EQ(m[1].value, R"("x\"y")");
  EXPECT_EQ(m[2].value, "null");
  EXPECT_EQ(m[3].value, "-1.5e3");
  EXPECT_TRUE(raw_members("[1]").empty());
  EXPECT_TRUE(raw_members("{}").empty());
  EXPECT_TRUE(raw_members(R"({"a":)").empty());
  EXPECT_EQ(raw_member(R"({"p":1,"p":2})", "p"), "2");
}

TEST(WebhookIds, AreStableAndDistinguishEveryPart) {
  auto id = webhook_delivery_id("ent", "msg-1", "u-1", "student");
  EXPECT_THAT(id, StartsWith("dlv_"));
  EXPECT_EQ(id.size(), 4u + 32u);
  EXPECT_EQ(id, webhook_delivery_id("ent", "msg-1", "u-1", "student"));
  EXPECT_NE(id, webhook_delivery_id("ent", "msg-1", "u-1", "parent"));
  EXPECT_NE(id, webhook_delivery_id("ent", "msg-1", "u-2", "student"));
  EXPECT_NE(id, webhook_delivery_id("pronote", "msg-1", "u-1", "student"));
  // Moving characters between parts gives another id.
  EXPECT_NE(webhook_delivery_id("ab", "c", "u", "student"),
            webhook_delivery_id("a", "bc", "u", "student"));
  std::vector<std::string> ids{"dlv_a", "dlv_b"};
  auto batch = webhook_batch_id(ids);
  EXPECT_THAT(batch, StartsWith("bat_"));
  EXPECT_EQ(batch, webhook_batch_id(ids));
  std::vector<std::string> swapped{"dlv_b", "dlv_a"};
  EXPECT_NE(batch, webhook_batch_id(swapped));
}

}  // namespace
}  // namespace treve::adapters
