#include "policy/schedule.h"

#include <algorithm>
#include <exception>

#include "policy/zone_time.h"

namespace treve::policy {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;
// A window lasts at most seven days and a few hours; generated chunks reach this far back.
constexpr date::days kLookBehind{9};

LocalDate local_date_of(const date::time_zone* zone, std::int64_t t_ms) {
  auto local = zone_time::to_local(zone, Seconds{std::chrono::seconds{t_ms / 1000}});
  return date::floor<date::days>(local);
}

}  // namespace

void QuietLayer::compile() {
  if (horizon_.last_year < horizon_.first_year) {
    fast_from_ms_ = 1;  // never inside: every question generates
    fast_to_ms_ = 0;
    return;
  }
  LocalDate from{date::year{horizon_.first_year} / date::January / 1};
  LocalDate to{date::year{horizon_.last_year + 1} / date::January / 1};
  compiled_ = QuietIntervalSet(generate(from, to));
  fast_from_ms_ = (to_utc(date::local_seconds{from}) * 1000) + kLookBehind.count() * kDayMs;
  fast_to_ms_ = (to_utc(date::local_seconds{to}) * 1000) - kLookBehind.count() * kDayMs;
}

const QuietIntervalSet::Hit* QuietLayer::find(std::int64_t t_ms, QuietIntervalSet::Hit& out,
                                              QuietIntervalSet& scratch) const {
  if (t_ms >= fast_from_ms_ && t_ms < fast_to_ms_)
    return compiled_.find(t_ms, out);
  LocalDate day = local_date_of(zone_, t_ms);
  scratch = QuietIntervalSet(generate(day - kLookBehind, day + kLookBehind));
  return scratch.find(t_ms, out);
}

std::int64_t QuietLayer::to_utc(date::local_seconds local) const {
  return zone_time::to_sys(zone_, local).time_since_epoch().count();
}

WindowLayer::WindowLayer(const date::time_zone* zone, std::vector<QuietWindow> windows,
                         Horizon horizon, std::vector<std::uint16_t> indices)
    : QuietLayer(zone, horizon), windows_(std::move(windows)), indices_(std::move(indices)) {}

std::vector<QuietPiece> WindowLayer::generate(LocalDate from, LocalDate to) const {
  std::vector<QuietPiece> out;
  out.reserve(static_cast<std::size_t>((to - from).count()) * windows_.size());
  for (LocalDate d = from; d < to; d += date::days{1}) {
    date::weekday wd{d};
    for (std::size_t i = 0; i < windows_.size(); ++i) {
      const QuietWindow& w = windows_[i];
      if (!w.starts_on(wd))
        continue;
      QuietPiece p;
      p.start = to_utc(date::local_seconds{d} + w.start);
      p.end = to_utc(date::local_seconds{d + date::days{w.span_days(wd)}} + w.end);
      p.cause.kind = QuietCause::Kind::window;
      p.cause.index = indices_.empty() ? static_cast<std::uint16_t>(i) : indices_[i];
      p.cause.local_day = static_cast<std::int32_t>(d.time_since_epoch().count());
      out.push_back(p);
    }
  }
  return out;
}

ClosedDayLayer::ClosedDayLayer(const date::time_zone* zone, Region region, bool public_holidays,
                               std::vector<ClosedDays> closed, Horizon horizon)
    : QuietLayer(zone, horizon),
      region_(region),
      public_holidays_(public_holidays),
      closed_(std::move(closed)) {}

