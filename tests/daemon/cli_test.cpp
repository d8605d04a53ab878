// The offline subcommands as functions over streams (daemon/cli/commands.h): check-config,
// explain (human and --json) and simulate.
#include "daemon/cli/commands.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "policy/rfc3339.h"
#include "policy/uai.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tokens.h"

namespace treve::cli {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

namespace json = boost::json;

const std::string kHash = test::kChangeMeSha256;

std::shared_ptr<const config::Config> make_config(const std::string& text) {
  auto loaded = config::parse_config(text, "test.toml");
  if (!loaded) {
    std::string all;
    for (const auto& e : loaded.error())
      all += e.to_string() + "\n";
    ADD_FAILURE() << all;
    return nullptr;
  }
  return *loaded;
}

// The default policy plus three connectors: one that may bypass, two that may not.
std::shared_ptr<const config::Config> config_with_connectors() {
  return make_config("[[connectors]]\nname = \"alarm\"\ntoken_sha256 = \"" + kHash +
                     "\"\nmay_bypass = true\n"
                     "[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" +
                     kHash +
                     "\"\nmay_bypass = false\n"
                     "[[connectors]]\nname = \"pronote\"\ntoken_sha256 = \"" +
                     kHash + "\"\n");
}

policy::Instant at(std::string_view rfc3339) {
  auto t = policy::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(policy::Instant{});
}

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

Outcome run_explain(const config::Config& c, ExplainRequest req,
                    policy::Instant now = policy::Instant{}) {
  std::ostringstream out, err;
  Outcome r;
  r.status = explain(c, req, now, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

Outcome run_simulate(const config::Config& c, const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out, err;
  Outcome r;
  r.status = simulate(c, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

std::vector<json::object> json_lines(const std::string& text) {
  std::vector<json::object> out;
  for (const auto& line : lines_of(text)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    EXPECT_FALSE(ec) << "not JSON: " << line;
    EXPECT_TRUE(v.is_object()) << line;
    if (!ec && v.is_object())
      out.push_back(v.get_object());
  }
  return out;
}

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    ADD_FAILURE() << "no string \"" << key << "\" in " << json::serialize(o);
    return {};
  }
  return std::string(v->get_string());
}

// One simulate input line.
std::string event(const std::string& id, const std::string& received_at,
                  const std::string& recipients = R"([{"id":"u-1","role":"student"}])",
                  const std::string& extra = "", const std::string& category = "message",
                  const std::string& establishment = "0750654D") {
  return R"({"id":")" + id + R"(","establishment":")" + establishment + R"(","category":")" +
         category + R"(","recipients":)" + recipients +
         R"(,"created_at":"2026-11-01T00:00:00Z","received_at":")" + received_at + "\"" + extra +
         "}\n";
}

ExplainRequest request(std::string uai, std::string category, std::string role, std::string when,
                       bool as_json) {
  ExplainRequest r;
  r.establishment = std::move(uai);
  r.category = std::move(category);
  r.role = std::move(role);
  r.at = std::move(when);
  r.json = as_json;
  return r;
}

// ---------------------------------------------------------------------------------------------
// check-config

class TempFile {
 public:
  explicit TempFile(const std::string& text) : path_(dir_.write("treve.toml", text)) {}
  const std::string& path() const { return path_; }

 private:
  test::TempDir dir_{"treve-cli-test"};
  std::string path_;
};

