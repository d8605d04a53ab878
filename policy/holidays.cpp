#include "policy/holidays.h"

#include <algorithm>
#include <array>
#include <optional>

namespace treve::policy {
namespace {

using date::days;
using date::sys_days;
using date::year_month_day;

struct MonthDay {
  unsigned month;
  unsigned day;
};

struct FixedHoliday {
  MonthDay when;
  HolidayKind kind;
};

// Fixed-date holidays observed everywhere in France.
constexpr std::array<FixedHoliday, 8> kNationalFixed = {{
    {{1, 1}, HolidayKind::new_year},
    {{5, 1}, HolidayKind::labour_day},
    {{5, 8}, HolidayKind::victory_1945},
    {{7, 14}, HolidayKind::bastille_day},
    {{8, 15}, HolidayKind::assumption},
    {{11, 1}, HolidayKind::all_saints},
    {{11, 11}, HolidayKind::armistice},
    {{12, 25}, HolidayKind::christmas},
}};

// Easter-relative holidays observed everywhere, as an offset in days from Easter Sunday.
struct EasterHoliday {
  int offset;
  HolidayKind kind;
};
constexpr std::array<EasterHoliday, 3> kNationalEaster = {{
    {1, HolidayKind::easter_monday},
    {39, HolidayKind::ascension},
    {50, HolidayKind::whit_monday},
}};

constexpr int kGoodFridayOffset = -2;

struct AbolitionDay {
  Region region;
  MonthDay when;
};

// Abolition-of-slavery days (loi n° 83-550 and décret n° 83-1003 as amended).
//
// Saint-Pierre-et-Miquelon, Wallis-et-Futuna, Polynésie française and Nouvelle-Calédonie get
// the national list only: their local days (e.g. Fête du Territoire, Fête de l'autonomie,
// Citoyenneté in Nouvelle-Calédonie) are set locally and are not built in; schools there list
// them in `closed`.
constexpr std::array<AbolitionDay, 7> kAbolitionDays = {{
    {Region::mayotte, {4, 27}},
    {Region::martinique, {5, 22}},
    {Region::guadeloupe, {5, 27}},
    {Region::saint_martin, {5, 28}},
    {Region::guyane, {6, 10}},
    {Region::saint_barthelemy, {10, 9}},
    {Region::reunion, {12, 20}},
}};

constexpr std::array<std::string_view, 14> kHolidayNames = {
    "Jour de l'an",       "Vendredi saint",
    "Lundi de Pâques",    "Fête du Travail",
    "Victoire 1945",      "Ascension",
    "Lundi de Pentecôte", "Fête nationale",
    "Assomption",         "Toussaint",
    "Armistice 1918",     "Noël",
    "Saint-Étienne",      "Abolition de l'esclavage",
};
static_assert(static_cast<std::size_t>(HolidayKind::slavery_abolition) + 1 == kHolidayNames.size());

year_month_day on(int year, MonthDay md) {
  return date::year{year} / date::month{md.month} / date::day{md.day};
}

year_month_day shifted(year_month_day from, int offset) {
  return year_month_day{sys_days{from} + days{offset}};
}

std::optional<MonthDay> abolition_day(Region region) {
  for (const auto& entry : kAbolitionDays) {
    if (entry.region == region)
      return entry.when;
  }
  return std::nullopt;
}

}  // namespace

// Anonymous Gregorian algorithm (Meeus/Jones/Butcher). All quantities are non-negative for
// Gregorian years, so C++ integer division and remainder behave as floor and mod.
year_month_day easter_sunday(int year) {
  const int golden = year % 19;        // position in the 19-year Metonic cycle, minus one
  const int century = year / 100;      // century number
  const int in_century = year % 100;   // year within the century
  const int leap_skips = century / 4;  // century years that stay leap years (every 4th)
  const int century_rem = century % 4;
  const int moon_shift = (century + 8) / 25;  // lunar correction of the Metonic cycle
  const int moon_corr = (century - moon_shift + 1) / 3;
  // Days from 21 March to the Paschal full moon (epact-like value).
  const int full_moon = (19 * golden + century - leap_skips - moon_corr + 15) % 30;
  const int quarter = in_century / 4;
  const int quarter_rem = in_century % 4;
  // Days from the Paschal full moon to the following Sunday.
  const int to_sunday = (32 + 2 * century_rem + 2 * quarter - full_moon - quarter_rem) % 7;
  // Corrects the two exceptional cases where the result would fall after 25 April.
  const int exception = (golden + 11 * full_moon + 22 * to_sunday) / 451;
  const int shifted_days = full_moon + to_sunday - 7 * exception + 114;
  const auto month = static_cast<unsigned>(shifted_days / 31);
  const auto day = static_cast<unsigned>(shifted_days % 31 + 1);
  return date::year{year} / date::month{month} / date::day{day};
}

std::vector<Holiday> public_holidays(int year, Region region) {
  std::vector<Holiday> out;
  out.reserve(kNationalFixed.size() + kNationalEaster.size() + 2);

  for (const auto& fixed : kNationalFixed) {
    out.push_back({on(year, fixed.when), fixed.kind});
  }

  const year_month_day easter = easter_sunday(year);
  for (const auto& relative : kNationalEaster) {
    out.push_back({shifted(easter, relative.offset), relative.kind});
  }

  if (region == Region::alsace_moselle) {
    out.push_back({shifted(easter, kGoodFridayOffset), HolidayKind::good_friday});
    out.push_back({on(year, {12, 26}), HolidayKind::st_stephen});
  }

  if (const auto when = abolition_day(region)) {
    out.push_back({on(year, *when), HolidayKind::slavery_abolition});
  }

  // Stable, so two holidays on one date keep a deterministic order (national first).
  std::ranges::stable_sort(out, {}, [](const Holiday& h) { return sys_days{h.date}; });
  return out;
}

std::string_view holiday_name(HolidayKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kHolidayNames.size() ? kHolidayNames[index] : std::string_view{"?"};
}

}  // namespace treve::policy
