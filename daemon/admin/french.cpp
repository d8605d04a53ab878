#include "daemon/admin/french.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

#include "policy/holidays.h"
#include "policy/quiet_window.h"
#include "policy/zone_time.h"

namespace treve::admin {
namespace {

constexpr std::array<const char*, 7> kDays = {"dimanche", "lundi",    "mardi", "mercredi",
                                              "jeudi",    "vendredi", "samedi"};
constexpr std::array<const char*, 12> kMonths = {"janvier",   "février", "mars",     "avril",
                                                 "mai",       "juin",    "juillet",  "août",
                                                 "septembre", "octobre", "novembre", "décembre"};

// "Un message", "Une note", … : the subject of the preview's sentence.
std::pair<const char*, bool> noun(policy::Category c) {  // (noun, feminine)
  switch (c) {
    case policy::Category::message:
      return {"Un message", false};
    case policy::Category::grade:
      return {"Une note", true};
    case policy::Category::homework:
      return {"Un devoir", false};
    case policy::Category::blog:
      return {"Un billet de blog", false};
    case policy::Category::news:
      return {"Une actualité", true};
    case policy::Category::schedule:
      return {"Un changement d'emploi du temps", false};
    case policy::Category::absence:
      return {"Une absence", true};
    case policy::Category::alert:
      return {"Une alerte", true};
    case policy::Category::other:
      break;
  }
  return {"Une notification", true};
}

}  // namespace

std::string french_instant(policy::Instant t, const date::time_zone* zone, policy::Instant now) {
  const auto local = policy::zone_time::to_local(zone, t);
  const auto day = date::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss hms{date::floor<std::chrono::minutes>(local - day)};
  const date::year_month_day now_ymd{
      date::floor<date::days>(policy::zone_time::to_local(zone, now))};
  char buf[96];
  const unsigned d = static_cast<unsigned>(ymd.day());
  std::string text = std::string(kDays[date::weekday{day}.c_encoding()]) + " " +
                     (d == 1 ? std::string("1er") : std::to_string(d)) + " " +
                     kMonths[static_cast<unsigned>(ymd.month()) - 1];
  if (ymd.year() != now_ymd.year())
    text += " " + std::to_string(static_cast<int>(ymd.year()));
  std::snprintf(buf, sizeof buf, " à %02d:%02d", static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()));
  return text + buf;
}

namespace {

std::string cause_text(const policy::EstablishmentRules& rules, const policy::QuietCause& c) {
  switch (c.kind) {
    case policy::QuietCause::Kind::window: {
      if (c.index >= rules.windows.size())
        return "fenêtre de trêve";
      const policy::QuietWindow& w = rules.windows[c.index];
      if (!w.name.empty())
        return "fenêtre « " + w.name + " »";
      // A window that spans a Saturday or a Sunday is the weekend's; others are evenings.
      for (unsigned wd = 0; wd < 7; ++wd) {
        const date::weekday start{wd};
        if (!w.starts_on(start))
          continue;
        const int span = w.span_days(start);
        for (int k = 0; k <= span; ++k) {
          const unsigned covered = (wd + static_cast<unsigned>(k)) % 7;
          if ((covered == 0 || covered == 6) && (span >= 2 || k == 0))
            return "fenêtre du week-end";
        }
      }
      return "fenêtre du soir";
    }
    case policy::QuietCause::Kind::holiday:
      return "jour férié : " + std::string(policy::holiday_name(c.holiday));
    case policy::QuietCause::Kind::closed:
      if (c.index < rules.closed.size())
        return "fermeture " + rules.closed[c.index].label;
      return "fermeture";
  }
  return {};
}

}  // namespace

std::string french_cause(const policy::EstablishmentRules& rules, const policy::QuietChain& chain) {
  if (chain.size == 0)
    return {};
  return cause_text(rules, chain.causes[chain.size - 1]);
}

std::string french_causes(const policy::EstablishmentRules& rules,
                          const policy::QuietChain& chain) {
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < chain.size; ++i) {
    std::string t = cause_text(rules, chain.causes[i]);
    if (std::find(texts.begin(), texts.end(), t) == texts.end())
      texts.push_back(std::move(t));
  }
  std::string out;
  for (const auto& t : texts)
    out += (out.empty() ? "" : ", ") + t;
  if (chain.total > chain.size)
    out += ", …";
  return out;
}

std::string french_summary(const policy::EstablishmentPolicy& policy,
                           const policy::DeliveryDecision& d, policy::Category category,
                           policy::Instant at, policy::Instant now) {
  const auto [subject, feminine] = noun(category);
  std::string out = std::string(subject) + (feminine ? " envoyée " : " envoyé ");
  out += at == now ? "maintenant" : "le " + french_instant(at, policy.zone(), now);
  out += " serait ";
  out += feminine ? "remise " : "remis ";
  if (!d.evaluated)
    return out + "plus tard : la politique ne peut pas être évaluée (retenue par sécurité)";
  if (!d.held && d.crisis) {
    for (const policy::Crisis& c : policy.rules().crises) {
      if (c.id == d.crisis)
        return out + "aussitôt (mode crise : « " + c.reason + " »)";
    }
    return out + "aussitôt (mode crise)";
  }
  if (!d.held)
    return out + "aussitôt";
  out += french_instant(d.release_at, policy.zone(), now);
  std::string cause = french_cause(policy.rules(), d.quiet);
  if (d.grade_delay && cause.empty())
    cause = "délai des notes pour les parents";
  if (!cause.empty())
    out += " (" + cause + ")";
  return out;
}

}  // namespace treve::admin
