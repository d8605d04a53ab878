// Re-planning after a reload: a real store holding N held deliveries (events of 10 recipients,
// received on a Friday evening, held until Monday 07:00), decided again under the same policy
// (nothing moves) and under a longer weekend window (everything moves, each move audited).
// While it runs, a probe hands the writer an empty job every 10 ms and records how long it
// waited: what a connector's POST would wait during a reload. Prints figures, not a test.
//
// Run: build/release/tests/bench/bench_replan [--deliveries N] [--dir BASE] [--keep]
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/core/digest.h"
#include "daemon/runtime/replan.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/bench/bench_process.h"
#include "tests/support/tokens.h"

namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr const char* kBase = R"(
[server]
state_dir = "/nonexistent"
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";

constexpr const char* kLongerWeekend = R"(
[[policy.quiet]]
days = ["mon", "tue", "wed", "thu"]
start = "20:00"
end = "07:00"
[[policy.quiet]]
days = ["fri"]
start = "20:00"
end_day = "mon"
end = "08:30"
)";

double seconds(Steady::time_point a, Steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool prepare(treve::store::SqliteStore& store, long long deliveries) {
  const auto received = *treve::policy::parse_rfc3339("2026-11-27T21:00:00+01:00");
  const auto release = *treve::policy::parse_rfc3339("2026-11-30T07:00:00+01:00");
  const auto zone = date::locate_zone("Europe/Paris");
  const long long per_event = 10;
  std::vector<treve::store::NewEvent> batch;
  for (long long e = 0; e < deliveries / per_event; ++e) {
    treve::store::NewEvent ev;
    ev.source = "ent";
    ev.id = "e" + std::to_string(e);
    ev.establishment = "0750654D";
    ev.category = treve::policy::Category::message;
    ev.received_at = received + std::chrono::milliseconds{e};
    ev.zone = zone;
    ev.body = R"({"id":")" + ev.id +
              R"(","establishment":"0750654D","category":"message","recipients":[)";
    for (long long j = 0; j < per_event; ++j) {
      const std::string r = "r" + std::to_string(e * per_event + j);
      ev.body += (j ? "," : "") + std::string(R"({"id":")") + r + R"(","role":"student"})";
      treve::store::NewDelivery d;
      d.recipient = r;
      d.release_at = release;
      d.reason = "quiet window Fri 20:00-Mon 07:00";
      ev.deliveries.push_back(std::move(d));
    }
    ev.body += R"(],"created_at":"2026-11-27T21:00:00+01:00","title":"Nouveau message"})";
    ev.body_sha256 = treve::core::sha256_hex(ev.body);
    ev.response = "{}";
    batch.push_back(std::move(ev));
    if (batch.size() == 1000) {
      if (!store.accept(batch, received))
        return false;
      batch.clear();
    }
  }
  return batch.empty() || store.accept(batch, received).has_value();
}

// Hands the writer an empty job every 10 ms; the longest and the mean wait.
class Probe {
 public:
  explicit Probe(treve::store::CommitQueue& queue)
      : thread_([this, &queue] {
          while (!stop_) {
            auto done = std::make_shared<std::promise<void>>();
            auto f = done->get_future();
            const auto t0 = Steady::now();
            if (queue.submit_write([done](treve::store::Store&) { done->set_value(); })) {
              f.wait();
              const double ms = seconds(t0, Steady::now()) * 1000;
              worst_ = std::max(worst_, ms);
              total_ += ms;
              ++n_;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
          }
        }) {}
  void finish() {
    stop_ = true;
    thread_.join();
  }
  double worst() const { return worst_; }
  double mean() const { return n_ ? total_ / n_ : 0; }

 private:
  std::atomic<bool> stop_{false};
  double worst_ = 0, total_ = 0;
  long n_ = 0;
  std::thread thread_;
};

void run(const char* label, const std::string& policy, treve::store::SqliteStore& store,
         treve::store::CommitQueue& queue, const treve::core::Clock& clock) {
  auto config = treve::config::parse_config(std::string(kBase) + policy, "bench.toml");
  if (!config) {
    std::fprintf(stderr, "bad configuration: %s\n", config.error()[0].to_string().c_str());
    std::exit(1);
  }
  Probe probe(queue);
  const auto t0 = Steady::now();
  auto report = treve::runtime::replan_held(**config, store, queue, clock, {});
  const double took = seconds(t0, Steady::now());
  probe.finish();
  std::printf(
      "%-10s examined %zu held deliveries (%zu events), moved %zu, in %.2f s: %.0f deliveries/s; "
      "writer wait during it: mean %.1f ms, worst %.1f ms\n",
      label, report.examined, report.events, report.moved, took,
      static_cast<double>(report.examined) / took, probe.mean(), probe.worst());
}

}  // namespace

int main(int argc, char** argv) {
  long long deliveries = 1'000'000;
  std::string dir = "/tmp/treve-bench-replan";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--deliveries" && i + 1 < argc)
      deliveries = std::stoll(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--keep")
      keep = true;
    else {
      std::fprintf(stderr, "usage: bench_replan [--deliveries N] [--dir BASE] [--keep]\n");
      return 1;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  treve::store::SqliteOptions so;
  so.path = dir + "/treve.db";
  so.pseudonym_key.fill(0x5a);
  auto opened = treve::store::SqliteStore::open(so);
  if (!opened) {
    std::fprintf(stderr, "cannot open the store: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& store = **opened;
  const auto t0 = Steady::now();
  if (!prepare(store, deliveries)) {
    std::fprintf(stderr, "cannot prepare the store\n");
    return 1;
  }
  std::printf("prepared %lld held deliveries in %.1f s\n", deliveries, seconds(t0, Steady::now()));
  treve::core::FakeClock clock(*treve::policy::parse_rfc3339("2026-11-28T10:00:00+01:00"));
  {
    treve::store::CommitQueue queue(store, clock);
    run("unchanged", "", store, queue, clock);
    run("moved", kLongerWeekend, store, queue, clock);
  }
  std::printf("peak RSS %.0f MB\n",
              static_cast<double>(treve::bench::process_memory(::getpid()).hwm_kb) / 1024);
  opened->reset();
  if (!keep)
    fs::remove_all(dir);
  return 0;
}
