// Several real daemons (`treve serve`) on one PostgreSQL store, end to end
// (docs/BENCHMARKS.md, "Several daemons on one PostgreSQL"): for 1, 2 and 3 daemons on a fresh
// database of a throw-away local cluster, connectors post single events over keep-alive
// connections spread over the daemons while a quiet window holds them (ingest: events/s, with
// each daemon's CPU and the server's per event), then the window ends and the daemon holding
// the dispatch lease sends every delivery to a webhook receiver in this process (drain:
// deliveries/s from the window's end to the last answer).
//
//   bench_pg_daemons [--events N] [--connections C] [--daemons 1,2,3]
//
// The daemons run on a clock ahead of the real one (the test hook `[testing] clock_start`, a
// build with TREVE_TESTING: the presets), so that the window ends a few seconds after the
// ingest. Everything shares this machine's cores: the figures are the cluster's on one
// machine; the per-event CPU of each part is what projects them onto several.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_process.h"
#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"
#include "tests/support/pg_cluster.h"

namespace treve::bench {
namespace {

using itest::Daemon;
using itest::DaemonOptions;
using itest::HttpClient;
using itest::WebhookReceiver;
using std::chrono::milliseconds;
using SysClock = std::chrono::system_clock;

struct Options {
  int events = 6000;
  int connections = 8;
  std::vector<int> daemons{1, 2, 3};
};

struct Run {
  double ingest_seconds = 0;
  double drain_seconds = 0;
  std::size_t deliveries = 0;
  std::size_t refused = 0;        // answers other than 202
  double daemons_cpu_ingest = 0;  // every daemon's CPU seconds during the ingest
  double server_cpu_ingest = 0;   // PostgreSQL's
  double daemons_cpu_drain = 0;
  double server_cpu_drain = 0;
};

Run run(test::PgCluster& cluster, int n, const Options& o) {
  test::TempDir shared("treve-pgbench");
  const std::string url = cluster.fresh_database();
  const std::string secret = itest::make_webhook_secret();
  const std::string secret_file = shared.file("hook.secret");
  std::ofstream(secret_file) << secret << "\n";
  ::chmod(secret_file.c_str(), 0600);
  WebhookReceiver receiver({}, 2);
  // The window ends on a minute boundary of the daemons' clock, `lead` after now: long enough
  // to start the daemons and ingest.
  const milliseconds lead{static_cast<long>(8000 + 6 * o.events / 10 + 2000 * n)};
  const auto target = SysClock::now() + lead;
  const auto ms = std::chrono::duration_cast<milliseconds>(target.time_since_epoch()).count();
  const milliseconds offset{(60'000 - ms % 60'000) % 60'000};
  const auto window_end_real = target;
  std::vector<std::unique_ptr<Daemon>> daemons;
  for (int i = 0; i < n; ++i) {
    DaemonOptions d;
    d.clock_offset = offset;
    d.quiet_start = itest::utc_hhmm(target + offset - std::chrono::hours(1));
    d.quiet_end = itest::utc_hhmm(target + offset);
    d.server_config = "pseudonym_key = \"" + shared.file("pseudonym.key") + "\"\n";
    d.extra_config = "\n[store]\nbackend = \"postgresql\"\nurl = \"" + url +
                     "\"\n\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\nurl = \"" +
                     receiver.url() + "\"\nsecret_file = \"" + secret_file +
                     "\"\ndefault = true\nmax_in_flight = 32\n";
    daemons.push_back(std::make_unique<Daemon>(d));
    daemons.back()->start();
  }
  auto daemons_cpu = [&] {
    double total = 0;
    for (auto& d : daemons)
      total += cpu_seconds(d->pid());
    return total;
  };

  Run r;
  std::atomic<int> next{0};
  std::atomic<std::size_t> refused{0}, deliveries{0};
  const double cpu0 = daemons_cpu(), srv0 = cluster.server_cpu_seconds();
  const auto started = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < o.connections; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client(daemons[static_cast<std::size_t>(c % n)]->port());
      for (int i; (i = next++) < o.events;) {
        itest::EventSpec spec;
        spec.id = "b-" + std::to_string(i);
        const int recipients = 1 + i % 3;  // 2 on average
        for (int k = 0; k < recipients; ++k)
          spec.recipients.push_back({"u-" + std::to_string((i * 7 + k) % 5000), "student", ""});
        spec.title = "Nouvelle note";
        auto answer = client.post_event(itest::event_body(spec));
        if (answer.status == 202)
          deliveries += static_cast<std::size_t>(recipients);
        else
          ++refused;
      }
    });
  }
  for (auto& t : clients)
    t.join();
  r.ingest_seconds = seconds_between(started, Clock::now());
  r.daemons_cpu_ingest = daemons_cpu() - cpu0;
  r.server_cpu_ingest = cluster.server_cpu_seconds() - srv0;
  r.refused = refused;
  r.deliveries = deliveries;
  if (SysClock::now() > window_end_real)
    std::fprintf(stderr, "warning: the ingest ended after the window: the drain overlaps it\n");
  std::this_thread::sleep_until(window_end_real - milliseconds{200});
  const double cpu1 = daemons_cpu(), srv1 = cluster.server_cpu_seconds();
  if (!receiver.wait_for_answered(r.deliveries, std::chrono::minutes(10)))
    std::fprintf(stderr, "warning: %zu of %zu deliveries arrived\n", receiver.count(),
                 r.deliveries);
  const auto requests = receiver.requests();
  const auto last = requests.empty() ? SysClock::now() : requests.back().arrived;
  r.drain_seconds = std::chrono::duration<double>(last - window_end_real).count();
  r.daemons_cpu_drain = daemons_cpu() - cpu1;
  r.server_cpu_drain = cluster.server_cpu_seconds() - srv1;
  for (auto& d : daemons)
    d->stop();
  receiver.stop();
  return r;
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc)
      return std::nullopt;
    const std::string v = argv[++i];
    if (a == "--events") {
      o.events = std::atoi(v.c_str());
    } else if (a == "--connections") {
      o.connections = std::atoi(v.c_str());
    } else if (a == "--daemons") {
      o.daemons.clear();
      std::istringstream list(v);
      for (std::string n; std::getline(list, n, ',');)
        o.daemons.push_back(std::atoi(n.c_str()));
    } else {
      return std::nullopt;
    }
  }
  if (o.events < 1 || o.connections < 1 || o.daemons.empty() ||
      std::any_of(o.daemons.begin(), o.daemons.end(), [](int n) { return n < 1 || n > 8; }))
    return std::nullopt;
  return o;
}

}  // namespace
}  // namespace treve::bench

