// Configurations in tests: the errors of one that must not load, as "FILE:LINE: key: message"
// lines (a test failure when it loads), and one that must load (a failure listing its errors
// when it does not).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/config/config.h"
#include "tests/support/tokens.h"

namespace treve::test {

// A connector "ent" with the token "change-me": the least a configuration that loads needs.
inline constexpr const char* kChangeMeConnector = R"(
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";

inline std::vector<std::string> config_errors(std::string_view text,
                                              const std::string& path = "test.toml") {
  auto loaded = config::parse_config(text, path);
  if (loaded) {
    ADD_FAILURE() << "the configuration loaded, expected errors:\n" << text;
    return {};
  }
  std::vector<std::string> out;
  for (const auto& e : loaded.error())
    out.push_back(e.to_string());
  return out;
}

inline std::shared_ptr<const config::Config> load_ok(std::string_view text,
                                                     const std::string& path = "test.toml") {
  auto loaded = config::parse_config(text, path);
  if (!loaded) {
    std::string all;
    for (const auto& e : loaded.error())
      all += e.to_string() + "\n";
    ADD_FAILURE() << "expected a valid configuration, got:\n" << all;
    return nullptr;
  }
  return *loaded;
}

}  // namespace treve::test
