// `treve explain --user` and the admin preview of a user ask a directory who the recipient is
// (docs/connectors.md, "The directory"): the real `treve` process, against a directory served
// by this test (directory_stand_in.h) and the real daemon's admin API, whose preview asks the
// daemon's own directory client.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/directory_stand_in.h"

namespace treve::itest {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSchoolA = "0250001R";
constexpr const char* kSchoolB = "0750654D";
// A Wednesday, in UTC (the harness's [policy] time zone): school A (the [policy] defaults) is
// quiet 20:00-07:00, school B 12:00-14:00 ("Midi B").
constexpr const char* kEvening = "2026-12-02T21:00:00+00:00";
constexpr const char* kMorning = "2026-12-02T10:00:00+00:00";
constexpr const char* kNoon = "2026-12-02T13:00:00+00:00";

class ExplainUser : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_.add("s-1", "Student", {kSchoolA});
    directory_.add("s-2", "Student", {kSchoolA});
    directory_.add("t-3", "Teacher", {kSchoolA, kSchoolB});
    directory_.add("p-4", "Relative", {kSchoolB}, {"s-9"});
    DaemonOptions o;
    o.quiet_start = "20:00";
    o.quiet_end = "07:00";
    std::ostringstream c;
    c << "\n[[directories]]\nname = \"annuaire\"\nurl = \"" << directory_.url() << "\"\n"
      << "secret_file = \"directory.secret\"\ntimeout = \"2s\"\n"
      << "\n[[connectors]]\nname = \"ent-bfc\"\n"
      << "token_sha256 = \"" << sha256_hex("ent-bfc-token-0123456789") << "\"\n"
      << "format = \"entcore-timeline\"\ndirectory = \"annuaire\"\n"
      << "\n[establishments.\"" << kSchoolB << "\"]\n[[establishments.\"" << kSchoolB
      << "\".quiet]]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
      << "start = \"12:00\"\nend = \"14:00\"\nname = \"Midi B\"\n";
    o.extra_config = c.str();
    daemon_.emplace(with_rectorat_admin(o));
    const fs::path dir = fs::path(daemon_->config_path()).parent_path();
    std::ofstream(dir / "directory.secret", std::ios::binary) << directory_.secret() << "\n";
    ::chmod((dir / "directory.secret").c_str(), 0600);
    daemon_->start();
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->stderr_log();
    }
  }

  ProcessResult explain(const std::string& user, const std::string& at,
                        std::vector<std::string> more = {}) {
    std::vector<std::string> args = {
        "explain", "--config", daemon_->config_path(), "--user", user, "--source", "ent-bfc",
        "--at",    at,         "--category",           "message"};
    args.insert(args.end(), more.begin(), more.end());
    return run_treve(args);
  }
  HttpResponse preview(const std::string& uai, const std::string& body) {
    return HttpClient(daemon_->admin_port())
        .request(bhttp::verb::post, "/v1/admin/establishments/" + uai + "/preview", body,
                 {{"Content-Type", "application/json"},
                  {"Authorization", std::string("Bearer ") + kRectoratToken}});
  }

  Directory directory_;
  std::optional<Daemon> daemon_;
};

TEST_F(ExplainUser, AStudentOfOneSchoolIsHeldOrDeliveredPerItsWindow) {
  auto evening = explain("s-1", kEvening, {"--json"});
  ASSERT_EQ(evening.status, 0) << evening;
  const json::object e = json::parse(evening.out).as_object();
  EXPECT_EQ(e.size(), 4u) << evening.out;
  EXPECT_EQ(e.at("held"), true) << evening.out;
  EXPECT_EQ(e.at("release_at"), "2026-12-03T07:00:00+00:00") << evening.out;

  auto morning = explain("s-1", kMorning);
  ASSERT_EQ(morning.status, 0) << morning;
  EXPECT_THAT(morning.out, HasSubstr("is DELIVERED AT ONCE")) << morning.out;
  EXPECT_THAT(morning.out, HasSubstr("A message for a student of 0250001R")) << morning.out;
  EXPECT_THAT(morning.out,
              HasSubstr("recipient: user s-1 per the directory \"annuaire\": student, of 0250001R"))
      << morning.out;
}

