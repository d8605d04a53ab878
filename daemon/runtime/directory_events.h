// Events whose recipients are user ids that a directory resolves (docs/connectors.md, "The
// directory"): the Open ENT NG timeline's notifications, and the CloudEvents of a connector that
// names a directory. Pure: what an event is before its
// directory answered, and the canonical event it becomes once it has.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/inbound/cloudevents.h"
#include "adapters/inbound/entcore_timeline.h"
#include "daemon/directory/directory_client.h"
#include "policy/notification.h"

namespace treve::runtime {

// An event before its directory answered.
struct PendingEvent {
  std::string id;
  policy::Category category = policy::Category::other;
  bool urgent = false;
  // The canonical event but its establishment and recipients, as JSON text ("{…}"); the
  // resolved event is this with both added (canonical_body).
  std::string body;
  // What tells a repeat of the event from another event with its id: the document, white space
  // between its tokens aside.
  std::string identity;
  std::vector<std::string> users;  // the recipients' user ids, in the document's order
};

PendingEvent pending_from_timeline(const adapters::TimelineEvent& t);
// A CloudEvent whose recipients are user ids (ce.users not empty): its id is the stored id, its
// body the adapter's (payload `data`, created_at `time`), its identity the adapter's
// fingerprint, so that a repeat is a replay exactly as for the other CloudEvents.
PendingEvent pending_from_cloudevent(const adapters::InboundCloudEvent& ce);

// Who an event's recipients are, from the directory's answers (one per user, in order).
struct ResolvedRecipients {
  // The establishment most of the recipients belong to (the first named on a tie); empty when
  // none of them belongs to any, and then `recipients` is empty.
  std::string establishment;
  // Each known user that belongs to an establishment: their role (Student → student, Relative
  // → parent, the others → staff), for a parent the student of this event they are a parent of
  // (`of`), and the other establishments they belong to (`establishments`): they are held
  // under the strictest of those policies.
  std::vector<policy::Recipient> recipients;
  // Users the directory does not know, or knows in no establishment: no delivery.
  std::vector<std::string> unknown;
};

// The recipients, or why the directory did not say (a lookup failed): the event waits.
std::expected<ResolvedRecipients, std::string> resolve_recipients(
    std::span<const std::string> users, std::span<const directory::UserAnswer> answers);

// One user as `treve explain` and the admin preview see them (docs/connectors.md, "The
// directory"): their role, the establishment whose policy answers, and their other
// establishments, under whose policies they are held too (the strictest wins).
struct ExplainedRecipient {
  policy::Role role = policy::Role::staff;
  std::string establishment;
  std::vector<std::string> also;  // the user's other structures, in the directory's order
};

struct ExplainRefusal {
  enum class Kind : std::uint8_t {
    failed,                // the directory did not answer: `detail` is its error
    unknown,               // the directory does not know the user
    no_establishment,      // it knows them in no establishment
    not_in_establishment,  // the establishment asked for is not one of theirs
  };
  Kind kind = Kind::failed;
  std::string detail;  // an English sentence naming no user id and no child
};

// The recipient `answer` describes: `requested` (a UAI, empty for none) must be one of their
// structures and is then the establishment; without it, their first structure is. Their other
// structures (as many as a canonical event's recipient may name) are `also`.
std::expected<ExplainedRecipient, ExplainRefusal> explain_recipient(
    const directory::UserAnswer& answer, std::string_view requested);

// The canonical event: `pending_body` with the establishment and recipients added.
std::string canonical_body(std::string_view pending_body, const ResolvedRecipients& r);

// Where `user` is named in a timeline document (`/recipients/2/userId`, `/recipientsIds/0`);
// "/recipients" when it cannot be found.
std::string timeline_user_pointer(std::string_view document, std::string_view user);

}  // namespace treve::runtime
