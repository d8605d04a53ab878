// `treve explain` and `treve simulate` answer as the running daemon decides: with the file and
// the policies saved through the admin API, read from the store while the daemon runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

TEST(ExplainInForce, ExplainAndSimulateUseThePolicySavedThroughTheAdminApi) {
  Daemon daemon(with_rectorat_admin());
  daemon.start();

  // The harness's [policy] holds nearly all day (its window ends one minute before it starts).
  const std::vector<std::string> ask = {"explain",
                                        "--config",
                                        daemon.config_path(),
                                        "--establishment",
                                        kUai,
                                        "--category",
                                        "message",
                                        "--role",
                                        "student",
                                        "--at",
                                        "2026-12-02T19:30:00+01:00",
                                        "--json"};
  auto before = run_treve(ask);
  ASSERT_EQ(before.status, 0) << before;
  auto b = json::parse(before.out).as_object();
  EXPECT_EQ(b.at("held"), true) << before.out;
  EXPECT_EQ(b.size(), 4u) << before.out;
  EXPECT_EQ(before.err, "");

  // The school's head saves a policy with one short Sunday window on the page (weaker, confirmed).
  HttpClient admin(daemon.admin_port());
  auto saved = admin.request(
      bhttp::verb::put, "/v1/admin/establishments/" + kUai + "/policy",
      R"({"policy":{"quiet":[{"days":["sun"],"start":"03:00","end":"04:00"}],"holidays":[]},)"
      R"("comment":"essai","confirm_weaker":true})",
      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kRectoratToken}});
  ASSERT_EQ(saved.status, 200) << saved;

  // explain now answers as the daemon does, and says which version decided.
  auto after = run_treve(ask);
  ASSERT_EQ(after.status, 0) << after;
  auto a = json::parse(after.out).as_object();
  EXPECT_EQ(a.at("held"), false) << after.out;
  EXPECT_EQ(a.at("release_at"), "2026-12-02T18:30:00+00:00") << after.out;
  EXPECT_EQ(a.size(), 4u) << after.out;
  EXPECT_THAT(after.err, HasSubstr("policy: version 1 saved through the admin API"));
  // The daemon agrees: the same notification received now is decided by the same policy.
  auto text =
      run_treve({"explain", "--config", daemon.config_path(), "--establishment", kUai, "--category",
                 "message", "--role", "student", "--at", "2026-12-02T19:30:00+01:00"});
  ASSERT_EQ(text.status, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("policy: version 1 saved through the admin API"));

  // simulate too.
  const std::string events =
      (std::filesystem::path(daemon.config_path()).parent_path() / "events.ndjson").string();
  std::ofstream(events) << R"({"id":"s1","establishment":")" << kUai
                        << R"(","category":"message","recipients":[{"id":"u1","role":"student"}],)"
                        << R"("created_at":"2026-12-02T19:30:00+01:00",)"
                        << R"("received_at":"2026-12-02T19:30:00+01:00"})" << '\n';
  auto sim = run_treve({"simulate", "--config", daemon.config_path(), "--events", events});
  ASSERT_EQ(sim.status, 0) << sim;
  EXPECT_THAT(sim.out, HasSubstr(R"("release_at":"2026-12-02T18:30:00+00:00")")) << sim.out;
}

}  // namespace
}  // namespace treve::itest
