// docs/operations.md lists every log event the daemon writes, with its fields: an operator can
// search for each. This test reads the sources and the document and compares the two lists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace treve {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every match of `pattern` (its first group) in the daemon's sources, with the file's name.
std::vector<std::pair<std::string, std::string>> in_sources(const std::regex& pattern) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f :
       std::filesystem::recursive_directory_iterator(std::string(TREVE_SOURCE_DIR) + "/daemon")) {
    if (f.path().extension() != ".cpp" && f.path().extension() != ".h")
      continue;
    const std::string text = read_file(f.path());
    for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it)
      out.emplace_back(f.path().filename().string(), (*it)[1].str());
  }
  return out;
}

std::set<std::string> logged_events() {
  // A call to spdlog (spdlog::log(level, …) too) whose format string starts with "event=NAME".
  static const std::regex call(
      R"re(spdlog::(?:(?:info|warn|error|debug|critical)\(|log\([^"]*)\s*"event=([a-z_]+\.[a-z_]+))re");
  std::set<std::string> out;
  for (const auto& [file, name] : in_sources(call))
    out.insert(name);
  return out;
}

std::set<std::string> documented_events() {
  // Table rows: "| `name` | level | …".
  static const std::regex row(R"(\n\| `([a-z_]+\.[a-z_]+)` \|)");
  const std::string doc = read_file(std::string(TREVE_SOURCE_DIR) + "/docs/operations.md");
  // The section "### Every log event", up to the next section.
  const auto begin = doc.find("### Every log event");
  const auto end = begin == std::string::npos ? begin : doc.find("\n## ", begin);
  const std::string text = begin == std::string::npos ? "" : doc.substr(begin, end - begin);
  std::set<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), row), end; it != end; ++it)
    out.insert((*it)[1].str());
  return out;
}

TEST(LogEvents, EveryEventTheDaemonLogsIsListedHere) {
  const auto logged = logged_events();
  const auto documented = documented_events();
  ASSERT_GT(logged.size(), 40u) << "the sources were not found under " << TREVE_SOURCE_DIR;
  std::vector<std::string> missing, stale;
  std::set_difference(logged.begin(), logged.end(), documented.begin(), documented.end(),
                      std::back_inserter(missing));
  std::set_difference(documented.begin(), documented.end(), logged.begin(), logged.end(),
                      std::back_inserter(stale));
  EXPECT_THAT(missing, ::testing::IsEmpty()) << "logged but not in docs/operations.md";
  EXPECT_THAT(stale, ::testing::IsEmpty()) << "in docs/operations.md but never logged";
}

TEST(LogEvents, EveryLogLineOfTheDaemonHasAnEventName) {
  // A spdlog call whose format string does not start with "event=": an operator could not
  // search for it by name.
  static const std::regex call(
      R"re(spdlog::(?:(?:info|warn|error|debug|critical)\(|log\([^"]*)\s*"(?!event=)([^"]*))re");
  std::vector<std::string> unnamed;
  for (const auto& [file, text] : in_sources(call))
    unnamed.push_back(file + ": " + text);
  EXPECT_THAT(unnamed, ::testing::IsEmpty());
}

}  // namespace
}  // namespace treve