int main(int argc, char** argv) {
  using namespace treve::bench;
  auto o = parse(argc, argv);
  if (!o) {
    std::fprintf(stderr,
                 "usage: bench_pg_daemons [--events N] [--connections C] [--daemons 1,2,3]\n");
    return 2;
  }
  treve::test::PgCluster cluster;
  std::printf(
      "%d events (1-3 recipients each), %d connections spread over the daemons, one "
      "local PostgreSQL 15, %u cores\n\n",
      o->events, o->connections, std::thread::hardware_concurrency());
  std::printf(
      "| daemons | ingest events/s | daemons' CPU µs/event | PostgreSQL CPU µs/event | "
      "drain deliveries/s | daemons' CPU µs/delivery | PostgreSQL CPU µs/delivery | "
      "refused |\n|---|---|---|---|---|---|---|---|\n");
  for (int n : o->daemons) {
    const Run r = run(cluster, n, *o);
    const double ev = o->events, dl = static_cast<double>(r.deliveries);
    std::printf("| %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %zu |\n", n,
                ev / r.ingest_seconds, r.daemons_cpu_ingest / ev * 1e6,
                r.server_cpu_ingest / ev * 1e6, dl / r.drain_seconds,
                r.daemons_cpu_drain / dl * 1e6, r.server_cpu_drain / dl * 1e6, r.refused);
    std::fflush(stdout);
  }
  return 0;
}
