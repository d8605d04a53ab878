#include "policy/quiet_interval.h"

#include <algorithm>

namespace treve::policy {

QuietIntervalSet::QuietIntervalSet(std::vector<QuietPiece> pieces) {
  std::erase_if(pieces, [](const QuietPiece& p) { return p.end <= p.start; });
  std::sort(pieces.begin(), pieces.end(), [](const QuietPiece& a, const QuietPiece& b) {
    return a.start != b.start ? a.start < b.start : a.end < b.end;
  });
  pieces_ = std::move(pieces);
  for (std::uint32_t i = 0; i < pieces_.size(); ++i) {
    const auto& p = pieces_[i];
    if (!merged_.empty() && p.start <= merged_.back().end) {
      merged_.back().end = std::max(merged_.back().end, p.end);
      ++merged_.back().piece_count;
    } else {
      merged_.push_back({p.start, p.end, i, 1});
    }
  }
  if (merged_.empty())
    return;
  constexpr std::int64_t kDay = 86'400;
  auto floor_day = [](std::int64_t s) { return (s >= 0 ? s : s - (kDay - 1)) / kDay; };
  first_day_ = floor_day(merged_.front().start);
  const std::int64_t last_day = floor_day(merged_.back().end);
  day_index_.resize(static_cast<std::size_t>(last_day - first_day_ + 1));
  std::uint32_t m = 0;
  for (std::size_t k = 0; k < day_index_.size(); ++k) {
    const std::int64_t day_start = (first_day_ + static_cast<std::int64_t>(k)) * kDay;
    while (m < merged_.size() && merged_[m].end <= day_start)
      ++m;
    day_index_[k] = m;
  }
}

const QuietIntervalSet::Hit* QuietIntervalSet::find(std::int64_t t_ms, Hit& out) const {
  if (merged_.empty())
    return nullptr;
  const std::int64_t t_s = t_ms >= 0 ? t_ms / 1000 : -((-t_ms + 999) / 1000);  // floor
  const std::int64_t k = (t_s >= 0 ? t_s : t_s - 86'399) / 86'400 - first_day_;
  if (k < 0 || k >= static_cast<std::int64_t>(day_index_.size()))
    return nullptr;
  // Merged intervals are disjoint and sorted: skip those that end before t; the next one
  // contains t or starts after it.
  auto it = merged_.begin() + day_index_[static_cast<std::size_t>(k)];
  while (it != merged_.end() && it->end * 1000 <= t_ms)
    ++it;
  if (it == merged_.end() || it->start * 1000 > t_ms)
    return nullptr;
  out.end = it->end;
  out.pieces = std::span<const QuietPiece>(pieces_.data() + it->first_piece, it->piece_count);
  return &out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> QuietIntervalSet::merged_between(
    std::int64_t from_s, std::int64_t to_s) const {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& m : merged_) {
    if (m.end > from_s && m.start < to_s)
      out.emplace_back(m.start, m.end);
  }
  return out;
}

}  // namespace treve::policy
