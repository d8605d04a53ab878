// One released delivery as every channel sees it (adapters::OutboundDelivery), with the values
// the channel tests share: to a parent at 0250001R, received the evening before and released
// at 07:00. The views point into the arguments, which must outlive it.
#pragma once

#include <string_view>

#include "adapters/outbound/sink.h"

namespace treve::test {

inline adapters::OutboundDelivery outbound_delivery(
    std::string_view delivery_id, std::string_view event_id, std::string_view category,
    std::string_view event_body, bool urgent = false, std::string_view recipient = "u-7f3a") {
  adapters::OutboundDelivery d;
  d.delivery_id = delivery_id;
  d.source = "ent";
  d.event_id = event_id;
  d.establishment = "0250001R";
  d.category = category;
  d.urgent = urgent;
  d.recipient = recipient;
  d.role = "parent";
  d.event_body = event_body;
  d.received_at = "2026-11-27T21:14:03+01:00";
  d.released_at = "2026-11-28T07:00:00+01:00";
  return d;
}

}  // namespace treve::test
