// The real `treve` binary, run as a process: exit statuses, what goes to stdout and stderr.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "tests/integration/daemon_harness.h"

namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

namespace fs = std::filesystem;
namespace json = boost::json;

const std::string& kBinary = treve::test::kTreveBinary;
const std::string kExample = TREVE_SOURCE_DIR "/systemd/treve.toml";

using treve::test::TempDir;

struct Result {
  int status = -1;  // exit status; -1 when it did not exit normally
  std::string out;
  std::string err;
};

// Runs the binary with `args`, stdin from `stdin_text` (through the harness's runner).
Result run(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  auto r = treve::itest::run_treve(args, stdin_text);
  return Result{r.status, std::move(r.out), std::move(r.err)};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

TEST(CliProcess, CheckConfigOnTheExampleExitsZero) {
  Result r = run({"check-config", "--config", kExample});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("valid"));
}

TEST(CliProcess, CheckConfigOnABadFilePrintsFileLineErrorsToStderrAndExitsOne) {
  TempDir dir;
  const std::string path = dir.write("treve.toml",
                                     "[server]\n"
                                     "listen = \"127.0.0.1:2007\"\n"
                                     "admin_listen = \"127.0.0.1:2007\"\n"
                                     "[policy]\n"
                                     "timezone = \"Mars/Olympus\"\n"
                                     "[[policy.quiet]]\n"
                                     "days = [\"mon.\"]\n"
                                     "start = \"20:00\"\n"
                                     "end = \"07:00\"\n");
  Result r = run({"check-config", "--config", path});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, IsEmpty());
  auto lines = lines_of(r.err);
  EXPECT_THAT(lines, SizeIs(3)) << r.err;
  EXPECT_THAT(lines, Each(StartsWith(path + ":")));
  EXPECT_THAT(lines, ::testing::Contains(StartsWith(path + ":3: server.admin_listen: ")));
  EXPECT_THAT(lines, ::testing::Contains(StartsWith(path + ":5: policy.timezone: ")));
  EXPECT_THAT(lines, ::testing::Contains(StartsWith(path + ":7: policy.quiet[0].days[0]: ")));
}

TEST(CliProcess, CheckConfigOnATomlSyntaxErrorExitsOneWithItsLine) {
  TempDir dir;
  const std::string path = dir.write("treve.toml", "[server\nlisten = 1\n");
  Result r = run({"check-config", "--config", path});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, StartsWith(path + ":1: "));
}

TEST(CliProcess, CheckConfigOnAMissingFileExitsOne) {
  Result r = run({"check-config", "--config", "/nonexistent/treve.toml"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/treve.toml"));
}

TEST(CliProcess, ExplainJsonPrintsOneJsonLineAndExitsZero) {
  Result r = run({"explain", "--config", kExample, "--establishment", "0750654D", "--category",
                  "message", "--role", "student", "--at", "2026-12-24T21:00:00+01:00", "--json"});
  EXPECT_EQ(r.status, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_THAT(lines, SizeIs(1)) << r.out;
  boost::system::error_code ec;
  json::value v = json::parse(lines[0], ec);
  ASSERT_FALSE(ec) << lines[0];
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.as_object().size(), 4u);
  EXPECT_EQ(v.at("held"), true);
  EXPECT_EQ(v.at("release_at"), "2026-12-28T07:00:00+01:00");
  EXPECT_EQ(v.at("timezone"), "Europe/Paris");
  EXPECT_TRUE(v.at("reason").is_string());
}

TEST(CliProcess, ExplainHumanOutputExitsZero) {
  Result r = run({"explain", "--config", kExample, "--establishment", "0250001R", "--category",
                  "grade", "--role", "parent", "--at", "2026-11-25T10:00:00+01:00"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("HELD until Thu 26 Nov 2026 10:00 (UTC+01:00)"));
}

TEST(CliProcess, ExplainUrgentWithoutSourceExitsOne) {
  Result r = run({"explain", "--config", kExample, "--establishment", "0750654D", "--category",
                  "alert", "--role", "student", "--urgent", "--json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("--source"));
}

TEST(CliProcess, ExplainWithoutARequiredOptionExitsNonZero) {
  Result r = run({"explain", "--config", kExample, "--establishment", "0750654D"});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out + r.err, HasSubstr("--category"));
}

TEST(CliProcess, ExplainWithABadConfigurationExitsOne) {
  TempDir dir;
  const std::string path = dir.write("treve.toml", "bogus = true\n");
  Result r = run({"explain", "--config", path, "--establishment", "0750654D", "--category",
                  "message", "--role", "student", "--json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, StartsWith(path + ":1: bogus: "));
}

const std::string kEvents =
    R"({"id":"b","establishment":"0750654D","category":"message","recipients":[{"id":"u-1","role":"student"}],"created_at":"2026-11-26T21:00:00+01:00","received_at":"2026-11-26T21:00:00+01:00"})"
    "\n"
    R"({"id":"a","establishment":"0750654D","category":"news","recipients":[{"id":"u-2","role":"parent"}],"created_at":"2026-11-26T10:00:00+01:00","received_at":"2026-11-26T10:00:00+01:00"})"
    "\n";

TEST(CliProcess, SimulateReadsAnEventsFile) {
  TempDir dir;
  const std::string events = dir.write("events.ndjson", kEvents);
  Result r = run({"simulate", "--config", kExample, "--events", events});
  EXPECT_EQ(r.status, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_THAT(lines, SizeIs(2));
  auto first = json::parse(lines[0]);
  auto second = json::parse(lines[1]);
  EXPECT_EQ(first.at("id"), "a");
  EXPECT_EQ(first.at("source"), "simulate");
  EXPECT_EQ(first.at("release_at"), "2026-11-26T10:00:00+01:00");
  EXPECT_EQ(second.at("id"), "b");
  EXPECT_EQ(second.at("release_at"), "2026-11-27T07:00:00+01:00");
}

TEST(CliProcess, SimulateReadsStandardInputByDefault) {
  Result r = run({"simulate", "--config", kExample}, kEvents);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(lines_of(r.out), SizeIs(2));
  // The same as from a file.
  TempDir dir;
  Result f = run({"simulate", "--config", kExample, "--events", dir.write("e.ndjson", kEvents)});
  EXPECT_EQ(r.out, f.out);
}

TEST(CliProcess, SimulateWithABadLineExitsTwoAndStillPrintsTheOthers) {
  Result r = run({"simulate", "--config", kExample}, kEvents + "{\"id\":1}\n");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(lines_of(r.out), SizeIs(2));
  EXPECT_THAT(r.err, HasSubstr("line 3: "));
}

TEST(CliProcess, SimulateWithAMissingEventsFileExitsOne) {
  Result r = run({"simulate", "--config", kExample, "--events", "/nonexistent/events.ndjson"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/events.ndjson"));
}

TEST(CliProcess, AnUnknownSubcommandExitsNonZero) {
  Result r = run({"frobnicate"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, -1);  // an orderly exit, not a crash
  EXPECT_THAT(r.out, Not(HasSubstr("valid")));
}

TEST(CliProcess, NoSubcommandExitsNonZero) {
  Result r = run({});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, -1);
}

TEST(CliProcess, HelpExitsZero) {
  Result r = run({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("check-config"), HasSubstr("explain"), HasSubstr("simulate")));
}

}  // namespace