TEST_F(ExplainUser, AUserOfTwoSchoolsIsHeldUnderTheStricterOne) {
  auto noon = explain("t-3", kNoon);
  ASSERT_EQ(noon.status, 0) << noon;
  EXPECT_THAT(noon.out, HasSubstr("is HELD until")) << noon.out;
  EXPECT_THAT(noon.out, HasSubstr(kSchoolB)) << noon.out;
  EXPECT_THAT(noon.out, HasSubstr("Midi B")) << noon.out;
  EXPECT_THAT(noon.out, HasSubstr("staff, of 0250001R and 0750654D")) << noon.out;

  // Asked about the other school: the same answer, B's policy first.
  auto b = explain("t-3", kNoon, {"--establishment", kSchoolB, "--json"});
  ASSERT_EQ(b.status, 0) << b;
  EXPECT_EQ(json::parse(b.out).as_object().at("held"), true) << b.out;

  // A school that is not theirs is refused; a parent's children are never printed.
  auto elsewhere = explain("s-1", kNoon, {"--establishment", kSchoolB});
  EXPECT_EQ(elsewhere.status, 1) << elsewhere;
  EXPECT_THAT(elsewhere.err, HasSubstr("user is not in 0750654D per the directory")) << elsewhere;
  auto parent = explain("p-4", kNoon);
  ASSERT_EQ(parent.status, 0) << parent;
  EXPECT_THAT(parent.out + parent.err, Not(HasSubstr("s-9")));
}

TEST_F(ExplainUser, AnUnknownUserOrAFailingDirectoryIsAnError) {
  auto unknown = explain("x-404", kNoon);
  EXPECT_EQ(unknown.status, 1) << unknown;
  EXPECT_EQ(unknown.out, "");
  EXPECT_THAT(unknown.err, HasSubstr("the directory \"annuaire\" does not know user \"x-404\""));

  auto no_directory = run_treve({"explain", "--config", daemon_->config_path(), "--user", "s-1",
                                 "--source", "ent", "--category", "message"});
  EXPECT_EQ(no_directory.status, 1) << no_directory;
  EXPECT_THAT(no_directory.err, HasSubstr("has no directory"));

  auto no_role = run_treve({"explain", "--config", daemon_->config_path(), "--establishment",
                            kSchoolA, "--category", "message"});
  EXPECT_EQ(no_role.status, 1) << no_role;
  EXPECT_THAT(no_role.err, HasSubstr("--role is required"));

  directory_.set_mode(Directory::Mode::fail);
  auto down = explain("s-1", kNoon);
  EXPECT_EQ(down.status, 1) << down;
  EXPECT_EQ(down.out, "");
  EXPECT_THAT(down.err, HasSubstr("the directory \"annuaire\" did not answer")) << down;

  // A directory that answers too late: the command gives up after its timeout (2 s).
  directory_.set_mode(Directory::Mode::slow);
  const auto started = std::chrono::steady_clock::now();
  auto slow = explain("s-1", kNoon);
  EXPECT_EQ(slow.status, 1) << slow;
  EXPECT_THAT(slow.err, HasSubstr("the directory \"annuaire\" did not answer")) << slow;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2900));
}

