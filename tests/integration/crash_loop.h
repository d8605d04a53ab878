// The crash loop (issue 19): the real `treve serve` SIGKILLed again and again at random instants
// while connectors post events, quiet windows end, a webhook receiver that fails a share of its
// requests makes deliveries retry, SIGHUPs reload the configuration and the retention purge
// runs; then one clean start that drains everything. Shared by the test
// (tests/integration/crash_loop_test.cpp, a few kills) and the program
// (tests/bench/crash_loop.cpp, 100 kills by default).
//
// The daemon's clock (test hook `[testing] clock_start`, through DaemonOptions::clock_offset)
// runs on a schedule of its own, in UTC: quiet every day from 12:30 to 12:00 the next day, open
// from 12:00 to 12:30. Each start either goes on where the clock was (real time passed while the
// daemon was down), or jumps forward to a random instant less than a second before the next
// boundary: the window's end when quiet (the end comes during the run, or just after the kill,
// with deliveries held for it), the next window's start when open (events posted after it are
// held). A jump never passes a boundary: the daemon is only ever down for time it would have
// spent in the same state, so no open period goes by while it is down. One cycle is a day:
// retention is one day (events and audit), and the purge at each start removes what is a day
// old. A run lasts a random 0 to 20 or 50 to 800 ms after readiness, or ends 0 to 20 ms after the
// next boundary; some get a SIGHUP (with a changed configuration) a few milliseconds before their
// SIGKILL.
//
// Connectors: threads that each own a few recipients and post to them only, one request at a
// time, single events and NDJSON batches; a request whose outcome is unknown (the daemon died)
// is sent again with the same bytes, as a connector retrying after a timeout must, before
// anything new. So every event is eventually acknowledged, and each thread's sequence is the
// order in which the daemon received its recipients' events.
//
// The daemon's time, as the test knows it: real time plus the offset the daemon logs at start
// (`event=serve.test_clock offset_ms=`), per run.
//
// Checked, from the receiver's records and the database, never from the daemon's own account
// alone:
//   - lost: every delivery of every acknowledged event arrived at least once and was answered
//     2xx; the store ends with every delivery `delivered` (or its event purged after delivery);
//   - decisions: an event received wholly inside a quiet window was held until that window's end,
//     one received in open time was not held;
//   - early: no delivery arrived before its release instant (the end of the window that held
//     it); the daemon's own `released_at` is not before it either;
//   - inside a later window: a delivery released in open time that was still due or retrying
//     when a window started is held again, never sent inside that window. Only a request already
//     on its way at the start may arrive just after it (within kWindowStartEdgeMs; counted);
//   - duplicates: a delivery that arrives again carries the same webhook-id, the one documented
//     (`dlv_…` from source, id, recipient and role); every request is signed and well formed;
//   - order: per recipient, the first arrivals are in the order the connector's events were
//     received;
//   - `treve audit verify --state-dir` exits 0 after every kill and at the end.
#pragma once

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_deliveries.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest::crash_loop {

using Steady = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

struct Options {
  int kills = 20;
  unsigned seed = 20261207;
  int connectors = 3;  // threads, each with recipients of its own
  int recipients_per_connector = 12;
  double failure_share = 0.25;       // of the receiver's answers: 503
  double jump_share = 0.5;           // of the starts: to just before the next boundary
  double reload_share = 0.3;         // of the runs: a SIGHUP shortly before the SIGKILL
  int reload_lead_most_ms = 40;      // that SIGHUP comes 0 to this many ms before the kill
  double early_kill_share = 0.2;     // of the runs: killed within 20 ms of readiness
  double boundary_kill_share = 0.3;  // of the runs: killed 0-20 ms after the next boundary
  std::ostream* progress = nullptr;  // one line per kill, when set
  bool keep = false;                 // leave the state directory in place
};

// What happened, and what went wrong (`problems`, empty when every check passed).
struct Figures {
  int kills = 0;
  int jumps_to_end = 0;    // starts that jumped to just before a window's end
  int jumps_to_start = 0;  // starts that jumped to just before a window's start
  int window_ends = 0;     // runs during which a window ended before the kill
  int window_starts = 0;   // runs during which a window started before the kill
  std::size_t events_sent = 0;
  std::size_t events_acknowledged = 0;
  std::size_t batches = 0;
  std::size_t resent_after_crash = 0;  // requests sent again after an unknown outcome
  std::size_t replayed = 0;            // answers marked as replays (stored before the crash)
  std::size_t refused = 0;             // 503/429 answers to connectors
  std::size_t deliveries = 0;          // expected: acknowledged events x recipients
  std::size_t held_deliveries = 0;     // of which held at ingest
  std::size_t requests = 0;            // at the receiver
  std::size_t answered_503 = 0;
  std::size_t lost = 0;
  std::size_t unknown = 0;     // deliveries nobody sent
  std::size_t duplicates = 0;  // arrivals after one already answered 2xx
  std::size_t id_mismatches = 0;
  std::size_t bad_requests = 0;  // signature, content type, ids
  std::size_t out_of_order = 0;  // recipients whose first arrivals are out of receipt order
  std::size_t early = 0;
  std::size_t wrong_decisions = 0;
  std::size_t decisions_at_a_boundary = 0;     // not checked: received too close to a window edge
  std::size_t arrived_in_later_window = 0;     // released in open time, sent in a later window
  std::size_t arrived_at_window_start = 0;     // the same, within kWindowStartEdgeMs of its start
  std::int64_t latest_at_window_start_ms = 0;  // the latest of those, after the start
  std::size_t purged_events = 0;               // acknowledged, delivered, then purged
  std::size_t not_delivered_in_store = 0;
  int verify_failures = 0;
  // Where the kills landed.
  int kills_ingest_in_flight = 0;
  int kills_held_waiting = 0;  // deliveries held for a window end still to come
  int kills_mid_release = 0;   // held deliveries overdue, not yet released
  int kills_due_or_retrying = 0;
  int kills_retrying = 0;
  int kills_request_at_receiver = 0;
  int sighups = 0;
  int kills_mid_reload = 0;
  int reloads_done = 0;
  int kills_before_purge_done = 0;
  int purges_with_work = 0;
  std::size_t purged_audit_records = 0;
  std::size_t purged_events_total = 0;
  double seconds = 0;
  std::vector<std::string> problems;

  bool ok() const { return problems.empty(); }
};

// ---- the schedule, in the daemon's time (ms since the epoch, UTC) ----------------------------

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kOpenFrom = 12LL * 3'600'000;            // 12:00, a window's end
constexpr std::int64_t kOpenUntil = kOpenFrom + 30LL * 60'000;  // 12:30, the next one's start

inline std::int64_t time_of_day(std::int64_t t) {
  return ((t % kDayMs) + kDayMs) % kDayMs;
}
// A request the daemon sent just before a window's start may reach the receiver just after it.
constexpr std::int64_t kWindowStartEdgeMs = 250;

inline bool quiet_at(std::int64_t t) {
  const std::int64_t x = time_of_day(t);
  return x < kOpenFrom || x >= kOpenUntil;
}
// For a quiet instant: the end of its window.
inline std::int64_t window_end_after(std::int64_t t) {
  const std::int64_t day = t - time_of_day(t);
  return time_of_day(t) < kOpenFrom ? day + kOpenFrom : day + kDayMs + kOpenFrom;
}
// The next window end (quiet) or window start (open) after `t`.
inline std::int64_t next_boundary(std::int64_t t) {
  const std::int64_t day = t - time_of_day(t);
  if (quiet_at(t))
    return time_of_day(t) < kOpenFrom ? day + kOpenFrom : day + kDayMs + kOpenFrom;
  return day + kOpenUntil;
}
// For a quiet instant: the start of its window.
inline std::int64_t window_start_before(std::int64_t t) {
  const std::int64_t day = t - time_of_day(t);
  return time_of_day(t) >= kOpenUntil ? day + kOpenUntil : day - kDayMs + kOpenUntil;
}

inline std::int64_t real_ms() {
  return std::chrono::duration_cast<Ms>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
inline std::int64_t ms_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<Ms>(t.time_since_epoch()).count();
}
inline std::string utc_text(std::int64_t ms) {
  return utc_rfc3339(std::chrono::system_clock::time_point(Ms(ms)));
}

// ---- the loop --------------------------------------------------------------------------------

class Loop {
 public:
  explicit Loop(Options options)
      : o_(std::move(options)), rng_(o_.seed), state_("treve-crash-loop") {
    if (o_.keep)
      state_.keep();
  }

  Figures run() {
    const auto began = Steady::now();
    try {
      setup();
      for (int i = 0; i < o_.kills; ++i)
        one_run(i);
      drain();
    } catch (const std::exception& e) {
      problem(std::string("the loop stopped: ") + e.what());
    }
    stop_connectors(std::chrono::seconds(0));
    if (daemon_)
      daemon_->kill();
    if (receiver_)
      receiver_->stop();
    try {
      analyse();
    } catch (const std::exception& e) {
      problem(std::string("the analysis failed: ") + e.what());
    }
    f_.seconds = std::chrono::duration<double>(Steady::now() - began).count();
    return f_;
  }

  const std::string& state_dir() const { return state_dir_; }
  std::string daemon_log() const { return daemon_ ? daemon_->stderr_log() : std::string(); }

 private:
  // One event as a connector sent it, and what came back.
  struct Event {
    std::string id;
    std::vector<Recipient> recipients;
    std::string body;             // the exact bytes, sent again after an unknown outcome
    std::int64_t first_sent = 0;  // daemon time of the first attempt
    std::int64_t acked_at = 0;    // daemon time of the 202; 0: not acknowledged
    json::object answer;
  };
  struct Connector {
    int index = 0;
    std::vector<Event> events;  // in the order sent: the order the daemon received them
    std::thread thread;
  };
  // Where the daemon is (port 0: down) and its clock's offset, for the connectors.
  struct Link {
    std::uint16_t port = 0;
    std::int64_t offset_ms = 0;
  };
  struct Run {
    std::int64_t spawned_real = 0;
    std::int64_t offset_ms = 0;
  };

  void problem(std::string p) {
    std::lock_guard lock(problems_mutex_);
    f_.problems.push_back(std::move(p));
  }

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // ---- set-up ----------------------------------------------------------------------------------

  void setup() {
    state_dir_ = state_.file("state");
    fs::create_directories(state_dir_);
    const std::string secret = make_webhook_secret();
    secret_path_ = state_.write("hook.secret", secret + "\n");
    ::chmod(secret_path_.c_str(), 0600);
    verifier_.emplace(secret);
    receiver_ = std::make_unique<WebhookReceiver>(
        [this](const WebhookRequest& r, int n) { return answer(r, n); }, 2);

    DaemonOptions d;
    d.state_dir = state_dir_;
    d.timezone = "UTC";
    d.quiet_start = "12:30";
    d.quiet_end = "12:00";
    d.parent_grade_delay = "0";
    d.clock_offset = Ms(0);
    d.extra_config = config_tail(false);
    daemon_.emplace(d);

    // 2026-12-07 (a Monday), in the daemon's time; the first start jumps to its window end.
    day0_ = std::chrono::duration_cast<Ms>(
                std::chrono::sys_days(std::chrono::year(2026) / 12 / 7).time_since_epoch())
                .count();

    for (int t = 0; t < o_.connectors; ++t) {
      auto c = std::make_unique<Connector>();
      c->index = t;
      connectors_.push_back(std::move(c));
    }
    for (auto& c : connectors_) {
      Connector* raw = c.get();
      raw->thread = std::thread([this, raw] { connector(*raw); });
    }
  }

  // The sink, the retention and, toggled by reloads, one more connector.
  std::string config_tail(bool spare) const {
    std::ostringstream c;
    if (spare) {
      c << "\n[[connectors]]\nname = \"spare\"\ntoken_sha256 = \"" << sha256_hex("spare-token")
        << "\"\n";
    }
    c << "\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\n"
      << "url = \"" << receiver_->url() << "\"\n"
      << "secret_file = \"" << secret_path_ << "\"\n"
      << "default = true\n"
      << "retry_initial = \"50ms\"\nretry_max_interval = \"400ms\"\nretry_for = \"366d\"\n"
      << "timeout = \"5s\"\n"
      << "\n[audit]\nretention = \"1d\"\n"
      << "\n[events]\nretention = \"1d\"\n";
    return c.str();
  }

  // The receiver: 503 for a share of the requests while the loop runs, each answer after a few
  // milliseconds (so that kills find requests in flight); 200 at once once draining.
  WebhookResponse answer(const WebhookRequest& r, int n) {
    std::lock_guard lock(receiver_mutex_);
    WebhookResponse a;
    if (!draining_) {
      if (std::uniform_real_distribution<double>(0, 1)(receiver_rng_) < o_.failure_share)
        a.status = 503;
      a.delay = Ms(std::uniform_int_distribution<int>(0, 15)(receiver_rng_));
    }
    if (answered_by_.size() <= static_cast<std::size_t>(n))
      answered_by_.resize(static_cast<std::size_t>(n) + 1);
    answered_by_[static_cast<std::size_t>(n)] = r.arrived_steady + a.delay;
    return a;
  }

  // Requests read by the receiver and not answered yet.
  int requests_at_receiver() {
    std::lock_guard lock(receiver_mutex_);
    const auto now = Steady::now();
    int n = 0;
    for (auto it = answered_by_.rbegin(); it != answered_by_.rend() && n < 64; ++it) {
      if (*it > now)
        ++n;
      else if (now - *it > Ms(100))
        break;
    }
    return n;
  }

  // ---- connectors ------------------------------------------------------------------------------

  Link link() {
    std::lock_guard lock(link_mutex_);
    return link_;
  }

  Event make_event(Connector& c, std::mt19937& rng) {
    Event e;
    char id[32];
    std::snprintf(id, sizeof id, "c%d-%06zu", c.index, c.events.size());
    e.id = id;
    static const char* const kCategories[] = {"message", "news", "blog", "homework"};
    EventSpec spec;
    spec.id = e.id;
    spec.category = kCategories[rng() % 4];
    const int n = 1 + static_cast<int>(rng() % 3);
    std::set<int> chosen;
    while (static_cast<int>(chosen.size()) < n)
      chosen.insert(static_cast<int>(rng() % static_cast<unsigned>(o_.recipients_per_connector)));
    for (int i : chosen) {
      static const char* const kRoles[] = {"student", "parent", "staff"};
      spec.recipients.push_back(
          {"c" + std::to_string(c.index) + "-u" + std::to_string(i), kRoles[i % 3], ""});
    }
    spec.title = "Notification " + e.id;
    spec.payload = json::object{{"event", e.id}};
    e.recipients = spec.recipients;
    e.body = event_body(spec);
    return e;
  }

  void connector(Connector& c) {
    std::mt19937 rng(o_.seed * 7919u + static_cast<unsigned>(c.index));
    std::optional<HttpClient> client;
    std::uint16_t client_port = 0;
    std::vector<std::size_t> pending;  // indices in c.events of the request under way
    bool batch = false;
    bool unknown = false;  // the last attempt's outcome is unknown
    for (;;) {
      if (pending.empty()) {
        if (stop_.load())
          return;
        batch = rng() % 10 < 3;
        const int n = batch ? 2 + static_cast<int>(rng() % 9) : 1;
        std::lock_guard lock(events_mutex_);
        for (int k = 0; k < n; ++k) {
          c.events.push_back(make_event(c, rng));
          pending.push_back(c.events.size() - 1);
        }
        if (batch)
          ++f_.batches;
      }
      if (stop_.load() && Steady::now() > give_up_.load()) {
        problem("connector " + std::to_string(c.index) + " could not finish its last request");
        return;
      }
      const Link l = link();
      if (l.port == 0) {
        std::this_thread::sleep_for(Ms(2));
        continue;
      }
      if (!client || client_port != l.port) {
        client.emplace(l.port, std::chrono::seconds(5));
        client_port = l.port;
      }
      std::string body;
      {
        std::lock_guard lock(events_mutex_);
        for (std::size_t i : pending) {
          Event& e = c.events[i];
          if (e.first_sent == 0)
            e.first_sent = real_ms() + l.offset_ms;
          body += (body.empty() ? "" : "\n") + e.body;
        }
        if (unknown)
          ++f_.resent_after_crash;
      }
      HttpResponse r;
      ++in_flight_;
      try {
        r = batch ? client->post_batch(body) : client->post_event(body);
        --in_flight_;
      } catch (const std::exception&) {
        --in_flight_;
        unknown = true;
        client.reset();
        std::this_thread::sleep_for(Ms(2));
        continue;
      }
      const std::int64_t acked = real_ms() + l.offset_ms;
      if (r.status == 503 || r.status == 429) {
        std::lock_guard lock(events_mutex_);
        ++f_.refused;
        unknown = false;
        std::this_thread::sleep_for(Ms(20));
        continue;
      }
      std::vector<json::object> results;
      bool fine = true;
      try {
        if (!batch && r.status == 202) {
          results.push_back(r.object());
          results.back()["status"] = 202;
          if (r.header("Idempotent-Replayed"))
            results.back()["replayed"] = true;
        } else if (batch && r.status == 200) {
          results = json_lines(r.body);
        } else {
          fine = false;
        }
      } catch (const std::exception&) {
        fine = false;
      }
      if (!fine || results.size() != pending.size()) {
        problem("connector " + std::to_string(c.index) + ": unexpected answer to " +
                (batch ? "a batch" : "an event") + ": " + std::to_string(r.status) + " " +
                r.body.substr(0, 300));
        pending.clear();
        unknown = false;
        continue;
      }
      {
        std::lock_guard lock(events_mutex_);
        for (std::size_t k = 0; k < pending.size(); ++k) {
          Event& e = c.events[pending[k]];
          const json::object& line = results[k];
          const json::value* status = line.if_contains("status");
          if (!status || !status->is_int64() || status->as_int64() != 202 ||
              line.at("id").as_string() != e.id) {
            problem("connector " + std::to_string(c.index) + ": " + e.id +
                    " not accepted: " + json::serialize(line));
            continue;
          }
          if (const json::value* rp = line.if_contains("replayed");
              rp && rp->is_bool() && rp->as_bool())
            ++f_.replayed;
          e.acked_at = acked;
          e.answer = line;
        }
      }
      pending.clear();
      unknown = false;
      std::this_thread::sleep_for(Ms(5 + static_cast<int>(rng() % 21)));
    }
  }

  // Stops the connectors once their last requests are answered, or after `patience`.
  void stop_connectors(std::chrono::seconds patience) {
    if (!stop_.exchange(true))
      give_up_ = Steady::now() + patience;
    for (auto& c : connectors_) {
      if (c->thread.joinable())
        c->thread.join();
    }
  }

  // ---- the daemon ------------------------------------------------------------------------------

  // Starts the daemon with its clock at `target` (daemon time), or where it was when unset;
  // publishes its port and offset to the connectors.
  void start(std::optional<std::int64_t> target) {
    const std::int64_t offset =
        target ? *target - real_ms() : offset_ms_;  // continuing: the same offset
    daemon_->rewrite_config([&](DaemonOptions& d) {
      d.clock_offset = Ms(offset);
      d.extra_config = config_tail(spare_);
    });
    log_from_ = daemon_->stderr_log().size();
    Run run;
    run.spawned_real = real_ms();
    daemon_->start();
    const std::string log = daemon_->stderr_log();
    static constexpr std::string_view kClock = "event=serve.test_clock ";
    const auto at = log.rfind(kClock);
    const auto field = at == std::string::npos ? at : log.find("offset_ms=", at);
    if (at == std::string::npos || at < log_from_ || field == std::string::npos)
      throw std::runtime_error(
          "the daemon did not log its test clock (a build without "
          "TREVE_TESTING?)");
    run.offset_ms = std::stoll(log.substr(field + 10));
    offset_ms_ = run.offset_ms;
    runs_.push_back(run);
    std::lock_guard lock(link_mutex_);
    link_ = {daemon_->port(), offset_ms_};
  }

  std::int64_t daemon_now() const { return real_ms() + offset_ms_; }

  std::string run_log() const { return daemon_->stderr_log().substr(log_from_); }

  static int count_of(const std::string& text, std::string_view needle) {
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++n;
    return n;
  }

  // Sums the retention purges logged in `log`.
  void count_purges(const std::string& log) {
    static constexpr std::string_view kPurged = "event=retention.purged ";
    for (auto at = log.find(kPurged); at != std::string::npos; at = log.find(kPurged, at + 1)) {
      const std::string line = log.substr(at, log.find('\n', at) - at);
      auto number = [&](std::string_view key) -> std::size_t {
        const auto k = line.find(std::string(key) + "=");
        return k == std::string::npos ? 0 : std::stoull(line.substr(k + key.size() + 1));
      };
      const std::size_t records = number("audit_records"), events = number("events");
      f_.purged_audit_records += records;
      f_.purged_events_total += events;
      if (records + events + number("bodies") > 0)
        ++f_.purges_with_work;
    }
  }

  std::string verify() {
    const ProcessResult r = run_treve({"audit", "verify", "--state-dir", state_dir_});
    if (r.status == 0)
      return {};
    return "exit " + std::to_string(r.status) + ": " + r.out + r.err;
  }

  void one_run(int i) {
    // Where the daemon's clock starts: where it was, or up to 900 ms before the next boundary
    // (a window's end when quiet, the next window's start when open); never back, and never
    // over a boundary, so that the time the daemon is down is always time it would have spent
    // in the same state (no open period passes while it is down).
    const std::int64_t now = i == 0 ? day0_ - kDayMs + kOpenUntil : daemon_now();
    const std::int64_t boundary = next_boundary(now);
    std::optional<std::int64_t> target;
    const bool jump = i == 0 || uniform() < o_.jump_share;
    if (jump) {
      const std::int64_t t = boundary - between(0, 900);
      if (t > now) {
        target = t;
        ++(quiet_at(now) ? f_.jumps_to_end : f_.jumps_to_start);
      }
    }
    start(target);
    const std::int64_t started = daemon_now();
    const Steady::time_point ready = Steady::now();

    int run_ms = uniform() < o_.early_kill_share ? between(0, 20) : between(50, 800);
    if (next_boundary(started) - started < 1000 && uniform() < o_.boundary_kill_share)
      run_ms = static_cast<int>(next_boundary(started) - started) + between(0, 20);
    std::optional<int> hup_ms;
    if (uniform() < o_.reload_share)
      hup_ms = std::max(0, run_ms - between(0, o_.reload_lead_most_ms));
    std::size_t hup_log = 0;
    if (hup_ms) {
      std::this_thread::sleep_until(ready + Ms(*hup_ms));
      spare_ = !spare_;
      daemon_->rewrite_config([&](DaemonOptions& d) { d.extra_config = config_tail(spare_); });
      hup_log = daemon_->stderr_log().size();
      ::kill(daemon_->pid(), SIGHUP);
      ++f_.sighups;
    }
    std::this_thread::sleep_until(ready + Ms(run_ms));

    // At the kill.
    const int ingest = in_flight_.load();
    const int at_receiver = requests_at_receiver();
    const std::int64_t killed = daemon_now();
    daemon_->kill();
    {
      std::lock_guard lock(link_mutex_);
      link_.port = 0;
    }
    ++f_.kills;

    std::int64_t held = 0, overdue = 0, due = 0, retrying = 0;
    {
      Db db(daemon_->db_path());
      for (auto& row : db.query("SELECT state, count(*), sum(release_at <= ?) FROM deliveries "
                                "WHERE state IN ('held', 'due', 'retrying') GROUP BY state",
                                {std::to_string(killed)})) {
        const std::int64_t n = std::stoll(row[1].value_or("0"));
        if (row[0] == "held") {
          held = n;
          overdue = std::stoll(row[2].value_or("0"));
        } else if (row[0] == "due") {
          due = n;
        } else {
          retrying = n;
        }
      }
    }
    const bool crossed = next_boundary(started) <= killed;
    const bool window_ended = crossed && quiet_at(started);
    f_.window_ends += window_ended;
    f_.window_starts += crossed && !quiet_at(started);
    f_.kills_ingest_in_flight += ingest > 0;
    f_.kills_held_waiting += held > overdue;
    f_.kills_mid_release += overdue > 0;
    f_.kills_due_or_retrying += due + retrying > 0;
    f_.kills_retrying += retrying > 0;
    f_.kills_request_at_receiver += at_receiver > 0;
    const std::string log = run_log();
    bool mid_reload = false;
    if (hup_ms) {
      const std::string since = daemon_->stderr_log().substr(hup_log);
      mid_reload = since.find("event=config.reloaded") == std::string::npos &&
                   since.find("event=config.reload_rejected") == std::string::npos;
      f_.kills_mid_reload += mid_reload;
    }
    f_.reloads_done += count_of(log, "event=config.reloaded ");
    const bool purge_done = log.find("event=retention.purged") != std::string::npos;
    f_.kills_before_purge_done += !purge_done;
    count_purges(log);
    if (log.find("event=config.reload_rejected") != std::string::npos)
      problem("run " + std::to_string(i) + ": a reload was rejected");

    const std::string why = verify();
    if (!why.empty()) {
      ++f_.verify_failures;
      problem("kill " + std::to_string(i + 1) + ": treve audit verify failed: " + why);
    }
    if (o_.progress) {
      std::string when = target ? "jumped" : "on";
      when += std::string(", window ") + (quiet_at(started) ? "end " : "start ") +
              std::to_string(next_boundary(started) - started) + " ms after the start" +
              (crossed ? "" : " (after the kill)");
      *o_.progress << "kill " << i + 1 << "/" << o_.kills << ": " << utc_text(started) << " ("
                   << when << "), ran " << run_ms << " ms"
                   << (hup_ms ? ", SIGHUP at " + std::to_string(*hup_ms) + " ms" +
                                    (mid_reload ? " (reload unfinished)" : "")
                              : std::string())
                   << (purge_done ? "" : ", purge unfinished") << "; at the kill: " << ingest
                   << " ingest request(s), " << at_receiver << " at the receiver, held " << held
                   << " (" << overdue << " overdue), due " << due << ", retrying " << retrying
                   << "; audit verify " << (why.empty() ? "ok" : "FAILED") << std::endl;
    }
  }

  // The last start: after any window end still to come, the receiver answering 200; waits
  // until the connectors' last requests are answered and every delivery arrived.
  void drain() {
    {
      std::lock_guard lock(receiver_mutex_);
      draining_ = true;
    }
    const std::int64_t now = daemon_now();
    std::optional<std::int64_t> target;
    // In open time, the drain (up to a few minutes) must not run into the next window, where
    // what is left would be held again: the daemon then starts just after that window instead.
    if (quiet_at(now) || next_boundary(now) - now < 10 * 60 * 1000)
      target = window_end_after(now) + 10;
    start(target);
    stop_connectors(std::chrono::seconds(60));
    std::set<std::string> expected;
    {
      std::lock_guard lock(events_mutex_);
      for (auto& c : connectors_) {
        for (const auto& e : c->events) {
          for (const auto& r : e.recipients)
            expected.insert("ent\n" + e.id + "\n" + r.id);
        }
      }
    }
    // Polled, reading each answered request once (the receiver holds every request so far).
    std::size_t read = 0;
    const auto deadline_arrivals = Steady::now() + std::chrono::seconds(120);
    while (!expected.empty() && Steady::now() < deadline_arrivals) {
      const std::vector<WebhookRequest> requests = receiver_->requests();
      for (; read < requests.size() && requests[read].status != 0; ++read) {
        const WebhookRequest& r = requests[read];
        if (r.status < 200 || r.status > 299)
          continue;
        try {
          for (const auto& g : deliveries_of(r))
            expected.erase(g.key());
        } catch (const std::exception&) {
        }
      }
      if (!expected.empty())
        std::this_thread::sleep_for(Ms(100));
    }
    if (!expected.empty())
      problem("after the drain, " + std::to_string(expected.size()) +
              " deliveries are still missing at the receiver");
    // The outcomes are committed after the answers: wait for the store to say so.
    const auto deadline = Steady::now() + std::chrono::seconds(30);
    for (;;) {
      Db db(daemon_->db_path());
      if (db.scalar("SELECT count(*) FROM deliveries WHERE state <> 'delivered'") == 0)
        break;
      if (Steady::now() > deadline)
        break;
      std::this_thread::sleep_for(Ms(50));
    }
    count_purges(run_log());
    const int status = daemon_->stop();
    if (status != 0)
      problem("the final SIGTERM: exit status " + std::to_string(status));
    if (const std::string why = verify(); !why.empty()) {
      ++f_.verify_failures;
      problem("at the end: treve audit verify failed: " + why);
    }
  }

  // ---- the checks ------------------------------------------------------------------------------

  // The daemon's time of a receiver's arrival: the offset of the run that was up then.
  std::int64_t in_daemon_time(std::chrono::system_clock::time_point t) const {
    const std::int64_t real = ms_of(t);
    std::int64_t offset = runs_.empty() ? 0 : runs_.front().offset_ms;
    for (const auto& r : runs_) {
      if (r.spawned_real <= real)
        offset = r.offset_ms;
    }
    return real + offset;
  }

  void analyse() {
    struct Expected {
      const Event* event = nullptr;
      std::string role;
      std::int64_t release = 0;  // as answered at ingest
      bool held = false;
    };
    std::map<std::string, Expected> expected;               // "ent\nid\nrecipient"
    std::map<std::string, std::vector<std::string>> order;  // "ent\nrecipient" -> event ids
    std::set<std::string> acknowledged_ids;
    constexpr std::int64_t kSlack = 10;  // ms: the test's reading of the daemon's clock
    for (auto& c : connectors_) {
      for (const Event& e : c->events) {
        ++f_.events_sent;
        if (e.acked_at == 0) {
          problem(e.id + " was never acknowledged");
          continue;
        }
        ++f_.events_acknowledged;
        acknowledged_ids.insert(e.id);
        std::map<std::string, const json::object*> answered;
        for (const auto& d : e.answer.at("deliveries").as_array())
          answered[std::string(d.at("recipient").as_string())] = &d.as_object();
        // The decision, from the instants the connector saw.
        const std::int64_t from = e.first_sent - kSlack, to = e.acked_at + kSlack;
        std::optional<bool> should_hold;
        if (quiet_at(from) && window_end_after(from) > to)
          should_hold = true;
        else if (!quiet_at(from) && !quiet_at(to) && to - from < kOpenUntil - kOpenFrom)
          should_hold = false;
        for (const auto& r : e.recipients) {
          order["ent\n" + r.id].push_back(e.id);
          Expected x;
          x.event = &e;
          x.role = r.role;
          const auto it = answered.find(r.id);
          if (it == answered.end()) {
            problem(e.id + ": no delivery for " + r.id + " in the answer");
            continue;
          }
          const json::object& d = *it->second;
          x.held = d.at("held").as_bool();
          const auto release = parse_instant(std::string(d.at("release_at").as_string()));
          if (!release) {
            problem(e.id + ": unreadable release_at " + json::serialize(d));
            continue;
          }
          x.release = ms_of(*release);
          f_.held_deliveries += x.held;
          if (!should_hold) {
            ++f_.decisions_at_a_boundary;
          } else if (*should_hold != x.held || (x.held && x.release != window_end_after(from))) {
            ++f_.wrong_decisions;
            problem(e.id + " for " + r.id + ": sent at " + utc_text(e.first_sent) +
                    ", acknowledged at " + utc_text(e.acked_at) + ", answered " +
                    json::serialize(d) + "; expected " +
                    (*should_hold ? "held until " + utc_text(window_end_after(from))
                                  : std::string("not held")));
          }
          expected["ent\n" + e.id + "\n" + r.id] = x;
        }
      }
    }
    f_.deliveries = expected.size();

    // What arrived, in the daemon's time.
    std::vector<WebhookRequest> requests = receiver_->requests();
    f_.requests = requests.size();
    for (auto& r : requests) {
      r.arrived = std::chrono::system_clock::time_point(Ms(in_daemon_time(r.arrived)));
      f_.answered_503 += r.status == 503;
    }
    std::vector<std::string> bad;
    for (const auto& r : requests) {
      for (auto& p : request_problems(r, *verifier_))
        bad.push_back(std::move(p));
    }
    f_.bad_requests = bad.size();
    if (!bad.empty())
      problem(std::to_string(bad.size()) + " malformed requests:\n" + first_few(bad));

    const std::vector<Got> got = all_deliveries(requests);
    std::map<std::string, bool> delivered;  // key -> answered 2xx at least once
    std::map<std::string, std::string> webhook_id;
    std::vector<std::string> early, unknown, ids, inside;
    for (const Got& g : got) {
      const auto it = expected.find(g.key());
      if (it == expected.end()) {
        unknown.push_back(g.key());
        continue;
      }
      const Expected& x = it->second;
      const std::int64_t arrived = ms_of(g.arrived);
      if (delivered[g.key()])
        ++f_.duplicates;
      if (g.status >= 200 && g.status <= 299)
        delivered[g.key()] = true;
      const std::string id = expected_delivery_id("ent", x.event->id, g.recipient, x.role);
      if (g.webhook_id != id || g.delivery_id != id) {
        ids.push_back(g.key() + ": webhook-id " + g.webhook_id + ", delivery_id " + g.delivery_id +
                      ", expected " + id);
      }
      auto [w, first] = webhook_id.emplace(g.key(), g.webhook_id);
      if (!first && w->second != g.webhook_id)
        ids.push_back(g.key() + ": sent again as " + g.webhook_id + " after " + w->second);
      const auto released = parse_instant(g.released_at);
      if (arrived < x.release - 2 || !released || ms_of(*released) < x.release) {
        early.push_back(x.event->id + " for " + g.recipient + " arrived at " + utc_text(arrived) +
                        ", released_at " + g.released_at + ", to be released at " +
                        utc_text(x.release));
      }
      if (quiet_at(arrived) && x.release <= window_start_before(arrived)) {
        const std::int64_t late = arrived - window_start_before(arrived);
        if (late <= kWindowStartEdgeMs) {
          ++f_.arrived_at_window_start;
          f_.latest_at_window_start_ms = std::max(f_.latest_at_window_start_ms, late);
        } else {
          ++f_.arrived_in_later_window;
          inside.push_back(x.event->id + " for " + g.recipient + ", released at " +
                           utc_text(x.release) + " (" + g.released_at + "), arrived at " +
                           utc_text(arrived) + ", " + std::to_string(late) +
                           " ms into a later window");
        }
      }
    }
    if (!inside.empty())
      problem(std::to_string(inside.size()) + " deliveries sent inside a later window:\n" +
              first_few(inside));
    f_.unknown = unknown.size();
    f_.early = early.size();
    f_.id_mismatches = ids.size();
    if (!unknown.empty())
      problem(std::to_string(unknown.size()) + " deliveries nobody sent:\n" + first_few(unknown));
    if (!early.empty())
      problem(std::to_string(early.size()) + " deliveries before their release:\n" +
              first_few(early));
    if (!ids.empty())
      problem(std::to_string(ids.size()) + " arrivals with another id:\n" + first_few(ids));

    std::vector<std::string> lost;
    for (const auto& [key, x] : expected) {
      if (!delivered[key])
        lost.push_back(key);
    }
    f_.lost = lost.size();
    if (!lost.empty())
      problem(std::to_string(lost.size()) + " deliveries of acknowledged events never " +
              "delivered:\n" + first_few(lost));

    const auto arrived_order = first_arrival_order(got);
    std::map<std::string, const Got*> first_of;  // key -> its first arrival
    for (const Got& g : got)
      first_of.emplace(g.key(), &g);
    // An event for a recipient: when it was received and released, and when it first arrived.
    const auto account = [&](const std::string& recipient, const std::string& id) {
      const std::string key = "ent\n" + id + "\n" + recipient;
      std::string out = id;
      if (const auto x = expected.find(key); x != expected.end()) {
        out += " (sent " + utc_text(x->second.event->first_sent) + ", acknowledged " +
               utc_text(x->second.event->acked_at) + ", " +
               (x->second.held ? "held until " : "not held, at ") + utc_text(x->second.release);
      }
      if (const auto g = first_of.find(key); g != first_of.end()) {
        out += "; first arrival " + utc_text(ms_of(g->second->arrived)) + " (request #" +
               std::to_string(g->second->request) + "), released_at " + g->second->released_at;
      }
      return out + ")";
    };
    std::vector<std::string> disorder;
    for (const auto& [recipient, ids_sent] : order) {
      const auto it = arrived_order.find(recipient);
      const std::vector<std::string> none;
      const auto& seen = it == arrived_order.end() ? none : it->second;
      if (seen == ids_sent)
        continue;
      ++f_.out_of_order;
      std::size_t k = 0;
      while (k < seen.size() && k < ids_sent.size() && seen[k] == ids_sent[k])
        ++k;
      const std::string who = recipient.substr(4);
      disorder.push_back(who + ": first difference at #" + std::to_string(k) + ": received " +
                         (k < ids_sent.size() ? account(who, ids_sent[k]) : "nothing more") +
                         " but first arrived " +
                         (k < seen.size() ? account(who, seen[k]) : "nothing more"));
    }
    if (!disorder.empty())
      problem(std::to_string(disorder.size()) + " recipients' deliveries out of order:\n" +
              first_few(disorder));

    // The store: every acknowledged event there with every delivery delivered, or purged
    // (after its delivery, checked above).
    Db db(daemon_->db_path());
    std::set<std::string> stored;
    for (auto& row : db.query("SELECT event_id FROM events WHERE source = 'ent'"))
      stored.insert(row[0].value_or(""));
    for (const auto& id : acknowledged_ids)
      f_.purged_events += !stored.contains(id);
    f_.not_delivered_in_store = static_cast<std::size_t>(
        db.scalar("SELECT count(*) FROM deliveries WHERE state <> 'delivered'"));
    if (f_.not_delivered_in_store != 0) {
      std::string states;
      for (auto& row : db.query("SELECT state, count(*) FROM deliveries GROUP BY state"))
        states += row[0].value_or("?") + "=" + row[1].value_or("?") + " ";
      problem("after the drain the store still has deliveries not delivered: " + states);
    }
  }

  Options o_;
  std::mt19937 rng_;
  TempDir state_;
  std::string state_dir_, secret_path_;
  std::optional<WebhookVerifier> verifier_;
  std::unique_ptr<WebhookReceiver> receiver_;
  std::optional<Daemon> daemon_;
  std::int64_t day0_ = 0;
  std::int64_t offset_ms_ = 0;
  std::size_t log_from_ = 0;
  bool spare_ = false;
  std::vector<Run> runs_;

  std::mutex receiver_mutex_;
  std::mt19937 receiver_rng_{o_.seed + 1};
  bool draining_ = false;
  std::vector<Steady::time_point> answered_by_;

  std::mutex link_mutex_;
  Link link_;
  std::mutex events_mutex_;
  std::vector<std::unique_ptr<Connector>> connectors_;
  std::atomic<bool> stop_{false};
  std::atomic<Steady::time_point> give_up_{Steady::time_point::max()};
  std::atomic<int> in_flight_{0};

  std::mutex problems_mutex_;
  Figures f_;
};

inline Figures run(const Options& options) {
  return Loop(options).run();
}

// The figures, one per line.
inline void print(std::ostream& out, const Options& o, const Figures& f) {
  auto line = [&](const char* what, auto value) { out << "  " << what << ": " << value << "\n"; };
  out << "crash loop, seed " << o.seed << ", " << o.connectors << " connectors:\n";
  line("kills", f.kills);
  line("  starts that jumped to just before a window's end", f.jumps_to_end);
  line("  starts that jumped to just before a window's start", f.jumps_to_start);
  line("  runs in which a window ended", f.window_ends);
  line("  runs in which a window started", f.window_starts);
  line("  with ingest requests in flight", f.kills_ingest_in_flight);
  line("  with deliveries held for a window end to come", f.kills_held_waiting);
  line("  during a release (held deliveries overdue)", f.kills_mid_release);
  line("  with deliveries due or retrying", f.kills_due_or_retrying);
  line("  with deliveries retrying", f.kills_retrying);
  line("  with a request at the receiver unanswered", f.kills_request_at_receiver);
  line("  during a reload (SIGHUP sent, reload unfinished)", f.kills_mid_reload);
  line("  before the start's purge was done", f.kills_before_purge_done);
  line("SIGHUPs", f.sighups);
  line("reloads completed", f.reloads_done);
  line("purges that removed something", f.purges_with_work);
  line("audit records purged", f.purged_audit_records);
  line("events purged", f.purged_events_total);
  line("events sent", f.events_sent);
  line("events acknowledged", f.events_acknowledged);
  line("batches", f.batches);
  line("requests sent again after a crash", f.resent_after_crash);
  line("answers replayed (stored before the crash)", f.replayed);
  line("refused (503/429) to connectors", f.refused);
  line("deliveries", f.deliveries);
  line("  held at ingest", f.held_deliveries);
  line("requests at the receiver", f.requests);
  line("  answered 503", f.answered_503);
  line("lost", f.lost);
  line("deliveries nobody sent", f.unknown);
  line("duplicates (after a 2xx)", f.duplicates);
  line("duplicates with another id", f.id_mismatches);
  line("malformed or badly signed requests", f.bad_requests);
  line("recipients out of order", f.out_of_order);
  line("early deliveries", f.early);
  line("wrong hold decisions", f.wrong_decisions);
  line("decisions at a window edge (not checked)", f.decisions_at_a_boundary);
  line("released in open time, sent inside a later window", f.arrived_in_later_window);
  line("  arrived within the edge after a window's start (on their way at it)",
       f.arrived_at_window_start);
  line("  the latest of those, ms after the start", f.latest_at_window_start_ms);
  line("acknowledged events purged after delivery", f.purged_events);
  line("deliveries not delivered in the store at the end", f.not_delivered_in_store);
  line("audit verify failures", f.verify_failures);
  out << "  wall time: " << f.seconds << " s\n";
  if (!f.problems.empty()) {
    out << f.problems.size() << " problem(s):\n";
    for (std::size_t i = 0; i < f.problems.size() && i < 30; ++i)
      out << "- " << f.problems[i] << "\n";
  }
}

}  // namespace treve::itest::crash_loop
