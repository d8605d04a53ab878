// The listeners' TLS settings in the configuration (docs/configuration.md, "TLS"): the files are
// read and checked by OpenSSL when the configuration loads, so that a wrong key or a file that
// is not a certificate is an error with its line, at start, on reload and in check-config.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/config.h"
#include "daemon/config/tls_files.h"
#include "tests/support/config_errors.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"
#include "tests/support/tokens.h"

namespace treve::config {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kConnector = test::kChangeMeConnector;

std::string server_table(const std::string& lines,
                         const std::string& admin_listen = "127.0.0.1:2008") {
  return "[server]\nlisten = \"127.0.0.1:2007\"\nadmin_listen = \"" + admin_listen + "\"\n" +
         lines + kConnector;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string key_line(const char* key, const std::string& value) {
  return std::string(key) + " = \"" + value + "\"\n";
}

class TlsConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = test::make_test_ca(dir_);
    client_ = test::issue_certificate(dir_, "client", "ent-connector", false);
  }
  test::TempDir dir_{"treve-tls-config"};
  test::TestCa ca_;
  test::CertificateFiles client_;
};

TEST_F(TlsConfig, BothListenersReadTheirCertificateKeyAndClientAuthorities) {
  auto config = test::load_ok(
      server_table(key_line("tls_certificate", ca_.server_cert) +
                   key_line("tls_key", ca_.server_key) + key_line("tls_client_ca", ca_.ca_file) +
                   key_line("admin_tls_certificate", ca_.server_cert) +
                   key_line("admin_tls_key", ca_.server_key)),
      dir_.file("treve.toml"));
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->server.tls.enabled());
  EXPECT_THAT(config->server.tls.certificate_pem, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(config->server.tls.key_pem, HasSubstr("PRIVATE KEY-----"));
  EXPECT_THAT(config->server.tls.client_ca_pem, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_GT(config->server.tls.not_after, 0);
  EXPECT_TRUE(config->server.admin_tls.enabled());
  EXPECT_TRUE(config->server.admin_tls.client_ca_pem.empty());
  // The files are part of the configuration's digest: a renewed certificate is an audited change.
  EXPECT_THAT(config->referenced_files, Contains(ca_.server_cert));
  EXPECT_THAT(config->referenced_files, Contains(ca_.ca_file));
}

TEST_F(TlsConfig, WithoutTheKeysThereIsNoTls) {
  auto config = test::load_ok(server_table(""), dir_.file("treve.toml"));
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->server.tls.enabled());
  EXPECT_FALSE(config->server.admin_tls.enabled());
}

TEST_F(TlsConfig, RelativeFilesAreRelativeToTheConfiguration) {
  auto config = test::load_ok(
      server_table(key_line("tls_certificate", "server.pem") + key_line("tls_key", "server.key")),
      dir_.file("treve.toml"));
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->server.tls.enabled());
  EXPECT_EQ(config->server.tls.certificate_file, "server.pem");
}

TEST_F(TlsConfig, HalfASettingIsAnErrorThatSaysWhatIsMissing) {
  const std::string file = dir_.file("treve.toml");
  auto errors =
      test::config_errors(server_table(key_line("tls_certificate", ca_.server_cert)), file);
  EXPECT_THAT(errors,
              Contains(file + ":4: server.tls_certificate: a TLS certificate and its key go "
                              "together: give both or neither"));
  errors = test::config_errors(server_table(key_line("admin_tls_key", ca_.server_key)), file);
  EXPECT_THAT(errors, Contains(HasSubstr(":4: server.admin_tls_key: a TLS certificate and its key "
                                         "go together")));
  errors = test::config_errors(server_table(key_line("tls_client_ca", ca_.ca_file)), file);
  EXPECT_THAT(errors, Contains(HasSubstr(":4: server.tls_client_ca: client certificates are asked "
                                         "for only over TLS")));
}

