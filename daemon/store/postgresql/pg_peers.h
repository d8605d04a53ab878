// What the daemons sharing one PostgreSQL store tell each other (docs/design/postgresql.md): a
// thread of each daemon, on a connection of its own, that
//   - holds the dispatch lease: one daemon at a time sends deliveries, so that a recipient's
//     are never in flight on two daemons at once; the holder renews it every third of its
//     duration, another takes it once it has lapsed (a daemon killed, cut off);
//   - LISTENs on the channel `treve`: 'due' (deliveries became due: the dispatcher looks now
//     rather than at its next scan) and 'policy' (a policy or a crisis changed through another
//     daemon's admin API: the configuration in force is read again).
// The connection's statements and its TCP are bounded by a third of the lease, so that a call
// never blocks the thread past the instant it must give the lease up: a daemon that cannot
// renew gives it up after two thirds of it, before it can lapse in the database, so that two
// daemons never both believe they hold it (the lapse is judged by the server's clock, the
// giving up by this daemon's steady clock). The policy hook, which may wait for a reload, runs
// on a second thread of its own, never on the one that renews.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/store/postgresql/pg_connection.h"

namespace treve::store {

class Peers {
 public:
  struct Hooks {
    // The dispatch lease was taken (true) or lost (false), on the renewing thread: must return
    // promptly (start or stop the dispatcher).
    std::function<void(bool)> leading;
    std::function<void()> due;  // deliveries became due (on any daemon); prompt
    // A policy or a crisis changed; also after the listening connection was opened again
    // (notifications sent meanwhile were missed). On a thread of its own; calls are coalesced.
    std::function<void()> policy;
  };

  // `owner`: this daemon's name in the lease (lease_owner()). Nothing runs before start().
  Peers(pg::ConnectOptions options, std::string owner, std::chrono::milliseconds lease,
        Hooks hooks);
  ~Peers();  // stop()
  Peers(const Peers&) = delete;
  Peers& operator=(const Peers&) = delete;

  void start();
  // Ends the threads and gives the lease up if held (`leading(false)` is not called).
  void stop();
  bool leading() const { return leading_; }

 private:
  void run();
  void refresh_loop();
  void renew();
  bool connected();

  pg::ConnectOptions options_;
  std::string owner_;
  std::chrono::milliseconds lease_;
  Hooks hooks_;
  std::thread thread_;
  std::thread refresher_;
  std::unique_ptr<pg::Connection> connection_;  // the renewing thread's
  std::atomic<bool> stopping_{false};
  std::atomic<bool> leading_{false};
  std::chrono::steady_clock::time_point renewed_at_{};  // the last renewal that succeeded
  std::mutex refresh_mutex_;
  std::condition_variable refresh_wake_;
  bool refresh_asked_ = false;  // under refresh_mutex_
};

// This daemon's name in the lease: "HOST:PID:NONCE", the nonce random at each start, so that
// two daemons never share a name (containers with one host name, each its process 1).
std::string lease_owner();

}  // namespace treve::store
