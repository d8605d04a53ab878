// A user directory served by a test (docs/connectors.md, "The directory"): webhook_receiver.h's
// server checking each request's Standard Webhooks signature, answering who each user asked
// is, failing (500) or answering late when told to.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/integration/webhook_receiver.h"

namespace treve::itest {

namespace json = boost::json;

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
    json::object u{{"profile", profile}};
    json::array s, c;
    for (auto& x : structures)
      s.push_back(json::value(x));
    for (auto& x : children)
      c.push_back(json::value(x));
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
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !verifier_.verify(r))
      return WebhookResponse{401, std::nullopt, {}, "bad signature"};
    std::lock_guard lock(mutex_);
    ++requests_;
    if (mode_ == Mode::fail)
      return WebhookResponse{500, std::nullopt, {}, "directory down"};
    if (mode_ == Mode::slow)
      return WebhookResponse{200, std::nullopt, std::chrono::milliseconds(3'000), "{}"};
    json::object users;
    for (const auto& id : v.as_object().at("users").as_array()) {
      const std::string key(id.as_string());
      if (auto u = users_.find(key); u != users_.end())
        users[key] = u->second;
    }
    return WebhookResponse{200, std::nullopt, {}, json::serialize(json::object{{"users", users}})};
  }

  std::string secret_;
  WebhookVerifier verifier_;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::answer;
  std::map<std::string, json::object> users_;
  int requests_ = 0;
  WebhookReceiver server_;
};

}  // namespace treve::itest