// A sink whose secret file has `mode`, copied from the example secret.
class SinkSecret {
 public:
  explicit SinkSecret(std::filesystem::perms mode) {
    std::filesystem::copy_file(TREVE_SOURCE_DIR "/systemd/ent-push.secret", secret_.path(),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(secret_.path(), mode);
  }
  std::string sink() const {
    return "[[sinks]]\nname = \"push\"\ntype = \"webhook\"\nurl = \"https://ent.example/h\"\n"
           "default = true\nsecret_file = \"" +
           secret_.path() + "\"\n";
  }
  const std::string& path() const { return secret_.path(); }

 private:
  TempFile secret_{""};
};

TEST(CheckConfig, AValidFileExitsZeroAndSaysSo) {
  SinkSecret secret(std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  TempFile f("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" + kHash + "\"\n" + secret.sink());
  std::ostringstream out, err;
  EXPECT_EQ(check_config(f.path(), out, err), kExitOk);
  EXPECT_THAT(out.str(),
              AllOf(StartsWith(f.path() + ": "), HasSubstr("valid"), HasSubstr("1 connector")));
  EXPECT_THAT(err.str(), IsEmpty());
}

TEST(CheckConfig, WarnsThatASecretFileReadableByOthersShouldBeMadePrivate) {
  SinkSecret secret(std::filesystem::perms(0644));
  TempFile f("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" + kHash + "\"\n" + secret.sink());
  std::ostringstream out, err;
  EXPECT_EQ(check_config(f.path(), out, err), kExitOk);
  EXPECT_THAT(out.str(), HasSubstr("valid"));
  EXPECT_THAT(err.str(), AllOf(StartsWith("warning: " + f.path() + ":9: sinks[0].secret_file: " +
                                          secret.path() + " is readable by others (mode 0644)"),
                               HasSubstr("chmod 600")));
}

TEST(CheckConfig, WarnsThatWithoutSinksReleasedNotificationsWait) {
  TempFile f("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" + kHash + "\"\n");
  std::ostringstream out, err;
  EXPECT_EQ(check_config(f.path(), out, err), kExitOk);
  EXPECT_THAT(err.str(), HasSubstr("warning: no [[sinks]]"));
}

TEST(CheckConfig, ABadFilePrintsEveryErrorAsFileLineKeyMessageAndExitsOne) {
  TempFile f(
      "[server]\n"
      "listen = \"nowhere\"\n"
      "[policy]\n"
      "urgent_categories = [\"alert\", \"alerts\"]\n");
  std::ostringstream out, err;
  EXPECT_EQ(check_config(f.path(), out, err), kExitFailure);
  EXPECT_THAT(out.str(), IsEmpty());
  EXPECT_THAT(lines_of(err.str()),
              ElementsAre(StartsWith(f.path() + ":2: server.listen: "),
                          StartsWith(f.path() + ":4: policy.urgent_categories[1]: ")));
}

TEST(CheckConfig, TheShippedExampleIsValid) {
  std::ostringstream out, err;
  EXPECT_EQ(check_config(TREVE_SOURCE_DIR "/systemd/treve.toml", out, err), kExitOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("1 establishment"));
}

TEST(CheckConfig, AMissingFileExitsOne) {
  std::ostringstream out, err;
  EXPECT_EQ(check_config("/nonexistent/treve.toml", out, err), kExitFailure);
  EXPECT_THAT(err.str(), StartsWith("/nonexistent/treve.toml:"));
}

// ---------------------------------------------------------------------------------------------
// explain

TEST(Explain, JsonHoldsExactlyHeldReleaseAtReasonAndTimezone) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r =
      run_explain(*c, request("0750654D", "message", "student", "2026-12-24T21:00:00+01:00", true));
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  auto lines = lines_of(r.out);
  ASSERT_THAT(lines, SizeIs(1));
  auto objects = json_lines(r.out);
  ASSERT_THAT(objects, SizeIs(1));
  const json::object& o = objects[0];
  EXPECT_EQ(o.size(), 4u) << lines[0];
  ASSERT_TRUE(o.contains("held") && o.at("held").is_bool());
  EXPECT_TRUE(o.at("held").get_bool());
  EXPECT_EQ(str(o, "release_at"), "2026-12-28T07:00:00+01:00");
  EXPECT_EQ(str(o, "timezone"), "Europe/Paris");
  EXPECT_EQ(str(o, "reason"),
            "quiet window Mon-Thu 20:00-07:00, then public holiday Noël (Fri 2026-12-25), then "
            "quiet window Fri 20:00-Mon 07:00");
}

TEST(Explain, JsonReleaseAtCarriesTheEstablishmentsOffsetWhateverTheInputOffset) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  // Same instant as 2026-12-24T21:00:00+01:00, written in UTC.
  Outcome r =
      run_explain(*c, request("0750654D", "message", "student", "2026-12-24T20:00:00Z", true));
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_EQ(str(o[0], "release_at"), "2026-12-28T07:00:00+01:00");
  // Summer: +02:00.
  r = run_explain(*c, request("0750654D", "message", "student", "2027-06-02T22:00:00+02:00", true));
  o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_EQ(str(o[0], "release_at"), "2027-06-03T07:00:00+02:00");
}

