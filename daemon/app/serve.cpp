#include "daemon/app/serve.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <date/date.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "daemon/admin/admin_api.h"
#include "daemon/api/ingest_api.h"
#include "daemon/app/descriptors.h"
#include "daemon/cli/commands.h"
#include "daemon/core/clock.h"
#include "daemon/core/log_field.h"
#include "daemon/core/metrics.h"
#include "daemon/dispatch/dispatcher.h"
#include "daemon/http/server.h"
#include "daemon/runtime/config_holder.h"
#include "daemon/runtime/crises.h"
#include "daemon/runtime/decide_event.h"
#include "daemon/runtime/directories.h"
#include "daemon/runtime/journal_log.h"
#include "daemon/runtime/notify.h"
#include "daemon/runtime/preferences.h"
#include "daemon/runtime/reload.h"
#include "daemon/runtime/replan.h"
#include "daemon/runtime/retention.h"
#include "daemon/runtime/scheduler.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/in_force.h"
#include "daemon/store/postgresql/open_store.h"
#include "daemon/store/postgresql/pg_peers.h"
#include "daemon/store/state_dir.h"
#include "policy/rfc3339.h"
#include "policy/uai.h"

namespace treve::app {

using runtime::config_file_change;
using runtime::ConfigHolder;
using runtime::load_in_force;
using runtime::make_journal_sink;
using runtime::Notifier;
using runtime::Reloader;
using runtime::Retention;
using runtime::Scheduler;
using runtime::stderr_is_journal;

namespace {

// On SIGTERM, how long requests to sinks already under way may take to finish.
constexpr std::chrono::milliseconds kDispatchGrace{10'000};

// Connections the admin listener keeps at most (administrators are few).
constexpr std::size_t kAdminConnections = 64;

// How often systemd's STATUS= line is brought up to date.
constexpr std::chrono::seconds kStatusEvery{10};

// A listener's TLS, as last put in force: the configuration's files, compared on each change of
// the configuration so that a renewed certificate gets a new context and an unchanged one keeps
// its (and its TLS session cache).
class ListenerTls {
 public:
  explicit ListenerTls(const char* listener) : listener_(listener) {}

  // Puts `files` in force on `server` if they changed; false, logged, when OpenSSL refuses them
  // (the configuration's check has already read them, so this is not expected).
  bool apply(http::Server& server, const config::TlsFiles& files) {
    std::lock_guard lock(mutex_);
    if (files == current_)
      return true;
    if (!files.enabled()) {  // turned off: only a restart does that (reload.cpp)
      current_ = files;
      server.set_tls(nullptr);
      return true;
    }
    auto context =
        http::make_tls_context({files.certificate_pem, files.key_pem, files.client_ca_pem});
    if (!context) {
      spdlog::error("event=serve.tls_failed listener={} certificate={} error={}", listener_,
                    core::quoted(files.certificate_file), core::quoted(context.error()));
      return false;
    }
    const bool renewed = current_.enabled();
    server.set_tls(std::move(*context));
    current_ = files;
    spdlog::info(
        "event=serve.tls listener={} certificate={} expires={} client_certificates={} "
        "renewed={}",
        listener_, core::quoted(files.certificate_file),
        date::format("%FT%TZ", date::sys_seconds{std::chrono::seconds{files.not_after}}),
        files.client_ca_pem.empty() ? "none" : "required", renewed);
    return true;
  }

 private:
  const char* const listener_;  // "ingest" or "admin"
  std::mutex mutex_;
  config::TlsFiles current_;
};

// The dispatcher, while this daemon may send. On SQLite, from start to stop. On a shared
// PostgreSQL store, while this daemon holds the dispatch lease (pg_peers.h): made and started
// when the lease is taken, stopped at once (requests in flight abandoned, their deliveries
// left due for the next holder) when it is lost.
class Dispatching {
 public:
  using Make = std::function<std::unique_ptr<dispatch::Dispatcher>()>;
  explicit Dispatching(Make make) : make_(std::move(make)) {}

  void lead() {
    std::lock_guard lock(mutex_);
    if (dispatcher_ || stopped_)
      return;
    dispatcher_ = make_();
    dispatcher_->start();
  }
  void follow() {
    std::unique_ptr<dispatch::Dispatcher> gone;
    {
      std::lock_guard lock(mutex_);
      gone = std::move(dispatcher_);
    }
    if (gone) {
      gone->stop(std::chrono::milliseconds{0});
      gone->wait();
    }
  }
  void notify() {
    std::lock_guard lock(mutex_);
    if (dispatcher_)
      dispatcher_->notify();
  }
  void reconfigure() {
    std::lock_guard lock(mutex_);
    if (dispatcher_)
      dispatcher_->reconfigure();
  }
  std::uint64_t in_flight() const {
    std::lock_guard lock(mutex_);
    return dispatcher_ ? dispatcher_->counters().in_flight : 0;
  }
  // The daemon stops: no dispatcher is made any more; the one running stops with `grace`.
  void stop(std::chrono::milliseconds grace) {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    if (dispatcher_)
      dispatcher_->stop(grace);
  }
  void wait() {
    std::unique_ptr<dispatch::Dispatcher> last;
    {
      std::lock_guard lock(mutex_);
      last = std::move(dispatcher_);
    }
    if (last)
      last->wait();
  }

 private:
  Make make_;
  mutable std::mutex mutex_;
  std::unique_ptr<dispatch::Dispatcher> dispatcher_;
  bool stopped_ = false;
};

// What `systemctl status treve` shows: held deliveries, the next release, requests in flight.
std::string status_line(store::DispatchStore& store, const Dispatching& dispatcher) {
  std::string held = "?";
  if (auto n = store.held_count())
    held = std::to_string(*n);
  std::string next = "none";
  if (auto t = store.next_release(); t && *t)
    next = policy::format_rfc3339(**t, store::zone_or_utc("UTC"));
  return held + " held, next release " + next + ", " + std::to_string(dispatcher.in_flight()) +
         " request(s) in flight";
}

// Runs `tick` every `period` until `stopped` is set. The timer's executor must be a strand,
// and `stopped` set on that strand: a tick running on one I/O thread while another stops the
// daemon must not arm the timer again (it would keep the io_context running forever).
void every(boost::asio::steady_timer& timer, std::chrono::steady_clock::duration period,
           const bool& stopped, std::function<void()> tick) {
  timer.expires_after(period);
  timer.async_wait(
      [&timer, &stopped, period, tick = std::move(tick)](const boost::system::error_code& e) {
        if (e || stopped)
          return;
        tick();
        every(timer, period, stopped, tick);
      });
}

// A policy or a crisis changed through another daemon sharing the store: the configuration in
// force is built again from its file's text (as running, not as the file is now: a changed
// file waits for its reload) with the store's policies and open crises, and put in force if
// they differ, without re-planning: the daemon that made the change re-planned the held
// deliveries in its own transaction.
void refresh_policies(Reloader& reloader, ConfigHolder& holder, store::Store& store) {
  reloader.refresh([&holder, &store]() -> std::shared_ptr<const config::Config> {
    auto versions = store.current_policies();
    auto open = store.open_crises();
    if (!versions || !open) {
      spdlog::warn("event=peers.refresh_failed error={}",
                   core::quoted(!versions ? versions.error().message : open.error().message));
      return nullptr;
    }
    const auto running = holder.get();
    std::vector<config::ApiPolicy> policies = store::api_policies(*versions);
    std::vector<policy::Crisis> crises = store::crises_in_force(*open);
    // The policies the file leaves to the admin API, and the crises, as stored and as in
    // force: (establishment, version) and (crisis, end).
    auto same = [&] {
      std::vector<std::pair<std::string, std::int64_t>> stored, in_force;
      for (const auto& p : policies) {
        if (!running->managed_by_file(p.uai))
          stored.emplace_back(p.uai, p.version);
      }
      for (const auto& p : running->api_policies)
        in_force.emplace_back(p.uai, p.version);
      std::vector<std::pair<std::int64_t, policy::Instant>> stored_crises, crises_in_force;
      for (const auto& c : crises)
        stored_crises.emplace_back(c.id, c.until);
      for (const auto& c : running->crises)
        crises_in_force.emplace_back(c.id, c.until);
      std::sort(stored.begin(), stored.end());
      std::sort(in_force.begin(), in_force.end());
      std::sort(stored_crises.begin(), stored_crises.end());
      std::sort(crises_in_force.begin(), crises_in_force.end());
      return stored == in_force && stored_crises == crises_in_force;
    };
    if (same())
      return nullptr;
    auto next = runtime::build_in_force(*running, policies, std::move(crises));
    if (!next) {
      for (const auto& e : next.error())
        spdlog::error("event=peers.refresh_failed error={}", core::quoted(e.to_string()));
      return nullptr;
    }
    spdlog::info("event=peers.policies_refreshed policies={} crises={}", policies.size(),
                 (*next)->crises.size());
    return *next;
  });
}

}  // namespace

int serve(const std::string& config_path) {
  // Nothing the daemon creates (store, WAL files, key, pid file, admin socket) is for other
  // users, under systemd (UMask=0077) or not.
  ::umask(077);
  // Under systemd, straight to journald with structured fields (journald stamps the time);
  // elsewhere, lines on standard error.
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    logger = std::make_shared<spdlog::logger>("treve", make_journal_sink());
  } else {
    logger = spdlog::stderr_logger_mt("treve");
    logger->set_pattern(core::kStderrLogPattern);
  }
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
  const DescriptorLimit descriptors = raise_descriptor_limit();
  if (!descriptors.error.empty()) {
    spdlog::warn("event=serve.descriptor_limit_not_raised soft={} hard={} error=\"{}\"",
                 descriptors.soft, descriptors.hard, descriptors.error);
  }

