#include "daemon/api/ingest_api.h"

#include <malloc.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/pct_string_view.hpp>

#include "adapters/inbound/canonical_event.h"
#include "adapters/inbound/cloudevents.h"
#include "adapters/inbound/entcore_timeline.h"
#include "adapters/inbound/preferences.h"
#include "daemon/core/digest.h"
#include "daemon/core/log_field.h"
#include "daemon/core/token_bucket.h"
#include "daemon/http/auth.h"
#include "daemon/http/problem.h"
#include "daemon/runtime/decide_event.h"
#include "daemon/runtime/directory_events.h"
#include "daemon/store/audit_record.h"
#include "policy/decision.h"
#include "policy/rfc3339.h"
#include "policy/strictest.h"

namespace treve::api {
namespace {

namespace beast_http = boost::beast::http;
namespace json = boost::json;
using adapters::Problem;

constexpr std::string_view kEventsPath = "/v1/events";
constexpr std::string_view kBatchPath = "/v1/events:batch";
constexpr std::string_view kRecipientsPath = "/v1/recipients/";
constexpr std::string_view kPreferencesSuffix = "/preferences";

// A rate as the configuration may write it: "50", "0.5", "12.25".
std::string rate_text(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", rate);
  std::string s = buf;
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.')
    s.pop_back();
  return s;
}

http::Response make_response(unsigned version, beast_http::status status,
                             std::string_view content_type, std::string body) {
  http::Response res{status, version};
  res.set(beast_http::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

http::Response problem_response(unsigned version, const Problem& p) {
  return http::problem_response(p, version, "treve");
}

Problem problem(int status, std::string_view slug, std::string title, std::string detail,
                std::string pointer = {}) {
  return adapters::make_problem(status, slug, std::move(title), std::move(detail),
                                std::move(pointer));
}

Problem store_unavailable(const store::StoreError& e) {
  if (e.kind == store::StoreError::Kind::internal) {
    // A bug or a damaged database: retrying will not help, so no 503.
    spdlog::error("event=ingest.store_failed error={}", core::quoted(e.message));
    return problem(500, "internal-error", "Internal error",
                   "the store failed; nothing was kept; the operator has the details in the log");
  }
  spdlog::error("event=ingest.store_unavailable error={}", core::quoted(e.message));
  return problem(503, "store-unavailable", "Store unavailable",
                 "the event could not be stored; nothing was kept, retry later");
}

Problem overloaded() {
  spdlog::warn("event=ingest.queue_full");
  return problem(503, "overloaded", "Overloaded",
                 "too many writes are waiting; nothing was kept, retry later");
}

// The media type without parameters, lower-cased.
std::string media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string_view t = content_type.substr(0, semi);
  while (!t.empty() && t.back() == ' ')
    t.remove_suffix(1);
  std::string out(t);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Percent-decodes a path segment (RFC 3986: "+" is a plus); nullopt when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view s) {
  auto valid = boost::urls::make_pct_string_view(s);
  if (!valid)
    return std::nullopt;
  return valid->decode();
}

// The connector whose token this is; otherwise why not (http::find_bearer).
http::Bearer<config::Connector> authenticate(const config::Config& config,
                                             const http::Request& req) {
  return http::find_bearer(req, config.connectors, "the token matches no connector",
                           "the bearer token matches no configured connector");
}

std::string release_text(policy::Instant t, const date::time_zone* zone) {
  if (t == policy::Instant::max())
    return {};
  return policy::format_rfc3339(t, zone);
}

// Decides and prepares one validated event for the store: `body` is the canonical event kept
// and forwarded, `identity` the text whose digest tells a replay from a conflict; `unknown`
// the users a directory did not know (named in the answer).
std::expected<store::NewEvent, Problem> prepare(const config::Config& config,
                                                const config::Connector& connector,
                                                adapters::CanonicalEvent&& parsed,
                                                std::string_view body, std::string_view identity,
                                                policy::Instant received,
                                                const runtime::Preferences* preferences,
                                                std::span<const std::string> unknown = {}) {
  policy::Notification& n = parsed.notification;
  n.source = connector.name;
  // The connector's own bound, below the parsers' (adapters::EventLimits), in every format.
  if (n.recipients.size() > connector.max_recipients) {
    return std::unexpected(
        problem(400, "too-many-recipients", "Too many recipients",
                std::to_string(n.recipients.size()) + " recipients; connector \"" + connector.name +
                    "\" may send at most " + std::to_string(connector.max_recipients) +
                    " per event (its max_recipients); nothing was kept",
                "/recipients"));
  }
  if (preferences)
    preferences->attach(n, received);
  auto uai = policy::parse_uai(n.establishment);
  if (!uai)  // the parser has validated it; should it ever not have, nothing is decided
    return std::unexpected(
        problem(400, "invalid-field", "Invalid field", uai.error(), "/establishment"));
  runtime::DecidedEvent decided = runtime::decide_event(config, connector, n, received);

  store::NewEvent e;
  e.source = n.source;
  e.id = n.id;
  e.establishment = n.establishment;
  e.category = n.category;
  e.urgent = n.urgent;
  e.received_at = received;
  e.zone = decided.zone;
  e.body = std::string(body);
  e.body_sha256 = core::sha256_hex(identity);
  e.urgent_refusal = decided.urgent_refusal;
  e.response = runtime::accepted_answer(n, decided, unknown);
  e.deliveries = std::move(decided.deliveries);
  return e;
}

// Validates, decides and prepares one canonical event for the store; or the problem with it.
std::expected<store::NewEvent, Problem> prepare(const config::Config& config,
                                                const config::Connector& connector,
                                                std::string_view body, policy::Instant received,
                                                const runtime::Preferences* preferences) {
  auto parsed = adapters::parse_canonical_event(body);
  if (!parsed)
    return std::unexpected(parsed.error());
  return prepare(config, connector, std::move(*parsed), body, body, received, preferences);
}

// The same for a translated CloudEvent.
std::expected<store::NewEvent, Problem> prepare(const config::Config& config,
                                                const config::Connector& connector,
                                                adapters::CloudEventResult&& translated,
                                                policy::Instant received,
                                                const runtime::Preferences* preferences) {
  if (!translated)
    return std::unexpected(std::move(translated.error()));
  adapters::InboundCloudEvent& ce = *translated;
  return prepare(config, connector, std::move(ce.event), ce.body, ce.fingerprint, received,
                 preferences);
}

// Calls `f(number, line)` for each line of an NDJSON body that is not blank, numbered from 1,
// without its line ending.
template <typename F>
void for_each_line(std::string_view body, F&& f) {
  std::size_t number = 0;
  while (!body.empty()) {
    auto nl = body.find('\n');
    std::string_view text = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    ++number;
    if (!text.empty() && text.back() == '\r')
      text.remove_suffix(1);
    if (text.find_first_not_of(" \t") != std::string_view::npos)
      f(number, text);
  }
}

// `where` names the id: a pointer into the body ("/id", "/3/id"), or, starting with "ce-", the
// header of a binary-mode CloudEvent.
Problem id_conflict(std::string_view where = "/id") {
  const bool header = where.starts_with("ce-");
  Problem p = problem(409, "id-conflict", "Event id already used",
                      "an event with this id was already accepted from this connector with a "
                      "different body; ids are unique per connector",
                      header ? std::string() : std::string(where));
  if (header)
    p.members["header"] = std::string(where);
  return p;
}

constexpr std::string_view kCloudEvent = "application/cloudevents+json";
constexpr std::string_view kCloudEventBatch = "application/cloudevents-batch+json";

// The problem's members but its status, into `o` (a batch answer's entry).
void put_problem(json::object& o, const Problem& p) {
  o["status"] = p.status;
  json::value v = json::parse(p.to_json());
  for (auto& kv : v.as_object()) {
    if (kv.key() != "status")
      o[kv.key()] = kv.value();
  }
}

// Retry-After of a request refused for the bytes in flight: they are released as soon as the
// requests holding them are answered.
constexpr std::string_view kInFlightRetryAfter = "2";
// Refusals are logged once per connector and bound per this interval.
constexpr std::chrono::minutes kRefusalLogInterval{1};

}  // namespace

// One event of a request whose users a directory names (a timeline notification, a CloudEvent
// of a connector with a directory): its problem, the event prepared already (it names its own
// recipients), or the event it is before the directory answered.
struct IngestApi::DirectoryItem {
  std::size_t position = 0;  // line number from 1, or index from 0, in a batch
  std::optional<Problem> problem;
  std::optional<store::NewEvent> ready;
  runtime::PendingEvent pending;
  // Where the first user is named in the document sent; when empty, found in `document` (a
  // timeline notification) if ever needed.
  std::string user_pointer;
  std::string_view document;                   // in `request`
  std::shared_ptr<const std::string> request;  // the request's body, kept, not copied
};

// The bytes of request bodies in flight, per connector and in all.
struct IngestApi::InFlight {
  std::function<void(std::function<void()>)> offload;

