#include "daemon/dispatch/webhook_channel.h"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "adapters/outbound/webhook_signature.h"
#include "daemon/core/log_field.h"
#include "daemon/dispatch/http_client.h"

namespace treve::dispatch {

WebhookChannel::WebhookChannel(const config::Sink& sink, ChannelContext context)
    : context_(context) {
  reconfigure(sink);
}

void WebhookChannel::reconfigure(const config::Sink& sink) {
  config_ = sink;
  std::shared_ptr<const adapters::WebhookSigner> signer;
  if (auto made = adapters::WebhookSigner::from_secret(sink.secret)) {
    signer = std::make_shared<const adapters::WebhookSigner>(std::move(*made));
  } else {
    // check-config refuses such a sink: this is not expected to happen. Its requests cannot
    // be built, so its deliveries are retried, never sent unsigned.
    spdlog::error("event=dispatch.sink_unsigned sink={} error={}", core::quoted(sink.name),
                  core::quoted(made.error()));
  }
  sink_ =
      std::make_shared<const adapters::WebhookSink>(sink.url, std::move(signer), sink.batch_max);
}

void WebhookChannel::send(std::span<const adapters::OutboundDelivery> batch, bool,
                          ChannelDone done) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(context_.clock.now().time_since_epoch())
          .count();
  auto built = sink_->build(batch, now);
  if (!built) {
    ChannelResult failed;
    failed.error = built.error();
    failed.id = batch.empty() ? std::string() : std::string(batch.front().delivery_id);
    boost::asio::post(context_.ioc, [done = std::move(done), failed = std::move(failed)]() mutable {
      done(std::move(failed));
    });
    return;
  }
  HttpRequest request;
  request.url = std::move(built->url);
  request.headers = std::move(built->headers);
  request.body = std::move(built->body);
  request.timeout = config_.timeout;
  request.connect_timeout = std::min(config_.timeout, std::chrono::milliseconds{5'000});
  request.ca_file = config_.ca_file;
  context_.http.post(std::move(request), [sink = sink_, id = std::move(built->id),
                                          done = std::move(done)](HttpResponse r) {
    ChannelResult result;
    result.verdict = sink->classify({r.status, r.error});
    result.status = r.status;
    result.cancelled = r.status == 0 && r.error == "cancelled";
    if (result.verdict != adapters::Verdict::delivered)
      result.error = r.status ? "HTTP " + std::to_string(r.status) : std::move(r.error);
    result.id = id;
    result.retry_after = std::move(r.retry_after);
    done(std::move(result));
  });
}

}  // namespace treve::dispatch
