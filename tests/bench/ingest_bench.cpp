// The ingest path end to end: the real `treve serve` on loopback, driven by asynchronous
// Boost.Beast clients in this process (one io_context thread). Prints figures, not a test.
//
//   1. single-event POST /v1/events over 32 keep-alive connections: events/s, latency
//      percentiles (from the write of the request to the whole response), non-202 answers;
//   2. POST /v1/events:batch, batches of 1000 events over 4 connections: events/s;
//   3. a fresh daemon made to hold one million deliveries (posted by batch): its VmRSS and
//      VmHWM, then the restart time on that state_dir (spawn -> serve.ready, spawn -> the first
//      200 from GET /healthz).
//
// The daemon and this load generator share the machine's cores: the figures are for both
// together, and the CPU each used is printed beside them.
//
// Run: build/release/tests/bench/bench_ingest [--events N] [--duration S] [--skip-million]
//      [--connections C] [--batch-events N] [--batch-size B] [--batch-connections C]
//      [--million D] [--cold-restart] [--perf-dir DIR] [--perf-call-graph dwarf] [--dir BASE]
//      [--keep] [--format canonical|cloudevents|entcore-timeline]
//      [--directory users:cached|users:cold] [--directory-delay-ms MS] [--user-pool N]
// --format cloudevents sends the same events as CloudEvents (fr.treve.notification.v1 carrying
// each canonical event as data) to a connector of that format: phase 1 in structured mode
// (application/cloudevents+json), phase 2 as batched JSON arrays
// (application/cloudevents-batch+json).
// --format entcore-timeline sends as many Open ENT NG timeline notifications (MESSAGERIE
// SEND-MESSAGE, two recipients each, a unique _id) to an entcore-timeline connector: phase 1
// one per POST /v1/events, phase 2 as NDJSON batches. This process serves the connector's
// directory (loopback, bearer token, its own threads): every user a Student of one UAI,
// answered after --directory-delay-ms (default 2) per request; its requests and users per
// request are printed for each phase. --directory users:cached (the default) draws the
// recipients from --user-pool users (default 10,000), all looked up by a warm-up pass of
// batches first, so that the measured phases are answered from the daemon's cache;
// users:cold names two users never seen before in every event, so every event asks the
// directory.
// --cold-restart also restarts after dropping the page cache (root only: it writes
// /proc/sys/vm/drop_caches, which slows every process on the machine for a moment).
// --perf-dir attaches `perf record -g -p PID` to the daemon during each phase and leaves
// DIR/<phase>.data for `perf report --stdio -i DIR/<phase>.data`; the release build has no
// frame pointers, so `--perf-call-graph dwarf` gives whole call chains (at more overhead).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "daemon/core/digest.h"
#include "tests/bench/answer_count.h"
#include "tests/bench/bench_process.h"
#include "tests/bench/directory_server.h"

namespace {

using treve::bench::Daemon;
using treve::bench::DirectoryServer;
using treve::bench::Memory;
using treve::bench::process_memory;
using treve::bench::seconds_between;

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "bench-token-4f1c2a9e7b";
constexpr const char* kUai = "0750654D";
constexpr const char* kDirectoryToken = "bench-directory-token-9d2e71c04a";

using treve::core::sha256_hex;

// "1,234,567"
std::string grouped(double v) {
  std::string digits = std::to_string(static_cast<long long>(v + 0.5));
  std::string out;
  int n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-')
      out += ',';
    out += *it;
    ++n;
  }
  return {out.rbegin(), out.rend()};
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Events: realistic canonical events, deterministic from their index.

std::uint64_t mix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Category {
  const char* name;
  int weight;  // out of 100
  const char* title;
  const char* excerpt;
};

constexpr Category kCategories[] = {
    {"message", 30, "Nouveau message de Mme Lefèvre",
     "Bonjour, je vous rappelle que la sortie au musée d'Orsay aura lieu jeudi."},
    {"grade", 20, "Nouvelle note en mathématiques", "Contrôle n°3 : fonctions affines"},
    {"homework", 20, "Travail à faire pour lundi",
     "Exercices 12 à 17 page 84, rédiger proprement."},
    {"news", 9, "Actualité de l'établissement", "Le conseil d'administration s'est réuni mardi."},
    {"blog", 5, "Nouveau billet : classe de neige",
     "Les photos de la deuxième journée sont en ligne."},
    {"schedule", 5, "Modification d'emploi du temps", "Cours d'anglais déplacé en salle B204."},
    {"absence", 6, "Absence signalée", "Absence en cours de physique-chimie de 10h à 11h."},
    {"alert", 3, "Alerte : fermeture exceptionnelle", "L'établissement sera fermé demain matin."},
    {"other", 2, "Information", "Pensez à rapporter le coupon signé."},
};

class EventGenerator {
 public:
  explicit EventGenerator(std::string id_prefix) : prefix_(std::move(id_prefix)) {
    // created_at: now, UTC, with milliseconds.
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    created_at_ = std::string(buf) + fmt(".%03.0fZ", static_cast<double>(ms.count()));
  }

