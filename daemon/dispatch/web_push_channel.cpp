#include "daemon/dispatch/web_push_channel.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/vapid.h"
#include "adapters/outbound/web_push_message.h"
#include "adapters/outbound/web_push_request.h"
#include "daemon/dispatch/http_client.h"

namespace treve::dispatch {
namespace {

using adapters::PushAnswer;
using adapters::PushSubscription;

// The most push service origins whose token is kept (FCM, Mozilla, Apple, Microsoft: a few).
constexpr std::size_t kMaxCachedTokens = 64;

// What came of the message for one subscription.
struct SubscriptionOutcome {
  PushAnswer answer = PushAnswer::retry;
  int status = 0;
  std::string error;  // before sending, or no answer: why; never the endpoint
  std::optional<std::string> retry_after;
  bool cancelled = false;  // abandoned by HttpClient::cancel_all (the dispatcher stopping)
};

// `text` without `endpoint`, nor its path (the personal part of it), should a library's error
// message quote either.
std::string without_endpoint(std::string text, std::string_view endpoint) {
  const auto scheme = endpoint.find("://");
  const auto path_at =
      scheme == std::string_view::npos ? std::string_view::npos : endpoint.find('/', scheme + 3);
  for (std::string_view secret :
       {endpoint,
        path_at == std::string_view::npos ? std::string_view() : endpoint.substr(path_at)}) {
    if (secret.size() < 2)
      continue;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "<endpoint>");
  }
  return text;
}

std::string describe(const SubscriptionOutcome& o) {
  const std::string http = " (HTTP " + std::to_string(o.status) + ")";
  if (o.status == 0)
    return o.error;
  switch (o.answer) {
    case PushAnswer::delivered:
      return "delivered" + http;
    case PushAnswer::gone:
      return "push subscription gone" + http;
    case PushAnswer::refused:
      return "push service refused the message" + http;
    case PushAnswer::retry:
      break;
  }
  if (o.status == 429)
    return "push service busy" + http;
  if (o.status == 408)
    return "push service timed out" + http;
  return "push service unavailable" + http;
}

// One send: the answers of its subscriptions, gathered until the last comes.
struct Send {
  ChannelDone done;
  std::string id;
  std::vector<std::string> endpoints;
  std::vector<SubscriptionOutcome> outcomes;
  std::size_t waiting = 0;  // requests still under way

  ChannelResult result() const {
    ChannelResult r;
    r.id = id;
    r.addresses = endpoints;
    const auto first = [&](PushAnswer answer) {
      return std::find_if(outcomes.begin(), outcomes.end(),
                          [&](const SubscriptionOutcome& o) { return o.answer == answer; });
    };
    if (auto delivered = first(PushAnswer::delivered); delivered != outcomes.end()) {
      r.verdict = adapters::Verdict::delivered;
      r.status = delivered->status;
      return r;
    }
    // Not delivered anywhere, and cut short by the dispatcher's stop: not an attempt.
    r.cancelled = std::any_of(outcomes.begin(), outcomes.end(),
                              [](const SubscriptionOutcome& o) { return o.cancelled; });
    auto deciding = first(PushAnswer::retry);
    if (deciding != outcomes.end()) {
      r.verdict = adapters::Verdict::retry;
      for (const SubscriptionOutcome& o : outcomes) {
        if (o.answer == PushAnswer::retry && o.retry_after) {
          r.retry_after = o.retry_after;
          break;
        }
      }
    } else {
      r.verdict = adapters::Verdict::permanent;
      deciding = outcomes.begin();
    }
    r.status = deciding->status;
    if (outcomes.size() == 1) {
      r.error = describe(outcomes.front());
    } else {
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (!r.error.empty())
          r.error += "; ";
        r.error += "subscription " + std::to_string(i + 1) + " of " +
                   std::to_string(outcomes.size()) + ": " + describe(outcomes[i]);
      }
    }
    return r;
  }
};

}  // namespace

