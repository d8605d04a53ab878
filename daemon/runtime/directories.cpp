#include "daemon/runtime/directories.h"

#include "daemon/runtime/preferences.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "adapters/inbound/canonical_event.h"
#include "daemon/core/log_field.h"
#include "daemon/runtime/decide_event.h"
#include "daemon/runtime/directory_events.h"
#include "daemon/store/store.h"

namespace treve::runtime {
namespace {

namespace asio = boost::asio;

// How often the waiting events are looked at, and how many at most at a time.
constexpr std::chrono::seconds kPollEvery{1};
constexpr std::size_t kEventsPerPoll = 256;
constexpr std::chrono::milliseconds kMaxBackoff{300'000};

bool same(const config::Directory& a, const config::Directory& b) {
  return a.url == b.url && a.secret == b.secret && a.token == b.token && a.ttl == b.ttl &&
         a.timeout == b.timeout && a.cache_entries == b.cache_entries && a.ca_file == b.ca_file;
}

}  // namespace

std::chrono::milliseconds lookup_backoff(int attempts) {
  if (attempts < 1)
    attempts = 1;
  if (attempts > 20)
    return kMaxBackoff;
  return std::min(std::chrono::milliseconds{1'000} * (std::int64_t{1} << (attempts - 1)),
                  kMaxBackoff);
}

class Directories::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(ConfigSource config, store::AwaitingStore& store, store::CommitQueue& queue,
       const core::Clock& clock, Hooks hooks)
      : config_(std::move(config)),
        store_(store),
        queue_(queue),
        clock_(clock),
        hooks_(std::move(hooks)),
        work_(asio::make_work_guard(ioc_)),
        timer_(ioc_) {
    if (auto c = config_()) {
      for (const config::Directory& d : c->directories) {
        clients_[d.name] = std::make_shared<directory::DirectoryClient>(ioc_, d, clock_);
        configs_[d.name] = d;
      }
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~Impl() { stop(); }

  void stop() {
    if (stopped_.exchange(true))
      return;
    asio::post(ioc_, [this] { timer_.cancel(); });
    work_.reset();
    ioc_.stop();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
      thread_.join();
    std::lock_guard lock(mutex_);
    clients_.clear();  // after the io_context stopped
  }

  void start() {
    asio::post(ioc_, [weak = weak_from_this()] {
      if (auto self = weak.lock())
        self->poll();
    });
  }

  void wake() { start(); }

  void reconfigure() {
    auto c = config_();
    if (!c)
      return;
    std::vector<std::shared_ptr<directory::DirectoryClient>> dropped;
    {
      std::lock_guard lock(mutex_);
      std::map<std::string, std::shared_ptr<directory::DirectoryClient>> clients;
      std::map<std::string, config::Directory> configs;
      for (const config::Directory& d : c->directories) {
        auto old = configs_.find(d.name);
        if (old != configs_.end() && same(old->second, d)) {
          clients[d.name] = clients_[d.name];
        } else {
          clients[d.name] = std::make_shared<directory::DirectoryClient>(ioc_, d, clock_);
        }
        configs[d.name] = d;
      }
      for (auto& [name, client] : clients_) {
        if (clients[name] != client)
          dropped.push_back(std::move(client));
      }
      clients_ = std::move(clients);
      configs_ = std::move(configs);
    }
    // A client is destroyed on its thread (directory_client.h).
    asio::post(ioc_, [dropped = std::move(dropped)] {});
  }

  void lookup(const std::string& name, std::string source, std::vector<std::string> ids,
              directory::DirectoryClient::Callback done) {
    if (core::Metrics* metrics = hooks_.metrics) {
      // A lookup counts as one error when any of its answers failed.
      done = [metrics, name, done = std::move(done)](std::vector<directory::UserAnswer> answers) {
        if (std::any_of(answers.begin(), answers.end(), [](const directory::UserAnswer& a) {
              return a.status == directory::UserAnswer::Status::failed;
            })) {
          metrics->directory_errors.with({name}).inc();
        }
        done(std::move(answers));
      };
    }
    std::shared_ptr<directory::DirectoryClient> client;
    {
      std::lock_guard lock(mutex_);
      if (auto c = clients_.find(name); c != clients_.end())
        client = c->second;
    }
    if (!client) {
      std::vector<directory::UserAnswer> answers(ids.size());
      for (auto& a : answers)
        a.error = "no directory is named \"" + name + "\" in the configuration in force";
      asio::post(ioc_, [done = std::move(done), answers = std::move(answers)]() mutable {
        done(std::move(answers));
      });
      return;
    }
    client->lookup(std::move(source), std::move(ids), std::move(done));
    asio::post(ioc_, [client = std::move(client)] {});
  }

  std::optional<std::vector<directory::UserAnswer>> cached(const std::string& name,
                                                           std::span<const std::string> ids) {
    // Under the lock, so that a reload cannot drop the client meanwhile (a client is destroyed
    // on its thread) and no wake-up of that thread is needed.
    std::lock_guard lock(mutex_);
    auto c = clients_.find(name);
    if (c == clients_.end())
      return std::nullopt;
    return c->second->cached_answers(ids);
  }

  std::uint64_t resolved() const { return resolved_.load(); }

 private:
  // On the thread: the waiting events due for another try are looked up.
  void poll() {
    if (stopped_)
      return;
    const policy::Instant now = clock_.now();
    auto events = store_.awaiting(kEventsPerPoll);
    if (!events) {
      spdlog::warn("event=directory.awaiting_unreadable error={}",
                   core::quoted(events.error().message));
    } else {
      for (store::AwaitingEvent& e : *events) {
        if (e.next_attempt_at > now)
          break;
        if (!in_flight_.insert(e.row).second)
          continue;
        auto event = std::make_shared<store::AwaitingEvent>(std::move(e));
        lookup(event->directory, event->source, event->users,
               [weak = weak_from_this(), event](std::vector<directory::UserAnswer> answers) {
                 if (auto self = weak.lock())
                   self->answered(*event, answers);
               });
      }
    }
    timer_.expires_after(kPollEvery);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec)
        return;
      if (auto self = weak.lock())
        self->poll();
    });
  }

