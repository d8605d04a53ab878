// The metrics registry (daemon/core/metric_registry.h) and its text exposition format
// (Prometheus 0.0.4): families, label sets, histogram buckets, escaping, filtering, and
// counting from several threads at once.
#include "daemon/core/metric_registry.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/core/metrics.h"

namespace treve::core::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricRegistry, CounterFamilyRendersHelpTypeAndOneLinePerLabelSetSortedByValues) {
  Registry r;
  auto& events = r.counter("treve_events_received_total", "Events stored.", {"source", "category"});
  events.with({"ent", "message"}).inc(3);
  events.with({"alert", "alert"}).inc();
  events.with({"ent", "grade"}).inc(2);
  EXPECT_EQ(r.render(),
            "# HELP treve_events_received_total Events stored.\n"
            "# TYPE treve_events_received_total counter\n"
            "treve_events_received_total{source=\"alert\",category=\"alert\"} 1\n"
            "treve_events_received_total{source=\"ent\",category=\"grade\"} 2\n"
            "treve_events_received_total{source=\"ent\",category=\"message\"} 3\n");
}

TEST(MetricRegistry, FamilyWithoutLabelsShowsItsSeriesAtZeroFromTheStart) {
  Registry r;
  r.gauge("treve_writer_queue_depth", "Jobs waiting.");
  r.counter("treve_x_total", "X.");
  EXPECT_EQ(r.render(),
            "# HELP treve_writer_queue_depth Jobs waiting.\n"
            "# TYPE treve_writer_queue_depth gauge\n"
            "treve_writer_queue_depth 0\n"
            "# HELP treve_x_total X.\n"
            "# TYPE treve_x_total counter\n"
            "treve_x_total 0\n");
}

TEST(MetricRegistry, FamilyWithLabelsAndNoSeriesYetRendersOnlyHelpAndType) {
  Registry r;
  r.counter("treve_sink_errors_total", "Errors.", {"sink", "class"});
  EXPECT_EQ(r.render(),
            "# HELP treve_sink_errors_total Errors.\n"
            "# TYPE treve_sink_errors_total counter\n");
}

TEST(MetricRegistry, SameLabelValuesGiveTheSameSeries) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"a"});
  Counter& one = f.with({"x"});
  Counter& again = f.with({"x"});
  EXPECT_EQ(&one, &again);
  EXPECT_NE(&one, &f.with({"y"}));
}

TEST(MetricRegistry, LabelValuesThatConcatenateAlikeAreDifferentSeries) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"a", "b"});
  f.with({"ab", "c"}).inc();
  f.with({"a", "bc"}).inc(2);
  EXPECT_EQ(f.with({"ab", "c"}).value(), 1u);
  EXPECT_EQ(f.with({"a", "bc"}).value(), 2u);
}

TEST(MetricRegistry, ManySeriesStayFoundAcrossTheTableGrowing) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"establishment"});
  std::vector<Counter*> made;
  for (int i = 0; i < 5000; ++i)
    made.push_back(&f.with({std::to_string(i)}));
  for (int i = 0; i < 5000; ++i)
    ASSERT_EQ(&f.with({std::to_string(i)}), made[static_cast<std::size_t>(i)]) << i;
}

TEST(MetricRegistry, WrongNumberOfLabelValuesIsABug) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"a", "b"});
  EXPECT_THROW(f.with({"x"}), std::logic_error);
}

TEST(MetricRegistry, SameNameTwiceIsABug) {
  Registry r;
  r.counter("c_total", "C.");
  EXPECT_THROW(r.gauge("c_total", "again"), std::logic_error);
}

TEST(MetricRegistry, HistogramRendersCumulativeBucketsInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("treve_release_lag_seconds", "Lag.", {0.1, 1, 2.5}, {"sink"});
  auto& s = h.with({"hooks"});
  s.observe(0.05);
  s.observe(0.1);  // on a bound: counted in that bucket (le is "less or equal")
  s.observe(2);
  s.observe(7);
  EXPECT_EQ(r.render(),
            "# HELP treve_release_lag_seconds Lag.\n"
            "# TYPE treve_release_lag_seconds histogram\n"
            "treve_release_lag_seconds_bucket{sink=\"hooks\",le=\"0.1\"} 2\n"
            "treve_release_lag_seconds_bucket{sink=\"hooks\",le=\"1\"} 2\n"
            "treve_release_lag_seconds_bucket{sink=\"hooks\",le=\"2.5\"} 3\n"
            "treve_release_lag_seconds_bucket{sink=\"hooks\",le=\"+Inf\"} 4\n"
            "treve_release_lag_seconds_sum{sink=\"hooks\"} 9.15\n"
            "treve_release_lag_seconds_count{sink=\"hooks\"} 4\n");
}

