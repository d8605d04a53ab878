// The TOML configuration loader (DESIGN.md, "Configuration"): every error as
// `FILE:LINE: key.path: message`, all of them at once, inheritance from [policy], time zones
// derived from the UAI prefix, and closed_ics relative to the configuration's directory.
#include "daemon/config/config.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "adapters/outbound/webhook_signature.h"
#include "policy/rfc3339.h"
#include "policy/uai.h"
#include "tests/support/config_errors.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tokens.h"

namespace treve::config {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

// The errors of a configuration that must not load, as "FILE:LINE: key: message" lines.
std::vector<std::string> errors_of(std::string_view text) {
  return test::config_errors(text);
}

using test::load_ok;

const policy::EstablishmentPolicy& policy_of(const Config& c, std::string_view uai) {
  auto parsed = policy::parse_uai(uai);
  EXPECT_TRUE(parsed.has_value()) << uai;
  return c.policy->find(*parsed);
}

policy::Instant at(std::string_view rfc3339) {
  auto t = policy::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(policy::Instant{});
}

using ::treve::test::TempDir;

const char* kIcs =
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//treve//tests//FR\r\n"
    "BEGIN:VEVENT\r\n"
    "DTSTAMP:20260301T090000Z\r\n"
    "DTSTART;VALUE=DATE:20270413\r\n"
    "DTEND;VALUE=DATE:20270416\r\n"
    "SUMMARY:Examens blancs\r\n"
    "UID:exams-2027@example\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n";

// ---------------------------------------------------------------------------------------------
// Valid configurations

TEST(Config, AnEmptyFileIsValidAndUsesTheDefaults) {
  auto c = load_ok("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server.listen, "127.0.0.1:2007");
  EXPECT_EQ(c->server.admin_listen, "127.0.0.1:2008");
  EXPECT_EQ(c->path, "test.toml");
  const auto& p = policy_of(*c, "0750654D");
  EXPECT_EQ(p.rules().windows, policy::default_quiet_windows());
  EXPECT_EQ(p.zone()->name(), "Europe/Paris");
}

TEST(Config, TheShippedExampleIsValid) {
  auto loaded = load_config(TREVE_SOURCE_DIR "/systemd/treve.toml");
  ASSERT_TRUE(loaded.has_value()) << [&] {
    std::string all;
    for (const auto& e : loaded.error())
      all += e.to_string() + "\n";
    return all;
  }();
  const Config& c = **loaded;
  ASSERT_EQ(c.connectors.size(), 1u);
  EXPECT_EQ(c.connectors[0].name, "ent");
  EXPECT_FALSE(c.connectors[0].may_bypass);
  ASSERT_EQ(c.sinks.size(), 1u);
  EXPECT_EQ(c.sinks[0].type, "webhook");
  EXPECT_TRUE(c.policy->is_configured("0250001R"));
  // closed_ics is relative to the example's own directory, and its holidays became closed days.
  const auto& p = policy_of(c, "0250001R");
  EXPECT_GT(p.rules().closed.size(), 1u);
}

TEST(Config, EveryDocumentedKeyIsAccepted) {
  auto c = load_ok(R"(
[server]
listen = "127.0.0.1:3007"
admin_listen = "unix:/run/treve/admin.sock"
state_dir = "/tmp/treve"

[policy]
timezone = "Europe/Paris"
parent_grade_delay = "72h"
urgent_categories = ["alert", "absence"]
holidays = ["fr-public"]
closed = ["2026-12-21..2027-01-03", "2027-06-17"]

[[policy.quiet]]
days = ["mon", "tue", "wed", "thu"]
start = "20:00"
end = "07:00"
name = "weeknights"

[[policy.quiet]]
days = ["fri"]
start = "20:00"
end = "07:00"
end_day = "mon"

[establishments."0250001R"]
timezone = "Europe/Paris"
parent_grade_delay = "0"
urgent_categories = []
holidays = []
closed = ["2027-06-17"]

[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
may_bypass = true

[[sinks]]
name = "ent-push"
type = "webhook"
url = "https://ent.example/hooks/push"
secret_file = "ent-push.secret"
)",
                   TREVE_SOURCE_DIR "/systemd/test.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server.listen, "127.0.0.1:3007");
  EXPECT_EQ(c->server.admin_listen, "unix:/run/treve/admin.sock");
  EXPECT_EQ(c->server.state_dir, "/tmp/treve");
  const auto& d = c->policy->defaults();
  EXPECT_EQ(d.parent_grade_delay, std::chrono::hours(72));
  EXPECT_TRUE(d.is_urgent_category(policy::Category::alert));
  EXPECT_TRUE(d.is_urgent_category(policy::Category::absence));
  EXPECT_FALSE(d.is_urgent_category(policy::Category::message));
  ASSERT_EQ(d.windows.size(), 2u);
  EXPECT_EQ(d.windows[0].name, "weeknights");
  const auto& e = policy_of(*c, "0250001R").rules();
  EXPECT_EQ(e.parent_grade_delay, std::chrono::minutes(0));
  EXPECT_EQ(e.urgent_categories, 0);
  EXPECT_FALSE(e.public_holidays);
  ASSERT_NE(c->connector("ent"), nullptr);
  EXPECT_TRUE(c->connector("ent")->may_bypass);
  EXPECT_EQ(c->connector("other"), nullptr);
}

TEST(Config, DurationsAcceptDaysHoursMinutesAndZero) {
  struct Case {
    const char* text;
    std::chrono::minutes expected;
  };
  for (const Case& k :
       {Case{"0", std::chrono::minutes(0)}, Case{"24h", std::chrono::hours(24)},
        Case{"72h", std::chrono::hours(72)}, Case{"7d", std::chrono::days(7)},
        Case{"90m", std::chrono::minutes(90)}, Case{"1h30m", std::chrono::minutes(90)}}) {
    auto c = load_ok(std::string("[policy]\nparent_grade_delay = \"") + k.text + "\"\n");
    ASSERT_TRUE(c) << k.text;
    EXPECT_EQ(c->policy->defaults().parent_grade_delay, k.expected) << k.text;
  }
}

// ---------------------------------------------------------------------------------------------
// Error format and lines

TEST(Config, UnknownTopLevelKeyIsAnErrorWithItsLine) {
  EXPECT_THAT(
      errors_of("# comment\n\nsever = 1\n"),
      ElementsAre(AllOf(StartsWith("test.toml:3: sever: unknown key"), HasSubstr("server"))));
}

TEST(Config, UnknownKeyInServerNamesTheKey) {
  EXPECT_THAT(errors_of("[server]\nlisten = \"127.0.0.1:2007\"\nlisen = \"x\"\n"),
              ElementsAre(StartsWith("test.toml:3: server.lisen: unknown key")));
}

TEST(Config, UnknownKeyInPolicyNamesTheKey) {
  EXPECT_THAT(errors_of("[policy]\ntimezone = \"Europe/Paris\"\nholiday = []\n"),
              ElementsAre(StartsWith("test.toml:3: policy.holiday: unknown key")));
}

TEST(Config, UnknownKeyInAQuietWindowNamesTheKey) {
  EXPECT_THAT(errors_of("[[policy.quiet]]\n"
                        "days = [\"mon\"]\n"
                        "strat = \"20:00\"\n"
                        "start = \"20:00\"\n"
                        "end = \"07:00\"\n"),
              ElementsAre(StartsWith("test.toml:3: policy.quiet[0].strat: unknown key")));
}

TEST(Config, UnknownKeyInTheSecondQuietWindowCountsFromZero) {
  EXPECT_THAT(errors_of("[[policy.quiet]]\n"
                        "days = [\"mon\"]\n"
                        "start = \"20:00\"\n"
                        "end = \"07:00\"\n"
                        "[[policy.quiet]]\n"
                        "days = [\"fri\"]\n"
                        "start = \"20:00\"\n"
                        "end = \"07:00\"\n"
                        "end_dya = \"mon\"\n"),
              ElementsAre(StartsWith("test.toml:9: policy.quiet[1].end_dya: unknown key")));
}

TEST(Config, UnknownKeyInAnEstablishmentNamesTheKey) {
  EXPECT_THAT(errors_of("[establishments.\"0750654D\"]\n"
                        "timezone = \"Europe/Paris\"\n"
                        "timzone = \"Europe/Paris\"\n"),
              ElementsAre(AllOf(StartsWith("test.toml:3: establishments."), HasSubstr("0750654D"),
                                HasSubstr("timzone: unknown key"))));
}

TEST(Config, UnknownKeyInAConnectorNamesTheKey) {
  EXPECT_THAT(errors_of("[[connectors]]\n"
                        "name = \"ent\"\n"
                        "token_sha256 = \"" TREVE_TEST_CHANGE_ME_SHA256 "\"\n"
                        "may_bypas = true\n"),
              ElementsAre(StartsWith("test.toml:4: connectors[0].may_bypas: unknown key")));
}

TEST(Config, UnknownKeyInASinkNamesTheKey) {
  EXPECT_THAT(errors_of("[[sinks]]\n"
                        "name = \"push\"\n"
                        "type = \"webhook\"\n"
                        "url = \"https://ent.example/hook\"\n"
                        "secret = \"x\"\n"),
              Contains(StartsWith("test.toml:5: sinks[0].secret: unknown key")));
}

TEST(Config, AllErrorsAreReportedAtOnce) {
  auto errors = errors_of(
      "[server]\n"                           // 1
      "listen = \"nowhere\"\n"               // 2 bad listen
      "[policy]\n"                           // 3
      "parent_grade_delay = \"tomorrow\"\n"  // 4 bad duration
      "[[policy.quiet]]\n"                   // 5
      "days = [\"mon\"]\n"                   // 6
      "start = \"25:00\"\n"                  // 7 bad time
      "end = \"07:00\"\n");                  // 8
  EXPECT_THAT(errors, SizeIs(3));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:2: server.listen: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:4: policy.parent_grade_delay: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:7: policy.quiet[0].start: ")));
}

TEST(Config, ErrorsInDifferentSectionsAreAllReported) {
  auto errors = errors_of(
      "bogus = 1\n"                             // 1
      "[establishments.\"0750654A\"]\n"         // 2 bad UAI
      "[[connectors]]\n"                        // 3
      "name = \"ent\"\n"                        // 4
      "token_sha256 = \"not-a-hash\"\n"         // 5
      "[[sinks]]\n"                             // 6
      "name = \"push\"\n"                       // 7
      "type = \"pigeon\"\n"                     // 8
      "url = \"https://ent.example/hook\"\n");  // 9
  EXPECT_THAT(errors, SizeIs(4));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:1: bogus: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:2: establishments.0750654A: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:5: connectors[0].token_sha256: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:8: sinks[0].type: ")));
}

TEST(Config, ErrorsAreReportedInTheOrderOfTheirLines) {
  // An administrator fixes the file from top to bottom: the errors should come in that order.
  auto errors = errors_of(
      "[[sinks]]\n"                    // 1
      "name = \"a\"\n"                 // 2
      "type = \"pigeon\"\n"            // 3 bad type
      "url = \"https://x.example\"\n"  // 4
      "[server]\n"                     // 5
      "listen = \"x\"\n"               // 6 bad listen
      "[policy]\n"                     // 7
      "timezone = \"X/Y\"\n"           // 8 unknown zone
      "zzz = 1\n"                      // 9 unknown key
      "aaa = 2\n");                    // 10 unknown key
  ASSERT_THAT(errors, SizeIs(5));
  // toml++ walks tables in key order; the loader sorts errors by line.
  EXPECT_THAT(errors, ElementsAre(StartsWith("test.toml:3: "), StartsWith("test.toml:6: "),
                                  StartsWith("test.toml:8: "), StartsWith("test.toml:9: "),
                                  StartsWith("test.toml:10: ")));
}

TEST(Config, TomlSyntaxErrorGivesItsLine) {
  auto errors = errors_of(
      "[server]\n"
      "listen = \"127.0.0.1:2007\"\n"
      "admin_listen = \"127.0.0.1:2008\n"  // unterminated string
      "state_dir = \"/var/lib/treve\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: "));
  EXPECT_THAT(errors[0], HasSubstr("TOML syntax error"));
}

TEST(Config, TomlSyntaxErrorOnALaterLine) {
  auto errors = errors_of(
      "[policy]\n"
      "timezone = \"Europe/Paris\"\n"
      "\n"
      "\n"
      "holidays = [\"fr-public\"\n"
      "[server]\n");
  ASSERT_THAT(errors, SizeIs(1));
  // toml++ notices the missing ']' where the next token begins.
  EXPECT_THAT(errors[0],
              ::testing::AnyOf(StartsWith("test.toml:5: "), StartsWith("test.toml:6: ")));
}

TEST(Config, ErrorsNameTheFileGiven) {
  auto loaded = parse_config("x = 1\n", "/etc/treve/treve.toml");
  ASSERT_FALSE(loaded.has_value());
  ASSERT_EQ(loaded.error().size(), 1u);
  EXPECT_EQ(loaded.error()[0].file, "/etc/treve/treve.toml");
  EXPECT_EQ(loaded.error()[0].line, 1);
  EXPECT_EQ(loaded.error()[0].key, "x");
  EXPECT_THAT(loaded.error()[0].to_string(), StartsWith("/etc/treve/treve.toml:1: x: "));
}

TEST(Config, AMissingFileIsAnError) {
  auto loaded = load_config("/nonexistent/treve/treve.toml");
  ASSERT_FALSE(loaded.has_value());
  ASSERT_EQ(loaded.error().size(), 1u);
  EXPECT_THAT(loaded.error()[0].to_string(), StartsWith("/nonexistent/treve/treve.toml:"));
  EXPECT_THAT(loaded.error()[0].message(), HasSubstr("cannot read"));
}

// ---------------------------------------------------------------------------------------------
// Establishments and values

TEST(Config, BadUaiAsEstablishmentKeyNamesTheExpectedControlLetter) {
  auto errors = errors_of(
      "[policy]\n"
      "holidays = []\n"
      "[establishments.\"0750654A\"]\n"
      "timezone = \"Europe/Paris\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: establishments.0750654A: "));
  EXPECT_THAT(errors[0], HasSubstr("expected D"));
}

TEST(Config, MalformedUaiAsEstablishmentKeyIsAnError) {
  auto errors = errors_of("[establishments.\"75\"]\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:1: establishments.75: "));
  EXPECT_THAT(errors[0], HasSubstr("7 digits"));
}

