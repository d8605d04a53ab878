// Standard Webhooks signatures (https://www.standardwebhooks.com/): what a webhook sink puts
// in `webhook-id`, `webhook-timestamp` and `webhook-signature` so that the receiver can check
// the request came from trêve and was not altered or replayed.
//
//   signature = "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body))
//
// where the secret is the base64 text after the `whsec_` prefix of the configured secret.
// During a rotation several secrets are configured (one per line of the secret file, the new
// one first): each request then carries one signature per secret, space-separated, as the
// specification allows, so that receivers holding either secret accept it.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace treve::adapters {

class WebhookSigner {
 public:
  // At most this many secrets at once (a rotation needs two).
  static constexpr std::size_t kMaxSecrets = 4;

  // From "whsec_<base64>" (the prefix is optional), or several separated by white space or
  // line breaks; the error says what is wrong, and which secret when there are several.
  static std::expected<WebhookSigner, std::string> from_secret(std::string_view secret);

  // How many secrets sign.
  std::size_t secrets() const { return keyed_.size(); }

  // The `webhook-signature` header value for one request, one "v1,<sig>" per secret; empty if
  // HMAC failed (out of memory): such a request is not sent.
  std::string sign(std::string_view id, std::int64_t timestamp, std::string_view body) const;

  // True when `header` (space-separated "v1,<sig>" entries) holds a valid signature under
  // any of the secrets.
  bool verify(std::string_view header, std::string_view id, std::int64_t timestamp,
              std::string_view body) const;

 private:
  struct Keyed;  // an HMAC-SHA256 context holding the key, duplicated for each signature
  explicit WebhookSigner(std::vector<std::shared_ptr<const Keyed>> keyed)
      : keyed_(std::move(keyed)) {}
  // One signature under one key; empty on failure.
  static std::string sign_with(const Keyed& keyed, std::string_view id, std::int64_t timestamp,
                               std::string_view body);
  std::vector<std::shared_ptr<const Keyed>> keyed_;
};

std::string base64_encode(const unsigned char* data, std::size_t size);
std::expected<std::vector<unsigned char>, std::string> base64_decode(std::string_view text);

}  // namespace treve::adapters
