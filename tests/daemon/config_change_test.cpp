// The configuration as the audit trail's `config_changed` record describes it: its digest
// covers the file and the files it names (.ics calendars, sinks' secret files), so that a new
// secret or calendar is a change of configuration too.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/config.h"
#include "daemon/core/digest.h"
#include "daemon/runtime/reload.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tokens.h"

namespace treve::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr const char* kIcs =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//treve//tests//FR\r\n"
    "BEGIN:VEVENT\r\nDTSTAMP:20260301T090000Z\r\nDTSTART;VALUE=DATE:20270413\r\n"
    "DTEND;VALUE=DATE:20270416\r\nSUMMARY:Examens blancs\r\nUID:exams-2027@example\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n";

constexpr const char* kConfig = R"([establishments."0750654D"]
closed_ics = "exams.ics"

[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("

[[sinks]]
name = "push"
type = "webhook"
url = "https://ent.example/h"
default = true
secret_file = "secrets/push"
)";

class ConfigChange : public ::testing::Test {
 protected:
  ConfigChange() {
    fs::create_directories(dir_.path() / "secrets");
    write("exams.ics", kIcs);
    write("secrets/push", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    write("treve.toml", kConfig);
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.path() / name, std::ios::binary | std::ios::trunc) << text;
    fs::permissions(dir_.path() / name, fs::perms::owner_read | fs::perms::owner_write);
  }
  std::string path(const std::string& name) const { return dir_.file(name); }

  // The digest of the configuration as loaded now.
  std::string digest() {
    auto loaded = config::load_config(path("treve.toml"));
    EXPECT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
    if (!loaded)
      return {};
    auto change = config_file_change(path("treve.toml"), "start", (*loaded)->referenced_files);
    EXPECT_TRUE(change.has_value());
    return change ? change->digest : std::string();
  }

  test::TempDir dir_{"treve-config-change"};
};

TEST_F(ConfigChange, TheConfigurationNamesTheCalendarsAndSecretFilesItRead) {
  auto loaded = config::load_config(path("treve.toml"));
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
  EXPECT_THAT((*loaded)->referenced_files, ElementsAre(path("exams.ics"), path("secrets/push")));
  auto plain = config::parse_config("", "test.toml");
  ASSERT_TRUE(plain);
  EXPECT_THAT((*plain)->referenced_files, IsEmpty());
}

TEST_F(ConfigChange, ANewSecretOrCalendarChangesTheDigestAndTheSameFilesKeepIt) {
  const std::string first = digest();
  EXPECT_EQ(digest(), first);
  write("secrets/push", "whsec_c2VjcmV0LXR3by1zZWNyZXQtdHdvLXNlY3JldA==\n");
  const std::string second = digest();
  EXPECT_NE(second, first);
  write("exams.ics", std::string(kIcs).replace(std::string(kIcs).find("Examens"), 7, "Concours"));
  const std::string third = digest();
  EXPECT_NE(third, second);
  EXPECT_NE(third, first);
}

// An auditor recomputes it with coreutils: `sha256sum treve.toml exams.ics secrets/push` with
// absolute paths, and the SHA-256 of that output.
TEST_F(ConfigChange, TheDigestIsTheSha256OfTheFilesSha256sumListing) {
  std::string listing;
  for (const char* name : {"treve.toml", "exams.ics", "secrets/push"}) {
    std::ifstream in(path(name), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    listing += core::sha256_hex(bytes) + "  " + path(name) + "\n";
  }
  EXPECT_EQ(digest(), core::sha256_hex(listing));
}

TEST_F(ConfigChange, AFileThatNamesNoOtherFileKeepsTheDigestOfItsBytes) {
  write("plain.toml", "[policy]\ntimezone = \"Europe/Paris\"\n");
  auto change = config_file_change(path("plain.toml"), "start", {});
  ASSERT_TRUE(change);
  EXPECT_EQ(change->digest, core::sha256_hex("[policy]\ntimezone = \"Europe/Paris\"\n"));
}

}  // namespace
}  // namespace treve::runtime
