// The webhook channel: each batch POSTed as one Standard Webhooks request
// (adapters/outbound/webhook_sink.h), answered by an HTTP status.
#pragma once

#include <memory>

#include "adapters/outbound/webhook_sink.h"
#include "daemon/dispatch/channel.h"

namespace treve::dispatch {

class WebhookChannel final : public Channel {
 public:
  WebhookChannel(const config::Sink& sink, ChannelContext context);
  std::string_view type() const override { return "webhook"; }
  void send(std::span<const adapters::OutboundDelivery> batch, bool digest,
            ChannelDone done) override;
  void reconfigure(const config::Sink& sink) override;

 private:
  ChannelContext context_;
  config::Sink config_;
  std::shared_ptr<const adapters::WebhookSink> sink_;
};

}  // namespace treve::dispatch
