// What TLS on the ingest listener costs: the real `treve serve`, once plain and once with TLS
// (a P-256 certificate from a CA made with the `openssl` command), driven by T client threads
// of blocking Beast clients in this process. Prints figures, not a test.
//
//   1. new connections: each request on a fresh connection (GET /healthz), so each pays a TCP
//      set-up, and with TLS a full handshake: connections/s;
//   2. keep-alive: GET /healthz on one connection per thread: requests/s;
//   3. events: POST /v1/events on one connection per thread (each event held, so each waits for
//      its commit): events/s.
//
// The daemon and the clients share the machine's cores; the daemon's CPU time per phase is
// printed beside each figure.
//
// Run: build/release/tests/bench/bench_tls [--seconds S] [--threads T]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "daemon/core/digest.h"
#include "tests/bench/bench_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"

namespace treve::bench {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

constexpr const char* kToken = "bench-tls-token";

struct Options {
  int seconds = 5;
  int threads = 4;
};

// One client connection, plain or TLS; reconnects when asked to.
class Connection {
 public:
  Connection(net::io_context& ioc, unsigned short port, net::ssl::context* tls)
      : ioc_(ioc), endpoint_(net::ip::make_address("127.0.0.1"), port), tls_(tls) {}

  void connect() {
    if (tls_) {
      stream_.emplace(ioc_, *tls_);
      stream_->next_layer().connect(endpoint_);
      stream_->handshake(net::ssl::stream_base::client);
    } else {
      socket_.emplace(ioc_);
      socket_->connect(endpoint_);
    }
  }
  void close() {
    boost::system::error_code ignored;
    if (stream_)
      stream_->next_layer().close(ignored);
    if (socket_)
      socket_->close(ignored);
    stream_.reset();
    socket_.reset();
    buffer_.clear();
  }
  // One request and its answer; the status.
  unsigned exchange(bhttp::request<bhttp::string_body>& req) {
    bhttp::response<bhttp::string_body> res;
    if (stream_) {
      bhttp::write(*stream_, req);
      bhttp::read(*stream_, buffer_, res);
    } else {
      bhttp::write(*socket_, req);
      bhttp::read(*socket_, buffer_, res);
    }
    return res.result_int();
  }

 private:
  net::io_context& ioc_;
  tcp::endpoint endpoint_;
  net::ssl::context* tls_;
  std::optional<net::ssl::stream<tcp::socket>> stream_;
  std::optional<tcp::socket> socket_;
  boost::beast::flat_buffer buffer_;
};

struct Figure {
  double per_second = 0;
  long long errors = 0;
  double daemon_cpu = 0;  // seconds of the daemon's CPU during the phase
};

// Runs `threads` clients for `seconds`, each doing `one` in a loop; counts what succeeded.
Figure run_phase(const Options& o, pid_t daemon,
                 const std::function<bool(Connection&, long long)>& one, unsigned short port,
                 net::ssl::context* tls) {
  std::atomic<long long> done{0}, errors{0};
  std::atomic<bool> stop{false};
  const double cpu_before = cpu_seconds(daemon);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      net::io_context ioc;
      Connection c(ioc, port, tls);
      long long i = 0;
      bool connected = false;
      while (!stop.load(std::memory_order_relaxed)) {
        try {
          if (!connected) {
            c.connect();
            connected = true;
          }
          if (one(c, static_cast<long long>(t) * 1'000'000'000LL + i++))
            done.fetch_add(1, std::memory_order_relaxed);
          else
            errors.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception&) {
          errors.fetch_add(1, std::memory_order_relaxed);
          c.close();
          connected = false;
        }
      }
      c.close();
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(o.seconds));
  stop = true;
  for (auto& t : threads)
    t.join();
  const double took = seconds_between(start, Clock::now());
  return Figure{static_cast<double>(done) / took, errors, cpu_seconds(daemon) - cpu_before};
}

bhttp::request<bhttp::string_body> healthz() {
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/healthz", 11};
  req.set(bhttp::field::host, "127.0.0.1");
  return req;
}

std::string event(long long n) {
  const std::string id = "tls-" + std::to_string(n);
  return R"({"id":")" + id +
         R"(","establishment":"0750654D","category":"message","recipients":[{"id":"r-)" + id +
         R"(","role":"student"}],"created_at":"2026-11-27T21:14:03+01:00","title":"Nouveau message","payload":{"n":1}})";
}

