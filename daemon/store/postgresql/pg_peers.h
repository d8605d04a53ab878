// What the daemons sharing one PostgreSQL store tell each other (docs/design/postgresql.md): a
// thread of each daemon, on a connection of its own, that
//   - holds the dispatch lease: one daemon at a time sends deliveries, so that a recipient's
//     are never in flight on two daemons at once; the holder renews it every third of its
//     duration, another takes it once it has lapsed (a daemon killed, cut off);
//   - LISTENs on the channel `treve`: 'due' (another daemon made deliveries due: the
//     dispatcher looks now rather than at its next scan) and 'policy' (a policy or a crisis
//     changed through another daemon's admin API: the configuration in force is read again).
// A daemon that cannot renew the lease gives it up before it can lapse in the database, so
// that two daemons never both believe they hold it (clocks aside: the lapse is judged by the
// server's clock, the giving up by this daemon's steady clock, one third of the lease early).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/store/postgresql/pg_connection.h"
#include "daemon/store/postgresql/pg_store.h"

namespace treve::store {

class Peers {
 public:
  struct Hooks {
    std::function<void(bool)> leading;  // the dispatch lease was taken (true) or lost (false)
    std::function<void()> due;          // deliveries became due (on any daemon)
    // A policy or a crisis changed; also after the listening connection was opened again
    // (notifications sent meanwhile were missed).
    std::function<void()> policy;
  };

  // `owner`: this daemon's name in the lease (host and pid). Nothing runs before start().
  Peers(PgStore& store, pg::ConnectOptions options, std::string owner,
        std::chrono::milliseconds lease, Hooks hooks);
  ~Peers();  // stop()
  Peers(const Peers&) = delete;
  Peers& operator=(const Peers&) = delete;

  void start();
  // Ends the thread and gives the lease up if held (`leading(false)` is not called).
  void stop();
  bool leading() const { return leading_; }

 private:
  void run();
  void renew();

  PgStore& store_;
  pg::ConnectOptions options_;
  std::string owner_;
  std::chrono::milliseconds lease_;
  Hooks hooks_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> leading_{false};
  std::chrono::steady_clock::time_point renewed_at_{};  // the last renewal that succeeded
};

// This daemon's name in the lease: "HOST:PID".
std::string lease_owner();

}  // namespace treve::store
