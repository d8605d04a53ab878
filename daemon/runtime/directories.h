// The directories in force and the resolver of events waiting for them.
//
// One DirectoryClient per `[[directories]]` entry, on a thread of its own (lookups never run on
// the listeners' threads); a reload keeps the clients (and their caches) of the entries it does
// not change, and replaces the others.
//
// The resolver: an event accepted while its directory failed is stored waiting
// (store::AwaitingStore). Every second, and as soon as one is stored, the waiting events due for
// another try are looked up again; once the directory answers, each is decided then — a
// delivery the policy would have released by then is released now, unless now is quiet, then at
// the end of that quiet time: never inside a window — and stored with its deliveries. A lookup
// that fails again is tried after 1 s, 2 s, 4 s… up to 5 minutes between tries, forever: the
// event never leaves its wait but by an answer or a retraction (docs/connectors.md).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/directory/directory_client.h"
#include "daemon/store/commit_queue.h"
#include "policy/instant.h"

namespace treve::runtime {

class Preferences;  // runtime/preferences.h

// The wait before try number `attempts` + 1 of a lookup that failed `attempts` times.
std::chrono::milliseconds lookup_backoff(int attempts);

class Directories {
 public:
  using ConfigSource = std::function<std::shared_ptr<const config::Config>()>;
  struct Hooks {
    std::function<void(policy::Instant)> held;  // a delivery was stored held until then
    std::function<void()> due;                  // a delivery was stored due
    // Set: failed lookups (by directory) and the held deliveries of resolved events are
    // counted there (must outlive the Directories).
    core::Metrics* metrics = nullptr;
    // Set: recipients' own quiet hours apply to events decided once their directory answers
    // (must outlive the Directories).
    const Preferences* preferences = nullptr;
  };
  Directories(ConfigSource config, store::AwaitingStore& store, store::CommitQueue& queue,
              const core::Clock& clock, Hooks hooks);
  ~Directories();  // stops
  Directories(const Directories&) = delete;
  Directories& operator=(const Directories&) = delete;

  // Starts the resolver. Lookups work before.
  void start();
  // Ends the resolver and the lookups (callbacks not yet called never are). Idempotent.
  void stop();
  // After a reload: a client for each entry, kept when unchanged.
  void reconfigure();
  // An event was stored waiting: try it soon.
  void wake();

  // Who `ids` are, per the directory named `name`, asked for connector `source`. `done` is
  // called once, on the directories' thread; with every answer failed when no directory has
  // that name.
  void lookup(const std::string& name, std::string source, std::vector<std::string> ids,
              directory::DirectoryClient::Callback done);

  // The answers `lookup` would give, at once on the calling thread, when the directory named
  // `name` has every one of `ids` in its cache (DirectoryClient::cached_answers); nothing
  // otherwise (then call lookup).
  std::optional<std::vector<directory::UserAnswer>> cached(const std::string& name,
                                                           std::span<const std::string> ids);

  // Events resolved and lookups postponed so far (for tests and the log).
  std::uint64_t resolved() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::runtime
