// Web Push: what a message costs trêve, and how many go out per second. Prints figures, not a
// test.
//
//   1. In process, one thread, no I/O: the message of a delivery (web_push_message), its
//      encryption (RFC 8291: a fresh P-256 key, ECDH, HKDF, AES-128-GCM), a VAPID token
//      (an ES256 signature, made once per push service origin and reused by the channel), and
//      the whole request as the channel builds it (message, encryption, cached token).
//   2. End to end: --messages deliveries (one subscription each, --subscriptions browsers in
//      turn) through WebPushChannel on a real io_context and dispatch::HttpClient, at most
//      --in-flight at once, to tests/channels/push_service.mjs over HTTPS (HTTP/2). Twice: the
//      stand-in verifying every token and decrypting every body (as in the tests), then with
//      --no-verify (it reads the body and answers 201), so that Node.js's own verification is
//      not what is measured. This process's CPU time per message is printed with each.
//
// Run: build/release/tests/bench/bench_web_push [--messages N] [--subscriptions S]
//      [--in-flight M] [--modes verify,no-verify]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include "adapters/outbound/vapid.h"
#include "adapters/outbound/web_push.h"
#include "adapters/outbound/web_push_message.h"
#include "adapters/outbound/web_push_request.h"
#include "daemon/core/clock.h"
#include "daemon/dispatch/http_client.h"
#include "daemon/dispatch/web_push_channel.h"
#include "tests/channels/push_service.h"
#include "tests/support/test_ca.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using treve::adapters::OutboundDelivery;
using Steady = std::chrono::steady_clock;

