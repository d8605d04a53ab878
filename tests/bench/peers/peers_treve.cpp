// trêve's side of tests/bench/peers/run: writes a configuration, starts the real `treve serve`
// with its clock set D seconds before a weekday's 07:00 in Paris (the end of the default quiet
// window), then ingests the workload the peers get too and leaves the release to the daemon.
//
//   1. single: N events (event i to recipient u-(i % 10000), a message to a student, the
//      recipient's sequence number in the payload) over 32 keep-alive connections, POST
//      /v1/events; connection k sends only the recipients r with r % 32 == k, in order, one
//      request at a time, so each recipient's order is that of its sequence numbers;
//   2. bulk: N more events, POST /v1/events:batch, 1000 events per batch (NDJSON), over 4
//      connections, connection k sending only the recipients r with r % 4 == k.
//
// Every event is held to the same instant T (07:00:00 Europe/Paris on the daemon's clock); the
// webhook sink (batch_max B) is the run's nginx. Protocol with the orchestrator (peers.py), one
// JSON object per line on stdout:
//   {"event":"ready","pid":P,"T_ms":T}            T in real epoch milliseconds
//   {"event":"ingested",...}                       the two phases' figures
// then the daemon keeps running until stdin is closed, and the last line is
//   {"event":"stopped","hwm_kb":K}
//
// Run: bench_peers_treve --dir DIR --sink URL [--events N] [--batch-max B] [--hold S]
//      [--max-in-flight M] [--treve PATH]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "daemon/core/digest.h"
#include "tests/bench/answer_count.h"
#include "tests/bench/bench_process.h"

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using treve::bench::Clock;
using treve::bench::Daemon;
using treve::bench::process_memory;
using treve::bench::seconds_between;

constexpr const char* kToken = "peers-bench-token-7c3e19a0";
constexpr const char* kUai = "0750654D";
constexpr long long kRecipients = 10'000;
// A Tuesday outside school holidays' public days: the default window Mon-Thu 20:00-07:00
// ends at 07:00:00 local (UTC+01:00 in December).
constexpr const char* kReleaseLocal = "2026-12-08T07:00:00+01:00";
constexpr long long kReleaseUtcSeconds = 1796709600;  // 2026-12-08T06:00:00Z

using treve::core::sha256_hex;

std::string rfc3339_utc(long long epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  long long events = 100'000;
  int batch_max = 1;
  int max_in_flight = 32;
  double hold = 0;  // seconds from the daemon's start to T; 0: 30 + events / 1000
  std::string dir, sink;
  std::string binary = TREVE_BINARY;
};

// Events of a phase: `prefix` "s" (single) or "b" (bulk); index i goes to recipient i % 10000,
// its sequence number for that recipient counting the single phase's events first.
struct Workload {
  long long n;
  std::string created_at;
  long long single_count(long long r) const {  // single-phase events of recipient r
    return r < n ? (n - r + kRecipients - 1) / kRecipients : 0;
  }
  void append(std::string& out, char prefix, long long i) const {
    const long long r = i % kRecipients;
    const long long seq = (prefix == 's' ? 0 : single_count(r)) + i / kRecipients;
    char buf[512];
    const int len = std::snprintf(
        buf, sizeof buf,
        "{\"id\":\"%c-%lld\",\"establishment\":\"%s\",\"category\":\"message\","
        "\"recipients\":[{\"id\":\"u-%05lld\",\"role\":\"student\"}],\"created_at\":\"%s\","
        "\"title\":\"Nouveau message\",\"payload\":{\"seq\":%lld,\"thread\":\"t-%lld\"}}",
        prefix, i, kUai, r, created_at.c_str(), seq, i);
    out.append(buf, static_cast<std::size_t>(len));
  }
};

struct Result {
  long long requests = 0, events = 0, accepted = 0, non_202 = 0, transport_errors = 0;
  std::map<int, long long> statuses;
};

// One keep-alive connection sending its own list of requests, one at a time, in order.
class Lane : public std::enable_shared_from_this<Lane> {
 public:
  Lane(net::io_context& ioc, tcp::endpoint ep, const Workload& w, std::vector<long long> events,
       char prefix, int per_request, Result& result)
      : socket_(ioc),
        ep_(ep),
        w_(w),
        events_(std::move(events)),
        prefix_(prefix),
        per_request_(per_request),
        result_(result) {}

