// The Firebase Cloud Messaging HTTP v1 channel (`[[sinks]] type = "fcm"`): each delivery goes
// to every FCM device token of its recipient (adapters::recipient_channels), one
// `POST {endpoint}/v1/projects/{project_id}/messages:send` per token, all multiplexed over one
// HTTP/2 connection to the endpoint: the channel has an HTTP client of its own, with one
// connection per host for an https endpoint (as many as `max_in_flight` for an http:// one, which
// is HTTP/1.1). A connection the server closes (after so many streams, say) is replaced by one. The
// bodies, the service account and the reading of answers are adapters/outbound/fcm.h; this file
// does the requests.
//
// Authorisation. An OAuth 2.0 access token, obtained from the service account's `token_uri`
// with an RS256 assertion (RFC 7523), is kept and used until 5 minutes before it expires: from
// then on the next send fetches a new one while the old one still serves (waiting for the new
// one only in its last 30 seconds). One fetch at a time: sends that need a token while one is
// being fetched wait for that one. A 401 from FCM drops the token that was refused, fetches
// another and sends that message once more. A token endpoint that fails makes the send a retry
// (its status, and its OAuth error code; never the assertion or a token).
//
// Outcome of a send, from the answers for each token (adapters::classify_fcm_answer):
// delivered if at least one device took it; else retry if any answer is to be retried (with
// the longest Retry-After given); else permanent. A recipient without an FCM token:
// no_address, at once (still asynchronously). `max_in_flight` bounds the requests to FCM at
// once, across sends (the token fetch aside); more wait in order.
//
// A morning digest (digest = true: several deliveries of one recipient) is one message per
// token, its text written for the whole batch.
//
// Lives on the dispatcher's thread, as every Channel; `done` is never called from inside
// send(), nor after the channel is destroyed.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "daemon/config/config.h"
#include "daemon/dispatch/channel.h"

namespace treve::dispatch {

class FcmChannel final : public Channel {
 public:
  // Keys read from `sink`: project_id (else the service account's), credentials (the service
  // account's JSON key text), endpoint, ca_file, timeout, max_in_flight. Credentials that
  // cannot be used (which check-config refuses) make every send a retry that says why.
  FcmChannel(const config::Sink& sink, ChannelContext context);
  ~FcmChannel() override;
  FcmChannel(const FcmChannel&) = delete;
  FcmChannel& operator=(const FcmChannel&) = delete;

  std::string_view type() const override { return "fcm"; }
  void send(std::span<const adapters::OutboundDelivery> batch, bool digest,
            ChannelDone done) override;
  // A new service account, token endpoint or scope drops the access token held; the sends in
  // flight finish with the configuration they started with.
  // The connections (one per host, or max_in_flight for http://) stay as first configured.
  void reconfigure(const config::Sink& sink) override;
  std::size_t in_flight() const override;
  void cancel_all() override;

  // Access tokens obtained so far (for tests and benchmarks).
  std::size_t tokens_fetched() const;
  // Requests to FCM in flight, and waiting for room under max_in_flight.
  std::size_t requests_in_flight() const;
  std::size_t requests_waiting() const;

 private:
  class Impl;
  // Shared with the pending HTTP callbacks, which hold it weakly: once the channel is gone,
  // their answers are dropped.
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::dispatch
