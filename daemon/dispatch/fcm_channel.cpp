#include "daemon/dispatch/fcm_channel.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/digest_text.h"
#include "adapters/outbound/fcm.h"
#include "daemon/core/digest.h"
#include "daemon/dispatch/http_client.h"
#include "daemon/dispatch/retry.h"

namespace treve::dispatch {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using adapters::FcmOutcome;
using SteadyTime = std::chrono::steady_clock::time_point;

// An access token is renewed once less than this is left of it; sends keep using it meanwhile
// until only kWaitFor is left, after which they wait for the new one.
constexpr auto kRenewBefore = 5min;
constexpr auto kWaitFor = 30s;

// What a sink's keys come to, for the sends that start under them.
struct Settings {
  std::string error;  // not empty: nothing can be sent, and this says why
  adapters::ServiceAccount account;
  std::string send_url;
  std::string ca_file;
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_in_flight = 32;
  // What an access token belongs to: another value drops the token held.
  std::string identity;
};

std::shared_ptr<const Settings> settings_of(const config::Sink& sink) {
  auto s = std::make_shared<Settings>();
  s->ca_file = sink.ca_file;
  s->timeout = sink.timeout;
  s->max_in_flight = std::max<std::size_t>(sink.max_in_flight, 1);
  s->identity = sink.credentials;
  s->identity += '\n';
  s->identity += sink.ca_file;
  auto account = adapters::parse_service_account(sink.credentials);
  if (!account) {
    s->error = "fcm credentials: " + account.error();
    return s;
  }
  s->account = std::move(*account);
  const std::string& project = sink.project_id.empty() ? s->account.project_id : sink.project_id;
  if (project.empty()) {
    s->error = "fcm: no project_id (in the sink or the service account)";
    return s;
  }
  if (!sink.endpoint.starts_with("https://") && !sink.endpoint.starts_with("http://")) {
    s->error = "fcm: the endpoint is not an http(s) URL";
    return s;
  }
  s->send_url = adapters::fcm_send_url(sink.endpoint, project);
  return s;
}

// What came of one device token.
struct TokenResult {
  FcmOutcome outcome = FcmOutcome::retry;
  int status = 0;
  std::string reason;
  std::optional<std::string> retry_after;
  bool cancelled = false;  // abandoned by cancel_all (the dispatcher stopping)
};

// One send in progress: the answers for its tokens, as they come.
struct SendState {
  ChannelDone done;
  std::string id;
  std::vector<std::string> tokens;
  std::vector<TokenResult> results;
  std::size_t remaining = 0;
};

// The access token for one request, or why there is none.
struct Grant {
  std::string token;
  int status = 0;     // the token endpoint's, when it failed
  std::string error;  // not empty: no token
};
using GrantCallback = std::function<void(const Grant&)>;

// The channel's own HTTP client: one connection per host when the endpoint is https (HTTP/2
// carries every request at once over it, as FCM wants), else as many as requests in flight
// (HTTP/1.1: one request at a time per connection).
HttpClient::Options client_options(const config::Sink& sink) {
  HttpClient::Options o;
  o.max_host_connections =
      sink.endpoint.starts_with("https://") ? 1 : std::max<long>(1, sink.max_in_flight);
  o.max_total_connections = o.max_host_connections + 2;  // and the token endpoint's
  return o;
}

std::string device_label(std::size_t index, std::size_t count) {
  return "device " + std::to_string(index + 1) + " of " + std::to_string(count);
}

}  // namespace

class FcmChannel::Impl : public std::enable_shared_from_this<FcmChannel::Impl> {
 public:
  Impl(const config::Sink& sink, ChannelContext context)
      : ioc_(context.ioc),
        http_(context.ioc, client_options(sink)),
        clock_(context.clock),
        settings_(settings_of(sink)) {}

  void send(std::span<const adapters::OutboundDelivery> batch, bool digest, ChannelDone done);
  void reconfigure(const config::Sink& sink);

