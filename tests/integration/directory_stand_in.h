// A directory of an ENT's users for integration tests (docs/connectors.md, "The directory"): a
// real HTTP server in this process (webhook_receiver.h's), checking each request's Standard
// Webhooks signature, answering who each user is (profile, structures, children) from what the
// test added, or failing (500), or too slowly, as the test sets while the daemon runs.
//
// Header-only; everything is `inline` (or a class) because several test files may include it.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {

// The directory: who each user is, and how it answers (settable while the daemon runs).
class Directory {
 public:
  enum class Mode { answer, fail, slow };

  Directory()
      : secret_(make_webhook_secret()),
        verifier_(secret_),
        server_([this](const WebhookRequest& r, int) { return answer(r); }) {}

  void set_mode(Mode m) {
    std::lock_guard lock(mutex_);
    mode_ = m;
  }
  void add(const std::string& id, const std::string& profile, std::vector<std::string> structures,
           std::vector<std::string> children = {}) {
    boost::json::object u{{"profile", profile}};
    boost::json::array s, c;
    for (auto& x : structures)
      s.push_back(boost::json::value(x));
    for (auto& x : children)
      c.push_back(boost::json::value(x));
    u["structures"] = s;
    if (!children.empty())
      u["children"] = c;
    std::lock_guard lock(mutex_);
    users_[id] = std::move(u);
  }
  int requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::string url() const { return server_.url("/annuaire/treve"); }
  const std::string& secret() const { return secret_; }

 private:
  WebhookResponse answer(const WebhookRequest& r) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object() || !verifier_.verify(r))
      return WebhookResponse{401, std::nullopt, {}, "bad signature"};
    std::lock_guard lock(mutex_);
    ++requests_;
    if (mode_ == Mode::fail)
      return WebhookResponse{500, std::nullopt, {}, "directory down"};
    if (mode_ == Mode::slow)
      return WebhookResponse{200, std::nullopt, std::chrono::milliseconds(3'000), "{}"};
    boost::json::object users;
    for (const auto& id : v.as_object().at("users").as_array()) {
      const std::string key(id.as_string());
      if (auto u = users_.find(key); u != users_.end())
        users[key] = u->second;
    }
    return WebhookResponse{
        200, std::nullopt, {}, boost::json::serialize(boost::json::object{{"users", users}})};
  }

  std::string secret_;
  WebhookVerifier verifier_;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::answer;
  std::map<std::string, boost::json::object> users_;
  int requests_ = 0;
  WebhookReceiver server_;
};

// Starts `daemon` once the secrets its configuration names are beside it: "hook.secret" (a
// webhook sink's) and "directory.secret" (`directory`'s, readable by its owner only).
inline void start_with_secrets(Daemon& daemon, const Directory& directory) {
  const std::filesystem::path dir = std::filesystem::path(daemon.config_path()).parent_path();
  std::ofstream(dir / "hook.secret", std::ios::binary) << make_webhook_secret() << "\n";
  std::ofstream(dir / "directory.secret", std::ios::binary) << directory.secret() << "\n";
  ::chmod((dir / "directory.secret").c_str(), 0600);
  daemon.start();
}

// Waits until `get` (GET /v1/events/{id}) shows the event with deliveries and no longer waiting
// for its directory; that answer (a failure after `patience`, with the daemon's log).
inline boost::json::object wait_resolved(const std::function<boost::json::object()>& get,
                                         std::chrono::milliseconds patience, const Daemon& daemon) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  boost::json::object o;
  while (std::chrono::steady_clock::now() < deadline) {
    o = get();
    const boost::json::value* d = o.if_contains("deliveries");
    if (!o.contains("awaiting_directory") && d && d->is_array() && !d->as_array().empty())
      return o;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  ADD_FAILURE() << "not resolved: " << boost::json::serialize(o) << "\n" << daemon.stderr_log();
  return o;
}

}  // namespace treve::itest