TEST(Config, BadTimeIsAnError) {
  auto errors = errors_of(
      "[[policy.quiet]]\n"
      "days = [\"mon\"]\n"
      "start = \"20:00\"\n"
      "end = \"25:00\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:4: policy.quiet[0].end: "));
  EXPECT_THAT(errors[0], HasSubstr("\"25:00\""));
}

TEST(Config, TimesMustBeHHMM) {
  for (const char* bad : {"7:00", "07h00", "07:60", "24:00", "", "07:00:00"}) {
    auto errors = errors_of(std::string("[[policy.quiet]]\ndays = [\"mon\"]\nstart = \"") + bad +
                            "\"\nend = \"07:00\"\n");
    EXPECT_THAT(errors, ElementsAre(StartsWith("test.toml:3: policy.quiet[0].start: ")))
        << "start = \"" << bad << "\"";
  }
}

TEST(Config, BadDayIsAnErrorAtItsIndex) {
  auto errors = errors_of(
      "[[policy.quiet]]\n"
      "days = [\"sun\", \"mon.\"]\n"
      "start = \"20:00\"\n"
      "end = \"07:00\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: policy.quiet[0].days[1]: "));
  EXPECT_THAT(errors[0], HasSubstr("\"mon.\""));
}

TEST(Config, BadEndDayIsAnError) {
  EXPECT_THAT(errors_of("[[policy.quiet]]\n"
                        "days = [\"fri\"]\n"
                        "start = \"20:00\"\n"
                        "end = \"07:00\"\n"
                        "end_day = \"Monday\"\n"),
              ElementsAre(StartsWith("test.toml:5: policy.quiet[0].end_day: ")));
}