  void start() {
    socket_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        ++self->result_.transport_errors;
        std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
        return;
      }
      self->socket_.set_option(tcp::no_delay(true));
      self->send();
    });
  }

 private:
  void send() {
    if (next_ >= events_.size()) {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    body_.clear();
    in_request_ = 0;
    const bool batch = per_request_ > 1;
    while (next_ < events_.size() && in_request_ < per_request_) {
      w_.append(body_, prefix_, events_[next_++]);
      if (batch)
        body_ += '\n';
      ++in_request_;
    }
    request_ = std::string("POST ") + (batch ? "/v1/events:batch" : "/v1/events") +
               " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken +
               "\r\nContent-Type: " + (batch ? "application/x-ndjson" : "application/json") +
               "\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n" + body_;
    net::async_write(socket_, net::buffer(request_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec)
                         return self->failed("write", ec);
                       self->parser_.emplace();
                       self->parser_->body_limit(256 << 20);
                       bhttp::async_read(self->socket_, self->buffer_, *self->parser_,
                                         [self](beast::error_code ec2, std::size_t) {
                                           if (ec2)
                                             return self->failed("read", ec2);
                                           self->received();
                                         });
                     });
  }

  void received() {
    const auto& res = parser_->get();
    const int status = static_cast<int>(res.result_int());
    ++result_.requests;
    result_.events += in_request_;
    treve::bench::count_answer(result_, status, res.body(), per_request_ != 1, in_request_);
    if (!res.keep_alive()) {
      std::fprintf(stderr, "the daemon closed a keep-alive connection\n");
      ++result_.transport_errors;
      return;
    }
    send();
  }

  void failed(const char* what, beast::error_code ec) {
    if (++result_.transport_errors <= 3)
      std::fprintf(stderr, "%s: %s\n", what, ec.message().c_str());
    result_.non_202 += in_request_;
  }

  tcp::socket socket_;
  tcp::endpoint ep_;
  const Workload& w_;
  std::vector<long long> events_;
  std::size_t next_ = 0;
  char prefix_;
  int per_request_;
  Result& result_;
  int in_request_ = 0;
  std::string body_, request_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
};

// Runs one phase: `lanes` connections, lane k taking the events whose recipient r has
// r % lanes == k, in index order. Returns its figures and the seconds it took.
std::pair<Result, double> run_phase(unsigned short port, const Workload& w, char prefix, int lanes,
                                    int per_request) {
  Result result;
  net::io_context ioc(1);
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  std::vector<std::vector<long long>> split(static_cast<std::size_t>(lanes));
  for (long long i = 0; i < w.n; ++i)
    split[static_cast<std::size_t>((i % kRecipients) % lanes)].push_back(i);
  const auto start = Clock::now();
  for (auto& events : split)
    std::make_shared<Lane>(ioc, ep, w, std::move(events), prefix, per_request, result)->start();
  ioc.run();
  return {result, seconds_between(start, Clock::now())};
}