  // Appends event `i` as one line of JSON (no newline) and returns its number of recipients,
  // at most `max_recipients`.
  int append(std::string& out, long long i, int max_recipients = 3) const {
    const std::uint64_t h = mix(static_cast<std::uint64_t>(i) ^ 0x7265766552ULL);
    int w = static_cast<int>(h % 100);
    const Category* c = &kCategories[0];
    for (const Category& k : kCategories) {
      if (w < k.weight) {
        c = &k;
        break;
      }
      w -= k.weight;
    }
    const int recipients = std::min(max_recipients, 1 + static_cast<int>((h >> 8) % 3));
    const long long student = static_cast<long long>((h >> 16) % 250'000);
    const bool grade = std::strcmp(c->name, "grade") == 0;
    const bool urgent = std::strcmp(c->name, "alert") == 0 && ((h >> 40) & 1);
    char buf[1024];
    int n = std::snprintf(buf, sizeof buf,
                          "{\"id\":\"%s-%lld\",\"establishment\":\"%s\",\"category\":\"%s\","
                          "\"recipients\":[{\"id\":\"s-%06lld\",\"role\":\"student\"}",
                          prefix_.c_str(), i, kUai, c->name, student);
    out.append(buf, static_cast<std::size_t>(n));
    for (int p = 1; p < recipients; ++p) {
      n = grade ? std::snprintf(buf, sizeof buf,
                                ",{\"id\":\"p-%06lld-%d\",\"role\":\"parent\",\"of\":\"s-%06lld\"}",
                                student, p, student)
                : std::snprintf(buf, sizeof buf, ",{\"id\":\"p-%06lld-%d\",\"role\":\"parent\"}",
                                student, p);
      out.append(buf, static_cast<std::size_t>(n));
    }
    n = std::snprintf(buf, sizeof buf,
                      "],\"created_at\":\"%s\",\"urgent\":%s,\"title\":\"%s\","
                      "\"payload\":{\"url\":\"https://ent.example/%s/%lld\","
                      "\"author\":\"Mme Lefèvre\",\"excerpt\":\"%s\",\"class\":\"4e B\"}}",
                      created_at_.c_str(), urgent ? "true" : "false", c->title, c->name, i,
                      c->excerpt);
    out.append(buf, static_cast<std::size_t>(n));
    return recipients;
  }

 private:
  std::string prefix_;
  std::string created_at_;

 public:
  const std::string& prefix() const { return prefix_; }
};

// ---------------------------------------------------------------------------------------------
// The daemon as a child process.

struct CpuTimes {
  double user = 0, system = 0;
  double total() const { return user + system; }
};

CpuTimes process_cpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  CpuTimes t;
  if (close == std::string::npos)
    return t;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  // Fields after the command: state(3) ... utime(14) stime(15).
  std::vector<std::string> f;
  while (rest >> field && f.size() < 13)
    f.push_back(field);
  if (f.size() >= 13) {
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    t.user = std::stod(f[11]) / tick;
    t.system = std::stod(f[12]) / tick;
  }
  return t;
}

CpuTimes self_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return {static_cast<double>(u.ru_utime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec) / 1e6,
          static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6};
}

// Busy CPU seconds of the whole machine (all CPUs), from /proc/stat.
double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// `perf record -g -p PID` for the length of one phase.
class PerfRecorder {
 public:
  PerfRecorder(const std::string& dir, const std::string& call_graph, const std::string& phase,
               pid_t pid) {
    if (dir.empty())
      return;
    fs::create_directories(dir);
    data_ = dir + "/" + phase + ".data";
    std::string log = dir + "/" + phase + ".perf.log";
    std::vector<std::string> args = {"perf", "record", "-o", data_, "-p", std::to_string(pid)};
    if (call_graph.empty()) {
      args.push_back("-g");
    } else {
      args.push_back("--call-graph");
      args.push_back(call_graph);
    }
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawnp(&pid_, "perf", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      std::fprintf(stderr, "cannot run perf: %s\n", std::strerror(rc));
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let it attach
  }
  ~PerfRecorder() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGINT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::printf("  perf profile of the daemon: %s\n", data_.c_str());
  }

 private:
  pid_t pid_ = -1;
  std::string data_;
};

// ---------------------------------------------------------------------------------------------
// Load generators.

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

