// Secrets on the real daemon: a sink's secret read from a systemd credential
// ($CREDENTIALS_DIRECTORY, `secret_file = "credential:NAME"`), and a rotation: two secrets in
// the file, every request signed with both, so that a receiver holding either accepts it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Secrets, ARotatingSecretFromASystemdCredentialSignsEachRequestWithBoth) {
  TempDir credentials("treve-credentials");
  const std::string fresh = make_webhook_secret();
  const std::string old = make_webhook_secret();
  const std::string file = credentials.write("ent-push", fresh + "\n" + old + "\n");
  fs::permissions(file, fs::perms::owner_read);

  WebhookReceiver hooks;
  DaemonOptions o;
  o.env = {{"CREDENTIALS_DIRECTORY", credentials.path().string()}};
  o.extra_config = "\n[[sinks]]\nname = \"ent-push\"\ntype = \"webhook\"\nurl = \"" + hooks.url() +
                   "\"\nsecret_file = \"credential:ent-push\"\ndefault = true\n";
  Daemon daemon(o);
  daemon.start();
  // An urgent alert from the connector that may bypass: sent at once.
  EventSpec alert;
  alert.id = "s-1";
  alert.category = "alert";
  alert.urgent = true;
  auto r = HttpClient(daemon.port()).post_event(event_body(alert), kAlertToken);
  ASSERT_EQ(r.status, 202) << r;
  ASSERT_TRUE(hooks.wait_for_count(1, std::chrono::seconds(10))) << daemon.stderr_log();
  const WebhookRequest request = hooks.requests().front();
  EXPECT_EQ(WebhookVerifier(fresh).check(request), "");
  EXPECT_EQ(WebhookVerifier(old).check(request), "");
  EXPECT_NE(WebhookVerifier(make_webhook_secret()).check(request), "");
  const std::string& header = request.webhook_signature;
  EXPECT_EQ(std::count(header.begin(), header.end(), ','), 2) << header;
  EXPECT_THAT(daemon.stderr_log(), Not(HasSubstr(fresh.substr(6))));
  EXPECT_EQ(daemon.stop(), 0);

  // Without the credentials' directory (not under systemd), the configuration says why.
  auto checked = run_treve({"check-config", "--config", daemon.config_path()});
  EXPECT_NE(checked.status, 0);
  EXPECT_THAT(checked.err, HasSubstr("\"credential:ent-push\": $CREDENTIALS_DIRECTORY is not set"));
}

}  // namespace
}  // namespace treve::itest
