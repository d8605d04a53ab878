// The e-mail channel's throughput: N deliveries through SmtpChannel (the built-in French
// templates, one address each) to a local SMTP relay, tests/channels/smtp_receiver.py
// (Debian's aiosmtpd, which saves every message to disk), with at most M sends under way, as a
// dispatcher with max_in_flight = M sends them. By default with STARTTLS and AUTH, as a real
// relay is used. Prints figures, not a test:
//
//   - messages per second, from the first send to the last relay's 250;
//   - the relay's TCP connections (reused connections: about M, however large N);
//   - this process's CPU time per message (user + system), the relay's excluded;
//   - the io thread's longest stall: the most a 1 ms timer on the same io_context fired late
//     (curl waits, blocking, for the relay's answer to the end of each message, on the
//     channel's own mail thread: this shows that the dispatcher's thread, which runs the
//     channel's answers, is not held by it).
//
// The relay (Python) and this process share the machine's cores.
//
// Run: build/release/tests/bench/bench_smtp [--messages N] [--in-flight M] [--plain]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/core/clock.h"
#include "daemon/dispatch/http_client.h"
#include "daemon/dispatch/smtp_channel.h"
#include "tests/support/smtp_receiver.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using treve::adapters::OutboundDelivery;
using treve::adapters::Verdict;

struct Options {
  std::size_t messages = 2000;
  std::size_t in_flight = 32;
  bool tls = true;
};

struct Delivery {
  std::string id;
  std::string recipient;
  std::string body;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--messages") {
      o.messages = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--in-flight") {
      o.in_flight = std::max<std::size_t>(1, std::strtoull(next().c_str(), nullptr, 10));
    } else if (a == "--plain") {
      o.tls = false;
    } else {
      std::fprintf(stderr, "usage: bench_smtp [--messages N] [--in-flight M] [--plain]\n");
      return 2;
    }
  }

  treve::test::SmtpReceiverOptions relay_options;
  relay_options.tls = o.tls;
  if (o.tls) {
    relay_options.username = "treve";
    relay_options.password = "bench-pass";
  }
  std::unique_ptr<treve::test::SmtpReceiver> relay;
  try {
    relay = std::make_unique<treve::test::SmtpReceiver>(relay_options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_smtp: %s\n", e.what());
    return 1;
  }

  treve::config::Sink sink;
  sink.name = "mail";
  sink.type = "smtp";
  sink.url = relay->url();
  sink.starttls =
      o.tls ? treve::config::Sink::StartTls::required : treve::config::Sink::StartTls::off;
  sink.username = relay_options.username;
  sink.password = relay_options.password;
  sink.from = "Collège Jean Moulin <notifications@college.example.fr>";
  sink.ca_file = relay->ca_file();
  sink.timeout = 10s;

  std::vector<Delivery> deliveries(o.messages);
  for (std::size_t i = 0; i < o.messages; ++i) {
    deliveries[i].id = "dlv_" + std::to_string(100000 + i);
    deliveries[i].recipient = "u-" + std::to_string(i);
    deliveries[i].body =
        R"({"id":"msg-)" + std::to_string(i) +
        R"(","establishment":"0250001R","category":"grade","recipients":[{"id":")" +
        deliveries[i].recipient + R"(","role":"parent","channels":{"email":["parent)" +
        std::to_string(i) +
        R"(@example.fr"]}}],"created_at":"2026-11-27T21:14:03+01:00","title":"Nouvelle note en mathématiques","payload":{"link":"https://ent.example.fr/notes/)" +
        std::to_string(i) + R"("}})";
  }

  boost::asio::io_context ioc;
  treve::core::SystemClock clock;
  treve::dispatch::HttpClient http(ioc, {});
  treve::dispatch::SmtpChannel channel(sink, {ioc, http, clock});

  std::size_t next = 0, finished = 0, delivered = 0;
  std::string first_error;
  std::function<void()> send_next = [&] {
    const Delivery& d = deliveries[next++];
    OutboundDelivery view;
    view.delivery_id = d.id;
    view.source = "ent";
    view.event_id = d.id;
    view.establishment = "0250001R";
    view.category = "grade";
    view.recipient = d.recipient;
    view.role = "parent";
    view.event_body = d.body;
    view.received_at = "2026-11-27T21:14:03+01:00";
    view.released_at = "2026-11-28T07:00:00+01:00";
    channel.send(std::span(&view, 1), false, [&](treve::dispatch::ChannelResult r) {
      ++finished;
      if (r.verdict == Verdict::delivered)
        ++delivered;
      else if (first_error.empty())
        first_error = r.error;
      if (next < deliveries.size())
        send_next();
    });
  };

  // The heartbeat: how late a 1 ms timer fires is how long the io thread was busy elsewhere.
  boost::asio::steady_timer heartbeat(ioc);
  Clock::duration longest_stall{0};
  std::function<void()> beat = [&] {
    const auto due = Clock::now() + 1ms;
    heartbeat.expires_at(due);
    heartbeat.async_wait([&, due](const boost::system::error_code& ec) {
      if (ec)
        return;
      longest_stall = std::max(longest_stall, Clock::now() - due);
      if (finished < deliveries.size())
        beat();
    });
  };
  const auto cpu = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };

  const double cpu_before = cpu();
  const auto start = Clock::now();
  beat();
  for (std::size_t i = 0; i < o.in_flight && next < deliveries.size(); ++i)
    send_next();
  const auto deadline = start + 10min;
  while (finished < deliveries.size() && Clock::now() < deadline) {
    if (ioc.stopped())
      ioc.restart();
    ioc.run_one_for(100ms);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu_seconds = cpu() - cpu_before;
  heartbeat.cancel();

  std::printf("%-10s %10s %10s %10s %12s %12s %14s %18s\n", "relay", "messages", "in flight",
              "seconds", "messages/s", "connections", "CPU/msg (us)", "longest stall (ms)");
  std::printf("%-10s %10zu %10zu %10.2f %12.0f %12d %14.0f %18.1f\n", o.tls ? "starttls" : "plain",
              delivered, o.in_flight, seconds, static_cast<double>(delivered) / seconds,
              relay->connections(),
              cpu_seconds / static_cast<double>(std::max<std::size_t>(delivered, 1)) * 1e6,
              std::chrono::duration<double, std::milli>(longest_stall).count());
  const std::size_t saved = relay->messages().size();
  if (delivered != o.messages || saved != o.messages) {
    std::fprintf(stderr,
                 "bench_smtp: %zu of %zu delivered, %zu saved by the relay; first error: %s\n",
                 delivered, o.messages, saved, first_error.c_str());
    return 1;
  }
  return 0;
}
