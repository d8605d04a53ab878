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
//      [--phases batch,single] [--max-in-flight M] [--fanout K | --fanout-channels T,T…]
//      [--timeout S] [--dir BASE] [--keep]
//
// --fanout 2: two sinks take every delivery (fan-out), so N deliveries are 2N copies, each
// sink's in order per recipient; the receiver tells the sinks apart by their URL path.
//
// --fanout-channels webhook,fcm: one sink per listed type, push0 the first, push1 the second…
// (K = the list's length; "webhook" and "fcm"). A webhook sink posts to the receiver above. An
// fcm sink is a real `type = "fcm"` sink against its own FCM stand-in (tests/support/
// fcm_service.h: tests/channels/fcm_service.mjs on Node.js, TLS and HTTP/2, OAuth token
// endpoint included) in its fastest mode: no message log (it still checks each message's
// schema and bearer token; it has no mode without), with --check-order, which checks the event
// ids per device token (one token per recipient, so per recipient). The stored event bodies
// then name their ten recipients, each with that token ("channels": {"fcm": ["dev-r<N>"]}), as
// the FCM channel reads addresses from the body (the webhook copies carry the longer body too).
// An fcm copy counts when the stand-in accepts it, once: a message repeating its token's last
// event id is a duplicate. Its first and last delivery are read on the stand-in's clock.
// batch_max and the `single` phase apply to webhook sinks only (FCM sends one message per
// device token). After each phase: per sink, the copies, first delivery, drain, order and
// duplicates; the stand-in's peak RSS and CPU time (Node.js, not trêve) beside the daemon's;
// the daemon's RSS as each tenth of the copies had arrived (growth or a plateau); the busiest
// threads' time on a core and waiting for one (/proc/…/schedstat: a loaded machine shows as
// waiting); and, from the store once the daemon stopped, each sink's copies by state and those
// that took more than one attempt.
//
// --timeout S: the longest a phase waits for its copies (600 s by default); a phase also ends
// when no copy arrived for 30 s.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <sqlite3.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "daemon/core/digest.h"
#include "daemon/dispatch/http_client.h"
#include "daemon/http/server.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/sqlite_store.h"
#include "tests/bench/bench_process.h"
#include "tests/support/fcm_service.h"
#include "tests/support/tokens.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using treve::bench::cpu_seconds;
using treve::bench::Daemon;
using treve::bench::process_memory;
using SysClock = std::chrono::system_clock;

constexpr const char* kTokenHash = TREVE_TEST_CHANGE_ME_SHA256;

struct Options {
  long long deliveries = 1'000'000;
  long long recipients = 100'000;
  std::vector<std::string> phases = {"batch", "single"};
  int max_in_flight = 64;
  int fanout = 1;                     // sinks taking every delivery
  std::vector<std::string> channels;  // each sink's type, "webhook" or "fcm"; fanout of them
  int timeout_s = 600;
  std::string dir = "/tmp/treve-bench-release";
  bool keep = false;

  bool any_fcm() const { return std::ranges::find(channels, "fcm") != channels.end(); }
};

constexpr int kMaxSinks = 8;

struct ThreadTime {
  double run_s = 0;   // on a core
  double wait_s = 0;  // runnable, waiting for a core
};

// The threads of `pid`, busiest first, from /proc/<pid>/task/*/schedstat: the time each ran
// and the time it was ready to run but waited for a core (the machine's other load).
std::vector<ThreadTime> thread_times(pid_t pid) {
  std::vector<ThreadTime> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    double run_ns = 0, wait_ns = 0;
    if (in >> run_ns >> wait_ns)
      out.push_back({run_ns / 1e9, wait_ns / 1e9});
  }
  std::ranges::sort(out, std::ranges::greater{}, &ThreadTime::run_s);
  return out;
}