std::string statuses_json(const Result& r) {
  std::string s = "{";
  for (const auto& [status, n] : r.statuses) {
    if (s.size() > 1)
      s += ',';
    s += "\"" + std::to_string(status) + "\":" + std::to_string(n);
  }
  return s + "}";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--events")
      o.events = std::atoll(value().c_str());
    else if (a == "--batch-max")
      o.batch_max = std::atoi(value().c_str());
    else if (a == "--max-in-flight")
      o.max_in_flight = std::atoi(value().c_str());
    else if (a == "--hold")
      o.hold = std::atof(value().c_str());
    else if (a == "--dir")
      o.dir = value();
    else if (a == "--sink")
      o.sink = value();
    else if (a == "--treve")
      o.binary = value();
    else {
      std::fprintf(
          stderr,
          "usage: bench_peers_treve --dir DIR --sink URL [--events N] [--batch-max B]\n"
          "                         [--hold SECONDS] [--max-in-flight M] [--treve PATH]\n");
      return 2;
    }
  }
  if (o.dir.empty() || o.sink.empty() || o.events < 1 || o.batch_max < 1) {
    std::fprintf(stderr, "bench_peers_treve: --dir and --sink are required\n");
    return 2;
  }
  if (o.hold <= 0)
    o.hold = 30.0 + static_cast<double>(o.events) / 1000.0;
  const auto hold_ms = static_cast<long long>(o.hold * 1000.0);

  const fs::path root = o.dir;
  fs::create_directories(root);
  const std::string clock_start_s = rfc3339_utc(kReleaseUtcSeconds - (hold_ms + 999) / 1000);
  const long long clock_start_ms = (kReleaseUtcSeconds - (hold_ms + 999) / 1000) * 1000;
  // The signing secret, readable by its owner only (as check-config asks).
  const fs::path secret = root / "sink.secret";
  fs::copy_file(fs::path(TREVE_SOURCE_DIR) / "systemd/ent-push.secret", secret,
                fs::copy_options::overwrite_existing);
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  {
    std::ofstream c(root / "treve.toml", std::ios::trunc);
    c << "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"unix:"
      << (root / "admin.sock").string() << "\"\nstate_dir = \"" << (root / "state").string()
      << "\"\n\n"
      << "[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" << sha256_hex(kToken) << "\"\n\n"
      << "[[sinks]]\nname = \"sink\"\ntype = \"webhook\"\nurl = \"" << o.sink
      << "\"\nsecret_file = \"" << secret.string() << "\"\n"
      << "default = true\nbatch_max = " << o.batch_max << "\nmax_in_flight = " << o.max_in_flight
      << "\n\n[testing]\nclock_start = \"" << clock_start_s << "\"\n";
  }
  Daemon daemon(o.binary, (root / "treve.toml").string(), (root / "daemon.log").string());
  if (!daemon.spawn()) {
    std::fprintf(stderr, "bench_peers_treve: cannot start %s\n", o.binary.c_str());
    return 1;
  }
  const unsigned short port = daemon.wait_ready(std::chrono::seconds(30));
  if (!port) {
    std::fprintf(stderr, "bench_peers_treve: the daemon did not become ready; its last lines:\n");
    daemon.print_tail(20);
    return 1;
  }
  // The daemon's clock is the real one plus offset_ms: T (07:00 local) happens, in real time,
  // at T - offset_ms.
  const std::string clock_line = daemon.find_line("event=serve.test_clock");
  const auto at = clock_line.find("offset_ms=");
  if (at == std::string::npos) {
    std::fprintf(stderr,
                 "bench_peers_treve: no serve.test_clock line (a build without test hooks?)\n");
    daemon.print_tail(20);
    return 1;
  }
  const long long offset_ms = std::atoll(clock_line.c_str() + at + 10);
  const long long release_real_ms = kReleaseUtcSeconds * 1000 - offset_ms;
  std::printf("{\"event\":\"ready\",\"pid\":%d,\"T_ms\":%lld,\"release_local\":\"%s\"}\n",
              daemon.pid(), release_real_ms, kReleaseLocal);
  std::fflush(stdout);

  Workload w{o.events, rfc3339_utc(clock_start_ms / 1000)};
  auto [single, single_s] = run_phase(port, w, 's', 32, 1);
  auto [bulk, bulk_s] = run_phase(port, w, 'b', 4, 1000);
  const long long ingested_ms = now_ms();
  std::printf(
      "{\"event\":\"ingested\",\"single_events\":%lld,\"single_s\":%.3f,\"single_eps\":%.1f,"
      "\"single_non_202\":%lld,\"single_statuses\":%s,\"bulk_events\":%lld,\"bulk_s\":%.3f,"
      "\"bulk_eps\":%.1f,\"bulk_non_202\":%lld,\"bulk_statuses\":%s,\"transport_errors\":%lld,"
      "\"ingested_ms\":%lld,\"client_hwm_kb\":%lld}\n",
      single.accepted, single_s, static_cast<double>(single.accepted) / single_s, single.non_202,
      statuses_json(single).c_str(), bulk.accepted, bulk_s,
      static_cast<double>(bulk.accepted) / bulk_s, bulk.non_202, statuses_json(bulk).c_str(),
      single.transport_errors + bulk.transport_errors, ingested_ms,
      process_memory(getpid()).hwm_kb);
  std::fflush(stdout);

  // The release is the daemon's: wait until told the sink has everything (stdin closed).
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  const long long hwm = process_memory(daemon.pid()).hwm_kb;
  // Log lines are "TIME LEVEL event=…"; the test clock's own warning is expected.
  const long long errors = daemon.count_lines(" error ") + daemon.count_lines(" critical ");
  const long long warnings = daemon.count_lines(" warning ") -
                             daemon.count_lines(" warning event=serve.test_clock") -
                             daemon.count_lines("test hooks are in use");
  daemon.stop();
  std::printf("{\"event\":\"stopped\",\"hwm_kb\":%lld,\"error_lines\":%lld,\"warn_lines\":%lld}\n",
              hwm, errors, warnings);
  return 0;
}
