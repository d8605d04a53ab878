#include "daemon/runtime/scheduler.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "daemon/core/log_field.h"

namespace treve::runtime {

struct Scheduler::State : std::enable_shared_from_this<Scheduler::State> {
  State(boost::asio::io_context& ioc, store::CommitQueue& q, store::DispatchStore& s,
        const core::Clock& c, Options o)
      : strand(boost::asio::make_strand(ioc)),
        timer(strand),
        queue(q),
        store(s),
        clock(c),
        options(std::move(o)) {}

  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  boost::asio::steady_timer timer;
  store::CommitQueue& queue;
  store::DispatchStore& store;
  const core::Clock& clock;
  Options options;

  // All below on the strand.
  bool stopped = false;
  bool releasing = false;      // a release job is queued or running
  std::size_t next_batch = 0;  // of the release under way; 0: none under way
  std::optional<policy::Instant> armed_for;

  std::atomic<std::uint64_t> released{0};
  std::atomic<std::uint64_t> wakeups{0};
  std::atomic<std::uint64_t> batch_total{0};  // released since the last log line

  // A committed batch into the metrics: released deliveries and how late they became due.
  void count(const std::vector<store::ReleasedDelivery>& batch) {
    core::Metrics* m = options.metrics;
    if (!m)
      return;
    const policy::Instant committed = clock.now();
    auto& lag = m->release_lag.with({});
    for (const auto& d : batch) {
      m->deliveries_released.with({d.ref.establishment, policy::to_string(d.ref.category)}).inc();
      const std::chrono::duration<double> late = committed - d.release_at;
      lag.observe(std::max(late.count(), 0.0));
    }
  }

  // Looks at the store and either releases now or sleeps until the next release.
  void check() {
    if (stopped || releasing)
      return;
    ++wakeups;
    auto next = store.next_release();
    if (!next) {
      spdlog::warn("event=scheduler.store_unavailable error={}",
                   core::quoted(next.error().message));
      arm(std::nullopt);
      return;
    }
    const policy::Instant now = clock.now();
    if (*next && **next <= now) {
      release(now);
      return;
    }
    arm(*next);
  }

  void arm(std::optional<policy::Instant> next) {
    armed_for = next;
    auto sleep = options.max_sleep;
    if (next) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock.now());
      if (until < sleep)
        sleep = std::max(until, std::chrono::milliseconds{0});
    }
    timer.expires_after(sleep);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec)
        return;  // cancelled: re-armed or stopped
      self->check();
    });
  }

  // Releases one batch of what is due at `now` on the store's writer, then comes back for
  // the next: other writes (accepted events, delivery outcomes) go between batches.
  void release(policy::Instant now) {
    releasing = true;
    if (next_batch == 0)
      next_batch = std::clamp<std::size_t>(options.first_batch, 1, options.batch);
    const std::size_t limit = next_batch;
    next_batch = std::min(next_batch * 2, options.batch);
    auto self = shared_from_this();
    bool queued = queue.submit_write([self, now, limit](store::Store& s) {
      auto batch = s.release_due(now, limit);
      bool more = false;
      if (!batch) {
        spdlog::error("event=scheduler.release_failed error={}",
                      core::quoted(batch.error().message));
      } else {
        const std::size_t n = batch->size();
        more = n == limit;
        self->released += n;
        self->batch_total += n;
        self->count(*batch);
        if (n && self->options.on_released)
          self->options.on_released(std::move(*batch));
      }
      boost::asio::post(self->strand, [self, more] {
        if (more && !self->stopped) {
          self->release(self->clock.now());
          return;
        }
        if (self->batch_total)
          spdlog::info("event=scheduler.released deliveries={}", self->batch_total.load());
        self->batch_total = 0;
        self->next_batch = 0;
        self->releasing = false;
        self->check();
      });
    });
    if (!queued) {
      // The writer is full: try again shortly rather than lose the wake-up.
      releasing = false;
      next_batch = 0;
      timer.expires_after(std::chrono::milliseconds(50));
      timer.async_wait([self](const boost::system::error_code& ec) {
        if (!ec)
          self->check();
      });
    }
  }
};

Scheduler::Scheduler(boost::asio::io_context& ioc, store::CommitQueue& queue,
                     store::DispatchStore& store, const core::Clock& clock, Options options)
    : state_(std::make_shared<State>(ioc, queue, store, clock, std::move(options))) {}

Scheduler::~Scheduler() {
  stop();
}

void Scheduler::start() {
  boost::asio::post(state_->strand, [s = state_] { s->check(); });
}

void Scheduler::held_until(policy::Instant release_at) {
  boost::asio::post(state_->strand, [s = state_, release_at] {
    if (s->stopped || s->releasing)
      return;
    if (!s->armed_for || release_at < *s->armed_for) {
      s->timer.cancel();
      s->arm(release_at);
    }
  });
}

void Scheduler::stop() {
  boost::asio::post(state_->strand, [s = state_] {
    s->stopped = true;
    s->timer.cancel();
  });
}

Scheduler::Counters Scheduler::counters() const {
  return {state_->released.load(), state_->wakeups.load()};
}

}  // namespace treve::runtime
