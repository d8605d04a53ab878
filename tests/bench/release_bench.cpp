// The release at the end of a quiet window, end to end: one million held deliveries for
// 100,000 recipients in a real store, the real `treve serve` started on it, the window ends,
// and a loopback HTTP receiver in this process answers 200 at once. Prints figures, not a test.
//
//   - first delivery: from the window's end to the first request reaching the receiver;
//   - drain: deliveries per second from the window's end to the last delivery's arrival;
//   - order: the share of recipients whose deliveries all arrived in receipt order;
//   - memory: the daemon's VmRSS sampled every 100 ms (the highest) and VmHWM at the end.
//
// Two phases on copies of the same prepared store: batched requests (batch_max 100), then one
// delivery per request. The daemon and the receiver share the machine's cores.
//
// Run: build/release/tests/bench/bench_release [--deliveries N] [--recipients R]
//      [--phases batch,single] [--max-in-flight M] [--fanout K] [--dir BASE] [--keep]
//
// --fanout 2: two sinks take every delivery (fan-out), so N deliveries are 2N copies, each
// sink's in order per recipient; the receiver tells the sinks apart by their URL path.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "daemon/core/digest.h"
#include "daemon/http/server.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/sqlite_store.h"
#include "tests/bench/bench_process.h"
#include "tests/support/tokens.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using treve::bench::Daemon;
using treve::bench::process_memory;
using SysClock = std::chrono::system_clock;

constexpr const char* kTokenHash = TREVE_TEST_CHANGE_ME_SHA256;

struct Options {
  long long deliveries = 1'000'000;
  long long recipients = 100'000;
  std::vector<std::string> phases = {"batch", "single"};
  int max_in_flight = 64;
  int fanout = 1;  // sinks taking every delivery
  std::string dir = "/tmp/treve-bench-release";
  bool keep = false;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SysClock::now().time_since_epoch())
      .count();
}

// Fills a store with `deliveries` held deliveries: events of 10 recipients each, every
// recipient in deliveries/recipients events, through the store's own accept path.
bool prepare(const Options& o, const fs::path& state) {
  fs::create_directories(state);
  {
    std::ofstream key(state / "pseudonym.key", std::ios::binary);
    std::string k(32, '\x5a');
    key << k;
  }
  fs::permissions(state / "pseudonym.key", fs::perms::owner_read | fs::perms::owner_write);
  treve::store::SqliteOptions so;
  so.path = (state / "treve.db").string();
  so.pseudonym_key.fill(0x5a);
  auto opened = treve::store::SqliteStore::open(so);
  if (!opened) {
    std::fprintf(stderr, "cannot open the store: %s\n", opened.error().message.c_str());
    return false;
  }
  auto& store = **opened;
  const long long per_event = 10;
  const long long events = o.deliveries / per_event;
  const auto zone = date::locate_zone("Europe/Paris");
  const auto received =
      treve::policy::Instant{std::chrono::milliseconds{now_ms()}} - std::chrono::hours{10};
  // Far in the future: each phase moves it to a few seconds after its start.
  const auto release = received + std::chrono::hours{24 * 365};
  const auto begin = treve::bench::Clock::now();
  std::vector<treve::store::NewEvent> batch;
  for (long long e = 0; e < events; ++e) {
    treve::store::NewEvent ev;
    ev.source = "ent";
    ev.id = "e" + std::to_string(e);
    ev.establishment = "0750654D";
    ev.category = treve::policy::Category::message;
    ev.received_at = received + std::chrono::milliseconds{e};
    ev.zone = zone;
    ev.body = R"({"id":")" + ev.id +
              R"(","title":"Nouveau message","payload":{"thread":"t-1","unread":3}})";
    ev.body_sha256 = treve::core::sha256_hex(ev.body);
    ev.response = "{}";
    for (long long j = 0; j < per_event; ++j) {
      treve::store::NewDelivery d;
      // Recipient r gets events r*k.., spread so that each has deliveries/recipients.
      d.recipient = "r" + std::to_string((e * per_event + j) % o.recipients);
      d.release_at = release;
      d.reason = "quiet window Mon-Thu 20:00-07:00";
      for (int k = 0; k < o.fanout; ++k)
        d.sinks.push_back("push" + std::to_string(k));
      ev.deliveries.push_back(std::move(d));
    }
    batch.push_back(std::move(ev));
    if (batch.size() == 1000 || e + 1 == events) {
      auto r = store.accept(batch, received);
      if (!r) {
        std::fprintf(stderr, "cannot store: %s\n", r.error().message.c_str());
        return false;
      }
      batch.clear();
    }
  }
  std::printf("prepared %lld held deliveries for %lld recipients in %.1f s\n", o.deliveries,
              o.recipients, treve::bench::seconds_between(begin, treve::bench::Clock::now()));
  return true;
}