  // The channel is going: no callback runs from now on, even one whose Impl is still held.
  void close() {
    closed_ = true;
    waiting_.clear();
    fetch_.reset();
  }
  // Every request waiting or under way, and the token fetch, end as cancelled now.
  void cancel_all();
  std::size_t requests_under_way() const { return in_flight_ + waiting_.size() + (fetch_ ? 1 : 0); }
  // The Impl behind `weak`, while its channel lives.
  static std::shared_ptr<Impl> live(const std::weak_ptr<Impl>& weak) {
    auto self = weak.lock();
    return self && !self->closed_ ? self : nullptr;
  }

  std::size_t tokens_fetched() const { return tokens_fetched_; }
  std::size_t in_flight() const { return in_flight_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  // One request to the token endpoint and the sends waiting for it.
  struct Fetch {
    std::uint64_t generation = 0;
    std::vector<GrantCallback> waiters;
  };

  void finish_later(ChannelDone done, ChannelResult result);
  void with_token(const std::shared_ptr<const Settings>& settings, GrantCallback callback);
  void start_fetch(const std::shared_ptr<const Settings>& settings);
  void complete_fetch(const std::shared_ptr<Fetch>& fetch, SteadyTime started, Grant grant,
                      std::int64_t expires_in);
  void attempt(std::shared_ptr<SendState> state, std::size_t index,
               std::shared_ptr<const std::string> body, std::shared_ptr<const Settings> settings,
               bool after_refusal);
  void post_limited(HttpRequest request, std::function<void(HttpResponse)> done);
  void start_request(HttpRequest request, std::function<void(HttpResponse)> done);
  void record(const std::shared_ptr<SendState>& state, std::size_t index, TokenResult result);
  ChannelResult aggregate(SendState& state) const;

  net::io_context& ioc_;
  HttpClient http_;  // this sink's own: one HTTP/2 connection to FCM
  const core::Clock& clock_;
  std::shared_ptr<const Settings> settings_;

  std::string token_;             // the access token held; empty: none
  SteadyTime expires_{};          // when it expires
  std::uint64_t generation_ = 0;  // bumped when the identity changes: a fetch under an older
                                  // one hands its token to its waiters but is not kept
  std::shared_ptr<Fetch> fetch_;  // the fetch in progress, if any
  std::size_t tokens_fetched_ = 0;

  std::size_t in_flight_ = 0;
  std::deque<std::pair<HttpRequest, std::function<void(HttpResponse)>>> waiting_;
  bool closed_ = false;
  bool cancelling_ = false;  // in cancel_all(): every answer recorded is a cancellation
};

void FcmChannel::Impl::cancel_all() {
  cancelling_ = true;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [request, done] : waiting) {
    HttpResponse cancelled;
    cancelled.error = "cancelled";
    done(std::move(cancelled));
  }
  http_.cancel_all();  // the fetch under way fails, failing its waiters
  cancelling_ = false;
}

void FcmChannel::Impl::finish_later(ChannelDone done, ChannelResult result) {
  net::post(ioc_, [weak = weak_from_this(), done = std::move(done),
                   result = std::move(result)]() mutable {
    if (live(weak))
      done(std::move(result));
  });
}

