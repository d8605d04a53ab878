#include "policy/decision.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "policy/rfc3339.h"

namespace treve::policy {
namespace {

DeliveryDecision from_release(std::size_t index, Instant received, const Release& r) {
  DeliveryDecision d;
  d.recipient = index;
  d.evaluated = r.evaluated;
  d.release_at = r.evaluated ? r.at : received;
  d.held = !r.evaluated || r.at > received;
  d.quiet = r.chain;
  return d;
}

std::string day_text(std::int32_t local_day) {
  date::local_days d{date::days{local_day}};
  date::year_month_day ymd{d};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %04d-%02u-%02u", weekday_label(date::weekday{d}).c_str(),
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string cause_text(const EstablishmentRules& rules, const QuietCause& c) {
  switch (c.kind) {
    case QuietCause::Kind::window:
      if (c.index < rules.windows.size()) {
        const QuietWindow& w = rules.windows[c.index];
        return w.name.empty() ? "quiet window " + window_label(w)
                              : "quiet window \"" + w.name + "\"";
      }
      return "quiet window";
    case QuietCause::Kind::holiday:
      return "public holiday " + std::string(holiday_name(c.holiday)) + " (" +
             day_text(c.local_day) + ")";
    case QuietCause::Kind::closed:
      if (c.index < rules.closed.size())
        return "closed " + rules.closed[c.index].label;
      return "closed day";
  }
  return {};
}

}  // namespace

std::string crisis_text(const EstablishmentRules& rules, std::int64_t id) {
  for (const Crisis& c : rules.crises) {
    if (c.id != id)
      continue;
    std::string out = "crisis " + std::to_string(c.id) + " (\"" + c.reason + "\", opened by " +
                      c.by + " at " + format_rfc3339(c.opened, rules.zone) + ", until " +
                      format_rfc3339(c.until, rules.zone) + ")";
    return out;
  }
  return "crisis " + std::to_string(id);
}

std::string describe_quiet(const EstablishmentRules& rules, const QuietChain& chain) {
  std::string out;
  for (std::size_t i = 0; i < chain.size; ++i) {
    if (i)
      out += ", then ";
    out += cause_text(rules, chain.causes[i]);
  }
  if (chain.total > chain.size) {
    out += ", and " + std::to_string(chain.total - chain.size) + " more";
  }
  return out;
}

std::vector<DeliveryDecision> decide(const EstablishmentPolicy& policy, const Notification& n,
                                     Instant received, bool connector_may_bypass,
                                     Sequencing sequencing) {
  const EstablishmentRules& rules = policy.rules();
  std::vector<DeliveryDecision> out(n.recipients.size());

  // A crisis covering the category, open at receipt: everyone at once.
  for (const Crisis& c : rules.crises) {
    if (!c.covers(n.category) || !c.open_at(received))
      continue;
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i].recipient = i;
      out[i].release_at = received;
      out[i].crisis = c.id;
    }
    return out;
  }

  UrgentOutcome urgent = UrgentOutcome::not_urgent;
  if (n.urgent) {
    if (!connector_may_bypass) {
      urgent = UrgentOutcome::refused_connector;
    } else if (!rules.is_urgent_category(n.category)) {
      urgent = UrgentOutcome::refused_category;
    } else {
      urgent = UrgentOutcome::bypassed;
    }
  }

  if (urgent == UrgentOutcome::bypassed) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i].recipient = i;
      out[i].release_at = received;
      out[i].urgent = urgent;
    }
    return out;
  }

  // Every recipient received at the same instant shares one schedule answer.
  std::optional<Release> own;
  auto own_release = [&]() -> const Release& {
    if (!own)
      own = policy.schedule(n.category).next_open(received);
    return *own;
  };

  const bool sequenced =
      n.category == Category::grade && sequencing == Sequencing::grades_follow_students;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (sequenced && n.recipients[i].role == Role::parent)
      continue;
    out[i] = from_release(i, received, own_release());
  }

  if (sequenced) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      const Recipient& parent = n.recipients[i];
      if (parent.role != Role::parent)
        continue;
      // The student release this parent waits for.
      const StudentRelease student = student_release_for(n, parent, out);
      std::optional<Instant> base;
      QuietChain base_chain;
      bool base_evaluated = student.evaluated;
      if (student.index) {
        base = out[*student.index].release_at;
        base_chain = out[*student.index].quiet;
      } else {
        // `of` names nobody in the event, or there is no student: count from the parent's
        // own release.
        const Release& r = own_release();
        base_evaluated = r.evaluated;
        base = r.evaluated ? r.at : received;
        base_chain = r.chain;
      }
      Instant earliest = std::max(received, *base + rules.parent_grade_delay);
      Release r =
          base_evaluated ? policy.schedule(n.category).next_open(earliest) : Release{false, {}, {}};
      DeliveryDecision d = from_release(i, received, r);
      if (r.evaluated) {
        d.release_at = r.at;
        d.held = r.at > received;
      }
      d.grade_delay = true;
      d.student_release = *base;
      d.delay = rules.parent_grade_delay;
      d.student_quiet = base_chain;
      out[i] = d;
    }
  }

  for (auto& d : out)
    d.urgent = urgent;
  return out;
}

StudentRelease student_release_for(const Notification& n, const Recipient& parent,
                                   const std::vector<DeliveryDecision>& decisions) {
  StudentRelease out;
  for (std::size_t j = 0; j < decisions.size() && j < n.recipients.size(); ++j) {
    const Recipient& s = n.recipients[j];
    if (s.role != Role::student || (parent.of && s.id != *parent.of))
      continue;
    out.evaluated = out.evaluated && decisions[j].evaluated;
    if (!out.index || decisions[j].release_at > decisions[*out.index].release_at)
      out.index = j;
  }
  return out;
}

std::string describe(const EstablishmentPolicy& policy, const DeliveryDecision& d,
                     std::string_view source) {
  const EstablishmentRules& rules = policy.rules();
  std::string connector =
      source.empty() ? std::string("this connector") : "connector " + std::string(source);
  if (d.crisis && !d.crisis_released_held)
    return crisis_text(rules, d.crisis) + ": delivered at once";
  if (d.urgent == UrgentOutcome::bypassed) {
    return "urgent: bypass allowed for " + connector;
  }
  std::string out;
  if (d.urgent == UrgentOutcome::refused_connector) {
    out = "urgent bypass refused (" + connector + " may not bypass); ";
  } else if (d.urgent == UrgentOutcome::refused_category) {
    out = "urgent bypass refused (category not in this establishment's urgent list); ";
  }
  if (!d.evaluated) {
    return out +
           "the policy could not be evaluated: held until an administrator corrects the "
           "configuration";
  }
  if (d.grade_delay) {
    out += "grade for a parent: " + format_duration(d.delay) + " after the student's release (" +
           format_rfc3339(d.student_release, policy.zone());
    if (d.student_quiet.size)
      out += ", held by " + describe_quiet(rules, d.student_quiet);
    out += ")";
    if (d.quiet.size)
      out += ", then " + describe_quiet(rules, d.quiet);
    return out;
  }
  if (d.quiet.size)
    return out + describe_quiet(rules, d.quiet);
  return out + "outside quiet windows and closed days";
}

}  // namespace treve::policy
