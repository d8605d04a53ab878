// The crash loop in long form (issue 19): `treve serve` SIGKILLed 100 times (or --kills N) at
// random instants while connectors post, quiet windows end, a failing receiver makes deliveries
// retry, reloads and purges run; then drained and checked (tests/integration/crash_loop.h).
// Prints where the kills landed and what the checks found; exits 1 when any check failed.
//
//   build/release/tests/bench/bench_crash_loop [--kills N] [--seed S] [--connectors N]
//                                              [--quiet] [--keep]
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/integration/crash_loop.h"

int main(int argc, char** argv) {
  using namespace treve::itest;
  crash_loop::Options o;
  o.kills = 100;
  o.progress = &std::cout;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> unsigned long {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return std::stoul(argv[++i]);
    };
    if (a == "--kills") {
      o.kills = static_cast<int>(value());
    } else if (a == "--seed") {
      o.seed = static_cast<unsigned>(value());
    } else if (a == "--connectors") {
      o.connectors = static_cast<int>(value());
    } else if (a == "--quiet") {
      o.progress = nullptr;
    } else if (a == "--keep") {
      o.keep = true;
    } else {
      std::cerr << "usage: " << argv[0]
                << " [--kills N] [--seed S] [--connectors N] [--quiet] [--keep]\n";
      return 2;
    }
  }
  std::cout << "crash loop: " << o.kills << " kills, seed " << o.seed << std::endl;
  crash_loop::Loop loop(o);
  const crash_loop::Figures f = loop.run();
  crash_loop::print(std::cout, o, f);
  if (o.keep)
    std::cout << "state directory kept: " << loop.state_dir() << "\n";
  std::cout << (f.ok() ? "PASS" : "FAIL") << std::endl;
  return f.ok() ? 0 : 1;
}
