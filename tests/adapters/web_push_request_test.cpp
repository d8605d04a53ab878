// The requests of a Web Push sink: one encrypted, VAPID-signed POST per subscription, read
// back here as the browser (decrypting with the subscription's private key) and the push
// service (verifying the token) would.
#include "adapters/outbound/web_push_request.h"

#include <gtest/gtest.h>

#include <map>

#include <boost/json/parse.hpp>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/p256.h"
#include "adapters/outbound/web_push.h"
#include "adapters/outbound/web_push_message.h"
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
  WebPushRequests requests{vapid, {.subject = "mailto:dpo@ent.example"}};
};

std::map<std::string, std::string> headers_of(const OutboundRequest& r) {
  return {r.headers.begin(), r.headers.end()};
}

TEST(WebPushRequests, OneDeliveryIsOneEncryptedSignedPostToItsSubscription) {
  Fixture f;
  const OutboundDelivery d = delivery(kBody);
  auto r = f.requests.build_for(d, f.b.subscription, 1'800'000'000);
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

TEST(WebPushRequests, OneTokenSignsEveryRequestToTheSameOriginAndEachBodyIsFresh) {
  Fixture f;
  const Browser other = browser("https://fcm.googleapis.com/fcm/send/dQq:APA91c");
  auto token = f.requests.authorization("https://fcm.googleapis.com", 1'800'000'000);
  ASSERT_TRUE(token) << token.error();
  auto a = f.requests.build("{}", "dlv_a", false, f.b.subscription, *token);
  auto b = f.requests.build("{}", "dlv_a", false, other.subscription, *token);
  auto again = f.requests.build("{}", "dlv_a", false, f.b.subscription, *token);
  ASSERT_TRUE(a && b && again);
  EXPECT_EQ(headers_of(*a)["Authorization"], *token);
  EXPECT_EQ(headers_of(*b)["Authorization"], *token);
  EXPECT_EQ(b->url, "https://fcm.googleapis.com/fcm/send/dQq:APA91c");
  // A fresh sender key and salt for every message, even the same one to the same browser.
  EXPECT_NE(a->body, again->body);
  EXPECT_EQ(*web_push_decrypt(a->body, f.b.ua_private, f.b.subscription.auth), "{}");
  EXPECT_EQ(*web_push_decrypt(b->body, other.ua_private, other.subscription.auth), "{}");
  EXPECT_FALSE(web_push_decrypt(b->body, f.b.ua_private, f.b.subscription.auth));
}

TEST(WebPushRequests, AnUrgentEventIsSentWithHighUrgencyAndTheTtlIsConfigurable) {
  Fixture f;
  WebPushRequests requests(
      f.vapid, {.subject = "https://ent.example/contact", .ttl = std::chrono::hours(4)});
  const OutboundDelivery d = delivery(kBody, true);
  auto r = requests.build_for(d, f.b.subscription, 1'800'000'000);
  ASSERT_TRUE(r) << r.error();
  auto h = headers_of(*r);
  EXPECT_EQ(h["Urgency"], "high");
  EXPECT_EQ(h["TTL"], "14400");
}

TEST(WebPushRequests, RefusesABadSubscriptionWithoutNamingItsEndpointAndNeverSendsUnsigned) {
  Fixture f;
  const OutboundDelivery d = delivery(kBody);
  PushSubscription bad = f.b.subscription;
  bad.auth = "AAAA";
  auto bad_auth = f.requests.build_for(d, bad, 1'800'000'000);
  ASSERT_FALSE(bad_auth);
  EXPECT_EQ(bad_auth.error(),
            "push subscription auth: 3 bytes; a subscription's auth secret has 16");
  bad = f.b.subscription;
  bad.p256dh = base64url_encode(std::string(65, '\x04'));
  auto off_curve = f.requests.build_for(d, bad, 1'800'000'000);
  ASSERT_FALSE(off_curve);
  EXPECT_EQ(off_curve.error().find("cXk:APA91b"), std::string::npos) << off_curve.error();
  bad = f.b.subscription;
  bad.endpoint = "ftp://push.example/x";
  EXPECT_FALSE(f.requests.build_for(d, bad, 1'800'000'000));

  WebPushRequests unsigned_requests(nullptr, {.subject = "mailto:a@b.example"});
  auto no_key = unsigned_requests.build_for(d, f.b.subscription, 1'800'000'000);
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error(), "cannot sign the request: no VAPID key");
}

TEST(WebPushRequests, PushServiceAnswersAreReadAsRfc8030SaysAndAGoneSubscriptionIsToldApart) {
  for (int s : {200, 201, 202})
    EXPECT_EQ(read_push_answer(s), PushAnswer::delivered) << s;
  for (int s : {0, 408, 429, 500, 502, 503, 504})
    EXPECT_EQ(read_push_answer(s), PushAnswer::retry) << s;
  for (int s : {404, 410})
    EXPECT_EQ(read_push_answer(s), PushAnswer::gone) << s;
  for (int s : {301, 400, 401, 403, 413})
    EXPECT_EQ(read_push_answer(s), PushAnswer::refused) << s;
}

}  // namespace
}  // namespace treve::adapters
