// The single writer in front of the store, with group commit.
//
// Requests hand their writes to the queue and are answered through a callback once the
// transaction holding them is durable. Accepts that arrive while a transaction is being
// committed wait and are then committed together in the next one, so the cost of an fsync
// is shared by every request that arrived in the meantime. Bounded: `submit_*` refuses work
// when `capacity` jobs are waiting (the caller answers 503), so a burst applies back-pressure
// instead of growing memory. Callbacks run on the writer thread: keep them short (post the
// response elsewhere). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/store/store.h"

namespace treve::store {

class CommitQueue {
 public:
  using AcceptDone = std::function<void(Result<std::vector<AcceptResult>>)>;
  using Write = std::function<void(Store&)>;

  struct Options {
    std::size_t capacity = 4096;               // jobs waiting, beyond which submit refuses
    std::size_t max_events_per_commit = 8192;  // events grouped into one transaction
    // After this long without a job, following work, the store gives back its caches
    // (Store::release_memory); zero never does.
    std::chrono::milliseconds release_memory_after{1000};
    // Set: events stored, deliveries held, the time of each job and the jobs waiting are
    // counted there (must outlive the queue).
    core::Metrics* metrics = nullptr;
  };

  CommitQueue(Store& store, const core::Clock& clock, Options options);
  CommitQueue(Store& store, const core::Clock& clock) : CommitQueue(store, clock, Options{}) {}
  ~CommitQueue();  // stops, after committing what was submitted
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // False when the queue is full or stopping: nothing was submitted.
  bool submit_accept(std::vector<NewEvent> events, AcceptDone done);
  bool submit_write(Write write);

  // Runs `write` on the writer and returns what it returned, once done. A full queue is tried
  // again every 20 ms for up to `patience`; nullopt if the job was never taken. Blocking: not
  // from the writer thread, nor from an I/O thread.
  template <typename F>
  auto write_and_wait(F write, std::chrono::milliseconds patience = {})
      -> std::optional<std::invoke_result_t<F&, Store&>> {
    using R = std::invoke_result_t<F&, Store&>;
    auto done = std::make_shared<std::promise<R>>();
    auto result = done->get_future();
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!submit_write([done, write](Store& s) mutable { done->set_value(write(s)); })) {
      if (std::chrono::steady_clock::now() >= deadline)
        return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return result.get();
  }

  // Commits everything already submitted, then ends the writer thread. Idempotent.
  void stop();

  struct Counters {
    std::uint64_t commits = 0;
    std::uint64_t events = 0;
    std::uint64_t memory_releases = 0;
  };
  Counters counters() const;

 private:
  struct Job {
    std::vector<NewEvent> events;
    AcceptDone done;
    Write write;
  };
  void run();
  // The events of `stored` that were new, and their held deliveries, into the metrics.
  void count_stored(std::span<const NewEvent> events,
                    const Result<std::vector<AcceptResult>>& stored);
  void observe_job(std::chrono::steady_clock::time_point started);

  Store& store_;
  const core::Clock& clock_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  Counters counters_;
  std::thread writer_;
};

}  // namespace treve::store
