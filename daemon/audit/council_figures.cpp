#include "daemon/audit/council_figures.h"

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "policy/rfc3339.h"
#include "policy/zone_time.h"

namespace treve::audit {
namespace {

namespace json = boost::json;

using LocalMs = date::local_time<std::chrono::milliseconds>;

constexpr int kEvening = 20 * 60;  // minutes after local midnight
constexpr int kMorning = 7 * 60;

const json::object* detail_object(const store::AuditRecord& r, json::value& holder) {
  boost::system::error_code ec;
  holder = json::parse(r.detail, ec);
  return ec ? nullptr : holder.if_object();
}

bool flag(const json::object* o, std::string_view key) {
  if (!o)
    return false;
  const json::value* v = o->if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

const json::string* text(const json::object* o, std::string_view key) {
  if (!o)
    return nullptr;
  const json::value* v = o->if_contains(key);
  return v ? v->if_string() : nullptr;
}

std::optional<std::int64_t> integer(const json::object* o, std::string_view key) {
  if (!o)
    return std::nullopt;
  const json::value* v = o->if_contains(key);
  if (v && v->is_int64())
    return v->as_int64();
  if (v && v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

LocalMs local_of(std::int64_t ms, const date::time_zone* zone) {
  const std::chrono::sys_time<std::chrono::milliseconds> t{std::chrono::milliseconds{ms}};
  if (!zone)
    return LocalMs{t.time_since_epoch()};
  return policy::zone_time::to_local(zone, t);
}

}  // namespace

ReceiptTime receipt_time(const LocalMs& local) {
  const auto day = date::floor<date::days>(local);
  const int minutes =
      static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(local - day).count());
  const unsigned weekday = date::weekday{day}.iso_encoding();  // 1 = Monday … 7 = Sunday
  if ((weekday == 5 && minutes >= kEvening) || weekday == 6 || weekday == 7 ||
      (weekday == 1 && minutes < kMorning))
    return ReceiptTime::weekend;
  if (minutes >= kEvening || minutes < kMorning)
    return ReceiptTime::evening;
  return ReceiptTime::daytime;
}

std::int64_t CouncilFigures::crisis_total_ms() const {
  std::int64_t total = 0;
  for (const CrisisFigure& c : crises)
    total += std::max<std::int64_t>(0, c.duration_ms());
  return total;
}

std::optional<std::int64_t> median(std::vector<std::int64_t> values) {
  if (values.empty())
    return std::nullopt;
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const std::int64_t upper = values[mid];
  if (values.size() % 2 == 1)
    return upper;
  const std::int64_t lower =
      *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return lower + (upper - lower) / 2;
}

CouncilTally::CouncilTally(CouncilScope scope) : scope_(std::move(scope)) {}

std::optional<std::int64_t> CouncilTally::instant(const std::string& text) const {
  auto t = policy::parse_rfc3339(text);
  if (!t)
    return std::nullopt;
  return t->time_since_epoch().count();
}

void CouncilTally::add(const store::AuditRecord& r) {
  if (r.establishment != scope_.establishment)
    return;
  const std::string& kind = r.kind;
  json::value holder;
  if (kind.starts_with("crisis_")) {
    const json::object* d = detail_object(r, holder);
    auto id = integer(d, "crisis");
    if (!id)
      return;
    if (kind == "crisis_opened") {
      if (r.at_ms < scope_.from_ms || r.at_ms >= scope_.to_ms)
        return;
      CrisisFigure c;
      c.opened_ms = r.at_ms;
      c.ongoing = true;
      const json::string* until = text(d, "until");
      c.ended_ms = until ? instant(std::string(*until)).value_or(r.at_ms) : r.at_ms;
      if (const json::value* cats = d->if_contains("categories"); cats && cats->is_array()) {
        for (const json::value& v : cats->as_array()) {
          if (v.is_string())
            c.categories.emplace_back(v.as_string());
        }
      }
      crises_[*id] = std::move(c);
      return;
    }
    auto it = crises_.find(*id);
    if (it == crises_.end())
      return;
    if (kind == "crisis_extended") {
      if (const json::string* until = text(d, "until"))
        it->second.ended_ms = instant(std::string(*until)).value_or(it->second.ended_ms);
      ++it->second.extensions;
    } else if (kind == "crisis_closed") {
      it->second.ended_ms = r.at_ms;
      it->second.ongoing = false;
      const json::string* by = text(d, "by");
      it->second.by_expiry = by && *by == "expiry";
    }
    return;
  }

  std::string event_key = r.source + '\n' + r.event_id;
  // An event that waited for its directory has its establishment from its `resolved` record.
  if (kind == "received" || kind == "resolved") {
    if (r.at_ms < scope_.from_ms || r.at_ms >= scope_.to_ms || event_index_.contains(event_key))
      return;
    event_index_.emplace(std::move(event_key), events_.size());
    events_.push_back(Event{r.category, r.at_ms, false});
    return;
  }
  auto event = event_index_.find(event_key);
  if (event == event_index_.end() || r.recipient.empty())
    return;
  std::string delivery_key = event_key + '\n' + r.recipient + '\n' + r.role;
  auto found = delivery_index_.find(delivery_key);
  const bool decision = kind == "held" || kind == "released" || kind == "bypassed";
  if (found == delivery_index_.end()) {
    if (!decision)
      return;
    found = delivery_index_.emplace(std::move(delivery_key), deliveries_.size()).first;
    Delivery d;
    d.event = event->second;
    d.role = r.role;
    deliveries_.push_back(std::move(d));
  }
  Delivery& d = deliveries_[found->second];
  const json::object* detail = detail_object(r, holder);
  if (decision && flag(detail, "late_homework"))
    events_[d.event].late_homework = true;
  if (kind == "held") {
    d.held = true;
    const json::string* until = text(detail, "until");
    d.until_ms = until ? instant(std::string(*until)) : std::nullopt;
  } else if (kind == "released") {
    d.decided = true;
    if (const json::string* at = text(detail, "release_at"))
      d.released_ms = instant(std::string(*at)).value_or(r.at_ms);
    else if (!d.held)
      d.released_ms = r.at_ms;  // sent at once
  } else if (kind == "bypassed") {
    d.decided = true;
    d.bypassed = true;
    d.released_ms = r.at_ms;
    if (integer(detail, "crisis"))
      ++crisis_bypasses_;
  } else if (kind == "held_again") {
    // Due, then held again before it was sent (its recipient's quiet time began): the hold
    // measured is from the receipt to the release that follows.
    d.held = true;
    const json::string* until = text(detail, "until");
    d.until_ms = until ? instant(std::string(*until)) : std::nullopt;
  } else if (kind == "replanned") {
    const json::string* until = text(detail, "until");
    d.until_ms = until ? instant(std::string(*until)) : std::nullopt;
  } else if (kind == "retracted") {
    d.retracted = true;
  } else if (kind == "delivered" || kind == "retrying" || kind == "dead_lettered" ||
             kind == "no_address") {
    const json::string* sink = text(detail, "sink");
    const Outcome outcome = kind == "delivered"       ? Outcome::delivered
                            : kind == "dead_lettered" ? Outcome::dead
                            : kind == "no_address"    ? Outcome::no_address
                                                      : Outcome::retrying;
    copies_[{found->second, sink ? std::string(*sink) : std::string()}] = outcome;
  } else if (kind == "replayed") {
    // Every dead copy of the delivery is being sent again.
    for (auto c = copies_.lower_bound({found->second, std::string()});
         c != copies_.end() && c->first.first == found->second; ++c) {
      if (c->second == Outcome::dead)
        c->second = Outcome::retrying;
    }
  }
}

CouncilFigures CouncilTally::figures() const {
  CouncilFigures f;
  f.scope = scope_;
  f.events = static_cast<std::int64_t>(events_.size());
  std::vector<int> hour_of(events_.size());
  for (std::size_t i = 0; i < events_.size(); ++i) {
    const Event& e = events_[i];
    const LocalMs local = local_of(e.received_ms, scope_.zone);
    const auto day = date::floor<date::days>(local);
    hour_of[i] =
        static_cast<int>(std::chrono::duration_cast<std::chrono::hours>(local - day).count());
    ++f.events_by_hour[static_cast<std::size_t>(hour_of[i])];
    switch (receipt_time(local)) {
      case ReceiptTime::evening:
        ++f.events_evening;
        break;
      case ReceiptTime::weekend:
        ++f.events_weekend;
        break;
      case ReceiptTime::daytime:
        break;
    }
    if (e.category == "homework") {
      ++f.homework_events;
      if (e.late_homework)
        ++f.late_homework_events;
    }
  }

  // The release instant of each delivery, when known: at the end of its hold, or when received.
  auto released_at = [&](const Delivery& d) -> std::optional<std::int64_t> {
    if (d.retracted)
      return std::nullopt;
    if (!d.held)
      return d.released_ms;
    return d.released_ms ? d.released_ms : d.until_ms;
  };
  // The latest student release of each event, for the parents' grade delay.
  std::vector<std::optional<std::int64_t>> student_release(events_.size());
  for (const Delivery& d : deliveries_) {
    if (d.role != "student")
      continue;
    auto at = released_at(d);
    auto& s = student_release[d.event];
    if (at && (!s || *at > *s))
      s = at;
  }

  std::vector<std::int64_t> holds;
  std::vector<std::int64_t> grade_delays;
  for (const Delivery& d : deliveries_) {
    const Event& e = events_[d.event];
    if (!d.held && !d.decided)
      continue;
    ++f.deliveries;
    ++f.deliveries_by_category[e.category];
    if (d.bypassed)
      ++f.bypassed;
    if (!d.held)
      continue;
    ++f.held;
    ++f.held_by_category[e.category];
    ++f.held_by_hour[static_cast<std::size_t>(hour_of[d.event])];
    if (d.retracted) {
      ++f.retracted;
      continue;
    }
    const auto at = released_at(d);
    if (at)
      holds.push_back(std::max<std::int64_t>(0, *at - e.received_ms));
    if (e.category == "grade" && d.role == "parent") {
      ++f.parent_grades_held;
      if (at && student_release[d.event])
        grade_delays.push_back(std::max<std::int64_t>(0, *at - *student_release[d.event]));
    }
  }
  f.holds_measured = static_cast<std::int64_t>(holds.size());
  if (!holds.empty())
    f.longest_hold_ms = *std::max_element(holds.begin(), holds.end());
  f.median_hold_ms = median(std::move(holds));
  f.parent_grade_delays_measured = static_cast<std::int64_t>(grade_delays.size());
  f.median_parent_grade_delay_ms = median(std::move(grade_delays));

  for (const auto& [key, outcome] : copies_) {
    switch (outcome) {
      case Outcome::delivered:
        ++f.copies_delivered;
        break;
      case Outcome::dead:
        ++f.copies_dead;
        break;
      case Outcome::no_address:
        ++f.copies_no_address;
        break;
      case Outcome::retrying:
        ++f.copies_retrying;
        break;
    }
  }

  for (const auto& [id, c] : crises_)
    f.crises.push_back(c);
  std::sort(f.crises.begin(), f.crises.end(),
            [](const CrisisFigure& a, const CrisisFigure& b) { return a.opened_ms < b.opened_ms; });
  f.crisis_bypasses = crisis_bypasses_;
  return f;
}

CouncilFigures count_council_figures(const std::vector<store::AuditRecord>& records,
                                     const CouncilScope& scope) {
  CouncilTally tally(scope);
  for (const store::AuditRecord& r : records)
    tally.add(r);
  return tally.figures();
}

}  // namespace treve::audit