TEST_F(ExplainUser, AdminPreviewOfAUserAsksTheDaemonsDirectory) {
  // t-3 teaches in A and B: at noon B's lunch break holds them.
  auto r = preview(kSchoolA, std::string(R"({"user":"t-3","connector":"ent-bfc","at":")") + kNoon +
                                 R"(","category":"message"})");
  ASSERT_EQ(r.status, 200) << r;
  const json::object o = r.object();
  EXPECT_EQ(o.at("held"), true) << r;
  EXPECT_THAT(std::string(o.at("reason").as_string()), HasSubstr(kSchoolB)) << r;
  EXPECT_THAT(r.body, Not(HasSubstr("t-3")));
  // Without the user, a staff member of A alone is not held at noon.
  auto alone = preview(kSchoolA, std::string(R"({"role":"staff","at":")") + kNoon + R"("})");
  ASSERT_EQ(alone.status, 200) << alone;
  EXPECT_EQ(alone.object().at("held"), false) << alone;

  auto unknown = preview(kSchoolA, R"({"user":"x-404","connector":"ent-bfc"})");
  EXPECT_EQ(unknown.status, 422) << unknown;
  EXPECT_THAT(std::string(unknown.object().at("type").as_string()), HasSubstr("unknown-user"));
  EXPECT_EQ(unknown.object().at("pointer"), "/user") << unknown;

  auto elsewhere = preview(kSchoolB, R"({"user":"s-1","connector":"ent-bfc"})");
  EXPECT_EQ(elsewhere.status, 422) << elsewhere;
  EXPECT_THAT(std::string(elsewhere.object().at("type").as_string()),
              HasSubstr("not-in-establishment"));
  EXPECT_EQ(elsewhere.object().at("pointer"), "/user") << elsewhere;

  auto with_role = preview(kSchoolA, R"({"user":"s-1","connector":"ent-bfc","role":"staff"})");
  EXPECT_EQ(with_role.status, 400) << with_role;
  EXPECT_EQ(with_role.object().at("pointer"), "/role") << with_role;
  auto no_directory = preview(kSchoolA, R"({"user":"s-1","connector":"ent"})");
  EXPECT_EQ(no_directory.status, 400) << no_directory;
  EXPECT_EQ(no_directory.object().at("pointer"), "/connector") << no_directory;

  // The command sends the same request.
  TempDir dir("treve-preview-user");
  const std::string token = (dir.path() / "token").string();
  std::ofstream(token) << kRectoratToken << "\n";
  const std::string admin = "127.0.0.1:" + std::to_string(daemon_->admin_port());
  auto cli =
      run_treve({"admin", "--admin", admin, "--token-file", token, "preview", "--establishment",
                 kSchoolA, "--user", "t-3", "--connector", "ent-bfc", "--at", kNoon});
  ASSERT_EQ(cli.status, 0) << cli;
  EXPECT_THAT(cli.out, HasSubstr("Midi B")) << cli.out;

  // s-2 was never asked (nothing cached): with the directory down, 503 naming it.
  directory_.set_mode(Directory::Mode::fail);
  auto down = preview(kSchoolA, R"({"user":"s-2","connector":"ent-bfc"})");
  EXPECT_EQ(down.status, 503) << down;
  EXPECT_THAT(std::string(down.object().at("type").as_string()),
              HasSubstr("directory-unavailable"));
  EXPECT_THAT(std::string(down.object().at("detail").as_string()), HasSubstr("annuaire")) << down;
  EXPECT_THAT(down.body, Not(HasSubstr("s-2")));
  // The daemon logs no user id.
  // The user id as a word: the log's temporary paths ("treve-it-3…") hold "t-3" by chance.
  EXPECT_THAT(daemon_->stderr_log(), Not(ContainsRegex("(^|[^A-Za-z0-9_-])t-3([^0-9]|$)")));
}

// A preview waiting for a slow directory does not hold the admin API: other requests are
// answered meanwhile, and the preview gets its 503 once the directory's timeout (2 s) is over.
TEST_F(ExplainUser, AdminPreviewWaitingForTheDirectoryDoesNotHoldOtherAdminRequests) {
  directory_.set_mode(Directory::Mode::slow);  // answers after 3 s
  const auto started = std::chrono::steady_clock::now();
  auto waiting = std::async(std::launch::async, [this] {
    return preview(kSchoolA, R"({"user":"s-1","connector":"ent-bfc"})");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto me = HttpClient(daemon_->admin_port())
                .request(bhttp::verb::get, "/v1/admin/me", "",
                         {{"Authorization", std::string("Bearer ") + kRectoratToken}});
  const auto me_at = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(me.status, 200) << me;
  EXPECT_LT(me_at, std::chrono::milliseconds(1500));
  const HttpResponse r = waiting.get();
  EXPECT_EQ(r.status, 503) << r;
  EXPECT_THAT(r.body, HasSubstr("directory-unavailable")) << r;
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1900));
}

}  // namespace
}  // namespace treve::itest
