#include "daemon/http/problem.h"

namespace treve::http {

std::vector<std::pair<std::string, std::string>> problem_headers(int status,
                                                                 std::string_view realm) {
  std::vector<std::pair<std::string, std::string>> out;
  if (status == 401)
    out.emplace_back("WWW-Authenticate", "Bearer realm=\"" + std::string(realm) + "\"");
  if (status == 429 || status == 503)
    out.emplace_back("Retry-After", std::string(kRetryAfterSeconds));
  return out;
}

Response problem_response(const adapters::Problem& p, unsigned version, std::string_view realm) {
  Response res{static_cast<boost::beast::http::status>(p.status), version};
  res.set(boost::beast::http::field::content_type, "application/problem+json");
  for (const auto& [name, value] : problem_headers(p.status, realm))
    res.set(name, value);
  res.body() = p.to_json();
  return res;
}

}  // namespace treve::http
