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

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

std::expected<WebhookSigner, std::string> WebhookSigner::from_secret(std::string_view secrets) {
  std::vector<std::string_view> each;
  while (!secrets.empty()) {
    std::size_t start = 0;
    while (start < secrets.size() && blank(secrets[start]))
      ++start;
    std::size_t end = start;
    while (end < secrets.size() && !blank(secrets[end]))
      ++end;
    if (end > start)
      each.push_back(secrets.substr(start, end - start));
    secrets.remove_prefix(end);
  }
  if (each.empty())
    return std::unexpected("webhook secret: empty");
  if (each.size() > kMaxSecrets) {
    return std::unexpected("webhook secret: " + std::to_string(each.size()) + " secrets; at most " +
                           std::to_string(kMaxSecrets) +
                           " at once (the new one and the old one "
                           "during a rotation)");
  }
  std::vector<std::shared_ptr<const Keyed>> keyed;
  for (std::size_t i = 0; i < each.size(); ++i) {
    std::string_view secret = each[i];
    const std::string which =
        each.size() > 1 ? "webhook secret " + std::to_string(i + 1) + ": " : "webhook secret: ";
    constexpr std::string_view kPrefix = "whsec_";
    if (secret.starts_with(kPrefix))
      secret.remove_prefix(kPrefix.size());
    auto key = base64_decode(secret);
    if (!key)
      return std::unexpected(which + key.error());
    if (key->size() < 24) {
      return std::unexpected(which + std::to_string(key->size()) +
                             " bytes; at least 24 are required (32 recommended)");
    }
    auto one = std::make_shared<Keyed>();
    one->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    one->ctx = one->mac ? EVP_MAC_CTX_new(one->mac) : nullptr;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!one->ctx || EVP_MAC_init(one->ctx, key->data(), key->size(), params) != 1)
      return std::unexpected(which + "HMAC-SHA256 is not available");
    keyed.push_back(std::move(one));
  }
  return WebhookSigner(std::move(keyed));
}

std::string WebhookSigner::sign_with(const Keyed& keyed, std::string_view id,
                                     std::int64_t timestamp, std::string_view body) {
  // The signed content is id.timestamp.body, fed piece by piece: the body is not copied.
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed.ctx);
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

std::string WebhookSigner::sign(std::string_view id, std::int64_t timestamp,
                                std::string_view body) const {
  std::string out;
  for (const auto& keyed : keyed_) {
    std::string one = sign_with(*keyed, id, timestamp, body);
    if (one.empty())
      return {};
    out += (out.empty() ? "" : " ") + one;
  }
  return out;
}

bool WebhookSigner::verify(std::string_view header, std::string_view id, std::int64_t timestamp,
                           std::string_view body) const {
  std::vector<std::string> expected;
  for (const auto& keyed : keyed_)
    expected.push_back(sign_with(*keyed, id, timestamp, body));
  bool ok = false;
  while (!header.empty()) {
    auto space = header.find(' ');
    std::string_view candidate = header.substr(0, space);
    header = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
    for (const std::string& e : expected) {
      if (!e.empty() && candidate.size() == e.size() &&
          CRYPTO_memcmp(candidate.data(), e.data(), e.size()) == 0) {
        ok = true;
      }
    }
  }
  return ok;
}

}  // namespace treve::adapters
