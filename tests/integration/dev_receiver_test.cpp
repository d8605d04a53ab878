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
    const std::string err = (dir_.path() / "stderr").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> args{
        kBinary,         "dev-receiver", "--listen", "127.0.0.1:" + std::to_string(port_),
        "--secret-file", secret_file,    "--status", std::to_string(status)};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, kBinary.c_str(), &actions, nullptr, argv.data(), environ) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    // Ready when it accepts connections.
    for (int i = 0; i < 200 && pid_ > 0; ++i) {
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
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  std::uint16_t port() const { return port_; }
  std::string output() const { return read_file(out_); }

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::string out_;
  pid_t pid_ = -1;
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
