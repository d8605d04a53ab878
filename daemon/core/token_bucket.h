// A token bucket holding one second's worth at `rate` a second (at least one token), so that
// never more than `rate` go in any second: the sinks' deliveries (dispatch) and the connectors'
// requests (ingest). Steady time: a wall clock that jumps neither fills nor drains it.
// Not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>

namespace treve::core {

class TokenBucket {
 public:
  using Time = std::chrono::steady_clock::time_point;

  // Full at `now`.
  TokenBucket(double rate, Time now) : rate_(rate), tokens_(capacity()), refilled_(now) {}

  double rate() const { return rate_; }
  // A new rate (a reload): what the bucket holds stays, up to the new capacity.
  void set_rate(double rate) {
    rate_ = rate;
    tokens_ = std::min(tokens_, capacity());
  }
  // What it holds at `now`, refilled since the last call; whole tokens may be taken.
  double refill(Time now) {
    if (now > refilled_) {
      const double elapsed = std::chrono::duration<double>(now - refilled_).count();
      tokens_ = std::min(capacity(), tokens_ + elapsed * rate_);
      refilled_ = now;
    }
    return tokens_;
  }
  void take(double n) { tokens_ -= n; }
  // Seconds until a whole token is there; 0 when one is.
  double wait_for_one() const { return tokens_ >= 1.0 ? 0.0 : (1.0 - tokens_) / rate_; }

 private:
  double capacity() const { return std::max(rate_, 1.0); }

  double rate_;
  double tokens_;
  Time refilled_;
};

}  // namespace treve::core
