// Writes N canonical events with "received_at" as NDJSON, deterministically (fixed seed):
// the input of `treve simulate` benchmarks. Usage: gen_events N > events.ndjson
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench_support.h"

int main(int argc, char** argv) {
  long long n = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  static const char* kUais[] = {"0750654D", "0250001R", "0570001S", "9740001H", "9870001M"};
  static const char* kCategories[] = {"message", "grade", "homework", "blog", "news", "alert"};
  std::mt19937_64 rng(7);
  auto start = date::sys_days{date::year{2026} / 9 / 1};
  std::uniform_int_distribution<int> step_ms(0, 60'000);
  auto t = std::chrono::time_point_cast<std::chrono::milliseconds>(start);
  for (long long i = 0; i < n; ++i) {
    t += std::chrono::milliseconds{step_ms(rng)};
    auto day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    date::hh_mm_ss tod{t - day};
    const char* uai = kUais[rng() % 5];
    const char* cat = kCategories[rng() % 6];
    bool grade = cat[0] == 'g';
    char parent[96];
    std::snprintf(parent, sizeof parent, ",{\"id\":\"p-%lld\",\"role\":\"parent\",\"of\":\"s-%lld\"}",
                  i % 5000, i % 5000);
    std::printf(
        "{\"id\":\"ev-%lld\",\"establishment\":\"%s\",\"category\":\"%s\",\"recipients\":["
        "{\"id\":\"s-%lld\",\"role\":\"student\"}%s],\"created_at\":\"%04d-%02u-%02uT%02d:%02d:%02d."
        "%03dZ\",\"received_at\":\"%04d-%02u-%02uT%02d:%02d:%02d.%03dZ\",\"title\":\"Nouvelle "
        "note\",\"payload\":{\"n\":%lld}}\n",
        i, uai, cat, i % 5000, grade ? parent : "",
        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
        static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
        static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
        static_cast<int>(tod.subseconds().count()), static_cast<int>(ymd.year()),
        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
        static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
        static_cast<int>(tod.seconds().count()), static_cast<int>(tod.subseconds().count()), i);
  }
}