TEST(Config, AWindowWithoutDaysIsAnError) {
  auto errors = errors_of(
      "[policy]\n"
      "[[policy.quiet]]\n"
      "start = \"20:00\"\n"
      "end = \"07:00\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], AllOf(StartsWith("test.toml:2: policy.quiet[0]: "), HasSubstr("days")));
}

TEST(Config, AWindowWithAnEmptyDayListIsAnError) {
  EXPECT_THAT(errors_of("[[policy.quiet]]\n"
                        "days = []\n"
                        "start = \"20:00\"\n"
                        "end = \"07:00\"\n"),
              ElementsAre(StartsWith("test.toml:2: policy.quiet[0].days: ")));
}

TEST(Config, BadDurationIsAnError) {
  for (const char* bad : {"24", "1 day", "-1h", "h", "24hours", ""}) {
    auto errors = errors_of(std::string("[policy]\n\nparent_grade_delay = \"") + bad + "\"\n");
    EXPECT_THAT(errors, ElementsAre(StartsWith("test.toml:3: policy.parent_grade_delay: ")))
        << "parent_grade_delay = \"" << bad << "\"";
  }
}

TEST(Config, BadDurationInAnEstablishmentIsAnError) {
  auto errors = errors_of("[establishments.\"0750654D\"]\nparent_grade_delay = \"2w\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: establishments.0750654D.parent_grade_delay: "));
}

TEST(Config, UnknownUrgentCategoryIsAnErrorAtItsIndex) {
  auto errors = errors_of("[policy]\nurgent_categories = [\"alert\", \"alerts\"]\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: policy.urgent_categories[1]: "));
  EXPECT_THAT(errors[0], HasSubstr("\"alerts\""));
}

TEST(Config, UnknownHolidaySetIsAnError) {
  auto errors = errors_of("[policy]\nholidays = [\"fr-public\", \"de-public\"]\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: policy.holidays[1]: "));
  EXPECT_THAT(errors[0], HasSubstr("de-public"));
}

TEST(Config, EmptyHolidayListDisablesPublicHolidays) {
  auto c = load_ok("[policy]\nholidays = []\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->policy->defaults().public_holidays);
  // Christmas 2026 is a Friday: 10:00 is open when holidays are off.
  const auto& p = policy_of(*c, "0750654D");
  EXPECT_FALSE(p.schedule().is_quiet(at("2026-12-25T10:00:00+01:00")));
  auto with = load_ok("");
  ASSERT_TRUE(with);
  EXPECT_TRUE(policy_of(*with, "0750654D").schedule().is_quiet(at("2026-12-25T10:00:00+01:00")));
}

TEST(Config, UnknownTimezoneIsAnError) {
  auto errors = errors_of("[policy]\ntimezone = \"Europe/Besancon\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: policy.timezone: "));
  EXPECT_THAT(errors[0], HasSubstr("Europe/Besancon"));
}

TEST(Config, UnknownTimezoneInAnEstablishmentIsAnError) {
  const std::string uai = "9740001" + std::string(1, policy::uai_control_letter(9740001u));
  auto errors = errors_of("[establishments.\"" + uai + "\"]\n\ntimezone = \"Reunion\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: establishments." + uai + ".timezone: "));
}

TEST(Config, BadClosedEntryIsAnErrorAtItsIndex) {
  auto errors = errors_of("[policy]\nclosed = [\"2027-06-17\", \"17/06/2027\", \"2027-02-30\"]\n");
  EXPECT_THAT(errors, ElementsAre(StartsWith("test.toml:2: policy.closed[1]: "),
                                  StartsWith("test.toml:2: policy.closed[2]: ")));
}

TEST(Config, ReversedClosedRangeIsAnError) {
  auto errors = errors_of(
      "[establishments.\"0750654D\"]\n"
      "closed = [\n"
      "  \"2026-12-21..2027-01-03\",\n"
      "  \"2027-01-03..2026-12-21\",\n"
      "]\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:4: establishments.0750654D.closed[1]: "));
  EXPECT_THAT(errors[0], HasSubstr("2027-01-03..2026-12-21"));
}

TEST(Config, ClosedRangeMakesEveryDayQuiet) {
  auto c = load_ok("[establishments.\"0750654D\"]\nclosed = [\"2027-04-13..2027-04-14\"]\n");
  ASSERT_TRUE(c);
  const auto& s = policy_of(*c, "0750654D").schedule();
  EXPECT_FALSE(s.is_quiet(at("2027-04-12T12:00:00+02:00")));
  EXPECT_TRUE(s.is_quiet(at("2027-04-13T00:00:00+02:00")));
  EXPECT_TRUE(s.is_quiet(at("2027-04-14T23:59:00+02:00")));
  EXPECT_EQ(s.next_open(at("2027-04-13T12:00:00+02:00")).at, at("2027-04-15T07:00:00+02:00"));
}

TEST(Config, WindowsCoveringTheWholeWeekAreRejected) {
  auto errors = errors_of(
      "[policy]\n"
      "[[policy.quiet]]\n"
      "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
      "start = \"08:00\"\n"
      "end = \"08:00\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], AllOf(StartsWith("test.toml:"), HasSubstr("policy.quiet: "),
                               HasSubstr("whole week")));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: "));
}

TEST(Config, TwoWindowsCoveringTheWholeWeekTogetherAreRejected) {
  auto errors = errors_of(
      "[[establishments.\"0750654D\".quiet]]\n"
      "days = [\"mon\"]\n"
      "start = \"00:00\"\n"
      "end = \"12:00\"\n"
      "end_day = \"thu\"\n"
      "[[establishments.\"0750654D\".quiet]]\n"
      "days = [\"thu\"]\n"
      "start = \"11:00\"\n"
      "end = \"00:00\"\n"
      "end_day = \"mon\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], HasSubstr("establishments.0750654D.quiet: "));
  EXPECT_THAT(errors[0], HasSubstr("whole week"));
}

TEST(Config, AWindowOfAlmostAWeekIsAccepted) {
  auto c = load_ok(
      "[[policy.quiet]]\n"
      "days = [\"mon\"]\n"
      "start = \"08:00\"\n"
      "end = \"07:59\"\n"
      "end_day = \"mon\"\n");
  ASSERT_TRUE(c);
}

TEST(Config, DuplicateConnectorNamesAreAnError) {
  const std::string hash = test::kChangeMeSha256;
  auto errors = errors_of(
      "[[connectors]]\n"
      "name = \"ent\"\n"
      "token_sha256 = \"" +
      hash +
      "\"\n"
      "[[connectors]]\n"
      "name = \"ent\"\n"
      "token_sha256 = \"" +
      hash + "\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:5: connectors[1].name: "));
  EXPECT_THAT(errors[0], HasSubstr("duplicate"));
}

TEST(Config, BadTokenSha256IsAnError) {
  const std::string upper = "E2186DBDB1BB4193608605E84F33208765B5693B55EDD4F730A719A100EEEA6F";
  for (const std::string& bad :
       {std::string("change-me"), upper, std::string(63, 'a'), std::string(65, 'a')}) {
    auto errors = errors_of("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" + bad + "\"\n");
    ASSERT_THAT(errors, SizeIs(1)) << bad;
    EXPECT_THAT(errors[0], StartsWith("test.toml:3: connectors[0].token_sha256: ")) << bad;
  }
}

TEST(Config, AConnectorNeedsANameAndAToken) {
  auto errors = errors_of("[[connectors]]\nmay_bypass = true\n");
  EXPECT_THAT(errors, SizeIs(2));
  EXPECT_THAT(errors,
              Contains(AllOf(StartsWith("test.toml:1: connectors[0]: "), HasSubstr("name"))));
  EXPECT_THAT(errors, Contains(AllOf(StartsWith("test.toml:1: connectors[0]: "),
                                     HasSubstr("token_sha256"))));
}

TEST(Config, ListenEqualToAdminListenIsAnError) {
  auto errors = errors_of(
      "[server]\n"
      "listen = \"127.0.0.1:2007\"\n"
      "admin_listen = \"127.0.0.1:2007\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: server.admin_listen: "));
}

TEST(Config, ListenEqualToTheDefaultAdminListenIsAnErrorAtTheListenLine) {
  // admin_listen is not written: it defaults to 127.0.0.1:2008, which listen now takes. The
  // only line that can be blamed is listen's.
  auto errors = errors_of(
      "[server]\n"
      "listen = \"127.0.0.1:2008\"\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: "));
}

