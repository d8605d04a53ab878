#include "adapters/outbound/webhook_sink.h"

#include "adapters/outbound/webhook_body.h"

namespace treve::adapters {

Verdict classify_http_status(int status) {
  if (status >= 200 && status < 300)
    return Verdict::delivered;
  if (status == 0 || status == 408 || status == 429 || status >= 500)
    return Verdict::retry;
  return Verdict::permanent;
}

WebhookSink::WebhookSink(std::string url, std::shared_ptr<const WebhookSigner> signer,
                         std::size_t batch_max)
    : url_(std::move(url)), signer_(std::move(signer)), array_(batch_max > 1) {}

std::expected<OutboundRequest, std::string> WebhookSink::build(
    std::span<const OutboundDelivery> batch, std::int64_t unix_seconds) const {
  if (batch.empty())
    return std::unexpected(std::string("no delivery to send"));
  OutboundRequest r;
  r.url = url_;
  std::string& body = r.body;
  if (array_)
    body += '[';
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const OutboundDelivery& d = batch[i];
    if (i)
      body += ',';
    append_webhook_delivery(body, d);
    ids.emplace_back(d.delivery_id);
  }
  if (array_)
    body += ']';
  r.id = array_ ? webhook_batch_id(ids) : ids.front();
  const std::string signature = signer_ ? signer_->sign(r.id, unix_seconds, body) : std::string();
  if (signature.empty())
    return std::unexpected(std::string("cannot sign the request"));
  r.headers = {{"Content-Type", "application/json"},
               {"User-Agent", "treve/0.1"},
               {"webhook-id", r.id},
               {"webhook-timestamp", std::to_string(unix_seconds)},
               {"webhook-signature", signature}};
  return r;
}

Verdict WebhookSink::classify(const OutboundResponse& response) const {
  return classify_http_status(response.status);
}

}  // namespace treve::adapters
