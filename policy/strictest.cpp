#include "policy/strictest.h"

#include <algorithm>
#include <exception>
#include <optional>

#include "policy/rfc3339.h"
#include "policy/uai.h"

namespace treve::policy {
namespace {

// Rounds of "first open instant under each policy in turn" before giving up. Each round that
// does not settle crosses at least one quiet interval of some policy; real calendars settle in
// two or three.
constexpr int kMaxRounds = 64;

struct Other {
  std::string_view uai;
  const EstablishmentPolicy* policy = nullptr;
};

// The recipient's other establishments, the event's own and repeats left out; nullopt when
// one cannot be resolved (not a UAI: the recipient then fails closed).
std::optional<std::vector<Other>> others_of(const PolicySet& policies, const Notification& n,
                                            const Recipient& r) {
  std::vector<Other> out;
  for (const std::string& code : r.establishments) {
    if (code == n.establishment)
      continue;
    if (std::any_of(out.begin(), out.end(), [&](const Other& o) { return o.uai == code; }))
      continue;
    auto u = parse_uai(code);
    if (!u)
      return std::nullopt;
    try {
      out.push_back({code, &policies.find(*u)});
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return out;
}

void merge(QuietChain& into, const QuietChain& from) {
  for (std::size_t i = 0; i < from.size; ++i)
    into.add(from.causes[i]);
  into.total += from.total - from.size;  // causes `from` counted but did not keep
}

struct Held {
  bool evaluated = true;
  Instant at;
  QuietChain primary;  // the event's establishment's causes
  std::vector<DeliveryDecision::Attached> attached;
};

// The first instant at or after `from` open under `primary` and every one of `others`: each
// policy's first open instant in turn, until none moves it. Every instant comes from
// Schedule::next_open.
Held open_under_all(const EstablishmentPolicy& primary, const std::vector<Other>& others,
                    Instant from) {
  Held h;
  h.at = from;
  const Instant limit = from + Schedule::kSearchLimit;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool moved = false;
    Release r = primary.schedule().next_open(h.at);
    if (!r.evaluated) {
      h.evaluated = false;
      return h;
    }
    if (r.at > h.at) {
      merge(h.primary, r.chain);
      h.at = r.at;
      moved = true;
    }
    for (const Other& o : others) {
      r = o.policy->schedule().next_open(h.at);
      if (!r.evaluated) {
        h.evaluated = false;
        return h;
      }
      if (r.at <= h.at)
        continue;
      auto it = std::find_if(h.attached.begin(), h.attached.end(),
                             [&](const DeliveryDecision::Attached& a) { return a.uai == o.uai; });
      if (it == h.attached.end())
        it = h.attached.insert(h.attached.end(), {std::string(o.uai), {}});
      merge(it->quiet, r.chain);
      h.at = r.at;
      moved = true;
    }
    if (!moved)
      return h;
    if (h.at > limit)
      break;
  }
  // The union of their quiet time does not open: fail closed.
  h.evaluated = false;
  return h;
}

void fail_closed(DeliveryDecision& d, Instant received) {
  d.evaluated = false;
  d.held = true;
  d.release_at = received;
  d.attached.clear();
}

void apply(DeliveryDecision& d, const Held& h, Instant received) {
  if (!h.evaluated) {
    fail_closed(d, received);
    return;
  }
  merge(d.quiet, h.primary);
  d.attached = h.attached;
  d.release_at = h.at;
  d.held = h.at > received;
}

}  // namespace

std::vector<DeliveryDecision> decide_in(const PolicySet& policies,
                                        const EstablishmentPolicy& primary, const Notification& n,
                                        Instant received, bool connector_may_bypass) {
  // The event's establishment decides first.
  std::vector<DeliveryDecision> out = decide(primary, n, received, connector_may_bypass);
  if (std::none_of(n.recipients.begin(), n.recipients.end(),
                   [](const Recipient& r) { return !r.establishments.empty(); })) {
    return out;
  }

  std::vector<std::optional<std::vector<Other>>> others(n.recipients.size());
  for (std::size_t i = 0; i < n.recipients.size(); ++i)
    others[i] = others_of(policies, n, n.recipients[i]);

  // An urgent bypass needs the category in every one of the recipient's urgent lists; refused,
  // the recipient is decided as for a notification that is not urgent.
  std::optional<std::vector<DeliveryDecision>> not_urgent;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].urgent != UrgentOutcome::bypassed || !others[i])
      continue;
    for (const Other& o : *others[i]) {
      if (o.policy->rules().is_urgent_category(n.category))
        continue;
      if (!not_urgent) {
        Notification plain = n;
        plain.urgent = false;
        not_urgent = decide(primary, plain, received, connector_may_bypass);
      }
      out[i] = (*not_urgent)[i];
      out[i].urgent = UrgentOutcome::refused_category;
      out[i].urgent_refused_by = std::string(o.uai);
      break;
    }
  }

  // Every recipient but a parent's grade: pushed until open under all its establishments.
  for (std::size_t i = 0; i < out.size(); ++i) {
    DeliveryDecision& d = out[i];
    if (d.grade_delay || d.urgent == UrgentOutcome::bypassed)
      continue;
    if (!others[i]) {
      fail_closed(d, received);
      continue;
    }
    if (others[i]->empty() || !d.evaluated)
      continue;
    apply(d, open_under_all(primary, *others[i], d.release_at), received);
  }

  // A parent's grade: its student's release as held above, plus the delay, then open under
  // all the parent's establishments (decide()'s rule, with the students' releases it now has).
  for (std::size_t i = 0; i < out.size(); ++i) {
    DeliveryDecision& d = out[i];
    if (!d.grade_delay)
      continue;
    const Recipient& parent = n.recipients[i];
    const StudentRelease student = student_release_for(n, parent, out);
    std::optional<Instant> base;
    QuietChain base_chain;
    bool base_evaluated = student.evaluated;
    bool base_attached = false;
    if (student.index) {
      base = out[*student.index].release_at;
      base_chain = out[*student.index].quiet;
      base_attached = !out[*student.index].attached.empty();
    } else {
      // No student: the delay counts from the parent's own release.
      if (!others[i]) {
        fail_closed(d, received);
        continue;
      }
      Held own = open_under_all(primary, *others[i], received);
      base_evaluated = own.evaluated;
      base = own.evaluated ? own.at : received;
      base_chain = own.primary;
      base_attached = !own.attached.empty();
    }
    d.student_release = *base;
    d.student_quiet = base_chain;
    d.student_attached = base_attached;
    d.quiet = {};
    d.attached.clear();
    if (!base_evaluated || !others[i]) {
      fail_closed(d, received);
      continue;
    }
    d.evaluated = true;
    const Instant earliest = std::max(received, *base + d.delay);
    apply(d, open_under_all(primary, *others[i], earliest), received);
  }
  return out;
}