TEST(Config, BadListenAddressesAreErrors) {
  EXPECT_THAT(errors_of("[server]\nlisten = \"127.0.0.1\"\n"),
              ElementsAre(StartsWith("test.toml:2: server.listen: ")));
  EXPECT_THAT(errors_of("[server]\nlisten = \"127.0.0.1:70000\"\n"),
              ElementsAre(StartsWith("test.toml:2: server.listen: ")));
  EXPECT_THAT(errors_of("[server]\nadmin_listen = \"unix:\"\n"),
              ElementsAre(StartsWith("test.toml:2: server.admin_listen: ")));
  EXPECT_THAT(errors_of("[server]\nlisten = \"unix:/run/treve/ingest.sock\"\n"),
              ElementsAre(StartsWith("test.toml:2: server.listen: ")));
}

TEST(Config, WrongValueTypesAreErrors) {
  EXPECT_THAT(errors_of("[policy]\ntimezone = 1\n"),
              ElementsAre(StartsWith("test.toml:2: policy.timezone: must be a string")));
  EXPECT_THAT(errors_of("[policy]\nholidays = \"fr-public\"\n"),
              ElementsAre(StartsWith("test.toml:2: policy.holidays: ")));
  EXPECT_THAT(errors_of("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" + std::string(64, 'a') +
                        "\"\nmay_bypass = \"yes\"\n"),
              ElementsAre(StartsWith("test.toml:4: connectors[0].may_bypass: ")));
  EXPECT_THAT(errors_of("server = 1\n"), ElementsAre(StartsWith("test.toml:1: server: ")));
}

// ---------------------------------------------------------------------------------------------
// Inheritance and time zones

const char* kTwoWindowsPolicy =
    "[policy]\n"
    "timezone = \"Europe/Paris\"\n"
    "[[policy.quiet]]\n"
    "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n"
    "start = \"19:00\"\n"
    "end = \"08:00\"\n"
    "[[policy.quiet]]\n"
    "days = [\"sat\"]\n"
    "start = \"12:00\"\n"
    "end = \"08:00\"\n"
    "end_day = \"mon\"\n";

TEST(Config, AnEstablishmentWithoutQuietInheritsThePolicyWindows) {
  auto c = load_ok(std::string(kTwoWindowsPolicy) +
                   "[establishments.\"0250001R\"]\nclosed = [\"2027-06-17\"]\n");
  ASSERT_TRUE(c);
  const auto& d = c->policy->defaults().windows;
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(policy_of(*c, "0250001R").rules().windows, d);
  EXPECT_EQ(policy_of(*c, "0750654D").rules().windows, d);  // not configured: the defaults
  // Tuesday 2026-11-24 19:30: quiet under the inherited 19:00 window.
  EXPECT_TRUE(policy_of(*c, "0250001R").schedule().is_quiet(at("2026-11-24T19:30:00+01:00")));
}

TEST(Config, AnEstablishmentWithQuietReplacesThePolicyWindows) {
  auto c = load_ok(std::string(kTwoWindowsPolicy) +
                   "[[establishments.\"0250001R\".quiet]]\n"
                   "days = [\"wed\"]\n"
                   "start = \"12:00\"\n"
                   "end = \"14:00\"\n");
  ASSERT_TRUE(c);
  const auto& w = policy_of(*c, "0250001R").rules().windows;
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].start, std::chrono::hours(12));
  EXPECT_EQ(w[0].end, std::chrono::hours(14));
  EXPECT_TRUE(w[0].starts_on(date::Wednesday));
  EXPECT_FALSE(w[0].starts_on(date::Monday));
  const auto& s = policy_of(*c, "0250001R").schedule();
  EXPECT_FALSE(s.is_quiet(at("2026-11-24T19:30:00+01:00")));  // Tuesday evening: open
  EXPECT_TRUE(s.is_quiet(at("2026-11-25T13:00:00+01:00")));   // Wednesday lunch: quiet
  // The other establishments keep the [policy] windows.
  EXPECT_EQ(policy_of(*c, "0750654D").rules().windows.size(), 2u);
}

TEST(Config, AnEstablishmentInheritsOtherPolicyKeys) {
  auto c = load_ok(
      "[policy]\n"
      "parent_grade_delay = \"72h\"\n"
      "urgent_categories = [\"alert\", \"absence\"]\n"
      "holidays = []\n"
      "[establishments.\"0250001R\"]\n"
      "parent_grade_delay = \"0\"\n");
  ASSERT_TRUE(c);
  const auto& r = policy_of(*c, "0250001R").rules();
  EXPECT_EQ(r.parent_grade_delay, std::chrono::minutes(0));
  EXPECT_TRUE(r.is_urgent_category(policy::Category::absence));
  EXPECT_FALSE(r.public_holidays);
}

