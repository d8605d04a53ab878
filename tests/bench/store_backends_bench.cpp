// The store's ingest write on each backend, in process, with nothing else in the way (no HTTP,
// no policy, no commit queue): SQLite on a file of its own, and PostgreSQL 15 on a throw-away
// cluster of this machine (tests/support/pg_cluster.h, fsync on, synchronous_commit on) with
// one, two and three stores on one database, each store standing for a daemon: its own writer
// connection, fed by one thread, as a daemon's commit queue feeds it. Every store writes
// --events events (3 recipients each: one event row, three held deliveries, four audit
// records) in transactions of --batch events, all stores at once; ids are distinct across
// stores, so that nothing is a repeat.
//
// Prints, per configuration: events per second for all stores together, transactions per
// second, and CPU per event, split between the stores' process (this one: chaining, pseudonyms,
// libpq) and the PostgreSQL server (every backend process of the cluster, from /proc).
//
// Then the drain, by one store (one daemon dispatches a database until partitions are leased):
// every held delivery released at the window's end (release_due, transactions of 1000), read
// past the ready cursor (ready, pages of 1000) and recorded delivered (record_outcomes, 100 per
// transaction, as the dispatcher's group commit does under load), in deliveries per second.
//
//   bench_store_backends [--events N] [--batch B] [--daemons 1,2,3] [--no-sqlite]
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/core/digest.h"
#include "daemon/store/postgresql/pg_store.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/store.h"

namespace {

using namespace treve;
using Steady = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_store_backends: %s\n", what.c_str());
  std::exit(1);
}

