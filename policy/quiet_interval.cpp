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
}

const QuietIntervalSet::Hit* QuietIntervalSet::find(std::int64_t t_ms, Hit& out) const {
  // First merged interval starting after t; the candidate is the one before it.
  auto it = std::upper_bound(merged_.begin(), merged_.end(), t_ms,
                             [](std::int64_t t, const Merged& m) { return t < m.start * 1000; });
  if (it == merged_.begin()) return nullptr;
  --it;
  if (t_ms >= it->end * 1000) return nullptr;
  out.end = it->end;
  out.pieces = std::span<const QuietPiece>(pieces_.data() + it->first_piece, it->piece_count);
  return &out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> QuietIntervalSet::merged_between(
    std::int64_t from_s, std::int64_t to_s) const {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& m : merged_) {
    if (m.end > from_s && m.start < to_s) out.emplace_back(m.start, m.end);
  }
  return out;
}

}  // namespace treve::policy
