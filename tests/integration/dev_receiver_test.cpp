// `treve dev-receiver`, the receiver scripts/run starts: run as a real process, sent signed
// and unsigned requests over loopback; it must say which signatures verify and answer the
// status it was told to.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

class DevReceiver {
 public:
  DevReceiver(const std::string& secret_file, int status) : dir_("treve-devrecv") {
    port_ = free_loopback_port();
    out_ = (dir_.path() / "stdout").string();
    test::Command c;
    c.program = kBinary;
    c.args = {"dev-receiver",        "--listen",  "127.0.0.1:" + std::to_string(port_),
              "--secret-file",       secret_file, "--status",
              std::to_string(status)};
    c.stdin_path = "";
    c.stdout_path = out_;
    c.stderr_path = (dir_.path() / "stderr").string();
    try {
      process_.emplace(c);
    } catch (const std::exception&) {
    }
    // Ready when it accepts connections.
    for (int i = 0; i < 200 && process_; ++i) {
      try {
        HttpClient probe(port_, std::chrono::milliseconds(200));
        probe.request(bhttp::verb::get, "/probe");
        break;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  ~DevReceiver() {
    if (process_) {
      process_->signal(SIGTERM);
      process_->wait();
    }
  }
  std::uint16_t port() const { return port_; }
  std::string output() const { return read_file(out_); }

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::string out_;
  std::optional<test::Process> process_;
};

TEST(DevReceiver, SaysWhichSignaturesVerifyPrintsDeliveriesAndAnswersTheChosenStatus) {
  const std::string secret_file = TREVE_SOURCE_DIR "/systemd/ent-push.secret";
  std::string secret = read_file(secret_file);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
    secret.pop_back();
  DevReceiver receiver(secret_file, 503);
  const std::string body =
      R"({"type":"treve.delivery","delivery_id":"dlv_1","source":"ent","id":"msg-1",)"
      R"("recipient":"u-1","role":"student","category":"message","title":"Bonjour",)"
      R"("released_at":"2026-11-30T07:00:00+01:00"})";
  const std::string ts = "1790000000";
  HttpClient client(receiver.port());
  auto good =
      client.request(bhttp::verb::post, "/hooks/push", body,
                     {{"webhook-id", "dlv_1"},
                      {"webhook-timestamp", ts},
                      {"webhook-signature", WebhookVerifier(secret).sign("dlv_1", ts, body)},
                      {"Content-Type", "application/json"}});
  EXPECT_EQ(good.status, 503);
  auto bad = client.request(bhttp::verb::post, "/hooks/push", body + " ",
                            {{"webhook-id", "dlv_1"},
                             {"webhook-timestamp", ts},
                             {"webhook-signature", WebhookVerifier(secret).sign("dlv_1", ts, body)},
                             {"Content-Type", "application/json"}});
  EXPECT_EQ(bad.status, 503);
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out = receiver.output();
    if (out.find("SIGNATURE BAD") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(out, HasSubstr("webhook-id dlv_1  signature ok  answer 503"));
  EXPECT_THAT(out, HasSubstr("SIGNATURE BAD"));
  EXPECT_THAT(out, HasSubstr("delivery dlv_1  ent/msg-1  to u-1 (student)  message  \"Bonjour\""));
}

}  // namespace
}  // namespace treve::itest