// A connector bound to its client certificate's name: only with a client CA on the ingest
// listener, and a name a certificate can give.
TEST_F(TlsConfig, AConnectorBoundToACertificateNameNeedsTheClientCa) {
  const std::string file = dir_.file("treve.toml");
  const std::string tls =
      key_line("tls_certificate", ca_.server_cert) + key_line("tls_key", ca_.server_key);
  const std::string bound = "tls_client_name = \"connecteur.ent.example\"\n";
  auto config =
      test::load_ok(server_table(tls + key_line("tls_client_ca", ca_.ca_file)) + bound, file);
  ASSERT_TRUE(config);
  ASSERT_EQ(config->connectors.size(), 1u);
  EXPECT_EQ(config->connectors[0].tls_client_name, "connecteur.ent.example");

  auto errors = test::config_errors(server_table(tls) + bound, file);
  EXPECT_THAT(errors, Contains(file + ":10: connectors[0].tls_client_name: names the client "
                                      "certificate the connector must show: the ingest listener "
                                      "asks for one only with server.tls_client_ca"));
  for (const char* name : {"\"\"", "\"a\\u0007b\"", "17"}) {
    errors = test::config_errors(server_table(tls + key_line("tls_client_ca", ca_.ca_file)) +
                                     "tls_client_name = " + name + "\n",
                                 file);
    EXPECT_THAT(errors, Contains(HasSubstr(":11: connectors[0].tls_client_name: "))) << name;
  }
}

// An administrator bound likewise: only with a client CA on the admin listener.
TEST_F(TlsConfig, AnAdministratorBoundToACertificateNameNeedsTheAdminClientCa) {
  const std::string file = dir_.file("treve.toml");
  const std::string tls = key_line("admin_tls_certificate", ca_.server_cert) +
                          key_line("admin_tls_key", ca_.server_key);
  const std::string admin =
      "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" + std::string(64, 'a') +
      "\"\nrole = \"admin\"\nscope = \"*\"\ntls_client_name = \"durand.lycee.example\"\n";
  auto config =
      test::load_ok(server_table(tls + key_line("admin_tls_client_ca", ca_.ca_file)) + admin, file);
  ASSERT_TRUE(config);
  ASSERT_EQ(config->admins.size(), 1u);
  EXPECT_EQ(config->admins[0].tls_client_name, "durand.lycee.example");

  // The ingest listener's client CA is not the admin listener's.
  auto errors = test::config_errors(
      server_table(tls + key_line("tls_certificate", ca_.server_cert) +
                   key_line("tls_key", ca_.server_key) + key_line("tls_client_ca", ca_.ca_file)) +
          admin,
      file);
  EXPECT_THAT(errors, Contains(HasSubstr(
                          "admins[0].tls_client_name: names the client certificate the "
                          "administrator must show: the admin listener asks for one only with "
                          "server.admin_tls_client_ca")));
  errors = test::config_errors(server_table(tls + key_line("admin_tls_client_ca", ca_.ca_file)) +
                                   "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" +
                                   std::string(64, 'a') +
                                   "\"\nrole = \"admin\"\nscope = \"*\"\ntls_client_name = \"\"\n",
                               file);
  EXPECT_THAT(errors, Contains(HasSubstr("admins[0].tls_client_name: expected the name its client "
                                         "certificate gives")));
}

TEST_F(TlsConfig, AUnixSocketTakesNoTls) {
  const std::string file = dir_.file("treve.toml");
  auto errors =
      test::config_errors(server_table(key_line("admin_tls_certificate", ca_.server_cert) +
                                           key_line("admin_tls_key", ca_.server_key),
                                       "unix:" + dir_.file("admin.sock")),
                          file);
  EXPECT_THAT(errors, Contains(HasSubstr(":4: server.admin_tls_certificate: TLS is for a TCP "
                                         "listener")));
}

TEST_F(TlsConfig, AKeyThatIsNotTheCertificatesIsNamedWithoutBeingShown) {
  const std::string file = dir_.file("treve.toml");
  auto errors = test::config_errors(
      server_table(key_line("tls_certificate", ca_.server_cert) + key_line("tls_key", client_.key)),
      file);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], file + ":5: server.tls_key: " + client_.key +
                           ": the key is not the key of the first certificate (the listener's "
                           "own must come first, then the intermediates)");
  // A chain in the wrong order: the CA first.
  const std::string reversed =
      dir_.write("reversed.pem", read_text(ca_.ca_file) + read_text(ca_.server_cert));
  errors = test::config_errors(
      server_table(key_line("tls_certificate", reversed) + key_line("tls_key", ca_.server_key)),
      file);
  EXPECT_THAT(errors, Contains(HasSubstr("the key is not the key of the first certificate")));
}