std::string config(const test::TempDir& dir, const std::string& name, bool tls) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  const int gap = (utc.tm_hour + 12) % 24;
  char start[8], end[8];
  std::snprintf(start, sizeof start, "%02d:01", gap);
  std::snprintf(end, sizeof end, "%02d:00", gap);
  std::string c =
      "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"unix:" + dir.file(name + ".sock") +
      "\"\nstate_dir = \"" + dir.file(name + "-state") + "\"\n";
  if (tls)
    c += "tls_certificate = \"" + dir.file("server.pem") + "\"\ntls_key = \"" +
         dir.file("server.key") + "\"\n";
  c += "\n[policy]\ntimezone = \"UTC\"\nholidays = []\n\n[[policy.quiet]]\n"
       "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nstart = \"" +
       std::string(start) + "\"\nend = \"" + end +
       "\"\n\n[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" + core::sha256_hex(kToken) +
       "\"\n";
  return dir.write(name + ".toml", c);
}

int run(const Options& o) {
  test::TempDir dir("treve-bench-tls");
  const test::TestCa ca = test::make_test_ca(dir);
  net::ssl::context client_tls(net::ssl::context::tls_client);
  client_tls.load_verify_file(ca.ca_file);
  client_tls.set_verify_mode(net::ssl::verify_peer);

  std::printf("TLS on the ingest listener: %d client threads, %d s per phase\n", o.threads,
              o.seconds);
  std::printf("%-10s %-16s %14s %8s %14s\n", "listener", "phase", "per second", "errors",
              "daemon CPU s");
  for (const bool tls : {false, true}) {
    const std::string name = tls ? "tls" : "plain";
    Daemon daemon(TREVE_BINARY, config(dir, name, tls), dir.file(name + ".log"));
    if (!daemon.spawn()) {
      return 1;
    }
    const unsigned short port = daemon.wait_ready(std::chrono::seconds(30));
    if (port == 0) {
      daemon.print_tail(20);
      return 1;
    }
    net::ssl::context* client = tls ? &client_tls : nullptr;
    const auto print = [&](const char* phase, const Figure& f) {
      std::printf("%-10s %-16s %14.0f %8lld %14.2f\n", name.c_str(), phase, f.per_second, f.errors,
                  f.daemon_cpu);
    };
    print("new connections", run_phase(
                                 o, daemon.pid(),
                                 [](Connection& c, long long) {
                                   auto req = healthz();
                                   req.keep_alive(false);
                                   const bool ok = c.exchange(req) == 200;
                                   c.close();
                                   c.connect();
                                   return ok;
                                 },
                                 port, client));
    print("keep-alive GET", run_phase(
                                o, daemon.pid(),
                                [](Connection& c, long long) {
                                  auto req = healthz();
                                  return c.exchange(req) == 200;
                                },
                                port, client));
    print("keep-alive POST",
          run_phase(
              o, daemon.pid(),
              [](Connection& c, long long n) {
                bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/events", 11};
                req.set(bhttp::field::host, "127.0.0.1");
                req.set(bhttp::field::content_type, "application/json");
                req.set(bhttp::field::authorization, std::string("Bearer ") + kToken);
                req.body() = event(n);
                req.prepare_payload();
                return c.exchange(req) == 202;
              },
              port, client));
    daemon.stop();
  }
  return 0;
}

}  // namespace
}  // namespace treve::bench

int main(int argc, char** argv) {
  treve::bench::Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc)
      o.seconds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc)
      o.threads = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_tls [--seconds S] [--threads T]\n");
      return 2;
    }
  }
  return treve::bench::run(o);
}
