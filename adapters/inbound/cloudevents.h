// CloudEvents 1.0 over HTTP (the HTTP protocol binding, JSON event format): bytes and headers of
// a request in, canonical events or a Problem out, for a connector with `format =
// "cloudevents"` (docs/connectors.md). Pure: no I/O, no clock (the received instant is passed
// in), no state; every function may be called from any thread.
//
// Three content modes: structured (one event as `application/cloudevents+json`), binary (the
// attributes in `ce-*` headers, the body being `data`) and batched (a JSON array of structured
// events, `application/cloudevents-batch+json`). A problem's pointer names the field in the
// document the connector sent ("/data/recipients/0/role", "/3/type"); a bad header in binary
// mode is named by the problem's "header" member instead.
//
// What trêve keeps of an event is a canonical event (canonical_event.h): the type
// `fr.treve.notification.v1` carries one as `data`; any other type is mapped by the
// connector's CloudEventMapping, its `data` forwarded whole as the payload.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/inbound/canonical_event.h"
#include "adapters/inbound/problem.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::adapters {

// The type whose `data` is a canonical event.
inline constexpr std::string_view kNotificationType = "fr.treve.notification.v1";
// Limits on the attributes that become identifiers (characters).
inline constexpr std::size_t kMaxCloudEventIdChars = 128;
inline constexpr std::size_t kMaxCloudEventSourceChars = 256;

// How one connector's CloudEvents become canonical events: its [[connectors]] keys.
struct CloudEventMapping {
  // Events whose `source` is this one are stored under their bare `id`; the others under
  // "<source>#<id>" (see stored_event_id). Empty: every event gets the composite id.
  std::string ce_source;
  // A type's category; a type not listed (other than kNotificationType) is `other`.
  std::vector<std::pair<std::string, policy::Category>> types;
  // Where in `data` (RFC 6901 pointers) the fields of the notification are. Establishment
  // and recipients are required, title and urgent optional.
  std::string establishment_pointer = "/establishment";
  std::string recipients_pointer = "/recipients";
  std::string title_pointer = "/title";
  std::string urgent_pointer = "/urgent";
  // The connector names a directory (docs/connectors.md, "The directory"): the array at
  // recipients_pointer holds user ids, each a string or an object {"userId": "…"}, and the
  // establishment and the roles come from the directory; establishment_pointer is unused.
  // kNotificationType events still carry their own establishment and recipients.
  bool recipients_from_directory = false;

  policy::Category category_of(std::string_view type) const;
};

// Whether `text` is an RFC 6901 JSON pointer that names a member ("/a/b", "~0" and "~1"
// escapes only); the empty pointer (the whole document) is refused.
bool valid_member_pointer(std::string_view text);

// The id trêve stores an event under (unique per connector), from the CloudEvent's (source,
// id), which the specification makes unique: `id` alone when `source` is the mapping's
// ce_source and `id` holds no '#'; otherwise the source with '%' and '#' percent-encoded, '#',
// then the id. Two different (source, id) pairs never give the same stored id.
std::string stored_event_id(std::string_view source, std::string_view id,
                            const CloudEventMapping& mapping);

// One CloudEvent, translated.
struct InboundCloudEvent {
  // notification.id: the stored id (stored_event_id); created_at: `time`, else (for
  // kNotificationType) data's `created_at`, else the received instant; payload_json: what is
  // forwarded to sinks.
  CanonicalEvent event;
  std::string source;  // the CloudEvent's source and id, as sent
  std::string id;
  // The canonical event trêve stores and forwards (JSON text; its "id" is the CloudEvent's).
  std::string body;
  // What identifies the event's content for idempotency: like `body`, but without a created_at
  // that came from the received instant, so that a retry of an event without `time` is a
  // replay, not a conflict.
  std::string fingerprint;
  // When the mapping's recipients_from_directory applies (a mapped type): the recipients' user
  // ids, each once, in order of first appearance, and where each is first named in the document
  // sent ("/data/to/1/userId", "/3/data/to/0"; in binary mode "/to/1"). `event` and `body` then
  // have no establishment and no recipients: the directory's answer gives them.
  std::vector<std::string> users;
  std::vector<std::string> user_pointers;
};

// An HTTP header as received (any case in the name).
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// Structured mode: `body` is one event in the JSON format.
std::expected<InboundCloudEvent, Problem> parse_structured_cloudevent(
    std::string_view body, const CloudEventMapping& mapping, policy::Instant received);

// Binary mode: the attributes in `headers` (`ce-*`, percent-encoded values; Content-Type is
// datacontenttype), `body` the event's data.
std::expected<InboundCloudEvent, Problem> parse_binary_cloudevent(
    std::span<const HeaderField> headers, std::string_view body, const CloudEventMapping& mapping,
    policy::Instant received);

// Batched mode: a JSON array of events; one result per element, in order, each problem's
// pointer starting with the element's index. A problem alone when the body is not an array.
using CloudEventResult = std::expected<InboundCloudEvent, Problem>;
std::expected<std::vector<CloudEventResult>, Problem> parse_cloudevent_batch(
    std::string_view body, const CloudEventMapping& mapping, policy::Instant received);

}  // namespace treve::adapters
