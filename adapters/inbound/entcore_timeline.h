// Open ENT NG ("entcore") timeline notifications: the JSON document an entcore module hands
// to its timeline (the event the timeline helper sends on the event bus, or the same document
// as the timeline stores it) in, a TimelineEvent or a Problem naming the offending field out.
// Pure: no I/O, no clock (the received instant is passed in), no state.
//
// What this adapter does NOT know: the establishment (UAI) of the notification and the role
// (student, parent, staff) of each recipient. entcore's timeline names its recipients by user
// id only. Both come later from a directory of the ENT's users (another component, not yet
// written); until it exists, a connector with `format = "entcore-timeline"` is refused by the
// configuration, and nothing here becomes a policy::Notification on its own.
//
// docs/connectors.md, "Open ENT NG timeline", describes the format as published, the default
// category of each (type, event-type), the title fallbacks and the idempotency key.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/inbound/canonical_event.h"
#include "adapters/inbound/problem.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace treve::adapters {

// The prefix of an id derived from a document's content (entcore gives its notifications no id
// before the timeline stores them).
inline constexpr std::string_view kTimelineDerivedIdPrefix = "etl_";

// How one connector's timeline notifications get their category and title: the built-in
// defaults (docs/connectors.md), which the connector's entries extend or override.
struct TimelineMapping {
  // Keys are a `type` ("MESSAGERIE") or a `type` and an `event-type` joined by a dot
  // ("BLOG.PUBLISH-POST"); compared without regard to ASCII case. A (type, event-type) entry
  // wins over its type's entry; the connector's entries win over the defaults at each level.
  std::vector<std::pair<std::string, policy::Category>> types;
  // Texts for `pushNotif.title` values that are translation keys ("push.notif.new.message"),
  // added to and overriding the built-in French ones.
  std::vector<std::pair<std::string, std::string>> titles;

  // The category of a notification: connector's "TYPE.EVENT-TYPE", default "TYPE.EVENT-TYPE",
  // connector's "TYPE", default "TYPE", else `other`. `event_type` may be empty.
  policy::Category category_of(std::string_view type, std::string_view event_type) const;
  // The text of a translation key, or nothing when neither the connector nor the defaults
  // know it.
  std::optional<std::string> title_of(std::string_view key) const;
};

// The built-in table of categories, in the order docs/connectors.md lists it.
const std::vector<std::pair<std::string_view, policy::Category>>& default_timeline_types();
// The French title used when a notification carries no usable push title.
std::string_view default_timeline_title(policy::Category c);

// Whether `key` is usable as a TimelineMapping::types key: a type, or a type, a dot and an
// event-type, each of letters, digits, '-' and '_'.
bool valid_timeline_type_key(std::string_view key);

// One timeline notification, translated. No establishment and no roles (see above).
struct TimelineEvent {
  // The document's `_id` when it has one (a document read back from the timeline's store),
  // else kTimelineDerivedIdPrefix and the hex SHA-256 of the content key (id_derived).
  std::string id;
  bool id_derived = false;
  std::string type;        // as sent ("MESSAGERIE")
  std::string event_type;  // as sent ("SEND-MESSAGE"); empty when absent or null
  policy::Category category = policy::Category::other;
  // The union of `recipients[].userId` and `recipientsIds`, each once, in order of first
  // appearance (`recipients` first).
  std::vector<std::string> recipients;
  std::optional<std::string> sender;  // the sending user's id; none for system notifications
  std::string title;                  // never empty
  std::string body;                   // `pushNotif.body`, else `preview.text`, else empty
  std::string link;                   // `params.resourceUri`, else `params.uri`; as given
  // `date.$date` when the document has one (dated), else the received instant.
  policy::Instant created_at;
  bool dated = false;
  bool urgent = false;       // entcore has no such notion
  std::string payload_json;  // the document as written (surrounding white space aside), for sinks
};

std::expected<TimelineEvent, Problem> parse_entcore_timeline(std::string_view body,
                                                             const TimelineMapping& mapping,
                                                             const EventLimits& limits,
                                                             policy::Instant received);

}  // namespace treve::adapters
