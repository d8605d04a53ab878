// What a Web Push message says, one delivery or a digest, and how it is made to fit the 3993
// bytes a push message carries.
#include "adapters/outbound/web_push_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include <boost/json/serialize.hpp>
#include "adapters/outbound/digest_text.h"

#include "adapters/outbound/web_push.h"
#include "adapters/outbound/webhook_body.h"

namespace treve::adapters {
namespace {

OutboundDelivery delivery(std::string_view body,
                          std::string_view delivery_id = "dlv_0123456789abcdef0123456789abcdef") {
  return {.delivery_id = delivery_id,
          .source = "ent",
          .event_id = "msg-8812",
          .establishment = "0250001R",
          .category = "grade",
          .recipient = "u-7f3a",
          .role = "student",
          .event_body = body,
          .received_at = "2026-11-27T21:14:03+01:00",
          .released_at = "2026-11-28T07:00:00+01:00"};
}

TEST(WebPushMessage, APayloadTooLargeForAPushMessageIsLeftOutAndSaidSo) {
  const std::string body =
      R"({"title":"Cahier de textes","payload":{"text":")" + std::string(5000, 'a') + R"("}})";
  auto plain = web_push_message(delivery(body));
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_LE(plain->size(), kWebPushMaxPlaintext);
  const auto message = boost::json::parse(*plain).as_object();
  EXPECT_FALSE(message.contains("payload"));
  EXPECT_TRUE(message.at("payload_omitted").as_bool());
  EXPECT_EQ(message.at("title").as_string(), "Cahier de textes");
}

TEST(WebPushMessage, ATitleTooLongIsCutOnACharacterBoundary) {
  std::string title;
  for (int i = 0; i < 1024; ++i)
    title += "\xF0\x9F\x8E\x93";  // 🎓, 4 bytes
  const std::string body = R"({"title":")" + title + R"("})";
  auto message = web_push_message(delivery(body));
  ASSERT_TRUE(message) << message.error();
  EXPECT_LE(message->size(), kWebPushMaxPlaintext);
  EXPECT_GT(message->size(), kWebPushMaxPlaintext - 8);
  const auto parsed = boost::json::parse(*message).as_object();
  const std::string_view cut = parsed.at("title").as_string();
  EXPECT_TRUE(cut.ends_with("\xF0\x9F\x8E\x93\xE2\x80\xA6"));
  EXPECT_FALSE(parsed.contains("payload_omitted"));
}

TEST(WebPushMessage, AnEventWithoutTitleOrPayloadCarriesItsIdentifiersOnly) {
  auto message = web_push_message(delivery(R"({"id":"msg-8812","payload":null})"));
  ASSERT_TRUE(message) << message.error();
  const auto parsed = boost::json::parse(*message).as_object();
  EXPECT_FALSE(parsed.contains("title"));
  EXPECT_FALSE(parsed.contains("payload"));
  EXPECT_EQ(parsed.at("delivery_id").as_string(), "dlv_0123456789abcdef0123456789abcdef");
}

// `n` deliveries of one recipient, each with its own id and title.
struct Batch {
  std::vector<std::string> bodies, ids;
  std::vector<OutboundDelivery> deliveries;
  Batch(int n, const std::string& title_prefix) {
    for (int i = 0; i < n; ++i) {
      bodies.push_back(R"({"title":")" + title_prefix + std::to_string(i) + R"("})");
      ids.push_back("dlv_" + std::string(28, '0') + std::to_string(1000 + i));
    }
    for (int i = 0; i < n; ++i)
      deliveries.push_back(delivery(bodies[i], ids[i]));
  }
};

TEST(WebPushDigest, ADigestNamesEachDeliveryUnderOneStableId) {
  Batch b(3, "Devoir ");
  b.deliveries[1].category = "homework";
  auto plain = web_push_digest_message(b.deliveries);
  ASSERT_TRUE(plain) << plain.error();
  const auto digest = boost::json::parse(*plain).as_object();
  EXPECT_TRUE(digest.at("digest").as_bool());
  EXPECT_EQ(digest.at("delivery_id").as_string(), digest_text(b.deliveries).id);
  EXPECT_EQ(digest.at("title").as_string(), "3 nouvelles notifications");
  EXPECT_EQ(digest.at("delivery_id").as_string(), web_push_digest_id(b.deliveries));
  EXPECT_FALSE(digest.at("title").as_string().empty());
  EXPECT_TRUE(digest.contains("body"));
  EXPECT_FALSE(digest.contains("more"));
  const auto& list = digest.at("notifications").as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].as_object().at("delivery_id").as_string(), b.ids[1]);
  EXPECT_EQ(list[1].as_object().at("id").as_string(), "msg-8812");
  EXPECT_EQ(list[1].as_object().at("category").as_string(), "homework");
  EXPECT_EQ(list[1].as_object().at("title").as_string(), "Devoir 1");
  EXPECT_EQ(*web_push_digest_message(b.deliveries), *plain);
  EXPECT_FALSE(web_push_digest_message({}));
}

TEST(WebPushDigest, EntriesThatDoNotFitAreLeftOutFromTheEndAndCounted) {
  Batch b(200, std::string(100, 'x'));
  auto plain = web_push_digest_message(b.deliveries);
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_LE(plain->size(), kWebPushMaxPlaintext);
  const auto digest = boost::json::parse(*plain).as_object();
  const auto& list = digest.at("notifications").as_array();
  ASSERT_FALSE(list.empty());
  EXPECT_EQ(list.size() + static_cast<std::size_t>(digest.at("more").as_int64()), 200u);
  EXPECT_EQ(list.back().as_object().at("delivery_id").as_string(), b.ids[list.size() - 1]);
  // None more would have fit.
  EXPECT_GT(plain->size() + 1 + boost::json::serialize(list.back()).size(), kWebPushMaxPlaintext);
}

TEST(WebPushDigest, ALongTitleIsCutInItsEntry) {
  std::string long_title;
  for (int i = 0; i < 100; ++i)
    long_title += "é";  // 2 bytes
  Batch b(2, long_title);
  auto plain = web_push_digest_message(b.deliveries);
  ASSERT_TRUE(plain) << plain.error();
  const auto digest = boost::json::parse(*plain).as_object();
  const std::string_view title =
      digest.at("notifications").as_array()[0].as_object().at("title").as_string();
  EXPECT_LE(title.size(), kDigestEntryTitle);
  EXPECT_TRUE(title.ends_with("é\xE2\x80\xA6"));
}

}  // namespace
}  // namespace treve::adapters
