// [[sinks]] of every type: the keys each needs, the files they name, and the errors a school's
// administrator sees (file:line: key: message) when one is wrong.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/config.h"
#include "tests/support/config_errors.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tokens.h"

namespace treve::config {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kConnector = test::kChangeMeConnector;

std::vector<std::string> errors_of(const std::string& text, const std::string& path) {
  return test::config_errors(text, path);
}

// Keys made with the openssl command, as an administrator would.
struct Keys {
  test::TempDir dir{"treve-sink-keys"};
  std::string rsa = dir.file("sa.pem");
  std::string ec = dir.file("vapid.pem");
  std::string credentials = dir.file("service-account.json");
  Keys() {
    auto r =
        test::run_shell("openssl genrsa -out " + rsa + " 2048 && openssl ecparam -name " +
                        "prime256v1 -genkey -noout -out " + ec + " && chmod 600 " + rsa + " " + ec);
    EXPECT_EQ(r.status, 0) << r.out;
    std::string pem = test::read_whole_file(rsa);
    std::string escaped;
    for (char c : pem)
      escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    dir.write("service-account.json",
              R"({"type":"service_account","project_id":"ent-demo","private_key_id":"k1",)"
              R"("private_key":")" +
                  escaped +
                  R"(","client_email":"treve@ent-demo.iam.gserviceaccount.com",)"
                  R"("token_uri":"https://oauth2.googleapis.com/token"})");
    ::chmod(credentials.c_str(), 0600);
  }
};

TEST(SinkTypes, EachTypeLoadsWithItsKeys) {
  Keys k;
  const std::string text = std::string(kConnector) + R"(
[[sinks]]
name = "app"
type = "fcm"
project_id = "ent-demo"
credentials_file = ")" + k.credentials +
                           R"("
endpoint = "https://fcm.example/"
[[sinks]]
name = "browser"
type = "webpush"
vapid_key_file = ")" + k.ec +
                           R"("
subject = "mailto:dpo@ac-besancon.fr"
ttl = "12h"
[[sinks]]
name = "mail"
type = "smtp"
url = "smtp://relay.ac-besancon.fr:587"
from = "Collège Victor Hugo <ne-pas-repondre@clg-hugo.fr>"
reply_to = "vie-scolaire@clg-hugo.fr"
default = true
[policy]
digest = "morning"
[establishments."0250001R"]
digest = "off"
[establishments."0250002S"]
digest_min = 5
)";
  auto loaded = parse_config(text, "treve.toml");
  ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
  const Config& c = **loaded;
  ASSERT_EQ(c.sinks.size(), 3u);
  EXPECT_EQ(c.sinks[0].type, "fcm");
  EXPECT_EQ(c.sinks[0].endpoint, "https://fcm.example");  // the trailing slash is dropped
  EXPECT_THAT(c.sinks[0].credentials, HasSubstr("client_email"));
  EXPECT_EQ(c.sinks[1].ttl, std::chrono::hours(12));
  EXPECT_THAT(c.sinks[1].vapid_key, HasSubstr("PRIVATE KEY"));
  EXPECT_EQ(c.sinks[2].starttls, Sink::StartTls::required);  // the default
  EXPECT_EQ(c.sinks[2].batch_max, 1u);
  // Fan-out: every sink whose filters take a delivery; the default only when none does.
  const auto all = c.sinks_for("ent", policy::Category::grade, policy::Role::parent);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]->name, "app");
  EXPECT_EQ(all[1]->name, "browser");
  EXPECT_TRUE(c.digest_for("0250003T").morning);
  EXPECT_FALSE(c.digest_for("0250001R").morning);
  EXPECT_TRUE(c.digest_for("0250002S").morning);
  EXPECT_EQ(c.digest_for("0250002S").min, 5u);
  EXPECT_EQ(c.digest_for("0250003T").min, 3u);
}

