// What a cached directory lookup costs an entcore-timeline event, in process, against the work
// a canonical event costs the same code: prints figures, not a test (docs/BENCHMARKS.md).
//
// The real DirectoryClient asks a real directory on loopback (tests/bench/directory_server.h,
// every user a Student of one UAI, answering at once); its cache is warmed with every user of
// the pool first, so the measured lookups send no request (checked). Per event, with two
// recipients drawn from the pool as bench_ingest draws them:
//
//   cached, single   DirectoryClient::cached_answers of the event's two users on this thread,
//                    as ingest first asks: process CPU per event;
//   lookup, single   one DirectoryClient::lookup of the event's two users, from this thread to
//                    the client's io thread and its answer back (as an ingest request waits for
//                    it): process CPU per event, and the round trip's median;
//   lookup, batch    one lookup of the distinct users of 1000 events (as a batch asks): process
//                    CPU per event;
//   resolution       resolve_recipients (roles, establishment), canonical_body and the parse
//                    of the canonical event it makes, as ingest does with the answers;
//   timeline parse   parse_entcore_timeline and pending_from_timeline of the document;
//   canonical parse  parse_canonical_event of the same event sent in canonical form: what a
//                    canonical connector's event costs here.
//
// The directory's share of an event is lookup + resolution − canonical parse (the resolved
// event is parsed where a canonical one would be); the format's share is the timeline parse.
// Compare them with the daemon's CPU per canonical event that bench_ingest prints.
//
// Run: build/release/tests/bench/bench_directory [--events N] [--user-pool N] [--rounds R]
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "adapters/inbound/canonical_event.h"
#include "adapters/inbound/entcore_timeline.h"
#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/directory/directory_client.h"
#include "daemon/runtime/directory_events.h"
#include "tests/bench/directory_server.h"

namespace {

using namespace treve;
using Steady = std::chrono::steady_clock;

constexpr const char* kUai = "0750654D";
constexpr const char* kToken = "bench-directory-token-5c0e2b";

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::string user_id(long long n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "u-%05lld", n);
  return buf;
}

// Event i's two distinct users of the pool.
std::pair<std::string, std::string> users_of(long long i, int pool) {
  const std::uint64_t h = mix(static_cast<std::uint64_t>(i) ^ 0x656e74636f7265ULL);
  const long long a = static_cast<long long>(h % static_cast<std::uint64_t>(pool));
  const long long b =
      (a + 1 + static_cast<long long>((h >> 24) % static_cast<std::uint64_t>(pool - 1))) % pool;
  return {user_id(a), user_id(b)};
}

