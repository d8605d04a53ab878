#include "daemon/runtime/decide_event.h"

#include <boost/json.hpp>

#include "policy/decision.h"
#include "policy/rfc3339.h"
#include "policy/strictest.h"
#include "policy/uai.h"

namespace treve::runtime {
namespace {

namespace json = boost::json;

const policy::DeliveryDecision* decision_of(const std::vector<policy::DeliveryDecision>& ds,
                                            std::size_t recipient) {
  for (const auto& d : ds) {
    if (d.recipient == recipient)
      return &d;
  }
  return nullptr;
}

}  // namespace

DecidedEvent decide_event(const config::Config& config, const config::Connector& connector,
                          const policy::Notification& n, policy::Instant received,
                          std::optional<policy::Instant> late) {
  DecidedEvent out;
  auto uai = policy::parse_uai(n.establishment);
  if (!uai) {
    // Callers validate the establishment; should one ever not have, nothing is sent: every
    // delivery is held with no release instant (fail closed).
    out.zone = store::zone_or_utc("UTC");
    for (const policy::Recipient& r : n.recipients) {
      store::NewDelivery nd;
      nd.recipient = r.id;
      nd.role = r.role;
      nd.release_at = policy::Instant::max();
      nd.reason = "establishment \"" + n.establishment + "\" is not a valid UAI: " + uai.error();
      out.deliveries.push_back(std::move(nd));
    }
    return out;
  }
  const policy::EstablishmentPolicy& policy = config.policy->find(*uai);
  out.zone = policy.zone();
  const auto decisions =
      policy::decide_in(*config.policy, policy, n, received, connector.may_bypass);
  std::optional<std::vector<policy::DeliveryDecision>> from_late;  // decided only if needed
  for (const auto& first : decisions) {
    const policy::DeliveryDecision* d = &first;
    const bool evaluated = d->evaluated;
    policy::Instant target = !evaluated ? policy::Instant::max()
                             : d->held  ? d->release_at
                                        : received;
    if (late && evaluated && target <= *late) {
      if (!from_late)
        from_late = policy::decide_in(*config.policy, policy, n, *late, connector.may_bypass);
      if (const policy::DeliveryDecision* again = decision_of(*from_late, d->recipient)) {
        d = again;
        target = !d->evaluated ? policy::Instant::max() : d->held ? d->release_at : *late;
      }
    }
    const policy::Recipient& r = n.recipients[d->recipient];
    store::NewDelivery nd;
    nd.recipient = r.id;
    nd.role = r.role;
    // Fail closed: a delivery the policy could not evaluate is held with no release instant.
    nd.release_at = target;
    nd.state = target == policy::Instant::max() || d->held ? store::DeliveryState::held
                                                           : store::DeliveryState::due;
    nd.reason = policy::describe_in(*config.policy, policy, *d, n.source);
    const bool crisis_at_once = d->crisis && !d->crisis_released_held;
    nd.bypassed = d->urgent == policy::UrgentOutcome::bypassed || crisis_at_once;
    nd.crisis = crisis_at_once ? d->crisis : 0;
    nd.late_homework = d->late_homework;
    out.late_homework = out.late_homework || d->late_homework;
    // Fan-out: one copy per sink that takes it, routed now (docs/delivery.md).
    for (const config::Sink* s : config.sinks_for(n.source, n.category, r.role))
      nd.sinks.push_back(s->name);
    if (d->urgent == policy::UrgentOutcome::refused_connector) {
      out.urgent_refusal = "connector may not bypass";
    } else if (d->urgent == policy::UrgentOutcome::refused_category &&
               !d->urgent_refused_by.empty()) {
      out.urgent_refusal = "category not in the urgent list of " + d->urgent_refused_by +
                           ", another establishment of a recipient";
    } else if (d->urgent == policy::UrgentOutcome::refused_category) {
      out.urgent_refusal = "category not in the establishment's urgent list";
    }
    out.deliveries.push_back(std::move(nd));
  }
  return out;
}

std::string accepted_answer(const policy::Notification& n, const DecidedEvent& d,
                            std::span<const std::string> unknown) {
  json::object answer;
  answer["source"] = n.source;
  answer["id"] = n.id;
  json::array deliveries;
  for (const store::NewDelivery& nd : d.deliveries) {
    json::object o;
    o["recipient"] = nd.recipient;
    o["role"] = policy::to_string(nd.role);
    o["held"] = nd.state == store::DeliveryState::held;
    if (nd.release_at == policy::Instant::max()) {
      o["release_at"] = nullptr;
    } else {
      o["release_at"] = policy::format_rfc3339(nd.release_at, d.zone);
    }
    o["reason"] = nd.reason;
    deliveries.push_back(std::move(o));
  }
  answer["deliveries"] = std::move(deliveries);
  if (d.late_homework)
    answer["late_homework"] = true;
  if (!unknown.empty()) {
    json::array u;
    for (const std::string& id : unknown)
      u.emplace_back(id);
    answer["unknown_recipients"] = std::move(u);
  }
  return json::serialize(answer);
}

void warm_up(const config::Config& config, policy::Instant now) {
  std::vector<std::string> uais = config.policy->configured_uais();
  uais.push_back("0750654D");
  for (const auto& text : uais) {
    auto uai = policy::parse_uai(text);
    if (!uai)
      continue;
    policy::Notification n;
    n.establishment = uai->code;
    n.recipients.emplace_back().id = "warm-up";
    policy::decide_in(*config.policy, config.policy->find(*uai), n, now, false);
  }
}

}  // namespace treve::runtime
