// The admin API and page (docs/admin-api.md), on the admin listener only.
//
// Every request but the page's files carries an admin's bearer token; its role and scope
// decide what it may do. A refusal is audited before it is answered (when its record cannot be
// written in time the answer is 503, never a 403 without its record); a failed login is logged
// with the client's address. Each endpoint is one row of a route table: method, path, where its
// establishment comes from, the role it needs, its handler. Policy changes are validated by the
// same code as the configuration file, stored as versions, put in force at once and re-plan
// the establishment's held deliveries. Requests are handled one at a time on the API's own
// thread (they read and write the store and re-plan: never on an I/O thread); a few wait their
// turn, more are refused with 503. A preview of a user asks the directories and is answered
// once they have, as another job: the worker does not wait for a directory meanwhile.
// GET /metrics, beside the API, is the daemon's metrics in the Prometheus text format for any
// admin's token, with the series of establishments out of the admin's scope left out.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/audit/trail.h"
#include "daemon/core/clock.h"
#include "daemon/core/metrics.h"
#include "daemon/http/server.h"
#include "daemon/runtime/config_holder.h"
#include "daemon/runtime/crises.h"
#include "daemon/runtime/directories.h"
#include "daemon/runtime/reload.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::admin {

class AdminApi {
 public:
  using ChangePolicy = std::function<runtime::Reloader::PolicyChange(
      const std::function<std::shared_ptr<const config::Config>()>&, std::vector<std::string>)>;

  struct Deps {
    runtime::ConfigHolder& holder;
    store::PolicyStore& policies;      // versions, an establishment's held deliveries
    store::DispatchStore& deliveries;  // dead letters
    store::IngestStore& events;        // one event's copies
    store::CommitQueue& queue;
    const core::Clock& clock;
    ChangePolicy change_policy;
    // Opens the store's trail, read by the audit queries (Trail::open_configured).
    std::function<audit::Expected<std::unique_ptr<audit::Trail>>()> open_trail;
    // How long a refusal waits for a place in the writer's queue for its access_refused
    // record before the request is answered 503 instead.
    std::chrono::milliseconds refusal_patience{2000};
    // Who users are, for a preview of a user (the daemon's directory clients and their caches);
    // null: such a preview is answered 503.
    runtime::Directories* directories = nullptr;
    // What GET /metrics shows; null: /metrics is answered 404.
    core::Metrics* metrics = nullptr;
    // Crisis mode (open, extend, close, list); null: those routes answer 503.
    runtime::Crises* crises = nullptr;
  };

  explicit AdminApi(Deps deps);
  ~AdminApi();
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // `client` names the sender in the log of a failed login.
  void handle(const http::Client& client, http::Request&& req, http::Respond respond);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace treve::admin