std::vector<QuietPiece> ClosedDayLayer::generate(LocalDate from, LocalDate to) const {
  std::vector<QuietPiece> out;
  if (public_holidays_) {
    int first = static_cast<int>(date::year_month_day{from}.year());
    int last = static_cast<int>(date::year_month_day{to - date::days{1}}.year());
    for (int y = first; y <= last; ++y) {
      for (const Holiday& h : public_holidays(y, region_)) {
        LocalDate d{h.date};
        if (d < from || d >= to)
          continue;
        QuietPiece p;
        p.start = to_utc(date::local_seconds{d});
        p.end = to_utc(date::local_seconds{d + date::days{1}});
        p.cause.kind = QuietCause::Kind::holiday;
        p.cause.holiday = h.kind;
        p.cause.local_day = static_cast<std::int32_t>(d.time_since_epoch().count());
        out.push_back(p);
      }
    }
  }
  for (std::size_t i = 0; i < closed_.size(); ++i) {
    LocalDate lo = std::max(closed_[i].first, from);
    LocalDate hi = std::min(closed_[i].last + date::days{1}, to);
    if (lo >= hi)
      continue;
    QuietPiece p;
    p.start = to_utc(date::local_seconds{lo});
    p.end = to_utc(date::local_seconds{hi});
    p.cause.kind = QuietCause::Kind::closed;
    p.cause.index = static_cast<std::uint16_t>(i);
    p.cause.local_day = static_cast<std::int32_t>(closed_[i].first.time_since_epoch().count());
    out.push_back(p);
  }
  return out;
}

void QuietChain::add(const QuietCause& c) {
  for (std::size_t i = 0; i < size; ++i) {
    if (causes[i] == c)
      return;
  }
  ++total;
  if (size < kMax)
    causes[size++] = c;
}

Schedule::Schedule(std::shared_ptr<const WindowLayer> windows,
                   std::shared_ptr<const ClosedDayLayer> closed)
    : windows_(std::move(windows)), closed_(std::move(closed)) {}

Release Schedule::next_open(Instant t) const {
  Release r;
  r.at = t;
  try {
    const std::int64_t start = t.time_since_epoch().count();
    const std::int64_t limit =
        start + std::chrono::duration_cast<std::chrono::milliseconds>(kSearchLimit).count();
    std::int64_t now = start;
    QuietIntervalSet::Hit hit;
    QuietIntervalSet scratch;
    const QuietLayer* layers[2] = {windows_.get(), closed_.get()};
    for (;;) {
      bool moved = false;
      for (const QuietLayer* layer : layers) {
        if (!layer->find(now, hit, scratch))
          continue;
        // Name only the pieces that carry the quiet time forward: from `now`, the piece
        // reaching furthest, then from its end the next one, until the interval ends.
        std::int64_t cur = now;
        while (cur < hit.end * 1000) {
          const QuietPiece* best = nullptr;
          for (const QuietPiece& p : hit.pieces) {
            if (p.start * 1000 <= cur && p.end * 1000 > cur && (!best || p.end > best->end)) {
              best = &p;
            }
          }
          if (!best)
            break;
          r.chain.add(best->cause);
          cur = best->end * 1000;
        }
        now = hit.end * 1000;
        moved = true;
      }
      if (!moved)
        break;
      if (now > limit) {
        r.evaluated = false;
        return r;
      }
    }
    r.at = Instant{std::chrono::milliseconds{now}};
  } catch (const std::exception&) {
    // The time zone database could not answer: fail closed.
    r.evaluated = false;
  }
  return r;
}

std::vector<std::pair<Instant, Instant>> Schedule::quiet_intervals(Instant from, Instant to) const {
  const std::int64_t from_ms = from.time_since_epoch().count();
  const std::int64_t to_ms = to.time_since_epoch().count();
  LocalDate first = local_date_of(zone(), from_ms) - kLookBehind;
  LocalDate last = local_date_of(zone(), to_ms) + date::days{1};
  std::vector<QuietPiece> pieces = windows_->generate(first, last);
  std::vector<QuietPiece> closed = closed_->generate(first, last);
  pieces.insert(pieces.end(), closed.begin(), closed.end());
  QuietIntervalSet set(std::move(pieces));
  std::vector<std::pair<Instant, Instant>> out;
  for (auto [s, e] : set.merged_between(from_ms / 1000, (to_ms + 999) / 1000)) {
    out.emplace_back(Instant{std::chrono::seconds{s}}, Instant{std::chrono::seconds{e}});
  }
  return out;
}

}  // namespace treve::policy
