// JWT signing: RS256 against RFC 7515 Appendix A.2 (PKCS#1 v1.5 is deterministic, so the
// signature must match byte for byte), ES256's r || s checked against Appendix A.3's
// signature, and tokens from keys generated here verified with their public halves.
#include "adapters/outbound/jwt.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "adapters/outbound/p256.h"
#include "tests/adapters/test_keys.h"

namespace treve::adapters {
namespace {

// RFC 7515 A.2 and A.3: the signing input {"alg":…}.{"iss":"joe",\r\n "exp":…}.
constexpr std::string_view kPayload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
    "fQ";

ossl::Pkey rfc7515_rsa_key() {
  const std::pair<const char*, const char*> parts[] = {
      {OSSL_PKEY_PARAM_RSA_N,
       "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0B"
       "m4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5"
       "z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7"
       "aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"},
      {OSSL_PKEY_PARAM_RSA_E, "AQAB"},
      {OSSL_PKEY_PARAM_RSA_D,
       "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2N"
       "XOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M"
       "_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x"
       "_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"},
      {OSSL_PKEY_PARAM_RSA_FACTOR1,
       "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py"
       "5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"},
      {OSSL_PKEY_PARAM_RSA_FACTOR2,
       "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQ"
       "eZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"},
      {OSSL_PKEY_PARAM_RSA_EXPONENT1,
       "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu"
       "1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0"},
      {OSSL_PKEY_PARAM_RSA_EXPONENT2,
       "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0a"
       "jaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU"},
      {OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
       "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY"
       "7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"},
  };
  ossl::ParamBld bld(OSSL_PARAM_BLD_new());
  std::vector<ossl::Bignum> numbers;
  for (const auto& [name, value] : parts) {
    auto bytes = base64url_decode(value);
    EXPECT_TRUE(bytes) << name;
    numbers.emplace_back(BN_bin2bn(bytes->data(), static_cast<int>(bytes->size()), nullptr));
    OSSL_PARAM_BLD_push_BN(bld.get(), name, numbers.back().get());
  }
  ossl::Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params.get()), 1);
  return ossl::Pkey(key);
}

TEST(JwtSigner, Rs256ReproducesTheSignatureOfRfc7515AppendixA2) {
  ossl::Pkey key = rfc7515_rsa_key();
  ASSERT_TRUE(key);
  for (auto form : {test::PemForm::pkcs8, test::PemForm::traditional}) {
    const std::string pem = test::pem_of(key.get(), form);
    EXPECT_TRUE(pem.starts_with(form == test::PemForm::pkcs8 ? "-----BEGIN PRIVATE KEY-----"
                                                             : "-----BEGIN RSA PRIVATE KEY-----"))
        << pem;
    auto signer = JwtSigner::from_pem(JwtAlgorithm::rs256, pem);
    ASSERT_TRUE(signer) << signer.error();
    auto sig = signer->signature(std::string("eyJhbGciOiJSUzI1NiJ9.").append(kPayload));
    ASSERT_TRUE(sig) << sig.error();
    EXPECT_EQ(
        *sig,
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
        "O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARN"
        "PvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1"
        "phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw");
  }
}

