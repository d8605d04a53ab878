// The ingest API (DESIGN.md, "Ingest API"): what connectors call. Turns HTTP requests into
// decisions and durable writes, and every failure into an RFC 9457 problem. A plain handler
// from request to response, testable without sockets; answers after the store's commit.
// Thread-safe: any number of I/O threads may call `handle` and `admit_body` at once.
//
// Memory: the bytes of request bodies in flight (from a request's header until its answer is
// written) are bounded per connector and in all (`admit_body`); a batch is parsed, and its
// answer rendered, by `Options::offload` rather than on the I/O thread that read it; and once
// the last large body in flight is done with, the allocator gives its free memory back to the
// system (malloc_trim), through `offload` too.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/http/server.h"
#include "daemon/runtime/directories.h"
#include "daemon/runtime/preferences.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::api {

class IngestApi {
 public:
  // The configuration in force; called once per request, so a reload takes effect at once.
  using ConfigSource = std::function<std::shared_ptr<const config::Config>()>;

  struct Options {
    // Runs work too heavy for an I/O thread (a batch's parsing and answer, giving memory back);
    // work posted is run in order. Unset: at once, on the calling thread.
    std::function<void(std::function<void()>)> offload;
    // Who the users of an `entcore-timeline` connector's events are; and told when an event
    // was stored waiting for its directory. Unset: such events are answered 503.
    runtime::Directories* directories = nullptr;
    // Recipients' own quiet hours: applied to every decision, and set or deleted through
    // /v1/recipients/{id}/preferences (with `preference_store`). Unset: that resource answers
    // 404 and no hours apply.
    runtime::Preferences* preferences = nullptr;
    store::PreferenceStore* preference_store = nullptr;
  };

  IngestApi(ConfigSource config, store::CommitQueue& queue, store::IngestStore& store,
            const core::Clock& clock, Options options);
  IngestApi(ConfigSource config, store::CommitQueue& queue, store::IngestStore& store,
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

  // For http::ServerOptions::admit_body: counts `bytes` of a request's body against its
  // connector's and the server's bytes in flight ([server] max_bytes_in_flight_per_connector,
  // max_bytes_in_flight) until the returned hold is released; over a bound, the answer that
  // refuses the request instead: 429 over the connector's, 503 over the server's, both with
  // Retry-After. Requests without a valid token are not counted: their bodies are at most
  // kUnauthenticatedBodyLimit, and the listener's connection cap bounds how many there are.
  std::expected<std::shared_ptr<void>, http::Response> admit_body(const http::Request& header,
                                                                  std::size_t bytes);
  // Bytes counted now (all connectors).
  std::size_t bytes_in_flight() const;
  // A body at least this large is "large": when the last large one in flight is released,
  // free memory is given back to the system.
  static constexpr std::size_t kLargeBody = 1024 * 1024;

 private:
  void post_event(const config::Config& config, const config::Connector& connector,
                  http::Request&& request, http::Respond respond);
  void post_batch(const config::Config& config, const config::Connector& connector,
                  http::Request&& request, http::Respond respond);
  // An Open ENT NG timeline notification (`batch`: NDJSON of them), its users looked up in the
  // connector's directory before it is decided.
  void post_timeline(std::shared_ptr<const config::Config> config,
                     const config::Connector& connector, bool batch, http::Request&& request,
                     http::Respond respond);
  enum class CloudEventMode { structured, binary, batched };
  // CloudEvents in any content mode; with a directory, its mapped events' users looked up in it
  // as a timeline notification's are.
  void post_cloudevents(std::shared_ptr<const config::Config> config,
                        const config::Connector& connector, CloudEventMode mode,
                        http::Request&& request, http::Respond respond);
  // Stores one prepared event and answers 202 (or the problem; a conflict's names the id at
  // `conflict_at`, see id_conflict in the .cpp).
  void submit_one(std::expected<store::NewEvent, adapters::Problem>&& event,
                  std::string conflict_at, unsigned version, http::Respond respond);
  // A batch: one slot per event sent, a problem already or the next of `events`, answered in
  // order as NDJSON ("line") or as a JSON array ("index").
  struct BatchSlot {
    std::size_t position;  // line number from 1, or index from 0
    std::optional<adapters::Problem> problem;
  };
  enum class BatchAnswer { ndjson_lines, json_array };
  void submit_many(std::vector<BatchSlot>&& slots, std::vector<store::NewEvent>&& events,
                   BatchAnswer kind, unsigned version, http::Respond respond);
  // The events of one request (their problems, or prepared, or waiting for their users):
  // every user of them looked up at once in the connector's directory, then each event decided,
  // stored waiting for the directory (it failed) or refused (none of its users known), and the
  // request answered as one event (`batch` unset; a conflict named at `conflict_at`) or as a
  // batch. No lookup when no event names users.
  struct DirectoryItem;
  void resolve_and_submit(std::shared_ptr<const config::Config> config,
                          const config::Connector& connector,
                          std::shared_ptr<std::vector<DirectoryItem>> items,
                          policy::Instant received, unsigned version,
                          std::optional<BatchAnswer> batch, std::string conflict_at,
                          http::Respond respond);
  void get_event(const config::Connector& connector, std::string_view id, unsigned version,
                 http::Respond respond);
  // GET, PUT and DELETE /v1/recipients/{id}/preferences.
  void preferences_request(const config::Connector& connector, std::string recipient,
                           http::Request&& req, http::Respond respond);
  void delete_event(const config::Connector& connector, std::string id, unsigned version,
                    http::Respond respond);

  struct InFlight;  // shared with the holds, which the HTTP server may release last
  class Hold;

  ConfigSource config_;
  Options options_;
  std::shared_ptr<InFlight> in_flight_;
  store::CommitQueue& queue_;
  store::IngestStore& store_;
  const core::Clock& clock_;
  struct Wakeups {
    policy::Instant held = policy::Instant::max();  // earliest release of a held delivery
    bool due = false;                               // a delivery due at once
    bool awaiting = false;                          // an event waits for its directory
  };
  static Wakeups wakeups_of(const std::vector<store::NewEvent>& events);
  void wake(const Wakeups& w) const;

  std::function<void(policy::Instant)> on_held_;
  std::function<void()> on_due_;
};

}  // namespace treve::api
