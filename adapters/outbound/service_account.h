// A Google service account's JSON key, as the Firebase console downloads it: what the fcm
// channel needs to obtain access tokens (OAuth 2.0 JWT bearer assertion, RFC 7523).
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace treve::adapters {

struct ServiceAccount {
  std::string client_email;
  std::string private_key;  // PEM; never logged or shown
  std::string private_key_id;
  std::string token_uri;  // https://oauth2.googleapis.com/token, or a stand-in's
};

// The key in `json_text`, checked: a JSON object whose `client_email` is set, whose
// `private_key` is an RSA key of 2048 bits or more that can sign RS256, and whose `token_uri`
// is an http(s) URL. The error says which member is wrong, never the key.
std::expected<ServiceAccount, std::string> parse_service_account(std::string_view json_text);

}  // namespace treve::adapters
