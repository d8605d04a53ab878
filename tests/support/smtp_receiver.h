// A real SMTP relay on loopback for the e-mail channel's tests and benchmark:
// tests/channels/smtp_receiver.py (Debian's python3-aiosmtpd) in a process of its own, with
// STARTTLS under a certificate of the tests' own CA (test_ca.h) and AUTH when asked. What it
// saved (each message and its envelope) and how many connections it accepted are read from its
// directory. Header-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"

namespace treve::test {

// Debian's interpreter: the one python3-aiosmtpd is installed for (a python3 earlier on PATH,
// pyenv's say, may not have it).
inline const std::string kSystemPython = "/usr/bin/python3";

// Why the relay cannot run here, or empty when it can.
inline std::string smtp_receiver_missing() {
  if (!std::filesystem::exists(kSystemPython))
    return "/usr/bin/python3 is not installed: run scripts/install-channel-deps";
  if (run(command(kSystemPython, {"-c", "import aiosmtpd.smtp"})).status != 0)
    return "python3-aiosmtpd is not installed: run scripts/install-channel-deps";
  return {};
}

struct SmtpReceiverOptions {
  bool tls = true;            // offer STARTTLS (required before AUTH)
  bool implicit_tls = false;  // with `tls`: TLS from the first byte instead (smtps://)
  std::string username;       // AUTH required with these when not empty
  std::string password;
  std::vector<std::string> temp_fail;  // RCPT TO addresses starting so: 451
  std::vector<std::string> perm_fail;  // …: 550
  // {prefix, ms}: a message to an address starting so is answered ms after its final dot.
  std::vector<std::pair<std::string, int>> slow;
};

class SmtpReceiver {
 public:
  // Starts the relay and waits until it listens; throws std::runtime_error saying why not.
  explicit SmtpReceiver(SmtpReceiverOptions options = {}) : dir_("treve-smtp") {
    if (const std::string missing = smtp_receiver_missing(); !missing.empty())
      throw std::runtime_error(missing);
    Command c =
        command(kSystemPython, {std::string(TREVE_SOURCE_DIR) + "/tests/channels/smtp_receiver.py",
                                "--dir", messages_dir()});
    if (options.tls) {
      const TestCa ca = make_test_ca(dir_);  // throws when openssl fails
      ca_file_ = ca.ca_file;
      c.args.insert(c.args.end(), {"--cert", ca.server_cert, "--key", ca.server_key});
      if (options.implicit_tls)
        c.args.push_back("--implicit-tls");
      implicit_tls_ = options.implicit_tls;
    }
    if (!options.username.empty())
      c.args.insert(c.args.end(), {"--username", options.username, "--password", options.password});
    for (const std::string& prefix : options.temp_fail)
      c.args.insert(c.args.end(), {"--temp-fail", prefix});
    for (const std::string& prefix : options.perm_fail)
      c.args.insert(c.args.end(), {"--perm-fail", prefix});
    for (const auto& [prefix, ms] : options.slow)
      c.args.insert(c.args.end(), {"--slow", prefix + ":" + std::to_string(ms)});
    c.stdout_path = dir_.file("stdout");
    c.stderr_path = dir_.file("stderr");
    process_ = std::make_unique<Process>(c);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      const std::string out = read_whole_file(c.stdout_path);
      if (out.starts_with("port ") && out.find('\n') != std::string::npos) {
        port_ = std::stoi(out.substr(5));
        return;
      }
      if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the SMTP relay did not start:\n" +
                                 read_whole_file(c.stderr_path));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  SmtpReceiver(const SmtpReceiver&) = delete;
  SmtpReceiver& operator=(const SmtpReceiver&) = delete;

  int port() const { return port_; }
  // "smtp://127.0.0.1:<port>", or "smtps://…" with implicit TLS.
  std::string url() const {
    return (implicit_tls_ ? "smtps://127.0.0.1:" : "smtp://127.0.0.1:") + std::to_string(port_);
  }
  // The CA that signed its certificate (empty without TLS).
  const std::string& ca_file() const { return ca_file_; }
  std::string messages_dir() const { return dir_.file("messages"); }
  // What it wrote on its standard error (aiosmtpd's log).
  std::string log() const { return read_whole_file(dir_.file("stderr")); }

  // TCP connections accepted so far.
  int connections() const {
    const std::string n = read_whole_file(messages_dir() + "/connections");
    return n.empty() ? 0 : std::stoi(n);
  }
  // The messages saved so far, in order of arrival (their .eml paths).
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(messages_dir(), ec)) {
      if (entry.path().extension() == ".eml")
        out.push_back(entry.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The envelope saved with the message at `eml`: {"mail_from", "rcpt_tos", "tls", "login",
  // "connection"}.
  static boost::json::value envelope(const std::string& eml) {
    const std::string json = read_whole_file(eml.substr(0, eml.size() - 4) + ".json");
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(json, ec);
    return ec ? boost::json::value() : v;
  }

 private:
  TempDir dir_;
  std::string ca_file_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
  bool implicit_tls_ = false;
};

}  // namespace treve::test