TEST(SinkTypes, MissingAndForeignKeysAreNamedWithTheirLine) {
  const std::string text = std::string(kConnector) + R"(
[[sinks]]
name = "mail"
type = "smtp"
url = "smtp://relay.example"
batch_max = 10
default = true
[[sinks]]
name = "app"
type = "fcm"
)";
  auto errors = errors_of(text, "treve.toml");
  EXPECT_THAT(errors,
              Contains("treve.toml:6: sinks[0]: missing key \"from\": a smtp sink needs it"));
  EXPECT_THAT(errors, Contains("treve.toml:10: sinks[0].batch_max: does not apply to a smtp sink"));
  EXPECT_THAT(errors,
              Contains(HasSubstr("sinks[1]: missing key \"project_id\": a fcm sink needs it")));
  EXPECT_THAT(
      errors,
      Contains(HasSubstr("sinks[1]: missing key \"credentials_file\": a fcm sink needs it")));
}

TEST(SinkTypes, UnusableKeyFilesAreRefusedWithoutShowingThem) {
  Keys k;
  test::TempDir dir("treve-bad-keys");
  const std::string not_json = dir.write("sa.json", "-----BEGIN PRIVATE KEY-----\nsecretstuff\n");
  const std::string no_key =
      dir.write("sa2.json", R"({"client_email":"a@b","token_uri":"https://t"})");
  const std::string rsa_as_vapid = k.rsa;
  auto errors = errors_of(std::string(kConnector) + R"(
[[sinks]]
name = "app"
type = "fcm"
project_id = "demo"
credentials_file = ")" + not_json +
                              R"("
default = true
[[sinks]]
name = "app2"
type = "fcm"
project_id = "demo"
credentials_file = ")" + no_key +
                              R"("
[[sinks]]
name = "browser"
type = "webpush"
vapid_key_file = ")" + rsa_as_vapid +
                              R"("
subject = "dpo@example.fr"
[[sinks]]
name = "browser2"
type = "webpush"
vapid_key_file = "/nonexistent/vapid.pem"
subject = "https://ent.example/contact"
)",
                          "treve.toml");
  EXPECT_THAT(errors,
              Contains("treve.toml:10: sinks[0].credentials_file: " + not_json +
                       ": not a usable Google service-account key: the service account key is "
                       "not a JSON object"));
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[1].credentials_file: " + no_key +
                                         ": not a usable Google service-account key: "
                                         "\"private_key\" is missing")));
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[2].vapid_key_file: " + rsa_as_vapid +
                                         ": not a usable VAPID key")));
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[2].subject: must be a mailto: or https: URL")));
  EXPECT_THAT(errors,
              Contains(HasSubstr(
                  "sinks[3].vapid_key_file: cannot read the secret file /nonexistent/vapid.pem")));
  for (const auto& e : errors)
    EXPECT_THAT(e, Not(HasSubstr("secretstuff")));
}

TEST(SinkTypes, SmtpSettingsAreChecked) {
  test::TempDir dir("treve-smtp-config");
  const std::string password = dir.write("password", "s3cret\n");
  ::chmod(password.c_str(), 0600);
  const std::string base = std::string(kConnector) + R"(
[[sinks]]
name = "mail"
type = "smtp"
default = true
username = "treve"
password_file = ")" + password +
                           R"("
)";
  auto errors = errors_of(base +
                              "url = \"https://relay\"\nfrom = \"not an address\"\n"
                              "starttls = \"sometimes\"\n",
                          "treve.toml");
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[0].url: must be an smtp:// or smtps:// URL")));
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[0].from: \"not an address\" is not an e-mail")));
  EXPECT_THAT(errors,
              Contains(HasSubstr(
                  "sinks[0].starttls: expected \"required\", \"opportunistic\" or \"off\"")));
  auto loaded = parse_config(
      base + "url = \"smtp://relay\"\nfrom = \"a@b.fr\"\nstarttls = \"off\"\n", "treve.toml");
  ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
  EXPECT_EQ((*loaded)->sinks[0].password, "s3cret");
  EXPECT_EQ((*loaded)->sinks[0].starttls, Sink::StartTls::off);
  EXPECT_THAT((*loaded)->warnings, Contains(HasSubstr("go over the network in clear")));
  // An administrator's template with a mistake is refused at check-config, not at 07:00.
  test::TempDir templates("treve-smtp-templates");
  templates.write("notification.txt", "Bonjour,\n{{#items}}{{title}}\n");
  errors = errors_of(base +
                         "url = \"smtp://relay\"\nfrom = \"Collège <a@b.fr>\"\n"
                         "templates = \"" +
                         templates.str() + "\"\n",
                     "treve.toml");
  EXPECT_THAT(errors, Contains(AllOf(HasSubstr("sinks[0].templates: e-mail templates: "),
                                     HasSubstr("notification.txt"))));
  templates.write("notification.txt", "Bonjour,\n{{title}}\n");
  loaded = parse_config(base +
                            "url = \"smtp://relay\"\nfrom = \"Collège <a@b.fr>\"\n"
                            "templates = \"" +
                            templates.str() + "\"\n",
                        "treve.toml");
  ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
  EXPECT_EQ((*loaded)->sinks[0].templates, templates.str());
}