TEST(Explain, JsonForAnOpenInstantIsNotHeldAndReleasesAtReception) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r =
      run_explain(*c, request("0750654D", "homework", "staff", "2026-11-25T09:00:00Z", true));
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_FALSE(o[0].at("held").get_bool());
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-25T10:00:00+01:00");
  EXPECT_EQ(str(o[0], "reason"), "outside quiet windows and closed days");
}

TEST(Explain, JsonUsesTheZoneDerivedFromTheUaiPrefix) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  const std::string reunion = "9740001" + std::string(1, policy::uai_control_letter(9740001u));
  // 18:00 in Paris is 21:00 in Réunion (UTC+4): quiet until 07:00 Réunion time.
  Outcome r =
      run_explain(*c, request(reunion, "message", "student", "2026-11-24T18:00:00+01:00", true));
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_TRUE(o[0].at("held").get_bool());
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-25T07:00:00+04:00");
  EXPECT_EQ(str(o[0], "timezone"), "Indian/Reunion");
}

TEST(Explain, HumanOutputSaysHeldUntilWhenAndWhy) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r = run_explain(
      *c, request("0750654D", "message", "student", "2026-12-24T21:00:00+01:00", false));
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0750654D"));
  EXPECT_THAT(r.out, HasSubstr("Thu 24 Dec 2026 21:00 (UTC+01:00)"));
  EXPECT_THAT(r.out, HasSubstr("HELD until Mon 28 Dec 2026 07:00 (UTC+01:00)"));
  EXPECT_THAT(r.out, HasSubstr("because: quiet window Mon-Thu 20:00-07:00, then public holiday "
                               "Noël (Fri 2026-12-25)"));
  EXPECT_THAT(r.out, HasSubstr("Europe/Paris"));
  EXPECT_THAT(r.out, Not(HasSubstr("{")));
}

TEST(Explain, HumanOutputForAnOpenInstantSaysDeliveredAtOnce) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r =
      run_explain(*c, request("0750654D", "news", "parent", "2026-11-25T10:00:00+01:00", false));
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("DELIVERED AT ONCE"));
  EXPECT_THAT(r.out, Not(HasSubstr("HELD")));
}

TEST(Explain, AGradeForAParentWaitsForTheStudentPlusTheDelay) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  // The student's copy goes out on Monday 28 at 07:00; the parent's 24 h later.
  Outcome r =
      run_explain(*c, request("0750654D", "grade", "parent", "2026-12-24T21:00:00+01:00", true));
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_TRUE(o[0].at("held").get_bool());
  EXPECT_EQ(str(o[0], "release_at"), "2026-12-29T07:00:00+01:00");
  EXPECT_THAT(str(o[0], "reason"),
              HasSubstr("24h after the student's release (2026-12-28T07:00:00+01:00"));
  // The student's own copy is not delayed.
  r = run_explain(*c, request("0750654D", "grade", "student", "2026-12-24T21:00:00+01:00", true));
  o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_EQ(str(o[0], "release_at"), "2026-12-28T07:00:00+01:00");
}

TEST(Explain, AGradeForAParentAtAnOpenInstantWaitsTheDelayThenTheNextOpenInstant) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  // Wednesday 10:00: the student has it at once, the parent on Thursday 10:00.
  Outcome r =
      run_explain(*c, request("0750654D", "grade", "parent", "2026-11-25T10:00:00+01:00", true));
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-26T10:00:00+01:00");
  // Thursday 21:00: the student on Friday 07:00, +24 h is Saturday 07:00, inside the weekend
  // window: Monday 07:00.
  r = run_explain(*c, request("0750654D", "grade", "parent", "2026-11-26T21:00:00+01:00", true));
  o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-30T07:00:00+01:00");
  EXPECT_THAT(str(o[0], "reason"), HasSubstr("then quiet window Fri 20:00-Mon 07:00"));
}

TEST(Explain, TheParentGradeDelayIsTheEstablishments) {
  auto c = make_config("[establishments.\"0750654D\"]\nparent_grade_delay = \"0\"\n");
  ASSERT_TRUE(c);
  Outcome r =
      run_explain(*c, request("0750654D", "grade", "parent", "2026-11-25T10:00:00+01:00", true));
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_FALSE(o[0].at("held").get_bool());
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-25T10:00:00+01:00");
}