TEST_F(TlsConfig, FilesThatAreNotWhatTheySayAreRefused) {
  const std::string file = dir_.file("treve.toml");
  const std::string garbage = dir_.write("garbage.pem", "not a certificate\n");
  const std::string broken =
      dir_.write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const std::string key_text = read_text(ca_.server_key);
  auto errors = test::config_errors(
      server_table(key_line("tls_certificate", garbage) + key_line("tls_key", ca_.server_key)),
      file);
  EXPECT_THAT(errors, Contains(file + ":4: server.tls_certificate: " + garbage +
                               ": holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")"));
  errors = test::config_errors(
      server_table(key_line("tls_certificate", broken) + key_line("tls_key", ca_.server_key)),
      file);
  EXPECT_THAT(errors, Contains(HasSubstr("server.tls_certificate: " + broken +
                                         ": certificate number 1 is not a valid PEM certificate")));
  errors = test::config_errors(
      server_table(key_line("tls_certificate", ca_.server_cert) + key_line("tls_key", garbage)),
      file);
  EXPECT_THAT(errors, Contains(HasSubstr("server.tls_key: " + garbage +
                                         ": the key is not an unencrypted PEM private key")));
  errors = test::config_errors(
      server_table(key_line("tls_certificate", ca_.server_cert) +
                   key_line("tls_key", ca_.server_key) + key_line("tls_client_ca", garbage)),
      file);
  EXPECT_THAT(errors, Contains(HasSubstr("server.tls_client_ca: " + garbage + ": holds no PEM")));
  errors = test::config_errors(server_table(key_line("tls_certificate", "/nonexistent/cert.pem") +
                                            key_line("tls_key", "/nonexistent/key.pem")),
                               file);
  EXPECT_THAT(errors, Contains(HasSubstr("server.tls_certificate: cannot read "
                                         "/nonexistent/cert.pem")));
  EXPECT_THAT(errors, Contains(HasSubstr("server.tls_key: cannot read the secret file "
                                         "/nonexistent/key.pem")));
  // An encrypted key is refused rather than asked for.
  test::openssl(dir_, {"pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret", "-out",
                       "encrypted.key"});
  errors = test::config_errors(server_table(key_line("tls_certificate", ca_.server_cert) +
                                            key_line("tls_key", dir_.file("encrypted.key"))),
                               file);
  EXPECT_THAT(errors, Contains(HasSubstr("the key is not an unencrypted PEM private key")));
  for (const auto& e : errors)
    EXPECT_THAT(e, Not(HasSubstr(key_text.substr(30, 40))));
}

TEST_F(TlsConfig, ACertificateTheSystemsPolicyRefusesIsAnError) {
  // An RSA key of 1024 bits: under Debian's OpenSSL security level 2, no server may use it.
  test::openssl(dir_, {"req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key",
                       "-out", "weak.pem", "-days", "2", "-subj", "/CN=127.0.0.1"});
  const std::string file = dir_.file("treve.toml");
  auto errors =
      test::config_errors(server_table(key_line("tls_certificate", dir_.file("weak.pem")) +
                                       key_line("tls_key", dir_.file("weak.key"))),
                          file);
  EXPECT_THAT(errors, Contains(file + ":4: server.tls_certificate: " + dir_.file("weak.pem") +
                               ": OpenSSL's policy refuses the certificate (ee key too small)"));
}

TEST_F(TlsConfig, ACertificateNearItsEndIsWarnedAbout) {
  // Valid for two days: inside the 30 days' notice.
  auto config = test::load_ok(server_table(key_line("tls_certificate", ca_.server_cert) +
                                           key_line("tls_key", ca_.server_key)),
                              dir_.file("treve.toml"));
  ASSERT_TRUE(config);
  EXPECT_THAT(config->warnings, Contains(HasSubstr("server.tls_certificate: the certificate in " +
                                                   ca_.server_cert + " expires on ")));
  const auto year = test::issue_certificate(dir_, "year", "127.0.0.1", true, 365);
  config = test::load_ok(
      server_table(key_line("tls_certificate", year.certificate) + key_line("tls_key", year.key)),
      dir_.file("treve.toml"));
  ASSERT_TRUE(config);
  EXPECT_THAT(config->warnings, Not(Contains(HasSubstr("tls_certificate"))));
}

TEST(TlsFiles, ACaBundleCountsItsCertificates) {
  test::TempDir dir("treve-tls-bundle");
  const auto ca = test::make_test_ca(dir);
  const std::string two = read_text(ca.ca_file) + "\n" + read_text(ca.server_cert);
  auto count = check_certificate_bundle(two);
  ASSERT_TRUE(count) << count.error();
  EXPECT_EQ(*count, 2u);
  EXPECT_FALSE(check_certificate_bundle(""));
}

}  // namespace
}  // namespace treve::config