// A push or e-mail sink may ask a directory for the addresses (docs/delivery.md): the lookup
// is signed, so directory_url needs secret_file, which such a sink takes only with it.
TEST(SinkTypes, DirectoryUrlNeedsASecret) {
  test::TempDir dir("treve-directory-config");
  const std::string secret = dir.write("directory", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  ::chmod(secret.c_str(), 0600);
  const std::string base = std::string(kConnector) + R"(
[[sinks]]
name = "mail"
type = "smtp"
default = true
url = "smtp://relay"
from = "a@b.fr"
)";
  auto loaded = parse_config(base + "directory_url = \"https://ent.example/annuaire\"\n" +
                                 "secret_file = \"" + secret + "\"\n",
                             "treve.toml");
  ASSERT_TRUE(loaded) << loaded.error()[0].to_string();
  EXPECT_EQ((*loaded)->sinks[0].directory_url, "https://ent.example/annuaire");
  EXPECT_TRUE((*loaded)->sinks[0].secret.starts_with("whsec_"));

  auto errors =
      errors_of(base + "directory_url = \"https://ent.example/annuaire\"\n", "treve.toml");
  EXPECT_THAT(errors, Contains(AllOf(HasSubstr("sinks[0]: missing key \"secret_file\""),
                                     HasSubstr("directory lookups are always signed"))));
  errors = errors_of(base + "directory_url = \"ldap://ent\"\nsecret_file = \"" + secret + "\"\n",
                     "treve.toml");
  EXPECT_THAT(errors,
              Contains(HasSubstr("sinks[0].directory_url: must be an http:// or https:// URL")));
  // Without a directory, a secret has nothing to sign.
  errors = errors_of(base + "secret_file = \"" + secret + "\"\n", "treve.toml");
  EXPECT_THAT(errors, Contains(HasSubstr("sinks[0].secret_file: does not apply to a smtp sink")));
  // A webhook has its addresses in its receiver: no directory.
  errors = errors_of(std::string(kConnector) + R"(
[[sinks]]
name = "hook"
type = "webhook"
default = true
url = "https://ent.example/hook"
directory_url = "https://ent.example/annuaire"
secret_file = ")" + secret +
                         "\"\n",
                     "treve.toml");
  EXPECT_THAT(errors,
              Contains(HasSubstr("sinks[0].directory_url: does not apply to a webhook sink")));
}

TEST(SinkTypes, DigestValuesAreChecked) {
  auto errors = errors_of("[policy]\ndigest = \"evening\"\ndigest_min = 0\n", "treve.toml");
  EXPECT_THAT(errors, Contains("treve.toml:2: policy.digest: expected \"morning\" or \"off\", got "
                               "\"evening\""));
  EXPECT_THAT(errors, Contains(HasSubstr("policy.digest_min: ")));
}

// A float where an integer is expected, even one beyond any integer's range, is the same error
// as a float in range: not read as an integer (that conversion was undefined behaviour; found
// by fuzzing the admin policy documents).
TEST(SinkTypes, AHugeFloatWhereAnIntegerIsExpectedIsAnError) {
  for (const char* value : {"2.3e95", "-1e300", "5.0"}) {
    auto errors = errors_of(std::string("[policy]\ndigest_min = ") + value + "\n", "treve.toml");
    EXPECT_THAT(errors, Contains("treve.toml:2: policy.digest_min: must be a whole number between "
                                 "1 and 100"))
        << value;
  }
}

}  // namespace
}  // namespace treve::config