std::vector<store::NewEvent> batch_of(int daemon, int from, int n) {
  static const std::string body = R"({"title":"Nouveau message","payload":{"id":42}})";
  static const std::string digest = core::sha256_hex(body);
  std::vector<store::NewEvent> out;
  for (int i = from; i < from + n; ++i) {
    store::NewEvent e;
    e.source = "ent";
    e.id = "d" + std::to_string(daemon) + "-" + std::to_string(i);
    e.establishment = "0750654D";
    e.category = policy::Category::message;
    e.received_at = *policy::parse_rfc3339("2026-11-27T21:00:00+01:00");
    e.zone = date::locate_zone("Europe/Paris");
    e.body = body;
    e.body_sha256 = digest;
    e.response = R"({"id":")" + e.id + R"("})";
    for (int k = 0; k < 3; ++k) {
      store::NewDelivery d;
      d.recipient = "user-" + std::to_string((i * 7 + k) % 5000);
      d.state = store::DeliveryState::held;
      d.release_at = *policy::parse_rfc3339("2026-11-30T07:00:00+01:00");
      d.reason = "quiet window Fri 20:00-Mon 07:00";
      e.deliveries.push_back(d);
    }
    out.push_back(std::move(e));
  }
  return out;
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Figures {
  double seconds = 0;
  double client_cpu = 0;
  double server_cpu = 0;
};

template <typename Stores>
Figures run(Stores& stores, int events, int batch, const std::string& data_dir) {
  const double cpu0 = process_cpu_seconds();
  const double srv0 = data_dir.empty() ? 0 : test::PgCluster::server_cpu_seconds(data_dir);
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (std::size_t s = 0; s < stores.size(); ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < events; i += batch) {
        auto b = batch_of(static_cast<int>(s), i, std::min(batch, events - i));
        stores[s]->prepare(b);
        auto r = stores[s]->accept(b, {});
        if (!r)
          die("accept: " + r.error().message);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  Figures f;
  f.seconds = std::chrono::duration<double>(Steady::now() - t0).count();
  f.client_cpu = process_cpu_seconds() - cpu0;
  f.server_cpu = data_dir.empty() ? 0 : test::PgCluster::server_cpu_seconds(data_dir) - srv0;
  return f;
}

// Releases, reads and records delivered every delivery held in `s`; deliveries per second.
template <typename Store>
void drain(const char* name, Store& s, const std::string& data_dir) {
  const double cpu0 = process_cpu_seconds();
  const double srv0 = data_dir.empty() ? 0 : test::PgCluster::server_cpu_seconds(data_dir);
  const auto t0 = Steady::now();
  const policy::Instant end = *policy::parse_rfc3339("2026-11-30T07:00:00+01:00");
  std::size_t released = 0, recorded = 0;
  for (;;) {
    auto r = s.release_due(end, 1000);
    if (!r)
      die("release_due: " + r.error().message);
    released += r->size();
    if (r->empty())
      break;
  }
  std::int64_t cursor = 0;
  for (;;) {
    auto items = s.ready(cursor, 1000);
    if (!items)
      die("ready: " + items.error().message);
    if (items->empty())
      break;
    cursor = items->back().ready_seq;
    for (std::size_t from = 0; from < items->size(); from += 100) {
      std::vector<store::DeliveryOutcome> outs;
      for (std::size_t i = from; i < std::min(items->size(), from + 100); ++i) {
        const store::DispatchItem& d = (*items)[i];
        store::DeliveryOutcome o;
        o.kind = store::DeliveryOutcome::Kind::delivered;
        o.ref = d.ref;
        o.sink = "webhook";
        o.channel = "webhook";
        o.webhook_id = "dlv_" + std::to_string(d.ref.seq);
        o.attempts = 1;
        o.status = 200;
        o.first_attempt_at = end;
        o.due_at = d.released_at;
        outs.push_back(std::move(o));
      }
      if (auto w = s.record_outcomes(outs, end); !w)
        die("record_outcomes: " + w.error().message);
      recorded += outs.size();
    }
  }
  const double seconds = std::chrono::duration<double>(Steady::now() - t0).count();
  const double here = process_cpu_seconds() - cpu0;
  const double pg = data_dir.empty() ? 0 : test::PgCluster::server_cpu_seconds(data_dir) - srv0;
  if (recorded != released)
    die("drain: released " + std::to_string(released) + ", recorded " + std::to_string(recorded));
  std::printf(
      "%-10s drain: %zu deliveries in %.2f s, %.0f deliveries/s, %.1f us here, %.1f us pg "
      "per delivery\n",
      name, released, seconds, static_cast<double>(released) / seconds,
      here / static_cast<double>(released) * 1e6, pg / static_cast<double>(released) * 1e6);
  std::fflush(stdout);
}

void print(const char* name, int daemons, int events, int batch, const Figures& f) {
  const double total = static_cast<double>(events) * daemons;
  const double commits = total / batch;
  std::printf("%-10s %7d %7d %9.0f %9.0f %10.1f %10.1f\n", name, daemons, batch, total / f.seconds,
              commits / f.seconds, f.client_cpu / total * 1e6, f.server_cpu / total * 1e6);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int events = 20000, batch = 32;
  std::vector<int> daemons{1, 2, 3};
  bool sqlite = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--events") {
      events = std::stoi(next());
    } else if (a == "--batch") {
      batch = std::stoi(next());
    } else if (a == "--daemons") {
      daemons.clear();
      std::stringstream list(next());
      for (std::string n; std::getline(list, n, ',');)
        daemons.push_back(std::stoi(n));
    } else if (a == "--no-sqlite") {
      sqlite = false;
    } else {
      die("unknown argument " + a);
    }
  }
  std::printf("events per store %d, 3 recipients each, transactions of %d events\n", events, batch);
  std::printf("%-10s %7s %7s %9s %9s %10s %10s\n", "backend", "stores", "batch", "events/s",
              "commits/s", "us/ev here", "us/ev pg");
  if (sqlite) {
    test::TempDir dir("treve-bench-sqlite");
    auto s = store::SqliteStore::open(test::store_options(dir.db(), 7));
    if (!s)
      die(s.error().message);
    std::vector<std::unique_ptr<store::SqliteStore>> stores;
    stores.push_back(std::move(*s));
    print("sqlite", 1, events, batch, run(stores, events, batch, ""));
    drain("sqlite", *stores[0], "");
  }
  test::PgCluster cluster;
  for (int n : daemons) {
    const std::string url = cluster.fresh_database();
    std::vector<std::unique_ptr<store::PgStore>> stores;
    for (int k = 0; k < n; ++k) {
      store::PgOptions o;
      o.connection.url = url;
      o.pseudonym_key.fill(7);
      auto s = store::PgStore::open(o);
      if (!s)
        die(s.error().message);
      stores.push_back(std::move(*s));
    }
    print("postgresql", n, events, batch, run(stores, events, batch, cluster.dir().str()));
    if (n == daemons.front())
      drain("postgresql", *stores[0], cluster.dir().str());
  }
}
