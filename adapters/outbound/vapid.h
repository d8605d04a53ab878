// Voluntary Application Server Identification for Web Push (VAPID, RFC 8292): the
// `Authorization` header that tells a push service which application server sends a message,
// signed with the server's P-256 key so that only that server can use a subscription made for
// its public key (the browser's `applicationServerKey`).
//
//   Authorization: vapid t=<JWT>, k=<base64url of the uncompressed public key>
//   JWT header {"typ":"JWT","alg":"ES256"}, claims {"aud": the push endpoint's origin,
//   "exp": at most 24 hours ahead, "sub": a mailto: or https: contact}
//
// A VapidKey is immutable once built, safe to use from any thread and cheap to copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "adapters/outbound/jwt.h"

namespace treve::adapters {

class VapidKey {
 public:
  // From a PEM private key on P-256: PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY", as
  // `openssl ecparam -name prime256v1 -genkey` writes it).
  static std::expected<VapidKey, std::string> from_pem(std::string_view pem);

  // The public key, base64url without padding: the `k` parameter, and what the ENT's page
  // passes to pushManager.subscribe() as applicationServerKey.
  const std::string& public_key() const { return public_key_; }

  // The `Authorization` header value for a message to a push service whose origin is
  // `audience` (push_origin of the endpoint), at `now` (Unix seconds), valid for `validity`
  // (1 s to 24 h, RFC 8292 §2). `subject` is the operator's contact: "mailto:…" or "https:…".
  std::expected<std::string, std::string> authorization(
      std::string_view audience, std::string_view subject, std::int64_t now,
      std::chrono::seconds validity = std::chrono::hours(12)) const;

 private:
  VapidKey(JwtSigner signer, std::string public_key)
      : signer_(std::move(signer)), public_key_(std::move(public_key)) {}
  JwtSigner signer_;
  std::string public_key_;
};

// The origin of a push endpoint URL, the audience of its VAPID token (RFC 6454 §6.2):
// "https://host" or "https://host:port", scheme and host in lower case, the scheme's default
// port left out. Refuses a URL that is not http(s), has no host, or carries user information.
std::expected<std::string, std::string> push_origin(std::string_view endpoint);

}  // namespace treve::adapters
