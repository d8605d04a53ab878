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
  QuietChain personal;  // the recipient's own hours' causes
};

// Whom a recipient's release must be open for, besides the event's establishment.
struct Constraints {
  std::vector<Other> others;
  const PersonalHours* personal = nullptr;
  bool empty() const { return others.empty() && !personal; }
};

// The first instant at or after `from` open under `primary` and every one of the constraints:
// each policy's first open instant in turn, then the personal hours', until none moves it.
// Every instant comes from Schedule::next_open, for the notification's category.
Held open_under_all(const EstablishmentPolicy& primary, Category category, const Constraints& to,
                    Instant from) {
  const std::vector<Other>& others = to.others;
  Held h;
  h.at = from;
  const Instant limit = from + Schedule::kSearchLimit;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool moved = false;
    Release r = primary.schedule(category).next_open(h.at);
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
      r = o.policy->schedule(category).next_open(h.at);
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
    if (to.personal) {
      r = to.personal->next_open(primary.zone(), h.at);
      if (!r.evaluated) {
        h.evaluated = false;
        return h;
      }
      if (r.at > h.at) {
        merge(h.personal, r.chain);
        h.at = r.at;
        moved = true;
      }
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

// open_under_all; when the recipient's own hours leave no open instant together with the
// establishments' policies (their union covers the whole week), the hours are set aside for
// this delivery rather than holding it forever.
Held open_for(const EstablishmentPolicy& primary, Category category, const Constraints& to,
              Instant from, bool& personal_set_aside) {
  Held h = open_under_all(primary, category, to, from);
  if (!h.evaluated && to.personal) {
    Held without = open_under_all(primary, category, Constraints{to.others, nullptr}, from);
    if (without.evaluated) {
      personal_set_aside = true;
      return without;
    }
  }
  return h;
}

void fail_closed(DeliveryDecision& d, Instant received) {
  d.evaluated = false;
  d.held = true;
  d.release_at = received;
  d.attached.clear();
  d.personal = {};
}

void apply(DeliveryDecision& d, const Held& h, Instant received) {
  if (!h.evaluated) {
    fail_closed(d, received);
    return;
  }
  merge(d.quiet, h.primary);
  d.attached = h.attached;
  d.personal = h.personal;
  d.release_at = h.at;
  d.held = h.at > received;
}

// A crisis opened with `release_held` releases, at its opening, what was received before it
// and held past it (in the categories it covers).
void release_at_crises(const EstablishmentRules& rules, const Notification& n, Instant received,
                       std::vector<DeliveryDecision>& out) {
  for (DeliveryDecision& d : out) {
    if (d.crisis || !d.evaluated || !d.held)
      continue;
    for (const Crisis& c : rules.crises) {
      if (!c.release_held || !c.covers(n.category) || c.opened <= received ||
          c.opened >= d.release_at) {
        continue;
      }
      d.release_at = c.opened;
      d.crisis = c.id;
      d.crisis_released_held = true;
    }
  }
}

// late_homework on every recipient when a student (any recipient, with no student) may only
// receive the homework less than homework_notice before it is due.
void mark_late_homework(const EstablishmentRules& rules, const Notification& n,
                        std::vector<DeliveryDecision>& out) {
  if (n.category != Category::homework || !n.due_at)
    return;
  const bool any_student = std::any_of(n.recipients.begin(), n.recipients.end(),
                                       [](const Recipient& r) { return r.role == Role::student; });
  bool late = false;
  for (std::size_t i = 0; i < out.size() && i < n.recipients.size(); ++i) {
    if (any_student && n.recipients[i].role != Role::student)
      continue;
    if (out[i].evaluated && *n.due_at - out[i].release_at < rules.homework_notice)
      late = true;
  }
  for (DeliveryDecision& d : out)
    d.late_homework = late;
}

void held_under_all(const PolicySet& policies, const EstablishmentPolicy& primary,
                    const Notification& n, Instant received, bool connector_may_bypass,
                    Sequencing sequencing, std::vector<DeliveryDecision>& out);

}  // namespace

std::vector<DeliveryDecision> decide_in(const PolicySet& policies,
                                        const EstablishmentPolicy& primary, const Notification& n,
                                        Instant received, bool connector_may_bypass,
                                        Sequencing sequencing) {
  // The event's establishment decides first (a parent's grade is sequenced only there: the
  // grade_delay it sets is what held_under_all follows).
  std::vector<DeliveryDecision> out =
      decide(primary, n, received, connector_may_bypass, sequencing);
  if (std::any_of(n.recipients.begin(), n.recipients.end(),
                  [](const Recipient& r) { return !r.establishments.empty() || r.personal; })) {
    held_under_all(policies, primary, n, received, connector_may_bypass, sequencing, out);
  }
  release_at_crises(primary.rules(), n, received, out);
  mark_late_homework(primary.rules(), n, out);
  return out;
}

namespace {

// decide_in for recipients attached to other establishments or with personal hours: `out`
// holds decide()'s answer for the event's establishment.
void held_under_all(const PolicySet& policies, const EstablishmentPolicy& primary,
                    const Notification& n, Instant received, bool connector_may_bypass,
                    Sequencing sequencing, std::vector<DeliveryDecision>& out) {
  std::vector<std::optional<Constraints>> others(n.recipients.size());
  for (std::size_t i = 0; i < n.recipients.size(); ++i) {
    if (auto o = others_of(policies, n, n.recipients[i]))
      others[i] = Constraints{std::move(*o), n.recipients[i].personal.get()};
  }

  // An urgent bypass needs the category in every one of the recipient's urgent lists; refused,
  // the recipient is decided as for a notification that is not urgent.
  std::optional<std::vector<DeliveryDecision>> not_urgent;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].urgent != UrgentOutcome::bypassed || !others[i])
      continue;
    for (const Other& o : others[i]->others) {
      if (o.policy->rules().is_urgent_category(n.category))
        continue;
      if (!not_urgent) {
        Notification plain = n;
        plain.urgent = false;
        not_urgent = decide(primary, plain, received, connector_may_bypass, sequencing);
      }
      out[i] = (*not_urgent)[i];
      out[i].urgent = UrgentOutcome::refused_category;
      out[i].urgent_refused_by = std::string(o.uai);
      break;
    }
  }

  for (std::size_t i = 0; i < out.size(); ++i)
    out[i].personal_hours = n.recipients[i].personal;

  // Every recipient but a parent's grade: pushed until open under all its establishments and
  // its own hours.
  for (std::size_t i = 0; i < out.size(); ++i) {
    DeliveryDecision& d = out[i];
    if (d.grade_delay || d.urgent == UrgentOutcome::bypassed || d.crisis)
      continue;
    if (!others[i]) {
      fail_closed(d, received);
      continue;
    }
    if (others[i]->empty() || !d.evaluated)
      continue;
    apply(d, open_for(primary, n.category, *others[i], d.release_at, d.personal_set_aside),
          received);
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
      Held own = open_for(primary, n.category, *others[i], received, d.personal_set_aside);
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
    apply(d, open_for(primary, n.category, *others[i], earliest, d.personal_set_aside), received);
  }
}

}  // namespace

namespace {

// describe_in's words for the establishments' part of the decision.
std::string describe_establishments(const PolicySet& policies, const EstablishmentPolicy& primary,
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

}  // namespace

std::string describe_in(const PolicySet& policies, const EstablishmentPolicy& primary,
                        const DeliveryDecision& d, std::string_view source) {
  std::string out = describe_establishments(policies, primary, d, source);
  if (d.personal.size && d.personal_hours) {
    out += "; held by the recipient's " + describe_personal(*d.personal_hours, d.personal) +
           " (a recipient's own hours only ever hold longer)";
  }
  if (d.personal_set_aside) {
    out +=
        "; the recipient's personal quiet hours were set aside: with the establishment's "
        "they leave no time open";
  }
  if (d.crisis_released_held)
    out += "; released at the opening of " + crisis_text(primary.rules(), d.crisis);
  if (d.late_homework) {
    out += "; late homework: its students receive it less than " +
           format_duration(primary.rules().homework_notice) + " before it is due";
  }
  return out;
}

}  // namespace treve::policy
