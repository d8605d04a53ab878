// Built-in French public holidays (the `fr-public` set), by year and region.
//
// National days apply everywhere; Good Friday and 26 December apply in Alsace-Moselle; each
// overseas territory adds its abolition-of-slavery day. Pure computation, no I/O.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <date/date.h>

#include "policy/uai.h"

namespace treve::policy {

enum class HolidayKind : std::uint8_t {
  new_year,           // 1 January, Jour de l'an
  good_friday,        // Vendredi saint (Alsace-Moselle only)
  easter_monday,      // Lundi de Pâques
  labour_day,         // 1 May, Fête du Travail
  victory_1945,       // 8 May, Victoire 1945
  ascension,          // Easter + 39 days
  whit_monday,        // Easter + 50 days, Lundi de Pentecôte
  bastille_day,       // 14 July, Fête nationale
  assumption,         // 15 August, Assomption
  all_saints,         // 1 November, Toussaint
  armistice,          // 11 November, Armistice 1918
  christmas,          // 25 December, Noël
  st_stephen,         // 26 December, Saint-Étienne (Alsace-Moselle only)
  slavery_abolition,  // the territory's own date (see holidays.cpp)
};

struct Holiday {
  date::year_month_day date;
  HolidayKind kind;
};

// Easter Sunday of a Gregorian year (computed, valid for 1583..9999).
date::year_month_day easter_sunday(int year);

// The `fr-public` holidays of `year` that apply in `region`, sorted by date. Two holidays on the
// same date (possible only in principle) are both listed.
std::vector<Holiday> public_holidays(int year, Region region);

// The French name of a holiday ("Noël", "Lundi de Pâques", "Abolition de l'esclavage").
std::string_view holiday_name(HolidayKind kind);

}  // namespace treve::policy