Percentiles percentiles(std::vector<std::uint32_t>& us) {
  Percentiles p;
  if (us.empty())
    return p;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
    return static_cast<double>(us[i]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.max = static_cast<double>(us.back()) / 1000.0;
  return p;
}

// What one phase measured.
struct PhaseResult {
  long long requests = 0;    // answered requests
  long long events = 0;      // events sent in answered requests
  long long accepted = 0;    // events answered 202
  long long deliveries = 0;  // deliveries in the events sent
  long long non_202 = 0;     // events answered otherwise
  long long transport_errors = 0;
  std::map<int, long long> statuses;      // per HTTP status (batch: per line status)
  std::vector<std::uint32_t> latency_us;  // per request
  double seconds = 0;
  CpuTimes daemon_cpu, bench_cpu;
  double other_cpu = 0;  // seconds used by every other process on the machine meanwhile
};

// Where the requests come from: single events or batches, until a count, a delivery budget
// or a deadline is reached. Used from the io_context thread only.
enum class Format { canonical, cloudevents, timeline };

// Appends event `i` as one Open ENT NG timeline notification (one line of JSON) to two
// recipients: with `pool` > 0, two distinct users of u-00000 .. u-<pool - 1> (with `warmup`,
// users 2i and 2i + 1, so that pool / 2 events name every user once); with `pool` 0, two user
// ids never used before (from the `_id`). The `_id` is unique as the canonical id is.
void append_timeline(std::string& out, const std::string& prefix, long long i, int pool,
                     bool warmup) {
  const std::uint64_t h = mix(static_cast<std::uint64_t>(i) ^ 0x656e74636f7265ULL);
  char users[2][48];
  if (pool > 0) {
    long long a = 0, b = 0;
    if (warmup) {
      a = (2 * i) % pool;
      b = (2 * i + 1) % pool;
    } else {
      a = static_cast<long long>(h % static_cast<std::uint64_t>(pool));
      b = (a + 1 + static_cast<long long>((h >> 24) % static_cast<std::uint64_t>(pool - 1))) % pool;
    }
    std::snprintf(users[0], sizeof users[0], "u-%05lld", a);
    std::snprintf(users[1], sizeof users[1], "u-%05lld", b);
  } else {
    std::snprintf(users[0], sizeof users[0], "%.30s-%lld-a", prefix.c_str(), i);
    std::snprintf(users[1], sizeof users[1], "%.30s-%lld-b", prefix.c_str(), i);
  }
  const Category& c = kCategories[h % std::size(kCategories)];
  char buf[1024];
  const int n =
      std::snprintf(buf, sizeof buf,
                    "{\"type\":\"MESSAGERIE\",\"event-type\":\"SEND-MESSAGE\","
                    "\"recipients\":[{\"userId\":\"%s\"},{\"userId\":\"%s\"}],"
                    "\"params\":{\"uri\":\"/userbook/annuaire#/%lld\",\"username\":\"Mme Lefèvre\","
                    "\"resourceUri\":\"/conversation#/read/%lld\"},"
                    "\"pushNotif\":{\"title\":\"push.notif.new.message\",\"body\":\"%s\"},"
                    "\"_id\":\"%s-%lld\"}",
                    users[0], users[1], i, i, c.excerpt, prefix.c_str(), i);
  out.append(buf, static_cast<std::size_t>(n));
}

class Workload {
 public:
  Workload(const EventGenerator& gen, std::string path, std::string content_type, int batch_size,
           Format format = Format::canonical)
      : gen_(gen),
        path_(std::move(path)),
        type_(std::move(content_type)),
        batch_(batch_size),
        cloudevents_(format == Format::cloudevents),
        timeline_(format == Format::timeline) {}

  // Timeline recipients: drawn from `pool` users (0: never seen before); `warmup`: see
  // append_timeline.
  void timeline_users(int pool, bool warmup = false) {
    pool_ = pool;
    warmup_ = warmup;
  }

  void limit_events(long long n) { max_events_ = n; }
  void limit_deliveries(long long n) { max_deliveries_ = n; }
  void limit_time(Clock::time_point deadline) { deadline_ = deadline; }

  // The next request (raw HTTP/1.1 bytes) into `out`; false when the workload is done.
  bool next(std::string& out, int& events, int& deliveries) {
    if (deadline_ && Clock::now() >= *deadline_)
      return false;
    body_.clear();
    events = deliveries = 0;
    if (cloudevents_ && batch_ > 1)
      body_ += '[';
    while (events < batch_) {
      if (max_events_ && next_event_ >= *max_events_)
        break;
      int room = 3;
      if (max_deliveries_) {
        long long left = *max_deliveries_ - deliveries_;
        if (left <= 0)
          break;
        room = static_cast<int>(std::min<long long>(3, left));
      }
      if (batch_ > 1 && events > 0)
        body_ += cloudevents_ ? ',' : '\n';
      if (cloudevents_) {
        // The canonical event as data, its id and created_at repeated there (allowed).
        body_ += "{\"specversion\":\"1.0\",\"id\":\"";
        body_ += gen_.prefix();
        body_ += '-';
        body_ += std::to_string(next_event_);
        body_ += "\",\"source\":\"https://ent.example/bench\",";
        body_ += "\"type\":\"fr.treve.notification.v1\",\"data\":";
      }
      int r = 2;
      if (timeline_)
        append_timeline(body_, gen_.prefix(), next_event_++, pool_, warmup_);
      else
        r = gen_.append(body_, next_event_++, room);
      if (cloudevents_)
        body_ += '}';
      deliveries_ += r;
      deliveries += r;
      ++events;
    }
    if (events == 0)
      return false;
    if (batch_ > 1)
      body_ += cloudevents_ ? ']' : '\n';
    out.clear();
    out += "POST ";
    out += path_;
    out += " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ";
    out += kToken;
    out += "\r\nContent-Type: ";
    out += type_;
    out += "\r\nContent-Length: ";
    out += std::to_string(body_.size());
    out += "\r\n\r\n";
    out += body_;
    return true;
  }
  bool batch() const { return batch_ > 1; }

 private:
  const EventGenerator& gen_;
  std::string path_, type_;
  int batch_;
  bool cloudevents_, timeline_;
  int pool_ = 0;
  bool warmup_ = false;
  std::optional<long long> max_events_, max_deliveries_;
  std::optional<Clock::time_point> deadline_;
  long long next_event_ = 0;
  long long deliveries_ = 0;
  std::string body_;
};

// One keep-alive connection: write a request, read the whole answer, repeat.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(net::io_context& ioc, tcp::endpoint ep, Workload& work, PhaseResult& result)
      : socket_(ioc), endpoint_(ep), work_(work), result_(result) {}

  void start() { connect(); }

 private:
  void connect() {
    beast::error_code ignored;
    socket_.close(ignored);
    socket_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        ++self->result_.transport_errors;
        std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
        return;
      }
      self->socket_.set_option(tcp::no_delay(true));
      self->buffer_.clear();
      self->send();
    });
  }

  void send() {
    if (!work_.next(request_, events_, deliveries_)) {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
      return;
    }
    sent_at_ = Clock::now();
    net::async_write(socket_, net::buffer(request_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec)
                         return self->failed("write", ec);
                       self->receive();
                     });
  }

  void receive() {
    parser_.emplace();
    parser_->body_limit(256 * 1024 * 1024);
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec)
                          return self->failed("read", ec);
                        self->received();
                      });
  }

  void received() {
    const auto now = Clock::now();
    result_.latency_us.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at_).count()));
    const auto& res = parser_->get();
    const int status = static_cast<int>(res.result_int());
    ++result_.requests;
    result_.events += events_;
    result_.deliveries += deliveries_;
    treve::bench::count_answer(result_, status, res.body(), work_.batch(), events_);
    if (!res.keep_alive())
      return connect();
    send();
  }

  void failed(const char* what, beast::error_code ec) {
    ++result_.transport_errors;
    if (result_.transport_errors <= 3)
      std::fprintf(stderr, "%s: %s\n", what, ec.message().c_str());
    result_.non_202 += events_;
  }

  tcp::socket socket_;
  tcp::endpoint endpoint_;
  Workload& work_;
  PhaseResult& result_;
  beast::flat_buffer buffer_;
  std::string request_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  Clock::time_point sent_at_{};
  int events_ = 0, deliveries_ = 0;
};

