// Where the daemon reads time. Wall time (`now`) decides quiet windows and stamps records;
// steady time measures timeouts and intervals. Tests substitute a FakeClock.
// Implementations are safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>

#include "policy/instant.h"

namespace treve::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual policy::Instant now() const = 0;
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  policy::Instant now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
};

// Wall time that starts at a chosen instant and runs at the speed of `base` from there; steady
// time is `base`'s. The clock of `serve` under the test hook `[testing] clock_start`, so that a
// test reaches a quiet window's end in seconds (docs/development.md, "Test hooks").
class OffsetClock final : public Clock {
 public:
  // `base` must outlive this clock. Its `now()` at construction becomes `start`.
  OffsetClock(const Clock& base, policy::Instant start)
      : base_(base), offset_(start - base.now()) {}
  policy::Instant now() const override { return base_.now() + offset_; }
  std::chrono::steady_clock::time_point steady_now() const override { return base_.steady_now(); }
  // How far ahead of `base` this clock is (negative: behind).
  std::chrono::milliseconds offset() const { return offset_; }

 private:
  const Clock& base_;
  std::chrono::milliseconds offset_;
};

// A clock that moves only when told. Both times advance together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(policy::Instant start) : wall_ms_(start.time_since_epoch().count()) {}
  policy::Instant now() const override {
    return policy::Instant{std::chrono::milliseconds{wall_ms_.load()}};
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point{std::chrono::milliseconds{steady_ms_.load()}};
  }
  void advance(std::chrono::milliseconds d) {
    wall_ms_ += d.count();
    steady_ms_ += d.count();
  }
  // A wall-clock step (NTP, suspend): steady time does not move.
  void set_wall(policy::Instant t) { wall_ms_ = t.time_since_epoch().count(); }

 private:
  std::atomic<long long> wall_ms_;
  std::atomic<long long> steady_ms_{0};
};

}  // namespace treve::core
