// The `[store]` table (docs/configuration.md): the SQLite default, the PostgreSQL backend's
// keys, and the errors a mistake in them gets, each naming the key and its line.
#include <sys/stat.h>

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/config.h"
#include "tests/support/config_errors.h"
#include "tests/support/temp_dir.h"

namespace treve::config {
namespace {

using test::config_errors;
using test::load_ok;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(StoreConfig, WithoutTheTableTheStoreIsSqliteInTheStateDirectory) {
  auto c = load_ok("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->store.backend, StoreConfig::Backend::sqlite);
  EXPECT_EQ(to_string(c->store.backend), "sqlite");
  EXPECT_TRUE(c->store.url.empty());
  c = load_ok("[store]\nbackend = \"sqlite\"\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->store.backend, StoreConfig::Backend::sqlite);
}

TEST(StoreConfig, PostgresqlTakesItsKeysAndThePasswordFromItsFile) {
  test::TempDir dir("treve-storecfg");
  const std::string password = dir.file("db.password");
  std::ofstream(password) << "s3cret pass\r\nsecond line ignored\n";
  ::chmod(password.c_str(), 0600);
  const std::string path = dir.file("treve.toml");
  std::ofstream(path) << "[store]\nbackend = \"postgresql\"\n"
                         "url = \"postgresql://treve@db1.example/treve?sslmode=verify-full\"\n"
                         "password_file = \"db.password\"\npool_size = 8\n"
                         "statement_timeout = \"5s\"\nlease = \"10s\"\n";
  auto loaded = load_config(path);
  ASSERT_TRUE(loaded) << (loaded ? "" : loaded.error().front().to_string());
  const StoreConfig& s = (*loaded)->store;
  EXPECT_EQ(s.backend, StoreConfig::Backend::postgresql);
  EXPECT_EQ(to_string(s.backend), "postgresql");
  EXPECT_EQ(s.url, "postgresql://treve@db1.example/treve?sslmode=verify-full");
  EXPECT_EQ(s.password, "s3cret pass");
  EXPECT_EQ(s.pool_size, 8u);
  EXPECT_EQ(s.statement_timeout, std::chrono::seconds{5});
  EXPECT_EQ(s.lease, std::chrono::seconds{10});
  // The password file is part of the configuration's audited digest, never its content.
  EXPECT_THAT((*loaded)->referenced_files, ::testing::Contains(password));
}

TEST(StoreConfig, TheDefaultsOfThePostgresqlKeys) {
  auto c =
      load_ok("[store]\nbackend = \"postgresql\"\nurl = \"host=/run/postgresql dbname=treve\"\n");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->store.password.empty());
  EXPECT_EQ(c->store.pool_size, 4u);
  EXPECT_EQ(c->store.statement_timeout, std::chrono::seconds{30});
  EXPECT_EQ(c->store.lease, std::chrono::seconds{15});
}

TEST(StoreConfig, APasswordInTheUrlIsRefusedInEitherForm) {
  for (const char* url :
       {"postgresql://treve:hunter2@db1/treve", "postgres://u:p@h/d",
        "postgresql://treve@db1/treve?password=hunter2", "host=db1 password=hunter2 dbname=treve",
        "password = x host=db1",
        // As libpq reads them: a percent-encoded key, a tab before "=", a
        // quoted value, the client key's password.
        "postgresql://treve@db1/treve?%70assword=hunter2", "host=db1\\tpassword\\t= x",
        "host=db1 password='hunter 2'", "postgresql://db1/treve?sslpassword=x",
        // Strings libpq cannot read, that still hold one: refused, never quoted back.
        "postgresql://treve:hunter%zz@db1/treve", "host=db1 PASSWORD=correct horse",
        "host=db1 password=correct horse"}) {
    EXPECT_THAT(
        config_errors(std::string("[store]\nbackend = \"postgresql\"\nurl = \"") + url + "\"\n"),
        ElementsAre(AllOf(StartsWith("test.toml:3: store.url: must not hold a password"),
                          HasSubstr("password_file"))))
        << url;
  }
  // A user name, or a word that only contains "password", is not one.
  EXPECT_TRUE(load_ok("[store]\nbackend = \"postgresql\"\nurl = \"postgresql://treve@db1/t\"\n"));
  EXPECT_TRUE(load_ok("[store]\nbackend = \"postgresql\"\nurl = \"host=db1 dbname=nopassword\"\n"));
}

TEST(StoreConfig, AConnectionStringLibpqCannotReadIsNamedWithLibpqsReason) {
  for (const char* url : {"host=db1 dbname", "postgresql://db1/treve?nokey=1", "host='db1",
                          "postgresql://[::1/treve"}) {
    EXPECT_THAT(
        config_errors(std::string("[store]\nbackend = \"postgresql\"\nurl = \"") + url + "\"\n"),
        ElementsAre(StartsWith("test.toml:3: store.url: not a connection string libpq can read: ")))
        << url;
  }
  // libpq's reason keeps an option's name, and never the text it could not read.
  EXPECT_THAT(config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1 dbname\"\n"),
              ElementsAre(HasSubstr("missing \"=\" after \"dbname\"")));
  EXPECT_THAT(config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1 dbname=a "
                            "b\"\n"),
              ElementsAre(EndsWith("missing \"=\" after \"…\" in connection info string")));
  EXPECT_THAT(config_errors("[store]\nbackend = \"postgresql\"\nurl = "
                            "\"postgresql://db1/tr%zzeve\"\n"),
              ElementsAre(EndsWith("invalid percent-encoded token: \"…\"")));
}

TEST(StoreConfig, MistakesAreNamedWithTheirKeyAndLine) {
  EXPECT_THAT(config_errors("[store]\nbackend = \"mysql\"\n"),
              ElementsAre("test.toml:2: store.backend: unknown store backend \"mysql\"; expected "
                          "sqlite or postgresql"));
  EXPECT_THAT(config_errors("[store]\nbackend = \"postgresql\"\n"),
              ElementsAre(StartsWith("test.toml:1: store: missing key \"url\"")));
  EXPECT_THAT(config_errors("[store]\nurl = \"host=db1\"\n"),
              ElementsAre("test.toml:2: store.url: does not apply to the sqlite backend"));
  EXPECT_THAT(
      config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1\"\npool_size = 1\n"),
      ElementsAre(StartsWith("test.toml:4: store.pool_size: must be a whole number "
                             "between 2 and 64")));
  EXPECT_THAT(
      config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1\"\nlease = \"1s\"\n"),
      ElementsAre(StartsWith("test.toml:4: store.lease: expected a duration of at least "
                             "2000ms")));
  EXPECT_THAT(config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1\"\n"
                            "statement_timeout = \"soon\"\n"),
              ElementsAre(StartsWith("test.toml:4: store.statement_timeout: expected a duration")));
  EXPECT_THAT(
      config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1\"\nhost = \"x\"\n"),
      ElementsAre(StartsWith("test.toml:4: store.host: unknown key")));
  EXPECT_THAT(config_errors("[store]\nbackend = \"postgresql\"\nurl = \"host=db1\"\n"
                            "password_file = \"/nonexistent/db.password\"\n"),
              ElementsAre(StartsWith("test.toml:4: store.password_file: cannot read the secret "
                                     "file /nonexistent/db.password")));
}

}  // namespace
}  // namespace treve::config
