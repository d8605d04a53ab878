// Standard Webhooks signatures, checked against values computed independently (Python's hmac
// and base64 modules), including the specification's own example.
#include <gtest/gtest.h>

#include "adapters/outbound/webhook_signature.h"

namespace treve::adapters {
namespace {

TEST(WebhookSigner, SignsTheSpecificationsExample) {
  auto signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(signer) << signer.error();
  EXPECT_EQ(signer->sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSigner, SignsUtf8BodiesAndTakesASecretFileWithItsNewline) {
  auto signer = WebhookSigner::from_secret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
  ASSERT_TRUE(signer) << signer.error();
  EXPECT_EQ(signer->sign("delivery-42", 1764316800, "{\"a\":\"\xc3\xa9\"}"),
            "v1,5FBaQgWIrKvYmRRq+d32lWvUtTx4EeRxbaYW5/RWfI0=");
}

TEST(WebhookSigner, VerifiesAmongSeveralSignaturesAndRejectsAlteredContent) {
  auto signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(signer);
  const std::string header = "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
  EXPECT_TRUE(signer->verify(header, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                             R"({"test": 2432232314})"));
  EXPECT_FALSE(signer->verify(header, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331,
                              R"({"test": 2432232314})"));
  EXPECT_FALSE(signer->verify(header, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              R"({"test": 2432232315})"));
}

TEST(WebhookSigner, RefusesASecretThatIsNotBase64OrTooShort) {
  auto garbage = WebhookSigner::from_secret("whsec_not base64!");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().find("base64"), std::string::npos);
  auto short_key = WebhookSigner::from_secret("whsec_AAECAwQF");
  ASSERT_FALSE(short_key);
  EXPECT_NE(short_key.error().find("at least 24"), std::string::npos);
}

// A rotation: the new secret first, the old one after; each request carries both signatures,
// each the one a signer of that secret alone would make.
TEST(WebhookSigner, SignsWithEverySecretOfARotation) {
  const std::string fresh = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  const std::string old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  auto both = WebhookSigner::from_secret(fresh + "\n" + old + "\n");
  ASSERT_TRUE(both) << both.error();
  EXPECT_EQ(both->secrets(), 2u);
  const std::string header = both->sign("delivery-42", 1764316800, "{\"a\":\"\xc3\xa9\"}");
  EXPECT_EQ(header, "v1,5FBaQgWIrKvYmRRq+d32lWvUtTx4EeRxbaYW5/RWfI0= " +
                        WebhookSigner::from_secret(old)->sign("delivery-42", 1764316800,
                                                              "{\"a\":\"\xc3\xa9\"}"));
  // A receiver holding either secret accepts it; one holding neither does not.
  for (const std::string& secret : {fresh, old}) {
    EXPECT_TRUE(WebhookSigner::from_secret(secret)->verify(header, "delivery-42", 1764316800,
                                                           "{\"a\":\"\xc3\xa9\"}"));
  }
  EXPECT_FALSE(WebhookSigner::from_secret("whsec_" + std::string(44, 'A'))
                   ->verify(header, "delivery-42", 1764316800, "{\"a\":\"\xc3\xa9\"}"));
  // And a signer of both accepts a request signed by either alone.
  EXPECT_TRUE(both->verify("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                           "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"));
}

TEST(WebhookSigner, RefusesABadSecretOfARotationNamingItAndTooManySecrets) {
  auto bad = WebhookSigner::from_secret(
      "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nwhsec_AAECAwQF\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("webhook secret 2: 6 bytes"), std::string::npos) << bad.error();
  std::string five;
  for (int i = 0; i < 5; ++i)
    five += "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
  auto many = WebhookSigner::from_secret(five);
  ASSERT_FALSE(many);
  EXPECT_NE(many.error().find("5 secrets; at most 4"), std::string::npos) << many.error();
  EXPECT_FALSE(WebhookSigner::from_secret(" \n \n"));
}

TEST(Base64, RoundTripsEveryPaddingLength) {
  for (std::size_t n = 1; n <= 7; ++n) {
    std::vector<unsigned char> data(n);
    for (std::size_t i = 0; i < n; ++i)
      data[i] = static_cast<unsigned char>(i * 37 + 1);
    auto decoded = base64_decode(base64_encode(data.data(), data.size()));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, data) << n;
  }
}

}  // namespace
}  // namespace treve::adapters
