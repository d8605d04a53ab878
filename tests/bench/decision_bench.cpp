// Cost of one release decision for an establishment whose schedule is already compiled.
// Run: build/release/tests/bench/bench_decision
#include <benchmark/benchmark.h>

#include "bench_support.h"
#include "policy/decision.h"
#include "policy/personal_hours.h"
#include "policy/strictest.h"

namespace {

using namespace treve;

const policy::Uai kParis{"0750654D", policy::Region::metropole};

void BM_NextOpen(benchmark::State& state) {
  auto set = bench::default_policy_set();
  const auto& p = set->find(kParis);
  auto instants = bench::random_instants(1 << 16);
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = p.schedule().next_open(instants[i++ & 0xFFFF]);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_NextOpen);

// The whole decision for one recipient, including the establishment lookup.
void BM_DecideOneRecipient(benchmark::State& state) {
  auto set = bench::default_policy_set();
  policy::Notification n;
  n.source = "ent";
  n.id = "msg-1";
  n.establishment = kParis.code;
  n.category = policy::Category::message;
  n.recipients.push_back({"u-1", policy::Role::student, std::nullopt, {}, nullptr});
  auto instants = bench::random_instants(1 << 16);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& p = set->find(kParis);
    auto d = policy::decide(p, n, instants[i++ & 0xFFFF], false);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideOneRecipient);

// A grade to a student and two parents: three deliveries, the parents sequenced.
void BM_DecideGradeForStudentAndParents(benchmark::State& state) {
  auto set = bench::default_policy_set();
  policy::Notification n;
  n.source = "ent";
  n.id = "grade-1";
  n.establishment = kParis.code;
  n.category = policy::Category::grade;
  n.recipients.push_back({"s", policy::Role::student, std::nullopt, {}, nullptr});
  n.recipients.push_back({"p1", policy::Role::parent, std::string("s"), {}, nullptr});
  n.recipients.push_back({"p2", policy::Role::parent, std::string("s"), {}, nullptr});
  auto instants = bench::random_instants(1 << 16);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& p = set->find(kParis);
    auto d = policy::decide(p, n, instants[i++ & 0xFFFF], false);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideGradeForStudentAndParents);

// The daemon's decision (decide_in) for one recipient, without (0) and with (1) personal quiet
// hours: a parent who wants nothing on weekdays from 18:00 to 08:00 nor on Wednesday
// afternoons. The hours' schedule is compiled on first use, as in the daemon (per zone).
void BM_DecideInPersonalHours(benchmark::State& state) {
  auto set = bench::default_policy_set();
  policy::Notification n;
  n.source = "ent";
  n.id = "msg-1";
  n.establishment = kParis.code;
  n.category = policy::Category::message;
  n.recipients.push_back({"p-1", policy::Role::parent, std::nullopt, {}, nullptr});
  if (state.range(0) != 0) {
    policy::QuietWindow evenings;
    for (int d = 1; d <= 5; ++d)
      evenings.days |= static_cast<std::uint8_t>(1u << d);
    evenings.start = std::chrono::hours{18};
    evenings.end = std::chrono::hours{8};
    policy::QuietWindow wednesday;
    wednesday.days = 1u << 3;
    wednesday.start = std::chrono::hours{12};
    wednesday.end = std::chrono::hours{18};
    n.recipients[0].personal = std::make_shared<const policy::PersonalHours>(
        std::vector<policy::QuietWindow>{evenings, wednesday});
  }
  auto instants = bench::random_instants(1 << 16);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& p = set->find(kParis);
    auto d = policy::decide_in(*set, p, n, instants[i++ & 0xFFFF], false);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_DecideInPersonalHours)->Arg(0)->Arg(1);

// Compiling an establishment's schedule over the horizon (2020-2045), as its first decision
// does: a new policy set each time, so nothing is shared with the previous one.
void BM_CompileSchedule(benchmark::State& state) {
  const policy::Instant t = bench::random_instants(1).front();
  for (auto _ : state) {
    auto set = bench::default_policy_set();
    auto r = set->find(kParis).schedule().next_open(t);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_CompileSchedule)->Unit(benchmark::kMillisecond);

// Instants beyond the compiled horizon take the slow path (intervals generated on the fly).
void BM_NextOpenOutsideHorizon(benchmark::State& state) {
  auto set = bench::default_policy_set();
  const auto& p = set->find(kParis);
  auto instants = bench::random_instants(1 << 12);
  for (auto& t : instants)
    t += date::years{40};
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = p.schedule().next_open(instants[i++ & 0xFFF]);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_NextOpenOutsideHorizon);

}  // namespace

BENCHMARK_MAIN();
