// `treve admin` builds its requests with Boost.JSON and Boost.URL: a comment with quotes and a
// line break, an instant with a `+` offset, and an event id with a space and a `+`, reach the
// admin API as written.
#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

TEST(AdminCli, CommentsAndInstantsReachTheAdminApiAsWritten) {
  Daemon daemon(with_rectorat_admin());
  daemon.start();
  const auto dir = std::filesystem::path(daemon.config_path()).parent_path();
  const std::string token = (dir / "token").string(), policy = (dir / "policy.json").string();
  std::ofstream(token) << kRectoratToken + "\n";
  // Quiet but for the daemon's one open minute, twelve hours away: the event below is held
  // whenever the test runs.
  char start[8], end[8];
  std::snprintf(start, sizeof start, "%02d:01", daemon.gap_hour());
  std::snprintf(end, sizeof end, "%02d:00", daemon.gap_hour());
  std::ofstream(policy)
      << R"({"quiet":[{"days":["mon","tue","wed","thu","fri","sat","sun"],"start":")" << start
      << R"(","end":")" << end << R"("}]})";
  const std::string admin = "127.0.0.1:" + std::to_string(daemon.admin_port());
  const std::string comment = "vote du CA \"unanime\"\nsuite";

  auto set = run_treve({"admin", "--admin", admin, "--token-file", token, "policy", "set",
                        "--establishment", kUai, "--file", policy, "--comment", comment,
                        "--confirm-weaker"});
  ASSERT_EQ(set.status, 0) << set;
  auto versions = run_treve(
      {"admin", "--admin", admin, "--token-file", token, "versions", "--establishment", kUai});
  ASSERT_EQ(versions.status, 0) << versions;
  EXPECT_THAT(versions.out, HasSubstr(R"(vote du CA \"unanime\"\nsuite)")) << versions.out;

  // A period whose bounds carry a `+` offset, which a query would otherwise read as a space.
  auto audit = run_treve({"admin", "--admin", admin, "--token-file", token, "audit",
                          "--establishment", kUai, "--kind", "policy_changed", "--from",
                          "2000-01-01T00:00:00+01:00", "--to", "2100-01-01T00:00:00+01:00"});
  ASSERT_EQ(audit.status, 0) << audit;
  EXPECT_THAT(audit.out, HasSubstr("\"policy_changed\"")) << audit.out;
  // The CSV export is written out as it arrives, header line first, exactly as sent.
  auto csv = run_treve({"admin", "--admin", admin, "--token-file", token, "audit",
                        "--establishment", kUai, "--kind", "policy_changed", "--format", "csv"});
  ASSERT_EQ(csv.status, 0) << csv;
  EXPECT_THAT(csv.out, ::testing::StartsWith("seq,at,at_utc,at_local,kind,")) << csv.out;
  EXPECT_THAT(csv.out, HasSubstr(",policy_changed,")) << csv.out;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 2) << csv.out;

  // An event id with a space and a `+`, as the connector wrote it.
  EventSpec spec;
  spec.id = "note 88+1";
  ASSERT_EQ(HttpClient(daemon.port()).post_event(event_body(spec)).status, 202);
  auto event = run_treve({"admin", "--admin", admin, "--token-file", token, "event", "--source",
                          "ent", "--id", spec.id});
  ASSERT_EQ(event.status, 0) << event;
  EXPECT_THAT(event.out, HasSubstr("\"id\": \"note 88+1\"")) << event.out;
  EXPECT_THAT(event.out, HasSubstr("\"state\": \"held\"")) << event.out;
  auto unknown = run_treve({"admin", "--admin", admin, "--token-file", token, "event", "--source",
                            "ent", "--id", "note 88 1"});
  EXPECT_EQ(unknown.status, 1) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("HTTP 404"));

  // A policy file that is not JSON is refused before anything is sent.
  std::ofstream(policy, std::ios::trunc) << "{not json";
  auto bad = run_treve({"admin", "--admin", admin, "--token-file", token, "policy", "set",
                        "--establishment", kUai, "--file", policy, "--comment", "x"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.err, HasSubstr("not JSON"));
}

}  // namespace
}  // namespace treve::itest
