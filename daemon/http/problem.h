// A problem (RFC 9457) as an HTTP answer, the same way on both listeners and for the server's
// own refusals: application/problem+json, a Bearer challenge on 401, `Retry-After` on 429 and
// 503.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/inbound/problem.h"
#include "daemon/http/server.h"

namespace treve::http {

// Seconds a client is asked to wait after a 429 or a 503.
inline constexpr std::string_view kRetryAfterSeconds = "5";

// The headers a problem's status calls for, besides its content type.
std::vector<std::pair<std::string, std::string>> problem_headers(int status,
                                                                 std::string_view realm);

// The whole answer; the body is `p.to_json()`. The caller decides whether to keep the
// connection.
Response problem_response(const adapters::Problem& p, unsigned version, std::string_view realm);

}  // namespace treve::http