  std::shared_ptr<const config::Config> config = cli::load_or_report(config_path, std::cerr);
  if (!config) {
    spdlog::error("event=serve.bad_config path={}", core::quoted(config_path));
    return 1;
  }
  for (const auto& w : config->warnings)
    spdlog::warn("event=config.warning warning={}", core::quoted(w));
  const std::string state_dir = config->server.state_dir;
  auto opened = store::open_store(*config);
  if (!opened) {
    spdlog::error("event=serve.state_unusable state_dir={} backend={} error={}",
                  core::quoted(state_dir), config::to_string(config->store.backend),
                  core::quoted(opened.error()));
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(opened->store);
  store::PgStore* const shared = opened->shared;  // several daemons on one PostgreSQL
  // Counting rows of a large store would delay readiness by seconds on a cold cache: only
  // what is already known is logged.
  spdlog::info("event=store.opened state_dir={} backend={} next_audit_seq={}",
               core::quoted(state_dir), config::to_string(config->store.backend),
               store->next_audit_seq());
  store->log_head();
  store->log_heads_every(config->audit.head_log_every);

  // With the establishments' policies edited through the admin API, and the open crises.
  const auto put_in_force = [&] {
    auto in_force = load_in_force(config_path, *store, *store);
    if (!in_force) {
      for (const auto& e : in_force.error())
        spdlog::error("event=serve.bad_config error={}", core::quoted(e.to_string()));
      return false;
    }
    config = *in_force;
    return true;
  };
  if (!put_in_force())
    return 1;
  // The test hook [testing] clock_start: wall time from that instant, at real speed.
  core::SystemClock system_clock;
  std::optional<core::OffsetClock> offset_clock;
  if (config->testing.clock_start) {
    offset_clock.emplace(system_clock, *config->testing.clock_start);
    spdlog::warn("event=serve.test_clock start={} offset_ms={}",
                 core::quoted(policy::format_rfc3339(*config->testing.clock_start,
                                                     store::zone_or_utc("UTC"))),
                 offset_clock->offset().count());
  }
  const core::Clock& clock =
      offset_clock ? static_cast<const core::Clock&>(*offset_clock) : system_clock;
  if (auto change = config_file_change(config_path, "start", config->referenced_files)) {
    if (auto r = store->record_config(*change, clock.now()); !r) {
      spdlog::error("event=serve.store_unusable error={}", core::quoted(r.error().message));
      return 1;
    } else if (*r) {
      spdlog::info("event=config.changed file={} digest={}", core::quoted(change->file),
                   change->digest);
    }
  }
  // Crises that ended while the daemon was down are closed now, by "expiry".
  {
    auto expired = store->expire_crises(
        [&config](std::string_view uai) {
          auto parsed = policy::parse_uai(uai);
          return parsed ? config->policy->find(*parsed).zone() : nullptr;
        },
        clock.now());
    if (!expired) {
      spdlog::error("event=serve.store_unusable error={}", core::quoted(expired.error().message));
      return 1;
    }
    for (std::int64_t id : *expired)
      spdlog::info("event=crisis.expired crisis={}", id);
    if (!expired->empty() && !put_in_force())
      return 1;
  }
  // What GET /metrics shows (counted from this start on).
  core::Metrics metrics;
  store::CommitQueue::Options queue_options;
  queue_options.metrics = &metrics;
  store::CommitQueue queue(*store, clock, queue_options);
  ConfigHolder holder(config);
  runtime::warm_up(*config, clock.now());
  // Batches are parsed, and their answers rendered, on a thread of their own: a batch of
  // megabytes takes seconds, and the two I/O threads must keep answering meanwhile.
  boost::asio::thread_pool batch_thread(1);
  // Who the users of timeline events are; events that waited for their directory, decided.
  // The scheduler and the dispatcher are made below, before the resolver starts.
  Scheduler* scheduler_ptr = nullptr;
  Dispatching* dispatcher_ptr = nullptr;
  // Recipients' own quiet hours: in memory for every decision, their use noted in the store
  // (at most daily per recipient) so that only unused ones are purged.
  runtime::Preferences preferences(
      [&store](std::string_view source, std::string_view recipient) {
        return store->pseudonym(source, recipient);
      },
      [&queue](const std::string& source, const std::string& pseudonym, policy::Instant at) {
        queue.submit_write([source, pseudonym, at](store::Store& s) {
          if (auto r = s.touch_preference(source, pseudonym, at); !r)
            spdlog::warn("event=preferences.touch_failed error={}",
                         core::quoted(r.error().message));
        });
      });
  if (auto stored = store->preferences(); !stored) {
    spdlog::error("event=serve.store_unusable error={}", core::quoted(stored.error().message));
    return 1;
  } else if (const std::size_t unreadable = preferences.load(*stored); unreadable) {
    spdlog::warn("event=preferences.unreadable count={}", unreadable);
  }
  runtime::Directories::Hooks directory_hooks;
  directory_hooks.preferences = &preferences;
  directory_hooks.held = [&scheduler_ptr](policy::Instant t) { scheduler_ptr->held_until(t); };
  directory_hooks.due = [&dispatcher_ptr] { dispatcher_ptr->notify(); };
  directory_hooks.metrics = &metrics;
  runtime::Directories directories([&holder] { return holder.get(); }, *store, queue, clock,
                                   directory_hooks);
  api::IngestApi::Options ingest_options;
  ingest_options.preferences = &preferences;
  ingest_options.preference_store = store.get();
  ingest_options.offload = [&batch_thread](std::function<void()> work) {
    boost::asio::post(batch_thread, std::move(work));
  };
  ingest_options.directories = &directories;
  api::IngestApi ingest([&holder] { return holder.lease(); }, queue, *store, clock,
                        std::move(ingest_options));

  boost::asio::io_context ioc;
  // Caught from here on (a signal that comes before its handler is set is kept for it): a
  // SIGTERM or SIGHUP right after READY must not meet the default action, which kills.
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  boost::asio::signal_set hangup(ioc, SIGHUP);
  // Each listener keeps fewer connections than the descriptors left for it: beyond its cap a
  // connection is answered 503, instead of accept failing for want of a descriptor.
  std::uint64_t reserved = kReservedDescriptors;
  for (const auto& sink : config->sinks)
    reserved += sink.max_in_flight;  // one connection per request in flight
  http::ServerOptions server_options;
  http::ServerOptions admin_options;
  const ConnectionCaps caps = connection_caps(descriptors.soft, reserved,
                                              server_options.max_connections, kAdminConnections);
  const bool capped = caps.ingest < server_options.max_connections ||
                      caps.admin < kAdminConnections ||
                      caps.ingest + caps.admin + reserved > descriptors.soft;
  spdlog::log(capped ? spdlog::level::warn : spdlog::level::info,
              "event=serve.descriptors limit={} hard={} found={} reserved={} "
              "ingest_connections={} admin_connections={}",
              descriptors.soft, descriptors.hard, descriptors.found, reserved, caps.ingest,
              caps.admin);
  server_options.max_connections = caps.ingest;
  server_options.max_connections_per_address = config->server.max_connections_per_address;
  server_options.name = "ingest";
  server_options.body_limit = [&ingest](const http::Request& header) {
    return ingest.body_limit(header);
  };
  server_options.admit_body = [&ingest](const http::Request& header, std::size_t bytes) {
    return ingest.admit_body(header, bytes);
  };
  dispatch::Dispatcher::Options dispatcher_options;
  dispatcher_options.metrics = &metrics;
  // Nothing is sent inside a quiet window: a delivery released in open time but still waiting
  // (behind others, or for a retry) when its recipient's quiet time begins is held again.
  dispatcher_options.quiet_now = [&preferences](const config::Config& c,
                                                const store::DispatchItem& item,
                                                policy::Instant now) {
    return runtime::hold_again(c, item, now, &preferences);
  };
  dispatcher_options.on_held_again = [&scheduler_ptr](policy::Instant t) {
    scheduler_ptr->held_until(t);
  };
  Dispatching dispatcher([&queue, &store, &clock, &holder, dispatcher_options] {
    return std::make_unique<dispatch::Dispatcher>(
        queue, *store, clock, [&holder] { return holder.get(); }, dispatcher_options);
  });
  Scheduler::Options scheduler_options;
  scheduler_options.metrics = &metrics;
  scheduler_options.on_released = [&dispatcher](std::vector<store::ReleasedDelivery>) {
    dispatcher.notify();
  };
  Scheduler scheduler(ioc, queue, *store, clock, scheduler_options);
  scheduler_ptr = &scheduler;
  dispatcher_ptr = &dispatcher;
  ingest.on_held([&scheduler](policy::Instant t) { scheduler.held_until(t); });
  ingest.on_due([&dispatcher] { dispatcher.notify(); });
  Retention::Options retention_options;
  retention_options.audit_retention = config->audit.retention;
  retention_options.events_retention = config->events.retention;
  // The test hook [testing] purge_interval_minutes: purges every few minutes, not daily.
  if (config->testing.purge_interval_minutes > 0)
    retention_options.interval = std::chrono::minutes{config->testing.purge_interval_minutes};
  retention_options.on_preferences_purged =
      [&preferences](const std::vector<store::StoredPreference>& purged) {
        for (const auto& p : purged)
          preferences.erase(p.source, p.recipient);
      };
  Retention retention(ioc, queue, clock, retention_options);
  // SIGHUP: reload, on the reloader's thread; RELOADING=1 then READY=1 around it.
  const Notifier notifier;
  Reloader::Hooks hooks;
  hooks.reloading = [&notifier] { notifier.reloading(); };
  // The listeners exist only below; a reload cannot run before they do (SIGHUP is handled, and
  // the admin API answers, once they are started).
  ListenerTls ingest_tls("ingest");
  ListenerTls admin_tls("admin");
  http::Server* ingest_server = nullptr;
  http::Server* admin_listener = nullptr;
  hooks.applied = [&dispatcher, &directories, &ingest_tls, &admin_tls, &holder, &ingest_server,
                   &admin_listener] {
    dispatcher.reconfigure();
    directories.reconfigure();
    const auto now_in_force = holder.get();
    if (ingest_server)
      ingest_tls.apply(*ingest_server, now_in_force->server.tls);
    if (admin_listener)
      admin_tls.apply(*admin_listener, now_in_force->server.admin_tls);
  };
  hooks.moved = [&scheduler](policy::Instant t) { scheduler.held_until(t); };
  hooks.done = [&] { notifier.ready(status_line(*store, dispatcher)); };
  Reloader reloader(config_path, holder, queue, *store, *store, *store, clock, hooks);
  reloader.set_preferences(&preferences);
  // Crises: opened, extended and closed through the admin API, closed at their end instant.
  runtime::Crises crises(holder, queue, *store, clock,
                         [&reloader](const auto& change, std::vector<std::string> uais) {
                           return reloader.change_policy(change, std::move(uais));
                         });

  // The admin API and page, on their own listener.
  admin::AdminApi::Deps admin_deps{
      holder,
      *store,
      *store,
      *store,
      queue,
      clock,
      [&reloader](const auto& change, std::vector<std::string> uais) {
        return reloader.change_policy(change, std::move(uais));
      },
      [&holder] { return audit::Trail::open_configured(*holder.get()); }};
  // A preview of a user asks the same directory clients (and caches) as ingest.
  admin_deps.directories = &directories;
  admin_deps.metrics = &metrics;
  admin_deps.crises = &crises;
  admin::AdminApi admin_api(std::move(admin_deps));
  admin_options.body_limit = [](const http::Request&) { return std::size_t{1024 * 1024}; };
  admin_options.name = "admin";
  admin_options.max_connections = caps.admin;
  // One address (a script gone wrong, a scanner) cannot take every admin slot.
  admin_options.max_connections_per_address = 16;
  http::Server admin_server(
      ioc,
      [&admin_api](const http::Client& client, http::Request&& req, http::Respond respond) {
        admin_api.handle(client, std::move(req), std::move(respond));
      },
      admin_options);

  http::Server server(
      ioc,
      [&ingest](const http::Client& client, http::Request&& req, http::Respond respond) {
        ingest.handle(client, std::move(req), std::move(respond));
      },
      server_options);
  if (auto r = server.listen(config->server.listen); !r) {
    spdlog::error("event=serve.listen_failed error={}", core::quoted(r.error()));
    return 1;
  }
  if (auto r = admin_server.listen(config->server.admin_listen); !r) {
    spdlog::error("event=serve.listen_failed listener=admin error={}", core::quoted(r.error()));
    return 1;
  }
  if (!ingest_tls.apply(server, config->server.tls) ||
      !admin_tls.apply(admin_server, config->server.admin_tls))
    return 1;
  ingest_server = &server;
  admin_listener = &admin_server;
  server.start();
  admin_server.start();
  scheduler.start();
  // With several daemons on one PostgreSQL store: the dispatch lease decides which sends, and
  // each hears of deliveries made due and of policies changed through the others.
  std::optional<store::Peers> peers;
  if (shared) {
    store::Peers::Hooks peer_hooks;
    peer_hooks.leading = [&dispatcher](bool leading) {
      if (leading)
        dispatcher.lead();
      else
        dispatcher.follow();
    };
    peer_hooks.due = [&dispatcher] { dispatcher.notify(); };
    peer_hooks.policy = [&reloader, &holder, &store] {
      refresh_policies(reloader, holder, *store);
    };
    peers.emplace(store::connect_options(config->store), store::lease_owner(), config->store.lease,
                  std::move(peer_hooks));
    peers->start();
  } else {
    dispatcher.lead();
  }
  retention.start();
  directories.start();
  crises.start();
  const std::string admin_where = config->server.admin_listen.starts_with("unix:")
                                      ? config->server.admin_listen
                                      : admin_server.local_endpoint().address().to_string() + ":" +
                                            std::to_string(admin_server.local_endpoint().port());
  // Before saying ready: `treve reload` run as soon as the daemon is ready finds its pid, and
  // the SIGHUP it sends has its handler.
  std::function<void()> on_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& e, int) {
      if (e)
        return;
      reloader.request();
      on_hangup();
    });
  };
  on_hangup();
  if (auto r = store::write_pid_file(store::pid_file(state_dir)); !r)
    spdlog::warn("event=serve.pid_file_failed error={}", core::quoted(r.error()));
  auto endpoint = server.local_endpoint();
  spdlog::info("event=serve.ready listen={}:{} admin={} state_dir={}",
               endpoint.address().to_string(), endpoint.port(), admin_where,
               core::quoted(state_dir));

  // systemd: ready once the listeners are bound and the store open; the watchdog is fed from
  // the event loop itself, so that a stuck loop gets the daemon restarted.
  notifier.ready(status_line(*store, dispatcher));
  auto timers = boost::asio::make_strand(ioc);
  boost::asio::steady_timer status_timer(timers), watchdog_timer(timers);
  bool timers_stopped = false;  // on the strand
  if (notifier.enabled()) {
    every(status_timer, kStatusEvery, timers_stopped,
          [&] { notifier.status(status_line(*store, dispatcher)); });
  }
  if (auto interval = notifier.watchdog_interval()) {
    notifier.watchdog();
    every(watchdog_timer, *interval, timers_stopped, [&] { notifier.watchdog(); });
  }

  signals.async_wait([&](const boost::system::error_code& e, int signal) {
    if (e)
      return;
    spdlog::info("event=serve.stopping signal={}", signal);
    notifier.stopping();
    boost::asio::post(timers, [&] {
      timers_stopped = true;
      status_timer.cancel();
      watchdog_timer.cancel();
    });
    hangup.cancel();
    reloader.cancel();
    scheduler.stop();
    retention.stop();
    directories.stop();
    dispatcher.stop(kDispatchGrace);
    // Both listeners stop; the second to finish ends the signal wait (and so the loop).
    auto stopped = std::make_shared<std::atomic<int>>(0);
    auto both = [&signals, stopped] {
      if (++*stopped == 2)
        signals.cancel();
    };
    server.stop(both);
    admin_server.stop(both);
  });

  // Two threads run the I/O: while one parses and decides, the other writes answers.
  std::thread second([&ioc] { ioc.run(); });
  ioc.run();
  second.join();
  crises.stop();
  reloader.stop();
  dispatcher.wait();  // requests in flight answered or abandoned, before the lease goes
  if (peers)
    peers->stop();      // the lease given up: another daemon takes the sending over at once
  batch_thread.join();  // what it runs may still write: before the queue stops
  queue.stop();
  store->log_head();
  std::error_code ignored;
  std::filesystem::remove(store::pid_file(state_dir), ignored);
  const auto written = queue.counters();
  spdlog::info("event=serve.stopped commits={} events={}", written.commits, written.events);
  store.reset();
  return 0;
}

}  // namespace treve::app