TEST(Config, TimezoneIsDerivedFromTheUaiPrefixWhenPolicyHasNone) {
  const std::string reunion = "9740001" + std::string(1, policy::uai_control_letter(9740001u));
  const std::string noumea = "9880001" + std::string(1, policy::uai_control_letter(9880001u));
  auto c = load_ok("[establishments.\"" + reunion + "\"]\nclosed = [\"2027-06-17\"]\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(policy_of(*c, reunion).zone()->name(), "Indian/Reunion");
  // Not configured: also derived from the prefix.
  EXPECT_EQ(policy_of(*c, noumea).zone()->name(), "Pacific/Noumea");
  EXPECT_EQ(policy_of(*c, "0750654D").zone()->name(), "Europe/Paris");
  // 20:00 in Réunion is quiet; 20:00 in Paris on the same Tuesday (23:00 Réunion) too, but
  // 18:00 Paris (21:00 Réunion) only in Réunion.
  EXPECT_TRUE(policy_of(*c, reunion).schedule().is_quiet(at("2026-11-24T18:00:00+01:00")));
  EXPECT_FALSE(policy_of(*c, "0750654D").schedule().is_quiet(at("2026-11-24T18:00:00+01:00")));
}

TEST(Config, PolicyTimezoneAppliesToEveryEstablishmentWithoutItsOwn) {
  const std::string reunion = "9740001" + std::string(1, policy::uai_control_letter(9740001u));
  auto c = load_ok("[policy]\ntimezone = \"Europe/Paris\"\n[establishments.\"" + reunion +
                   "\"]\nholidays = [\"fr-public\"]\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(policy_of(*c, reunion).zone()->name(), "Europe/Paris");
}

TEST(Config, EstablishmentTimezoneOverridesPolicyTimezone) {
  auto c = load_ok(
      "[policy]\ntimezone = \"Europe/Paris\"\n"
      "[establishments.\"0750654D\"]\ntimezone = \"America/Cayenne\"\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(policy_of(*c, "0750654D").zone()->name(), "America/Cayenne");
}

// Every descriptor the process may open taken, for as long as it lives: what runs meanwhile
// must open no file.
class NoDescriptorLeft {
 public:
  NoDescriptorLeft() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, 256);
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
      taken_.push_back(fd);
  }
  ~NoDescriptorLeft() {
    for (int fd : taken_)
      ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  NoDescriptorLeft(const NoDescriptorLeft&) = delete;
  NoDescriptorLeft& operator=(const NoDescriptorLeft&) = delete;

  bool exhausted() const {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
      ::close(fd);
    return fd < 0 && errno == EMFILE;
  }

 private:
  rlimit saved_{};
  std::vector<int> taken_;
};

// date/tz reads a zone's file the first time the zone is used; the configuration reads them
// all as it loads, so that deciding for an establishment later opens no file (a daemon out of
// descriptors once answered 500 because a zone file could not be opened on the request path).
TEST(Config, ReadsEveryTimeZoneAsItLoadsSoThatUsingOneLaterOpensNoFile) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' runtime needs descriptors of its own (it reads /proc/self/maps to check a
  // dynamic type) and reports false errors once none is left: this is tested in the other builds.
  GTEST_SKIP() << "needs every descriptor of the process, which the sanitizers' runtime uses";
#endif
  const std::string chatham_school = "0750654D";
  auto c = load_ok("[establishments.\"" + chatham_school + "\"]\ntimezone = \"Pacific/Chatham\"\n");
  ASSERT_TRUE(c);
  std::vector<std::string> uais{chatham_school};
  for (unsigned prefix : {971u, 972u, 973u, 974u, 975u, 976u, 977u, 978u, 986u, 987u, 988u}) {
    const unsigned number = prefix * 10'000 + 1;
    uais.push_back(std::to_string(number) + std::string(1, policy::uai_control_letter(number)));
  }
  uais.push_back("0250001" + std::string(1, policy::uai_control_letter(250001u)));

  const policy::Instant t = at("2026-11-24T18:00:00+01:00");
  NoDescriptorLeft none;
  ASSERT_TRUE(none.exhausted());
  for (const auto& uai : uais) {
    const policy::EstablishmentPolicy& p = policy_of(*c, uai);
    EXPECT_NO_THROW(p.schedule().is_quiet(t)) << uai << " " << p.zone()->name();
    EXPECT_NO_THROW(policy::format_rfc3339(t, p.zone())) << uai << " " << p.zone()->name();
  }
  EXPECT_NO_THROW(policy::format_rfc3339(t, date::locate_zone("UTC")));
  // Summer time after 2037 comes from the zone file's footer, read as the zone was.
  const policy::EstablishmentPolicy& paris =
      policy_of(*c, "0250001" + std::string(1, policy::uai_control_letter(250001u)));
  EXPECT_EQ(policy::format_rfc3339(at("2040-07-01T05:00:00Z"), paris.zone()),
            "2040-07-01T07:00:00+02:00");
}

// ---------------------------------------------------------------------------------------------
// closed_ics

TEST(Config, ClosedIcsIsRelativeToTheConfigurationsDirectory) {
  TempDir dir;
  dir.write("calendars/exams.ics", kIcs);
  std::string path = dir.write("treve.toml",
                               "[establishments.\"0750654D\"]\n"
                               "closed_ics = \"calendars/exams.ics\"\n");
  auto loaded = load_config(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
  const auto& p = policy_of(**loaded, "0750654D");
  ASSERT_EQ(p.rules().closed.size(), 1u);
  EXPECT_THAT(p.rules().closed[0].label, HasSubstr("Examens blancs"));
  // DTEND is exclusive: 13, 14 and 15 April 2027 are closed, the 16th is not.
  EXPECT_TRUE(p.schedule().is_quiet(at("2027-04-15T12:00:00+02:00")));
  EXPECT_FALSE(p.schedule().is_quiet(at("2027-04-16T12:00:00+02:00")));
}

TEST(Config, ClosedIcsMayBeAnAbsolutePath) {
  TempDir dir;
  std::string ics = dir.write("exams.ics", kIcs);
  auto c = load_ok("[policy]\nclosed_ics = \"" + ics + "\"\n", "/somewhere/else/treve.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->policy->defaults().closed.size(), 1u);
  // [policy]'s closed days protect every establishment.
  EXPECT_TRUE(policy_of(*c, "0750654D").schedule().is_quiet(at("2027-04-14T12:00:00+02:00")));
}

TEST(Config, AMissingIcsFileIsAnErrorAtTheClosedIcsLine) {
  TempDir dir;
  std::string path = dir.write("treve.toml",
                               "[policy]\n"
                               "holidays = [\"fr-public\"]\n"
                               "[establishments.\"0750654D\"]\n"
                               "\n"
                               "closed_ics = \"missing.ics\"\n");
  auto loaded = load_config(path);
  ASSERT_FALSE(loaded.has_value());
  ASSERT_EQ(loaded.error().size(), 1u);
  EXPECT_THAT(loaded.error()[0].to_string(),
              StartsWith(path + ":5: establishments.0750654D.closed_ics: "));
  EXPECT_THAT(loaded.error()[0].message(), HasSubstr("missing.ics"));
}

TEST(Config, AnIcsFileThatIsNotACalendarIsAnError) {
  TempDir dir;
  dir.write("notes.ics", "hello\n");
  std::string path = dir.write("treve.toml", "[policy]\nclosed_ics = \"notes.ics\"\n");
  auto loaded = load_config(path);
  ASSERT_FALSE(loaded.has_value());
  ASSERT_EQ(loaded.error().size(), 1u);
  EXPECT_THAT(loaded.error()[0].to_string(), StartsWith(path + ":2: policy.closed_ics: "));
}

}  // namespace
}  // namespace treve::config

namespace treve::config {
namespace {

TEST(Config, ThePseudonymKeyPathMustBeAbsolute) {
  auto ok = parse_config("[server]\npseudonym_key = \"/etc/treve/pseudonym.key\"\n", "test.toml");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)->server.pseudonym_key, "/etc/treve/pseudonym.key");
  auto bad = parse_config("[server]\npseudonym_key = \"key\"\n", "test.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error()[0].to_string(),
            "test.toml:2: server.pseudonym_key: must be an absolute path");
}

TEST(Config, BytesInFlightDefaultToTwiceAndFourTimesTheBatchLimit) {
  auto c = load_ok("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server.max_bytes_in_flight_per_connector, 32u * 1024 * 1024);
  EXPECT_EQ(c->server.max_bytes_in_flight, 64u * 1024 * 1024);
  auto smaller = load_ok("[server]\nmax_batch_body_bytes = 1048576\n");
  ASSERT_TRUE(smaller);
  EXPECT_EQ(smaller->server.max_bytes_in_flight_per_connector, 2u * 1024 * 1024);
  EXPECT_EQ(smaller->server.max_bytes_in_flight, 4u * 1024 * 1024);
}

TEST(Config, BytesInFlightAreRead) {
  auto c = load_ok(
      "[server]\nmax_bytes_in_flight_per_connector = 20000000\nmax_bytes_in_flight = "
      "50000000\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server.max_bytes_in_flight_per_connector, 20'000'000u);
  EXPECT_EQ(c->server.max_bytes_in_flight, 50'000'000u);
  // A total alone lowers a connector's default to it.
  auto total = load_ok("[server]\nmax_bytes_in_flight = 20000000\n");
  ASSERT_TRUE(total);
  EXPECT_EQ(total->server.max_bytes_in_flight_per_connector, 20'000'000u);
}

TEST(Config, BytesInFlightBelowTheLargestRequestOrEachOtherAreErrorsAtTheirLine) {
  EXPECT_THAT(errors_of("[server]\nmax_batch_body_bytes = 1048576\n"
                        "max_bytes_in_flight_per_connector = 1000000\n"),
              ElementsAre("test.toml:3: server.max_bytes_in_flight_per_connector: must be at "
                          "least 1048576 (the larger of server.max_body_bytes and "
                          "server.max_batch_body_bytes): a request that large could never be "
                          "accepted"));
  EXPECT_THAT(errors_of("[server]\nmax_bytes_in_flight_per_connector = 40000000\n"
                        "max_bytes_in_flight = 30000000\n"),
              ElementsAre("test.toml:3: server.max_bytes_in_flight: server.max_bytes_in_flight "
                          "(30000000) must be at least server.max_bytes_in_flight_per_connector "
                          "(40000000)"));
  EXPECT_THAT(errors_of("[server]\nmax_bytes_in_flight = 1048576\n"),
              ElementsAre("test.toml:2: server.max_bytes_in_flight: server.max_bytes_in_flight "
                          "(1048576) must be at least server.max_bytes_in_flight_per_connector "
                          "(16777216)"));
  EXPECT_THAT(errors_of("[server]\nmax_bytes_in_flight = \"64M\"\n"),
              ElementsAre("test.toml:2: server.max_bytes_in_flight: must be a whole number of "
                          "bytes between 1024 and 68719476736"));
}

}  // namespace
}  // namespace treve::config

namespace treve::config {
namespace {

constexpr const char* kConnectors = R"(
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
[[connectors]]
name = "pronote"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";

TEST(SinkRouting, TheFirstMatchingSinkTakesADeliveryAndTheDefaultTakesTheRest) {
  auto c = parse_config(std::string(kConnectors) + R"(
[[sinks]]
name = "mail-parents"
type = "webhook"
url = "https://mail.example/h"
secret_file = "ent-push.secret"
roles = ["parent"]
categories = ["grade", "absence"]
[[sinks]]
name = "pronote-push"
type = "webhook"
url = "https://pronote.example/h"
secret_file = "ent-push.secret"
sources = ["pronote"]
[[sinks]]
name = "ent-push"
type = "webhook"
url = "https://ent.example/h"
secret_file = "ent-push.secret"
default = true
)",
                        TREVE_SOURCE_DIR "/systemd/test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  using policy::Category, policy::Role;
  EXPECT_EQ((*c)->sink_for("ent", Category::grade, Role::parent)->name, "mail-parents");
  EXPECT_EQ((*c)->sink_for("pronote", Category::grade, Role::parent)->name, "mail-parents");
  EXPECT_EQ((*c)->sink_for("pronote", Category::grade, Role::student)->name, "pronote-push");
  EXPECT_EQ((*c)->sink_for("ent", Category::message, Role::student)->name, "ent-push");
}

TEST(SinkRouting, ADeliveryNoSinkTakesIsAConfigurationError) {
  auto c = parse_config(std::string(kConnectors) + R"(
[[sinks]]
name = "ent-push"
type = "webhook"
url = "https://ent.example/h"
secret_file = "ent-push.secret"
sources = ["ent"]
)",
                        TREVE_SOURCE_DIR "/systemd/test.toml");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error()[0].to_string(),
              ::testing::HasSubstr("no sink takes message for student from connector pronote"));
}

TEST(SinkRouting, OnlyOneSinkMayBeTheDefaultAndFiltersNameKnownValues) {
  auto c = parse_config(std::string(kConnectors) + R"(
[[sinks]]
name = "a"
type = "webhook"
url = "https://a.example/h"
secret_file = "ent-push.secret"
default = true
roles = ["teacher"]
[[sinks]]
name = "b"
type = "webhook"
url = "https://b.example/h"
secret_file = "ent-push.secret"
default = true
)",
                        TREVE_SOURCE_DIR "/systemd/test.toml");
  ASSERT_FALSE(c);
  std::vector<std::string> texts;
  for (const auto& e : c.error())
    texts.push_back(e.to_string());
  EXPECT_THAT(texts, ::testing::Contains(
                         ::testing::HasSubstr("sinks[0].roles[0]: unknown role \"teacher\"")));
  EXPECT_THAT(texts, ::testing::Contains(::testing::HasSubstr("only one sink may be the default")));
}

