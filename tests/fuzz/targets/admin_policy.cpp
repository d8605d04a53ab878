// An establishment's policy document as the admin API receives it (PUT …/policy, the page's
// save and preview), validated against a running configuration as the API does.
#include <cstdio>
#include <cstdlib>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "daemon/config/config.h"
#include "daemon/runtime/reload.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/support/tokens.h"

namespace {

std::shared_ptr<const treve::config::Config> running() {
  // A running configuration with one establishment of its own, the API's beside it.
  const std::string text = R"([server]
listen = "127.0.0.1:2007"
[policy]
parent_grade_delay = "24h"
urgent_categories = ["alert"]
[establishments."0250002S"]
closed = ["2026-12-21..2027-01-03"]
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";
  auto c = treve::config::parse_config(text, "running.toml", treve::policy::Horizon{2026, 2027});
  if (!c) {
    for (const auto& e : c.error())
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::abort();
  }
  return *c;
}

}  // namespace

TREVE_FUZZ_TARGET(admin_policy) {
  using namespace treve;
  static const std::shared_ptr<const config::Config> base = running();
  // The API hands the document on as JSON text it has parsed; so does this.
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(input, ec);
  if (ec || !v.is_object())
    return;
  const std::vector<config::ApiPolicy> policies{{"0250001R", boost::json::serialize(v)}};
  auto built = runtime::build_in_force(*base, policies);
  if (built)
    return;
  TREVE_FUZZ_CHECK(!built.error().empty(), "a refusal says why");
  for (const auto& e : built.error())
    TREVE_FUZZ_CHECK(!e.message().empty(), e.to_string());
}
