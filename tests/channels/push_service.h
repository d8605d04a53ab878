// tests/channels/push_service.mjs, the Web Push service stand-in, started for real by a test or
// a benchmark: a Node.js process serving HTTPS on 127.0.0.1 with a certificate of the test's
// own authority (tests/support/test_ca.h), the subscriptions it made (as browsers do) and what
// it received, verified and decrypted. Header-only.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"

namespace treve::test {

// A program found on PATH; empty when it is not there.
inline std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path candidate = std::filesystem::path(dir) / program;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0)
      return candidate.string();
  }
  return {};
}

// Why the stand-in cannot run here (no Node.js, no npm modules), or nothing.
inline std::optional<std::string> push_service_missing(const std::string& source_dir) {
  if (find_on_path("node").empty())
    return "node is not on PATH: run scripts/install-channel-deps";
  for (const char* module : {"web-push", "http_ece", "jose"}) {
    if (!std::filesystem::exists(source_dir + "/tests/channels/node_modules/" + module))
      return std::string("tests/channels/node_modules/") + module +
             " is missing: run scripts/install-channel-deps";
  }
  if (!std::filesystem::exists(kOpenssl))
    return std::string(kOpenssl) + " is missing: run scripts/install-channel-deps";
  return std::nullopt;
}

// A VAPID key made by the web-push library's generateVAPIDKeys() (push_service.mjs
// vapid-keys), written as a PKCS #8 PEM file `name` in `dir`; its path.
inline std::string web_push_vapid_key(const std::string& source_dir, const TempDir& dir,
                                      const std::string& name) {
  const std::string out = dir.file(name);
  const ProcessResult r =
      run(command(find_on_path("node"),
                  {source_dir + "/tests/channels/push_service.mjs", "vapid-keys", "--out", out}));
  if (r.status != 0)
    throw std::runtime_error("push_service.mjs vapid-keys failed: " + r.err);
  return out;
}

class PushService {
 public:
  struct Options {
    std::vector<std::string> ids;  // the subscriptions to make (their prefix picks the answer)
    int count = 0;                 // or this many, "sub-0" … when `ids` is empty
    bool verify = true;            // false: --no-verify, nothing checked nor recorded
    bool record = true;            // what was verified is recorded (records())
    std::string application_server_key;  // a PEM file: `k` must be its public key
  };

  // Starts the stand-in with its files in `dir`, serving `ca`'s server certificate; waits until
  // it listens. Throws std::runtime_error with what it printed when it does not start.
  PushService(const std::string& source_dir, const TempDir& dir, const TestCa& ca,
              const Options& options)
      : subscriptions_path_(dir.file("subscriptions.json")),
        log_path_(dir.file("received.jsonl")),
        stdout_path_(dir.file("push_service.out")),
        stderr_path_(dir.file("push_service.err")) {
    Command c;
    c.program = find_on_path("node");
    c.args = {source_dir + "/tests/channels/push_service.mjs",
              "serve",
              "--cert",
              ca.server_cert,
              "--key",
              ca.server_key,
              "--subscriptions",
              subscriptions_path_};
    if (!options.ids.empty()) {
      std::string ids;
      for (const auto& id : options.ids)
        ids += (ids.empty() ? "" : ",") + id;
      c.args.insert(c.args.end(), {"--ids", ids});
    } else {
      c.args.insert(c.args.end(), {"--count", std::to_string(options.count)});
    }
    if (!options.verify)
      c.args.push_back("--no-verify");
    else if (options.record)
      c.args.insert(c.args.end(), {"--log", log_path_});
    if (!options.application_server_key.empty())
      c.args.insert(c.args.end(), {"--application-server-key", options.application_server_key});
    c.stdout_path = stdout_path_;
    c.stderr_path = stderr_path_;
    process_.emplace(c);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      const std::string out = read_whole_file(stdout_path_);
      if (const auto nl = out.find('\n'); nl != std::string::npos) {
        port_ = std::stoi(out.substr(0, nl));
        break;
      }
      if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the push service stand-in did not start: " +
                                 read_whole_file(stderr_path_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const boost::json::value subs = boost::json::parse(read_whole_file(subscriptions_path_));
    for (const auto& s : subs.as_array())
      subscriptions_.push_back(s.as_object());
  }

  int port() const { return port_; }
  std::string origin() const { return "https://127.0.0.1:" + std::to_string(port_); }

  // The subscriptions as made, in order: {"id","endpoint","keys":{"p256dh","auth"}}.
  const std::vector<boost::json::object>& subscriptions() const { return subscriptions_; }
  // The one whose id is `id`, as PushSubscription.toJSON() gives it (without "id").
  boost::json::object subscription(const std::string& id) const {
    for (const auto& s : subscriptions_) {
      if (s.at("id").as_string() == id)
        return {{"endpoint", s.at("endpoint")}, {"keys", s.at("keys")}};
    }
    throw std::runtime_error("no subscription " + id);
  }

  // What was received so far, one record per request (see push_service.mjs).
  std::vector<boost::json::object> records() const {
    std::vector<boost::json::object> out;
    std::istringstream lines(read_whole_file(log_path_));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty())
        out.push_back(boost::json::parse(line).as_object());
    }
    return out;
  }
  // What it printed on its standard error (Node's own errors).
  std::string errors() const { return read_whole_file(stderr_path_); }

 private:
  std::string subscriptions_path_, log_path_, stdout_path_, stderr_path_;
  std::optional<Process> process_;
  int port_ = 0;
  std::vector<boost::json::object> subscriptions_;
};

}  // namespace treve::test