TEST(JwtSigner, TheRawR_SFormOfRfc7515AppendixA3VerifiesWithItsPublicKey) {
  // The check the VAPID tests rely on: JWS's r || s, turned into DER, verifies.
  auto d = base64url_decode("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
  ASSERT_TRUE(d);
  auto pair = p256_key_pair(*d);
  ASSERT_TRUE(pair) << pair.error();
  EXPECT_EQ(base64url_encode(std::span(pair->public_point).subspan(1, 32)),
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
  EXPECT_EQ(base64url_encode(std::span(pair->public_point).subspan(33, 32)),
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
  const std::string token = std::string("eyJhbGciOiJFUzI1NiJ9.")
                                .append(kPayload)
                                .append(
                                    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8"
                                    "ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
  EXPECT_TRUE(test::verify_jws(token, pair->key.get(), true));
  std::string altered = token;
  altered[30] = altered[30] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(test::verify_jws(altered, pair->key.get(), true));
}

TEST(JwtSigner, SignsAServiceAccountAssertionThatTheDerivedPublicKeyVerifies) {
  ossl::Pkey key = test::generate_rsa(2048);
  ASSERT_TRUE(key);
  auto signer =
      JwtSigner::from_pem(JwtAlgorithm::rs256, test::pem_of(key.get(), test::PemForm::pkcs8));
  ASSERT_TRUE(signer) << signer.error();
  const std::string claims =
      service_account_claims("treve@ent-push.iam.gserviceaccount.com", 1'800'000'000);
  auto token = signer->sign(claims, "1f2e3d");
  ASSERT_TRUE(token) << token.error();
  ossl::Pkey pub = test::public_half(key.get());
  ASSERT_TRUE(pub);
  EXPECT_TRUE(test::verify_jws(*token, pub.get(), false));
  EXPECT_EQ(test::jws_part(*token, 0), R"({"typ":"JWT","alg":"RS256","kid":"1f2e3d"})");
  EXPECT_EQ(test::jws_part(*token, 1), claims);
  const auto c = boost::json::parse(claims).as_object();
  EXPECT_EQ(c.at("iss").as_string(), "treve@ent-push.iam.gserviceaccount.com");
  EXPECT_EQ(c.at("scope").as_string(), "https://www.googleapis.com/auth/firebase.messaging");
  EXPECT_EQ(c.at("aud").as_string(), "https://oauth2.googleapis.com/token");
  EXPECT_EQ(c.at("iat").as_int64(), 1'800'000'000);
  EXPECT_EQ(c.at("exp").as_int64(), 1'800'003'600);
  // Another key's public half does not verify it; nor does an altered claim.
  ossl::Pkey other = test::generate_rsa(2048);
  EXPECT_FALSE(test::verify_jws(*token, other.get(), false));
  std::string altered = *token;
  altered[altered.find('.') + 5] ^= 1;
  EXPECT_FALSE(test::verify_jws(altered, pub.get(), false));
}

TEST(JwtSigner, RefusesAKeyThatDoesNotFitTheAlgorithm) {
  ossl::Pkey rsa = test::generate_rsa(2048);
  ossl::Pkey small = test::generate_rsa(1024);
  ossl::Pkey ec = test::generate_p256();
  ossl::Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  auto rsa_for_es =
      JwtSigner::from_pem(JwtAlgorithm::es256, test::pem_of(rsa.get(), test::PemForm::pkcs8));
  ASSERT_FALSE(rsa_for_es);
  EXPECT_EQ(rsa_for_es.error(), "ES256 needs a P-256 (prime256v1) EC key");
  auto ec_for_rs =
      JwtSigner::from_pem(JwtAlgorithm::rs256, test::pem_of(ec.get(), test::PemForm::pkcs8));
  ASSERT_FALSE(ec_for_rs);
  EXPECT_EQ(ec_for_rs.error(), "RS256 needs an RSA key");
  auto short_rsa =
      JwtSigner::from_pem(JwtAlgorithm::rs256, test::pem_of(small.get(), test::PemForm::pkcs8));
  ASSERT_FALSE(short_rsa);
  EXPECT_EQ(short_rsa.error(), "RS256 needs an RSA key of 2048 bits or more, not 1024");
  EXPECT_FALSE(
      JwtSigner::from_pem(JwtAlgorithm::es256, test::pem_of(p384.get(), test::PemForm::pkcs8)));
}

TEST(JwtSigner, RefusesTextWithoutAPrivateKeyAndEncryptedKeys) {
  ossl::Pkey rsa = test::generate_rsa(2048);
  EXPECT_NE(test::pem_of(rsa.get(), test::PemForm::encrypted).find("ENCRYPTED"), std::string::npos);
  for (const std::string& bad :
       {std::string(), std::string("not a key"), test::pem_of(rsa.get(), test::PemForm::encrypted),
        std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}) {
    auto signer = JwtSigner::from_pem(JwtAlgorithm::rs256, bad);
    ASSERT_FALSE(signer) << bad;
    EXPECT_TRUE(signer.error().starts_with("no private key in the PEM text")) << signer.error();
  }
}

}  // namespace
}  // namespace treve::adapters