struct WebPushChannel::State : std::enable_shared_from_this<State> {
  ChannelContext context;
  // Null when the sink's VAPID key cannot be used (key_error says why).
  std::shared_ptr<const adapters::WebPushRequests> requests;
  std::string key_error;
  std::chrono::milliseconds timeout{10'000};
  std::string ca_file;
  struct Token {
    std::string authorization;
    std::int64_t made_at = 0;  // Unix seconds
  };
  std::map<std::string, Token, std::less<>> tokens;  // by push service origin

  State(const config::Sink& sink, ChannelContext c) : context(c) { configure(sink); }

  void configure(const config::Sink& sink) {
    timeout = sink.timeout;
    ca_file = sink.ca_file;
    tokens.clear();
    requests.reset();
    key_error.clear();
    auto key = adapters::VapidKey::from_pem(sink.vapid_key);
    if (!key) {
      key_error = "cannot sign the request: " + key.error();
      return;
    }
    adapters::WebPushOptions options;
    options.subject = sink.subject;
    options.ttl = sink.ttl;
    requests = std::make_shared<const adapters::WebPushRequests>(
        std::make_shared<const adapters::VapidKey>(std::move(*key)), std::move(options));
  }

  // The Authorization header for `origin`: the cached token while less than half of its
  // validity has passed (and the clock has not gone back past its making), a new one otherwise.
  std::expected<std::string, std::string> authorization(const std::string& origin,
                                                        std::int64_t now) {
    const std::int64_t reuse = requests->options().vapid_validity.count() / 2;
    if (auto it = tokens.find(origin);
        it != tokens.end() && now >= it->second.made_at && now - it->second.made_at < reuse) {
      return it->second.authorization;
    }
    auto made = requests->authorization(origin, now);
    if (!made)
      return made;
    if (tokens.size() >= kMaxCachedTokens)
      tokens.clear();
    tokens[origin] = Token{*made, now};
    return made;
  }

  // `result` to `done`, later, on the io thread, unless the channel is gone by then.
  void answer_later(ChannelDone done, ChannelResult result) {
    boost::asio::post(context.ioc, [weak = weak_from_this(), done = std::move(done),
                                    result = std::move(result)]() mutable {
      if (weak.lock())
        done(std::move(result));
    });
  }

  void send(std::span<const adapters::OutboundDelivery> batch, bool digest, ChannelDone done);
};

void WebPushChannel::State::send(std::span<const adapters::OutboundDelivery> batch, bool digest,
                                 ChannelDone done) {
  ChannelResult failed;
  if (batch.empty() || (!digest && batch.size() > 1)) {
    failed.verdict = adapters::Verdict::permanent;
    failed.error = batch.empty() ? "no delivery to send"
                                 : "Web Push sends one delivery per message, or a digest";
    answer_later(std::move(done), std::move(failed));
    return;
  }
  failed.id = digest ? adapters::web_push_digest_id(batch) : std::string(batch.front().delivery_id);

  // A digest goes to the newest subscriptions given: those of its latest event that has any.
  std::vector<PushSubscription> subscriptions;
  for (auto d = batch.rbegin(); d != batch.rend() && subscriptions.empty(); ++d)
    subscriptions = adapters::addresses_of(*d).webpush;
  if (subscriptions.empty()) {
    failed.verdict = adapters::Verdict::no_address;
    failed.error = "no push subscription";
    answer_later(std::move(done), std::move(failed));
    return;
  }
  for (const PushSubscription& s : subscriptions)
    failed.addresses.push_back(s.endpoint);
  if (!requests) {
    failed.verdict = adapters::Verdict::retry;
    failed.error = key_error;
    answer_later(std::move(done), std::move(failed));
    return;
  }
  auto plaintext =
      digest ? adapters::web_push_digest_message(batch) : adapters::web_push_message(batch.front());
  if (!plaintext) {
    failed.verdict = adapters::Verdict::permanent;
    failed.error = plaintext.error();
    answer_later(std::move(done), std::move(failed));
    return;
  }
  const bool urgent = std::any_of(batch.begin(), batch.end(),
                                  [](const adapters::OutboundDelivery& d) { return d.urgent; });
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(context.clock.now().time_since_epoch())
          .count();

  auto pending = std::make_shared<Send>();
  pending->done = std::move(done);
  pending->id = std::move(failed.id);
  pending->endpoints = std::move(failed.addresses);
  pending->outcomes.resize(subscriptions.size());
  std::vector<std::pair<std::size_t, HttpRequest>> posts;
  for (std::size_t i = 0; i < subscriptions.size(); ++i) {
    const PushSubscription& s = subscriptions[i];
    SubscriptionOutcome& outcome = pending->outcomes[i];
    auto origin = adapters::push_origin(s.endpoint);
    if (!origin) {
      outcome = {PushAnswer::refused, 0, "push subscription endpoint: " + origin.error(), {}};
      continue;
    }
    auto signed_for = authorization(*origin, now);
    if (!signed_for) {
      outcome = {PushAnswer::retry, 0, signed_for.error(), {}};
      continue;
    }
    auto request = requests->build(*plaintext, pending->id, urgent, s, std::move(*signed_for));
    if (!request) {
      outcome = {PushAnswer::refused, 0, request.error(), {}};
      continue;
    }
    HttpRequest http;
    http.url = std::move(request->url);
    http.headers = std::move(request->headers);
    http.body = std::move(request->body);
    http.timeout = timeout;
    http.connect_timeout = std::min(http.connect_timeout, timeout);
    http.ca_file = ca_file;
    posts.emplace_back(i, std::move(http));
  }
  if (posts.empty()) {
    answer_later(std::move(pending->done), pending->result());
    return;
  }
  pending->waiting = posts.size();
  for (auto& [i, http] : posts) {
    context.http.post(std::move(http), [weak = weak_from_this(), pending, i = i](HttpResponse r) {
      SubscriptionOutcome& outcome = pending->outcomes[i];
      outcome.answer = adapters::read_push_answer(r.status);
      outcome.status = r.status;
      outcome.cancelled = r.status == 0 && r.error == "cancelled";
      if (r.status == 0)
        outcome.error =
            "no answer from the push service: " + without_endpoint(r.error, pending->endpoints[i]);
      if (outcome.answer == PushAnswer::retry)
        outcome.retry_after = std::move(r.retry_after);
      if (--pending->waiting == 0 && weak.lock())
        pending->done(pending->result());
    });
  }
}

WebPushChannel::WebPushChannel(const config::Sink& sink, ChannelContext context)
    : state_(std::make_shared<State>(sink, context)) {}

WebPushChannel::~WebPushChannel() = default;

void WebPushChannel::send(std::span<const adapters::OutboundDelivery> batch, bool digest,
                          ChannelDone done) {
  state_->send(batch, digest, std::move(done));
}

void WebPushChannel::reconfigure(const config::Sink& sink) {
  state_->configure(sink);
}

}  // namespace treve::dispatch
