// The bearer token of a request (RFC 9110 §11.6.2, RFC 6750 §2.1), read the same way by both
// listeners: `Authorization: Bearer <token>`, the scheme in any case, one or more spaces, then
// the token. Parsing only: which token belongs to whom is the caller's to decide, comparing
// digests in constant time. Pure functions; any thread.
#pragma once

#include <expected>
#include <string_view>

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

}  // namespace treve::http