// Event i as Open ENT NG publishes a new message (as bench_ingest sends it).
std::string timeline_document(long long i, const std::pair<std::string, std::string>& users) {
  char buf[1024];
  const int n = std::snprintf(
      buf, sizeof buf,
      "{\"type\":\"MESSAGERIE\",\"event-type\":\"SEND-MESSAGE\","
      "\"recipients\":[{\"userId\":\"%s\"},{\"userId\":\"%s\"}],"
      "\"params\":{\"uri\":\"/userbook/annuaire#/%lld\",\"username\":\"Mme Lefèvre\","
      "\"resourceUri\":\"/conversation#/read/%lld\"},"
      "\"pushNotif\":{\"title\":\"push.notif.new.message\",\"body\":\"Réunion parents-profs "
      "jeudi\"},\"_id\":\"bench-%lld\"}",
      users.first.c_str(), users.second.c_str(), i, i, i);
  return std::string(buf, static_cast<std::size_t>(n));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void fail(const char* what) {
  std::fprintf(stderr, "bench_directory: %s\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  long long events = 20'000;
  int pool = 10'000;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc)
        fail(("missing value after " + a).c_str());
      return std::atoll(argv[++i]);
    };
    if (a == "--events")
      events = value();
    else if (a == "--user-pool")
      pool = static_cast<int>(value());
    else if (a == "--rounds")
      rounds = static_cast<int>(value());
    else
      fail("usage: bench_directory [--events N] [--user-pool N] [--rounds R]");
  }
  if (events < 1000 || pool < 2 || rounds < 1)
    fail("--events must be at least 1000, --user-pool at least 2, --rounds at least 1");

  bench::DirectoryServer server(kToken, kUai, std::chrono::milliseconds{0});
  config::Directory dir;
  dir.name = "ent";
  dir.url = server.url();
  dir.token = kToken;
  dir.cache_entries = static_cast<std::size_t>(pool) * 2;

  boost::asio::io_context ioc;
  auto guard = boost::asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  core::SystemClock clock;
  std::optional<directory::DirectoryClient> client;
  client.emplace(ioc, dir, clock);

  auto lookup = [&](std::vector<std::string> ids) {
    std::promise<std::vector<directory::UserAnswer>> done;
    auto answer = done.get_future();
    client->lookup("bench", std::move(ids),
                   [&done](std::vector<directory::UserAnswer> a) { done.set_value(std::move(a)); });
    return answer.get();
  };

  // Warm the cache: every user of the pool, 1000 per lookup.
  for (int from = 0; from < pool; from += 1000) {
    std::vector<std::string> ids;
    for (int u = from; u < std::min(pool, from + 1000); ++u)
      ids.push_back(user_id(u));
    for (const auto& a : lookup(std::move(ids))) {
      if (a.status != directory::UserAnswer::Status::known)
        fail("the directory did not answer the warm-up");
    }
  }
  const std::size_t warm_requests = client->requests_sent();

  std::vector<std::pair<std::string, std::string>> users;
  std::vector<std::string> documents;
  for (long long i = 0; i < events; ++i) {
    users.push_back(users_of(i, pool));
    documents.push_back(timeline_document(i, users.back()));
  }

  std::printf(
      "trêve directory lookup benchmark: %lld events of 2 users drawn from %d cached users, "
      "%d rounds (medians)\n",
      events, pool, rounds);
  std::printf("  machine: %u CPU(s); the client's io thread and this thread share them\n\n",
              std::thread::hardware_concurrency());

  std::vector<double> single_cpu, single_rtt, inline_cpu, batch_cpu, resolve_cpu, timeline_cpu,
      canonical_cpu;
  adapters::TimelineMapping mapping;
  const policy::Instant received = clock.now();
  for (int r = 0; r < rounds; ++r) {
    // Lookup, single: two users per lookup, one at a time.
    std::vector<double> rtt;
    rtt.reserve(static_cast<std::size_t>(events));
    double c0 = process_cpu_seconds();
    for (long long i = 0; i < events; ++i) {
      const auto t0 = Steady::now();
      auto a = lookup({users[i].first, users[i].second});
      rtt.push_back(std::chrono::duration<double, std::micro>(Steady::now() - t0).count());
      if (a.size() != 2 || a[0].status != directory::UserAnswer::Status::known)
        fail("a cached user was not known");
    }
    single_cpu.push_back((process_cpu_seconds() - c0) / static_cast<double>(events) * 1e6);
    single_rtt.push_back(median(rtt));

    // From the cache at once, on this thread (as ingest first asks).
    c0 = process_cpu_seconds();
    for (long long i = 0; i < events; ++i) {
      const std::string ids[2] = {users[i].first, users[i].second};
      auto a = client->cached_answers(ids);
      if (!a || (*a)[1].status != directory::UserAnswer::Status::known)
        fail("a cached user was not answered from the cache");
    }
    inline_cpu.push_back((process_cpu_seconds() - c0) / static_cast<double>(events) * 1e6);

    // Lookup, batch: the distinct users of 1000 events per lookup.
    c0 = process_cpu_seconds();
    for (long long from = 0; from < events; from += 1000) {
      std::vector<std::string> ids;
      std::unordered_set<std::string_view> seen;
      for (long long i = from; i < std::min(events, from + 1000); ++i) {
        for (const std::string* u : {&users[i].first, &users[i].second}) {
          if (seen.insert(*u).second)
            ids.push_back(*u);
        }
      }
      if (lookup(std::move(ids)).empty())
        fail("an empty answer");
    }
    batch_cpu.push_back((process_cpu_seconds() - c0) / static_cast<double>(events) * 1e6);

    // The timeline parse, the resolution and the canonical parse, on this thread.
    std::vector<runtime::PendingEvent> pending;
    pending.reserve(static_cast<std::size_t>(events));
    c0 = thread_cpu_seconds();
    for (long long i = 0; i < events; ++i) {
      auto t = adapters::parse_entcore_timeline(documents[i], mapping, adapters::EventLimits{},
                                                received);
      if (!t)
        fail("a timeline document was refused");
      pending.push_back(runtime::pending_from_timeline(*t));
    }
    timeline_cpu.push_back((thread_cpu_seconds() - c0) / static_cast<double>(events) * 1e6);

    std::vector<directory::UserAnswer> answers = lookup({users[0].first, users[0].second});
    std::vector<std::string> bodies;
    bodies.reserve(static_cast<std::size_t>(events));
    c0 = thread_cpu_seconds();
    for (long long i = 0; i < events; ++i) {
      auto resolved = runtime::resolve_recipients(pending[i].users, answers);
      if (!resolved || resolved->recipients.size() != 2)
        fail("the answers did not resolve");
      std::string body = runtime::canonical_body(pending[i].body, *resolved);
      if (!adapters::parse_canonical_event(body))
        fail("the resolved event does not parse");
      bodies.push_back(std::move(body));
    }
    resolve_cpu.push_back((thread_cpu_seconds() - c0) / static_cast<double>(events) * 1e6);

    c0 = thread_cpu_seconds();
    for (long long i = 0; i < events; ++i) {
      if (!adapters::parse_canonical_event(bodies[i]))
        fail("a canonical event does not parse");
    }
    canonical_cpu.push_back((thread_cpu_seconds() - c0) / static_cast<double>(events) * 1e6);
  }
  if (client->requests_sent() != warm_requests)
    fail("the measured lookups asked the directory: the cache was not warm");

  const double single = median(single_cpu), batch = median(batch_cpu);
  const double resolve = median(resolve_cpu), timeline = median(timeline_cpu);
  const double canonical = median(canonical_cpu);
  std::printf("| measure (µs per event, median of %d rounds)        | value |\n", rounds);
  std::printf("|----------------------------------------------------|-------|\n");
  std::printf("| lookup, single: process CPU (both threads)         | %5.2f |\n", single);
  std::printf("| lookup, single: round trip to the io thread, p50   | %5.2f |\n",
              median(single_rtt));
  std::printf("| from the cache at once (cached_answers), single    | %5.2f |\n",
              median(inline_cpu));
  std::printf("| lookup, batch of 1000 events: process CPU          | %5.2f |\n", batch);
  std::printf("| resolution: roles, body, parse of the event made   | %5.2f |\n", resolve);
  std::printf("| canonical parse of the same event                  | %5.2f |\n", canonical);
  std::printf("| timeline parse (the format's own cost)             | %5.2f |\n", timeline);
  std::printf("| directory's share, single: lookup + resolution − canonical parse | %5.2f |\n",
              single + resolve - canonical);
  std::printf("| directory's share, single from the cache at once                 | %5.2f |\n",
              median(inline_cpu) + resolve - canonical);
  std::printf("| directory's share, batch                                         | %5.2f |\n",
              batch + resolve - canonical);
  std::printf("\n  directory requests during the measured rounds: %zu (warm-up: %zu)\n",
              client->requests_sent() - warm_requests, warm_requests);

  // The client is destroyed once its io_context has stopped (directory_client.h).
  guard.reset();
  ioc.stop();
  io.join();
  client.reset();
  return 0;
}