std::string describe_in(const PolicySet& policies, const EstablishmentPolicy& primary,
                        const DeliveryDecision& d, std::string_view source) {
  if (d.attached.empty() && d.urgent_refused_by.empty() && !d.student_attached)
    return describe(primary, d, source);

  std::string out;
  DeliveryDecision own = d;
  if (!d.urgent_refused_by.empty()) {
    out = "urgent bypass refused (category not in the urgent list of " + d.urgent_refused_by +
          ", another establishment of this recipient); ";
    own.urgent = UrgentOutcome::not_urgent;
  }
  if (!d.evaluated)
    return out + describe(primary, own, source);

  // describe()'s words when the event's establishment did not hold it.
  static constexpr std::string_view kOpen = "outside quiet windows and closed days";
  if (d.grade_delay && d.student_attached) {
    const EstablishmentRules& rules = primary.rules();
    DeliveryDecision refusal = own;  // the urgent refusal's words, if any, as describe() has them
    refusal.grade_delay = false;
    refusal.quiet = {};
    std::string text = describe(primary, refusal, source);
    if (text.ends_with(kOpen))
      out += text.substr(0, text.size() - kOpen.size());
    out += "grade for a parent: " + format_duration(d.delay) + " after the student's release (" +
           format_rfc3339(d.student_release, primary.zone()) + ", held by ";
    if (d.student_quiet.size)
      out += describe_quiet(rules, d.student_quiet) + " and ";
    out += "by the student's other establishments)";
    if (d.quiet.size)
      out += ", then " + describe_quiet(rules, d.quiet);
  } else if (!d.grade_delay && !d.quiet.size) {
    // Open at the event's establishment: only the others held it.
    std::string text = describe(primary, own, source);
    if (text.ends_with(kOpen)) {
      text.replace(text.size() - kOpen.size(), kOpen.size(),
                   "outside the event's establishment's quiet windows and closed days");
    }
    out += text;
  } else {
    out += describe(primary, own, source);
  }

  for (const auto& a : d.attached) {
    out += "; also attached to " + a.uai + ": ";
    auto u = parse_uai(a.uai);
    out += u ? describe_quiet(policies.find(*u).rules(), a.quiet) : std::string("quiet time");
  }
  out += " (the strictest of the recipient's establishments' policies applies)";
  return out;
}

}  // namespace treve::policy
