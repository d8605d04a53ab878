// The Web Push channel (RFC 8030, 8291, 8292), for the ENT open in a browser: a delivery goes
// to every push subscription its recipient has (`channels.webpush` in the event, addresses.h),
// one POST each, the message encrypted for that browser and signed with the sink's VAPID key
// (adapters/outbound/web_push_request.h). A digest (several deliveries of one recipient) is one
// message, web_push_digest_message, to the subscriptions of the newest of its events that has
// any.
//
// What one send comes to, from the answers of its subscriptions (read_push_answer):
//   - delivered when any subscription took the message;
//   - otherwise retry when any may take it later (no answer, 408, 429, 5xx; the first
//     Retry-After among them is kept, as received);
//   - otherwise permanent: every subscription is gone (404, 410) or refused the message (400,
//     413, …), or could not be used (keys that are not a P-256 point and a 16-byte secret);
//   - no_address when the recipient has no subscription.
// The result's id is the delivery id (web_push_digest_id for a digest), what the service
// worker deduplicates on; its addresses are the endpoints. Endpoints are personal data: no
// error text names one.
//
// One VAPID token is made per push service origin and reused for half its validity (12 h by
// default), so signing costs one ECDSA signature per origin every few hours; each message still
// gets its own ECDH key and salt.
//
// Lives on the dispatcher's thread, as every Channel (channel.h).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "daemon/dispatch/channel.h"

namespace treve::dispatch {

class WebPushChannel final : public Channel {
 public:
  // From the sink's vapid_key (PEM text), subject, ttl, timeout and ca_file. A key that cannot
  // be read gives a channel whose every send is retried with the reason, never sent unsigned.
  WebPushChannel(const config::Sink& sink, ChannelContext context);
  // Sends still under way are abandoned: their `done` is never called.
  ~WebPushChannel() override;
  WebPushChannel(const WebPushChannel&) = delete;
  WebPushChannel& operator=(const WebPushChannel&) = delete;

  std::string_view type() const override { return "webpush"; }
  void send(std::span<const adapters::OutboundDelivery> batch, bool digest,
            ChannelDone done) override;
  void reconfigure(const config::Sink& sink) override;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace treve::dispatch
