#include "daemon/store/commit_queue.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"

namespace treve::store {

CommitQueue::CommitQueue(Store& store, const core::Clock& clock, Options options)
    : store_(store), clock_(clock), options_(options), writer_([this] { run(); }) {}

CommitQueue::~CommitQueue() {
  stop();
}

bool CommitQueue::submit_accept(std::vector<NewEvent> events, AcceptDone done) {
  // What does not depend on the chain is computed here, on the caller's thread.
  store_.prepare(events);
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= options_.capacity)
      return false;
    jobs_.push_back(Job{std::move(events), std::move(done), nullptr});
    if (options_.metrics)
      options_.metrics->writer_queue.with({}).set(static_cast<double>(jobs_.size()));
  }
  wake_.notify_one();
  return true;
}

bool CommitQueue::submit_write(Write write) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= options_.capacity)
      return false;
    jobs_.push_back(Job{{}, nullptr, std::move(write)});
    if (options_.metrics)
      options_.metrics->writer_queue.with({}).set(static_cast<double>(jobs_.size()));
  }
  wake_.notify_one();
  return true;
}

void CommitQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable())
    writer_.join();
}

CommitQueue::Counters CommitQueue::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void CommitQueue::run() {
  std::vector<Job> group;
  std::vector<NewEvent> events;
  bool worked = false;  // since the store last gave back its caches
  for (;;) {
    group.clear();
    {
      std::unique_lock lock(mutex_);
      auto ready = [&] { return stopping_ || !jobs_.empty(); };
      if (worked && options_.release_memory_after.count() > 0) {
        if (!wake_.wait_for(lock, options_.release_memory_after, ready)) {
          // Idle since the last job: the caches are given back, outside the lock so that
          // submitters never wait for it.
          lock.unlock();
          store_.release_memory();
          worked = false;
          lock.lock();
          ++counters_.memory_releases;
          continue;
        }
      } else {
        wake_.wait(lock, ready);
      }
      if (jobs_.empty())
        return;  // stopping, and everything submitted is done
      worked = true;
      if (jobs_.front().write) {
        group.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
      } else {
        // Every accept waiting now joins one transaction, up to the event cap.
        std::size_t n = 0;
        while (
            !jobs_.empty() && !jobs_.front().write &&
            (group.empty() || n + jobs_.front().events.size() <= options_.max_events_per_commit)) {
          n += jobs_.front().events.size();
          group.push_back(std::move(jobs_.front()));
          jobs_.pop_front();
        }
      }
      if (options_.metrics)
        options_.metrics->writer_queue.with({}).set(static_cast<double>(jobs_.size()));
    }
    const auto started = clock_.steady_now();
    if (group.front().write) {
      try {
        group.front().write(store_);
      } catch (const std::exception& e) {
        // The job answers its own request; a failure must not end the writer.
        spdlog::error("event=store.write_job_failed error={}", core::quoted(e.what()));
      }
      observe_job(started);
      continue;
    }
    events.clear();
    for (auto& job : group) {
      for (auto& e : job.events)
        events.push_back(std::move(e));
    }
    auto result = store_.accept(events, clock_.now());
    observe_job(started);
    count_stored(events, result);
    {
      std::lock_guard lock(mutex_);
      ++counters_.commits;
      if (result)
        counters_.events += events.size();
    }
    std::size_t offset = 0;
    for (auto& job : group) {
      const std::size_t n = job.events.size();
      std::span<const NewEvent> mine(events.data() + offset, n);
      offset += n;
      if (result) {
        const auto first = result->begin() + static_cast<std::ptrdiff_t>(offset - n);
        job.done(std::vector<AcceptResult>(first, first + static_cast<std::ptrdiff_t>(n)));
      } else if (group.size() == 1) {
        job.done(std::unexpected(result.error()));
      } else {
        // One request's failure (a batch too big for the space left) must not fail the
        // others that shared its transaction: each is tried again on its own.
        auto alone = store_.accept(mine, clock_.now());
        count_stored(mine, alone);
        job.done(std::move(alone));
      }
    }
  }
}

void CommitQueue::count_stored(std::span<const NewEvent> events,
                               const Result<std::vector<AcceptResult>>& stored) {
  if (!options_.metrics || !stored)
    return;
  core::Metrics& m = *options_.metrics;
  for (std::size_t i = 0; i < events.size() && i < stored->size(); ++i) {
    if ((*stored)[i].outcome != AcceptResult::Outcome::stored)
      continue;
    const NewEvent& e = events[i];
    const std::string_view category = policy::to_string(e.category);
    m.events_received.with({e.source, category}).inc();
    std::uint64_t held = 0;
    bool late = false;
    for (const NewDelivery& d : e.deliveries) {
      if (d.state == DeliveryState::held)
        held += std::max<std::size_t>(d.sinks.size(), 1);  // one stored copy per sink
      late = late || d.late_homework;
    }
    if (late)
      m.late_homework.with({e.establishment}).inc();
    if (held)
      m.deliveries_held.with({e.establishment, category}).inc(held);
  }
}

void CommitQueue::observe_job(std::chrono::steady_clock::time_point started) {
  if (!options_.metrics)
    return;
  const std::chrono::duration<double> took = clock_.steady_now() - started;
  options_.metrics->commit_seconds.with({}).observe(took.count());
}

}  // namespace treve::store
