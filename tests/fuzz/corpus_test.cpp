// Every fuzz target (tests/fuzz/targets/) over its seed corpus and the findings kept from
// fuzzing: each input must leave every check standing, under the sanitizers in the asan preset.
// A finding is kept by copying the input libFuzzer saved into tests/fuzz/regressions/<target>/.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fuzz/fuzz_target.h"

namespace treve {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The inputs of one directory, by name (an absent directory has none).
std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir))
    return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string() != "README.md")
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

const fs::path kFuzzDir = fs::path(TREVE_SOURCE_DIR) / "tests" / "fuzz";

TEST(FuzzCorpus, EveryTargetHasASeedCorpus) {
  ASSERT_GE(fuzz::targets().size(), 12u);
  for (const auto& [name, target] : fuzz::targets()) {
    EXPECT_FALSE(inputs_in(kFuzzDir / "corpus" / name).empty()) << name;
  }
  // And every corpus or regression directory is a target's.
  for (const char* kind : {"corpus", "regressions"}) {
    for (const auto& e : fs::directory_iterator(kFuzzDir / kind)) {
      if (e.is_directory()) {
        EXPECT_TRUE(fuzz::targets().contains(e.path().filename().string())) << e.path();
      }
    }
  }
}

TEST(FuzzCorpus, EverySeedAndFindingPassesItsTarget) {
  std::size_t ran = 0;
  for (const auto& [name, target] : fuzz::targets()) {
    for (const char* kind : {"corpus", "regressions"}) {
      for (const fs::path& p : inputs_in(kFuzzDir / kind / name)) {
        const std::string input = read_file(p);
        try {
          target(input);
        } catch (const std::exception& e) {
          ADD_FAILURE() << p << ": " << e.what();
        }
        ++ran;
      }
    }
  }
  EXPECT_GT(ran, 0u);
}

}  // namespace
}  // namespace treve
