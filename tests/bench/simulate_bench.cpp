// `treve simulate` over N events (default one million), in process, with the example
// configuration: prints events, deliveries, wall time and throughput.
// Run: build/release/tests/bench/bench_simulate [N]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "daemon/cli/commands.h"
#include "event_generator.h"

int main(int argc, char** argv) {
  using namespace treve;
  long long n = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  const std::string path = "/tmp/treve-bench-events-" + std::to_string(n) + ".ndjson";
  if (std::FILE* f = std::fopen(path.c_str(), "w")) {
    bench::write_events(f, n);
    std::fclose(f);
  } else {
    std::cerr << "cannot write " << path << '\n';
    return 1;
  }
  auto config = config::load_config(TREVE_SOURCE_DIR "/systemd/treve.toml");
  if (!config) {
    for (const auto& e : config.error())
      std::cerr << e.to_string() << '\n';
    return 1;
  }
  std::ifstream in(path);
  std::ofstream out("/dev/null");
  std::ostringstream err;
  auto start = std::chrono::steady_clock::now();
  int rc = cli::simulate(**config, in, out, err);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("simulate: %lld events in %.2f s (%.0f events/s), exit status %d\n", n, seconds,
              static_cast<double>(n) / seconds, rc);
  std::remove(path.c_str());
  return rc;
}
