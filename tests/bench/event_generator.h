// Deterministic canonical events with "received_at" (NDJSON), for the `simulate` benchmarks:
// five establishments (Paris, Doubs, Moselle, Réunion, Tahiti), six categories, grades sent
// to a student and a parent, one event every 0–60 s from 2026-09-01.
#pragma once

#include <cstdio>
#include <random>

#include <date/date.h>

namespace treve::bench {

inline void write_events(std::FILE* out, long long n) {
  static const char* kUais[] = {"0750654D", "0250001R", "0570001S", "9740001H", "9870001M"};
  static const char* kCategories[] = {"message", "grade", "homework", "blog", "news", "alert"};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> step_ms(0, 60'000);
  auto t = std::chrono::time_point_cast<std::chrono::milliseconds>(
      date::sys_days{date::year{2026} / 9 / 1});
  for (long long i = 0; i < n; ++i) {
    t += std::chrono::milliseconds{step_ms(rng)};
    auto day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    date::hh_mm_ss tod{t - day};
    char stamp[40];
    std::snprintf(stamp, sizeof stamp, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                  static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                  static_cast<int>(tod.subseconds().count()));
    const char* uai = kUais[rng() % 5];
    const char* cat = kCategories[rng() % 6];
    long long student = i % 5000;
    char parent[96] = "";
    if (cat[0] == 'g') {
      std::snprintf(parent, sizeof parent,
                    ",{\"id\":\"p-%lld\",\"role\":\"parent\",\"of\":\"s-%lld\"}", student, student);
    }
    std::fprintf(out,
                 "{\"id\":\"ev-%lld\",\"establishment\":\"%s\",\"category\":\"%s\","
                 "\"recipients\":[{\"id\":\"s-%lld\",\"role\":\"student\"}%s],"
                 "\"created_at\":\"%s\",\"received_at\":\"%s\",\"title\":\"Nouvelle note\","
                 "\"payload\":{\"n\":%lld}}\n",
                 i, uai, cat, student, parent, stamp, stamp, i);
  }
}

}  // namespace treve::bench
