// A fuzz target: one function from bytes to nothing, that parses outside input the way trêve
// does and checks what must hold of the answer. Each file under tests/fuzz/targets/ defines
// one with TREVE_FUZZ_TARGET(name) { … } and builds two ways:
//   - with TREVE_FUZZ_LIBFUZZER (the fuzz preset, clang and libFuzzer; scripts/fuzz): the
//     function is the program's LLVMFuzzerTestOneInput, a broken check aborts and libFuzzer
//     keeps the input;
//   - otherwise (every other preset, g++): the function is registered by name, and
//     tests/fuzz/corpus_test.cpp runs it over its seed corpus (tests/fuzz/corpus/<name>/) and
//     every finding kept (tests/fuzz/regressions/<name>/), a broken check failing the test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace treve::fuzz {

using Target = void (*)(std::string_view input);

// Every target of this program, by name (the regression test's programs only).
inline std::map<std::string, Target>& targets() {
  static std::map<std::string, Target> all;
  return all;
}

inline bool register_target(const char* name, Target t) {
  targets().emplace(name, t);
  return true;
}

// A check that failed: aborts under libFuzzer (the input is kept), throws otherwise.
[[noreturn]] void fail(const char* file, int line, const std::string& what);

}  // namespace treve::fuzz

#define TREVE_FUZZ_CHECK(condition, what)                                             \
  do {                                                                                \
    if (!(condition))                                                                 \
      ::treve::fuzz::fail(__FILE__, __LINE__, std::string(#condition ": ") + (what)); \
  } while (false)

#ifdef TREVE_FUZZ_LIBFUZZER
#include <cstdio>
#include <cstdlib>
[[noreturn]] inline void treve::fuzz::fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what.c_str());
  std::abort();
}
#define TREVE_FUZZ_TARGET(name)                                                       \
  static void treve_fuzz_one(std::string_view input);                                 \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    treve_fuzz_one(std::string_view(reinterpret_cast<const char*>(data), size));      \
    return 0;                                                                         \
  }                                                                                   \
  static void treve_fuzz_one(std::string_view input)
#else
#include <stdexcept>
[[noreturn]] inline void treve::fuzz::fail(const char* file, int line, const std::string& what) {
  throw std::logic_error(std::string(file) + ":" + std::to_string(line) +
                         ": check failed: " + what);
}
#define TREVE_FUZZ_TARGET(name)                                     \
  static void treve_fuzz_##name(std::string_view input);            \
  [[maybe_unused]] static const bool treve_fuzz_registered_##name = \
      ::treve::fuzz::register_target(#name, &treve_fuzz_##name);    \
  static void treve_fuzz_##name(std::string_view input)
#endif
