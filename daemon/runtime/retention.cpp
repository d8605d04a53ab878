#include "daemon/runtime/retention.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "daemon/core/log_field.h"

namespace treve::runtime {
namespace {

// When the writer's queue is full or the store refuses, the purge waits and tries again.
constexpr std::chrono::minutes kRetryAfterBusy{1};
constexpr std::chrono::hours kRetryAfterError{1};

}  // namespace

struct Retention::State : std::enable_shared_from_this<Retention::State> {
  State(boost::asio::io_context& ioc, store::CommitQueue& q, const core::Clock& c, Options o)
      : strand(boost::asio::make_strand(ioc)), timer(strand), queue(q), clock(c), options(o) {}

  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  boost::asio::steady_timer timer;
  store::CommitQueue& queue;
  const core::Clock& clock;
  Options options;

  // On the strand.
  bool stopped = false;
  store::PurgeResult total;

  void arm(std::chrono::steady_clock::duration after) {
    if (stopped)
      return;
    timer.expires_after(after);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
      if (!e)
        self->slice();
    });
  }

  // One slice of the purge, on the writer; the next one is queued behind whatever arrived.
  void slice() {
    if (stopped)
      return;
    const policy::Instant now = clock.now();
    store::PurgeLimits limits;
    limits.audit_before = now - options.audit_retention;
    limits.events_before = now - options.events_retention;
    limits.max_rows = options.max_rows;
    auto self = shared_from_this();
    bool queued = queue.submit_write([self, limits, now](store::Store& s) {
      auto r = s.purge(limits, now);
      boost::asio::post(self->strand, [self, r] { self->sliced(r); });
    });
    if (!queued)
      arm(kRetryAfterBusy);
  }

  void add(const store::PurgeResult& r) {
    total.audit_records += r.audit_records;
    if (r.purged_through)
      total.purged_through = r.purged_through;
    total.bodies += r.bodies;
    total.events += r.events;
    total.deliveries += r.deliveries;
  }

  void sliced(const store::Result<store::PurgeResult>& r) {
    if (!r) {
      spdlog::error("event=retention.failed error={}", core::quoted(r.error().message));
      total = {};
      arm(kRetryAfterError);
      return;
    }
    add(*r);
    if (r->more) {
      boost::asio::post(strand, [self = shared_from_this()] { self->slice(); });
      return;
    }
    spdlog::info(
        "event=retention.purged audit_records={} purged_through={} bodies={} events={} "
        "deliveries={}",
        total.audit_records, total.purged_through, total.bodies, total.events, total.deliveries);
    if (options.on_purged)
      options.on_purged(total);
    total = {};
    purge_preferences();
    arm(options.interval);
  }

  // Recipients' own hours neither set nor applied for audit.retention go too.
  void purge_preferences() {
    const policy::Instant now = clock.now();
    const policy::Instant unused_since = now - options.audit_retention;
    auto self = shared_from_this();
    queue.submit_write([self, unused_since, now](store::Store& s) {
      auto r = s.purge_preferences(unused_since, now);
      if (!r) {
        spdlog::error("event=retention.failed error={}", core::quoted(r.error().message));
        return;
      }
      if (r->empty())
        return;
      spdlog::info("event=retention.preferences_purged count={}", r->size());
      if (self->options.on_preferences_purged)
        self->options.on_preferences_purged(*r);
    });
  }
};

Retention::Retention(boost::asio::io_context& ioc, store::CommitQueue& queue,
                     const core::Clock& clock, Options options)
    : state_(std::make_shared<State>(ioc, queue, clock, std::move(options))) {}

Retention::~Retention() {
  stop();
}

void Retention::start() {
  boost::asio::post(state_->strand, [s = state_] { s->slice(); });
}

void Retention::stop() {
  boost::asio::post(state_->strand, [s = state_] {
    s->stopped = true;
    s->timer.cancel();
  });
}

}  // namespace treve::runtime
