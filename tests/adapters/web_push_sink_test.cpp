// The Web Push channel behind the Sink interface: one encrypted, VAPID-signed request per
// delivery, read back here as the browser (decrypting with the subscription's private key) and
// the push service (verifying the token) would.
#include "adapters/outbound/web_push_sink.h"

#include <gtest/gtest.h>

#include <map>

#include <boost/json/parse.hpp>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/p256.h"
#include "adapters/outbound/web_push.h"
#include "tests/adapters/test_keys.h"

namespace treve::adapters {
namespace {

OutboundDelivery delivery(std::string_view body, bool urgent = false) {
  return {.delivery_id = "dlv_0123456789abcdef0123456789abcdef",
          .source = "ent",
          .event_id = "msg-8812",
          .establishment = "0250001R",
          .category = "grade",
          .urgent = urgent,
          .recipient = "u-7f3a",
          .role = "student",
          .event_body = body,
          .received_at = "2026-11-27T21:14:03+01:00",
          .released_at = "2026-11-28T07:00:00+01:00"};
}

constexpr std::string_view kBody =
    R"({"id":"msg-8812","title":"Nouvelle note en mathématiques","payload":{"note":"15/20"}})";

struct Browser {
  std::string ua_private;
  PushSubscription subscription;
};

Browser browser(std::string endpoint) {
  auto scalar = p256_random_private_key();
  EXPECT_TRUE(scalar);
  auto pair = p256_key_pair(*scalar);
  EXPECT_TRUE(pair);
  const unsigned char auth[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
  return {base64url_encode(*scalar),
          {std::move(endpoint), base64url_encode(pair->public_point), base64url_encode(auth)}};
}

struct Fixture {
  ossl::Pkey vapid_key = test::generate_p256();
  std::shared_ptr<const VapidKey> vapid = std::make_shared<const VapidKey>(
      *VapidKey::from_pem(test::pem_of(vapid_key.get(), test::PemForm::pkcs8)));
  Browser b = browser("https://fcm.googleapis.com/fcm/send/cXk:APA91b");
  WebPushSink sink{
      vapid,
      {.subject = "mailto:dpo@ent.example"},
      [this](const OutboundDelivery& d) -> std::expected<PushSubscription, std::string> {
        if (d.recipient == "u-7f3a")
          return b.subscription;
        return std::unexpected(std::string("none for this recipient"));
      }};
};

std::map<std::string, std::string> headers_of(const OutboundRequest& r) {
  return {r.headers.begin(), r.headers.end()};
}

TEST(WebPushSink, OneDeliveryIsOneEncryptedSignedPostToItsSubscription) {
  Fixture f;
  const OutboundDelivery d = delivery(kBody);
  auto r = f.sink.build({&d, 1}, 1'800'000'000);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->url, "https://fcm.googleapis.com/fcm/send/cXk:APA91b");
  EXPECT_EQ(r->id, d.delivery_id);
  auto h = headers_of(*r);
  EXPECT_EQ(h["Content-Encoding"], "aes128gcm");
  EXPECT_EQ(h["Content-Type"], "application/octet-stream");
  EXPECT_EQ(h["TTL"], "86400");
  EXPECT_EQ(h["Urgency"], "normal");

  // The push service's view: a VAPID token for its origin, signed by the key `k` names.
  const std::string& auth = h["Authorization"];
  ASSERT_TRUE(auth.starts_with("vapid t=")) << auth;
  const auto comma = auth.find(", k=");
  ASSERT_NE(comma, std::string::npos);
  const std::string token = auth.substr(8, comma - 8);
  EXPECT_EQ(auth.substr(comma + 4), f.vapid->public_key());
  EXPECT_TRUE(test::verify_jws(token, f.vapid_key.get(), true));
  const auto claims = boost::json::parse(test::jws_part(token, 1)).as_object();
  EXPECT_EQ(claims.at("aud").as_string(), "https://fcm.googleapis.com");
  EXPECT_EQ(claims.at("exp").as_int64(), 1'800'000'000 + 12 * 3600);

  // The browser's view: the message decrypts with the subscription's private key.
  auto plain = web_push_decrypt(r->body, f.b.ua_private, f.b.subscription.auth);
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(
      *plain,
      R"({"delivery_id":"dlv_0123456789abcdef0123456789abcdef","source":"ent","id":"msg-8812",)"
      R"("establishment":"0250001R","category":"grade","urgent":false,"recipient":"u-7f3a",)"
      R"("title":"Nouvelle note en mathématiques","payload":{"note":"15/20"},)"
      R"("released_at":"2026-11-28T07:00:00+01:00"})");
}

TEST(WebPushSink, AnUrgentEventIsSentWithHighUrgencyAndTheTtlIsConfigurable) {
  Fixture f;
  WebPushSink sink(f.vapid,
                   {.subject = "https://ent.example/contact", .ttl = std::chrono::hours(4)},
                   [&](const OutboundDelivery&) -> std::expected<PushSubscription, std::string> {
                     return f.b.subscription;
                   });
  const OutboundDelivery d = delivery(kBody, true);
  auto r = sink.build({&d, 1}, 1'800'000'000);
  ASSERT_TRUE(r) << r.error();
  auto h = headers_of(*r);
  EXPECT_EQ(h["Urgency"], "high");
  EXPECT_EQ(h["TTL"], "14400");
}

TEST(WebPushSink, RefusesABatchARecipientWithoutSubscriptionAndABadSubscription) {
  Fixture f;
  const std::vector<OutboundDelivery> two = {delivery(kBody), delivery(kBody)};
  auto batch = f.sink.build(two, 1'800'000'000);
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.error(), "Web Push sends one delivery per request");

  OutboundDelivery stranger = delivery(kBody);
  stranger.recipient = "u-0000";
  auto none = f.sink.build({&stranger, 1}, 1'800'000'000);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), "no push subscription: none for this recipient");

  const OutboundDelivery d = delivery(kBody);
  PushSubscription bad = f.b.subscription;
  bad.auth = "AAAA";
  auto bad_auth = f.sink.build_for(d, bad, 1'800'000'000);
  ASSERT_FALSE(bad_auth);
  EXPECT_EQ(bad_auth.error(),
            "push subscription auth: 3 bytes; a subscription's auth secret has 16");
  bad = f.b.subscription;
  bad.endpoint = "ftp://push.example/x";
  EXPECT_FALSE(f.sink.build_for(d, bad, 1'800'000'000));

  WebPushSink unsigned_sink(
      nullptr, {.subject = "mailto:a@b.example"},
      [&](const OutboundDelivery&) -> std::expected<PushSubscription, std::string> {
        return f.b.subscription;
      });
  auto no_key = unsigned_sink.build({&d, 1}, 1'800'000'000);
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error(), "cannot sign the request: no VAPID key");
}

TEST(WebPushSink, APayloadTooLargeForAPushMessageIsLeftOutAndSaidSo) {
  Fixture f;
  const std::string body =
      R"({"title":"Cahier de textes","payload":{"text":")" + std::string(5000, 'a') + R"("}})";
  const OutboundDelivery d = delivery(body);
  auto r = f.sink.build({&d, 1}, 1'800'000'000);
  ASSERT_TRUE(r) << r.error();
  EXPECT_LE(r->body.size(), kWebPushMaxBody);
  auto plain = web_push_decrypt(r->body, f.b.ua_private, f.b.subscription.auth);
  ASSERT_TRUE(plain) << plain.error();
  const auto message = boost::json::parse(*plain).as_object();
  EXPECT_FALSE(message.contains("payload"));
  EXPECT_TRUE(message.at("payload_omitted").as_bool());
  EXPECT_EQ(message.at("title").as_string(), "Cahier de textes");
}

TEST(WebPushSink, ATitleTooLongIsCutOnACharacterBoundary) {
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

TEST(WebPushSink, AnEventWithoutTitleOrPayloadCarriesItsIdentifiersOnly) {
  auto message = web_push_message(delivery(R"({"id":"msg-8812","payload":null})"));
  ASSERT_TRUE(message) << message.error();
  const auto parsed = boost::json::parse(*message).as_object();
  EXPECT_FALSE(parsed.contains("title"));
  EXPECT_FALSE(parsed.contains("payload"));
  EXPECT_EQ(parsed.at("delivery_id").as_string(), "dlv_0123456789abcdef0123456789abcdef");
}

TEST(WebPushSink, PushServiceAnswersAreReadAsRfc8030SaysAndRetriesAsTheWebhookDoes) {
  Fixture f;
  for (int s : {200, 201, 202})
    EXPECT_EQ(f.sink.classify({s, ""}), Verdict::delivered) << s;
  for (int s : {0, 408, 429, 500, 502, 503, 504})
    EXPECT_EQ(f.sink.classify({s, ""}), Verdict::retry) << s;
  for (int s : {400, 401, 403, 404, 410, 413})
    EXPECT_EQ(f.sink.classify({s, ""}), Verdict::permanent) << s;
}

}  // namespace
}  // namespace treve::adapters
