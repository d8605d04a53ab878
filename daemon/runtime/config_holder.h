// The configuration in force, swapped whole by a reload. Thread-safe.
//
// Two ways to read it. `get` is for readers that do not decide anything lasting. `lease` is for
// requests that decide under it (the ingest API): the configuration comes with a lease of its
// generation, released when the request lets go of it. After `set`, `wait_released` waits until
// every lease of the previous generation is released: from then on, no request is deciding
// under the old policy, and whatever it decided was handed to the writer before.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "daemon/config/config.h"

namespace treve::runtime {

class ConfigHolder {
 public:
  explicit ConfigHolder(std::shared_ptr<const config::Config> config)
      : generation_(std::make_shared<Generation>(std::move(config))) {}

  std::shared_ptr<const config::Config> get() const {
    std::lock_guard lock(mutex_);
    return generation_->config;
  }

  // The configuration, keeping its generation leased for as long as the pointer lives.
  std::shared_ptr<const config::Config> lease() const {
    std::lock_guard lock(mutex_);
    return {generation_, generation_->config.get()};
  }

  // Puts `config` in force; returns a handle on the previous generation for wait_released.
  std::weak_ptr<const void> set(std::shared_ptr<const config::Config> config) {
    auto next = std::make_shared<Generation>(std::move(config));
    std::lock_guard lock(mutex_);
    std::weak_ptr<const void> previous = generation_;
    generation_.swap(next);
    return previous;  // `next` (the old generation) is released here, outside any lease
  }

  // Waits until no lease of `previous` is held any more; false after `timeout`.
  static bool wait_released(const std::weak_ptr<const void>& previous,
                            std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!previous.expired()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::microseconds{200});
    }
    return true;
  }

 private:
  struct Generation {
    explicit Generation(std::shared_ptr<const config::Config> c) : config(std::move(c)) {}
    std::shared_ptr<const config::Config> config;
  };
  mutable std::mutex mutex_;
  std::shared_ptr<Generation> generation_;
};

}  // namespace treve::runtime