TEST(Explain, AHugeParentGradeDelayNeverReleasesBeforeReception) {
  // The loader accepts any number of "1000000d" components (each one is within its limit).
  // 13 million days is beyond what date's year type holds: either the configuration must be
  // refused, or the release must still come after the reception (it is held, never sent early).
  std::string delay;
  for (int i = 0; i < 13; ++i)
    delay += "1000000d";
  auto loaded =
      config::parse_config("[policy]\nparent_grade_delay = \"" + delay + "\"\n", "test.toml");
  if (!loaded)
    SUCCEED() << "refused: " << loaded.error()[0].to_string();
  if (!loaded)
    return;
  Outcome r = run_explain(
      **loaded, request("0750654D", "grade", "parent", "2026-11-25T10:00:00+01:00", true));
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  ASSERT_TRUE(o[0].at("release_at").is_string()) << r.out;
  auto release = policy::parse_rfc3339(str(o[0], "release_at"));
  ASSERT_TRUE(release.has_value()) << r.out;
  EXPECT_GE(*release, at("2026-11-25T10:00:00+01:00")) << r.out;
}

TEST(Explain, UrgentWithoutSourceIsAnError) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  ExplainRequest req = request("0750654D", "alert", "student", "2026-11-26T21:00:00+01:00", true);
  req.urgent = true;
  Outcome r = run_explain(*c, req);
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("--source"));
}

// Without --user, --establishment and --role are required; --user needs a connector with a
// directory and takes the role from it (tests/integration/explain_user_test.cpp asks one).
TEST(Explain, EstablishmentAndRoleAreRequiredWithoutAUser) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  ExplainRequest no_role = request("0750654D", "message", "", "2026-11-26T21:00:00+01:00", true);
  Outcome r = run_explain(*c, no_role);
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("--role is required"));
  ExplainRequest no_uai = request("", "message", "student", "2026-11-26T21:00:00+01:00", true);
  r = run_explain(*c, no_uai);
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("--establishment is required"));

  ExplainRequest user = request("", "message", "", "2026-11-26T21:00:00+01:00", true);
  user.user = "u-7f3a";
  r = run_explain(*c, user);
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("--user needs --source"));
  user.source = "ent";
  r = run_explain(*c, user);
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("connector \"ent\" has no directory"));
  EXPECT_THAT(r.out, IsEmpty());
  user.role = "staff";
  r = run_explain(*c, user);
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("the role comes from the directory"));
}

TEST(Explain, UrgentAlertFromABypassingConnectorIsDeliveredAtOnce) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  ExplainRequest req = request("0750654D", "alert", "student", "2026-11-26T21:00:00+01:00", true);
  req.urgent = true;
  req.source = "alarm";
  Outcome r = run_explain(*c, req);
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_FALSE(o[0].at("held").get_bool());
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-26T21:00:00+01:00");
  EXPECT_THAT(str(o[0], "reason"), HasSubstr("alarm"));
}

TEST(Explain, UrgentFromAConnectorThatMayNotBypassIsHeldAndSaysWhy) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  ExplainRequest req = request("0750654D", "alert", "student", "2026-11-26T21:00:00+01:00", true);
  req.urgent = true;
  req.source = "ent";
  Outcome r = run_explain(*c, req);
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_TRUE(o[0].at("held").get_bool());
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-27T07:00:00+01:00");
  EXPECT_THAT(str(o[0], "reason"),
              HasSubstr("urgent bypass refused (connector ent may not bypass)"));
}

TEST(Explain, UrgentOfACategoryOutsideTheUrgentListIsHeld) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  ExplainRequest req = request("0750654D", "message", "student", "2026-11-26T21:00:00+01:00", true);
  req.urgent = true;
  req.source = "alarm";
  Outcome r = run_explain(*c, req);
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_TRUE(o[0].at("held").get_bool());
  EXPECT_THAT(str(o[0], "reason"), HasSubstr("category not in this establishment's urgent list"));
}

