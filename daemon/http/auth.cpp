#include "daemon/http/auth.h"

#include "daemon/core/digest.h"

#include <boost/beast/http/field.hpp>

namespace treve::http {
namespace {

constexpr std::string_view kScheme = "bearer";

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_token68_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool is_token68(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_token68_char(s[i]))
    ++i;
  if (i == 0)
    return false;
  while (i < s.size() && s[i] == '=')
    ++i;
  return i == s.size();
}

}  // namespace

std::string_view to_string(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::missing:
      return "missing Authorization header";
    case AuthFailure::not_bearer:
      return "not a Bearer credential";
    case AuthFailure::malformed:
      return "malformed Bearer token";
  }
  return "malformed Bearer token";
}

std::expected<std::string_view, AuthFailure> bearer_token(std::string_view value) {
  // The scheme is a token of its own: "Bearerxyz" is another scheme, not a Bearer credential.
  std::size_t i = 0;
  while (i < value.size() && value[i] != ' ')
    ++i;
  const std::string_view scheme = value.substr(0, i);
  if (scheme.size() != kScheme.size())
    return std::unexpected(AuthFailure::not_bearer);
  for (std::size_t k = 0; k < scheme.size(); ++k) {
    if (lower(scheme[k]) != kScheme[k])
      return std::unexpected(AuthFailure::not_bearer);
  }
  while (i < value.size() && value[i] == ' ')
    ++i;
  std::string_view token = value.substr(i);
  // The field's value comes without surrounding whitespace from the parser; spaces after the
  // token are tolerated all the same, anything else is not a token.
  while (!token.empty() && token.back() == ' ')
    token.remove_suffix(1);
  if (!is_token68(token))
    return std::unexpected(AuthFailure::malformed);
  return token;
}

std::expected<std::string_view, AuthFailure> bearer_token(const Request& request) {
  const auto found = request.find(boost::beast::http::field::authorization);
  if (found == request.end())
    return std::unexpected(AuthFailure::missing);
  if (request.count(boost::beast::http::field::authorization) > 1)
    return std::unexpected(AuthFailure::malformed);
  return bearer_token(std::string_view(found->value().data(), found->value().size()));
}

std::string token_digest(std::string_view token) {
  return core::sha256_hex(token);
}

bool same_token_digest(std::string_view a, std::string_view b) {
  return core::same_digest(a, b);
}

}  // namespace treve::http
