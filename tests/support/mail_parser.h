// The tests' independent reading of e-mails: tests/channels/parse_mail.mjs, npm `mailparser`
// run by Node.js (both installed by scripts/install-channel-deps), on .eml files. What it gives
// for each file is described at the top of the script. Header-only.
#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tests/support/process.h"

namespace treve::test {

inline std::string channel_tests_dir() {
  return std::string(TREVE_SOURCE_DIR) + "/tests/channels";
}

// Why the parser cannot run here, or empty when it can.
inline std::string mail_parser_missing() {
  if (run_shell("command -v node").status != 0)
    return "Node.js is not installed: run scripts/install-channel-deps";
  if (!std::filesystem::exists(channel_tests_dir() + "/node_modules/mailparser/package.json"))
    return "npm mailparser is not installed in tests/channels: run scripts/install-channel-deps";
  return {};
}

// One JSON object per file, in order; an error with the script's output otherwise.
inline std::expected<boost::json::array, std::string> parse_mail_files(
    const std::vector<std::string>& files) {
  if (const std::string missing = mail_parser_missing(); !missing.empty())
    return std::unexpected(missing);
  Command c;
  c.program = "/bin/sh";
  c.args = {"-c", "exec node \"$0\" \"$@\"", channel_tests_dir() + "/parse_mail.mjs"};
  c.args.insert(c.args.end(), files.begin(), files.end());
  const ProcessResult r = run(c, "", std::chrono::seconds(60));
  if (r.status != 0)
    return std::unexpected("parse_mail.mjs failed: exit " + std::to_string(r.status) + "\n" +
                           r.err);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.out, ec);
  if (ec || !v.is_array())
    return std::unexpected("parse_mail.mjs printed no JSON array: " + r.out.substr(0, 2000));
  return std::move(v.as_array());
}

// The text of a string member of `o` ("" when absent or not a string).
inline std::string json_text(const boost::json::value& v, std::string_view key) {
  if (!v.is_object())
    return {};
  const boost::json::value* m = v.as_object().if_contains(key);
  if (m == nullptr || !m->is_string())
    return {};
  return std::string(m->as_string().data(), m->as_string().size());
}

}  // namespace treve::test