struct Options {
  int messages = 10'000;
  int subscriptions = 100;
  int in_flight = 64;
  std::vector<std::string> modes = {"verify", "no-verify"};
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Microseconds per call of `f`, over `n` calls after a few to warm up.
double micros_per_call(int n, const std::function<void()>& f) {
  for (int i = 0; i < 50; ++i)
    f();
  const auto start = Steady::now();
  for (int i = 0; i < n; ++i)
    f();
  return std::chrono::duration<double, std::micro>(Steady::now() - start).count() / n;
}

std::string event_body(int i, const json::object& subscription) {
  json::object event = {
      {"id", "msg-" + std::to_string(i)},
      {"title", "Nouvelle note en mathématiques"},
      {"payload", {{"eleve", "Léa"}, {"note", "15/20"}, {"devoir", "Contrôle de géométrie"}}},
      {"recipients", json::array{json::object{{"id", "u-" + std::to_string(i)},
                                              {"role", "parent"},
                                              {"channels", {{"webpush", {subscription}}}}}}}};
  return json::serialize(event);
}

OutboundDelivery delivery(const std::string& id, const std::string& recipient,
                          const std::string& body) {
  return {.delivery_id = id,
          .source = "ent",
          .event_id = "msg-1",
          .establishment = "0250001R",
          .category = "grade",
          .recipient = recipient,
          .role = "parent",
          .event_body = body,
          .received_at = "2026-11-27T21:14:03+01:00",
          .released_at = "2026-11-28T07:00:00+01:00"};
}

void in_process(const std::string& vapid_pem, const treve::test::PushService& service) {
  const json::object& s = service.subscriptions().front();
  const treve::adapters::PushSubscription subscription{
      std::string(s.at("endpoint").as_string()),
      std::string(s.at("keys").as_object().at("p256dh").as_string()),
      std::string(s.at("keys").as_object().at("auth").as_string())};
  const std::string body =
      event_body(0, json::object{{"endpoint", s.at("endpoint")}, {"keys", s.at("keys")}});
  const OutboundDelivery d = delivery("dlv_0123456789abcdef0123456789abcdef", "u-0", body);
  const std::string plaintext = *treve::adapters::web_push_message(d);
  auto key = treve::adapters::VapidKey::from_pem(vapid_pem);
  if (!key) {
    std::fprintf(stderr, "VAPID key: %s\n", key.error().c_str());
    std::exit(1);
  }
  const treve::adapters::WebPushRequests requests(
      std::make_shared<const treve::adapters::VapidKey>(*key), {.subject = "mailto:a@b.example"});
  const std::string token = *requests.authorization(service.origin(), 1'800'000'000);

  std::printf("in process, one thread, no I/O (a %zu-byte message):\n", plaintext.size());
  std::printf("  message (web_push_message)      %8.1f us\n",
              micros_per_call(20'000, [&] { (void)treve::adapters::web_push_message(d); }));
  const double encrypt = micros_per_call(5'000, [&] {
    (void)treve::adapters::web_push_encrypt(plaintext, subscription.p256dh, subscription.auth);
  });
  std::printf("  encryption (web_push_encrypt)   %8.1f us  (%.0f messages/s)\n", encrypt,
              1e6 / encrypt);
  std::printf("  VAPID token (one per origin)    %8.1f us\n", micros_per_call(5'000, [&] {
                (void)requests.authorization(service.origin(), 1'800'000'000);
              }));
  const double request = micros_per_call(
      5'000, [&] { (void)requests.build(plaintext, d.delivery_id, false, subscription, token); });
  std::printf("  request, token cached (build)   %8.1f us  (%.0f messages/s)\n", request,
              1e6 / request);
}

void end_to_end(const Options& o, const std::string& vapid_pem, const std::string& ca_file,
                const treve::test::PushService& service, const std::string& mode) {
  std::vector<std::string> bodies, recipients, ids;
  for (int i = 0; i < o.subscriptions; ++i) {
    const json::object& s = service.subscriptions()[static_cast<std::size_t>(i)];
    bodies.push_back(event_body(i, {{"endpoint", s.at("endpoint")}, {"keys", s.at("keys")}}));
    recipients.push_back("u-" + std::to_string(i));
  }
  for (int i = 0; i < o.messages; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "dlv_%032x", i);
    ids.emplace_back(id);
  }

  treve::config::Sink sink;
  sink.name = "push";
  sink.type = "webpush";
  sink.vapid_key = vapid_pem;
  sink.subject = "mailto:dpo@ent.example";
  sink.ca_file = ca_file;
  boost::asio::io_context ioc;
  treve::dispatch::HttpClient http(ioc, {});
  treve::core::SystemClock clock;
  treve::dispatch::WebPushChannel channel(sink, {ioc, http, clock});

  int next = 0, done = 0, delivered = 0, other = 0;
  std::string first_error;
  std::function<void()> send_next = [&] {
    const int i = next++;
    const auto s = static_cast<std::size_t>(i % o.subscriptions);
    const OutboundDelivery d = delivery(ids[static_cast<std::size_t>(i)], recipients[s], bodies[s]);
    channel.send({&d, 1}, false, [&](treve::dispatch::ChannelResult r) {
      ++done;
      if (r.verdict == treve::adapters::Verdict::delivered) {
        ++delivered;
      } else if (other++ == 0) {
        first_error = r.error;
      }
      if (next < o.messages)
        send_next();
    });
  };
  const double cpu_start = cpu_seconds();
  const auto start = Steady::now();
  for (int i = 0; i < o.in_flight && next < o.messages; ++i)
    send_next();
  while (done < o.messages)
    ioc.run_one_for(1s);
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  const double cpu = cpu_seconds() - cpu_start;
  std::printf(
      "end to end, stand-in %-9s: %d messages in %.2f s: %.0f messages/s; trêve's CPU %.1f us "
      "per message; %d delivered\n",
      mode.c_str(), o.messages, seconds, o.messages / seconds, cpu * 1e6 / o.messages, delivered);
  if (other > 0) {
    std::printf("  %d not delivered, the first: %s\n", other, first_error.c_str());
    std::printf("  the stand-in said: %s\n", service.errors().substr(0, 2000).c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--messages") {
      o.messages = std::atoi(argv[i + 1]);
    } else if (arg == "--subscriptions") {
      o.subscriptions = std::atoi(argv[i + 1]);
    } else if (arg == "--in-flight") {
      o.in_flight = std::atoi(argv[i + 1]);
    } else if (arg == "--modes") {
      o.modes.clear();
      std::stringstream modes(argv[i + 1]);
      for (std::string m; std::getline(modes, m, ',');)
        o.modes.push_back(m);
    } else {
      std::fprintf(stderr, "unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  if (auto missing = treve::test::push_service_missing(TREVE_SOURCE_DIR)) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  treve::test::TempDir dir("treve-bench-webpush");
  const treve::test::TestCa made = treve::test::make_test_ca(dir);
  const treve::test::TestCa* ca = &made;
  const auto key = treve::test::run(treve::test::command(
      treve::test::kOpenssl,
      {"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir.file("vapid.pem")}));
  if (key.status != 0) {
    std::fprintf(stderr, "openssl ecparam failed: %s\n", key.err.c_str());
    return 1;
  }
  const std::string vapid_pem = treve::test::read_whole_file(dir.file("vapid.pem"));

  for (std::size_t m = 0; m < o.modes.size(); ++m) {
    treve::test::TempDir service_dir("treve-bench-webpush-service");
    treve::test::PushService::Options options;
    options.count = o.subscriptions;
    options.verify = o.modes[m] != "no-verify";
    options.record = false;
    options.application_server_key = dir.file("vapid.pem");
    treve::test::PushService service(TREVE_SOURCE_DIR, service_dir, *ca, options);
    if (m == 0)
      in_process(vapid_pem, service);
    end_to_end(o, vapid_pem, ca->ca_file, service, o.modes[m]);
  }
  return 0;
}
