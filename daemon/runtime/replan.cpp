#include "daemon/runtime/replan.h"

#include "daemon/runtime/preferences.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <span>
#include <thread>

#include <spdlog/spdlog.h>

#include "adapters/inbound/canonical_event.h"
#include "daemon/core/log_field.h"
#include "policy/decision.h"
#include "policy/strictest.h"
#include "policy/uai.h"

namespace treve::runtime {
namespace {

// Where a decision puts a delivery: its release instant, the receipt when released at once,
// Instant::max() when the policy could not be evaluated (held until corrected).
policy::Instant target_of(const policy::DeliveryDecision& d, policy::Instant received) {
  if (!d.evaluated)
    return policy::Instant::max();
  return d.held ? d.release_at : received;
}

const policy::DeliveryDecision* decision_for(const std::vector<policy::DeliveryDecision>& ds,
                                             const policy::Notification& n,
                                             const store::HeldEvent::Held& h) {
  for (const auto& d : ds) {
    const policy::Recipient& r = n.recipients[d.recipient];
    if (r.id == h.ref.recipient && r.role == h.ref.role)
      return &d;
  }
  return nullptr;
}

}  // namespace

std::vector<store::Replan> replan_event(const config::Config& config, const store::HeldEvent& e,
                                        policy::Instant now, const Preferences* preferences) {
  std::vector<store::Replan> out;
  if (e.body.empty())
    return out;
  adapters::ParseMode mode;
  mode.keep_payload = false;
  auto parsed = adapters::parse_canonical_event(e.body, mode);
  if (!parsed)
    return out;
  policy::Notification& n = parsed->notification;
  n.source = e.source;
  if (preferences)
    preferences->attach(n, now);
  auto uai = policy::parse_uai(n.establishment);
  if (!uai)
    return out;
  const policy::EstablishmentPolicy& policy = config.policy->find(*uai);
  const config::Connector* connector = config.connector(e.source);
  const bool may_bypass = connector && connector->may_bypass;
  const auto decisions = policy::decide_in(*config.policy, policy, n, e.received_at, may_bypass);
  std::optional<std::vector<policy::DeliveryDecision>> from_now;  // decided only if needed

  for (const auto& h : e.held) {
    const policy::DeliveryDecision* d = decision_for(decisions, n, h);
    if (!d)
      continue;
    policy::Instant target = target_of(*d, e.received_at);
    const policy::DeliveryDecision* reason_of = d;
    if (target <= now) {
      // The new policy would have released it already: released now, unless now is quiet
      // under the new policy, then at the end of that quiet time.
      if (!from_now)
        from_now = policy::decide_in(*config.policy, policy, n, now, may_bypass);
      reason_of = decision_for(*from_now, n, h);
      if (!reason_of)
        continue;
      target = target_of(*reason_of, now);
    }
    if (target == h.release_at)
      continue;
    store::Replan r;
    r.ref = h.ref;
    r.was = h.release_at;
    r.release_at = target;
    r.reason = policy::describe_in(*config.policy, policy, *reason_of, e.source);
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

// The notification as hold_again decides it: `item`'s recipient alone. What the decision needs
// of it is in the delivery (establishment, category, urgency, recipient and role), except the
// recipient's other establishments, read from the event only when it may name some: a body
// with no "establishments" key, nor any backslash-u escape that could spell one, names none. So
// most deliveries are decided without parsing their event again (a few microseconds each).
std::optional<policy::Notification> notification_of(const store::DispatchItem& item) {
  const std::string_view body = item.body;
  if (body.find("establishments") == std::string_view::npos &&
      body.find("\\u") == std::string_view::npos) {
    policy::Notification n;
    n.source = item.ref.source;
    n.establishment = item.ref.establishment;
    n.category = item.ref.category;
    n.urgent = item.urgent;
    policy::Recipient& r = n.recipients.emplace_back();
    r.id = item.ref.recipient;
    r.role = item.ref.role;
    return n;
  }
  adapters::ParseMode mode;
  mode.keep_payload = false;
  auto parsed = adapters::parse_canonical_event(item.body, mode);
  if (!parsed)
    return std::nullopt;
  policy::Notification& n = parsed->notification;
  n.source = item.ref.source;
  const auto recipient = std::find_if(n.recipients.begin(), n.recipients.end(), [&](const auto& r) {
    return r.id == item.ref.recipient && r.role == item.ref.role;
  });
  if (recipient == n.recipients.end())
    return std::nullopt;
  if (recipient != n.recipients.begin())
    n.recipients.front() = std::move(*recipient);
  n.recipients.resize(1);
  return std::move(n);
}

}  // namespace

std::optional<store::HoldAgain> hold_again(const config::Config& config,
                                           const store::DispatchItem& item, policy::Instant now,
                                           const Preferences* preferences) {
  auto decided = notification_of(item);
  if (!decided)
    return std::nullopt;
  policy::Notification& n = *decided;
  if (preferences)
    preferences->attach(n, now);
  auto uai = policy::parse_uai(n.establishment);
  if (!uai)
    return std::nullopt;
  const policy::EstablishmentPolicy& policy = config.policy->find(*uai);
  const config::Connector* connector = config.connector(item.ref.source);
  const bool may_bypass = connector && connector->may_bypass;
  const auto decisions =
      policy::decide_in(*config.policy, policy, n, now, may_bypass, policy::Sequencing::none);
  if (decisions.empty())
    return std::nullopt;
  const policy::DeliveryDecision& d = decisions.front();
  const policy::Instant until = target_of(d, now);
  if (until <= now)
    return std::nullopt;
  return store::HoldAgain{until, policy::describe_in(*config.policy, policy, d, item.ref.source)};
}

namespace {

// Hands `changes` to the writer and waits for the commit. A full queue is waited out; a
// store error is tried again a few times (the store may be briefly locked or full).
std::optional<std::size_t> commit(store::CommitQueue& queue, const core::Clock& clock,
                                  std::span<const store::Replan> changes,
                                  const std::atomic<bool>* cancel) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (cancel && cancel->load())
      return std::nullopt;
    auto done = queue.write_and_wait(
        [changes, &clock](store::Store& s) { return s.replan(changes, clock.now()); });
    if (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
      continue;
    }
    auto& r = *done;
    if (r)
      return *r;
    spdlog::warn("event=replan.commit_failed attempt={} error={}", attempt + 1,
                 core::quoted(r.error().message));
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return std::nullopt;
}

}  // namespace

ReplanReport replan_held(const config::Config& config, store::ReplanStore& store,
                         store::CommitQueue& queue, const core::Clock& clock,
                         const ReplanOptions& options) {
  ReplanReport report;
  auto rows = store.held_event_rows();
  if (!rows) {
    spdlog::error("event=replan.read_failed error={}", core::quoted(rows.error().message));
    report.complete = false;
    return report;
  }
  const auto wanted = [&](const std::string& uai) {
    return options.establishments.empty() ||
           std::find(options.establishments.begin(), options.establishments.end(), uai) !=
               options.establishments.end();
  };
  std::vector<store::Replan> changes;
  auto flush = [&]() -> bool {
    const std::span<const store::Replan> pending(changes);
    for (std::size_t at = 0; at < pending.size(); at += options.changes_per_commit) {
      auto slice = pending.subspan(at, std::min(options.changes_per_commit, pending.size() - at));
      auto moved = commit(queue, clock, slice, options.cancel);
      if (!moved)
        return false;
      report.moved += *moved;
      policy::Instant earliest = policy::Instant::max();
      for (const auto& c : slice)
        earliest = std::min(earliest, c.release_at);
      if (options.on_moved && earliest != policy::Instant::max())
        options.on_moved(earliest);
    }
    changes.clear();
    return true;
  };

  const std::span<const std::int64_t> all(*rows);
  for (std::size_t at = 0; at < all.size(); at += options.events_per_read) {
    if (options.cancel && options.cancel->load()) {
      report.complete = false;
      return report;
    }
    auto events =
        store.held_events(all.subspan(at, std::min(options.events_per_read, all.size() - at)));
    if (!events) {
      spdlog::error("event=replan.read_failed error={}", core::quoted(events.error().message));
      report.complete = false;
      return report;
    }
    const policy::Instant now = clock.now();
    for (const auto& e : *events) {
      if (!wanted(e.establishment))
        continue;
      ++report.events;
      report.examined += e.held.size();
      auto moved = replan_event(config, e, now, options.preferences);
      if (e.body.empty())
        ++report.unreadable;
      for (auto& c : moved) {
        if (c.release_at < c.was)
          ++report.earlier;
        changes.push_back(std::move(c));
      }
    }
    if (changes.size() >= options.changes_per_commit && !flush()) {
      report.complete = false;
      return report;
    }
  }
  if (!flush())
    report.complete = false;
  return report;
}

}  // namespace treve::runtime
