// Reloading the configuration while serving (SIGHUP, `treve reload`, `systemctl reload`).
//
// The file is read and validated by the same code as `treve check-config`. Invalid: every
// error is logged, the configuration in force stays, the daemon keeps serving. Valid: it is
// put in force for the requests that follow (a request already being decided finishes on the
// configuration it started with, so none is dropped), the change is audited
// (`config_changed`, with `on: reload`), sinks take their new settings, and every held
// delivery is decided again under the new policy (replan.h), each move audited `replanned`.
//
// Settings bound at start (listeners, state directory, retention, head logging) keep their
// running values until a restart; a reload that changes them logs `config.restart_needed`.
//
// The reload runs on its own thread: the I/O threads keep answering meanwhile. Requests that
// arrive during a reload are coalesced into one more reload after it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/runtime/config_holder.h"
#include "daemon/runtime/replan.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::runtime {

// The configuration as the audit trail describes a change of it: a digest, and who last wrote
// the file as far as it tells (its owner and modification time). The digest covers the file
// and the files it names (`referenced`: Config::referenced_files, calendars and secrets), so
// that a new secret or calendar is a change too: with none, the SHA-256 of the file's bytes;
// otherwise the SHA-256 of what `sha256sum FILE REFERENCED…` prints (absolute paths; a file
// that cannot be read counts as 64 zeros). Nullopt when the file itself cannot be read.
std::optional<store::ConfigChange> config_file_change(const std::string& path, std::string on,
                                                      std::span<const std::string> referenced);

// `next` with the settings that only a restart can change taken from `running`; each one that
// differed is named in `restart_needed` (e.g. "server.listen").
std::shared_ptr<const config::Config> keep_start_settings(
    const config::Config& running, std::shared_ptr<const config::Config> next,
    std::vector<std::string>& restart_needed);

// The configuration in force: the file at `path` with the admin API's policies from `store`
// and the open crises from `crises`. A stored policy the file no longer allows (an error in its
// establishment) is left out and logged, rather than keeping the daemon from starting; errors
// in the file are returned.
config::LoadResult load_in_force(const std::string& path, store::PolicyStore& store,
                                 store::CrisisStore& crises);

// The same from the file's text already read (the configuration in force), with `policies`
// and the crises in force (`running`'s unless given).
config::LoadResult build_in_force(const config::Config& running,
                                  const std::vector<config::ApiPolicy>& policies);
config::LoadResult build_in_force(const config::Config& running,
                                  const std::vector<config::ApiPolicy>& policies,
                                  std::vector<policy::Crisis> crises);

class Reloader {
 public:
  struct Hooks {
    std::function<void()> reloading;             // a reload begins (RELOADING=1)
    std::function<void()> applied;               // the new configuration is in force (sinks)
    std::function<void(policy::Instant)> moved;  // held deliveries now release at this instant
    std::function<void()> done;                  // over, applied or not (READY=1)
  };

  struct Outcome {
    bool applied = false;
    std::size_t errors = 0;
    ReplanReport replan;
  };

  // `policies`: the admin API's policies, read into the configuration in force; `held`: the
  // held deliveries, re-planned after a change.
  Reloader(std::string config_path, ConfigHolder& holder, store::CommitQueue& queue,
           store::PolicyStore& policies, store::CrisisStore& crises, store::ReplanStore& held,
           const core::Clock& clock, Hooks hooks);
  ~Reloader();  // stop()
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // The recipients' own quiet hours, applied when re-planning. Before the first reload.
  void set_preferences(const Preferences* preferences) { preferences_ = preferences; }

  // Asks for a reload; returns at once. Any thread (not a signal handler).
  void request();
  // Cancels a re-plan under way (between two groups); returns at once. `done` is not called
  // for a cancelled reload (the daemon is stopping: no READY=1 after STOPPING=1).
  void cancel() { cancel_ = true; }
  // cancel(), and ends the thread.
  void stop();

  // A change of the admin API's policies. Under the lock that orders every configuration
  // change (reloads included), `change` returns the configuration to put in force, or null to
  // change nothing; if not null it is put in force, and the held deliveries of
  // `establishments` are re-planned. Blocking; any thread but an I/O one.
  struct PolicyChange {
    bool applied = false;
    ReplanReport replan;
  };
  PolicyChange change_policy(const std::function<std::shared_ptr<const config::Config>()>& change,
                             std::vector<std::string> establishments);
  // The same without re-planning: a change that another daemon sharing the store made, and
  // re-planned in its own transaction. True when `change` gave a configuration to put in force.
  bool refresh(const std::function<std::shared_ptr<const config::Config>()>& change);

  // The last reload's outcome, and how many ran: for tests.
  Outcome last() const;
  std::size_t completed() const;

 private:
  void run();
  Outcome reload();
  const Preferences* preferences_ = nullptr;
  // Puts `next` in force once no request decides under the previous configuration any more
  // and what they decided is committed.
  void put_in_force(std::shared_ptr<const config::Config> next);

  std::string path_;
  ConfigHolder& holder_;
  store::CommitQueue& queue_;
  store::PolicyStore& policies_;
  store::CrisisStore& crises_;
  store::ReplanStore& held_;
  const core::Clock& clock_;
  Hooks hooks_;
  std::mutex change_mutex_;  // one configuration change at a time
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  Outcome last_;
  std::size_t completed_ = 0;
  std::thread thread_;
};

}  // namespace treve::runtime