TEST(Explain, BadArgumentsAreErrorsOnErrWithNothingOnOut) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  struct Case {
    ExplainRequest req;
    const char* mention;
  };
  std::vector<Case> cases;
  cases.push_back(
      {request("0750654A", "message", "student", "2026-11-26T21:00:00Z", true), "--establishment"});
  cases.push_back(
      {request("0750654D", "messages", "student", "2026-11-26T21:00:00Z", true), "--category"});
  cases.push_back(
      {request("0750654D", "message", "teacher", "2026-11-26T21:00:00Z", true), "--role"});
  cases.push_back({request("0750654D", "message", "student", "2026-11-26 21:00", true), "--at"});
  cases.push_back(
      {request("0750654D", "message", "student", "2026-11-26T21:00:00Z", true), "--source"});
  cases.back().req.source = "nobody";
  for (const auto& k : cases) {
    Outcome r = run_explain(*c, k.req);
    EXPECT_EQ(r.status, kExitFailure) << k.mention;
    EXPECT_THAT(r.out, IsEmpty()) << k.mention;
    EXPECT_THAT(r.err, HasSubstr(k.mention));
  }
}

TEST(Explain, WithoutAtItUsesNow) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  ExplainRequest req = request("0750654D", "message", "student", "", true);
  req.at.reset();
  Outcome r = run_explain(*c, req, at("2026-11-26T21:00:00+01:00"));
  auto o = json_lines(r.out);
  ASSERT_THAT(o, SizeIs(1));
  EXPECT_EQ(str(o[0], "release_at"), "2026-11-27T07:00:00+01:00");
}

// ---------------------------------------------------------------------------------------------
// simulate

TEST(Simulate, OutputIsInReleaseOrderThenInputOrder) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  std::string input = event("late", "2026-11-26T21:00:00+01:00") +  // Friday 07:00
                      event("now", "2026-11-26T10:00:00+01:00") +   // at once, 10:00
                      event("later", "2026-11-26T22:00:00+01:00",   // Friday 07:00, two recipients
                            R"([{"id":"u-2","role":"student"},{"id":"u-3","role":"staff"}])") +
                      event("first", "2026-11-26T09:30:00+01:00") +   // at once, 09:30
                      event("weekend", "2026-11-27T20:30:00+01:00");  // Monday 07:00
  Outcome r = run_simulate(*c, input);
  EXPECT_EQ(r.status, kExitOk) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(6));
  std::vector<std::string> got;
  for (const auto& o : rows)
    got.push_back(str(o, "id") + "/" + str(o, "recipient"));
  EXPECT_THAT(got, ElementsAre("first/u-1", "now/u-1", "late/u-1", "later/u-2", "later/u-3",
                               "weekend/u-1"));
  EXPECT_EQ(str(rows[0], "release_at"), "2026-11-26T09:30:00+01:00");
  EXPECT_EQ(str(rows[2], "release_at"), "2026-11-27T07:00:00+01:00");
  EXPECT_EQ(str(rows[3], "release_at"), "2026-11-27T07:00:00+01:00");
  EXPECT_EQ(str(rows[5], "release_at"), "2026-11-30T07:00:00+01:00");
}

TEST(Simulate, EachRowHasExactlyTheDocumentedKeys) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r = run_simulate(*c, event("m-1", "2026-11-26T21:00:00+01:00"));
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(1));
  const auto& o = rows[0];
  EXPECT_EQ(o.size(), 6u) << json::serialize(o);
  EXPECT_EQ(str(o, "source"), "simulate");
  EXPECT_EQ(str(o, "id"), "m-1");
  EXPECT_EQ(str(o, "recipient"), "u-1");
  EXPECT_EQ(str(o, "role"), "student");
  EXPECT_EQ(str(o, "release_at"), "2026-11-27T07:00:00+01:00");
  EXPECT_EQ(str(o, "reason"), "quiet window Mon-Thu 20:00-07:00");
}

TEST(Simulate, SourceDefaultsToSimulateAndIsKeptWhenGiven) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r =
      run_simulate(*c, event("a", "2026-11-26T10:00:00+01:00") +
                           event("b", "2026-11-26T11:00:00+01:00",
                                 R"([{"id":"u-1","role":"student"}])", R"(,"source":"ent")"));
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(2));
  EXPECT_EQ(str(rows[0], "source"), "simulate");
  EXPECT_EQ(str(rows[1], "source"), "ent");
}

