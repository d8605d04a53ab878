// The FCM stand-in (tests/channels/fcm_service.mjs: Google's token endpoint and the FCM HTTP v1
// API, on Node.js) started for a test or a benchmark: its own CA and server certificate, a
// service account key whose public half it verifies assertions with, the service account's
// JSON key text for a sink's `credentials`, and the messages it accepted. Header-only.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "daemon/dispatch/http_client.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"

#ifndef TREVE_SOURCE_DIR
#error "the FCM stand-in is found through TREVE_SOURCE_DIR"
#endif

namespace treve::test {

struct FcmServiceOptions {
  std::int64_t expires_in = 3600;  // the access tokens' lifetime, in seconds
  bool log = true;                 // record each accepted message (off in the benchmarks)
  // Count each device token's messages as fresh, repeated or late by their event id (--check-order
  // of the stand-in, in its /stats): order checked without a log.
  bool check_order = false;
};

class FcmService {
 public:
  static constexpr const char* kProject = "treve-test";
  static constexpr const char* kClientEmail = "treve@treve-test.iam.gserviceaccount.com";
  static constexpr const char* kKeyId = "treve-test-key-1";

  static std::string script() {
    return std::string(TREVE_SOURCE_DIR) + "/tests/channels/fcm_service.mjs";
  }

  // Why the stand-in cannot run here (no node, no npm packages, no openssl), or nullopt.
  static std::optional<std::string> missing() {
    if (run_shell("command -v node").status != 0)
      return "Node.js is not installed: run scripts/install-channel-deps";
    if (!std::filesystem::exists(std::string(TREVE_SOURCE_DIR) +
                                 "/tests/channels/node_modules/jose/package.json")) {
      return "the npm package jose is missing from tests/channels/node_modules: run "
             "scripts/install-channel-deps";
    }
    if (!std::filesystem::exists(kOpenssl))
      return "openssl is not installed: run scripts/install-channel-deps";
    return std::nullopt;
  }

  explicit FcmService(FcmServiceOptions options = {}) : dir_("treve-fcm") {
    if (auto why = missing())
      throw std::runtime_error(*why);
    ca_ = make_test_ca(dir_);
    key_ = make_rsa_key(dir_, "account");
    Command c;
    c.program = "/usr/bin/env";
    c.args = {"node",           script(),       "--cert",       ca_.server_cert,
              "--key",          ca_.server_key, "--public-key", key_.public_key,
              "--client-email", kClientEmail,   "--key-id",     kKeyId,
              "--project",      kProject,       "--expires-in", std::to_string(options.expires_in)};
    if (options.log) {
      c.args.push_back("--log");
      c.args.push_back(log_path());
    }
    if (options.check_order)
      c.args.push_back("--check-order");
    c.stdout_path = dir_.file("stdout");
    c.stderr_path = dir_.file("stderr");
    process_ = std::make_unique<Process>(c);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      const std::string out = read_whole_file(c.stdout_path);
      if (out.find('\n') != std::string::npos) {
        port_ = std::stoi(out);
        break;
      }
      if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the FCM stand-in did not start:\n" + stderr_text());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    boost::json::object account{
        {"type", "service_account"},    {"project_id", kProject},
        {"private_key_id", kKeyId},     {"private_key", read_whole_file(key_.private_key)},
        {"client_email", kClientEmail}, {"token_uri", token_uri()}};
    credentials_ = boost::json::serialize(account);
  }
  FcmService(const FcmService&) = delete;
  FcmService& operator=(const FcmService&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string token_uri() const { return endpoint() + "/token"; }
  const std::string& ca_file() const { return ca_.ca_file; }
  // The service account's JSON key, as a sink's `credentials` holds it.
  const std::string& credentials() const { return credentials_; }
  std::string log_path() const { return dir_.file("messages.jsonl"); }
  std::string stderr_text() const { return read_whole_file(dir_.file("stderr")); }
  const TempDir& dir() const { return dir_; }

  // The messages accepted so far, in order.
  std::vector<boost::json::object> messages() const {
    std::vector<boost::json::object> out;
    std::ifstream in(log_path());
    for (std::string line; std::getline(in, line);) {
      if (!line.empty())
        out.push_back(boost::json::parse(line).as_object());
    }
    return out;
  }

  // POSTs `body` to `path` (/control or /stats) with `http`, running `ioc` on this thread until
  // the answer: the stand-in's statistics. Tried three times: the connection it goes on may be
  // one the stand-in is closing (GOAWAY after about 1,000 streams, see tests/bench/fcm_bench).
  boost::json::object post(boost::asio::io_context& ioc, dispatch::HttpClient& http,
                           const std::string& path, const std::string& body = "{}") const {
    std::string error;
    for (int attempt = 0; attempt < 3; ++attempt) {
      dispatch::HttpRequest request;
      request.url = endpoint() + path;
      request.headers = {{"Content-Type", "application/json"}};
      request.body = body;
      request.ca_file = ca_file();
      std::optional<dispatch::HttpResponse> answer;
      http.post(std::move(request), [&answer](dispatch::HttpResponse r) { answer = std::move(r); });
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!answer && std::chrono::steady_clock::now() < deadline) {
        if (ioc.stopped())
          ioc.restart();
        ioc.run_for(std::chrono::milliseconds(10));
      }
      if (answer && answer->status == 200)
        return boost::json::parse(answer->body).as_object();
      error = answer ? std::to_string(answer->status) + " " + answer->error + answer->body
                     : std::string("timeout");
      if (answer && answer->status != 0)
        break;
    }
    throw std::runtime_error("the FCM stand-in's " + path + " did not answer: " + error);
  }
  boost::json::object stats(boost::asio::io_context& ioc, dispatch::HttpClient& http) const {
    return post(ioc, http, "/stats");
  }

 private:
  TempDir dir_;
  TestCa ca_;
  RsaKeyFiles key_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
  std::string credentials_;
};

// Runs `ioc` on this thread until `done()` or `timeout`; whether `done()` came true.
inline bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    if (ioc.stopped())
      ioc.restart();
    ioc.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace treve::test
