// A connector's request rate (`[[connectors]] rate`) on the real daemon: over it, `429
// rate-limited` with Retry-After and nothing kept; other connectors are not slowed; the bucket
// refills at the rate; the log says so once in a while, naming the connector only.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

const std::string kLimitedToken = "limited-connector-token-0123456789";

TEST(RateLimit, AConnectorOverItsRateGets429WithRetryAfterAndNothingIsKept) {
  DaemonOptions o;
  o.extra_config = "\n[[connectors]]\nname = \"limited\"\ntoken_sha256 = \"" +
                   sha256_hex(kLimitedToken) + "\"\nrate = 2\n";
  Daemon daemon(o);
  daemon.start();
  HttpClient client(daemon.port());

  // A bucket of one second's worth: two at once, then refused until it refills.
  int accepted = 0;
  std::vector<std::string> refused;
  for (int i = 0; i < 6; ++i) {
    const std::string id = "r-" + std::to_string(i);
    auto r = client.post_event(simple_event(id), kLimitedToken);
    if (r.status == 202) {
      ++accepted;
      continue;
    }
    ASSERT_EQ(r.status, 429) << r;
    EXPECT_EQ(r.header("Retry-After").value_or(""), "1") << r;
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
    EXPECT_THAT(std::string(r.object().at("type").as_string()), EndsWith("rate-limited"));
    EXPECT_THAT(std::string(r.object().at("detail").as_string()),
                HasSubstr("\"limited\" may send 2 requests per second"));
    refused.push_back(id);
  }
  EXPECT_GE(accepted, 2);
  EXPECT_LE(accepted, 3);  // a slow machine may have refilled one meanwhile
  ASSERT_GE(refused.size(), 3u);

  // Another connector is not slowed by it.
  for (int i = 0; i < 10; ++i) {
    auto r = client.post_event(simple_event("e-" + std::to_string(i)));
    EXPECT_EQ(r.status, 202) << r;
  }

  // Refilled at two a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto again = client.post_event(simple_event("r-late"), kLimitedToken);
  EXPECT_EQ(again.status, 202) << again;

  EXPECT_TRUE(daemon.wait_for_log("event=ingest.rate_limited connector=limited rate=2",
                                  std::chrono::seconds(5)))
      << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(), ::testing::Not(HasSubstr(kLimitedToken)));
  EXPECT_EQ(daemon.stop(), 0);

  // Nothing of a refused request was kept.
  Db db(daemon.db_path());
  for (const std::string& id : refused) {
    auto rows = db.query("SELECT count(*) FROM events WHERE source = 'limited' AND event_id = '" +
                         id + "'");
    EXPECT_EQ(*rows[0][0], "0") << id;
  }
  auto rows = db.query("SELECT count(*) FROM events WHERE source = 'limited'");
  EXPECT_EQ(*rows[0][0], std::to_string(accepted + 1));
}

// `max_recipients`: the connector's own bound on recipients per event, in every format; over it,
// 400 naming /recipients, nothing kept.
TEST(RateLimit, AConnectorsRecipientsPerEventAreBounded) {
  DaemonOptions o;
  o.extra_config = "\n[[connectors]]\nname = \"limited\"\ntoken_sha256 = \"" +
                   sha256_hex(kLimitedToken) + "\"\nmax_recipients = 2\n";
  Daemon daemon(o);
  daemon.start();
  HttpClient client(daemon.port());
  auto two = client.post_event(simple_event("two", 2), kLimitedToken);
  EXPECT_EQ(two.status, 202) << two;
  auto three = client.post_event(simple_event("three", 3), kLimitedToken);
  ASSERT_EQ(three.status, 400) << three;
  EXPECT_THAT(std::string(three.object().at("type").as_string()), EndsWith("too-many-recipients"));
  EXPECT_EQ(three.object().at("pointer"), "/recipients");
  EXPECT_THAT(std::string(three.object().at("detail").as_string()),
              HasSubstr("3 recipients; connector \"limited\" may send at most 2 per event"));
  EXPECT_EQ(client.get_event("three", kLimitedToken).status, 404);
  // Other connectors keep the parsers' bound.
  EXPECT_EQ(client.post_event(simple_event("three", 3)).status, 202);
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