TEST(Simulate, ABadLineIsReportedWithItsNumberSkippedAndTheOthersStillOutput) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  std::string input =
      event("ok-1", "2026-11-26T10:00:00+01:00") +
      event("bad", "2026-11-26T10:00:00+01:00", R"([{"id":"u-1","role":"teacher"}])") +
      "not json at all\n" + event("ok-2", "2026-11-26T11:00:00+01:00");
  Outcome r = run_simulate(*c, input);
  EXPECT_EQ(r.status, kExitLinesSkipped);
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(2));
  EXPECT_EQ(str(rows[0], "id"), "ok-1");
  EXPECT_EQ(str(rows[1], "id"), "ok-2");
  EXPECT_THAT(r.err, HasSubstr("line 2: /recipients/0/role: "));
  EXPECT_THAT(r.err, HasSubstr("line 3: "));
  EXPECT_THAT(r.err, Not(HasSubstr("line 1:")));
  EXPECT_THAT(r.err, Not(HasSubstr("line 4:")));
}

TEST(Simulate, AnEventWithoutReceivedAtIsABadLine) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  std::string input =
      R"({"id":"x","establishment":"0750654D","category":"news","recipients":[{"id":"u","role":"student"}],"created_at":"2026-11-26T10:00:00Z"})"
      "\n";
  Outcome r = run_simulate(*c, input);
  EXPECT_EQ(r.status, kExitLinesSkipped);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("line 1: /received_at: "));
}

TEST(Simulate, BlankLinesAreIgnoredButCounted) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  std::string input = "\n" + event("a", "2026-11-26T10:00:00+01:00") + "   \n" + "{\n";
  Outcome r = run_simulate(*c, input);
  EXPECT_EQ(r.status, kExitLinesSkipped);
  EXPECT_THAT(json_lines(r.out), SizeIs(1));
  EXPECT_THAT(r.err, HasSubstr("line 4: "));
}

TEST(Simulate, EmptyInputPrintsNothingAndSucceeds) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r = run_simulate(*c, "");
  EXPECT_EQ(r.status, kExitOk);
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(Simulate, IsDeterministic) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  std::string input;
  const char* times[] = {"2026-11-26T21:00:00+01:00", "2026-11-26T10:00:00+01:00",
                         "2026-12-24T21:00:00+01:00", "2026-11-27T20:00:00+01:00",
                         "2027-03-28T01:30:00+01:00"};
  const char* categories[] = {"message", "grade", "alert", "news", "homework"};
  for (int i = 0; i < 60; ++i) {
    input += event("e-" + std::to_string(i), times[i % 5],
                   R"([{"id":"s-)" + std::to_string(i % 7) + R"(","role":"student"},{"id":"p-)" +
                       std::to_string(i % 7) + R"(","role":"parent","of":"s-)" +
                       std::to_string(i % 7) + R"("}])",
                   i % 3 == 0 ? R"(,"source":"alarm","urgent":true)" : "", categories[i % 5]);
  }
  Outcome a = run_simulate(*c, input);
  Outcome b = run_simulate(*c, input);
  EXPECT_EQ(a.status, kExitOk) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.err, b.err);
  EXPECT_THAT(json_lines(a.out), SizeIs(120));
  // And against a fresh configuration (nothing cached from the first runs).
  auto c2 = config_with_connectors();
  ASSERT_TRUE(c2);
  EXPECT_EQ(run_simulate(*c2, input).out, a.out);
}

TEST(Simulate, ABypassingConnectorLetsAnUrgentAlertThroughAtOnce) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  std::string input =
      event("held", "2026-11-26T21:00:00+01:00", R"([{"id":"u-1","role":"student"}])", "",
            "message") +
      event("alert", "2026-11-26T21:05:00+01:00", R"([{"id":"u-1","role":"student"}])",
            R"(,"source":"alarm","urgent":true)", "alert") +
      event("refused", "2026-11-26T21:06:00+01:00", R"([{"id":"u-1","role":"student"}])",
            R"(,"source":"ent","urgent":true)", "alert");
  Outcome r = run_simulate(*c, input);
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(3));
  EXPECT_EQ(str(rows[0], "id"), "alert");
  EXPECT_EQ(str(rows[0], "release_at"), "2026-11-26T21:05:00+01:00");
  EXPECT_EQ(str(rows[0], "reason"), "urgent: bypass allowed for connector alarm");
  EXPECT_EQ(str(rows[1], "id"), "held");
  EXPECT_EQ(str(rows[2], "id"), "refused");
  EXPECT_EQ(str(rows[2], "release_at"), "2026-11-27T07:00:00+01:00");
  EXPECT_THAT(str(rows[2], "reason"), HasSubstr("connector ent may not bypass"));
}

