// Web Push message encryption (RFC 8291, aes128gcm of RFC 8188), checked against the RFC's own
// example (Appendix A: keys, salt and the body it expects) and by decrypting what it writes.
#include "adapters/outbound/web_push.h"

#include <gtest/gtest.h>

#include <string>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/p256.h"

namespace treve::adapters {
namespace {

// RFC 8291, Appendix A.
constexpr std::string_view kPlaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view kUaPublic =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view kUaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr std::string_view kAsPublic =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr std::string_view kAsPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view kAuth = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view kSalt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view kBody =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS"
    "6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qu"
    "lcy4a-fN";

WebPushSenderSecrets rfc_secrets() {
  WebPushSenderSecrets s;
  auto key = base64url_decode(kAsPrivate);
  auto salt = base64url_decode(kSalt);
  EXPECT_TRUE(key && key->size() == 32 && salt && salt->size() == 16);
  if (key && key->size() == 32)
    std::copy(key->begin(), key->end(), s.private_key.begin());
  if (salt && salt->size() == 16)
    std::copy(salt->begin(), salt->end(), s.salt.begin());
  return s;
}

// A subscription of our own: its private scalar, p256dh and auth in base64url.
struct Subscription {
  std::string ua_private, p256dh, auth;
};
Subscription new_subscription() {
  auto scalar = p256_random_private_key();
  EXPECT_TRUE(scalar);
  auto pair = p256_key_pair(*scalar);
  EXPECT_TRUE(pair);
  const unsigned char auth[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  return {base64url_encode(*scalar), base64url_encode(pair->public_point), base64url_encode(auth)};
}

TEST(WebPush, ReproducesTheBodyOfRfc8291AppendixA) {
  auto body = web_push_encrypt(kPlaintext, kUaPublic, kAuth, rfc_secrets());
  ASSERT_TRUE(body) << body.error();
  EXPECT_EQ(body->size(), kWebPushHeaderSize + kPlaintext.size() + 1 + 16);
  EXPECT_EQ(base64url_encode(*body), kBody);
}

TEST(WebPush, TheSenderPublicKeyOfTheExampleIsItsKeyId) {
  auto scalar = base64url_decode(kAsPrivate);
  ASSERT_TRUE(scalar);
  auto pair = p256_key_pair(*scalar);
  ASSERT_TRUE(pair) << pair.error();
  EXPECT_EQ(base64url_encode(pair->public_point), kAsPublic);
}

TEST(WebPush, TheReceiverDecryptsTheExampleWithItsPrivateKey) {
  auto body = base64url_decode(kBody);
  ASSERT_TRUE(body);
  auto plaintext = web_push_decrypt(std::string(body->begin(), body->end()), kUaPrivate, kAuth);
  ASSERT_TRUE(plaintext) << plaintext.error();
  EXPECT_EQ(*plaintext, kPlaintext);
}

TEST(WebPush, EachMessageHasItsOwnKeyAndSaltAndDecryptsForItsSubscriber) {
  const Subscription sub = new_subscription();
  const std::string text = R"({"title":"Nouvelle note en mathématiques"})";
  auto a = web_push_encrypt(text, sub.p256dh, sub.auth);
  auto b = web_push_encrypt(text, sub.p256dh, sub.auth);
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  EXPECT_NE(a->substr(0, 16), b->substr(0, 16));    // salt
  EXPECT_NE(a->substr(21, 65), b->substr(21, 65));  // sender key
  EXPECT_EQ(static_cast<unsigned char>((*a)[20]), 65);
  EXPECT_EQ(a->substr(16, 4), std::string("\x00\x00\x10\x00", 4));  // rs = 4096
  for (const auto& body : {*a, *b}) {
    auto plain = web_push_decrypt(body, sub.ua_private, sub.auth);
    ASSERT_TRUE(plain) << plain.error();
    EXPECT_EQ(*plain, text);
  }
}

TEST(WebPush, AnotherSubscriberOrAnAlteredByteCannotDecrypt) {
  const Subscription sub = new_subscription();
  const Subscription other = new_subscription();
  auto body = web_push_encrypt("secret", sub.p256dh, sub.auth);
  ASSERT_TRUE(body);
  EXPECT_FALSE(web_push_decrypt(*body, other.ua_private, sub.auth));
  EXPECT_FALSE(web_push_decrypt(*body, sub.ua_private, "AAAAAAAAAAAAAAAAAAAAAA"));
  for (std::size_t i : {0uz, 30uz, body->size() - 20, body->size() - 1}) {
    std::string altered = *body;
    altered[i] ^= 1;
    EXPECT_FALSE(web_push_decrypt(altered, sub.ua_private, sub.auth)) << "byte " << i;
  }
}

TEST(WebPush, TheLargestMessageFillsA4096ByteBodyAndOneByteMoreIsRefused) {
  const Subscription sub = new_subscription();
  const std::string largest(kWebPushMaxPlaintext, 'x');
  auto body = web_push_encrypt(largest, sub.p256dh, sub.auth);
  ASSERT_TRUE(body) << body.error();
  EXPECT_EQ(body->size(), 4096u);
  auto back = web_push_decrypt(*body, sub.ua_private, sub.auth);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, largest);
  auto over = web_push_encrypt(largest + "x", sub.p256dh, sub.auth);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(),
            "the message is 3994 bytes; Web Push carries at most 3993 (a 4096-byte body)");
}

TEST(WebPush, RefusesAP256dhThatIsNotAnUncompressedPointOnTheCurve) {
  // The example's point with its last byte changed: off the curve.
  std::string off_curve(kUaPublic);
  off_curve.back() = off_curve.back() == 'A' ? 'B' : 'A';
  // Its compressed form (0x02/0x03 || X) is valid SEC 1 but not what subscriptions carry.
  auto point = base64url_decode(kUaPublic);
  ASSERT_TRUE(point);
  std::vector<unsigned char> compressed(point->begin(), point->begin() + 33);
  compressed[0] = 0x02 | ((*point)[64] & 1);
  std::vector<unsigned char> infinity = {0x00};
  std::vector<unsigned char> zeros(65, 0);
  zeros[0] = 0x04;
  for (const std::string& bad :
       {off_curve, base64url_encode(compressed), base64url_encode(infinity),
        base64url_encode(zeros), std::string("BCVx+r7N")}) {
    auto body = web_push_encrypt(kPlaintext, bad, kAuth, rfc_secrets());
    ASSERT_FALSE(body) << bad;
    EXPECT_TRUE(body.error().starts_with("p256dh: ")) << body.error();
  }
  auto off = web_push_encrypt(kPlaintext, off_curve, kAuth, rfc_secrets());
  ASSERT_FALSE(off);
  EXPECT_EQ(off.error(), "p256dh: not a point on P-256");
  auto short_point = web_push_encrypt(kPlaintext, base64url_encode(compressed), kAuth);
  ASSERT_FALSE(short_point);
  EXPECT_EQ(short_point.error(),
            "p256dh: 33 bytes; a P-256 public key is an uncompressed point: 65 bytes, the first "
            "0x04");
}

TEST(WebPush, RefusesAnAuthSecretThatIsNot16Bytes) {
  for (std::string_view bad : {"", "BTBZMqHH6r4Tts7J_aSI", "BTBZMqHH6r4Tts7J_aSIggAA"}) {
    auto body = web_push_encrypt(kPlaintext, kUaPublic, bad, rfc_secrets());
    ASSERT_FALSE(body) << bad;
    EXPECT_TRUE(body.error().starts_with("auth: ")) << body.error();
    EXPECT_NE(body.error().find("16"), std::string::npos) << body.error();
  }
  auto not_base64 = web_push_encrypt(kPlaintext, kUaPublic, "BTBZMqHH6r4Tts7J/aSIgg");
  ASSERT_FALSE(not_base64);
  EXPECT_TRUE(not_base64.error().starts_with("auth: not base64url")) << not_base64.error();
}

TEST(WebPush, AcceptsPaddedSubscriptionKeys) {
  auto body = web_push_encrypt(kPlaintext, std::string(kUaPublic) + "=",
                               std::string(kAuth) + "==", rfc_secrets());
  ASSERT_TRUE(body) << body.error();
  EXPECT_EQ(base64url_encode(*body), kBody);
}

}  // namespace
}  // namespace treve::adapters
