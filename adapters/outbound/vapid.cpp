#include "adapters/outbound/vapid.h"

#include <algorithm>
#include <cctype>

#include <boost/json/serialize.hpp>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/p256.h"

namespace treve::adapters {
namespace {

std::string json_string(std::string_view s) {
  return boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_port(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }) &&
         std::stoi(std::string(s)) <= 65535;
}

}  // namespace

std::expected<VapidKey, std::string> VapidKey::from_pem(std::string_view pem) {
  auto signer = JwtSigner::from_pem(JwtAlgorithm::es256, pem);
  if (!signer)
    return std::unexpected("VAPID key: " + signer.error());
  auto point = p256_public_point(signer->key());
  if (!point)
    return std::unexpected("VAPID key: " + point.error());
  return VapidKey(std::move(*signer), base64url_encode(*point));
}

std::expected<std::string, std::string> VapidKey::authorization(
    std::string_view audience, std::string_view subject, std::int64_t now,
    std::chrono::seconds validity) const {
  auto origin = push_origin(audience);
  if (!origin)
    return std::unexpected("VAPID audience: " + origin.error());
  if (*origin != audience)
    return std::unexpected("VAPID audience: \"" + std::string(audience) +
                           "\" is not an origin; use \"" + *origin + "\"");
  if (!subject.starts_with("mailto:") && !subject.starts_with("https:"))
    return std::unexpected(std::string("VAPID subject: a mailto: or https: URI is required"));
  if (validity <= std::chrono::seconds(0) || validity > std::chrono::hours(24))
    return std::unexpected(std::string("VAPID token: valid for 1 second to 24 hours"));
  std::string claims = "{\"aud\":" + json_string(audience);
  claims += ",\"exp\":" + std::to_string(now + validity.count());
  claims += ",\"sub\":" + json_string(subject);
  claims += '}';
  auto token = signer_.sign(claims);
  if (!token)
    return std::unexpected("VAPID token: " + token.error());
  return "vapid t=" + *token + ", k=" + public_key_;
}

std::expected<std::string, std::string> push_origin(std::string_view endpoint) {
  const auto colon = endpoint.find("://");
  if (colon == std::string_view::npos)
    return std::unexpected(std::string("not an absolute URL"));
  const std::string scheme = lower(endpoint.substr(0, colon));
  if (scheme != "https" && scheme != "http")
    return std::unexpected("the scheme \"" + scheme + "\" is not http or https");
  std::string_view authority = endpoint.substr(colon + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return std::unexpected(std::string("user information in a push endpoint"));
  std::string_view host = authority, port;
  // An IPv6 literal keeps its colons inside brackets.
  const auto port_colon = authority.rfind(':');
  if (port_colon != std::string_view::npos &&
      (authority.front() != '[' || port_colon > authority.rfind(']'))) {
    host = authority.substr(0, port_colon);
    port = authority.substr(port_colon + 1);
    if (!is_port(port))
      return std::unexpected("the port \"" + std::string(port) + "\" is not a number");
  }
  if (host.empty() || host == "[]")
    return std::unexpected(std::string("no host"));
  std::string origin = scheme + "://" + lower(host);
  const bool default_port =
      port.empty() || (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
  if (!default_port)
    origin.append(1, ':').append(port);
  return origin;
}

}  // namespace treve::adapters
