// [[directories]] and a connector's `directory` key: what loads, and the errors an
// administrator sees (file:line: key: message) when one is wrong.
#include <sys/stat.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/admin/messages_fr.h"
#include "daemon/config/config.h"
#include "tests/support/config_errors.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tokens.h"

namespace treve::config {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

struct Files {
  test::TempDir dir{"treve-directories"};
  std::string secret = dir.write("dir.secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  std::string token = dir.write("dir.token", "s3cr3t-t0ken\n");
  Files() {
    ::chmod(secret.c_str(), 0600);
    ::chmod(token.c_str(), 0600);
  }
};

std::string connector(const std::string& name, const std::string& directory) {
  return "[[connectors]]\nname = \"" + name + "\"\ntoken_sha256 = \"" +
         TREVE_TEST_CHANGE_ME_SHA256 + "\"\n" +
         (directory.empty() ? "" : "directory = \"" + directory + "\"\n");
}

constexpr const char* kTimeline = "format = \"entcore-timeline\"\n";

TEST(Directories, ADirectoryLoadsAndConnectorsShareIt) {
  Files f;
  const std::string text = R"([[directories]]
name = "ent"
url = "https://ent.example/treve/directory"
secret_file = ")" + f.secret +
                           R"("
ttl = "30m"
timeout = "2s"
cache_entries = 1000

[[directories]]
name = "pronote"
url = "http://127.0.0.1:9000/who"
token_file = ")" + f.token +
                           "\"\n\n" + connector("ent", "ent") + kTimeline +
                           connector("ent-mobile", "ent") + kTimeline +
                           connector("pronote", "pronote") + kTimeline + connector("other", "");
  auto loaded = parse_config(text, "treve.toml");
  ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
  const Config& c = **loaded;
  ASSERT_EQ(c.directories.size(), 2u);
  const Directory* ent = c.directory_named("ent");
  ASSERT_TRUE(ent);
  EXPECT_EQ(ent->url, "https://ent.example/treve/directory");
  EXPECT_TRUE(ent->secret.starts_with("whsec_"));
  EXPECT_TRUE(ent->token.empty());
  EXPECT_EQ(ent->ttl, std::chrono::minutes(30));
  EXPECT_EQ(ent->timeout, std::chrono::seconds(2));
  EXPECT_EQ(ent->cache_entries, 1000u);
  const Directory* pronote = c.directory_named("pronote");
  ASSERT_TRUE(pronote);
  EXPECT_EQ(pronote->token, "s3cr3t-t0ken");
  EXPECT_TRUE(pronote->secret.empty());
  EXPECT_EQ(pronote->ttl, std::chrono::hours(1));  // the defaults
  EXPECT_EQ(pronote->timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.connector("ent")->directory, "ent");
  EXPECT_EQ(c.connector("ent-mobile")->directory, "ent");
  EXPECT_EQ(c.connector("other")->directory, "");
  // Both files are part of the configuration's digest.
  EXPECT_THAT(c.referenced_files, Contains(f.secret));
  EXPECT_THAT(c.referenced_files, Contains(f.token));
  // Never the token or the secret in a warning.
  for (const auto& w : c.warnings)
    EXPECT_THAT(w, Not(HasSubstr("s3cr3t")));
}

TEST(Directories, MistakesAreNamedWithTheirLine) {
  Files f;
  auto errors = test::config_errors(connector("ent", "annuaire"), "treve.toml");
  EXPECT_THAT(errors, Contains("treve.toml:4: connectors[0].directory: no [[directories]] is "
                               "named \"annuaire\""));

  errors =
      test::config_errors("[[directories]]\nname = \"ent\"\nurl = \"ldap://ent\"\n", "treve.toml");
  EXPECT_THAT(errors,
              Contains("treve.toml:3: directories[0].url: must be an http:// or https:// URL"));
  EXPECT_THAT(errors, Contains(HasSubstr("treve.toml:1: directories[0]: missing key "
                                         "\"secret_file\" or \"token_file\"")));

  errors = test::config_errors(
      "[[directories]]\nname = \"ent\"\nurl = \"https://e\"\n"
      "secret_file = \"" +
          f.secret + "\"\ntoken_file = \"" + f.token + "\"\n",
      "treve.toml");
  EXPECT_THAT(errors, Contains("treve.toml:5: directories[0].token_file: give secret_file "
                               "(signed requests) or token_file (a bearer token), not both"));

  errors =
      test::config_errors("[[directories]]\nname = \"ent\"\nurl = \"https://e\"\nsecret_file = \"" +
                              f.dir.file("missing") +
                              "\"\nttl = \"10ms\"\ntimeout = \"forever\"\n"
                              "cache_entries = 0\nsurprise = 1\n",
                          "treve.toml");
  EXPECT_THAT(errors, Contains(HasSubstr("treve.toml:4: directories[0].secret_file: cannot read "
                                         "the secret file")));
  EXPECT_THAT(errors, Contains(HasSubstr("treve.toml:5: directories[0].ttl: expected a duration "
                                         "of at least 1000ms")));
  EXPECT_THAT(errors, Contains(HasSubstr("treve.toml:6: directories[0].timeout: expected a "
                                         "duration of at least 100ms")));
  EXPECT_THAT(errors, Contains("treve.toml:7: directories[0].cache_entries: must be a whole "
                               "number between 1 and 10000000"));
  EXPECT_THAT(errors, Contains(HasSubstr("treve.toml:8: directories[0].surprise: unknown key")));

  const std::string bad_token = f.dir.write("bad.token", "two words\n");
  ::chmod(bad_token.c_str(), 0600);
  const std::string not_whsec = f.dir.write("bad.secret", "hunter2-not-base64!\n");
  ::chmod(not_whsec.c_str(), 0600);
  errors = test::config_errors(
      "[[directories]]\nname = \"a\"\nurl = \"https://e\"\n"
      "token_file = \"" +
          bad_token +
          "\"\n[[directories]]\nname = \"a\"\nurl = \"https://e\"\n"
          "secret_file = \"" +
          not_whsec + "\"\n",
      "treve.toml");
  EXPECT_THAT(errors, Contains("treve.toml:4: directories[0].token_file: " + bad_token +
                               " must hold a bearer token on its first line (printable ASCII "
                               "without spaces)"));
  EXPECT_THAT(errors, Contains("treve.toml:6: directories[1].name: duplicate directory name "
                               "\"a\""));
  EXPECT_THAT(errors,
              Contains(HasSubstr("treve.toml:8: directories[1].secret_file: " + not_whsec)));
  for (const auto& e : errors) {
    EXPECT_THAT(e, Not(HasSubstr("two words")));
    EXPECT_THAT(e, Not(HasSubstr("hunter2")));
  }
}

TEST(Directories, ACloudEventsConnectorWithADirectoryNamesUsersById) {
  Files f;
  const std::string directory =
      "[[directories]]\nname = \"ent\"\nurl = \"https://e/u\"\n"
      "token_file = \"" +
      f.token + "\"\n\n";
  auto loaded = parse_config(directory + connector("ce", "ent") +
                                 "format = \"cloudevents\"\nrecipients_pointer = \"/to\"\n" +
                                 connector("plain-ce", "") + "format = \"cloudevents\"\n",
                             "treve.toml");
  ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
  EXPECT_TRUE((*loaded)->connector("ce")->cloudevents.recipients_from_directory);
  EXPECT_EQ((*loaded)->connector("ce")->cloudevents.recipients_pointer, "/to");
  EXPECT_FALSE((*loaded)->connector("plain-ce")->cloudevents.recipients_from_directory);

  // The establishment comes from the directory: a pointer to it would do nothing.
  auto errors = test::config_errors(directory + connector("ce", "ent") +
                                        "format = \"cloudevents\"\n"
                                        "establishment_pointer = \"/school\"\n",
                                    "treve.toml");
  EXPECT_THAT(errors, ::testing::ElementsAre(
                          "treve.toml:11: connectors[0].establishment_pointer: this connector's "
                          "events get their establishment from the directory \"ent\" (key "
                          "\"directory\"): establishment_pointer would do nothing"));
  EXPECT_EQ(admin::message_fr({.code = Code::establishment_from_directory, .args = {"ent"}}),
            "les événements de ce connecteur tiennent leur établissement de l'annuaire « ent » "
            "(clé « directory ») : establishment_pointer serait sans effet");
}

TEST(Directories, ACanonicalConnectorWithADirectoryIsRefused) {
  Files f;
  const std::string directory =
      "[[directories]]\nname = \"ent\"\nurl = \"https://e/u\"\n"
      "token_file = \"" +
      f.token + "\"\n\n";
  auto errors = test::config_errors(directory + connector("plain", "ent"), "treve.toml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0],
              ::testing::HasSubstr("connectors[0].directory: a canonical connector's "
                                   "events name their establishment and roles "
                                   "themselves: the directory \"ent\" would do nothing"));
  EXPECT_THAT(admin::message_fr({.code = Code::directory_not_for_format, .args = {"ent"}}),
              ::testing::HasSubstr("l'annuaire « ent » serait sans effet"));
}

TEST(Directories, FrenchMessages) {
  EXPECT_EQ(admin::message_fr({.code = Code::unknown_directory, .args = {"ent"}}),
            "aucun annuaire [[directories]] ne s'appelle « ent »");
  EXPECT_EQ(admin::message_fr({.code = Code::duplicate_name, .args = {"directory", "ent"}}),
            "nom d'annuaire en double « ent »");
}

}  // namespace
}  // namespace treve::config