const std::string kSecret = "secret_file = \"" TREVE_SOURCE_DIR "/systemd/ent-push.secret\"\n";

TEST(SinkSending, OptionsAreReadWithTheirUnits) {
  auto c = parse_config(std::string(kConnectors) +
                            "[[sinks]]\nname = \"push\"\ntype = \"webhook\"\n"
                            "url = \"https://ent.example/h\"\ndefault = true\n" +
                            kSecret +
                            "batch_max = 50\nmax_in_flight = 8\nrate = 12.5\ntimeout = \"2500ms\"\n"
                            "retry_initial = \"2s\"\nretry_max_interval = \"10m\"\n"
                            "retry_for = \"1d12h\"\n",
                        "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  const Sink& s = (*c)->sinks[0];
  EXPECT_EQ(s.batch_max, 50u);
  EXPECT_EQ(s.max_in_flight, 8u);
  EXPECT_DOUBLE_EQ(s.rate, 12.5);
  EXPECT_EQ(s.timeout, std::chrono::milliseconds{2500});
  EXPECT_EQ(s.retry_initial, std::chrono::seconds{2});
  EXPECT_EQ(s.retry_max_interval, std::chrono::minutes{10});
  EXPECT_EQ(s.retry_for, std::chrono::hours{36});
  EXPECT_TRUE(s.secret.starts_with("whsec_"));
}

TEST(SinkSending, DefaultsAreOneDeliveryPerRequestAndTwoDaysOfRetries) {
  auto c = parse_config(std::string(kConnectors) +
                            "[[sinks]]\nname = \"push\"\ntype = \"webhook\"\n"
                            "url = \"https://ent.example/h\"\ndefault = true\n" +
                            kSecret,
                        "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  const Sink& s = (*c)->sinks[0];
  EXPECT_EQ(s.batch_max, 1u);
  EXPECT_EQ(s.max_in_flight, 32u);
  EXPECT_EQ(s.rate, 0.0);
  EXPECT_EQ(s.retry_for, std::chrono::hours{48});
}

TEST(ConnectorRate, IsReadAndBadOnesAreNamedWithTheirLine) {
  auto c = parse_config("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" +
                            std::string(TREVE_TEST_CHANGE_ME_SHA256) + "\"\nrate = 12.5\n",
                        "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_DOUBLE_EQ((*c)->connectors[0].rate, 12.5);
  for (const char* bad : {"-1", "0.001", "2000000", "\"50\""}) {
    auto errors = errors_of("[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" +
                            std::string(TREVE_TEST_CHANGE_ME_SHA256) + "\"\nrate = " + bad + "\n");
    EXPECT_THAT(errors, Contains(StartsWith("test.toml:4: connectors[0].rate: must be 0 (no limit) "
                                            "or a number per second between 0.01 and 1000000")))
        << bad;
  }
}

TEST(ConnectorRecipients, AreBoundedBelowTheParsersLimit) {
  const std::string connector = "[[connectors]]\nname = \"ent\"\ntoken_sha256 = \"" +
                                std::string(TREVE_TEST_CHANGE_ME_SHA256) + "\"\n";
  auto c = parse_config(connector + "max_recipients = 200\n", "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ((*c)->connectors[0].max_recipients, 200u);
  auto d = parse_config(connector, "test.toml");
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)->connectors[0].max_recipients, 1000u);
  for (const char* bad : {"0", "1001", "\"10\"", "2.5"}) {
    EXPECT_THAT(errors_of(connector + "max_recipients = " + bad + "\n"),
                Contains(StartsWith("test.toml:4: connectors[0].max_recipients: must be a whole "
                                    "number between 1 and 1000")))
        << bad;
  }
}

TEST(ServerConnections, OneAddressesBoundIsConfigurable) {
  auto c = parse_config("[server]\nmax_connections_per_address = 500\n", "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ((*c)->server.max_connections_per_address, 500u);
  auto d = parse_config("[server]\n", "test.toml");
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)->server.max_connections_per_address, 64u);
  for (const char* bad : {"0", "65537", "\"64\"", "2.5"}) {
    EXPECT_THAT(errors_of(std::string("[server]\nmax_connections_per_address = ") + bad + "\n"),
                Contains(StartsWith("test.toml:2: server.max_connections_per_address: must be a "
                                    "whole number between 1 and 65536")))
        << bad;
  }
}

TEST(SinkSending, BadValuesAreNamedWithTheirLine) {
  auto errors = errors_of(std::string(kConnectors) +           // 7 lines
                          "[[sinks]]\n"                        // 8
                          "name = \"push\"\n"                  // 9
                          "type = \"webhook\"\n"               // 10
                          "url = \"https://ent.example/h\"\n"  // 11
                          "default = true\n" +                 // 12
                          kSecret +                            // 13
                          "batch_max = 0\n"                    // 14
                          "max_in_flight = 2000\n"             // 15
                          "rate = -1\n"                        // 16
                          "timeout = \"10 s\"\n"               // 17
                          "retry_initial = \"1h\"\n"           // 18
                          "retry_max_interval = \"1m\"\n"      // 19
                          "retry_for = \"400d\"\n");           // 20
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:14: sinks[0].batch_max: must be a whole "
                                          "number between 1 and 1000")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:15: sinks[0].max_in_flight: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:16: sinks[0].rate: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:17: sinks[0].timeout: expected a duration")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:19: sinks[0].retry_max_interval: must not "
                                          "be shorter than retry_initial")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:20: sinks[0].retry_for: ")));
}

TEST(SinkSending, AWebhookNeedsAReadableWellFormedSecretAndOtherTypesAreNotAvailable) {
  const std::string sink =
      "[[sinks]]\nname = \"push\"\ntype = \"webhook\"\n"
      "url = \"https://ent.example/h\"\ndefault = true\n";
  EXPECT_THAT(errors_of(std::string(kConnectors) + sink),
              Contains(HasSubstr("sinks[0]: missing key \"secret_file\"")));
  EXPECT_THAT(
      errors_of(std::string(kConnectors) + sink + "secret_file = \"/nonexistent/secret\"\n"),
      Contains(HasSubstr("sinks[0].secret_file: cannot read the secret file "
                         "/nonexistent/secret")));
  const TempDir bad_dir("treve-bad-secret");
  const std::string bad = bad_dir.write("secret", "whsec_short\n");
  auto errors = errors_of(std::string(kConnectors) + sink + "secret_file = \"" + bad + "\"\n");
  std::filesystem::remove(bad);
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[0].secret_file: " + bad + ": webhook secret")));
  // The secret itself never appears in an error.
  for (const auto& e : errors)
    EXPECT_THAT(e, Not(HasSubstr("short")));
  EXPECT_THAT(
      errors_of(std::string(kConnectors) + "[[sinks]]\nname = \"mail\"\ntype = \"sms\"\n"
                                           "url = \"smtp://mail.example\"\ndefault = true\n"),
      Contains(HasSubstr("unknown sink type \"sms\"; expected webhook, fcm, webpush or smtp")));
}

