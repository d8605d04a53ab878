// The one decision function: for each recipient of a notification received at an instant,
// is it held, until when, and why. Used by `treve serve`, `treve explain` and
// `treve simulate`, so that what an administrator previews is what the daemon does.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/establishment_policy.h"
#include "policy/notification.h"
#include "policy/personal_hours.h"

namespace treve::policy {

enum class UrgentOutcome : std::uint8_t {
  not_urgent,
  bypassed,           // delivered at once
  refused_connector,  // the connector may not bypass
  refused_category,   // the category is not in the establishment's urgent list
};

struct DeliveryDecision {
  std::size_t recipient = 0;  // index into Notification::recipients
  bool held = false;
  bool evaluated = true;  // false: fail closed, held with no known release instant
  Instant release_at;     // equals the received instant when not held
  UrgentOutcome urgent = UrgentOutcome::not_urgent;
  // Grade sequencing (parents): the student release it waited for, and the delay applied.
  bool grade_delay = false;
  Instant student_release;
  std::chrono::minutes delay{0};
  QuietChain student_quiet;  // why the student's release is when it is
  QuietChain quiet;          // quiet intervals it was pushed through, in order

  // decide_in only (policy/strictest.h); empty for decide(). The recipient's other
  // establishments whose quiet time held it later than the event's establishment did, in the
  // order they did, each with its causes (indices into that establishment's rules).
  struct Attached {
    std::string uai;
    QuietChain quiet;
  };
  std::vector<Attached> attached;
  // The other establishment whose urgent list lacks the category (urgent == refused_category).
  std::string urgent_refused_by;
  // Grade for a parent: the student's release was held later by the student's other
  // establishments.
  bool student_attached = false;

  // The crisis (EstablishmentRules::crises, by id) that delivered it at once, received while
  // it was open, or, with `crisis_released_held`, released it at its opening; 0: none.
  std::int64_t crisis = 0;
  bool crisis_released_held = false;
  // decide_in only: the recipient's own quiet hours, and the causes among them that held it
  // later than the establishments did.
  std::shared_ptr<const PersonalHours> personal_hours;
  QuietChain personal;
  // The hours left no open instant together with the establishments' policies: set aside.
  bool personal_set_aside = false;
  // Homework whose students may only receive it less than homework_notice before it is due.
  // Set on every recipient of the event.
  bool late_homework = false;
};

// Decides every recipient of `n`, in recipient order. `connector_may_bypass` is the sending
// connector's `may_bypass`. Rules (DESIGN.md):
//  - received while a crisis covering the category is open: released at `received`;
//  - urgent + may_bypass + category in the urgent list: released at `received`;
//  - otherwise the first open instant at or after `received`;
//  - a parent's grade: no earlier than its student's release (`of`, or the latest student
//    release in the event when there is no link) plus the establishment's delay, then the
//    first open instant from there. With no student in the event, the delay counts from
//    the parent's own release.
// Quiet time is the category's windows when it has its own, else the establishment's, and the
// closed days. Recipients' other establishments, personal hours, crises that release what was
// held and late homework are decide_in's (policy/strictest.h): the daemon decides with it.
//
// `sequencing`: `none` decides a parent's grade like any other delivery, with no delay after
// its student's release. For a delivery already released once, about to be sent (the delay
// was counted when it was released): is its recipient in quiet time now?
enum class Sequencing : std::uint8_t { grades_follow_students, none };
std::vector<DeliveryDecision> decide(const EstablishmentPolicy& policy, const Notification& n,
                                     Instant received, bool connector_may_bypass,
                                     Sequencing sequencing = Sequencing::grades_follow_students);

// The student release a parent's grade waits for: of the event's students (only `parent.of`
// when it is set), the one in `decisions` released last, and whether every one of them was
// evaluated. No index when the event has no such student.
struct StudentRelease {
  std::optional<std::size_t> index;
  bool evaluated = true;
};
StudentRelease student_release_for(const Notification& n, const Recipient& parent,
                                   const std::vector<DeliveryDecision>& decisions);

// The reason in words an administrator understands, e.g.
// "quiet window Mon-Thu 20:00-07:00, then public holiday Noël (Fri 2026-12-25), then quiet
// window Fri 20:00-Mon 07:00".
std::string describe(const EstablishmentPolicy& policy, const DeliveryDecision& d,
                     std::string_view source = {});

// The causes of a chain in words, e.g. "quiet window Mon-Thu 20:00-07:00, then closed Noël":
// `chain` holds indices into `rules`.
std::string describe_quiet(const EstablishmentRules& rules, const QuietChain& chain);

// "crisis 3 (\"Tempête\", opened by Mme Durand at …, until …)": a crisis of `rules` by id.
std::string crisis_text(const EstablishmentRules& rules, std::int64_t id);

}  // namespace treve::policy
