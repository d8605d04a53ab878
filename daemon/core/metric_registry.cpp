#include "daemon/core/metric_registry.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

namespace treve::core::metrics {
namespace {

// FNV-1a over the label values, each followed by a separator no value can make ambiguous.
std::size_t hash_values(std::span<const std::string_view> values) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (const std::string_view v : values) {
    for (const char c : v)
      mix(static_cast<unsigned char>(c));
    mix(0xFF);  // not a byte of UTF-8 text
  }
  return static_cast<std::size_t>(h);
}

bool same_values(const std::vector<std::string>& a, std::span<const std::string_view> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"` without the closing brace (a histogram's buckets add `le`), or empty.
std::string label_text(const std::vector<std::string>& names,
                       const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? "{" : ",";
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  return out;
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view labels, std::string_view extra_label, std::string_view value) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra_label.empty()) {
    out += labels.empty() ? "{" : labels;
    if (!extra_label.empty()) {
      if (!labels.empty())
        out += ',';
      out += extra_label;
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);  // the shortest text that reads back as `v`
}

// --- Histogram ----------------------------------------------------------------------------

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
  for (std::size_t i = 0; i <= bounds.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v
  counts_[static_cast<std::size_t>(at - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// --- FamilyBase ---------------------------------------------------------------------------

FamilyBase::Table::Table(std::size_t size)
    : mask(size - 1), slots(std::make_unique<std::atomic<SeriesBase*>[]>(size)) {
  for (std::size_t i = 0; i < size; ++i)
    slots[i].store(nullptr, std::memory_order_relaxed);
}

FamilyBase::FamilyBase(std::string name, std::string help, Type type,
                       std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), type_(type), labels_(std::move(labels)) {
  tables_.push_back(std::make_unique<Table>(16));
  table_.store(tables_.back().get(), std::memory_order_release);
}

FamilyBase::SeriesBase* FamilyBase::find_in(const Table& t,
                                            std::span<const std::string_view> values,
                                            std::size_t hash) const {
  for (std::size_t i = hash & t.mask;; i = (i + 1) & t.mask) {
    SeriesBase* s = t.slots[i].load(std::memory_order_acquire);
    if (!s)
      return nullptr;
    if (s->hash == hash && same_values(s->values, values))
      return s;
  }
}

void FamilyBase::insert(Table& t, SeriesBase* s) {
  std::size_t i = s->hash & t.mask;
  while (t.slots[i].load(std::memory_order_relaxed))
    i = (i + 1) & t.mask;
  t.slots[i].store(s, std::memory_order_release);
}

FamilyBase::SeriesBase& FamilyBase::find_or_make(
    std::span<const std::string_view> values,
    const std::function<std::unique_ptr<SeriesBase>()>& make) {
  if (values.size() != labels_.size()) {
    throw std::logic_error("metric " + name_ + ": " + std::to_string(values.size()) +
                           " label values for " + std::to_string(labels_.size()) + " labels");
  }
  const std::size_t hash = hash_values(values);
  // The table is never shrunk and a slot never emptied, so a reader that finds the series in
  // any table, current or former, has it.
  if (SeriesBase* s = find_in(*table_.load(std::memory_order_acquire), values, hash))
    return *s;
  std::lock_guard lock(mutex_);
  Table* table = table_.load(std::memory_order_relaxed);
  if (SeriesBase* s = find_in(*table, values, hash))
    return *s;
  std::unique_ptr<SeriesBase> made = make();
  made->values.assign(values.begin(), values.end());
  made->hash = hash;
  SeriesBase* s = made.get();
  all_.push_back(std::move(made));
  if (all_.size() * 2 > table->mask + 1) {  // at most half full: probes stay short
    auto bigger = std::make_unique<Table>((table->mask + 1) * 2);
    for (const auto& each : all_)
      insert(*bigger, each.get());
    table = bigger.get();
    tables_.push_back(std::move(bigger));
    table_.store(table, std::memory_order_release);
  } else {
    insert(*table, s);
  }
  return *s;
}

void FamilyBase::render(std::string& out, const LabelFilter& filter) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escape_help(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  std::vector<const SeriesBase*> shown;
  {
    std::lock_guard lock(mutex_);
    shown.reserve(all_.size());
    for (const auto& s : all_) {
      bool visible = true;
      for (std::size_t i = 0; filter && visible && i < labels_.size(); ++i)
        visible = filter(labels_[i], s->values[i]);
      if (visible)
        shown.push_back(s.get());
    }
  }
  // Series are never removed: the pointers stay valid without the lock.
  std::sort(shown.begin(), shown.end(),
            [](const SeriesBase* a, const SeriesBase* b) { return a->values < b->values; });
  for (const SeriesBase* s : shown)
    render_series(out, *s, label_text(labels_, s->values));
}

// --- Family -------------------------------------------------------------------------------

namespace {
template <typename Metric>
constexpr Type type_of();
template <>
constexpr Type type_of<Counter>() {
  return Type::counter;
}
template <>
constexpr Type type_of<Gauge>() {
  return Type::gauge;
}
template <>
constexpr Type type_of<Histogram>() {
  return Type::histogram;
}

// A new metric (returned as a prvalue: metrics are neither copied nor moved).
template <typename Metric>
Metric make_metric(std::span<const double> bounds) {
  if constexpr (std::is_same_v<Metric, Histogram>)
    return Histogram(bounds);
  else
    return Metric{};
}
}  // namespace

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> labels,
                       std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type_of<Metric>(), std::move(labels)),
      bounds_(std::move(bounds)) {
  if (this->labels().empty())
    with(std::span<const std::string_view>{});  // shown from the start, at zero
}

template <typename Metric>
Family<Metric>::Series::Series(std::span<const double> bounds)
    : metric(make_metric<Metric>(bounds)) {}

template <typename Metric>
Metric& Family<Metric>::with(std::span<const std::string_view> values) {
  SeriesBase& s = find_or_make(values, [this] { return std::make_unique<Series>(bounds_); });
  return static_cast<Series&>(s).metric;
}

template <typename Metric>
void Family<Metric>::render_series(std::string& out, const SeriesBase& base,
                                   std::string_view labels) const {
  const Metric& m = static_cast<const Series&>(base).metric;
  if constexpr (std::is_same_v<Metric, Counter>) {
    append_sample(out, name(), "", labels, "", std::to_string(m.value()));
  } else if constexpr (std::is_same_v<Metric, Gauge>) {
    append_sample(out, name(), "", labels, "", format_value(m.value()));
  } else {
    const Histogram::Snapshot snap = m.snapshot();
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      const std::string le =
          "le=\"" + (i < bounds_.size() ? format_value(bounds_[i]) : std::string("+Inf")) + "\"";
      append_sample(out, name(), "_bucket", labels, le, std::to_string(snap.cumulative[i]));
    }
    append_sample(out, name(), "_sum", labels, "", format_value(snap.sum));
    append_sample(out, name(), "_count", labels, "", std::to_string(snap.cumulative.back()));
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- Registry -----------------------------------------------------------------------------

template <typename F>
F& Registry::add(std::unique_ptr<F> family) {
  std::lock_guard lock(mutex_);
  for (const auto& f : families_) {
    if (f->name() == family->name())
      throw std::logic_error("metric " + family->name() + " registered twice");
  }
  F& added = *family;
  families_.push_back(std::move(family));
  return added;
}

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> labels) {
  return add(
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(labels)));
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> labels) {
  return add(std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(labels)));
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> labels) {
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
      std::any_of(bounds.begin(), bounds.end(), [](double b) { return !std::isfinite(b); })) {
    throw std::logic_error("histogram " + name + ": bounds must be finite and ascending");
  }
  return add(std::make_unique<Family<Histogram>>(std::move(name), std::move(help),
                                                 std::move(labels), std::move(bounds)));
}

std::string Registry::render(const LabelFilter& filter) const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& f : families_)
    f->render(out, filter);
  return out;
}

}  // namespace treve::core::metrics
