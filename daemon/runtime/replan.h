// Re-planning held deliveries after a change of policy (a reload, or an administrator's edit):
// each one is decided again under the new policy, as the event it belongs to was received.
//
// A delivery's new release instant is the one the new policy gives for the event's receipt
// instant. If that instant has already passed, the policy is asked again for now: released at
// once if now is open, else at the end of the quiet time now in force. So shortening a window
// releases what it no longer covers, lengthening one holds longer, and nothing is ever
// released inside a quiet interval of the new policy.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/store.h"

namespace treve::runtime {

class Preferences;  // runtime/preferences.h

// The held deliveries of `e` whose release instant changes under `config`. An event whose
// body cannot be read again (purged, or no longer valid) keeps its deliveries as they are.
// `preferences`: the recipients' own hours in force (null: none).
std::vector<store::Replan> replan_event(const config::Config& config, const store::HeldEvent& e,
                                        policy::Instant now,
                                        const Preferences* preferences = nullptr);

// A delivery that became due earlier, about to be sent at `now`: nullopt when it may go;
// otherwise its recipient is in quiet time now (a window began while it waited behind others or
// for a retry, or a change of policy made now quiet), and it is held again until the end of
// that quiet time. Decided as for its event received at `now`, for its recipient alone, with
// the same rules (establishments, the recipient's own hours, crises, an urgent bypass), but no
// grade delay: that was counted when it was first released. An event whose body cannot be
// read again goes (it was decided when released).
std::optional<store::HoldAgain> hold_again(const config::Config& config,
                                           const store::DispatchItem& item, policy::Instant now,
                                           const Preferences* preferences = nullptr);

struct ReplanOptions {
  std::size_t events_per_read = 256;
  std::size_t changes_per_commit = 1'000;
  // Only the events of these establishments (UAIs); empty: all of them.
  std::vector<std::string> establishments;
  // Called with the earliest new release instant of each committed group of changes.
  std::function<void(policy::Instant)> on_moved;
  // Set to stop between two groups (the daemon is stopping).
  const std::atomic<bool>* cancel = nullptr;
  // The recipients' own quiet hours in force; null: none.
  const Preferences* preferences = nullptr;
};

struct ReplanReport {
  std::size_t events = 0;      // events with held deliveries examined
  std::size_t examined = 0;    // held deliveries examined
  std::size_t moved = 0;       // given another release instant
  std::size_t earlier = 0;     // of which earlier than before
  std::size_t unreadable = 0;  // events whose body could not be read again
  bool complete = true;        // false: cancelled, or the store failed (logged)
};

// Re-plans every held delivery (of `options.establishments`) under `config`: reads go to
// `store` (any thread), writes to the writer through `queue`, a group at a time, so that
// events keep being accepted meanwhile. Blocking: run it off the I/O threads.
ReplanReport replan_held(const config::Config& config, store::ReplanStore& store,
                         store::CommitQueue& queue, const core::Clock& clock,
                         const ReplanOptions& options);

}  // namespace treve::runtime