TEST(MetricRegistry, HistogramWithoutLabelsPutsLeAlone) {
  Registry r;
  r.histogram("h_seconds", "H.", {0.5});
  EXPECT_EQ(r.render(),
            "# HELP h_seconds H.\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.5\"} 0\n"
            "h_seconds_bucket{le=\"+Inf\"} 0\n"
            "h_seconds_sum 0\n"
            "h_seconds_count 0\n");
}

TEST(MetricRegistry, HistogramBoundsMustAscend) {
  Registry r;
  EXPECT_THROW(r.histogram("h", "H.", {1, 0.5}), std::logic_error);
  EXPECT_THROW(r.histogram("h2", "H.", {1, 1}), std::logic_error);
  EXPECT_THROW(r.histogram("h3", "H.", {std::numeric_limits<double>::infinity()}),
               std::logic_error);
}

TEST(MetricRegistry, LabelValuesAndHelpAreEscaped) {
  Registry r;
  auto& f = r.counter("c_total", "Back\\slash and\nnew line \"quoted\".", {"sink"});
  f.with({"a\"b\\c\nd"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP c_total Back\\\\slash and\\nnew line \"quoted\".\n"
            "# TYPE c_total counter\n"
            "c_total{sink=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricRegistry, GaugeValuesAreWrittenAsNumbersInfAndNaN) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e-6), "1e-06");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  Registry r;
  auto& g = r.gauge("g", "G.");
  g.with({}).set(5);
  g.with({}).add(-1.5);
  EXPECT_THAT(r.render(), HasSubstr("\ng 3.5\n"));
}

TEST(MetricRegistry, FilterLeavesOutSeriesOfEstablishmentsOutOfScopeAndKeepsTheOthers) {
  Registry r;
  auto& held = r.counter("held_total", "Held.", {"establishment", "category"});
  auto& sent = r.counter("sent_total", "Sent.", {"sink"});
  held.with({"0750654D", "message"}).inc();
  held.with({"0250001R", "message"}).inc();
  sent.with({"hooks"}).inc();
  const std::string text = r.render([](std::string_view label, std::string_view value) {
    return label != "establishment" || value == "0750654D";
  });
  EXPECT_THAT(text, HasSubstr("held_total{establishment=\"0750654D\",category=\"message\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("0250001R")));
  EXPECT_THAT(text, HasSubstr("sent_total{sink=\"hooks\"} 1\n"));
}

TEST(MetricRegistry, CountsFromSeveralThreadsAddUp) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"source", "category"});
  auto& h = r.histogram("h_seconds", "H.", {0.5, 1});
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // New label sets made while other threads look existing ones up.
        f.with({"ent", std::to_string(i % 50 + (t % 2) * 50)}).inc();
        h.with({}).observe(0.75);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  std::uint64_t total = 0;
  for (int c = 0; c < 100; ++c)
    total += f.with({"ent", std::to_string(c)}).value();
  EXPECT_EQ(total, static_cast<std::uint64_t>(kThreads) * kEach);
  const auto snap = h.with({}).snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{0, kThreads * kEach, kThreads * kEach}));
  EXPECT_DOUBLE_EQ(snap.sum, 0.75 * kThreads * kEach);
}

TEST(DaemonMetrics, EveryFamilyIsNamedTreveAndCountersEndInTotal) {
  core::Metrics m;
  const std::string text = m.registry.render();
  std::size_t families = 0;
  for (std::size_t at = text.find("# TYPE "); at != std::string::npos;
       at = text.find("# TYPE ", at + 1)) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at + 7, end - at - 7);
    const std::string name = line.substr(0, line.find(' '));
    const std::string type = line.substr(line.find(' ') + 1);
    EXPECT_EQ(name.rfind("treve_", 0), 0u) << name;
    if (type == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    }
    if (type == "histogram") {
      EXPECT_TRUE(name.ends_with("_seconds")) << name;
    }
    ++families;
  }
  EXPECT_EQ(families, 14u);
}

}  // namespace
}  // namespace treve::core::metrics