PhaseResult run_phase(unsigned short port, pid_t daemon, Workload& work, int connections) {
  PhaseResult result;
  net::io_context ioc(1);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  const CpuTimes d0 = process_cpu(daemon), b0 = self_cpu();
  const double m0 = machine_busy_seconds();
  const auto start = Clock::now();
  for (int i = 0; i < connections; ++i)
    std::make_shared<Connection>(ioc, ep, work, result)->start();
  ioc.run();
  result.seconds = seconds_between(start, Clock::now());
  const CpuTimes d1 = process_cpu(daemon), b1 = self_cpu();
  const double m1 = machine_busy_seconds();
  result.daemon_cpu = {d1.user - d0.user, d1.system - d0.system};
  result.bench_cpu = {b1.user - b0.user, b1.system - b0.system};
  result.other_cpu =
      std::max(0.0, (m1 - m0) - result.daemon_cpu.total() - result.bench_cpu.total());
  return result;
}

// GET /healthz on a new connection: the status, or -1 when it could not connect or read.
int get_healthz(unsigned short port) {
  try {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/healthz", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    return static_cast<int>(res.result_int());
  } catch (const std::exception&) {
    return -1;
  }
}

long long dir_bytes(const std::string& dir) {
  long long total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec))
      total += static_cast<long long>(e.file_size(ec));
  }
  return total;
}

// ---------------------------------------------------------------------------------------------

struct Options {
  long long events = 200'000;
  double duration = 0;  // seconds; replaces --events when set
  int connections = 32;
  long long batch_events = 200'000;
  int batch_size = 1000;
  int batch_connections = 4;
  long long million = 1'000'000;
  bool skip_million = false;
  bool cold_restart = false;
  bool keep = false;
  std::string perf_dir;
  std::string perf_call_graph;  // empty: -g (frame pointers)
  std::string base = fs::temp_directory_path().string();
  std::string binary = TREVE_BINARY;
  Format format = Format::canonical;
  bool cold_users = false;  // --directory users:cold
  int directory_delay_ms = 2;
  int user_pool = 10'000;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: bench_ingest [--events N] [--duration SECONDS] [--connections C]\n"
      "                    [--batch-events N] [--batch-size B] [--batch-connections C]\n"
      "                    [--million DELIVERIES] [--skip-million] [--cold-restart]\n"
      "                    [--perf-dir DIR]\n"
      "                    [--perf-call-graph fp|dwarf|lbr]\n"
      "                    [--dir BASE] [--keep] [--treve PATH]\n"
      "                    [--format canonical|cloudevents|entcore-timeline]\n"
      "                    [--directory users:cached|users:cold] [--directory-delay-ms MS]\n"
      "                    [--user-pool N]\n");
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--events")
      o.events = std::atoll(value());
    else if (a == "--duration")
      o.duration = std::atof(value());
    else if (a == "--connections")
      o.connections = std::atoi(value());
    else if (a == "--batch-events")
      o.batch_events = std::atoll(value());
    else if (a == "--batch-size")
      o.batch_size = std::atoi(value());
    else if (a == "--batch-connections")
      o.batch_connections = std::atoi(value());
    else if (a == "--million")
      o.million = std::atoll(value());
    else if (a == "--skip-million")
      o.skip_million = true;
    else if (a == "--cold-restart")
      o.cold_restart = true;
    else if (a == "--perf-dir")
      o.perf_dir = value();
    else if (a == "--perf-call-graph")
      o.perf_call_graph = value();
    else if (a == "--dir")
      o.base = value();
    else if (a == "--keep")
      o.keep = true;
    else if (a == "--format") {
      const std::string format = value();
      if (format == "canonical") {
        o.format = Format::canonical;
      } else if (format == "cloudevents") {
        o.format = Format::cloudevents;
      } else if (format == "entcore-timeline") {
        o.format = Format::timeline;
      } else {
        usage();
        return std::nullopt;
      }
    } else if (a == "--directory") {
      const std::string users = value();
      if (users != "users:cached" && users != "users:cold") {
        usage();
        return std::nullopt;
      }
      o.cold_users = users == "users:cold";
    } else if (a == "--directory-delay-ms")
      o.directory_delay_ms = std::atoi(value());
    else if (a == "--user-pool")
      o.user_pool = std::atoi(value());
    else if (a == "--treve")
      o.binary = value();
    else {
      usage();
      return std::nullopt;
    }
  }
  if (o.connections < 1 || o.batch_connections < 1 || o.batch_size < 2 || o.events < 0 ||
      o.directory_delay_ms < 0 || o.user_pool < 2) {
    usage();
    return std::nullopt;
  }
  return o;
}