// The webhook receiver: answers 200 at once and checks each recipient's order.
class Receiver {
 public:
  Receiver(long long recipients, int sinks)
      : recipients_(static_cast<std::size_t>(recipients)),
        last_(static_cast<std::size_t>(recipients * sinks), -1),
        out_of_order_(static_cast<std::size_t>(recipients * sinks), 0),
        work_(boost::asio::make_work_guard(ioc_)) {
    treve::http::ServerOptions so;
    so.max_connections = 4096;
    so.body_limit = [](const treve::http::Request&) { return std::size_t{64} << 20; };
    server_ = std::make_unique<treve::http::Server>(
        ioc_,
        [this](treve::http::Request&& req, treve::http::Respond respond) {
          // /hook/<sink index>
          const std::string_view target = req.target();
          const auto slash = target.rfind('/');
          const std::size_t sink =
              static_cast<std::size_t>(std::atoi(std::string(target.substr(slash + 1)).c_str()));
          on(req.body(), sink);
          treve::http::Response r{boost::beast::http::status::ok, req.version()};
          r.keep_alive(req.keep_alive());
          r.prepare_payload();
          respond(std::move(r));
        },
        so);
    if (auto r = server_->listen("127.0.0.1:0"); !r)
      std::fprintf(stderr, "receiver: %s\n", r.error().c_str());
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Receiver() {
    server_->stop([this] { work_.reset(); });
    thread_.join();
  }
  unsigned short port() const { return server_->local_endpoint().port(); }

  std::int64_t first_ms() const { return first_ms_.load(); }
  std::int64_t last_ms() const { return last_ms_.load(); }
  long long received() const { return received_.load(); }
  long long requests() const { return requests_.load(); }
  long long duplicates() const { return duplicates_.load(); }
  // Recipients with at least one delivery, and how many of them saw one out of order.
  std::pair<long long, long long> order() const {
    std::lock_guard lock(mutex_);
    long long seen = 0, bad = 0;
    for (std::size_t i = 0; i < last_.size(); ++i) {
      if (last_[i] >= 0)
        ++seen;
      if (out_of_order_[i])
        ++bad;
    }
    return {seen, bad};
  }

 private:
  void on(const std::string& body, std::size_t sink) {
    const std::int64_t t = now_ms();
    std::int64_t expected = 0;
    first_ms_.compare_exchange_strong(expected, t);
    last_ms_ = t;
    ++requests_;
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec)
      return;
    auto one = [&](const boost::json::value& d) {
      const auto& o = d.as_object();
      const auto& id = o.at("id").as_string();
      const auto& rcpt = o.at("recipient").as_string();
      long long event = std::atoll(id.c_str() + 1);
      auto r = static_cast<std::size_t>(std::atoll(rcpt.c_str() + 1));
      ++received_;
      std::lock_guard lock(mutex_);
      if (r >= recipients_)
        return;
      r += sink * recipients_;
      if (r >= last_.size())
        return;
      if (event == last_[r]) {
        ++duplicates_;
      } else if (event < last_[r]) {
        out_of_order_[r] = 1;
      } else {
        last_[r] = event;
      }
    };
    if (v.is_array()) {
      for (const auto& d : v.as_array())
        one(d);
    } else if (v.is_object()) {
      one(v);
    }
  }

  std::atomic<std::int64_t> first_ms_{0}, last_ms_{0};
  std::atomic<long long> received_{0}, requests_{0}, duplicates_{0};
  mutable std::mutex mutex_;
  std::size_t recipients_;
  std::vector<long long> last_;
  std::vector<char> out_of_order_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<treve::http::Server> server_;
  std::thread thread_;
};

void write_config(const fs::path& root, const fs::path& state, unsigned short receiver_port,
                  int batch_max, int max_in_flight, int sinks) {
  std::ofstream c(root / "treve.toml");
  c << "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"" << state.string() << "\"\n\n"
    << "[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" << kTokenHash << "\"\n\n";
  for (int k = 0; k < sinks; ++k) {
    c << "[[sinks]]\nname = \"push" << k
      << "\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:" << receiver_port << "/hook/" << k
      << "\"\nsecret_file = \"" << TREVE_SOURCE_DIR
      << "/systemd/ent-push.secret\"\nbatch_max = " << batch_max
      << "\nmax_in_flight = " << max_in_flight << "\n\n";
  }
}

bool set_release(const fs::path& db_path, std::int64_t release_ms) {
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK)
    return false;
  std::string sql =
      "UPDATE deliveries SET release_at = " + std::to_string(release_ms) + " WHERE state = 'held'";
  char* err = nullptr;
  bool ok = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK;
  if (!ok)
    std::fprintf(stderr, "cannot set the release instant: %s\n", err);
  sqlite3_free(err);
  sqlite3_close(db);
  return ok;
}