void FcmChannel::Impl::send(std::span<const adapters::OutboundDelivery> batch, bool digest,
                            ChannelDone done) {
  ChannelResult result;
  if (batch.empty() || (!digest && batch.size() > 1)) {
    result.verdict = adapters::Verdict::permanent;
    result.error = batch.empty() ? "fcm: nothing to send"
                                 : "fcm: one delivery per send unless it is a digest, not " +
                                       std::to_string(batch.size());
    finish_later(std::move(done), std::move(result));
    return;
  }
  const adapters::OutboundDelivery& first = batch.front();
  adapters::FcmContent content;
  if (digest) {
    const adapters::DigestText text = adapters::digest_text(batch);
    result.id = text.id;
    content = adapters::fcm_digest_content(batch, text.id, text.title, text.body);
  } else {
    result.id = std::string(first.delivery_id);
  }
  // A digest goes to the newest tokens given, as on the other channels: those of its latest
  // event that has any.
  std::vector<std::string> tokens;
  for (auto d = batch.rbegin(); d != batch.rend() && tokens.empty(); ++d)
    tokens = adapters::addresses_of(*d).fcm;
  if (tokens.empty()) {
    result.verdict = adapters::Verdict::no_address;
    result.error = "the recipient has no FCM device token";
    finish_later(std::move(done), std::move(result));
    return;
  }
  const std::shared_ptr<const Settings> settings = settings_;
  if (!settings->error.empty()) {
    result.verdict = adapters::Verdict::retry;
    result.error = settings->error;
    result.addresses = std::move(tokens);
    finish_later(std::move(done), std::move(result));
    return;
  }
  if (!digest)
    content = adapters::fcm_content(first);

  auto state = std::make_shared<SendState>();
  state->done = std::move(done);
  state->id = std::move(result.id);
  state->tokens = std::move(tokens);
  state->results.resize(state->tokens.size());
  state->remaining = state->tokens.size();
  for (std::size_t i = 0; i < state->tokens.size(); ++i) {
    auto body =
        std::make_shared<const std::string>(adapters::fcm_message(state->tokens[i], content));
    attempt(state, i, std::move(body), settings, false);
  }
}

void FcmChannel::Impl::reconfigure(const config::Sink& sink) {
  auto next = settings_of(sink);
  if (next->identity != settings_->identity) {
    token_.clear();
    ++generation_;
    fetch_.reset();  // its waiters still get its answer; later sends start another
  }
  settings_ = std::move(next);
  while (in_flight_ < settings_->max_in_flight && !waiting_.empty()) {
    auto [request, done] = std::move(waiting_.front());
    waiting_.pop_front();
    start_request(std::move(request), std::move(done));
  }
}

// ---- Access token ---------------------------------------------------------------------------

void FcmChannel::Impl::with_token(const std::shared_ptr<const Settings>& settings,
                                  GrantCallback callback) {
  const SteadyTime now = clock_.steady_now();
  if (!token_.empty() && now + kRenewBefore < expires_) {
    callback(Grant{token_, 0, {}});
    return;
  }
  if (!fetch_)
    start_fetch(settings);
  if (!token_.empty() && now + kWaitFor < expires_) {
    callback(Grant{token_, 0, {}});
    return;
  }
  fetch_->waiters.push_back(std::move(callback));
}

void FcmChannel::Impl::start_fetch(const std::shared_ptr<const Settings>& settings) {
  auto fetch = std::make_shared<Fetch>();
  fetch->generation = generation_;
  fetch_ = fetch;
  const SteadyTime started = clock_.steady_now();
  const std::int64_t unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  auto assertion = adapters::service_account_assertion(settings->account, unix_seconds);
  if (!assertion) {
    // Completed later, so that the send asking for it is among the waiters.
    net::post(ioc_, [weak = weak_from_this(), fetch, started, error = assertion.error()] {
      if (const auto self = live(weak))
        self->complete_fetch(fetch, started, Grant{{}, 0, "fcm assertion: " + error}, 0);
    });
    return;
  }
  HttpRequest request;
  request.url = settings->account.token_uri;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = adapters::token_request_body(*assertion);
  request.timeout = settings->timeout;
  request.connect_timeout = std::min<std::chrono::milliseconds>(settings->timeout, 5s);
  request.ca_file = settings->ca_file;
  http_.post(std::move(request), [weak = weak_from_this(), fetch, started](HttpResponse response) {
    const auto self = live(weak);
    if (!self)
      return;
    if (response.status == 200) {
      auto token = adapters::parse_token_response(response.body);
      if (token) {
        self->complete_fetch(fetch, started, Grant{std::move(token->token), 0, {}},
                             token->expires_in);
      } else {
        self->complete_fetch(fetch, started, Grant{{}, 200, "token endpoint: " + token.error()}, 0);
      }
      return;
    }
    self->complete_fetch(
        fetch, started,
        Grant{{},
              response.status,
              adapters::token_failure(response.status, response.body,
                                      response.timed_out ? "timed out" : response.error)},
        0);
  });
}

