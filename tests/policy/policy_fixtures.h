// Helpers shared by the policy tests: building policy sets, instants, windows, closed days and
// notifications, and turning answers into RFC 3339 strings so failures read like the rules.
#pragma once

#include <array>
#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "policy/decision.h"
#include "policy/establishment_rules.h"
#include "policy/notification.h"
#include "policy/policy_set.h"
#include "policy/quiet_window.h"
#include "policy/rfc3339.h"
#include "policy/schedule.h"
#include "policy/uai.h"

namespace treve::policy::fixtures {

using namespace std::chrono_literals;

// The UAIs the tests use (control letters checked by parse_uai).
inline constexpr std::string_view kParis = "0750654D";
inline constexpr std::string_view kDoubs = "0250001R";
inline constexpr std::string_view kMoselle = "0570001S";
inline constexpr std::string_view kBasRhin = "0670001M";
inline constexpr std::string_view kGuadeloupe = "9710001Z";
inline constexpr std::string_view kMartinique = "9720001U";
inline constexpr std::string_view kGuyane = "9730001N";
inline constexpr std::string_view kReunion = "9740001H";
inline constexpr std::string_view kMiquelon = "9750001C";
inline constexpr std::string_view kMayotte = "9760001X";
inline constexpr std::string_view kTahiti = "9870001M";
inline constexpr std::string_view kNoumea = "9880001G";

// Each region's default time zone, as the daemon builds it.
inline std::array<const date::time_zone*, kRegionCount> region_zones() {
  std::array<const date::time_zone*, kRegionCount> zones{};
  for (std::size_t r = 0; r < kRegionCount; ++r) {
    zones[r] = date::locate_zone(std::string(default_timezone(static_cast<Region>(r))));
  }
  return zones;
}

inline const date::time_zone* zone(std::string_view name) {
  return date::locate_zone(std::string(name));
}

// An instant written in RFC 3339. A typo in a test throws, which GoogleTest reports.
inline Instant at(std::string_view text) {
  auto t = parse_rfc3339(text);
  if (!t)
    throw std::invalid_argument("bad instant in test \"" + std::string(text) + "\": " + t.error());
  return *t;
}

inline Uai uai(std::string_view code) {
  auto u = parse_uai(code);
  if (!u)
    throw std::invalid_argument("bad UAI in test: " + u.error());
  return *u;
}

inline LocalDate day(int y, unsigned m, unsigned d) {
  return LocalDate{date::year{y} / date::month{m} / date::day{d}};
}

inline std::string iso_day(LocalDate d) {
  return date::format("%F", d);
}

// A weekly window starting on `days` at `start`, ending at `end` (next day when end <= start),
// or on `end_day` when given.
inline QuietWindow window(std::initializer_list<date::weekday> days, std::chrono::minutes start,
                          std::chrono::minutes end,
                          std::optional<date::weekday> end_day = std::nullopt,
                          std::string name = {}) {
  QuietWindow w;
  for (date::weekday wd : days)
    w.days |= static_cast<std::uint8_t>(1u << wd.c_encoding());
  w.start = start;
  w.end = end;
  w.end_day = end_day;
  w.name = std::move(name);
  return w;
}

// Closed whole days, first..last inclusive; the label defaults to "first..last".
inline ClosedDays closed(LocalDate first, LocalDate last, std::string label = {}) {
  if (label.empty())
    label = iso_day(first) + ".." + iso_day(last);
  return ClosedDays{first, last, std::move(label)};
}

// Rules of a configured establishment: UAI, region and zone taken from the UAI, everything
// else at its default (default windows, public holidays, 24h grade delay, urgent = alert).
inline EstablishmentRules establishment(std::string_view code) {
  Uai u = uai(code);
  EstablishmentRules r;
  r.uai = u.code;
  r.region = u.region;
  r.zone = zone(default_timezone(u.region));
  return r;
}

// A policy set, and shortcuts to ask it questions with strings.
class Policies {
 public:
  explicit Policies(std::vector<EstablishmentRules> configured = {},
                    EstablishmentRules defaults = {}, Horizon horizon = {},
                    std::vector<Crisis> crises = {})
      : set_(std::make_unique<PolicySet>(std::move(defaults), std::move(configured), region_zones(),
                                         horizon, std::move(crises))) {}

  const PolicySet& set() const { return *set_; }
  const EstablishmentPolicy& operator[](std::string_view code) const {
    return set_->find(uai(code));
  }

  // The first open instant at or after `received`, in the establishment's zone, or
  // "not evaluated" when the schedule fails closed.
  std::string release(std::string_view code, Instant received) const {
    const EstablishmentPolicy& p = (*this)[code];
    Release r = p.schedule().next_open(received);
    if (!r.evaluated)
      return "not evaluated";
    return format_rfc3339(r.at, p.zone());
  }
  std::string release(std::string_view code, std::string_view received) const {
    return release(code, at(received));
  }

 private:
  std::unique_ptr<PolicySet> set_;
};

// -- notifications ----------------------------------------------------------------------------

inline Recipient student(std::string id) {
  return Recipient{std::move(id), Role::student, {}, {}, nullptr};
}
inline Recipient parent(std::string id, std::optional<std::string> of = std::nullopt) {
  return Recipient{std::move(id), Role::parent, std::move(of), {}, nullptr};
}
inline Recipient staff(std::string id) {
  return Recipient{std::move(id), Role::staff, {}, {}, nullptr};
}

inline Notification notification(Category category, std::vector<Recipient> recipients,
                                 bool urgent = false, std::string_view establishment = kParis) {
  Notification n;
  n.source = "pronote";
  n.id = "evt-1";
  n.establishment = std::string(establishment);
  n.category = category;
  n.urgent = urgent;
  n.recipients = std::move(recipients);
  return n;
}

// A decision's release in the policy's zone ("not evaluated" when it failed closed).
inline std::string release_text(const EstablishmentPolicy& p, const DeliveryDecision& d) {
  if (!d.evaluated)
    return "not evaluated";
  return format_rfc3339(d.release_at, p.zone());
}

}  // namespace treve::policy::fixtures