  // On the thread: the directory's answers about a waiting event.
  void answered(const store::AwaitingEvent& e, const std::vector<directory::UserAnswer>& answers) {
    const policy::Instant now = clock_.now();
    auto config = config_();
    auto recipients = resolve_recipients(e.users, answers);
    if (!recipients)
      return postpone(e, now, recipients.error());
    const config::Connector* connector = config ? config->connector(e.source) : nullptr;
    if (!connector)
      return postpone(e, now, "connector \"" + e.source + "\" is not configured any more");
    auto resolution = std::make_shared<store::Resolution>();
    store::Resolution& r = *resolution;
    r.row = e.row;
    r.source = e.source;
    r.id = e.id;
    r.category = e.category;
    r.directory = e.directory;
    r.unknown = recipients->unknown.size();
    r.body = canonical_body(e.body, *recipients);
    if (recipients->recipients.empty()) {
      r.zone = store::zone_or_utc("UTC");
    } else {
      auto parsed = adapters::parse_canonical_event(r.body);
      if (!parsed) {
        return postpone(e, now,
                        "the event the directory's answer makes is not valid (at " +
                            parsed.error().pointer + ")");
      }
      policy::Notification& n = parsed->notification;
      n.source = e.source;
      n.id = e.id;  // a CloudEvent's body names its own id, stored under (source, id)
      if (hooks_.preferences)
        hooks_.preferences->attach(n, now);
      DecidedEvent decided = decide_event(*config, *connector, n, e.received_at, now);
      r.establishment = n.establishment;
      r.zone = decided.zone;
      r.urgent_refusal = decided.urgent_refusal;
      r.deliveries = std::move(decided.deliveries);
    }
    const std::int64_t row = e.row;
    const bool queued = queue_.submit_write([weak = weak_from_this(), resolution, now,
                                             row](store::Store& s) {
      auto done = s.resolve(*resolution, now);
      auto self = weak.lock();
      if (!self)
        return;
      if (!done) {
        spdlog::warn("event=directory.resolve_failed source={} id={} error={}", resolution->source,
                     core::quoted(resolution->id), core::quoted(done.error().message));
      } else if (*done) {
        ++self->resolved_;
        spdlog::info(
            "event=directory.resolved source={} id={} directory={} deliveries={} unknown={}",
            resolution->source, core::quoted(resolution->id), resolution->directory,
            resolution->deliveries.size(), resolution->unknown);
        self->woken(resolution->deliveries);
        self->count_held(*resolution);
      }
      asio::post(self->ioc_, [weak, row] {
        if (auto me = weak.lock())
          me->in_flight_.erase(row);
      });
    });
    if (!queued)
      in_flight_.erase(row);
  }

