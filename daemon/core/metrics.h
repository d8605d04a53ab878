// Every metric the daemon exposes on the admin listener's GET /metrics (docs/operations.md,
// "Metrics"), in one registry. `serve` makes one Metrics and hands a pointer to the parts that
// count; a part given none counts nothing (tests that do not look at metrics).
//
// Counters count from the daemon's start (Prometheus handles the reset at a restart). Times are
// in seconds. A series with an `establishment` label is shown only to administrators whose scope
// holds that establishment.
//
// Adding a metric is one member here, then its use where the thing happens, for example:
//   metrics::Family<metrics::Counter>& late_homework =
//       registry.counter("treve_late_homework_total", "…", {"establishment"});
//   if (metrics) metrics->late_homework.with({uai}).inc();
// and its row in docs/operations.md. Members are made in declaration order: `registry` first.
#pragma once

#include "daemon/core/metric_registry.h"

namespace treve::core {

// The buckets of the latency histograms, in seconds.
inline const std::vector<double> kCommitBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1,    2.5};
inline const std::vector<double> kReleaseLagBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                       2.5,  5,     10,   30,  60,   300, 3600};
inline const std::vector<double> kDeliveryBuckets = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 172800};

struct Metrics {
  using Counters = metrics::Family<metrics::Counter>;
  using Gauges = metrics::Family<metrics::Gauge>;
  using Histograms = metrics::Family<metrics::Histogram>;

  metrics::Registry registry;

  // The store's writer (store::CommitQueue).
  Counters& events_received = registry.counter(
      "treve_events_received_total",
      "Events stored, by connector and category (repeats of a stored event are not counted).",
      {"source", "category"});
  Counters& deliveries_held = registry.counter("treve_deliveries_held_total",
                                               "Deliveries stored held until a release instant.",
                                               {"establishment", "category"});
  Counters& late_homework = registry.counter(
      "treve_late_homework_total",
      "Homework events stored whose students receive them less than homework_notice before they "
      "are due.",
      {"establishment"});
  Histograms& commit_seconds = registry.histogram(
      "treve_store_commit_seconds",
      "Time the store's writer took for one job (a group of accepted events, or one write).",
      kCommitBuckets);
  Gauges& crises_open = registry.gauge(
      "treve_crises_open",
      "Crises open now, by establishment (set when /metrics is read; 0 once none is).",
      {"establishment"});
  Gauges& writer_queue = registry.gauge(
      "treve_writer_queue_depth",
      "Jobs waiting for the store's writer (beyond its capacity, writes are refused).");

  // The scheduler.
  Counters& deliveries_released = registry.counter(
      "treve_deliveries_released_total",
      "Held deliveries released (made due) by the scheduler, counted once committed.",
      {"establishment", "category"});
  Histograms& release_lag = registry.histogram(
      "treve_release_lag_seconds",
      "Time from a held delivery's release instant to the commit that made it due.",
      kReleaseLagBuckets);

  // The dispatcher, counted once each outcome is committed.
  Counters& delivered =
      registry.counter("treve_deliveries_delivered_total", "Deliveries a sink accepted.", {"sink"});
  Counters& retried = registry.counter("treve_deliveries_retried_total",
                                       "Failed attempts that will be tried again.", {"sink"});
  Counters& dead = registry.counter("treve_deliveries_dead_total",
                                    "Deliveries dead-lettered (failed for good).", {"sink"});
  Histograms& delivery_latency = registry.histogram(
      "treve_delivery_latency_seconds",
      "Time from a delivery becoming due to its final outcome (delivered or dead-lettered).",
      kDeliveryBuckets, {"sink"});
  Counters& sink_errors = registry.counter(
      "treve_sink_errors_total",
      "Failed attempts to send to a sink, by class: status_4xx, status_5xx, status_other, "
      "no_answer.",
      {"sink", "class"});

  // The directories.
  Counters& directory_errors =
      registry.counter("treve_directory_errors_total",
                       "Directory lookups that failed (no answer, or a bad one).", {"directory"});
};

}  // namespace treve::core
