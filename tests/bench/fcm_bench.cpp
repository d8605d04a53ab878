// The FCM channel's throughput: N messages through FcmChannel (with its own HTTP client: one
// connection to the endpoint at a time, as in the daemon) and one io_context run by this thread (as
// the dispatcher runs it), to the FCM stand-in (tests/channels/fcm_service.mjs on Node.js, over TLS
// and HTTP/2, started here; it checks each message against the v1 schema and the bearer token, but
// records nothing). Like the dispatcher, it keeps `--sends` sends outstanding (one delivery, one
// device token each) and starts the next as one finishes; the channel itself bounds the requests at
// once to
// `--max-in-flight`. Prints messages per second, the connections the stand-in accepted, the
// most requests it had at once on one, and the CPU time of both sides: the stand-in is one
// Node.js thread, and when its CPU time is close to the wall time it is the bottleneck.
// Prints figures, not a test.
//
// Connections. Debian 12's libcurl (7.88) sends RST_STREAM for each stream it has finished
// reading, and nghttp2 (in Node.js, and in servers built on it) answers more than about 1,000
// of them (a burst of 1,000, then 33 a second: the "rapid reset" mitigation) with GOAWAY
// (INTERNAL_ERROR): past about 1,000 messages a connection is closed, and the requests in
// flight on it are retried on a fresh connection (the channel keeps one per host), a few fail
// ("Error in the HTTP2 framing layer": a retry verdict, sent again here). Whether Google's
// front ends do the same is not known; up to ~1,000 messages one connection carries them all.
//
// Run: build/release/tests/bench/bench_fcm [--messages N] [--max-in-flight M] [--sends S]
#include <unistd.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "daemon/core/clock.h"
#include "daemon/dispatch/fcm_channel.h"
#include "daemon/dispatch/http_client.h"
#include "tests/bench/bench_process.h"
#include "tests/support/fcm_service.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using treve::adapters::OutboundDelivery;
using treve::adapters::Verdict;
using treve::bench::cpu_seconds;

struct Options {
  long messages = 20'000;
  std::size_t max_in_flight = 100;
  std::size_t sends = 100;
};

struct Event {
  std::string body;
  std::string recipient;
  std::string delivery_id;
  std::string event_id;
};

