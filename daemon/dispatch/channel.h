// A channel sends released deliveries to one sink (a webhook, FCM, Web Push, an SMTP relay)
// and says what came of it. The dispatcher owns everything a channel has in common: order per
// recipient and sink, concurrency and rate, retries, dead letters and the outcome's audit
// record. A channel owns what is its own: where the addresses are, the requests (several for
// one delivery when a recipient has several devices), tokens it must fetch first, and how an
// answer reads.
//
// Channels live on the dispatcher's thread: every call is made there, and `done` is called
// there, later, never from inside send().
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "adapters/outbound/sink.h"
#include "daemon/config/config.h"
#include "daemon/core/clock.h"

namespace boost::asio {
class io_context;
}

namespace treve::dispatch {

class HttpClient;

// What one send came to.
struct ChannelResult {
  // delivered, retry, permanent (dead-lettered), or no_address (nothing to send to: final,
  // recorded, neither a failure nor silent).
  adapters::Verdict verdict = adapters::Verdict::retry;
  int status = 0;     // the deciding answer's status (HTTP status, SMTP reply code); 0: none
  std::string error;  // why it was not delivered, for logs and last_error: never an address
  // What the receiver deduplicates on, the same on every attempt: the webhook-id, the e-mail's
  // Message-ID, the push message's delivery id.
  std::string id;
  std::optional<std::string> retry_after;  // a Retry-After to honour, as received
  // The addresses the send went to (device tokens, subscription endpoints, e-mail addresses).
  // Personal data: the store records only keyed pseudonyms of them; never logged.
  std::vector<std::string> addresses;
  // Abandoned because the dispatcher is stopping (HttpClient::cancel_all): not an attempt; the
  // deliveries stay due for the next start.
  bool cancelled = false;
};

using ChannelDone = std::function<void(ChannelResult)>;

class Channel {
 public:
  virtual ~Channel() = default;

  // The sink's type, as configured ("webhook", "fcm", "webpush", "smtp"): recorded with every
  // attempt.
  virtual std::string_view type() const = 0;

  // Sends `batch`, in order. A webhook batch holds up to the sink's batch_max deliveries of
  // several recipients; for the other channels it holds one delivery, or, for a morning
  // digest, several deliveries of one recipient that go as one message (digest = true).
  // The views are valid during the call only. `done` is called exactly once, later, on the
  // dispatcher's thread, unless the channel is destroyed first.
  virtual void send(std::span<const adapters::OutboundDelivery> batch, bool digest,
                    ChannelDone done) = 0;

  // The sink's configuration was reloaded (same name and type): later sends use `sink`.
  virtual void reconfigure(const config::Sink& sink) = 0;

  // For a channel with a client of its own (FCM's one connection, e-mail's thread): the
  // requests it has under way, and abandoning them when the dispatcher stops (each send's
  // `done` then gets `cancelled`, unless its delivery was already known delivered). A channel
  // that sends through the dispatcher's HttpClient has none: the dispatcher cancels that one.
  virtual std::size_t in_flight() const { return 0; }
  virtual void cancel_all() {}
};

// What a channel may use: the dispatcher's io_context, its HTTP (and SMTP) client, its clock.
struct ChannelContext {
  boost::asio::io_context& ioc;
  HttpClient& http;
  const core::Clock& clock;
};

// The channel for `sink` (by its type). Never null: a sink whose keys cannot be used (which
// check-config refuses) gets a channel whose sends fail and are retried, never sent unsigned.
std::unique_ptr<Channel> make_channel(const config::Sink& sink, ChannelContext context);

}  // namespace treve::dispatch
