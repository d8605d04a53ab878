// The webhook channel (Standard Webhooks): each batch is POSTed as JSON (webhook_body.h) with
// `webhook-id`, `webhook-timestamp` and `webhook-signature` (webhook_signature.h).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "adapters/outbound/sink.h"
#include "adapters/outbound/webhook_signature.h"

namespace treve::adapters {

class WebhookSink final : public Sink {
 public:
  // `signer` null: every build fails (the secret could not be used; check-config refuses it).
  // `batch_max` > 1: the body is always a JSON array, even of one delivery.
  WebhookSink(std::string url, std::shared_ptr<const WebhookSigner> signer, std::size_t batch_max);

  std::expected<OutboundRequest, std::string> build(std::span<const OutboundDelivery> batch,
                                                    std::int64_t unix_seconds) const override;
  Verdict classify(const OutboundResponse& response) const override;

 private:
  std::string url_;
  std::shared_ptr<const WebhookSigner> signer_;
  bool array_;
};

}  // namespace treve::adapters