void FcmChannel::Impl::complete_fetch(const std::shared_ptr<Fetch>& fetch, SteadyTime started,
                                      Grant grant, std::int64_t expires_in) {
  if (fetch_ == fetch)
    fetch_.reset();
  if (grant.error.empty()) {
    ++tokens_fetched_;
    if (fetch->generation == generation_) {
      token_ = grant.token;
      expires_ = started + std::chrono::seconds(expires_in);
    }
  }
  for (GrantCallback& waiter : fetch->waiters)
    waiter(grant);
}

// ---- Messages -------------------------------------------------------------------------------

void FcmChannel::Impl::attempt(std::shared_ptr<SendState> state, std::size_t index,
                               std::shared_ptr<const std::string> body,
                               std::shared_ptr<const Settings> settings, bool after_refusal) {
  auto on_grant = [weak = weak_from_this(), state, index, body, settings,
                   after_refusal](const Grant& grant) {
    const auto self = live(weak);
    if (!self)
      return;
    if (!grant.error.empty()) {
      self->record(state, index, TokenResult{FcmOutcome::retry, grant.status, grant.error, {}});
      return;
    }
    HttpRequest request;
    request.url = settings->send_url;
    request.headers = {{"Authorization", "Bearer " + grant.token},
                       {"Content-Type", "application/json; charset=UTF-8"}};
    request.body = *body;
    request.timeout = settings->timeout;
    request.connect_timeout = std::min<std::chrono::milliseconds>(settings->timeout, 5s);
    request.ca_file = settings->ca_file;
    self->post_limited(std::move(request), [weak, state, index, body, settings, after_refusal,
                                            used = grant.token](HttpResponse response) {
      const auto self = live(weak);
      if (!self)
        return;
      adapters::FcmAnswer answer = adapters::classify_fcm_answer(response.status, response.body);
      if (answer.outcome == FcmOutcome::unauthenticated && !after_refusal) {
        // The token was refused (revoked, or expired early): drop it unless another has
        // replaced it already, and send this message once more with a fresh one.
        if (self->token_ == used)
          self->token_.clear();
        self->attempt(state, index, body, settings, true);
        return;
      }
      if (answer.outcome == FcmOutcome::unauthenticated)
        answer.outcome = FcmOutcome::retry;  // refused again with a fresh token: later
      if (response.status == 0)
        answer.reason = response.timed_out ? "timed out" : "no answer: " + response.error;
      self->record(state, index,
                   TokenResult{answer.outcome, response.status, std::move(answer.reason),
                               std::move(response.retry_after)});
    });
  };
  with_token(settings, std::move(on_grant));
}

void FcmChannel::Impl::post_limited(HttpRequest request, std::function<void(HttpResponse)> done) {
  if (cancelling_) {
    HttpResponse cancelled;
    cancelled.error = "cancelled";
    done(std::move(cancelled));
    return;
  }
  if (in_flight_ < settings_->max_in_flight) {
    start_request(std::move(request), std::move(done));
    return;
  }
  waiting_.emplace_back(std::move(request), std::move(done));
}