TEST(Simulate, AnUrgentEventFromAnUnconfiguredSourceIsHeld) {
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  Outcome r =
      run_simulate(*c, event("x", "2026-11-26T21:05:00+01:00", R"([{"id":"u-1","role":"student"}])",
                             R"(,"urgent":true)", "alert"));
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(str(rows[0], "release_at"), "2026-11-27T07:00:00+01:00");
  EXPECT_THAT(str(rows[0], "reason"), HasSubstr("connector simulate may not bypass"));
}

TEST(Simulate, ManySourcesEachGetTheirOwnReason) {
  // The reason names the connector; with many distinct sources interleaved, each row must name
  // its own.
  auto c = config_with_connectors();
  ASSERT_TRUE(c);
  const std::vector<std::string> sources = {"ent", "pronote", "s3", "s4", "s5",
                                            "s6",  "s7",      "s8", "s9", "s10"};
  std::string input;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < sources.size(); ++i) {
      input += event(sources[i] + "-" + std::to_string(round), "2026-11-26T21:00:00+01:00",
                     R"([{"id":"u-1","role":"student"}])",
                     R"(,"urgent":true,"source":")" + sources[i] + "\"", "alert");
    }
  }
  Outcome r = run_simulate(*c, input);
  ASSERT_EQ(r.status, kExitOk) << r.err;
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(30));
  for (const auto& o : rows) {
    EXPECT_EQ(str(o, "reason"), "urgent bypass refused (connector " + str(o, "source") +
                                    " may not bypass); quiet window Mon-Thu 20:00-07:00")
        << json::serialize(o);
  }
}

TEST(Simulate, GradesReachParentsAfterStudents) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r =
      run_simulate(*c, event("g", "2026-11-25T10:00:00+01:00",
                             R"([{"id":"p","role":"parent","of":"s"},{"id":"s","role":"student"}])",
                             "", "grade"));
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(2));
  EXPECT_EQ(str(rows[0], "recipient"), "s");
  EXPECT_EQ(str(rows[0], "release_at"), "2026-11-25T10:00:00+01:00");
  EXPECT_EQ(str(rows[1], "recipient"), "p");
  EXPECT_EQ(str(rows[1], "role"), "parent");
  EXPECT_EQ(str(rows[1], "release_at"), "2026-11-26T10:00:00+01:00");
}

TEST(Simulate, ReleaseAtUsesEachEstablishmentsOwnOffset) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  const std::string noumea = "9880001" + std::string(1, policy::uai_control_letter(9880001u));
  Outcome r = run_simulate(*c, event("nc", "2026-11-26T10:00:00Z",
                                     R"([{"id":"u","role":"student"}])", "", "message", noumea));
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(1));
  // 10:00Z is 21:00 in Nouméa (UTC+11): released at 07:00 Nouméa time on the Friday.
  EXPECT_EQ(str(rows[0], "release_at"), "2026-11-27T07:00:00+11:00");
}

TEST(Simulate, IdsWithQuotesAndBackslashesAreEscaped) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r = run_simulate(*c, event(R"(a\"b\\c/d)", "2026-11-26T10:00:00+01:00"));
  auto rows = json_lines(r.out);
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(str(rows[0], "id"), "a\"b\\c/d");
}

// As the ingest API does: an id with a control character is a bad line, at /id.
TEST(Simulate, AnIdWithAControlCharacterIsABadLine) {
  auto c = make_config("");
  ASSERT_TRUE(c);
  Outcome r = run_simulate(*c, event(R"(a\tb)", "2026-11-26T10:00:00+01:00"));
  EXPECT_EQ(r.status, kExitLinesSkipped);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("line 1: /id: must not contain a control character"));
}

}  // namespace
}  // namespace treve::cli
