// The ingest API (DESIGN.md, "Ingest API"): what connectors call. Turns HTTP requests into
// decisions and durable writes, and every failure into an RFC 9457 problem. A plain handler
// from request to response, testable without sockets; answers after the store's commit.
// Thread-safe: any number of I/O threads may call `handle` at once.
#pragma once

#include <functional>
#include <memory>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/http/server.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::api {

class IngestApi {
 public:
  // The configuration in force; called once per request, so a reload takes effect at once.
  using ConfigSource = std::function<std::shared_ptr<const config::Config>()>;

  IngestApi(ConfigSource config, store::CommitQueue& queue, store::Store& store,
            const core::Clock& clock);

  // `client` names the sender in the log of a failed login.
  void handle(const http::Client& client, http::Request&& request, http::Respond respond);

  // Called after a commit that stored held deliveries, with the earliest of their release
  // instants (so that the scheduler can wake earlier). Set before serving; any thread.
  void on_held(std::function<void(policy::Instant)> f) { on_held_ = std::move(f); }
  // Called on the writer thread after a commit that stored deliveries due at once.
  void on_due(std::function<void()> f) { on_due_ = std::move(f); }

  // The body limit for a request, from its header: the batch endpoint takes more, and a
  // request without a valid token at most kUnauthenticatedBodyLimit, so that clients without
  // credentials cannot make the daemon buffer megabytes.
  std::size_t body_limit(const http::Request& header) const;
  static constexpr std::size_t kUnauthenticatedBodyLimit = 64 * 1024;

 private:
  void post_event(const config::Config& config, const config::Connector& connector,
                  http::Request&& request, http::Respond respond);
  void post_batch(const config::Config& config, const config::Connector& connector,
                  http::Request&& request, http::Respond respond);
  void get_event(const config::Connector& connector, std::string_view id, unsigned version,
                 http::Respond respond);
  void delete_event(const config::Connector& connector, std::string id, unsigned version,
                    http::Respond respond);

  ConfigSource config_;
  store::CommitQueue& queue_;
  store::Store& store_;
  const core::Clock& clock_;
  struct Wakeups {
    policy::Instant held = policy::Instant::max();  // earliest release of a held delivery
    bool due = false;                               // a delivery due at once
  };
  static Wakeups wakeups_of(const std::vector<store::NewEvent>& events);
  void wake(const Wakeups& w) const;

  std::function<void(policy::Instant)> on_held_;
  std::function<void()> on_due_;
};

}  // namespace treve::api