struct PhaseResult {
  double first_ms = 0;
  double drain_per_s = 0;
  double drain_s = 0;
  long long received = 0, requests = 0, duplicates = 0;
  double order_kept_pct = 0;
  double max_rss_mb = 0, hwm_mb = 0;
  bool complete = false;
};

PhaseResult run_phase(const Options& o, const fs::path& base, const std::string& name,
                      int batch_max) {
  PhaseResult res;
  const fs::path root = base / name;
  fs::remove_all(root);
  fs::create_directories(root);
  fs::copy(base / "template", root / "state", fs::copy_options::recursive);
  Receiver receiver(o.recipients, o.fanout);
  write_config(root, root / "state", receiver.port(), batch_max, o.max_in_flight, o.fanout);
  const long long expected = o.deliveries * o.fanout;
  const std::int64_t window_end = now_ms() + 12'000;
  if (!set_release(root / "state" / "treve.db", window_end))
    return res;
  Daemon daemon(TREVE_BINARY, (root / "treve.toml").string(), (root / "daemon.log").string());
  if (!daemon.spawn() || !daemon.wait_ready(30s)) {
    std::fprintf(stderr, "the daemon did not become ready\n");
    daemon.print_tail(20);
    return res;
  }
  if (now_ms() >= window_end)
    std::printf("  note: the daemon was ready after the window's end\n");
  long long max_rss = 0;
  const auto give_up = treve::bench::Clock::now() + 600s;
  long long last_count = -1;
  auto last_progress = treve::bench::Clock::now();
  while (receiver.received() < expected) {
    std::this_thread::sleep_for(100ms);
    max_rss = std::max(max_rss, process_memory(daemon.pid()).rss_kb);
    const long long n = receiver.received();
    if (n != last_count) {
      last_count = n;
      last_progress = treve::bench::Clock::now();
    }
    if (treve::bench::Clock::now() > give_up ||
        (now_ms() > window_end + 5000 && treve::bench::Clock::now() - last_progress > 30s)) {
      std::fprintf(stderr, "  stalled at %lld deliveries\n", n);
      daemon.print_tail(20);
      break;
    }
  }
  res.complete = receiver.received() >= expected;
  res.hwm_mb = static_cast<double>(process_memory(daemon.pid()).hwm_kb) / 1024.0;
  res.max_rss_mb = static_cast<double>(max_rss) / 1024.0;
  daemon.stop();
  res.first_ms = static_cast<double>(receiver.first_ms() - window_end);
  res.drain_s = static_cast<double>(receiver.last_ms() - window_end) / 1000.0;
  res.received = receiver.received();
  res.requests = receiver.requests();
  res.duplicates = receiver.duplicates();
  res.drain_per_s = static_cast<double>(res.received) / res.drain_s;
  auto [seen, bad] = receiver.order();
  res.order_kept_pct =
      seen ? 100.0 * static_cast<double>(seen - bad) / static_cast<double>(seen) : 0.0;
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--deliveries") {
      o.deliveries = std::atoll(next().c_str());
    } else if (a == "--recipients") {
      o.recipients = std::atoll(next().c_str());
    } else if (a == "--phases") {
      o.phases.clear();
      std::stringstream ss(next());
      for (std::string p; std::getline(ss, p, ',');)
        o.phases.push_back(p);
    } else if (a == "--max-in-flight") {
      o.max_in_flight = std::atoi(next().c_str());
    } else if (a == "--fanout") {
      o.fanout = std::clamp(std::atoi(next().c_str()), 1, 8);
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--keep") {
      o.keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_release [--deliveries N] [--recipients R] "
                   "[--phases batch,single] [--max-in-flight M] [--fanout K] [--dir BASE] "
                   "[--keep]\n");
      return 2;
    }
  }
  const fs::path base = o.dir;
  fs::remove_all(base);
  if (!prepare(o, base / "template"))
    return 1;
  std::printf("%-8s %12s %14s %10s %10s %12s %10s %12s %10s\n", "phase", "first (ms)",
              "drain (del/s)", "drain (s)", "requests", "order kept", "dupes", "max RSS (MB)",
              "HWM (MB)");
  int status = 0;
  for (const auto& phase : o.phases) {
    const int batch_max = phase == "single" ? 1 : 100;
    PhaseResult r = run_phase(o, base, phase, batch_max);
    std::printf("%-8s %12.0f %14.0f %10.1f %10lld %11.2f%% %10lld %12.1f %10.1f%s\n", phase.c_str(),
                r.first_ms, r.drain_per_s, r.drain_s, r.requests, r.order_kept_pct, r.duplicates,
                r.max_rss_mb, r.hwm_mb, r.complete ? "" : "  (incomplete)");
    std::fflush(stdout);
    if (!r.complete)
      status = 1;
  }
  if (!o.keep)
    fs::remove_all(base);
  return status;
}
