// Sends due deliveries to their sinks: in order per recipient, bounded, retried, never lost.
//
// The dispatcher reads due deliveries from the store in the order they became due (a cursor
// on ready_seq), at most `max_pending` (and `max_pending_bytes` of event bodies) in memory at
// a time: while that many wait for a sink, it reads no more, so a slow or failing sink
// applies back-pressure instead of growing memory. Deliveries stay `due` in the store until
// their outcome is committed; a delivery found `due` at start may have been sent already
// (the receiver deduplicates on its stable delivery id): delivery is at least once.
//
// Per recipient (source and recipient id), deliveries go one at a time in receipt order:
// delivery k+1 is not sent before delivery k succeeded or was dead-lettered. Different
// recipients proceed in parallel, up to each sink's `max_in_flight` requests and `rate`.
// Failed attempts are retried on the sink's schedule (exponential backoff with jitter,
// honouring Retry-After), then dead-lettered. Just before a delivery goes out, its recipient's
// quiet time is looked at again (Options::quiet_now): one released in open time but still
// waiting when a window began is held again until that window's end, never sent inside it. Outcomes
// are committed in groups through the store's writer, each with its audit record.
//
// Runs on its own thread and io_context (libcurl's multi interface driven by Asio);
// `notify` and `stop` may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::dispatch {

class Dispatcher {
 public:
  struct Options {
    std::size_t max_pending = 10'000;                  // deliveries in memory
    std::size_t max_pending_bytes = 64 * 1024 * 1024;  // their event bodies
    std::size_t load_batch = 1'000;                    // deliveries read per store query
    // How often the store is looked at without being told (deliveries replayed by another
    // process); also the longest a retry waits past its instant after a wall-clock step.
    std::chrono::milliseconds idle_scan{1'000};
    // A number in [0, 1) for retry jitter; random unless a test fixes it.
    std::function<double()> jitter;
    // Set: outcomes, their latency and failed attempts are counted there (must outlive the
    // dispatcher).
    core::Metrics* metrics = nullptr;
    // Asked just before a delivery is sent, on the dispatcher's thread, with the configuration
    // in force: nullopt sends it; an answer holds it again instead (its recipient's quiet time
    // began since it became due), a `held_again` outcome. Unset: every delivery is sent.
    std::function<std::optional<store::HoldAgain>(const config::Config&, const store::DispatchItem&,
                                                  policy::Instant)>
        quiet_now;
    // Called (dispatcher's thread) once deliveries held again are committed, with the earliest
    // of their new release instants: the scheduler must wake for it.
    std::function<void(policy::Instant)> on_held_again;
  };

  using ConfigSource = std::function<std::shared_ptr<const config::Config>()>;

  Dispatcher(store::CommitQueue& queue, store::DispatchStore& store, const core::Clock& clock,
             ConfigSource config, Options options);
  ~Dispatcher();  // stops at once (in-flight requests are abandoned, their deliveries stay due)
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts the thread: retrying deliveries are read back, then due ones.
  void start();
  // New due deliveries were committed: look at the store soon.
  void notify();
  // The configuration was reloaded: sinks take their new settings (see Impl::reconfigure).
  void reconfigure();
  // Stops reading and sending; requests in flight may finish for at most `grace`, then are
  // abandoned (their deliveries stay due for the next start); outcomes already known are
  // committed. Returns at once; `wait` blocks until it is done.
  void stop(std::chrono::milliseconds grace);
  void wait();

  struct Counters {
    std::uint64_t delivered = 0;
    std::uint64_t retried = 0;  // failed attempts that will be tried again
    std::uint64_t dead = 0;
    std::uint64_t no_address = 0;  // copies whose sink had no address for the recipient
    std::uint64_t held_again = 0;  // not sent: their recipient's quiet time had begun
    std::uint64_t requests = 0;
    std::uint64_t in_flight = 0;  // requests
    std::uint64_t pending = 0;    // deliveries in memory (waiting, in flight, outcome unsaved)
  };
  Counters counters() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::dispatch