double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--messages") {
      options.messages = std::stol(next());
    } else if (a == "--max-in-flight") {
      options.max_in_flight = std::stoul(next());
    } else if (a == "--sends") {
      options.sends = std::stoul(next());
    } else {
      std::fprintf(stderr, "usage: bench_fcm [--messages N] [--max-in-flight M] [--sends S]\n");
      return 2;
    }
  }
  if (auto why = treve::test::FcmService::missing()) {
    std::fprintf(stderr, "bench_fcm: %s\n", why->c_str());
    return 1;
  }
  treve::test::FcmService service(treve::test::FcmServiceOptions{3600, false});

  std::vector<Event> events(static_cast<std::size_t>(options.messages));
  for (std::size_t i = 0; i < events.size(); ++i) {
    Event& e = events[i];
    e.event_id = "msg-" + std::to_string(i);
    e.delivery_id = "dlv_" + std::to_string(100'000'000 + i);
    e.recipient = "u-" + std::to_string(i % 5000);
    json::object recipient{
        {"id", e.recipient},
        {"role", "parent"},
        {"channels", json::object{{"fcm", json::array{"device-" + std::to_string(i)}}}}};
    e.body = json::serialize(json::object{{"id", e.event_id},
                                          {"establishment", "0250001R"},
                                          {"category", "grade"},
                                          {"recipients", json::array{recipient}},
                                          {"created_at", "2026-11-27T21:14:03+01:00"},
                                          {"title", "Nouvelle note en mathématiques"},
                                          {"payload", json::object{{"link", "https://ent.fr/n"}}}});
  }
  const auto delivery = [&](std::size_t i) {
    OutboundDelivery d;
    d.delivery_id = events[i].delivery_id;
    d.source = "ent";
    d.event_id = events[i].event_id;
    d.establishment = "0250001R";
    d.category = "grade";
    d.recipient = events[i].recipient;
    d.role = "parent";
    d.event_body = events[i].body;
    d.received_at = "2026-11-27T21:14:03+01:00";
    d.released_at = "2026-11-28T07:00:00+01:00";
    return d;
  };

  boost::asio::io_context ioc;
  treve::dispatch::HttpClient http(ioc, treve::dispatch::HttpClient::Options{});  // stats only
  treve::core::SystemClock clock;
  treve::config::Sink sink;
  sink.name = "bench";
  sink.type = "fcm";
  sink.project_id = treve::test::FcmService::kProject;
  sink.credentials = service.credentials();
  sink.endpoint = service.endpoint();
  sink.ca_file = service.ca_file();
  sink.timeout = 30s;
  sink.max_in_flight = options.max_in_flight;
  treve::dispatch::FcmChannel channel(sink, treve::dispatch::ChannelContext{ioc, http, clock});

  // A send whose verdict is retry is sent again at once (the dispatcher would wait a little):
  // what counts is every message delivered.
  std::deque<std::size_t> queue;
  for (std::size_t i = 0; i < events.size(); ++i)
    queue.push_back(i);
  std::size_t delivered = 0;
  std::size_t retried = 0;
  std::size_t refused = 0;
  std::string first_error;
  std::function<void()> send_next;
  send_next = [&] {
    if (queue.empty())
      return;
    const std::size_t i = queue.front();
    queue.pop_front();
    const OutboundDelivery d = delivery(i);
    channel.send(std::span(&d, 1), false, [&, i](treve::dispatch::ChannelResult r) {
      if (r.verdict == Verdict::delivered) {
        ++delivered;
      } else {
        if (first_error.empty())
          first_error = r.error;
        if (r.verdict == Verdict::retry && retried < events.size()) {
          ++retried;
          queue.push_back(i);
        } else {
          ++refused;
        }
      }
      send_next();
    });
  };

  // The token and the connection first, as a daemon that has been running has them.
  {
    const OutboundDelivery d = delivery(0);
    bool ok = false;
    channel.send(std::span(&d, 1), false, [&](treve::dispatch::ChannelResult r) {
      ok = r.verdict == Verdict::delivered;
      if (!ok)
        first_error = r.error;
    });
    if (!treve::test::run_until(
            ioc, [&] { return ok || !first_error.empty(); }, 30s) ||
        !ok) {
      std::fprintf(stderr, "bench_fcm: the first send failed: %s\n%s\n", first_error.c_str(),
                   service.stderr_text().c_str());
      return 1;
    }
  }
  const double node_cpu_before = cpu_seconds(service.pid());
  const double own_cpu_before = own_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < options.sends; ++i)
    send_next();
  const bool finished = treve::test::run_until(
      ioc, [&] { return delivered + refused == events.size(); }, 600s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double node_cpu = cpu_seconds(service.pid()) - node_cpu_before;
  const double own_cpu = own_cpu_seconds() - own_cpu_before;
  const json::object stats = service.stats(ioc, http);

  std::printf(
      "bench_fcm: %zu messages delivered in %.2f s: %.0f messages/s (%zu sends "
      "retried, %zu refused)\n",
      delivered, seconds, static_cast<double>(delivered) / seconds, retried, refused);
  std::printf("  sends outstanding %zu, max_in_flight %zu\n", options.sends, options.max_in_flight);
  std::printf(
      "  stand-in: %s connection(s), %s HTTP/2 session(s), at most %s requests at once "
      "on one, %s token request(s)\n",
      json::serialize(stats.at("connections")).c_str(),
      json::serialize(stats.at("sessions")).c_str(),
      json::serialize(stats.at("max_streams")).c_str(),
      json::serialize(stats.at("token_requests")).c_str());
  std::printf(
      "  CPU: stand-in (node, one thread) %.2f s = %.0f%% of the wall time; trêve's side "
      "(channel + HttpClient + TLS) %.2f s = %.0f%%; %.1f µs per message\n",
      node_cpu, 100 * node_cpu / seconds, own_cpu, 100 * own_cpu / seconds,
      1e6 * own_cpu / static_cast<double>(delivered));
  if (!finished || delivered != events.size()) {
    std::fprintf(stderr, "bench_fcm: %s; first error: %s\n%s",
                 finished ? "some messages were not delivered" : "timed out", first_error.c_str(),
                 service.stderr_text().substr(0, 4000).c_str());
    return 1;
  }
  return 0;
}
