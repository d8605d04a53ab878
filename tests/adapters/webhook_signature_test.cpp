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
