// The soak (issue 19 §2): the real `treve serve` under mixed load for a long while (30 minutes
// by default), its memory, descriptors and threads sampled every 10 s. A program with a
// verdict, not a timed test.
//
// The load, all at once and all the time:
//   - connectors: --threads threads posting to POST /v1/events (single events, 60% of the
//     requests) and POST /v1/events:batch (NDJSON batches of 2 to 10), --rate events per second
//     in all, to three establishments: 0750654D, whose windows (from the configuration file)
//     are quiet 3 minutes in every 5, 0250001R, whose windows come from the admin API, and
//     0570001S, never quiet during the run (delivered at once, a parent's grade 5 minutes after
//     the student's); so deliveries are held and released at a window's end every few minutes;
//   - a webhook receiver in this process that answers 503 to 10% of requests (half of them
//     with Retry-After: 1), so the daemon retries, and 1% after 2 s (a slow receiver);
//   - an administrator (Rectorat, over the admin API on loopback) saving 0250001R's policy
//     every 30 s, alternating two valid documents (windows at :01–:04 or :02–:05 of every five
//     minutes), each re-planning what the school holds;
//   - a reload every 60 s: the configuration file rewritten (the sink's batch_max 20 or 25, a
//     second connector or not) and SIGHUP;
//   - purges: retention is one day (the least allowed) for the audit trail and event bodies, and
//     the test hook `[testing] purge_interval_minutes = 1` runs the purge every minute instead of
//     every 24 hours. Before the daemon starts, the state_dir is seeded through the store with
//     --seed-per-minute delivered events received a day before the run, spread over its length,
//     so that each purge removes the minute of them that has just come of age (events,
//     deliveries, bodies and the leading audit records, with a checkpoint).
//
// Every 10 s: the daemon's VmRSS, its open descriptors (entries of /proc/PID/fd) and threads
// (Threads: of /proc/PID/status); events acknowledged (answered 202), deliveries received
// (in requests answered 200), 503s answered, reloads, admin edits, purges, errors.
//
// At the end: a table with one line per minute (and one per five minutes), then the verdict:
//   - RSS flat within 10%: the first --warmup minutes (default 5) are a warm-up (caches, the
//     allocator's arenas, SQLite's page cache filling); each later minute's RSS is the median of
//     its samples; the highest of those medians must be at most 110% of the first post-warm-up
//     minute's;
//   - descriptors and threads do not grow: the highest count after the warm-up is at most the
//     highest of the warm-up's last minute plus a tolerance. Descriptors: the sink's
//     max_in_flight (4: connections to the receiver are opened as requests need them, and one
//     slow answer keeps one open longer), plus one for an admin request's connection and one
//     for the file a reload reads: 6. Threads: 0 (the daemon's threads are all started at start:
//     listeners, writer, checkpointer, batch parser, dispatcher, reloader, admin worker);
//   - no acknowledged event lost: after the daemon is stopped (SIGTERM, exit 0), every event
//     answered 202 is in the store;
//   - no errors: every request answered (202, or 200 for a batch with every line 202), every
//     admin edit saved, every reload applied, the daemon alive throughout, and `treve audit
//     verify --heads` passing on the trail the purges cut.
// The exit status is 1 when any of these fails.
//
// Run: build/release/tests/bench/bench_soak [--minutes M] [--rate R] [--threads T]
//      [--warmup W] [--seed-per-minute N] [--dir BASE] [--keep]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "daemon/core/digest.h"
#include "daemon/http/server.h"
#include "daemon/store/sqlite_store.h"
#include "tests/bench/bench_process.h"
#include "tests/integration/daemon_harness.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using treve::bench::Clock;
using treve::bench::seconds_between;
using treve::itest::EventSpec;
using treve::itest::HttpClient;
using SysClock = std::chrono::system_clock;

// Quiet 3 minutes in every 5 from the configuration file.
const std::string kHeldUai = "0750654D";
// Quiet windows from the admin API, edited every 30 s.
const std::string kEditedUai = "0250001R";
// Never quiet during the run.
const std::string kOpenUai = "0570001S";
// The sink's connections at most (its max_in_flight): the descriptors' tolerance builds on it.
constexpr int kSinkInFlight = 4;
constexpr int kFdTolerance = kSinkInFlight + 2;
constexpr int kThreadTolerance = 0;

struct Options {
  int minutes = 30;
  double rate = 200;  // events per second, all connector threads together
  int threads = 4;
  int warmup = 5;
  int seed_per_minute = 1000;
  std::string dir = "/tmp/treve-soak";
  bool keep = false;
};

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string utc_now_text() {
  return treve::itest::utc_rfc3339(SysClock::now()).substr(0, 19) + "Z";
}

