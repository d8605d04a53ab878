// The daemon's side of systemd's notify protocol (sd_notify): READY=1 once it serves,
// STATUS= kept current, WATCHDOG=1 from the event loop, STOPPING=1 on SIGTERM. Without
// NOTIFY_SOCKET (not started by systemd, or Type= is not notify) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace treve::runtime {

class Notifier {
 public:
  Notifier();

  bool enabled() const { return enabled_; }
  // Half of WATCHDOG_USEC when systemd watches this process: how often to send WATCHDOG=1.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

  void ready(const std::string& status) const;
  void status(const std::string& status) const;
  void watchdog() const;
  void reloading() const;
  void stopping() const;

 private:
  void send(const std::string& state) const;
  bool enabled_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace treve::runtime
