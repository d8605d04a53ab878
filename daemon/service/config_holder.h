// The configuration in force, swapped whole by a reload. Readers take a reference-counted
// snapshot per request, so a request decided before a reload finishes on the configuration it
// started with. Thread-safe.
#pragma once

#include <memory>
#include <mutex>

#include "daemon/config/config.h"

namespace treve::service {

class ConfigHolder {
 public:
  explicit ConfigHolder(std::shared_ptr<const config::Config> config)
      : config_(std::move(config)) {}

  std::shared_ptr<const config::Config> get() const {
    std::lock_guard lock(mutex_);
    return config_;
  }
  void set(std::shared_ptr<const config::Config> config) {
    std::lock_guard lock(mutex_);
    config_.swap(config);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const config::Config> config_;
};

}  // namespace treve::service
