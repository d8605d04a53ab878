#include "policy/holidays.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace treve::policy {
namespace {

using date::year_month_day;
using K = HolidayKind;

constexpr std::array kAllRegions = {
    Region::metropole,          Region::alsace_moselle, Region::guadeloupe,
    Region::martinique,         Region::guyane,         Region::reunion,
    Region::saint_pierre,       Region::mayotte,        Region::saint_barthelemy,
    Region::saint_martin,       Region::wallis_futuna,  Region::polynesie,
    Region::nouvelle_caledonie,
};

year_month_day ymd(int y, unsigned m, unsigned d) {
  return date::year{y} / date::month{m} / date::day{d};
}

// A holiday as text ("2026-04-06 Lundi de Pâques"), so mismatches print readably.
std::string describe(const Holiday& h) {
  return date::format("%F", date::sys_days{h.date}) + " " + std::string(holiday_name(h.kind));
}

std::vector<std::string> describe(const std::vector<Holiday>& holidays) {
  std::vector<std::string> out;
  for (const auto& h : holidays)
    out.push_back(describe(h));
  return out;
}

std::vector<Holiday> with(std::vector<Holiday> base, std::vector<Holiday> extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  std::ranges::stable_sort(base, {}, [](const Holiday& h) { return date::sys_days{h.date}; });
  return base;
}

// ---------------------------------------------------------------------------------------------
// Easter

TEST(Easter, FallsOnTheKnownDatesFrom2026To2030) {
  EXPECT_EQ(easter_sunday(2026), ymd(2026, 4, 5));
  EXPECT_EQ(easter_sunday(2027), ymd(2027, 3, 28));
  EXPECT_EQ(easter_sunday(2028), ymd(2028, 4, 16));
  EXPECT_EQ(easter_sunday(2029), ymd(2029, 4, 1));
  EXPECT_EQ(easter_sunday(2030), ymd(2030, 4, 21));
}

TEST(Easter, FallsOnTheKnownDatesOfFarYears) {
  EXPECT_EQ(easter_sunday(1583), ymd(1583, 4, 10));  // first full Gregorian year
  EXPECT_EQ(easter_sunday(1818), ymd(1818, 3, 22));  // earliest possible date
  EXPECT_EQ(easter_sunday(1943), ymd(1943, 4, 25));  // latest possible date
  EXPECT_EQ(easter_sunday(1961), ymd(1961, 4, 2));
  EXPECT_EQ(easter_sunday(2000), ymd(2000, 4, 23));
  EXPECT_EQ(easter_sunday(2008), ymd(2008, 3, 23));
  EXPECT_EQ(easter_sunday(2011), ymd(2011, 4, 24));
  EXPECT_EQ(easter_sunday(2019), ymd(2019, 4, 21));
  EXPECT_EQ(easter_sunday(2024), ymd(2024, 3, 31));
  EXPECT_EQ(easter_sunday(2025), ymd(2025, 4, 20));
  EXPECT_EQ(easter_sunday(2038), ymd(2038, 4, 25));
  EXPECT_EQ(easter_sunday(2285), ymd(2285, 3, 22));
  EXPECT_EQ(easter_sunday(9999), ymd(9999, 3, 28));
}

TEST(Easter, IsAlwaysASundayBetween22MarchAnd25April) {
  for (int y = 1583; y <= 9999; ++y) {
    const year_month_day easter = easter_sunday(y);
    ASSERT_TRUE(easter.ok()) << y;
    ASSERT_EQ(date::weekday{date::sys_days{easter}}, date::Sunday) << y;
    ASSERT_GE(easter, ymd(y, 3, 22)) << y;
    ASSERT_LE(easter, ymd(y, 4, 25)) << y;
  }
}

// ---------------------------------------------------------------------------------------------
// Metropole, every built-in day, by hand from the Easter dates above.

std::vector<Holiday> metropole_2026() {
  return {{ymd(2026, 1, 1), K::new_year},      {ymd(2026, 4, 6), K::easter_monday},
          {ymd(2026, 5, 1), K::labour_day},    {ymd(2026, 5, 8), K::victory_1945},
          {ymd(2026, 5, 14), K::ascension},    {ymd(2026, 5, 25), K::whit_monday},
          {ymd(2026, 7, 14), K::bastille_day}, {ymd(2026, 8, 15), K::assumption},
          {ymd(2026, 11, 1), K::all_saints},   {ymd(2026, 11, 11), K::armistice},
          {ymd(2026, 12, 25), K::christmas}};
}

std::vector<Holiday> metropole_2027() {
  return {{ymd(2027, 1, 1), K::new_year},      {ymd(2027, 3, 29), K::easter_monday},
          {ymd(2027, 5, 1), K::labour_day},    {ymd(2027, 5, 6), K::ascension},
          {ymd(2027, 5, 8), K::victory_1945},  {ymd(2027, 5, 17), K::whit_monday},
          {ymd(2027, 7, 14), K::bastille_day}, {ymd(2027, 8, 15), K::assumption},
          {ymd(2027, 11, 1), K::all_saints},   {ymd(2027, 11, 11), K::armistice},
          {ymd(2027, 12, 25), K::christmas}};
}

std::vector<Holiday> metropole_2028() {
  return {{ymd(2028, 1, 1), K::new_year},      {ymd(2028, 4, 17), K::easter_monday},
          {ymd(2028, 5, 1), K::labour_day},    {ymd(2028, 5, 8), K::victory_1945},
          {ymd(2028, 5, 25), K::ascension},    {ymd(2028, 6, 5), K::whit_monday},
          {ymd(2028, 7, 14), K::bastille_day}, {ymd(2028, 8, 15), K::assumption},
          {ymd(2028, 11, 1), K::all_saints},   {ymd(2028, 11, 11), K::armistice},
          {ymd(2028, 12, 25), K::christmas}};
}

std::vector<Holiday> metropole_2029() {
  return {{ymd(2029, 1, 1), K::new_year},      {ymd(2029, 4, 2), K::easter_monday},
          {ymd(2029, 5, 1), K::labour_day},    {ymd(2029, 5, 8), K::victory_1945},
          {ymd(2029, 5, 10), K::ascension},    {ymd(2029, 5, 21), K::whit_monday},
          {ymd(2029, 7, 14), K::bastille_day}, {ymd(2029, 8, 15), K::assumption},
          {ymd(2029, 11, 1), K::all_saints},   {ymd(2029, 11, 11), K::armistice},
          {ymd(2029, 12, 25), K::christmas}};
}

std::vector<Holiday> metropole_2030() {
  return {{ymd(2030, 1, 1), K::new_year},      {ymd(2030, 4, 22), K::easter_monday},
          {ymd(2030, 5, 1), K::labour_day},    {ymd(2030, 5, 8), K::victory_1945},
          {ymd(2030, 5, 30), K::ascension},    {ymd(2030, 6, 10), K::whit_monday},
          {ymd(2030, 7, 14), K::bastille_day}, {ymd(2030, 8, 15), K::assumption},
          {ymd(2030, 11, 1), K::all_saints},   {ymd(2030, 11, 11), K::armistice},
          {ymd(2030, 12, 25), K::christmas}};
}

TEST(PublicHolidays, MetropoleHasExactlyTheElevenNationalDaysIn2026) {
  EXPECT_EQ(describe(public_holidays(2026, Region::metropole)), describe(metropole_2026()));
}

TEST(PublicHolidays, MetropoleHasExactlyTheElevenNationalDaysIn2027) {
  EXPECT_EQ(describe(public_holidays(2027, Region::metropole)), describe(metropole_2027()));
}

TEST(PublicHolidays, MetropoleHasExactlyTheElevenNationalDaysIn2028) {
  EXPECT_EQ(describe(public_holidays(2028, Region::metropole)), describe(metropole_2028()));
}

TEST(PublicHolidays, MetropoleHasExactlyTheElevenNationalDaysIn2029) {
  EXPECT_EQ(describe(public_holidays(2029, Region::metropole)), describe(metropole_2029()));
}

TEST(PublicHolidays, MetropoleHasExactlyTheElevenNationalDaysIn2030) {
  EXPECT_EQ(describe(public_holidays(2030, Region::metropole)), describe(metropole_2030()));
}

TEST(PublicHolidays, EasterBasedDaysFallOnTheRightWeekdays) {
  for (int y = 1583; y <= 9999; ++y) {
    for (const auto& h : public_holidays(y, Region::alsace_moselle)) {
      const date::weekday wd{date::sys_days{h.date}};
      switch (h.kind) {
        case K::good_friday:
          ASSERT_EQ(wd, date::Friday) << y;
          break;
        case K::easter_monday:
        case K::whit_monday:
          ASSERT_EQ(wd, date::Monday) << y;
          break;
        case K::ascension:
          ASSERT_EQ(wd, date::Thursday) << y;
          break;
        default:
          break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Alsace-Moselle

TEST(PublicHolidays, AlsaceMoselleAddsGoodFridayAndSaintStephenIn2026) {
  const auto expected = with(
      metropole_2026(), {{ymd(2026, 4, 3), K::good_friday}, {ymd(2026, 12, 26), K::st_stephen}});
  EXPECT_EQ(describe(public_holidays(2026, Region::alsace_moselle)), describe(expected));
}

TEST(PublicHolidays, AlsaceMoselleHasGoodFridayTwoDaysBeforeEasterEachYear) {
  EXPECT_EQ(describe(public_holidays(2027, Region::alsace_moselle)),
            describe(with(metropole_2027(), {{ymd(2027, 3, 26), K::good_friday},
                                             {ymd(2027, 12, 26), K::st_stephen}})));
  EXPECT_EQ(describe(public_holidays(2028, Region::alsace_moselle)),
            describe(with(metropole_2028(), {{ymd(2028, 4, 14), K::good_friday},
                                             {ymd(2028, 12, 26), K::st_stephen}})));
  EXPECT_EQ(describe(public_holidays(2029, Region::alsace_moselle)),
            describe(with(metropole_2029(), {{ymd(2029, 3, 30), K::good_friday},
                                             {ymd(2029, 12, 26), K::st_stephen}})));
  EXPECT_EQ(describe(public_holidays(2030, Region::alsace_moselle)),
            describe(with(metropole_2030(), {{ymd(2030, 4, 19), K::good_friday},
                                             {ymd(2030, 12, 26), K::st_stephen}})));
}

TEST(PublicHolidays, GoodFridayAndSaintStephenAreAlsaceMoselleOnly) {
  for (const Region region : kAllRegions) {
    if (region == Region::alsace_moselle)
      continue;
    for (const auto& h : public_holidays(2026, region)) {
      EXPECT_NE(h.kind, K::good_friday) << region_name(region);
      EXPECT_NE(h.kind, K::st_stephen) << region_name(region);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Overseas abolition-of-slavery days

struct AbolitionCase {
  Region region;
  unsigned month;
  unsigned day;
};

TEST(PublicHolidays, EachOverseasTerritoryAddsItsOwnAbolitionDay) {
  const AbolitionCase cases[] = {
      {Region::martinique, 5, 22},       {Region::guadeloupe, 5, 27}, {Region::guyane, 6, 10},
      {Region::reunion, 12, 20},         {Region::mayotte, 4, 27},    {Region::saint_martin, 5, 28},
      {Region::saint_barthelemy, 10, 9},
  };
  for (const auto& c : cases) {
    const auto expected =
        with(metropole_2026(), {{ymd(2026, c.month, c.day), K::slavery_abolition}});
    EXPECT_EQ(describe(public_holidays(2026, c.region)), describe(expected))
        << region_name(c.region);
  }
}

TEST(PublicHolidays, GuyaneListsBothWhitMondayAndAbolitionDayWhenTheyCoincideIn2030) {
  const auto expected = with(metropole_2030(), {{ymd(2030, 6, 10), K::slavery_abolition}});
  const auto actual = public_holidays(2030, Region::guyane);
  EXPECT_EQ(describe(actual), describe(expected));
  EXPECT_EQ(
      std::ranges::count_if(actual, [](const Holiday& h) { return h.date == ymd(2030, 6, 10); }),
      2);
}

TEST(PublicHolidays, PacificTerritoriesAndSaintPierreGetTheNationalListOnly) {
  for (const Region region : {Region::saint_pierre, Region::wallis_futuna, Region::polynesie,
                              Region::nouvelle_caledonie}) {
    EXPECT_EQ(describe(public_holidays(2026, region)), describe(metropole_2026()))
        << region_name(region);
  }
}

TEST(PublicHolidays, MetropoleAndAlsaceMoselleHaveNoAbolitionDay) {
  for (const Region region : {Region::metropole, Region::alsace_moselle}) {
    for (const auto& h : public_holidays(2026, region)) {
      EXPECT_NE(h.kind, K::slavery_abolition) << region_name(region);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shape and names

TEST(PublicHolidays, AreSortedByDateForEveryRegionAndYear) {
  for (const Region region : kAllRegions) {
    for (int y = 1900; y <= 2200; ++y) {
      const auto holidays = public_holidays(y, region);
      ASSERT_TRUE(std::ranges::is_sorted(holidays, {},
                                         [](const Holiday& h) { return date::sys_days{h.date}; }))
          << region_name(region) << " " << y;
      for (const auto& h : holidays) {
        ASSERT_TRUE(h.date.ok()) << region_name(region) << " " << y;
        ASSERT_EQ(h.date.year(), date::year{y}) << region_name(region) << " " << y;
      }
    }
  }
}

TEST(PublicHolidays, HaveTheExpectedCountPerRegion) {
  for (const Region region : kAllRegions) {
    std::size_t expected = 11;
    if (region == Region::alsace_moselle)
      expected = 13;
    if (region == Region::guadeloupe || region == Region::martinique || region == Region::guyane ||
        region == Region::reunion || region == Region::mayotte ||
        region == Region::saint_barthelemy || region == Region::saint_martin) {
      expected = 12;
    }
    EXPECT_EQ(public_holidays(2026, region).size(), expected) << region_name(region);
  }
}

TEST(HolidayName, IsTheFrenchNameOfEachHoliday) {
  EXPECT_EQ(holiday_name(K::new_year), "Jour de l'an");
  EXPECT_EQ(holiday_name(K::good_friday), "Vendredi saint");
  EXPECT_EQ(holiday_name(K::easter_monday), "Lundi de Pâques");
  EXPECT_EQ(holiday_name(K::labour_day), "Fête du Travail");
  EXPECT_EQ(holiday_name(K::victory_1945), "Victoire 1945");
  EXPECT_EQ(holiday_name(K::ascension), "Ascension");
  EXPECT_EQ(holiday_name(K::whit_monday), "Lundi de Pentecôte");
  EXPECT_EQ(holiday_name(K::bastille_day), "Fête nationale");
  EXPECT_EQ(holiday_name(K::assumption), "Assomption");
  EXPECT_EQ(holiday_name(K::all_saints), "Toussaint");
  EXPECT_EQ(holiday_name(K::armistice), "Armistice 1918");
  EXPECT_EQ(holiday_name(K::christmas), "Noël");
  EXPECT_EQ(holiday_name(K::st_stephen), "Saint-Étienne");
  EXPECT_EQ(holiday_name(K::slavery_abolition), "Abolition de l'esclavage");
}

}  // namespace
}  // namespace treve::policy