// With `directory_url`, the connector is entcore-timeline and asks that directory (the bearer
// token in <root>/directory.token).
std::string write_config(const std::string& root, const std::string& name,
                         const std::string& listen = "127.0.0.1:0", bool cloudevents = false,
                         const std::string& directory_url = "") {
  const std::string state = root + "/" + name;
  const std::string path = root + "/" + name + ".toml";
  std::ofstream out(path, std::ios::trunc);
  out << "[server]\n"
      << "listen = \"" << listen << "\"\n"
      << "admin_listen = \"unix:" << root << "/" << name << "-admin.sock\"\n"
      << "state_dir = \"" << state << "\"\n\n"
      << "[[connectors]]\n"
      << "name = \"bench\"\n"
      << "token_sha256 = \"" << sha256_hex(kToken) << "\"\n"
      << "may_bypass = false\n";
  if (cloudevents)
    out << "format = \"cloudevents\"\nce_source = \"https://ent.example/bench\"\n";
  if (!directory_url.empty()) {
    const std::string token = root + "/directory.token";
    std::ofstream(token, std::ios::trunc) << kDirectoryToken << "\n";
    ::chmod(token.c_str(), 0600);
    out << "format = \"entcore-timeline\"\ndirectory = \"ent\"\n\n"
        << "[[directories]]\nname = \"ent\"\nurl = \"" << directory_url << "\"\n"
        << "token_file = \"" << token << "\"\n";
  }
  return path;
}

// A port the kernel has just handed out and released.
unsigned short free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// Starts a daemon on `config` (listen 127.0.0.1:0) and returns its port, or 0. When the
// configuration refuses port 0, rewrites it with a free port picked here and tries again.
unsigned short start_daemon(Daemon& daemon, const std::string& root, const std::string& name,
                            bool cloudevents = false, const std::string& directory_url = "") {
  if (!daemon.spawn())
    return 0;
  unsigned short port = daemon.wait_ready(std::chrono::seconds(30));
  if (!port && !daemon.find_line("server.listen: expected HOST:PORT").empty()) {
    daemon.stop();
    std::string listen = "127.0.0.1:" + std::to_string(free_port());
    std::printf("  note: the configuration refuses \"listen = 127.0.0.1:0\" (%s); using %s\n",
                daemon.find_line("server.listen").c_str(), listen.c_str());
    write_config(root, name, listen, cloudevents, directory_url);
    if (!daemon.spawn())
      return 0;
    port = daemon.wait_ready(std::chrono::seconds(30));
  }
  if (!port) {
    std::fprintf(stderr, "the daemon did not become ready; its last lines:\n");
    daemon.print_tail(20);
  }
  return port;
}

struct Row {
  std::string measure, value, target, verdict;
};

void print_table(const std::vector<Row>& rows) {
  std::size_t w[4] = {7, 5, 6, 6};
  auto width = [](const std::string& s) {  // UTF-8 code points
    std::size_t n = 0;
    for (unsigned char c : s)
      n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& r : rows) {
    w[0] = std::max(w[0], width(r.measure));
    w[1] = std::max(w[1], width(r.value));
    w[2] = std::max(w[2], width(r.target));
    w[3] = std::max(w[3], width(r.verdict));
  }
  auto cell = [&](const std::string& s, std::size_t n) {
    return s + std::string(n - width(s), ' ');
  };
  auto line = [&](const Row& r) {
    std::printf("| %s | %s | %s | %s |\n", cell(r.measure, w[0]).c_str(),
                cell(r.value, w[1]).c_str(), cell(r.target, w[2]).c_str(),
                cell(r.verdict, w[3]).c_str());
  };
  line({"measure", "value", "target", "result"});
  std::printf("|%s|%s|%s|%s|\n", std::string(w[0] + 2, '-').c_str(),
              std::string(w[1] + 2, '-').c_str(), std::string(w[2] + 2, '-').c_str(),
              std::string(w[3] + 2, '-').c_str());
  for (const auto& r : rows)
    line(r);
}

std::string cpu_split(const PhaseResult& r) {
  return fmt("daemon %.2f", r.daemon_cpu.total() / r.seconds) +
         fmt(" cores (user %.1f s", r.daemon_cpu.user) + fmt(", sys %.1f s)", r.daemon_cpu.system) +
         fmt(", load generator %.2f cores", r.bench_cpu.total() / r.seconds) +
         fmt(", other processes %.2f cores", r.other_cpu / r.seconds) +
         (r.other_cpu / r.seconds > 0.2 ? " (the machine was not quiet: figures are low)" : "");
}

