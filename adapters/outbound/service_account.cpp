#include "adapters/outbound/service_account.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "adapters/outbound/jwt.h"

namespace treve::adapters {

std::expected<ServiceAccount, std::string> parse_service_account(std::string_view json_text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json_text, ec);
  if (ec || !v.is_object())
    return std::unexpected(std::string("not a JSON object"));
  const boost::json::object& o = v.get_object();
  auto member = [&](const char* key) -> std::string {
    const boost::json::value* m = o.if_contains(key);
    if (!m || !m->is_string())
      return {};
    return std::string(m->get_string());
  };
  ServiceAccount a;
  a.client_email = member("client_email");
  a.private_key = member("private_key");
  a.private_key_id = member("private_key_id");
  a.token_uri = member("token_uri");
  if (a.client_email.empty())
    return std::unexpected(std::string("\"client_email\" is missing"));
  if (a.private_key.empty())
    return std::unexpected(std::string("\"private_key\" is missing"));
  if (auto signer = JwtSigner::from_pem(JwtAlgorithm::rs256, a.private_key); !signer)
    return std::unexpected("\"private_key\": " + signer.error());
  if (!a.token_uri.starts_with("https://") && !a.token_uri.starts_with("http://"))
    return std::unexpected(std::string("\"token_uri\" must be an http(s) URL"));
  return a;
}

}  // namespace treve::adapters
