// VAPID (RFC 8292): the Authorization header a push service checks. Its ES256 signature is
// verified here as a push service does (r || s back to DER, with the public key of `k`), and
// its claims read back.
#include "adapters/outbound/vapid.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "adapters/outbound/p256.h"
#include "tests/adapters/test_keys.h"

namespace treve::adapters {
namespace {

struct Parsed {
  std::string token, k;
};

Parsed parse_header(std::string_view value) {
  Parsed p;
  EXPECT_TRUE(value.starts_with("vapid t=")) << value;
  const auto comma = value.find(", k=");
  EXPECT_NE(comma, std::string_view::npos) << value;
  if (!value.starts_with("vapid t=") || comma == std::string_view::npos)
    return p;
  p.token = value.substr(8, comma - 8);
  p.k = value.substr(comma + 4);
  return p;
}

TEST(Vapid, TheHeaderCarriesAnEs256TokenThatThePublicKeyKVerifies) {
  ossl::Pkey key = test::generate_p256();
  for (auto form : {test::PemForm::pkcs8, test::PemForm::traditional}) {
    const std::string pem = test::pem_of(key.get(), form);
    EXPECT_TRUE(pem.starts_with(form == test::PemForm::pkcs8 ? "-----BEGIN PRIVATE KEY-----"
                                                             : "-----BEGIN EC PRIVATE KEY-----"));
    auto vapid = VapidKey::from_pem(pem);
    ASSERT_TRUE(vapid) << vapid.error();
    auto header = vapid->authorization("https://updates.push.services.mozilla.com",
                                       "mailto:dpo@ent.example", 1'800'000'000);
    ASSERT_TRUE(header) << header.error();
    const Parsed p = parse_header(*header);
    EXPECT_EQ(p.k, vapid->public_key());
    auto point = base64url_decode(p.k);
    ASSERT_TRUE(point);
    ASSERT_EQ(point->size(), 65u);
    EXPECT_EQ((*point)[0], 0x04);
    auto pub = p256_public_key(*point);
    ASSERT_TRUE(pub) << pub.error();
    EXPECT_TRUE(test::verify_jws(p.token, pub->get(), true));
    // The raw signature is exactly 64 bytes (r || s), not DER.
    auto sig = base64url_decode(p.token.substr(p.token.rfind('.') + 1));
    ASSERT_TRUE(sig);
    EXPECT_EQ(sig->size(), 64u);

    EXPECT_EQ(test::jws_part(p.token, 0), R"({"typ":"JWT","alg":"ES256"})");
    const auto claims = boost::json::parse(test::jws_part(p.token, 1)).as_object();
    EXPECT_EQ(claims.at("aud").as_string(), "https://updates.push.services.mozilla.com");
    EXPECT_EQ(claims.at("sub").as_string(), "mailto:dpo@ent.example");
    EXPECT_EQ(claims.at("exp").as_int64(), 1'800'000'000 + 12 * 3600);
    EXPECT_EQ(claims.size(), 3u);
  }
}

TEST(Vapid, ThePublicKeyIsTheKeysOwnUncompressedPoint) {
  // RFC 7515 A.3's P-256 key: 0x04 || its x || its y (the JWK's), in base64url.
  auto d = base64url_decode("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
  ASSERT_TRUE(d);
  auto pair = p256_key_pair(*d);
  ASSERT_TRUE(pair);
  auto vapid = VapidKey::from_pem(test::pem_of(pair->key.get(), test::PemForm::traditional));
  ASSERT_TRUE(vapid) << vapid.error();
  EXPECT_EQ(
      vapid->public_key(),
      "BH_Nzidw9sRdQYPL7m_bS3tYBzM1e-nvE7rPbjx70VRFx_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
}

TEST(Vapid, ReadsAnEcPrivateKeyFileThatStartsWithItsParameters) {
  // `openssl ecparam -name prime256v1 -genkey` writes the curve's OID block first.
  ossl::Pkey key = test::generate_p256();
  const std::string pem =
      "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" +
      test::pem_of(key.get(), test::PemForm::traditional);
  auto vapid = VapidKey::from_pem(pem);
  ASSERT_TRUE(vapid) << vapid.error();
  auto point = p256_public_point(key.get());
  ASSERT_TRUE(point);
  EXPECT_EQ(vapid->public_key(), base64url_encode(*point));
}

TEST(Vapid, AnotherKeyDoesNotVerifyTheToken) {
  ossl::Pkey key = test::generate_p256();
  ossl::Pkey other = test::generate_p256();
  auto vapid = VapidKey::from_pem(test::pem_of(key.get(), test::PemForm::pkcs8));
  ASSERT_TRUE(vapid);
  auto header = vapid->authorization("https://fcm.googleapis.com", "https://ent.example/contact",
                                     1'800'000'000, std::chrono::hours(24));
  ASSERT_TRUE(header) << header.error();
  const Parsed p = parse_header(*header);
  EXPECT_FALSE(test::verify_jws(p.token, other.get(), true));
  EXPECT_TRUE(test::verify_jws(p.token, key.get(), true));
}

TEST(Vapid, TheTokenLivesAtMost24Hours) {
  ossl::Pkey key = test::generate_p256();
  auto vapid = VapidKey::from_pem(test::pem_of(key.get(), test::PemForm::pkcs8));
  ASSERT_TRUE(vapid);
  for (auto validity :
       {std::chrono::seconds(0), std::chrono::seconds(-1), std::chrono::seconds(24 * 3600 + 1)}) {
    auto header =
        vapid->authorization("https://fcm.googleapis.com", "mailto:a@b.example", 0, validity);
    ASSERT_FALSE(header);
    EXPECT_EQ(header.error(), "VAPID token: valid for 1 second to 24 hours");
  }
}

TEST(Vapid, RefusesASubjectThatIsNoContactAndAnAudienceThatIsNoOrigin) {
  ossl::Pkey key = test::generate_p256();
  auto vapid = VapidKey::from_pem(test::pem_of(key.get(), test::PemForm::pkcs8));
  ASSERT_TRUE(vapid);
  auto subject = vapid->authorization("https://fcm.googleapis.com", "dpo@ent.example", 0);
  ASSERT_FALSE(subject);
  EXPECT_EQ(subject.error(), "VAPID subject: a mailto: or https: URI is required");
  auto path = vapid->authorization("https://fcm.googleapis.com/fcm/send/abc", "mailto:a@b", 0);
  ASSERT_FALSE(path);
  EXPECT_EQ(path.error(),
            "VAPID audience: \"https://fcm.googleapis.com/fcm/send/abc\" is not an origin; use "
            "\"https://fcm.googleapis.com\"");
}

TEST(Vapid, RefusesAKeyThatIsNotP256) {
  ossl::Pkey rsa = test::generate_rsa(2048);
  auto vapid = VapidKey::from_pem(test::pem_of(rsa.get(), test::PemForm::pkcs8));
  ASSERT_FALSE(vapid);
  EXPECT_EQ(vapid.error(), "VAPID key: ES256 needs a P-256 (prime256v1) EC key");
}

TEST(PushOrigin, IsTheSchemeHostAndNonDefaultPortOfTheEndpoint) {
  for (const auto& [endpoint, origin] : std::vector<std::pair<std::string, std::string>>{
           {"https://fcm.googleapis.com/fcm/send/cXk:APA91b", "https://fcm.googleapis.com"},
           {"https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
            "https://updates.push.services.mozilla.com"},
           {"HTTPS://Web.Push.Apple.COM:443/QGz", "https://web.push.apple.com"},
           {"https://push.example:8443/x?y#z", "https://push.example:8443"},
           {"http://127.0.0.1:9/p", "http://127.0.0.1:9"},
           {"http://localhost:80", "http://localhost"},
           {"https://[2001:db8::1]:8443/p", "https://[2001:db8::1]:8443"},
           {"https://[2001:db8::1]/p", "https://[2001:db8::1]"},
       }) {
    auto got = push_origin(endpoint);
    ASSERT_TRUE(got) << endpoint << ": " << got.error();
    EXPECT_EQ(*got, origin) << endpoint;
  }
  for (std::string_view bad :
       {"fcm.googleapis.com/fcm/send", "ftp://push.example/", "https://user:pw@push.example/",
        "https:///path", "https://push.example:port/", "https://push.example:99999/"}) {
    EXPECT_FALSE(push_origin(bad)) << bad;
  }
}

}  // namespace
}  // namespace treve::adapters