void print_statuses(const PhaseResult& r) {
  std::printf("  answers:");
  for (const auto& [status, n] : r.statuses)
    std::printf(" %d x %s", status, grouped(static_cast<double>(n)).c_str());
  if (r.transport_errors)
    std::printf(", transport errors %lld", r.transport_errors);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed)
    return 2;
  const Options opt = *parsed;
  ::signal(SIGPIPE, SIG_IGN);

  treve::test::TempDir root_dir("treve-bench-ingest", opt.base);
  if (opt.keep)
    root_dir.keep();
  const std::string root = root_dir.str();
  const unsigned cpus = std::thread::hardware_concurrency();
  std::string cpu_model = "unknown CPU";
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("model name")) {
        cpu_model = line.substr(line.find(':') + 2);
        break;
      }
    }
  }
  std::printf("trêve ingest benchmark\n");
  std::printf("  binary: %s\n", opt.binary.c_str());
  std::printf("  work dir: %s\n", root.c_str());
  std::printf(
      "  machine: %u CPU(s) (%s), shared by the daemon and this load generator "
      "(one io_context thread); figures are for both together\n\n",
      cpus, cpu_model.c_str());

  std::vector<Row> rows;
  auto verdict = [](bool ok) { return std::string(ok ? "met" : "MISSED"); };

  // ---- Phases 1 and 2: one daemon, a fresh state_dir. -----------------------------------
  {
    const bool cloudevents = opt.format == Format::cloudevents;
    const bool timeline = opt.format == Format::timeline;
    std::optional<DirectoryServer> directory;
    if (timeline)
      directory.emplace(kDirectoryToken, kUai, std::chrono::milliseconds(opt.directory_delay_ms));
    const std::string directory_url = directory ? directory->url() : "";
    const std::string config =
        write_config(root, "ingest", "127.0.0.1:0", cloudevents, directory_url);
    if (cloudevents)
      std::printf("format: CloudEvents (phase 1 structured, phase 2 batched JSON arrays)\n");
    if (timeline)
      std::printf(
          "format: entcore-timeline (phase 1 single notifications, phase 2 NDJSON batches), two "
          "recipients per event; directory %s (every user a Student of %s, %d ms per request); "
          "users %s\n",
          directory_url.c_str(), kUai, opt.directory_delay_ms,
          opt.cold_users ? "cold (never seen before: every event asks the directory)"
                         : ("cached (drawn from " + grouped(opt.user_pool) +
                            " users, all looked up by a warm-up pass first)")
                               .c_str());
    Daemon daemon(opt.binary, config, root + "/ingest.log");
    const unsigned short port = start_daemon(daemon, root, "ingest", cloudevents, directory_url);
    if (!port)
      return 1;
    std::printf("daemon pid %d listening on 127.0.0.1:%u (ready %.0f ms after spawn)\n\n",
                daemon.pid(), port, seconds_between(daemon.spawned_at(), daemon.ready_at()) * 1000);
    const char* single_type = cloudevents ? "application/cloudevents+json" : "application/json";
    const char* batch_type =
        cloudevents ? "application/cloudevents-batch+json" : "application/x-ndjson";
    const int pool = opt.cold_users ? 0 : opt.user_pool;
    // The directory's requests and users during one phase: printed, and a row of the table.
    long long dir_requests = 0, dir_users = 0;
    auto directory_before = [&] {
      if (directory) {
        dir_requests = directory->requests();
        dir_users = directory->users();
      }
    };
    auto directory_after = [&](const std::string& phase) {
      if (!directory)
        return;
      const long long n = directory->requests() - dir_requests;
      const long long u = directory->users() - dir_users;
      const std::string mean =
          n ? fmt("%.1f", static_cast<double>(u) / static_cast<double>(n)) : std::string("-");
      std::printf("  directory: %s requests, %s users asked, mean %s users per request%s\n",
                  grouped(static_cast<double>(n)).c_str(), grouped(static_cast<double>(u)).c_str(),
                  mean.c_str(), directory->refused() ? " (some requests refused: bad token)" : "");
      rows.push_back({phase + " directory requests (mean users per request)",
                      grouped(static_cast<double>(n)) + " (" + mean + ")", "", ""});
    };

    // 0. Timeline, cached users: every user of the pool looked up once before measuring.
    if (timeline && !opt.cold_users) {
      EventGenerator gen("warmup");
      Workload work(gen, "/v1/events:batch", "application/x-ndjson", opt.batch_size,
                    Format::timeline);
      work.timeline_users(opt.user_pool, true);
      work.limit_events((opt.user_pool + 1) / 2);
      std::printf("[0] warm-up: %s notifications by batch naming each of the %s users once\n",
                  grouped((opt.user_pool + 1) / 2).c_str(), grouped(opt.user_pool).c_str());
      std::fflush(stdout);
      directory_before();
      PhaseResult r = run_phase(port, daemon.pid(), work, opt.batch_connections);
      std::printf("  %s events in %.2f s, %s answered 202\n",
                  grouped(static_cast<double>(r.events)).c_str(), r.seconds,
                  grouped(static_cast<double>(r.accepted)).c_str());
      print_statuses(r);
      directory_after("[0] warm-up:");
      std::printf("\n");
    }

    // 1. Single events.
    {
      EventGenerator gen("single");
      Workload work(gen, "/v1/events", single_type, 1, opt.format);
      work.timeline_users(pool);
      if (opt.duration > 0) {
        work.limit_time(Clock::now() +
                        std::chrono::milliseconds(static_cast<long long>(opt.duration * 1000)));
      } else {
        work.limit_events(opt.events);
      }
      std::printf("[1] POST /v1/events, %d keep-alive connections, %s\n", opt.connections,
                  opt.duration > 0
                      ? fmt("%.0f s", opt.duration).c_str()
                      : (grouped(static_cast<double>(opt.events)) + " events").c_str());
      std::fflush(stdout);
      PhaseResult r;
      {
        PerfRecorder perf(opt.perf_dir, opt.perf_call_graph, "single", daemon.pid());
        directory_before();
        r = run_phase(port, daemon.pid(), work, opt.connections);
      }
      Percentiles p = percentiles(r.latency_us);
      const double rate = static_cast<double>(r.accepted) / r.seconds;
      std::printf("  %s events (%s deliveries) in %.2f s: %s events/s accepted\n",
                  grouped(static_cast<double>(r.events)).c_str(),
                  grouped(static_cast<double>(r.deliveries)).c_str(), r.seconds,
                  grouped(rate).c_str());
      std::printf("  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p.p50, p.p90, p.p99,
                  p.max);
      print_statuses(r);
      std::printf("  CPU: %s\n", cpu_split(r).c_str());
      const Memory m = process_memory(daemon.pid());
      std::printf("  daemon VmRSS %.1f MB, VmHWM %.1f MB\n", m.rss_kb / 1024.0, m.hwm_kb / 1024.0);
      directory_after("[1]");
      std::printf("\n");
      rows.push_back({"[1] single POST, " + std::to_string(opt.connections) + " conns: events/s",
                      grouped(rate), "≥ 35,000", verdict(rate >= 35'000)});
      rows.push_back({"[1] latency p50 / p90 / p99 / max (ms)",
                      fmt("%.2f", p.p50) + " / " + fmt("%.2f", p.p90) + " / " + fmt("%.2f", p.p99) +
                          " / " + fmt("%.1f", p.max),
                      "p99 reported", ""});
      rows.push_back({"[1] events not answered 202", grouped(static_cast<double>(r.non_202)), "0",
                      verdict(r.non_202 == 0)});
      rows.push_back({"[1] CPU: daemon / load generator / other (cores)",
                      fmt("%.2f", r.daemon_cpu.total() / r.seconds) + " / " +
                          fmt("%.2f", r.bench_cpu.total() / r.seconds) + " / " +
                          fmt("%.2f", r.other_cpu / r.seconds),
                      "", ""});
    }

    // 2. Batches.
    {
      EventGenerator gen("batch");
      Workload work(gen, "/v1/events:batch", batch_type, opt.batch_size, opt.format);
      work.timeline_users(pool);
      work.limit_events(opt.batch_events);
      std::printf("[2] POST /v1/events:batch, %d events per batch, %d connections, %s events\n",
                  opt.batch_size, opt.batch_connections,
                  grouped(static_cast<double>(opt.batch_events)).c_str());
      std::fflush(stdout);
      PhaseResult r;
      {
        PerfRecorder perf(opt.perf_dir, opt.perf_call_graph, "batch", daemon.pid());
        directory_before();
        r = run_phase(port, daemon.pid(), work, opt.batch_connections);
      }
      Percentiles p = percentiles(r.latency_us);
      const double rate = static_cast<double>(r.accepted) / r.seconds;
      std::printf("  %s events (%s deliveries) in %.2f s: %s events/s accepted\n",
                  grouped(static_cast<double>(r.events)).c_str(),
                  grouped(static_cast<double>(r.deliveries)).c_str(), r.seconds,
                  grouped(rate).c_str());
      std::printf("  per-batch latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", p.p50, p.p90,
                  p.p99, p.max);
      print_statuses(r);
      std::printf("  CPU: %s\n", cpu_split(r).c_str());
      const Memory m = process_memory(daemon.pid());
      std::printf("  daemon VmRSS %.1f MB, VmHWM %.1f MB\n", m.rss_kb / 1024.0, m.hwm_kb / 1024.0);
      directory_after("[2]");
      rows.push_back({"[2] batch of " + std::to_string(opt.batch_size) + ", " +
                          std::to_string(opt.batch_connections) + " conns: events/s",
                      grouped(rate), "≥ 150,000", verdict(rate >= 150'000)});
      rows.push_back({"[2] events not answered 202", grouped(static_cast<double>(r.non_202)), "0",
                      verdict(r.non_202 == 0)});
      rows.push_back({"[2] CPU: daemon / load generator / other (cores)",
                      fmt("%.2f", r.daemon_cpu.total() / r.seconds) + " / " +
                          fmt("%.2f", r.bench_cpu.total() / r.seconds) + " / " +
                          fmt("%.2f", r.other_cpu / r.seconds),
                      "", ""});
    }
    const double stop_s = daemon.stop();
    std::printf("  daemon stopped (SIGTERM) in %.0f ms; state_dir %.0f MB\n", stop_s * 1000,
                static_cast<double>(dir_bytes(root + "/ingest")) / 1e6);
    // Group commit, as the daemon counted it (both phases): events per fsync'd transaction.
    std::ifstream log(root + "/ingest.log");
    std::string line, stopped;
    while (std::getline(log, line)) {
      if (line.find("event=serve.stopped") != std::string::npos)
        stopped = line;
    }
    long long commits = 0, events = 0;
    if (auto at = stopped.find("commits="); at != std::string::npos)
      std::sscanf(stopped.c_str() + at, "commits=%lld events=%lld", &commits, &events);
    if (commits > 0) {
      std::printf("  group commit: %lld transactions for %lld events (%.1f events per commit)\n",
                  commits, events, static_cast<double>(events) / static_cast<double>(commits));
    }
    std::printf("\n");
  }

  // ---- Phase 3: hold one million deliveries, then restart. -----------------------------
  if (!opt.skip_million) {
    const std::string config = write_config(root, "million");
    Daemon daemon(opt.binary, config, root + "/million.log");
    unsigned short port = start_daemon(daemon, root, "million");
    if (!port)
      return 1;
    EventGenerator gen("million");
    Workload work(gen, "/v1/events:batch", "application/x-ndjson", opt.batch_size);
    work.limit_deliveries(opt.million);
    std::printf(
        "[3] %s deliveries posted by batch (%d per batch, %d connections), "
        "fresh state_dir\n",
        grouped(static_cast<double>(opt.million)).c_str(), opt.batch_size, opt.batch_connections);
    std::fflush(stdout);
    PhaseResult r;
    {
      PerfRecorder perf(opt.perf_dir, opt.perf_call_graph, "million", daemon.pid());
      r = run_phase(port, daemon.pid(), work, opt.batch_connections);
    }
    std::printf("  %s events, %s deliveries in %.2f s (%s events/s)\n",
                grouped(static_cast<double>(r.events)).c_str(),
                grouped(static_cast<double>(r.deliveries)).c_str(), r.seconds,
                grouped(static_cast<double>(r.accepted) / r.seconds).c_str());
    print_statuses(r);
    std::printf("  CPU: %s\n", cpu_split(r).c_str());
    const Memory loaded = process_memory(daemon.pid());
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const Memory settled = process_memory(daemon.pid());
    std::printf("  daemon right after: VmRSS %.1f MB, VmHWM %.1f MB; 2 s later VmRSS %.1f MB\n",
                loaded.rss_kb / 1024.0, loaded.hwm_kb / 1024.0, settled.rss_kb / 1024.0);
    {
      auto t0 = Clock::now();
      int s = get_healthz(port);
      std::printf("  GET /healthz holding them: %d in %.1f ms\n", s,
                  seconds_between(t0, Clock::now()) * 1000);
    }
    const double stop_s = daemon.stop();
    const double db_mb = static_cast<double>(dir_bytes(root + "/million")) / 1e6;
    std::printf("  daemon stopped (SIGTERM) in %.0f ms; state_dir %.0f MB\n", stop_s * 1000, db_mb);
    const double rss_mb = settled.rss_kb / 1024.0;
    rows.push_back(
        {"[3] VmRSS holding " + grouped(static_cast<double>(r.deliveries)) + " deliveries (MB)",
         fmt("%.1f", rss_mb), "≤ 48 MB", verdict(rss_mb <= 48 && r.non_202 == 0)});
    rows.push_back(
        {"[3] VmHWM while posting them (MB)", fmt("%.1f", settled.hwm_kb / 1024.0), "", ""});
    rows.push_back({"[3] events not answered 202", grouped(static_cast<double>(r.non_202)), "0",
                    verdict(r.non_202 == 0)});

    // Restart on that state_dir: warm (its pages in the page cache, as after a service
    // restart), and with --cold-restart also after dropping the page cache (as after a reboot).
    auto restart = [&](const std::string& label) -> bool {
      if (!daemon.spawn())
        return false;
      const unsigned short p = daemon.wait_ready(std::chrono::seconds(120));
      if (!p) {
        std::fprintf(stderr, "the restarted daemon did not become ready; its last lines:\n");
        daemon.print_tail(20);
        return false;
      }
      const double ready_ms = seconds_between(daemon.spawned_at(), daemon.ready_at()) * 1000;
      int status = -1;
      int tries = 0;
      while ((status = get_healthz(p)) != 200 && tries++ < 60'000)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const double health_ms = seconds_between(daemon.spawned_at(), Clock::now()) * 1000;
      const Memory after = process_memory(daemon.pid());
      std::printf(
          "  %s restart: serve.ready after %.0f ms, first GET /healthz %d after %.0f ms; "
          "VmRSS then %.1f MB\n",
          label.c_str(), ready_ms, status, health_ms, after.rss_kb / 1024.0);
      if (auto l = daemon.find_line("event=store.opened"); !l.empty())
        std::printf("    %s\n", l.c_str());
      daemon.stop();
      rows.push_back({"[3] " + label + " restart: spawn → serve.ready (ms)", fmt("%.0f", ready_ms),
                      "≤ 1,000", verdict(ready_ms <= 1000)});
      rows.push_back({"[3] " + label + " restart: spawn → first /healthz 200 (ms)",
                      fmt("%.0f", health_ms), "≤ 1,000",
                      verdict(health_ms <= 1000 && status == 200)});
      return true;
    };
    if (!restart("warm"))
      return 1;
    if (opt.cold_restart) {
      ::sync();
      std::ofstream drop("/proc/sys/vm/drop_caches");
      drop << "3\n";
      drop.flush();
      if (!drop) {
        std::printf("  cold restart skipped: cannot write /proc/sys/vm/drop_caches (needs root)\n");
      } else {
        drop.close();
        if (!restart("cold"))
          return 1;
      }
    }
    std::printf("\n");
  }

  print_table(rows);
  if (opt.keep)
    std::printf("\nkept %s (configurations, state_dirs, daemon logs)\n", root.c_str());
  return 0;  // figures, not a test: a missed target shows in the table
}
