// Counters, gauges and histograms, in families that share a name and label names, rendered in
// the Prometheus text exposition format 0.0.4 (docs/operations.md, "Metrics").
//
// A family owns its series; `with(values…)` returns the series of one label set, made on first
// use and kept until the family is destroyed, so the reference may be cached. Finding an
// existing series takes no lock: the series are in an open-addressing table of atomic pointers
// that only grows (under the family's mutex, which only the creation of a series takes), so
// the hot paths (an event stored, a delivery sent) cost a hash of the label values and an
// atomic increment. Values are updated with relaxed atomics: a scrape sees each series as it
// was at some instant during the scrape, not all of them at one instant.
//
// Every method may be called from any thread. Families live as long as their Registry, which
// hands out references to them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace treve::core::metrics {

// A value that only goes up, since the daemon started.
class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in buckets with fixed upper bounds (the family's), with their sum.
class Histogram {
 public:
  // `bounds` (ascending, finite) must outlive the histogram: its family keeps them.
  explicit Histogram(std::span<const double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (= count)
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bound, then above the last
  std::atomic<double> sum_{0};
};

enum class Type { counter, gauge, histogram };

// Whether a series is shown: called with each of its labels (name, value); shown when every
// call returns true. Empty: every series is shown.
using LabelFilter = std::function<bool(std::string_view name, std::string_view value)>;

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> labels);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // HELP, TYPE and the series that `filter` lets through, sorted by label values.
  void render(std::string& out, const LabelFilter& filter) const;

 protected:
  // Owned through the base (each family makes its own kind): the destructor is virtual.
  struct SeriesBase {
    virtual ~SeriesBase() = default;
    std::vector<std::string> values;
    std::size_t hash = 0;
  };
  // The series of `values` (as many as labels()), made by `make` when new.
  SeriesBase& find_or_make(std::span<const std::string_view> values,
                           const std::function<std::unique_ptr<SeriesBase>()>& make);
  virtual void render_series(std::string& out, const SeriesBase& s,
                             std::string_view labels) const = 0;

 private:
  struct Table {
    explicit Table(std::size_t size);
    std::size_t mask;
    std::unique_ptr<std::atomic<SeriesBase*>[]> slots;
  };
  SeriesBase* find_in(const Table& t, std::span<const std::string_view> values,
                      std::size_t hash) const;
  static void insert(Table& t, SeriesBase* s);

  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> labels_;
  std::atomic<Table*> table_;
  mutable std::mutex mutex_;                      // creation of series, rendering
  std::vector<std::unique_ptr<Table>> tables_;    // the current one and every former one
  std::vector<std::unique_ptr<SeriesBase>> all_;  // in creation order
};

template <typename Metric>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {});

  // The series of these label values, in the order of the family's label names.
  Metric& with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Metric& with(std::span<const std::string_view> values);

 private:
  struct Series : SeriesBase {
    explicit Series(std::span<const double> bounds);
    Metric metric;
  };
  void render_series(std::string& out, const SeriesBase& s, std::string_view labels) const override;

  std::vector<double> bounds_;  // histograms only
};

// The families of one daemon, in registration order.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A family; the name must be new. `labels` are the label names of its series.
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  // `bounds`: the buckets' upper bounds, ascending (+Inf is added).
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> labels = {});

  // The text exposition of every family, with the series `filter` lets through.
  std::string render(const LabelFilter& filter = {}) const;

 private:
  template <typename F>
  F& add(std::unique_ptr<F> family);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

// A label value or HELP text as the exposition format writes it: `\` → `\\`, a line feed →
// `\n`, and (label values only) `"` → `\"`.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
std::string format_value(double v);

}  // namespace treve::core::metrics
