// make_channel: the channel of each sink type.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "daemon/dispatch/channel.h"
#include "daemon/dispatch/fcm_channel.h"
#include "daemon/dispatch/smtp_channel.h"
#include "daemon/dispatch/web_push_channel.h"
#include "daemon/dispatch/webhook_channel.h"

namespace treve::dispatch {
namespace {

// A sink of a type this build cannot send to (check-config refuses it): every send fails and
// is retried, so that nothing is lost if a later version can.
class UnavailableChannel final : public Channel {
 public:
  UnavailableChannel(std::string type, ChannelContext context)
      : type_(std::move(type)), context_(context) {}
  std::string_view type() const override { return type_; }
  void send(std::span<const adapters::OutboundDelivery> batch, bool, ChannelDone done) override {
    ChannelResult r;
    r.error = "sink type \"" + type_ + "\" is not available";
    r.id = batch.empty() ? std::string() : std::string(batch.front().delivery_id);
    boost::asio::post(context_.ioc,
                      [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }
  void reconfigure(const config::Sink&) override {}

 private:
  std::string type_;
  ChannelContext context_;
};

}  // namespace

std::unique_ptr<Channel> make_channel(const config::Sink& sink, ChannelContext context) {
  if (sink.type == "webhook" || sink.type.empty())
    return std::make_unique<WebhookChannel>(sink, context);
  if (sink.type == "fcm")
    return std::make_unique<FcmChannel>(sink, context);
  if (sink.type == "webpush")
    return std::make_unique<WebPushChannel>(sink, context);
  if (sink.type == "smtp")
    return std::make_unique<SmtpChannel>(sink, context);
  return std::make_unique<UnavailableChannel>(sink.type, context);
}

}  // namespace treve::dispatch