  std::mutex mutex;
  std::size_t total = 0;                                       // guarded
  std::unordered_map<std::string, std::size_t> per_connector;  // guarded; no zero counts
  std::size_t large = 0;                                       // guarded; holds of kLargeBody+
  struct Tally {
    std::chrono::steady_clock::time_point logged;
    std::size_t since_logged = 0;
  };
  std::unordered_map<std::string, Tally> refusals;  // guarded; key: connector and bound

  // The request buckets of the connectors with a `rate`; a changed rate (a reload) starts a
  // full bucket.
  std::unordered_map<std::string, core::TokenBucket> buckets;  // guarded

  // Takes one request of connector `name` at `now`: 0 when taken, else the seconds until one
  // is there.
  double take(const std::string& name, double rate, core::TokenBucket::Time now) {
    auto it = buckets.find(name);
    if (it == buckets.end() || it->second.rate() != rate)
      it = buckets.insert_or_assign(name, core::TokenBucket(rate, now)).first;
    core::TokenBucket& bucket = it->second;
    bucket.refill(now);
    const double wait = bucket.wait_for_one();
    if (wait == 0)
      bucket.take(1);
    return wait;
  }

  // Counts one refusal; how many to log (this one included), or 0 when not to log now.
  std::size_t count_refusal(const std::string& key) {
    const auto now = std::chrono::steady_clock::now();
    auto [tally, first] = refusals.try_emplace(key);
    ++tally->second.since_logged;
    if (!first && now - tally->second.logged < kRefusalLogInterval)
      return 0;
    tally->second.logged = now;
    return std::exchange(tally->second.since_logged, 0);
  }
};

// One request's body, counted while the HTTP server keeps this.
class IngestApi::Hold {
 public:
  Hold(std::shared_ptr<InFlight> in_flight, std::string connector, std::size_t bytes)
      : in_flight_(std::move(in_flight)), connector_(std::move(connector)), bytes_(bytes) {}
  ~Hold() {
    bool last_large = false;
    {
      std::lock_guard lock(in_flight_->mutex);
      in_flight_->total -= bytes_;
      if (auto mine = in_flight_->per_connector.find(connector_);
          mine != in_flight_->per_connector.end() && (mine->second -= bytes_) == 0) {
        in_flight_->per_connector.erase(mine);
      }
      last_large = bytes_ >= kLargeBody && --in_flight_->large == 0;
    }
    // The memory a large batch took is free by now (its answer is written) but the allocator
    // keeps it: given back to the system, away from the I/O thread that releases this.
    if (last_large) {
      auto trim = [] { ::malloc_trim(0); };
      if (in_flight_->offload) {
        in_flight_->offload(trim);
      } else {
        trim();
      }
    }
  }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