void FcmChannel::Impl::start_request(HttpRequest request, std::function<void(HttpResponse)> done) {
  ++in_flight_;
  http_.post(
      std::move(request), [weak = weak_from_this(), done = std::move(done)](HttpResponse response) {
        const auto self = live(weak);
        if (!self)
          return;
        --self->in_flight_;
        while (self->in_flight_ < self->settings_->max_in_flight && !self->waiting_.empty()) {
          auto [next, next_done] = std::move(self->waiting_.front());
          self->waiting_.pop_front();
          self->start_request(std::move(next), std::move(next_done));
        }
        done(std::move(response));
      });
}

void FcmChannel::Impl::record(const std::shared_ptr<SendState>& state, std::size_t index,
                              TokenResult result) {
  result.cancelled = result.cancelled || cancelling_;
  state->results[index] = std::move(result);
  if (--state->remaining > 0)
    return;
  ChannelResult aggregated = aggregate(*state);
  ChannelDone done = std::move(state->done);
  done(std::move(aggregated));
}

ChannelResult FcmChannel::Impl::aggregate(SendState& state) const {
  ChannelResult result;
  result.id = std::move(state.id);
  const std::size_t count = state.results.size();
  const auto delivered =
      std::find_if(state.results.begin(), state.results.end(),
                   [](const TokenResult& r) { return r.outcome == FcmOutcome::delivered; });
  if (delivered != state.results.end()) {
    result.verdict = adapters::Verdict::delivered;
    result.status = delivered->status;
  } else {
    // The retried answer with the longest Retry-After (the first, when none gives one).
    const TokenResult* chosen = nullptr;
    std::size_t chosen_index = 0;
    std::optional<std::chrono::milliseconds> longest;
    const policy::Instant now = clock_.now();
    for (std::size_t i = 0; i < count; ++i) {
      const TokenResult& r = state.results[i];
      if (r.outcome != FcmOutcome::retry)
        continue;
      std::optional<std::chrono::milliseconds> after;
      if (r.retry_after)
        after = parse_retry_after(*r.retry_after, now);
      if (chosen == nullptr || (after && (!longest || *after > *longest))) {
        if (after)
          longest = after;
        chosen = &r;
        chosen_index = i;
      }
    }
    // Not delivered to any device, and cut short by the dispatcher's stop: not an attempt.
    result.cancelled = std::any_of(state.results.begin(), state.results.end(),
                                   [](const TokenResult& r) { return r.cancelled; });
    if (chosen != nullptr) {
      result.verdict = adapters::Verdict::retry;
      result.status = chosen->status;
      result.error = device_label(chosen_index, count) + ": " + chosen->reason;
      if (longest)
        result.retry_after = chosen->retry_after;
    } else {
      result.verdict = adapters::Verdict::permanent;
      result.status = state.results.front().status;
      for (std::size_t i = 0; i < count; ++i) {
        if (i > 0)
          result.error += "; ";
        result.error += device_label(i, count) + ": " + state.results[i].reason;
      }
    }
  }
  result.addresses = std::move(state.tokens);
  return result;
}

// ---- FcmChannel -----------------------------------------------------------------------------

FcmChannel::FcmChannel(const config::Sink& sink, ChannelContext context)
    : impl_(std::make_shared<Impl>(sink, context)) {}

FcmChannel::~FcmChannel() {
  impl_->close();
}

void FcmChannel::send(std::span<const adapters::OutboundDelivery> batch, bool digest,
                      ChannelDone done) {
  impl_->send(batch, digest, std::move(done));
}

void FcmChannel::reconfigure(const config::Sink& sink) {
  impl_->reconfigure(sink);
}

std::size_t FcmChannel::tokens_fetched() const {
  return impl_->tokens_fetched();
}

std::size_t FcmChannel::requests_in_flight() const {
  return impl_->in_flight();
}

std::size_t FcmChannel::requests_waiting() const {
  return impl_->waiting();
}

std::size_t FcmChannel::in_flight() const {
  return impl_->requests_under_way();
}

void FcmChannel::cancel_all() {
  impl_->cancel_all();
}

}  // namespace treve::dispatch
