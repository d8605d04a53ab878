// JSON Web Tokens signed with a private key (RFC 7519 in the compact JWS serialisation of
// RFC 7515): ES256 for VAPID (RFC 8292) and RS256 for the OAuth 2.0 assertion a Google service
// account exchanges for an FCM access token (RFC 7523).
//
//   token = base64url(header) "." base64url(claims) "." base64url(signature)
//   ES256: ECDSA P-256 SHA-256, the signature the raw 64 bytes r || s (RFC 7518 §3.4), not
//          the DER that OpenSSL produces;
//   RS256: RSASSA-PKCS1-v1_5 SHA-256 (RFC 7518 §3.3), as many bytes as the modulus.
//
// A JwtSigner holds its key; immutable once built, safe to use from any thread, cheap to copy.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

namespace treve::adapters {

enum class JwtAlgorithm { es256, rs256 };

class JwtSigner {
 public:
  // From a PEM private key: PKCS#8 ("PRIVATE KEY") or the traditional "EC PRIVATE KEY" (SEC 1,
  // other blocks such as "EC PARAMETERS" skipped) or "RSA PRIVATE KEY". ES256 needs a P-256 key,
  // RS256 an RSA key of 2048 bits or more. An encrypted key is refused (no passphrase is asked).
  static std::expected<JwtSigner, std::string> from_pem(JwtAlgorithm algorithm,
                                                        std::string_view pem);

  JwtAlgorithm algorithm() const { return algorithm_; }

  // The token for `claims_json` (a JSON object's text, used as is) with the header
  // {"typ":"JWT","alg":"ES256"|"RS256"} (and "kid" when `key_id` is not empty).
  std::expected<std::string, std::string> sign(std::string_view claims_json,
                                               std::string_view key_id = {}) const;

  // The base64url signature of a JWS signing input ("header.payload", already encoded).
  std::expected<std::string, std::string> signature(std::string_view signing_input) const;

  // The key, for what goes with the token (VAPID's public key). Never null.
  const EVP_PKEY* key() const { return key_.get(); }

 private:
  JwtSigner(JwtAlgorithm algorithm, std::shared_ptr<EVP_PKEY> key)
      : algorithm_(algorithm), key_(std::move(key)) {}
  JwtAlgorithm algorithm_;
  std::shared_ptr<EVP_PKEY> key_;
};

// The claims of a service account's OAuth 2.0 assertion (RFC 7523 §2.1, as Google's token
// endpoint takes it): {"iss": client_email, "scope": scope, "aud": audience, "iat": now,
// "exp": now + 3600}. Sign it with RS256 and the service account's `private_key`, with its
// `private_key_id` as the key id.
std::string service_account_claims(
    std::string_view client_email, std::int64_t now,
    std::string_view scope = "https://www.googleapis.com/auth/firebase.messaging",
    std::string_view audience = "https://oauth2.googleapis.com/token");

}  // namespace treve::adapters
