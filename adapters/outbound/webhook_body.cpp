#include "adapters/outbound/webhook_body.h"

#include <initializer_list>

#include <openssl/sha.h>

#include <boost/json/serialize.hpp>

#include "adapters/inbound/raw_members.h"

namespace treve::adapters {
namespace {

void append_string(std::string& out, std::string_view s) {
  out += boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

void field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  append_string(out, key);
  out += ':';
  append_string(out, value);
}

std::string hex_id(std::string_view prefix, std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  for (int i = 0; i < 16; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

}  // namespace

void append_webhook_delivery(std::string& out, const WebhookDelivery& d) {
  out += "{\"type\":\"treve.delivery\"";
  field(out, "delivery_id", d.delivery_id);
  field(out, "source", d.source);
  field(out, "id", d.event_id);
  field(out, "establishment", d.establishment);
  field(out, "category", d.category);
  out += d.urgent ? ",\"urgent\":true" : ",\"urgent\":false";
  field(out, "recipient", d.recipient);
  field(out, "role", d.role);
  // The title and payload exactly as the connector wrote them: the body was validated on
  // receipt (a JSON object, no field twice), so its text is copied, not parsed and written
  // again (which would turn 1e999 into a non-JSON token, round big integers, rewrite 0.1).
  std::string_view title, payload;
  for (const RawMember& m : raw_members(d.event_body)) {
    if (m.key == "title" && m.value.front() == '"')
      title = m.value;
    else if (m.key == "payload")
      payload = m.value;
  }
  if (!title.empty())
    out.append(",\"title\":").append(title);
  if (!payload.empty())
    out.append(",\"payload\":").append(payload);
  field(out, "received_at", d.received_at);
  field(out, "released_at", d.released_at);
  out += '}';
}

std::string webhook_delivery_id(std::string_view source, std::string_view event_id,
                                std::string_view recipient, std::string_view role) {
  // Each part length-prefixed, so that no two different deliveries share an encoding.
  std::string data;
  for (std::string_view part : {source, event_id, recipient, role})
    data.append(std::to_string(part.size())).append(1, ':').append(part);
  return hex_id("dlv_", data);
}

std::string webhook_batch_id(std::span<const std::string> delivery_ids) {
  std::string data;
  for (const auto& id : delivery_ids)
    data.append(id).append(1, '\n');
  return hex_id("bat_", data);
}

}  // namespace treve::adapters
