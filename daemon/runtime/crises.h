// Crisis mode at run time (docs/policy.md "Crisis mode"): opening, extending and closing an
// establishment's crisis, each written with its audit record and then put in force as a new
// configuration (the open crises are part of the configuration in force), and closing each
// crisis by itself at its end instant.
//
// Opening with `release_held` re-plans the establishment's held deliveries, as a policy edit
// does: those the crisis covers go out at once. Every change runs under the lock that orders
// configuration changes (Reloader::change_policy), so a reload or a policy edit never drops a
// crisis nor brings back a closed one.
//
// The expiry runs on a thread of its own: it reads the wall clock (core::Clock, so that a test
// clock works) at least every `max_sleep` and closes, by "expiry", each crisis whose end has
// come.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/runtime/config_holder.h"
#include "daemon/runtime/reload.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::runtime {

// How long ahead of now a crisis may end at most, at its opening and at each extension.
inline constexpr std::chrono::hours kMaxCrisisAhead{72};

class Crises {
 public:
  // Reloader::change_policy, or a stand-in.
  using ChangeConfig = std::function<Reloader::PolicyChange(
      const std::function<std::shared_ptr<const config::Config>()>&, std::vector<std::string>)>;

  struct Outcome {
    enum class Status : std::uint8_t {
      done,
      already_open,  // the establishment has an open crisis (`id`)
      unknown,       // no such crisis for this establishment
      closed,        // closed already
      not_later,     // an extension must end later than the crisis does now
      unavailable,   // the store or the writer failed (logged)
    };
    Status status = Status::unavailable;
    std::int64_t id = 0;
    std::size_t replanned = 0;  // held deliveries given another release instant
  };

  Crises(ConfigHolder& holder, store::CommitQueue& queue, store::CrisisStore& crises,
         const core::Clock& clock, ChangeConfig change,
         std::chrono::milliseconds max_sleep = std::chrono::milliseconds{1000});
  ~Crises();  // stop()
  Crises(const Crises&) = delete;
  Crises& operator=(const Crises&) = delete;

  // Blocking: any thread but an I/O one. `c.zone` is filled in from the configuration.
  Outcome open(store::NewCrisis c);
  Outcome extend(const std::string& uai, std::int64_t id, policy::Instant until,
                 const std::string& by);
  Outcome close(const std::string& uai, std::int64_t id, const std::string& by);
  // Closes, by "expiry", each open crisis whose end has come; their ids.
  std::vector<std::int64_t> expire_due();
  // An establishment's crises, newest first.
  store::Result<std::vector<store::CrisisRecord>> list(const std::string& uai,
                                                       std::size_t limit = 50);

  // The expiry thread.
  void start();
  void stop();

 private:
  // Runs `write` on the writer under the configuration lock; once it is done, puts in force
  // the configuration with the store's open crises and re-plans `uais`' held deliveries.
  Outcome change(std::vector<std::string> uais,
                 const std::function<Outcome(store::Store&, policy::Instant)>& write);
  void run();

  ConfigHolder& holder_;
  store::CommitQueue& queue_;
  store::CrisisStore& crises_;
  const core::Clock& clock_;
  ChangeConfig change_;
  std::chrono::milliseconds max_sleep_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool poked_ = false;  // a crisis was opened or extended: its end is read again
  std::thread thread_;
};

}  // namespace treve::runtime
