#include "adapters/outbound/webhook_signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace treve::adapters {

struct WebhookSigner::Keyed {
  Keyed() = default;
  Keyed(const Keyed&) = delete;
  Keyed& operator=(const Keyed&) = delete;
  ~Keyed() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
};

std::string base64_encode(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::expected<std::vector<unsigned char>, std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) {
    return std::unexpected("not base64: the length must be a non-zero multiple of 4");
  }
  std::vector<unsigned char> out(3 * (text.size() / 4));
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0)
    return std::unexpected("not base64: invalid characters");
  // EVP_DecodeBlock counts padding as data: drop one byte per '='.
  std::size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with("=")) {
    padding = 1;
  }
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

std::expected<WebhookSigner, std::string> WebhookSigner::from_secret(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.starts_with(kPrefix))
    secret.remove_prefix(kPrefix.size());
  while (!secret.empty() &&
         (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) {
    secret.remove_suffix(1);  // secret files usually end with a newline
  }
  auto key = base64_decode(secret);
  if (!key)
    return std::unexpected("webhook secret: " + key.error());
  if (key->size() < 24) {
    return std::unexpected("webhook secret: " + std::to_string(key->size()) +
                           " bytes; at least 24 are required (32 recommended)");
  }
  auto keyed = std::make_shared<Keyed>();
  keyed->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  keyed->ctx = keyed->mac ? EVP_MAC_CTX_new(keyed->mac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!keyed->ctx || EVP_MAC_init(keyed->ctx, key->data(), key->size(), params) != 1)
    return std::unexpected("webhook secret: HMAC-SHA256 is not available");
  return WebhookSigner(std::move(keyed));
}

std::string WebhookSigner::sign(std::string_view id, std::int64_t timestamp,
                                std::string_view body) const {
  // The signed content is id.timestamp.body, fed piece by piece: the body is not copied.
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_->ctx);
  if (!ctx)
    return {};
  const std::string middle = "." + std::to_string(timestamp) + ".";
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  const bool ok =
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(id.data()), id.size()) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(middle.data()), middle.size()) ==
          1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1 &&
      EVP_MAC_final(ctx, mac, &len, sizeof mac) == 1 && len > 0;
  EVP_MAC_CTX_free(ctx);
  if (!ok)
    return {};
  return "v1," + base64_encode(mac, len);
}

bool WebhookSigner::verify(std::string_view header, std::string_view id, std::int64_t timestamp,
                           std::string_view body) const {
  const std::string expected = sign(id, timestamp, body);
  bool ok = false;
  while (!header.empty()) {
    auto space = header.find(' ');
    std::string_view candidate = header.substr(0, space);
    header = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
    if (candidate.size() == expected.size() &&
        CRYPTO_memcmp(candidate.data(), expected.data(), expected.size()) == 0) {
      ok = true;
    }
  }
  return ok;
}

}  // namespace treve::adapters
