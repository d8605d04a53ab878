// Purges what is kept beyond its retention: audit records older than audit.retention (the
// remaining chain stays verifiable through the checkpoint record each purge writes), event
// bodies older than events.retention once nothing is left to send, and whole events older
// than audit.retention, and recipients' own quiet hours unused for audit.retention. Runs at start
// and then every `interval`, through the store's writer, in slices of `max_rows` so that ingest
// never waits long behind it.
//
// Runs on an io_context; `start` and `stop` may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "daemon/core/clock.h"
#include "daemon/store/commit_queue.h"

namespace treve::runtime {

class Retention {
 public:
  struct Options {
    std::chrono::milliseconds audit_retention{365LL * 86'400'000};
    std::chrono::milliseconds events_retention{30LL * 86'400'000};
    std::chrono::milliseconds interval{86'400'000};
    std::size_t max_rows = 20'000;
    // Called on the io_context after each complete purge (all slices), with the totals.
    std::function<void(const store::PurgeResult&)> on_purged;
    // Called on the writer with the recipients' own hours purged as unused (audit.retention).
    std::function<void(const std::vector<store::StoredPreference>&)> on_preferences_purged;
  };

  Retention(boost::asio::io_context& ioc, store::CommitQueue& queue, const core::Clock& clock,
            Options options);
  ~Retention();
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  void start();
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace treve::runtime