// ---- the history the purges remove -----------------------------------------------------------

// Writes `per_minute` events a minute, received from a day before `start` minus one minute to a
// day before `start` plus `span_minutes`, each with two deliveries held, released and delivered
// at once, through the store's own calls (so the audit chain is the daemon's own). Returns the
// number of events.
long long seed_history(const fs::path& state, SysClock::time_point start, int span_minutes,
                       int per_minute) {
  fs::create_directories(state);
  {
    std::ofstream key(state / "pseudonym.key", std::ios::binary);
    key << std::string(32, '\x5a');
  }
  fs::permissions(state / "pseudonym.key", fs::perms::owner_read | fs::perms::owner_write);
  treve::store::SqliteOptions so;
  so.path = (state / "treve.db").string();
  so.pseudonym_key.fill(0x5a);
  auto opened = treve::store::SqliteStore::open(so);
  if (!opened) {
    std::fprintf(stderr, "cannot open the store: %s\n", opened.error().message.c_str());
    return -1;
  }
  auto& store = **opened;
  const auto zone = date::locate_zone("UTC");
  const auto first = treve::policy::Instant{std::chrono::duration_cast<std::chrono::milliseconds>(
                         start.time_since_epoch())} -
                     std::chrono::hours{24} - std::chrono::minutes{1};
  const long long total = static_cast<long long>(span_minutes + 1) * per_minute;
  const auto step = std::chrono::milliseconds{60'000 / std::max(1, per_minute)};
  std::int64_t after_ready = 0;
  std::vector<treve::store::NewEvent> batch;
  for (long long e = 0; e < total; ++e) {
    treve::store::NewEvent ev;
    ev.source = "ent";
    ev.id = "seed-" + std::to_string(e);
    ev.establishment = kOpenUai;
    ev.category = treve::policy::Category::message;
    ev.received_at = first + step * e;
    ev.zone = zone;
    ev.body = R"({"id":")" + ev.id + R"(","title":"Message d'hier","payload":{"n":)" +
              std::to_string(e) + "}}";
    ev.body_sha256 = treve::core::sha256_hex(ev.body);
    ev.response = "{}";
    for (int j = 0; j < 2; ++j) {
      treve::store::NewDelivery d;
      d.recipient = "s-seed-" + std::to_string((e * 2 + j) % 5000);
      d.release_at = ev.received_at;
      d.reason = "seed";
      d.sinks = {"hook"};
      ev.deliveries.push_back(std::move(d));
    }
    batch.push_back(std::move(ev));
    if (batch.size() < 100 && e + 1 < total)
      continue;
    const auto now = batch.back().received_at;
    if (auto r = store.accept(batch, now); !r) {
      std::fprintf(stderr, "cannot seed: %s\n", r.error().message.c_str());
      return -1;
    }
    batch.clear();
    if (auto r = store.release_due(now, 100'000); !r) {
      std::fprintf(stderr, "cannot release the seed: %s\n", r.error().message.c_str());
      return -1;
    }
    auto ready = store.ready(after_ready, 100'000);
    if (!ready) {
      std::fprintf(stderr, "cannot read the seed: %s\n", ready.error().message.c_str());
      return -1;
    }
    std::vector<treve::store::DeliveryOutcome> outcomes;
    for (const auto& item : *ready) {
      after_ready = std::max(after_ready, item.ready_seq);
      treve::store::DeliveryOutcome o;
      o.kind = treve::store::DeliveryOutcome::Kind::delivered;
      o.ref = item.ref;
      o.sink = "hook";
      o.channel = "webhook";
      o.webhook_id = "msg_seed_" + std::to_string(item.ref.seq);
      o.delivery_id = o.webhook_id;
      o.attempts = 1;
      o.status = 200;
      o.first_attempt_at = now;
      o.due_at = item.released_at;
      outcomes.push_back(std::move(o));
    }
    if (auto r = store.record_outcomes(outcomes, now + std::chrono::seconds{1}); !r) {
      std::fprintf(stderr, "cannot deliver the seed: %s\n", r.error().message.c_str());
      return -1;
    }
  }
  return total;
}

// ---- quiet windows ---------------------------------------------------------------------------

struct Window {
  std::string start, end;  // "HH:MM", UTC
};

std::string hhmm(int minute_of_day) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute_of_day / 60 % 24, minute_of_day % 60);
  return buf;
}

// Every five minutes of the hours (UTC) the run may reach, [m + offset, m + offset + length).
std::vector<Window> windows(SysClock::time_point from, SysClock::time_point to, int offset,
                            int length) {
  std::set<int> hours;
  for (auto t = from - 5min; t <= to + 15min && hours.size() < 24; t += 30min)
    hours.insert(static_cast<int>(
        std::chrono::duration_cast<std::chrono::hours>(t.time_since_epoch()).count() % 24));
  std::vector<Window> out;
  for (int h : hours) {
    for (int m = 0; m < 60; m += 5)
      out.push_back({hhmm(h * 60 + m + offset), hhmm(h * 60 + m + offset + length)});
  }
  return out;
}

constexpr const char* kEveryDay = R"(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])";

// The admin's document for kEditedUai, one of two by `edit`'s parity.
std::string policy_document(const std::vector<Window>& ws, long long edit) {
  json::array quiet;
  for (const auto& w : ws) {
    quiet.push_back(
        json::object{{"days", json::parse(kEveryDay)}, {"start", w.start}, {"end", w.end}});
  }
  return json::serialize(json::object{
      {"policy", json::object{{"quiet", std::move(quiet)}}},
      {"comment", "soak: edit " + std::to_string(edit)},
      {"confirm_weaker", true},
  });
}

// ---- the configuration -----------------------------------------------------------------------

struct Setup {
  fs::path root, state;
  unsigned short receiver_port = 0;
  unsigned short admin_port = 0;  // a free one (it must differ from the ingest listener's 0)
  std::vector<Window> held_windows;
  int open_hour = 0;  // the [policy] window, a minute long, twelve hours from the start
};

void write_config(const Setup& s, int variant) {
  std::ostringstream c;
  c << "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:" << s.admin_port
    << "\"\nstate_dir = \"" << s.state.string() << "\"\n"
    << "\n[policy]\ntimezone = \"UTC\"\nparent_grade_delay = \"5m\"\n"
    << "urgent_categories = [\"alert\"]\nholidays = []\n"
    << "\n[[policy.quiet]]\ndays = " << kEveryDay << "\nstart = \"" << hhmm(s.open_hour * 60)
    << "\"\nend = \"" << hhmm(s.open_hour * 60 + 1) << "\"\n";
  for (const auto& w : s.held_windows) {
    c << "\n[[establishments.\"" << kHeldUai << "\".quiet]]\ndays = " << kEveryDay << "\nstart = \""
      << w.start << "\"\nend = \"" << w.end << "\"\n";
  }
  c << "\n[[connectors]]\nname = \"ent\"\ntoken_sha256 = \""
    << treve::itest::sha256_hex(treve::test::kEntToken) << "\"\n";
  if (variant % 2) {
    c << "\n[[connectors]]\nname = \"alert\"\ntoken_sha256 = \""
      << treve::itest::sha256_hex(treve::test::kAlertToken) << "\"\nmay_bypass = true\n";
  }
  c << "\n[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:"
    << s.receiver_port << "/hook\"\nsecret_file = \"" << TREVE_SOURCE_DIR
    << "/systemd/ent-push.secret\"\nbatch_max = " << (variant % 2 ? 25 : 20)
    << "\nmax_in_flight = " << kSinkInFlight << "\ntimeout = \"5s\"\n"
    << treve::itest::with_rectorat_admin().extra_config
    << "\n[audit]\nretention = \"1d\"\n\n[events]\nretention = \"1d\"\n"
    << "\n[testing]\npurge_interval_minutes = 1\n";
  std::ofstream out(s.root / "treve.toml.new", std::ios::trunc);
  out << c.str();
  out.close();
  fs::rename(s.root / "treve.toml.new", s.root / "treve.toml");  // a reload reads it whole
}

// ---- the webhook receiver --------------------------------------------------------------------

// Answers 503 to 10% of requests (half with Retry-After: 1) and 200 to the others, 1% of them
// after 2 s; counts requests and the deliveries in them.
class Receiver {
 public:
  Receiver() : work_(boost::asio::make_work_guard(ioc_)) {
    treve::http::ServerOptions so;
    so.name = "receiver";
    so.max_connections = 4096;
    so.body_limit = [](const treve::http::Request&) { return std::size_t{64} << 20; };
    server_ = std::make_unique<treve::http::Server>(
        ioc_,
        [this](treve::http::Request&& req, treve::http::Respond respond) {
          on(std::move(req), std::move(respond));
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

  std::atomic<long long> requests{0}, deliveries{0}, refused{0}, refused_deliveries{0}, slow{0},
      unreadable{0};

 private:
  void on(treve::http::Request&& req, treve::http::Respond respond) {
    ++requests;
    boost::system::error_code ec;
    const auto body = json::parse(req.body(), ec);
    long long n = 0;
    if (ec) {
      ++unreadable;
    } else {
      n = body.is_array() ? static_cast<long long>(body.as_array().size()) : 1;
    }
    const auto roll = rng_() % 1000;  // on the receiver's one thread
    treve::http::Response r{boost::beast::http::status::ok, req.version()};
    r.keep_alive(req.keep_alive());
    if (roll < 100) {
      ++refused;
      refused_deliveries += n;
      r.result(boost::beast::http::status::service_unavailable);
      if (roll < 50)
        r.set(boost::beast::http::field::retry_after, "1");
      r.prepare_payload();
      respond(std::move(r));
      return;
    }
    deliveries += n;
    r.prepare_payload();
    if (roll < 110) {
      ++slow;
      auto timer = std::make_shared<boost::asio::steady_timer>(ioc_, 2s);
      timer->async_wait([timer, r = std::move(r), respond = std::move(respond)](
                            const boost::system::error_code&) mutable { respond(std::move(r)); });
      return;
    }
    respond(std::move(r));
  }

  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<treve::http::Server> server_;
  std::mt19937_64 rng_{19};
  std::thread thread_;
};

// ---- the connectors --------------------------------------------------------------------------

struct Ingest {
  std::atomic<long long> requests{0}, sent{0}, acked{0}, errors{0};
  std::mutex mutex;
  std::vector<std::string> acked_ids;
  std::vector<std::string> first_errors;

  void error(std::string what) {
    ++errors;
    std::lock_guard lock(mutex);
    if (first_errors.size() < 10)
      first_errors.push_back(std::move(what));
  }
};

std::string make_event(std::mt19937_64& rng, const std::string& id) {
  static const std::vector<std::pair<const char*, int>> kCategories = {
      {"message", 35}, {"homework", 20}, {"grade", 15}, {"news", 10},
      {"absence", 10}, {"schedule", 5},  {"blog", 5}};
  EventSpec spec;
  spec.id = id;
  const auto where = rng() % 100;
  spec.establishment = where < 40 ? kHeldUai : where < 70 ? kEditedUai : kOpenUai;
  int w = static_cast<int>(rng() % 100);
  for (const auto& [name, weight] : kCategories) {
    spec.category = name;
    if (w < weight)
      break;
    w -= weight;
  }
  // One student of 3,000 per school, and with a grade the student's parent, or else up to two
  // classmates (the next students on the roll, so never one listed twice).
  const auto student = rng() % 3000;
  const std::string sid = "s-" + spec.establishment + "-" + std::to_string(student);
  spec.recipients.push_back({sid, "student", ""});
  if (spec.category == "grade") {
    spec.recipients.push_back(
        {"p-" + spec.establishment + "-" + std::to_string(student), "parent", sid});
  } else {
    for (int extra = static_cast<int>(rng() % 3); extra > 0; --extra) {
      spec.recipients.push_back(
          {"s-" + spec.establishment + "-" +
               std::to_string((student + static_cast<unsigned>(extra)) % 3000),
           "student", ""});
    }
  }
  spec.title = "Nouveau message de Mme Lefèvre";
  spec.payload = json::object{{"url", "https://ent.example/" + spec.category + "/" + id},
                              {"excerpt", "La sortie au musée aura lieu jeudi."}};
  return treve::itest::event_body(spec);
}

// One connector thread: single events and NDJSON batches at `rate` events per second.
void connector(int index, double rate, unsigned short port, const std::atomic<bool>& stop,
               Ingest& ingest) {
  std::mt19937_64 rng(1000 + static_cast<unsigned>(index));
  HttpClient client(port, 15s);
  long long n = 0;
  auto next = Clock::now();
  std::vector<std::string> acked;
  while (!stop.load()) {
    const int events = rng() % 100 < 60 ? 1 : 2 + static_cast<int>(rng() % 9);
    std::vector<std::string> ids;
    std::string body;
    for (int i = 0; i < events; ++i) {
      ids.push_back("soak-" + std::to_string(index) + "-" + std::to_string(n++));
      if (i)
        body += '\n';
      body += make_event(rng, ids.back());
    }
    ++ingest.requests;
    ingest.sent += events;
    try {
      if (events == 1) {
        const auto r = client.post_event(body);
        if (r.status == 202) {
          acked.push_back(ids[0]);
        } else {
          ingest.error("single: HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200));
        }
      } else {
        const auto r = client.post_batch(body);
        if (r.status != 200) {
          ingest.error("batch: HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200));
        } else {
          std::istringstream lines(r.body);
          int answered = 0;
          for (std::string line; std::getline(lines, line);) {
            if (line.empty())
              continue;
            ++answered;
            const auto o = json::parse(line).as_object();
            if (o.at("status").as_int64() == 202) {
              acked.push_back(std::string(o.at("id").as_string()));
            } else {
              ingest.error("batch line: " + line.substr(0, 200));
            }
          }
          if (answered != events)
            ingest.error("batch: " + std::to_string(answered) + " lines for " +
                         std::to_string(events) + " events");
        }
      }
    } catch (const std::exception& e) {
      ingest.error(std::string("transport: ") + e.what());
      client.close();
    }
    {
      std::lock_guard lock(ingest.mutex);
      ingest.acked += static_cast<long long>(acked.size());
      ingest.acked_ids.insert(ingest.acked_ids.end(), std::make_move_iterator(acked.begin()),
                              std::make_move_iterator(acked.end()));
    }
    acked.clear();
    next += std::chrono::microseconds(static_cast<long long>(1e6 * events / rate));
    const auto now = Clock::now();
    if (now > next + 2s)
      next = now;  // fell behind (the machine is busy): no burst to catch up
    std::this_thread::sleep_until(next);
  }
}

// ---- samples ---------------------------------------------------------------------------------

struct Sample {
  double t = 0;  // seconds since the load started
  long long rss_kb = 0, anon_kb = 0;
  int fds = 0, threads = 0;
  long long sent = 0, acked = 0, delivered = 0, refused = 0, slow = 0, errors = 0;
  long long reloads = 0, admin_edits = 0, purges = 0, purged_events = 0, purged_records = 0;
  long long attempt_failed = 0;
};

long long field(const std::string& line, const std::string& key) {
  const auto at = line.find(" " + key + "=");
  return at == std::string::npos ? 0 : std::atoll(line.c_str() + at + key.size() + 2);
}

double median(std::vector<long long> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? static_cast<double>(v[n / 2])
               : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2;
}

void print_table(const std::vector<Sample>& samples, int minutes, int step) {
  std::printf("%7s %9s %8s %8s %9s %9s %10s %11s %7s %8s %6s %6s %7s %9s %7s\n", "minute",
              "RSS med", "RSS max", "anon med", "FDs", "threads", "events", "deliveries", "503s",
              "slow", "reload", "admin", "purges", "purged ev", "errors");
  for (int from = 0; from < minutes; from += step) {
    std::vector<long long> rss, anon;
    int fd_lo = 1 << 30, fd_hi = 0, th_lo = 1 << 30, th_hi = 0;
    const Sample* last = nullptr;
    for (const auto& s : samples) {
      const int m = std::min(static_cast<int>(s.t / 60), minutes - 1);
      if (m < from || m >= from + step)
        continue;
      rss.push_back(s.rss_kb);
      anon.push_back(s.anon_kb);
      fd_lo = std::min(fd_lo, s.fds);
      fd_hi = std::max(fd_hi, s.fds);
      th_lo = std::min(th_lo, s.threads);
      th_hi = std::max(th_hi, s.threads);
      last = &s;
    }
    if (!last)
      continue;
    char fds[24], ths[24], label[24];
    std::snprintf(fds, sizeof fds, "%d-%d", fd_lo, fd_hi);
    std::snprintf(ths, sizeof ths, "%d-%d", th_lo, th_hi);
    if (step == 1) {
      std::snprintf(label, sizeof label, "%d", from);
    } else {
      std::snprintf(label, sizeof label, "%d-%d", from, std::min(from + step, minutes));
    }
    std::printf(
        "%7s %8.1fM %7.1fM %7.1fM %9s %9s %10lld %11lld %7lld %8lld %6lld %6lld %7lld %9lld "
        "%7lld\n",
        label, median(rss) / 1024.0,
        static_cast<double>(*std::max_element(rss.begin(), rss.end())) / 1024.0,
        median(anon) / 1024.0, fds, ths, last->acked, last->delivered, last->refused, last->slow,
        last->reloads, last->admin_edits, last->purges, last->purged_events, last->errors);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--minutes") {
      o.minutes = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--rate") {
      o.rate = std::max(1.0, std::atof(next().c_str()));
    } else if (a == "--threads") {
      o.threads = std::clamp(std::atoi(next().c_str()), 1, 64);
    } else if (a == "--warmup") {
      o.warmup = std::max(0, std::atoi(next().c_str()));
    } else if (a == "--seed-per-minute") {
      o.seed_per_minute = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--keep") {
      o.keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_soak [--minutes M] [--rate R] [--threads T] [--warmup W] "
                   "[--seed-per-minute N] [--dir BASE] [--keep]\n");
      return 2;
    }
  }
  // A run shorter than two warm-ups keeps a third of itself for the warm-up.
  const int warmup = std::min(o.warmup, std::max(1, o.minutes / 3));
  std::printf(
      "soak: %d minutes (warm-up %d), %.0f events/s over %d connector threads; started %s, "
      "load average %s\n",
      o.minutes, warmup, o.rate, o.threads, utc_now_text().c_str(), load_average().c_str());

  Setup s;
  s.root = o.dir;
  s.state = s.root / "state";
  fs::remove_all(s.root);
  fs::create_directories(s.root);
  const auto start = SysClock::now();
  const auto seed_begin = Clock::now();
  const long long seeded = seed_history(s.state, start, o.minutes + 2, o.seed_per_minute);
  if (seeded < 0)
    return 1;
  std::printf("seeded %lld delivered events received a day ago, in %.1f s\n", seeded,
              seconds_between(seed_begin, Clock::now()));

  Receiver receiver;
  s.receiver_port = receiver.port();
  s.admin_port = treve::itest::free_loopback_port();
  const auto end_of_run = start + std::chrono::minutes(o.minutes);
  s.held_windows = windows(start, end_of_run, 0, 3);
  const std::vector<Window> edited[2] = {windows(start, end_of_run, 1, 3),
                                         windows(start, end_of_run, 2, 3)};
  s.open_hour = static_cast<int>(
      (std::chrono::duration_cast<std::chrono::hours>(start.time_since_epoch()).count() + 12) % 24);
  int variant = 0;
  write_config(s, variant);

  treve::bench::Daemon daemon(TREVE_BINARY, (s.root / "treve.toml").string(),
                              (s.root / "daemon.log").string());
  if (!daemon.spawn()) {
    return 1;
  }
  const unsigned short port = daemon.wait_ready(60s);
  if (!port) {
    std::fprintf(stderr, "the daemon did not become ready\n");
    daemon.print_tail(30);
    return 1;
  }
  unsigned short admin_port = 0;
  {
    const std::string ready = daemon.find_line("event=serve.ready");
    if (auto at = ready.find(" admin="); at != std::string::npos) {
      const std::string where = ready.substr(at + 7, ready.find(' ', at + 7) - at - 7);
      admin_port =
          static_cast<unsigned short>(std::atoi(where.substr(where.rfind(':') + 1).c_str()));
    }
  }
  if (!admin_port) {
    std::fprintf(stderr, "no admin listener in: %s\n", daemon.find_line("serve.ready").c_str());
    return 1;
  }
  std::printf("daemon pid %d, ingest 127.0.0.1:%u, admin 127.0.0.1:%u, receiver 127.0.0.1:%u\n\n",
              daemon.pid(), port, admin_port, s.receiver_port);
  std::fflush(stdout);

  Ingest ingest;
  std::atomic<bool> stop{false};
  std::vector<std::thread> connectors;
  for (int i = 0; i < o.threads; ++i) {
    connectors.emplace_back([&, i] { connector(i, o.rate / o.threads, port, stop, ingest); });
  }

  long long admin_edits = 0, admin_errors = 0, reloads_sent = 0;
  std::vector<std::string> other_errors;
  std::vector<Sample> samples;
  bool died = false;
  const auto load_start = Clock::now();
  const auto load_end = load_start + std::chrono::minutes(o.minutes);
  auto next_sample = load_start;
  auto next_admin = load_start + 30s;
  auto next_reload = load_start + 60s;
  auto take_sample = [&] {
    Sample x;
    x.t = seconds_between(load_start, Clock::now());
    const auto memory = treve::bench::process_memory(daemon.pid());
    x.rss_kb = memory.rss_kb;
    x.anon_kb = memory.anon_kb;
    x.fds = treve::bench::open_descriptors(daemon.pid());
    x.threads = treve::bench::process_threads(daemon.pid());
    x.sent = ingest.sent.load();
    x.acked = ingest.acked.load();
    x.delivered = receiver.deliveries.load();
    x.refused = receiver.refused.load();
    x.slow = receiver.slow.load();
    x.reloads = daemon.count_lines("event=config.reloaded");
    const long long rejected = daemon.count_lines("event=config.reload_rejected");
    x.admin_edits = admin_edits;
    for (const auto& line : daemon.lines_with("event=retention.purged")) {
      ++x.purges;
      x.purged_events += field(line, "events");
      x.purged_records += field(line, "audit_records");
    }
    x.attempt_failed = daemon.count_lines("event=dispatch.attempt_failed");
    x.errors = ingest.errors.load() + admin_errors + rejected +
               static_cast<long long>(receiver.unreadable.load());
    samples.push_back(x);
    if (static_cast<int>(x.t) % 60 < 10) {
      std::printf(
          "  %5.0f s  RSS %.1f MB  FDs %d  threads %d  events %lld  deliveries %lld  503s %lld  "
          "reloads %lld  admin %lld  purges %lld  errors %lld\n",
          x.t, static_cast<double>(x.rss_kb) / 1024.0, x.fds, x.threads, x.acked, x.delivered,
          x.refused, x.reloads, x.admin_edits, x.purges, x.errors);
      std::fflush(stdout);
    }
  };
  while (Clock::now() < load_end) {
    if (!daemon.running()) {
      died = true;
      std::fprintf(stderr, "the daemon exited during the run\n");
      daemon.print_tail(30);
      break;
    }
    const auto now = Clock::now();
    if (now >= next_admin) {
      next_admin += 30s;
      HttpClient admin(admin_port, 30s);  // a connection per edit, as from the admin page
      try {
        const auto r = admin.request(boost::beast::http::verb::put,
                                     "/v1/admin/establishments/" + kEditedUai + "/policy",
                                     policy_document(edited[admin_edits % 2], admin_edits),
                                     {{"Content-Type", "application/json"},
                                      {"Authorization", "Bearer " + treve::test::kRectoratToken}});
        if (r.status == 200) {
          ++admin_edits;
        } else {
          ++admin_errors;
          other_errors.push_back("admin PUT: HTTP " + std::to_string(r.status) + " " +
                                 r.body.substr(0, 300));
        }
      } catch (const std::exception& e) {
        ++admin_errors;
        other_errors.push_back(std::string("admin PUT: ") + e.what());
      }
    }
    if (now >= next_reload) {
      next_reload += 60s;
      write_config(s, ++variant);
      daemon.signal(SIGHUP);
      ++reloads_sent;
    }
    if (now >= next_sample) {
      next_sample += 10s;
      take_sample();
    }
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  for (auto& t : connectors)
    t.join();
  if (!died) {
    // The last reload sent may still be under way.
    const auto give_up = Clock::now() + 30s;
    while (daemon.count_lines("event=config.reloaded") +
                   daemon.count_lines("event=config.reload_rejected") <
               reloads_sent &&
           Clock::now() < give_up)
      std::this_thread::sleep_for(100ms);
    take_sample();
  }
  const double stop_s = daemon.stop();
  const int exit_status = daemon.exit_status();
  std::printf("\nload stopped %s, load average %s; daemon stopped (SIGTERM) in %.1f s, exit %d\n",
              utc_now_text().c_str(), load_average().c_str(), stop_s, exit_status);

  // Every acknowledged event is in the store.
  long long lost = 0;
  std::map<std::string, long long> by_state;
  try {
    treve::itest::Db db((s.state / "treve.db").string());
    std::unordered_set<std::string> stored;
    for (auto& row : db.query("SELECT event_id FROM events WHERE source = 'ent'"))
      stored.insert(row[0].value_or(""));
    std::lock_guard lock(ingest.mutex);
    for (const auto& id : ingest.acked_ids) {
      if (!stored.contains(id)) {
        if (++lost <= 5)
          std::fprintf(stderr, "acknowledged but not stored: %s\n", id.c_str());
      }
    }
    for (auto& row : db.query("SELECT state, count(*) FROM deliveries GROUP BY state"))
      by_state[row[0].value_or("")] = std::stoll(row[1].value_or("0"));
  } catch (const std::exception& e) {
    other_errors.push_back(std::string("reading the store: ") + e.what());
    lost = -1;
  }
  // The trail the purges cut still verifies, its checkpoints anchored in the daemon's log.
  const auto verify = treve::test::run(
      treve::test::command(TREVE_BINARY, {"audit", "verify", "--state-dir", s.state.string(),
                                          "--heads", (s.root / "daemon.log").string()}));
  const bool verified = verify.status == 0;
  if (!verified)
    other_errors.push_back("audit verify: exit " + std::to_string(verify.status) + " " +
                           verify.out.substr(0, 300) + verify.err.substr(0, 300));

  std::printf(
      "\nper minute (RSS: median and highest of the samples; FDs, threads: lowest-highest; "
      "the counts are totals at the minute's last sample)\n");
  print_table(samples, o.minutes, 1);
  std::printf("\nper five minutes\n");
  print_table(samples, o.minutes, 5);

  const Sample last = samples.empty() ? Sample{} : samples.back();
  std::printf(
      "\ntotals: %lld events sent in %lld requests, %lld acknowledged; the receiver got %lld "
      "requests: %lld deliveries in those answered 200, %lld answered 503 (%lld deliveries), %lld "
      "answered 200 after 2 s; %lld attempts "
      "logged failed; %lld reloads sent, %lld applied; %lld admin edits; %lld purges, %lld "
      "events and %lld audit records purged (of %lld seeded events)\n",
      last.sent, ingest.requests.load(), last.acked, receiver.requests.load(), last.delivered,
      last.refused, receiver.refused_deliveries.load(), last.slow, last.attempt_failed,
      reloads_sent, last.reloads, last.admin_edits, last.purges, last.purged_events,
      last.purged_records, seeded);
  std::printf("deliveries in the store by state:");
  for (const auto& [state, n] : by_state)
    std::printf(" %s %lld", state.c_str(), n);
  std::printf("\n");
  for (const auto& e : ingest.first_errors)
    std::printf("  error: %s\n", e.c_str());
  for (const auto& e : other_errors)
    std::printf("  error: %s\n", e.c_str());

  // ---- the verdict ----
  std::map<int, std::vector<long long>> rss_by_minute;
  int fd_ref = 0, th_ref = 0, fd_after = 0, th_after = 0;
  for (const auto& x : samples) {
    const int m = std::min(static_cast<int>(x.t / 60), o.minutes - 1);
    if (m >= warmup)
      rss_by_minute[m].push_back(x.rss_kb);
    if (m == warmup - 1) {
      fd_ref = std::max(fd_ref, x.fds);
      th_ref = std::max(th_ref, x.threads);
    }
    if (m >= warmup) {
      fd_after = std::max(fd_after, x.fds);
      th_after = std::max(th_after, x.threads);
    }
  }
  const double rss_base = rss_by_minute.empty() ? 0 : median(rss_by_minute.begin()->second);
  double rss_peak = 0;
  int peak_minute = -1;
  for (const auto& [m, v] : rss_by_minute) {
    if (median(v) > rss_peak) {
      rss_peak = median(v);
      peak_minute = m;
    }
  }
  const bool rss_ok = rss_base > 0 && rss_peak <= 1.10 * rss_base;
  const bool fd_ok = fd_ref > 0 && fd_after <= fd_ref + kFdTolerance;
  const bool th_ok = th_ref > 0 && th_after <= th_ref + kThreadTolerance;
  const bool lost_ok = lost == 0 && last.acked > 0;
  const long long errors = last.errors + (died ? 1 : 0) + (exit_status != 0 ? 1 : 0) +
                           (verified ? 0 : 1) + (reloads_sent != last.reloads ? 1 : 0);
  const bool errors_ok = errors == 0;
  auto mark = [](bool ok) { return ok ? "PASS" : "FAIL"; };
  std::printf("\nverdict (warm-up: minutes 0-%d)\n", warmup - 1);
  std::printf(
      "  %s  RSS flat within 10%%: highest minute median %.1f MB (minute %d) vs %.1f MB in "
      "minute %d: %+.1f%%\n",
      mark(rss_ok), rss_peak / 1024.0, peak_minute, rss_base / 1024.0, warmup,
      rss_base > 0 ? 100.0 * (rss_peak / rss_base - 1) : 0.0);
  std::printf("  %s  descriptors: highest after warm-up %d <= %d (warm-up's last minute) + %d\n",
              mark(fd_ok), fd_after, fd_ref, kFdTolerance);
  std::printf("  %s  threads: highest after warm-up %d <= %d (warm-up's last minute) + %d\n",
              mark(th_ok), th_after, th_ref, kThreadTolerance);
  std::printf("  %s  acknowledged events lost: %lld of %lld\n", mark(lost_ok), lost, last.acked);
  std::printf(
      "  %s  errors: %lld (ingest %lld, admin %lld, reloads not applied %lld, daemon %s, exit "
      "%d, audit verify %s)\n",
      mark(errors_ok), errors, ingest.errors.load(), admin_errors, reloads_sent - last.reloads,
      died ? "died" : "alive", exit_status, verified ? "ok" : "FAILED");
  const bool ok = rss_ok && fd_ok && th_ok && lost_ok && errors_ok;
  std::printf("%s\n", ok ? "SOAK PASSED" : "SOAK FAILED");
  if (o.keep) {
    std::printf("kept %s (configuration, state_dir, daemon.log)\n", s.root.c_str());
  } else {
    fs::remove_all(s.root);
  }
  return ok ? 0 : 1;
}
