// The bearer token of a request (RFC 9110 §11.6.2, RFC 6750 §2.1), read the same way by both
// listeners: `Authorization: Bearer <token>`, the scheme in any case, one or more spaces, then
// the token. Parsing only: which token belongs to whom is the caller's to decide, comparing
// digests in constant time. Pure functions; any thread.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/http/server.h"

namespace treve::http {

enum class AuthFailure {
  missing,     // no Authorization header
  not_bearer,  // another scheme, or a header that is no credentials at all
  malformed,   // Bearer, but no token, or one that is not a token68, or several headers
};

// Why, as a short sentence for logs and answers; says nothing of what the client sent.
std::string_view to_string(AuthFailure failure);

// The token (a token68: letters, digits, "-._~+/", then any "="s), viewed in `request`.
std::expected<std::string_view, AuthFailure> bearer_token(const Request& request);

// The same from the header's value, for callers that hold only that.
std::expected<std::string_view, AuthFailure> bearer_token(std::string_view authorization);

// The lower-case hex SHA-256 of a token, and the comparison of two such digests in constant
// time (a digest is what the configuration keeps, never the token).
std::string token_digest(std::string_view token);
bool same_token_digest(std::string_view a, std::string_view b);

// The holder of a request's token among `holders` (each with a `token_sha256`), every digest
// compared; otherwise why not: `failure` for the log, `detail` for the 401's problem. Both
// listeners decide who is calling through this one function (connectors, administrators).
template <typename Holder>
struct Bearer {
  const Holder* holder = nullptr;
  std::string_view failure;
  std::string_view detail;
};

template <typename Holder>
Bearer<Holder> find_bearer(const Request& request, const std::vector<Holder>& holders,
                           std::string_view nobody_failure, std::string_view nobody_detail) {
  auto token = bearer_token(request);
  if (!token) {
    return {nullptr, to_string(token.error()),
            token.error() == AuthFailure::missing
                ? "missing \"Authorization: Bearer <token>\" header"
                : "expected \"Authorization: Bearer <token>\""};
  }
  const std::string digest = token_digest(*token);
  const Holder* found = nullptr;
  for (const Holder& h : holders) {
    if (same_token_digest(h.token_sha256, digest))
      found = &h;  // no early exit: the time taken does not say which one matched
  }
  if (!found)
    return {nullptr, nobody_failure, nobody_detail};
  return {found, {}, {}};
}

}  // namespace treve::http
