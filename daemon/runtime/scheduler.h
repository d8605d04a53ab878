// Releases held deliveries when their quiet time ends.
//
// One timer, armed for the earliest release instant in the store (never sleeping longer than
// `max_sleep`, so that a wall-clock step — NTP, suspend — neither releases early nor stalls:
// the wall clock is read again at least that often). When due, deliveries are moved from
// `held` to `due` in batches, in (release instant, receipt) order, by the store's writer, each
// with its audit record, and handed to `on_released`. On start, everything already due (the
// daemon was down at 07:00) is released at once, in order.
//
// Runs on an io_context; `start`, `held_until` and `stop` may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::runtime {

class Scheduler {
 public:
  struct Options {
    std::chrono::milliseconds max_sleep{1000};
    std::size_t batch = 1000;  // deliveries released per transaction
    // The first transaction of a release takes this many, and each next one twice as many up
    // to `batch`: the first deliveries leave a few milliseconds after the window's end
    // instead of after a whole batch was written.
    std::size_t first_batch = 32;
    // Called on the store's writer thread with each released batch, in order.
    std::function<void(std::vector<store::ReleasedDelivery>)> on_released;
    // Set: released deliveries and their lag are counted there (must outlive the scheduler).
    core::Metrics* metrics = nullptr;
  };

  Scheduler(boost::asio::io_context& ioc, store::CommitQueue& queue, store::DispatchStore& store,
            const core::Clock& clock, Options options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  // A held delivery was just stored with this release instant: wake earlier if needed.
  void held_until(policy::Instant release_at);
  void stop();

  struct Counters {
    std::uint64_t released = 0;
    std::uint64_t wakeups = 0;
  };
  Counters counters() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace treve::runtime