 private:
  std::shared_ptr<InFlight> in_flight_;
  std::string connector_;
  std::size_t bytes_;
};

// What an accepted group of events changes for the scheduler and the dispatcher.
IngestApi::Wakeups IngestApi::wakeups_of(const std::vector<store::NewEvent>& events) {
  Wakeups w;
  for (const auto& e : events) {
    w.awaiting = w.awaiting || e.awaiting.has_value();
    for (const auto& d : e.deliveries) {
      if (d.state == store::DeliveryState::held && d.release_at < w.held)
        w.held = d.release_at;
      w.due = w.due || d.state == store::DeliveryState::due;
    }
  }
  return w;
}

// Called once the events are committed.
void IngestApi::wake(const Wakeups& w) const {
  if (w.held != policy::Instant::max() && on_held_)
    on_held_(w.held);
  if (w.due && on_due_)
    on_due_();
  if (w.awaiting && options_.directories)
    options_.directories->wake();
}

IngestApi::IngestApi(ConfigSource config, store::CommitQueue& queue, store::IngestStore& store,
                     const core::Clock& clock, Options options)
    : config_(std::move(config)),
      options_(std::move(options)),
      in_flight_(std::make_shared<InFlight>()),
      queue_(queue),
      store_(store),
      clock_(clock) {
  in_flight_->offload = options_.offload;
}

IngestApi::IngestApi(ConfigSource config, store::CommitQueue& queue, store::IngestStore& store,
                     const core::Clock& clock)
    : IngestApi(std::move(config), queue, store, clock, Options{}) {}

std::expected<std::shared_ptr<void>, http::Response> IngestApi::admit_body(
    const http::Request& header, std::size_t bytes) {
  auto config = config_();
  const config::Connector* connector = authenticate(*config, header).holder;
  if (!connector)
    return nullptr;
  const config::ServerConfig& limits = config->server;
  std::size_t mine = 0;
  std::size_t total = 0;
  std::size_t refused = 0;
  bool connector_bound = false;
  {
    std::lock_guard lock(in_flight_->mutex);
    const auto found = in_flight_->per_connector.find(connector->name);
    mine = found == in_flight_->per_connector.end() ? 0 : found->second;
    total = in_flight_->total;
    connector_bound = mine + bytes > limits.max_bytes_in_flight_per_connector;
    if (connector_bound || total + bytes > limits.max_bytes_in_flight) {
      refused =
          in_flight_->count_refusal(connector->name + (connector_bound ? " connector" : " total"));
    } else {
      in_flight_->per_connector[connector->name] += bytes;
      in_flight_->total += bytes;
      if (bytes >= kLargeBody)
        ++in_flight_->large;
      return std::make_shared<Hold>(in_flight_, connector->name, bytes);
    }
  }
  // Connector names are the configuration's (a-z, 0-9, '-', '_'): nothing of the client's.
  if (refused > 0) {
    spdlog::warn(
        "event=ingest.body_refused connector={} bound={} bytes={} in_flight={} limit={} "
        "refused={}",
        connector->name, connector_bound ? "connector" : "total", bytes,
        connector_bound ? mine : total,
        connector_bound ? limits.max_bytes_in_flight_per_connector : limits.max_bytes_in_flight,
        refused);
  }
  http::Response res = problem_response(
      header.version(),
      connector_bound
          ? problem(429, "connector-busy", "Too much in flight for this connector",
                    "this connector's requests in progress already hold " + std::to_string(mine) +
                        " bytes of the " +
                        std::to_string(limits.max_bytes_in_flight_per_connector) +
                        " it may have in flight, and this one declares " + std::to_string(bytes) +
                        "; wait for their answers, or send smaller batches")
          : problem(503, "server-busy", "Too much in flight",
                    "requests in progress already hold " + std::to_string(total) +
                        " bytes of the " + std::to_string(limits.max_bytes_in_flight) +
                        " the server takes at once; nothing was kept, retry later"));
  res.set(beast_http::field::retry_after, kInFlightRetryAfter);
  return std::unexpected(std::move(res));
}

std::size_t IngestApi::bytes_in_flight() const {
  std::lock_guard lock(in_flight_->mutex);
  return in_flight_->total;
}

std::size_t IngestApi::body_limit(const http::Request& header) const {
  auto config = config_();
  if (!authenticate(*config, header).holder)
    return kUnauthenticatedBodyLimit;
  std::string_view target(header.target().data(), header.target().size());
  // A batch of CloudEvents may also be posted to /v1/events.
  auto ct = header.find(beast_http::field::content_type);
  const bool cloudevent_batch =
      ct != header.end() &&
      media_type(std::string_view(ct->value().data(), ct->value().size())) == kCloudEventBatch;
  return target.starts_with(kBatchPath) || cloudevent_batch ? config->server.max_batch_body_bytes
                                                            : config->server.max_body_bytes;
}

void IngestApi::handle(const http::Client& client, http::Request&& req, http::Respond respond) {
  const unsigned version = req.version();
  std::string_view target(req.target().data(), req.target().size());
  auto query = target.find('?');
  std::string_view path = target.substr(0, query);
  const auto method = req.method();

  if (path == "/healthz") {
    if (method != beast_http::verb::get && method != beast_http::verb::head) {
      auto res = problem_response(
          version, problem(405, "method-not-allowed", "Method not allowed", "use GET"));
      res.set(beast_http::field::allow, "GET, HEAD");
      return respond(std::move(res));
    }
    if (auto ok = store_.check(); !ok) {
      // A full or failing disk is logged by the store when it happens, not at every probe.
      if (ok.error().storage_failed) {
        return respond(problem_response(
            version, problem(503, "store-unavailable", "Store unavailable",
                             "the store's last write failed (disk full or I/O error) and none has "
                             "succeeded since: events cannot be stored now, retry later")));
      }
      return respond(problem_response(version, store_unavailable(ok.error())));
    }
    return respond(
        make_response(version, beast_http::status::ok, "application/json", R"({"status":"ok"})"));
  }

  const bool is_batch = path == kBatchPath;
  const bool is_events = path == kEventsPath;
  const bool is_one = path.starts_with(std::string(kEventsPath) + "/");
  const bool is_preferences = path.starts_with(kRecipientsPath) &&
                              path.ends_with(kPreferencesSuffix) &&
                              path.size() > kRecipientsPath.size() + kPreferencesSuffix.size() &&
                              options_.preferences && options_.preference_store;
  if (!is_batch && !is_events && !is_one && !is_preferences) {
    return respond(
        problem_response(version, problem(404, "not-found", "Not found",
                                          "no such resource; the API is under /v1/events and "
                                          "/v1/recipients/{id}/preferences")));
  }
  auto not_allowed = [&](const char* allow) {
    auto res = problem_response(version, problem(405, "method-not-allowed", "Method not allowed",
                                                 std::string("allowed: ") + allow));
    res.set(beast_http::field::allow, allow);
    respond(std::move(res));
  };
  if ((is_batch || is_events) && method != beast_http::verb::post)
    return not_allowed("POST");
  if (is_one && method != beast_http::verb::get && method != beast_http::verb::delete_) {
    return not_allowed("GET, DELETE");
  }
  if (is_preferences && method != beast_http::verb::get && method != beast_http::verb::put &&
      method != beast_http::verb::delete_) {
    return not_allowed("GET, PUT, DELETE");
  }

  auto config = config_();
  const auto caller = authenticate(*config, req);
  if (!caller.holder) {
    spdlog::warn("event=ingest.unauthorized client={} method={} path={} reason={}",
                 core::log_quote(client.address), core::log_quote(req.method_string()),
                 core::log_quote(path), core::log_quote(caller.failure));
    return respond(problem_response(
        version, problem(401, "unauthorized", "Unauthorized", std::string(caller.detail))));
  }
  const config::Connector* connector = caller.holder;

  // Bound to a client certificate: its token alone is not enough.
  if (!connector->tls_client_name.empty() &&
      !client.certificate_gives(connector->tls_client_name)) {
    const bool none = client.certificate_names.empty();
    spdlog::warn(
        "event=ingest.certificate_refused client={} connector={} method={} path={} "
        "certificate={}",
        core::log_quote(client.address), connector->name, core::log_quote(req.method_string()),
        core::log_quote(path), none ? "none" : "another");
    return respond(problem_response(
        version, problem(403, "certificate-refused", "Forbidden",
                         "connector \"" + connector->name +
                             "\" sends only over TLS with a client certificate naming \"" +
                             connector->tls_client_name + "\"; this connection's " +
                             (none ? "has no client certificate" : "names another") +
                             ": nothing was kept")));
  }

  // Its rate, before anything else is done for it.
  if (connector->rate > 0) {
    double wait = 0;
    std::size_t refused = 0;
    {
      std::lock_guard lock(in_flight_->mutex);
      wait = in_flight_->take(connector->name, connector->rate, clock_.steady_now());
      if (wait > 0)
        refused = in_flight_->count_refusal(connector->name + " rate");
    }
    if (wait > 0) {
      // Connector names are the configuration's: nothing of the client's.
      if (refused > 0) {
        spdlog::warn("event=ingest.rate_limited connector={} rate={} refused={}", connector->name,
                     connector->rate, refused);
      }
      const auto seconds = static_cast<long long>(std::max(1.0, std::ceil(wait)));
      auto res = problem_response(
          version,
          problem(429, "rate-limited", "Too many requests",
                  "connector \"" + connector->name + "\" may send " + rate_text(connector->rate) +
                      " requests per second (its rate); nothing was kept, retry in " +
                      std::to_string(seconds) + " s"));
      res.set(beast_http::field::retry_after, std::to_string(seconds));
      return respond(std::move(res));
    }
  }

  if (is_preferences) {
    const std::string_view segment = path.substr(
        kRecipientsPath.size(), path.size() - kRecipientsPath.size() - kPreferencesSuffix.size());
    auto id = percent_decode(segment);
    if (!id || id->empty() || id->find('/') != std::string::npos) {
      return respond(problem_response(
          version, problem(404, "not-found", "Not found", "malformed recipient id in the path")));
    }
    if (auto p = adapters::identifier_problem(*id, "", adapters::EventLimits{}.max_id_chars)) {
      return respond(problem_response(
          version, problem(404, "not-found", "Not found", "recipient id: " + p->detail)));
    }
    return preferences_request(*connector, std::move(*id), std::move(req), std::move(respond));
  }

  if (is_one) {
    auto id = percent_decode(path.substr(kEventsPath.size() + 1));
    if (!id || id->empty()) {
      return respond(problem_response(
          version, problem(404, "not-found", "Not found", "malformed event id in the path")));
    }
    if (method == beast_http::verb::get)
      return get_event(*connector, *id, version, respond);
    return delete_event(*connector, std::move(*id), version, std::move(respond));
  }

  auto ct = req.find(beast_http::field::content_type);
  std::string type =
      ct == req.end() ? "" : media_type(std::string_view(ct->value().data(), ct->value().size()));
  if (connector->format == config::Connector::Format::cloudevents) {
    // The content mode is the media type's (CloudEvents HTTP binding, 3): a batch is taken
    // at either path, a single event at /v1/events only.
    const bool batched = type == kCloudEventBatch;
    const bool structured = type == kCloudEvent;
    const bool binary = type == "application/json";
    if (is_batch && !batched) {
      return respond(problem_response(
          version, problem(415, "unsupported-media-type", "Unsupported media type",
                           "send a batch of CloudEvents as Content-Type: " +
                               std::string(kCloudEventBatch) + ", got \"" + type + "\"")));
    }
    if (!batched && !structured && !binary) {
      return respond(problem_response(
          version,
          problem(415, "unsupported-media-type", "Unsupported media type",
                  "this connector sends CloudEvents: Content-Type " + std::string(kCloudEvent) +
                      " (structured), " + std::string(kCloudEventBatch) +
                      " (batched), or application/json with ce-* headers (binary); "
                      "got \"" +
                      type + "\"")));
    }
    const CloudEventMode mode = batched      ? CloudEventMode::batched
                                : structured ? CloudEventMode::structured
                                             : CloudEventMode::binary;
    if (batched && options_.offload) {
      auto request = std::make_shared<http::Request>(std::move(req));
      options_.offload(
          [this, config, connector, mode, request, respond = std::move(respond)]() mutable {
            post_cloudevents(config, *connector, mode, std::move(*request), std::move(respond));
          });
      return;
    }
    return post_cloudevents(config, *connector, mode, std::move(req), std::move(respond));
  }
  if (connector->format == config::Connector::Format::entcore_timeline) {
    if (is_events && type != "application/json") {
      return respond(problem_response(
          version, problem(415, "unsupported-media-type", "Unsupported media type",
                           "send the timeline notification as Content-Type: application/json, "
                           "got \"" +
                               type + "\"")));
    }
    if (is_batch && type != "application/x-ndjson" && type != "application/jsonl") {
      return respond(problem_response(
          version, problem(415, "unsupported-media-type", "Unsupported media type",
                           "send timeline notifications one per line as Content-Type: "
                           "application/x-ndjson, got \"" +
                               type + "\"")));
    }
    if (is_batch && options_.offload) {
      auto request = std::make_shared<http::Request>(std::move(req));
      options_.offload([this, config, connector, request, respond = std::move(respond)]() mutable {
        post_timeline(config, *connector, true, std::move(*request), std::move(respond));
      });
      return;
    }
    return post_timeline(config, *connector, is_batch, std::move(req), std::move(respond));
  }
  if (is_events && type != "application/json") {
    return respond(problem_response(
        version,
        problem(415, "unsupported-media-type", "Unsupported media type",
                "send the event as Content-Type: application/json, got \"" + type + "\"")));
  }
  if (is_batch && type != "application/x-ndjson" && type != "application/jsonl") {
    return respond(problem_response(
        version, problem(415, "unsupported-media-type", "Unsupported media type",
                         "send events one per line as Content-Type: application/x-ndjson, got "
                         "\"" +
                             type + "\"")));
  }
  if (is_batch && options_.offload) {
    // Parsing and deciding up to max_batch_body_bytes of events takes long: not on the I/O
    // thread, where the other connections would wait for it.
    auto request = std::make_shared<http::Request>(std::move(req));
    options_.offload([this, config, connector, request, respond = std::move(respond)]() mutable {
      post_batch(*config, *connector, std::move(*request), std::move(respond));
    });
    return;
  }
  if (is_batch)
    return post_batch(*config, *connector, std::move(req), std::move(respond));
  post_event(*config, *connector, std::move(req), std::move(respond));
}

void IngestApi::post_event(const config::Config& config, const config::Connector& connector,
                           http::Request&& req, http::Respond respond) {
  submit_one(prepare(config, connector, req.body(), clock_.now(), options_.preferences), "/id",
             req.version(), std::move(respond));
}

void IngestApi::submit_one(std::expected<store::NewEvent, Problem>&& event, std::string conflict_at,
                           unsigned version, http::Respond respond) {
  if (!event)
    return respond(problem_response(version, event.error()));
  std::vector<store::NewEvent> events;
  events.push_back(std::move(*event));
  auto shared_respond = std::make_shared<http::Respond>(std::move(respond));
  const Wakeups wakeups = wakeups_of(events);
  bool queued = queue_.submit_accept(
      std::move(events),
      [this, wakeups, version, shared_respond,
       conflict_at = std::move(conflict_at)](store::Result<std::vector<store::AcceptResult>> r) {
        if (r)
          wake(wakeups);
        if (!r)
          return (*shared_respond)(problem_response(version, store_unavailable(r.error())));
        const store::AcceptResult& a = r->front();
        if (a.outcome == store::AcceptResult::Outcome::conflict) {
          return (*shared_respond)(problem_response(version, id_conflict(conflict_at)));
        }
        auto res =
            make_response(version, beast_http::status::accepted, "application/json", a.response);
        if (a.outcome == store::AcceptResult::Outcome::repeated) {
          res.set("Idempotent-Replayed", "true");
        }
        (*shared_respond)(std::move(res));
      });
  if (!queued)
    (*shared_respond)(problem_response(version, overloaded()));
}

void IngestApi::post_batch(const config::Config& config, const config::Connector& connector,
                           http::Request&& req, http::Respond respond) {
  const policy::Instant received = clock_.now();
  std::vector<BatchSlot> slots;
  std::vector<store::NewEvent> events;
  for_each_line(req.body(), [&](std::size_t number, std::string_view text) {
    auto event = prepare(config, connector, text, received, options_.preferences);
    if (!event) {
      slots.push_back({number, event.error()});
    } else {
      slots.push_back({number, std::nullopt});
      events.push_back(std::move(*event));
    }
  });
  submit_many(std::move(slots), std::move(events), BatchAnswer::ndjson_lines, req.version(),
              std::move(respond));
}

void IngestApi::post_cloudevents(std::shared_ptr<const config::Config> config,
                                 const config::Connector& connector, CloudEventMode mode,
                                 http::Request&& req, http::Respond respond) {
  const unsigned version = req.version();
  const policy::Instant received = clock_.now();
  const adapters::CloudEventMapping& mapping = connector.cloudevents;
  std::vector<adapters::CloudEventResult> translated;
  if (mode == CloudEventMode::structured) {
    translated.push_back(adapters::parse_structured_cloudevent(req.body(), mapping, received));
  } else if (mode == CloudEventMode::binary) {
    std::vector<adapters::HeaderField> headers;
    for (const auto& field : req) {
      headers.push_back({std::string_view(field.name_string().data(), field.name_string().size()),
                         std::string_view(field.value().data(), field.value().size())});
    }
    translated.push_back(adapters::parse_binary_cloudevent(headers, req.body(), mapping, received));
  } else {
    auto batch = adapters::parse_cloudevent_batch(req.body(), mapping, received);
    if (!batch)
      return respond(problem_response(version, batch.error()));
    translated = std::move(*batch);
  }
  // An event naming its recipients is prepared now; one naming users (a connector with a
  // directory) once the directory has answered.
  auto items = std::make_shared<std::vector<DirectoryItem>>();
  items->reserve(translated.size());
  for (std::size_t i = 0; i < translated.size(); ++i) {
    adapters::CloudEventResult& t = translated[i];
    DirectoryItem item;
    item.position = i;
    if (t && !t->users.empty()) {
      item.pending = runtime::pending_from_cloudevent(*t);
      item.user_pointer = std::move(t->user_pointers.front());
    } else if (auto event =
                   prepare(*config, connector, std::move(t), received, options_.preferences);
               event) {
      item.ready = std::move(*event);
    } else {
      item.problem = std::move(event.error());
    }
    items->push_back(std::move(item));
  }
  const bool batched = mode == CloudEventMode::batched;
  if (!batched && items->front().problem)
    return respond(problem_response(version, *items->front().problem));
  resolve_and_submit(std::move(config), connector, std::move(items), received, version,
                     batched ? std::optional(BatchAnswer::json_array) : std::nullopt,
                     mode == CloudEventMode::binary ? "ce-id" : "/id", std::move(respond));
}

namespace {

// The event a pending event makes once its users' answers are in: decided, waiting for the
// directory (it failed), or the problem (no recipient known).
std::expected<store::NewEvent, Problem> directory_event(
    const config::Config& config, const config::Connector& connector,
    const runtime::PendingEvent& p, std::span<const directory::UserAnswer> answers,
    policy::Instant received, const std::function<std::string()>& first_user_pointer,
    const runtime::Preferences* preferences) {
  auto recipients = runtime::resolve_recipients(p.users, answers);
  if (!recipients) {
    // Accepted all the same, and held (fail closed): nothing can be sent until the directory
    // says who the recipients are.
    store::NewEvent e;
    e.source = connector.name;
    e.id = p.id;
    e.category = p.category;
    e.urgent = p.urgent;
    e.received_at = received;
    e.zone = store::zone_or_utc("UTC");
    e.body = p.body;
    e.body_sha256 = core::sha256_hex(p.identity);
    e.awaiting = store::NewAwaiting{connector.directory, p.users, recipients.error(),
                                    received + runtime::lookup_backoff(1)};
    json::object answer;
    answer["source"] = e.source;
    answer["id"] = e.id;
    answer["deliveries"] = json::array();
    json::object awaiting;
    awaiting["directory"] = connector.directory;
    awaiting["reason"] = "awaiting the directory \"" + connector.directory +
                         "\", which could not say who the recipients are (" + recipients.error() +
                         "); the notification is kept and held until it does";
    answer["awaiting_directory"] = std::move(awaiting);
    e.response = json::serialize(answer);
    return e;
  }
  if (recipients->recipients.empty()) {
    return std::unexpected(problem(422, "unknown-recipients", "Unknown recipients",
                                   "none of the " + std::to_string(p.users.size()) +
                                       " recipients is known to the directory \"" +
                                       connector.directory +
                                       "\" as a member of an establishment; nothing was kept",
                                   first_user_pointer()));
  }
  std::string body = runtime::canonical_body(p.body, *recipients);
  auto parsed = adapters::parse_canonical_event(body);
  if (!parsed) {
    return std::unexpected(problem(422, "invalid-event", "Invalid event",
                                   "the notification the directory's answer makes is not valid "
                                   "(at " +
                                       parsed.error().pointer + "): " + parsed.error().detail));
  }
  parsed->notification.id = p.id;  // a CloudEvent's stored id, which its body does not name
  return prepare(config, connector, std::move(*parsed), body, p.identity, received, preferences,
                 recipients->unknown);
}

}  // namespace

void IngestApi::post_timeline(std::shared_ptr<const config::Config> config,
                              const config::Connector& connector, bool batch, http::Request&& req,
                              http::Respond respond) {
  const unsigned version = req.version();
  const policy::Instant received = clock_.now();
  auto items = std::make_shared<std::vector<DirectoryItem>>();
  auto request = std::make_shared<const std::string>(std::move(req.body()));
  auto parse_one = [&](std::size_t position, std::string_view text) {
    DirectoryItem item;
    item.position = position;
    auto t = adapters::parse_entcore_timeline(text, connector.timeline, adapters::EventLimits{},
                                              received);
    if (!t) {
      item.problem = std::move(t.error());
    } else {
      item.pending = runtime::pending_from_timeline(*t);
      item.document = text;
      item.request = request;
    }
    items->push_back(std::move(item));
  };
  if (!batch) {
    parse_one(0, *request);
    if (items->front().problem)
      return respond(problem_response(version, *items->front().problem));
  } else {
    for_each_line(*request, parse_one);
  }
  resolve_and_submit(std::move(config), connector, std::move(items), received, version,
                     batch ? std::optional(BatchAnswer::ndjson_lines) : std::nullopt, "/_id",
                     std::move(respond));
}

void IngestApi::resolve_and_submit(std::shared_ptr<const config::Config> config,
                                   const config::Connector& connector,
                                   std::shared_ptr<std::vector<DirectoryItem>> items,
                                   policy::Instant received, unsigned version,
                                   std::optional<BatchAnswer> batch, std::string conflict_at,
                                   http::Respond respond) {
  // Every user once, in one lookup (the client splits and caches).
  auto users = std::make_shared<std::vector<std::string>>();
  {
    std::unordered_map<std::string_view, bool> seen;
    for (const DirectoryItem& item : *items) {
      for (const std::string& u : item.pending.users) {
        if (seen.emplace(u, true).second)
          users->push_back(u);
      }
    }
  }
  const std::string connector_name = connector.name;
  auto shared_respond = std::make_shared<http::Respond>(std::move(respond));
  auto answered = [this, config, connector_name, items, users, received, version, batch,
                   conflict_at, shared_respond](std::vector<directory::UserAnswer> answers) {
    const config::Connector* c = config->connector(connector_name);
    std::unordered_map<std::string_view, const directory::UserAnswer*> by_id;
    for (std::size_t i = 0; i < users->size() && i < answers.size(); ++i)
      by_id.emplace((*users)[i], &answers[i]);
    std::vector<BatchSlot> slots;
    std::vector<store::NewEvent> events;
    for (DirectoryItem& item : *items) {
      auto event = [&]() -> std::expected<store::NewEvent, Problem> {
        if (item.problem)
          return std::unexpected(std::move(*item.problem));
        if (item.ready)
          return std::move(*item.ready);
        std::vector<directory::UserAnswer> mine;
        mine.reserve(item.pending.users.size());
        for (const std::string& u : item.pending.users) {
          auto found = by_id.find(u);
          mine.push_back(found != by_id.end() ? *found->second : directory::UserAnswer{});
        }
        return directory_event(
            *config, *c, item.pending, mine, received,
            [&item] {
              return item.user_pointer.empty()
                         ? runtime::timeline_user_pointer(item.document, item.pending.users.front())
                         : item.user_pointer;
            },
            options_.preferences);
      }();
      if (!event) {
        slots.push_back({item.position, std::move(event.error())});
      } else {
        slots.push_back({item.position, std::nullopt});
        events.push_back(std::move(*event));
      }
    }
    http::Respond respond = std::move(*shared_respond);
    if (!batch) {
      if (slots.front().problem)
        return respond(problem_response(version, *slots.front().problem));
      return submit_one(std::move(events.front()), conflict_at, version, std::move(respond));
    }
    submit_many(std::move(slots), std::move(events), *batch, version, std::move(respond));
  };
  if (users->empty())
    return answered({});
  if (!options_.directories) {
    return (*shared_respond)(problem_response(
        version, problem(503, "directory-unavailable", "Directory unavailable",
                         "this daemon has no directory client; nothing was kept")));
  }
  // Users all in the cache are answered on this thread; the others are asked on the
  // directories' thread, where `answered` then runs.
  if (auto answers = options_.directories->cached(connector.directory, *users))
    return answered(std::move(*answers));
  options_.directories->lookup(connector.directory, connector.name, *users, std::move(answered));
}

void IngestApi::submit_many(std::vector<BatchSlot>&& slot_list,
                            std::vector<store::NewEvent>&& events, BatchAnswer kind,
                            unsigned version, http::Respond respond) {
  auto slots = std::make_shared<std::vector<BatchSlot>>(std::move(slot_list));
  auto render = [version, slots, kind](const std::vector<store::AcceptResult>* results) {
    const bool lines = kind == BatchAnswer::ndjson_lines;
    std::string out = lines ? "" : "[";
    std::size_t next = 0;
    for (const BatchSlot& slot : *slots) {
      json::object o;
      o[lines ? "line" : "index"] = slot.position;
      if (slot.problem) {
        put_problem(o, *slot.problem);
      } else {
        const store::AcceptResult& a = (*results)[next++];
        if (a.outcome == store::AcceptResult::Outcome::conflict) {
          put_problem(o, id_conflict(lines ? "/id" : "/" + std::to_string(slot.position) + "/id"));
        } else {
          o["status"] = 202;
          if (a.outcome == store::AcceptResult::Outcome::repeated)
            o["replayed"] = true;
          json::value answer = json::parse(a.response);
          for (auto& kv : answer.as_object())
            o[kv.key()] = kv.value();
        }
      }
      if (!lines && out.size() > 1)
        out += ',';
      out += json::serialize(o);
      if (lines)
        out += '\n';
    }
    if (!lines)
      out += ']';
    return make_response(version, beast_http::status::ok,
                         lines ? "application/x-ndjson" : "application/json", std::move(out));
  };
  if (events.empty())
    return respond(render(nullptr));
  auto shared_respond = std::make_shared<http::Respond>(std::move(respond));
  const Wakeups wakeups = wakeups_of(events);
  bool queued = queue_.submit_accept(
      std::move(events), [this, wakeups, version, shared_respond,
                          render](store::Result<std::vector<store::AcceptResult>> r) {
        if (r)
          wake(wakeups);
        if (!r)
          return (*shared_respond)(problem_response(version, store_unavailable(r.error())));
        // Rendered away from the store's writer, which has other commits to make.
        auto answer = [shared_respond, render, results = std::move(*r)] {
          (*shared_respond)(render(&results));
        };
        if (options_.offload) {
          options_.offload(std::move(answer));
        } else {
          answer();
        }
      });
  if (!queued)
    (*shared_respond)(problem_response(version, overloaded()));
}

void IngestApi::get_event(const config::Connector& connector, std::string_view id, unsigned version,
                          http::Respond respond) {
  auto found = store_.find(connector.name, id);
  if (!found)
    return respond(problem_response(version, store_unavailable(found.error())));
  if (!*found) {
    return respond(problem_response(version, problem(404, "not-found", "Not found",
                                                     "no event with this id from this connector")));
  }
  const store::EventView& v = **found;
  const date::time_zone* zone = store::zone_or_utc(v.timezone);
  json::object o;
  o["source"] = v.source;
  o["id"] = v.id;
  if (v.awaiting) {
    o["establishment"] = nullptr;
  } else {
    o["establishment"] = v.establishment;
  }
  o["category"] = policy::to_string(v.category);
  o["received_at"] = policy::format_rfc3339(v.received_at, zone);
  json::array deliveries;
  for (const auto& d : v.deliveries) {
    json::object od;
    od["recipient"] = d.recipient;
    od["role"] = policy::to_string(d.role);
    od["state"] = store::to_string(d.state);
    std::string release = release_text(d.release_at, zone);
    if (release.empty()) {
      od["release_at"] = nullptr;
    } else {
      od["release_at"] = release;
    }
    od["reason"] = d.reason;
    if (!d.sink.empty())
      od["sink"] = d.sink;
    deliveries.push_back(std::move(od));
  }
  o["deliveries"] = std::move(deliveries);
  if (v.awaiting) {
    json::object a;
    a["directory"] = v.awaiting->directory;
    a["reason"] = "awaiting the directory \"" + v.awaiting->directory +
                  "\", which could not say who the recipients are (" + v.awaiting->reason +
                  "); the notification is kept and held until it does";
    a["attempts"] = v.awaiting->attempts;
    a["next_attempt_at"] = policy::format_rfc3339(v.awaiting->next_attempt_at, zone);
    o["awaiting_directory"] = std::move(a);
  }
  respond(make_response(version, beast_http::status::ok, "application/json", json::serialize(o)));
}

void IngestApi::preferences_request(const config::Connector& connector, std::string recipient,
                                    http::Request&& req, http::Respond respond) {
  const unsigned version = req.version();
  const std::string source = connector.name;
  auto answer = [version, recipient](const store::StoredPreference& p) {
    json::object o;
    o["recipient"] = recipient;
    boost::system::error_code ec;
    json::value quiet = json::parse(p.quiet, ec);
    o["quiet"] = ec ? json::value(json::array{}) : std::move(quiet);
    o["updated_at"] = policy::format_rfc3339(p.updated_at, store::zone_or_utc("UTC"));
    return make_response(version, beast_http::status::ok, "application/json", json::serialize(o));
  };
  if (req.method() == beast_http::verb::get) {
    auto found = options_.preference_store->preference(source, recipient);
    if (!found)
      return respond(problem_response(version, store_unavailable(found.error())));
    if (!*found) {
      return respond(problem_response(
          version, problem(404, "not-found", "Not found",
                           "this recipient has no quiet hours of their own from this connector")));
    }
    return respond(answer(**found));
  }

  auto shared_respond = std::make_shared<http::Respond>(std::move(respond));
  const policy::Instant now = clock_.now();
  runtime::Preferences* preferences = options_.preferences;
  bool queued = false;
  if (req.method() == beast_http::verb::delete_) {
    queued = queue_.submit_write([=](store::Store& store) {
      auto r = store.delete_preference(source, recipient, now);
      if (!r)
        return (*shared_respond)(problem_response(version, store_unavailable(r.error())));
      if (!*r) {
        return (*shared_respond)(problem_response(
            version,
            problem(404, "not-found", "Not found",
                    "this recipient has no quiet hours of their own from this connector")));
      }
      preferences->erase(source, store.pseudonym(source, recipient));
      spdlog::info("event=preferences.deleted source={}", core::log_quote(source));
      (*shared_respond)(
          make_response(version, beast_http::status::no_content, "application/json", ""));
    });
  } else {
    auto ct = req.find(beast_http::field::content_type);
    const std::string type =
        ct == req.end() ? "" : media_type(std::string_view(ct->value().data(), ct->value().size()));
    if (type != "application/json") {
      return (*shared_respond)(problem_response(
          version,
          problem(415, "unsupported-media-type", "Unsupported media type",
                  "send the preferences as Content-Type: application/json, got \"" + type + "\"")));
    }
    auto parsed = adapters::parse_preferences(req.body());
    if (!parsed)
      return (*shared_respond)(problem_response(version, std::move(parsed.error())));
    auto hours = std::make_shared<const policy::PersonalHours>(parsed->windows);
    const std::size_t windows = parsed->windows.size();
    queued = queue_.submit_write([=, quiet = std::move(parsed->json)](store::Store& store) {
      auto r = store.set_preference(source, recipient, quiet, windows, now);
      if (!r)
        return (*shared_respond)(problem_response(version, store_unavailable(r.error())));
      preferences->put(source, r->recipient, hours);
      spdlog::info("event=preferences.set source={} windows={}", core::log_quote(source), windows);
      (*shared_respond)(answer(*r));
    });
  }
  if (!queued)
    (*shared_respond)(problem_response(version, overloaded()));
}

void IngestApi::delete_event(const config::Connector& connector, std::string id, unsigned version,
                             http::Respond respond) {
  auto shared_respond = std::make_shared<http::Respond>(std::move(respond));
  const policy::Instant now = clock_.now();
  std::string source = connector.name;
  bool queued = queue_.submit_write([=](store::Store& store) {
    auto r = store.retract(source, id, now);
    if (!r)
      return (*shared_respond)(problem_response(version, store_unavailable(r.error())));
    if (!r->found) {
      return (*shared_respond)(problem_response(
          version,
          problem(404, "not-found", "Not found", "no event with this id from this connector")));
    }
    auto list = [](const std::vector<store::DeliveryView>& ds) {
      json::array a;
      for (const auto& d : ds) {
        json::object o;
        o["recipient"] = d.recipient;
        o["role"] = policy::to_string(d.role);
        o["state"] = store::to_string(d.state);
        if (!d.sink.empty())
          o["sink"] = d.sink;
        a.push_back(std::move(o));
      }
      return a;
    };
    // 409 only when nothing was left to retract because it was released; deliveries retracted
    // by an earlier DELETE make a repeat harmless (200).
    bool released = false;
    bool retracted_before = false;
    for (const auto& d : r->not_retracted) {
      if (d.state == store::DeliveryState::retracted) {
        retracted_before = true;
      } else {
        released = true;
      }
    }
    released = released && !retracted_before;
    if (r->retracted.empty() && released) {
      Problem p = problem(409, "already-released", "Already released",
                          "every delivery of this event has already been released; nothing "
                          "was retracted");
      p.members["deliveries"] = list(r->not_retracted);
      return (*shared_respond)(problem_response(version, p));
    }
    json::object o;
    o["source"] = source;
    o["id"] = id;
    o["retracted"] = list(r->retracted);
    o["not_retracted"] = list(r->not_retracted);
    if (r->was_awaiting)
      o["awaiting_directory_ended"] = true;
    (*shared_respond)(
        make_response(version, beast_http::status::ok, "application/json", json::serialize(o)));
  });
  if (!queued)
    (*shared_respond)(problem_response(version, overloaded()));
}

}  // namespace treve::api