std::string thread_text(const std::vector<ThreadTime>& threads, std::size_t n) {
  std::string out;
  char buf[96];
  for (std::size_t i = 0; i < std::min(n, threads.size()); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.1f s on a core + %.1f s waiting for one", i ? "; " : "",
                  threads[i].run_s, threads[i].wait_s);
    out += buf;
  }
  return out;
}

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
              R"(","title":"Nouveau message","payload":{"thread":"t-1","unread":3})";
    if (o.any_fcm()) {
      // The FCM channel reads a recipient's device tokens from the event: one each.
      ev.body += R"(,"recipients":[)";
      for (long long j = 0; j < per_event; ++j) {
        const std::string r = "r" + std::to_string((e * per_event + j) % o.recipients);
        ev.body += (j ? "," : "") + std::string(R"({"id":")") + r +
                   R"(","role":"student","channels":{"fcm":["dev-)" + r + R"("]}})";
      }
      ev.body += "]";
    }
    ev.body += "}";
    ev.body_sha256 = treve::core::sha256_hex(ev.body);
    ev.response = "{}";
    for (long long j = 0; j < per_event; ++j) {
      treve::store::NewDelivery d;
      // Recipient r gets events r*k.., spread so that each has deliveries/recipients.
      d.recipient = "r" + std::to_string((e * per_event + j) % o.recipients);
      d.role = treve::policy::Role::student;
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

// The webhook receiver: answers 200 at once and checks each recipient's order, per sink.
class Receiver {
 public:
  Receiver(long long recipients, int sinks)
      : sinks_(static_cast<std::size_t>(sinks)),
        recipients_(static_cast<std::size_t>(recipients)),
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

  // Per sink (its index in the URL path): the first and last arrival, deliveries, requests
  // and deliveries received twice.
  std::int64_t first_ms(std::size_t sink) const { return first_ms_[sink].load(); }
  std::int64_t last_ms(std::size_t sink) const { return last_ms_[sink].load(); }
  long long received(std::size_t sink) const { return received_[sink].load(); }
  long long requests(std::size_t sink) const { return requests_[sink].load(); }
  long long duplicates(std::size_t sink) const { return duplicates_[sink].load(); }
  // Recipients with at least one delivery from `sink`, and how many of them saw one out of
  // order.
  std::pair<long long, long long> order(std::size_t sink) const {
    std::lock_guard lock(mutex_);
    long long seen = 0, bad = 0;
    for (std::size_t i = sink * recipients_; i < (sink + 1) * recipients_; ++i) {
      if (last_[i] >= 0)
        ++seen;
      if (out_of_order_[i])
        ++bad;
    }
    return {seen, bad};
  }

 private:
  void on(const std::string& body, std::size_t sink) {
    if (sink >= sinks_)
      return;
    const std::int64_t t = now_ms();
    std::int64_t expected = 0;
    first_ms_[sink].compare_exchange_strong(expected, t);
    last_ms_[sink] = t;
    ++requests_[sink];
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
      ++received_[sink];
      std::lock_guard lock(mutex_);
      if (r >= recipients_)
        return;
      r += sink * recipients_;
      if (event == last_[r]) {
        ++duplicates_[sink];
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

  std::array<std::atomic<std::int64_t>, kMaxSinks> first_ms_{}, last_ms_{};
  std::array<std::atomic<long long>, kMaxSinks> received_{}, requests_{}, duplicates_{};
  mutable std::mutex mutex_;
  std::size_t sinks_;
  std::size_t recipients_;
  std::vector<long long> last_;
  std::vector<char> out_of_order_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<treve::http::Server> server_;
  std::thread thread_;
};

// An fcm sink's stand-in, and its /stats as last read.
struct FcmStand {
  std::size_t sink = 0;
  std::unique_ptr<treve::test::FcmService> service;
  fs::path credentials_file;
  boost::json::object stats;
  long long max_rss_kb = 0;
};

long long int_of(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<long long>() : 0;
}

// The copies the stand-in took, each once: in order (fresh) or not (late), never a repeat.
long long fcm_copies(const FcmStand& st) {
  return int_of(st.stats, "order_fresh") + int_of(st.stats, "order_late");
}

void write_config(const fs::path& root, const fs::path& state, unsigned short receiver_port,
                  int batch_max, int max_in_flight, const std::vector<std::string>& channels,
                  const std::vector<FcmStand>& stands) {
  std::ofstream c(root / "treve.toml");
  // The deliveries' release instant is set in the store (set_release), not by the policy: the
  // policy's one quiet window (a minute, twelve hours away) keeps the daemon from holding them
  // again when they are sent (the dispatcher decides each delivery again then).
  const auto now = std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now());
  const long long hour =
      (std::chrono::duration_cast<std::chrono::hours>(now.time_since_epoch()).count() + 12) % 24;
  char window[64];
  std::snprintf(window, sizeof window, "start = \"%02lld:00\"\nend = \"%02lld:01\"\n", hour, hour);
  c << "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"" << state.string() << "\"\n\n"
    << "[policy]\ntimezone = \"UTC\"\n\n[[policy.quiet]]\n"
    << "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
    << window << "\n"
    << "[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" << kTokenHash << "\"\n\n";
  for (std::size_t k = 0; k < channels.size(); ++k) {
    c << "[[sinks]]\nname = \"push" << k << "\"\n";
    if (channels[k] == "fcm") {
      const auto st = std::ranges::find(stands, k, &FcmStand::sink);
      c << "type = \"fcm\"\nproject_id = \"" << treve::test::FcmService::kProject
        << "\"\ncredentials_file = \"" << st->credentials_file.string() << "\"\nendpoint = \""
        << st->service->endpoint() << "\"\nca_file = \"" << st->service->ca_file() << "\"\n";
    } else {
      c << "type = \"webhook\"\nurl = \"http://127.0.0.1:" << receiver_port << "/hook/" << k
        << "\"\nsecret_file = \"" << TREVE_SOURCE_DIR
        << "/systemd/ent-push.secret\"\nbatch_max = " << batch_max << "\n";
    }
    c << "max_in_flight = " << max_in_flight << "\n\n";
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

// Each sink's copies by state in the store, and how many took more than one attempt.
std::vector<std::string> store_summary(const fs::path& db_path) {
  std::vector<std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return {"cannot open the store"};
  }
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT coalesce(sink, '-'), state, count(*), sum(attempts > 1), max(attempts) "
      "FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      char line[256];
      std::snprintf(line, sizeof line, "%s %s: %lld (more than one attempt: %lld, most: %lld)",
                    reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                    reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
                    static_cast<long long>(sqlite3_column_int64(st, 2)),
                    static_cast<long long>(sqlite3_column_int64(st, 3)),
                    static_cast<long long>(sqlite3_column_int64(st, 4)));
      out.emplace_back(line);
    }
  } else {
    out.emplace_back(std::string("cannot read the store: ") + sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

struct SinkResult {
  std::string type;
  long long copies = 0;
  double first_ms = 0, drain_s = 0, drain_per_s = 0;
  long long requests = 0;    // webhook: requests; fcm: messages:send answered
  long long duplicates = 0;  // copies received again (fcm: the same event id again)
  long long recipients = 0, out_of_order = 0;
  double order_kept_pct = 0;
  // fcm: the stand-in (Node.js, not trêve).
  double node_max_rss_mb = 0, node_hwm_mb = 0, node_cpu_s = 0;
  std::vector<ThreadTime> node_threads;
  long long connections = 0, sessions = 0, token_requests = 0, unauthorized = 0;
};

struct PhaseResult {
  double first_ms = 0;
  double drain_per_s = 0;
  double drain_s = 0;
  long long received = 0, requests = 0, duplicates = 0;
  double order_kept_pct = 0;
  double max_rss_mb = 0, hwm_mb = 0, daemon_cpu_s = 0;
  std::vector<ThreadTime> daemon_threads;
  std::vector<double> rss_by_tenth_mb;  // the daemon's RSS as each tenth of the copies arrived
  bool complete = false;
  std::vector<SinkResult> sinks;
  std::vector<std::string> store;
  long long failed_attempts_logged = 0;
  std::string first_failed_attempt;
};

PhaseResult run_phase(const Options& o, const fs::path& base, const std::string& name,
                      int batch_max) {
  PhaseResult res;
  const fs::path root = base / name;
  fs::remove_all(root);
  fs::create_directories(root);
  fs::copy(base / "template", root / "state", fs::copy_options::recursive);
  Receiver receiver(o.recipients, o.fanout);
  // The stand-ins' statistics are read over HTTPS on this thread.
  boost::asio::io_context ioc;
  treve::dispatch::HttpClient http(ioc, treve::dispatch::HttpClient::Options{});
  std::vector<FcmStand> stands;
  for (std::size_t k = 0; k < o.channels.size(); ++k) {
    if (o.channels[k] != "fcm")
      continue;
    FcmStand st;
    st.sink = k;
    try {
      st.service = std::make_unique<treve::test::FcmService>(
          treve::test::FcmServiceOptions{.log = false, .check_order = true});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "the FCM stand-in: %s\n", e.what());
      return res;
    }
    st.credentials_file = root / ("fcm-push" + std::to_string(k) + ".json");
    std::ofstream(st.credentials_file) << st.service->credentials();
    fs::permissions(st.credentials_file, fs::perms::owner_read | fs::perms::owner_write);
    stands.push_back(std::move(st));
  }
  const auto poll_stands = [&] {
    for (auto& st : stands) {
      try {
        st.stats = st.service->stats(ioc, http);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "  push%zu: %s\n", st.sink, e.what());
      }
    }
  };
  write_config(root, root / "state", receiver.port(), batch_max, o.max_in_flight, o.channels,
               stands);
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
  const auto copies = [&] {
    long long n = 0;
    for (std::size_t k = 0; k < o.channels.size(); ++k) {
      if (o.channels[k] == "webhook")
        n += receiver.received(k);
    }
    for (const auto& st : stands)
      n += fcm_copies(st);
    return n;
  };
  long long max_rss = 0;
  const auto give_up = treve::bench::Clock::now() + std::chrono::seconds(o.timeout_s);
  long long last_count = -1;
  auto last_progress = treve::bench::Clock::now();
  for (long long tick = 1;; ++tick) {
    std::this_thread::sleep_for(100ms);
    const long long rss = process_memory(daemon.pid()).rss_kb;
    max_rss = std::max(max_rss, rss);
    for (auto& st : stands) {
      st.max_rss_kb = std::max(st.max_rss_kb, process_memory(st.service->pid()).rss_kb);
    }
    // The stand-ins' counts every half second: their own clock dates the copies.
    if (tick % 5 == 0)
      poll_stands();
    const long long n = copies();
    while (res.rss_by_tenth_mb.size() < 10 &&
           n * 10 >= expected * static_cast<long long>(res.rss_by_tenth_mb.size() + 1)) {
      res.rss_by_tenth_mb.push_back(static_cast<double>(rss) / 1024.0);
    }
    if (n >= expected)
      break;
    if (n != last_count) {
      last_count = n;
      last_progress = treve::bench::Clock::now();
    }
    if (treve::bench::Clock::now() > give_up ||
        (now_ms() > window_end + 5000 && treve::bench::Clock::now() - last_progress > 30s)) {
      std::fprintf(stderr, "  stalled at %lld copies\n", n);
      daemon.print_tail(20);
      break;
    }
  }
  poll_stands();
  res.complete = copies() >= expected;
  res.hwm_mb = static_cast<double>(process_memory(daemon.pid()).hwm_kb) / 1024.0;
  res.max_rss_mb = static_cast<double>(max_rss) / 1024.0;
  res.daemon_cpu_s = cpu_seconds(daemon.pid());
  res.daemon_threads = thread_times(daemon.pid());
  res.failed_attempts_logged = daemon.count_lines("event=dispatch.attempt_failed");
  res.first_failed_attempt = daemon.find_line("event=dispatch.attempt_failed");
  daemon.stop();
  res.store = store_summary(root / "state" / "treve.db");

  long long seen_all = 0, bad_all = 0;
  std::int64_t first = 0, last = 0;
  for (std::size_t k = 0; k < o.channels.size(); ++k) {
    SinkResult s;
    s.type = o.channels[k];
    std::int64_t sink_first = 0, sink_last = 0;
    if (s.type == "webhook") {
      sink_first = receiver.first_ms(k);
      sink_last = receiver.last_ms(k);
      s.copies = receiver.received(k);
      s.requests = receiver.requests(k);
      s.duplicates = receiver.duplicates(k);
      std::tie(s.recipients, s.out_of_order) = receiver.order(k);
    } else {
      const auto& st = *std::ranges::find(stands, k, &FcmStand::sink);
      sink_first = int_of(st.stats, "first_message_at");
      sink_last = int_of(st.stats, "last_message_at");
      s.copies = fcm_copies(st);
      s.requests = int_of(st.stats, "answered");
      s.duplicates = int_of(st.stats, "order_repeats");
      s.recipients = int_of(st.stats, "order_tokens");
      s.out_of_order = int_of(st.stats, "order_late_tokens");
      s.node_max_rss_mb = static_cast<double>(st.max_rss_kb) / 1024.0;
      s.node_hwm_mb = static_cast<double>(process_memory(st.service->pid()).hwm_kb) / 1024.0;
      s.node_cpu_s = cpu_seconds(st.service->pid());
      s.node_threads = thread_times(st.service->pid());
      s.connections = int_of(st.stats, "connections");
      s.sessions = int_of(st.stats, "sessions");
      s.token_requests = int_of(st.stats, "token_requests");
      s.unauthorized = int_of(st.stats, "unauthorized");
    }
    s.first_ms = static_cast<double>(sink_first - window_end);
    s.drain_s = static_cast<double>(sink_last - window_end) / 1000.0;
    s.drain_per_s = static_cast<double>(s.copies) / s.drain_s;
    s.order_kept_pct = s.recipients ? 100.0 * static_cast<double>(s.recipients - s.out_of_order) /
                                          static_cast<double>(s.recipients)
                                    : 0.0;
    if (sink_first != 0 && (first == 0 || sink_first < first))
      first = sink_first;
    last = std::max(last, sink_last);
    res.received += s.copies;
    res.requests += s.requests;
    res.duplicates += s.duplicates;
    seen_all += s.recipients;
    bad_all += s.out_of_order;
    res.sinks.push_back(std::move(s));
  }
  res.first_ms = static_cast<double>(first - window_end);
  res.drain_s = static_cast<double>(last - window_end) / 1000.0;
  res.drain_per_s = static_cast<double>(res.received) / res.drain_s;
  res.order_kept_pct =
      seen_all ? 100.0 * static_cast<double>(seen_all - bad_all) / static_cast<double>(seen_all)
               : 0.0;
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
      o.fanout = std::clamp(std::atoi(next().c_str()), 1, kMaxSinks);
      o.channels.clear();
    } else if (a == "--fanout-channels") {
      o.channels.clear();
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');)
        o.channels.push_back(t);
      if (o.channels.empty() || o.channels.size() > kMaxSinks ||
          std::ranges::any_of(o.channels,
                              [](const std::string& t) { return t != "webhook" && t != "fcm"; })) {
        std::fprintf(stderr, "--fanout-channels: 1 to %d of webhook and fcm, comma-separated\n",
                     kMaxSinks);
        return 2;
      }
    } else if (a == "--timeout") {
      o.timeout_s = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--keep") {
      o.keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_release [--deliveries N] [--recipients R] "
                   "[--phases batch,single] [--max-in-flight M] "
                   "[--fanout K | --fanout-channels webhook,fcm] [--timeout S] [--dir BASE] "
                   "[--keep]\n");
      return 2;
    }
  }
  if (o.channels.empty())
    o.channels.assign(static_cast<std::size_t>(o.fanout), "webhook");
  o.fanout = static_cast<int>(o.channels.size());
  if (o.any_fcm()) {
    if (auto why = treve::test::FcmService::missing()) {
      std::fprintf(stderr, "bench_release: %s\n", why->c_str());
      return 1;
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
    if (o.channels.size() > 1 || o.any_fcm()) {
      for (std::size_t k = 0; k < r.sinks.size(); ++k) {
        const SinkResult& s = r.sinks[k];
        std::printf(
            "  push%zu (%s): %lld copies, first %.0f ms, last %.1f s: %.0f/s, %s %lld, order "
            "kept %.2f%% of %lld recipients, dupes %lld\n",
            k, s.type.c_str(), s.copies, s.first_ms, s.drain_s, s.drain_per_s,
            s.type == "fcm" ? "messages:send" : "requests", s.requests, s.order_kept_pct,
            s.recipients, s.duplicates);
        if (s.type == "fcm") {
          std::printf(
              "    stand-in (Node.js, not trêve): max RSS %.1f MB, HWM %.1f MB, CPU %.1f s; %lld "
              "connection(s), %lld HTTP/2 session(s), %lld token request(s), %lld 401s\n",
              s.node_max_rss_mb, s.node_hwm_mb, s.node_cpu_s, s.connections, s.sessions,
              s.token_requests, s.unauthorized);
          std::printf("    stand-in's busiest thread: %s\n",
                      thread_text(s.node_threads, 1).c_str());
        }
      }
      std::printf("  daemon: CPU %.1f s; %lld failed attempt(s) logged%s%s\n", r.daemon_cpu_s,
                  r.failed_attempts_logged, r.first_failed_attempt.empty() ? "" : ", the first: ",
                  r.first_failed_attempt.substr(0, 300).c_str());
      std::printf("  daemon's busiest threads: %s\n", thread_text(r.daemon_threads, 3).c_str());
      std::printf("  daemon's RSS (MB) as each tenth of the copies had arrived:");
      for (double mb : r.rss_by_tenth_mb)
        std::printf(" %.1f", mb);
      std::printf("\n");
      for (const auto& line : r.store)
        std::printf("  store: %s\n", line.c_str());
    }
    std::fflush(stdout);
    if (!r.complete)
      status = 1;
  }
  if (!o.keep)
    fs::remove_all(base);
  return status;
}
