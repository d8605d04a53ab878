#include "daemon/runtime/notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"

namespace treve::runtime {

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket && *socket;
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    watchdog_ = std::chrono::microseconds{static_cast<long long>(usec / 2)};
}

void Notifier::send(const std::string& state) const {
  if (!enabled_)
    return;
  if (int r = sd_notify(0, state.c_str()); r < 0)
    spdlog::warn("event=notify.failed error={}", core::quoted(std::strerror(-r)));
}

void Notifier::ready(const std::string& status) const {
  send("READY=1\nSTATUS=" + status);
}

void Notifier::status(const std::string& status) const {
  send("STATUS=" + status);
}

void Notifier::watchdog() const {
  send("WATCHDOG=1");
}

void Notifier::reloading() const {
  // systemd 253 and later want the monotonic time with RELOADING=1; older ones ignore it.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::stopping() const {
  send("STOPPING=1");
}

}  // namespace treve::runtime