  // On the writer: the held deliveries of a resolved event into the metrics.
  void count_held(const store::Resolution& r) {
    if (!hooks_.metrics)
      return;
    std::uint64_t held = 0;
    for (const auto& d : r.deliveries) {
      if (d.state == store::DeliveryState::held)
        held += std::max<std::size_t>(d.sinks.size(), 1);  // one stored copy per sink
    }
    if (held)
      hooks_.metrics->deliveries_held.with({r.establishment, policy::to_string(r.category)})
          .inc(held);
  }

  // On the writer: tells the scheduler and the dispatcher what was stored.
  void woken(const std::vector<store::NewDelivery>& deliveries) {
    policy::Instant held = policy::Instant::max();
    bool due = false;
    for (const auto& d : deliveries) {
      if (d.state == store::DeliveryState::held)
        held = std::min(held, d.release_at);
      due = due || d.state == store::DeliveryState::due;
    }
    if (held != policy::Instant::max() && hooks_.held)
      hooks_.held(held);
    if (due && hooks_.due)
      hooks_.due();
  }

  void postpone(const store::AwaitingEvent& e, policy::Instant now, std::string error) {
    const auto wait = lookup_backoff(e.attempts + 1);
    spdlog::warn(
        "event=directory.retry_later source={} id={} directory={} attempts={} retry_in_ms={} "
        "error={}",
        e.source, core::quoted(e.id), e.directory, e.attempts + 1, wait.count(),
        core::quoted(error));
    const std::int64_t row = e.row;
    const policy::Instant next = now + wait;
    const bool queued = queue_.submit_write([weak = weak_from_this(), row, next,
                                             error = std::move(error)](store::Store& s) {
      if (auto r = s.postpone(row, next, error); !r)
        spdlog::warn("event=directory.postpone_failed error={}", core::quoted(r.error().message));
      if (auto self = weak.lock()) {
        asio::post(self->ioc_, [weak, row] {
          if (auto me = weak.lock())
            me->in_flight_.erase(row);
        });
      }
    });
    if (!queued)
      in_flight_.erase(row);
  }

  ConfigSource config_;
  store::AwaitingStore& store_;
  store::CommitQueue& queue_;
  const core::Clock& clock_;
  Hooks hooks_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer timer_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> resolved_{0};
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<directory::DirectoryClient>> clients_;  // guarded
  std::map<std::string, config::Directory> configs_;                            // guarded
  std::set<std::int64_t> in_flight_;  // on the thread: events being looked up or stored
};

Directories::Directories(ConfigSource config, store::AwaitingStore& store,
                         store::CommitQueue& queue, const core::Clock& clock, Hooks hooks)
    : impl_(std::make_shared<Impl>(std::move(config), store, queue, clock, std::move(hooks))) {}

Directories::~Directories() {
  impl_->stop();
}

void Directories::start() {
  impl_->start();
}
void Directories::stop() {
  impl_->stop();
}
void Directories::reconfigure() {
  impl_->reconfigure();
}
void Directories::wake() {
  impl_->wake();
}
void Directories::lookup(const std::string& name, std::string source, std::vector<std::string> ids,
                         directory::DirectoryClient::Callback done) {
  impl_->lookup(name, std::move(source), std::move(ids), std::move(done));
}
std::optional<std::vector<directory::UserAnswer>> Directories::cached(
    const std::string& name, std::span<const std::string> ids) {
  return impl_->cached(name, ids);
}
std::uint64_t Directories::resolved() const {
  return impl_->resolved();
}

}  // namespace treve::runtime