// A rotation: the secret file holds the new secret and the old one, both signing.
TEST(SinkSending, ASecretFileOfARotationHoldsTwoSecrets) {
  const TempDir dir("treve-rotation");
  const std::string file = dir.write("secret",
                                     "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"
                                     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  std::filesystem::permissions(file, std::filesystem::perms::owner_read);
  auto c = parse_config(std::string(kConnectors) +
                            "[[sinks]]\nname = \"push\"\ntype = \"webhook\"\n"
                            "url = \"https://ent.example/h\"\ndefault = true\n"
                            "secret_file = \"" +
                            file + "\"\n",
                        "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  auto signer = adapters::WebhookSigner::from_secret((*c)->sinks[0].secret);
  ASSERT_TRUE(signer) << signer.error();
  EXPECT_EQ(signer->secrets(), 2u);
}

// Secrets from systemd credentials (LoadCredential=NAME:PATH): "credential:NAME" is NAME in
// $CREDENTIALS_DIRECTORY; without it, or with a name that is not a plain file name, the error
// says so.
TEST(SinkSending, ASecretMayBeASystemdCredential) {
  const TempDir dir("treve-credentials");
  const std::string file = dir.write("ent-push", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  std::filesystem::permissions(file, std::filesystem::perms::owner_read);
  const std::string sink =
      std::string(kConnectors) +
      "[[sinks]]\nname = \"push\"\ntype = \"webhook\"\nurl = \"https://ent.example/h\"\n"
      "default = true\nsecret_file = ";
  const char* before = std::getenv("CREDENTIALS_DIRECTORY");
  const std::string saved = before ? before : "";
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  auto c = parse_config(sink + "\"credential:ent-push\"\n", "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ((*c)->sinks[0].secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  EXPECT_THAT(errors_of(sink + "\"credential:../ent-push\"\n"),
              Contains(HasSubstr("sinks[0].secret_file: \"credential:../ent-push\": a "
                                 "credential's name is a plain file name")));
  EXPECT_THAT(
      errors_of(sink + "\"credential:missing\"\n"),
      Contains(HasSubstr("cannot read the secret file " + dir.path().string() + "/missing")));
  ::unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_THAT(errors_of(sink + "\"credential:ent-push\"\n"),
              Contains(HasSubstr("sinks[0].secret_file: \"credential:ent-push\": "
                                 "$CREDENTIALS_DIRECTORY is not set: run under systemd with "
                                 "LoadCredential=ent-push:PATH")));
  if (before)
    ::setenv("CREDENTIALS_DIRECTORY", saved.c_str(), 1);
}

}  // namespace
}  // namespace treve::config

namespace treve::config {
namespace {

TEST(RetentionConfig, DefaultsAreAYearOfRecordsAndThirtyDaysOfBodies) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->audit.retention, std::chrono::hours{365 * 24});
  EXPECT_EQ((*c)->audit.head_log_every, 10'000);
  EXPECT_EQ((*c)->events.retention, std::chrono::hours{30 * 24});
  EXPECT_THAT((*c)->warnings, Not(Contains(HasSubstr("retention"))));
}

TEST(RetentionConfig, ValuesAreReadAndAYearAndAHalfIsWarnedAbout) {
  auto c = parse_config(
      "[audit]\nretention = \"540d\"\nhead_log_every = 0\n[events]\nretention = \"7d\"\n",
      "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ((*c)->audit.retention, std::chrono::hours{540 * 24});
  EXPECT_EQ((*c)->audit.head_log_every, 0);
  EXPECT_EQ((*c)->events.retention, std::chrono::hours{7 * 24});
  EXPECT_THAT((*c)->warnings, Contains(AllOf(StartsWith("test.toml:2: audit.retention: 540 days"),
                                             HasSubstr("CNIL"))));
}

TEST(RetentionConfig, BadValuesAreNamedWithTheirLine) {
  auto errors = errors_of(
      "[audit]\n"                 // 1
      "retention = \"12h\"\n"     // 2
      "head_log_every = -1\n"     // 3
      "keep = true\n"             // 4
      "[events]\n"                // 5
      "retention = \"400d\"\n");  // 6
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:2: audit.retention: expected a whole number "
                                          "of days between 1d and 3650d")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:3: audit.head_log_every: ")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:4: audit.keep: unknown key")));
  EXPECT_THAT(errors, Contains(StartsWith("test.toml:6: events.retention: expected a whole number "
                                          "of days between 1d and 366d")));
}

}  // namespace
}  // namespace treve::config

namespace treve::config {
namespace {

TEST(ConfigAdmins, RolesScopesAndTheirErrors) {
  auto c = parse_config(R"(
[[admins]]
name = "Mme Durand"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
role = "admin"
scope = ["0750654D"]
[[admins]]
name = "DPD académique"
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
role = "auditor"
scope = "*"
)",
                        "test.toml");
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ((*c)->admins.size(), 2u);
  EXPECT_EQ((*c)->admins[0].role, Admin::Role::admin);
  EXPECT_TRUE((*c)->admins[0].in_scope("0750654D"));
  EXPECT_FALSE((*c)->admins[0].in_scope("0250001R"));
  EXPECT_TRUE((*c)->admins[1].in_scope("0250001R"));

  auto bad = parse_config(R"(
[[admins]]
name = "x"
token_sha256 = "change-me"
role = "root"
scope = ["0750654A"]
[[admins]]
name = "x"
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
role = "auditor"
)",
                          "test.toml");
  ASSERT_FALSE(bad.has_value());
  std::string all;
  for (const auto& e : bad.error())
    all += e.to_string() + "\n";
  EXPECT_THAT(all, HasSubstr("admins[0].token_sha256: must be the SHA-256"));
  EXPECT_THAT(all, HasSubstr("admins[0].role: must be \"admin\""));
  EXPECT_THAT(all, HasSubstr("admins[0].scope[0]: UAI 0750654A"));
  EXPECT_THAT(all, HasSubstr("admins[1].name: another admin has this name"));
  EXPECT_THAT(all, HasSubstr("admins[1]: missing key \"scope\""));
}

TEST(ConfigApiPolicies, AddedWhereTheFileIsSilentValidatedByTheSameCode) {
  const std::string file = R"(
[establishments."0250001R"]
parent_grade_delay = "72h"
)";
  std::vector<ApiPolicy> api = {
      {"0750654D",
       R"({"parent_grade_delay":"0","quiet":[{"days":["mon","tue","wed","thu","fri"],)"
       R"("start":"19:00","end":"07:30"}],"closed":["2026-12-21..2027-01-03"],"timezone":null})"},
      {"0250001R", R"({"parent_grade_delay":"7d"})"},  // the file manages it: ignored
  };
  auto c = parse_config_with(file, "test.toml", api);
  ASSERT_TRUE(c.has_value()) << c.error()[0].to_string();
  EXPECT_THAT((*c)->file_establishments, ::testing::ElementsAre("0250001R"));
  ASSERT_EQ((*c)->api_policies.size(), 1u);
  EXPECT_EQ((*c)->api_policies[0].uai, "0750654D");
  EXPECT_EQ(policy_of(**c, "0750654D").rules().parent_grade_delay, std::chrono::minutes{0});
  EXPECT_EQ(policy_of(**c, "0750654D").rules().windows.size(), 1u);
  EXPECT_EQ(policy_of(**c, "0250001R").rules().parent_grade_delay, std::chrono::hours{72});

  std::vector<ApiPolicy> bad = {
      {"0750654D", R"({"quiet":[{"days":["mon"],"start":"20:00","end":"7h"}],"strat":"x",)"
                   R"("closed_ics":"/etc/shadow"})"}};
  auto refused = parse_config_with(file, "test.toml", bad);
  ASSERT_FALSE(refused.has_value());
  std::vector<std::string> pointers;
  for (const auto& e : refused.error())
    pointers.push_back(policy_pointer(e.key, "0750654D"));
  EXPECT_THAT(pointers, ::testing::ElementsAre("/policy/closed_ics"));
  bad[0].json = R"({"quiet":[{"days":["mon"],"start":"20:00","end":"7h"}],"strat":"x"})";
  refused = parse_config_with(file, "test.toml", bad);
  ASSERT_FALSE(refused.has_value());
  pointers.clear();
  for (const auto& e : refused.error())
    pointers.push_back(policy_pointer(e.key, "0750654D"));
  EXPECT_THAT(pointers, ::testing::UnorderedElementsAre("/policy/quiet/0/end", "/policy/strat"));
  EXPECT_EQ(policy_pointer("establishments.0250001R.quiet[0].end", "0750654D"), "");
  EXPECT_EQ(policy_pointer("establishments.0750654Dx", "0750654D"), "");
}

}  // namespace
}  // namespace treve::config

namespace treve::config {
namespace {

// A sink's secret file whose mode lets other users read it is reported (check-config prints
// the warning), but the configuration stays valid.
class SecretFileModes : public ::testing::Test {
 protected:
  std::shared_ptr<const Config> load_with_secret_mode(std::filesystem::perms mode) {
    secret_ = dir_.write("secrets/push", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    std::filesystem::permissions(secret_, mode);
    config_ = dir_.write("treve.toml", std::string(kConnectors) +
                                           "[[sinks]]\n"
                                           "name = \"push\"\n"
                                           "type = \"webhook\"\n"
                                           "url = \"https://ent.example/h\"\n"
                                           "default = true\n"
                                           "secret_file = \"secrets/push\"\n");
    auto loaded = load_config(config_);
    EXPECT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
    return loaded ? *loaded : nullptr;
  }

  TempDir dir_;
  std::string secret_;
  std::string config_;
};

TEST_F(SecretFileModes, ASecretReadableByOthersIsWarnedAboutWithItsModeAndTheFix) {
  auto c = load_with_secret_mode(std::filesystem::perms(0644));
  ASSERT_TRUE(c);
  EXPECT_THAT(
      c->warnings,
      Contains(AllOf(StartsWith(config_ + ":13: sinks[0].secret_file: "), HasSubstr(secret_),
                     HasSubstr("is readable by others (mode 0644)"), HasSubstr("chmod 600"))));
  // The warning never holds the secret.
  for (const auto& w : c->warnings)
    EXPECT_THAT(w, Not(HasSubstr("whsec_")));
}

TEST_F(SecretFileModes, ASecretOnlyItsOwnerCanReadIsNotWarnedAbout) {
  auto c = load_with_secret_mode(std::filesystem::perms(0600));
  ASSERT_TRUE(c);
  EXPECT_THAT(c->warnings, Not(Contains(HasSubstr("secret_file"))));
  c = load_with_secret_mode(std::filesystem::perms(0400));
  ASSERT_TRUE(c);
  EXPECT_THAT(c->warnings, Not(Contains(HasSubstr("secret_file"))));
}

TEST_F(SecretFileModes, AGroupReadableSecretIsWarnedAboutUnlessRootOwnsItForTheServicesGroup) {
  // Owned by root and readable by its group: how docs/operations.md lets the service read it.
  auto c = load_with_secret_mode(std::filesystem::perms(0640));
  ASSERT_TRUE(c);
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to give the file to another owner";
  EXPECT_THAT(c->warnings, Not(Contains(HasSubstr("secret_file"))));
  // Owned by another user: its group has no reason to read it.
  ASSERT_EQ(::chown(secret_.c_str(), 65534, 65534), 0);
  c = load_with_secret_mode(std::filesystem::perms(0640));
  ASSERT_TRUE(c);
  EXPECT_THAT(c->warnings, Contains(AllOf(HasSubstr("sinks[0].secret_file: "),
                                          HasSubstr("is readable by its group"),
                                          HasSubstr("(mode 0640)"), HasSubstr("chmod 600"))));
}

}  // namespace
}  // namespace treve::config

namespace treve::config {
namespace {

// The [testing] table: test hooks for trêve's own tests (docs/development.md), accepted only by
// a build with the CMake option TREVE_TESTING.
#if TREVE_TESTING
TEST(TestingConfig, APageCapIsAcceptedWithAWarningInABuildWithTestHooks) {
  auto c = parse_config("[testing]\nmax_page_count = 100\n", "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ((*c)->testing.max_page_count, 100);
  EXPECT_THAT((*c)->warnings, Contains(StartsWith("test.toml:1: testing: test hooks are in use")));
  EXPECT_THAT(errors_of("[testing]\nmax_page_count = 0\n"),
              Contains(StartsWith("test.toml:2: testing.max_page_count: must be a whole number")));
  EXPECT_THAT(errors_of("[testing]\nmax_pages = 1\n"),
              Contains(StartsWith("test.toml:2: testing.max_pages: unknown key")));
}

TEST(TestingConfig, AClockStartIsAcceptedWithAWarningInABuildWithTestHooks) {
  auto c = parse_config("[testing]\nclock_start = \"2026-12-07T19:59:58+01:00\"\n", "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  ASSERT_TRUE((*c)->testing.clock_start);
  EXPECT_EQ(*(*c)->testing.clock_start, *policy::parse_rfc3339("2026-12-07T18:59:58Z"));
  EXPECT_THAT((*c)->warnings, Contains(StartsWith("test.toml:1: testing: test hooks are in use")));
  EXPECT_THAT(
      errors_of("[testing]\nclock_start = \"2026-12-07 19:59\"\n"),
      Contains(StartsWith("test.toml:2: testing.clock_start: must be an RFC 3339 instant")));
  EXPECT_THAT(
      errors_of("[testing]\nclock_start = 2026-12-07T19:59:58+01:00\n"),
      Contains(StartsWith("test.toml:2: testing.clock_start: must be an RFC 3339 instant")));
}

TEST(TestingConfig, APurgeIntervalIsAcceptedWithAWarningInABuildWithTestHooks) {
  auto c = parse_config("[testing]\npurge_interval_minutes = 1\n", "test.toml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ((*c)->testing.purge_interval_minutes, 1);
  EXPECT_THAT((*c)->warnings, Contains(StartsWith("test.toml:1: testing: test hooks are in use")));
  for (const char* bad : {"0", "1441", "\"1m\"", "1.5"}) {
    EXPECT_THAT(errors_of(std::string("[testing]\npurge_interval_minutes = ") + bad + "\n"),
                Contains(StartsWith("test.toml:2: testing.purge_interval_minutes: must be a whole "
                                    "number of minutes between 1 and 1440")))
        << bad;
  }
}
#else
TEST(TestingConfig, AClockStartIsRefusedByABuildWithoutTestHooks) {
  EXPECT_THAT(errors_of("[testing]\nclock_start = \"2026-12-07T19:59:58+01:00\"\n"),
              ElementsAre(StartsWith("test.toml:1: testing: this trêve was built without test "
                                     "hooks")));
}

TEST(TestingConfig, TheTestingTableIsRefusedByABuildWithoutTestHooks) {
  EXPECT_THAT(errors_of("[testing]\nmax_page_count = 100\n"),
              ElementsAre(StartsWith("test.toml:1: testing: this trêve was built without test "
                                     "hooks")));
}
#endif

TEST(TestingConfig, NoConfigurationHasAPageCapUnlessItAsksForOne) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->testing.max_page_count, 0);
  // A typo at the top level lists the tables an administrator may write, not the test hooks.
  EXPECT_THAT(errors_of("[sever]\n"),
              ElementsAre(AllOf(HasSubstr("unknown key"), Not(HasSubstr("testing")))));
}

TEST(TestingConfig, NoConfigurationStartsTheClockElsewhereUnlessItAsks) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c);
  EXPECT_FALSE((*c)->testing.clock_start);
}

TEST(TestingConfig, NoConfigurationPurgesMoreOftenThanDailyUnlessItAsks) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->testing.purge_interval_minutes, 0);
}

}  // namespace
}  // namespace treve::config
