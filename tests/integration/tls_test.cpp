// TLS on both listeners (docs/security.md, "TLS"), against the real daemon and libcurl's
// OpenSSL client: events posted over TLS are accepted, plain HTTP on a TLS port gets nothing,
// client certificates are required when a client CA is set (and only that CA's are accepted),
// and a reload puts a renewed certificate in force, or keeps the old one when the new files do
// not fit together.
#include <curl/curl.h>
#include <signal.h>

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/support/test_ca.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct TlsAnswer {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string error;
  std::string server_subject;  // the subject of the certificate the server showed
};

std::ostream& operator<<(std::ostream& os, const TlsAnswer& a) {
  return os << "curl " << a.code << " (" << a.error << ") HTTP " << a.status << " " << a.body;
}

struct ClientCertificate {
  std::string certificate;
  std::string key;
};

// One request over a fresh TLS connection, the server's certificate checked against `ca_file`.
TlsAnswer tls_request(std::uint16_t port, const std::string& method, const std::string& target,
                      const std::string& body, const std::string& token, const std::string& ca_file,
                      const ClientCertificate& client = {}) {
  TlsAnswer out;
  CURL* curl = curl_easy_init();
  if (!curl) {
    out.code = CURLE_FAILED_INIT;
    return out;
  }
  char error[CURL_ERROR_SIZE] = {};
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + target;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  const std::string authorization = "Authorization: Bearer " + token;
  if (!token.empty())
    headers = curl_slist_append(headers, authorization.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15'000L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!client.certificate.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, client.certificate.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, client.key.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char* data, std::size_t size, std::size_t n, void* to) -> std::size_t {
        static_cast<std::string*>(to)->append(data, size * n);
        return size * n;
      });
  out.code = curl_easy_perform(curl);
  out.error = error;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) == CURLE_OK && info &&
      info->num_of_certs > 0) {
    for (curl_slist* field = info->certinfo[0]; field; field = field->next) {
      const std::string_view text(field->data);
      if (text.starts_with("Subject:"))
        out.server_subject = std::string(text.substr(8));
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return out;
}

TlsAnswer post_event(std::uint16_t port, const std::string& id, const std::string& ca_file,
                     const ClientCertificate& client = {}) {
  return tls_request(port, "POST", "/v1/events", simple_event(id), kEntToken, ca_file, client);
}

std::string tls_lines(const test::TempDir& dir, const std::string& prefix, bool client_ca) {
  std::string lines = prefix + "tls_certificate = \"" + dir.file("listener.pem") + "\"\n" + prefix +
                      "tls_key = \"" + dir.file("listener.key") + "\"\n";
  if (client_ca)
    lines += prefix + "tls_client_ca = \"" + dir.file("ca.pem") + "\"\n";
  return lines;
}

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = test::make_test_ca(dir_);
    const auto listener = test::issue_certificate(dir_, "listener", "treve-first", true);
    client_ = {dir_.file("client.pem"), dir_.file("client.key")};
    test::issue_certificate(dir_, "client", "ent-connector", false);
    // A client certificate from another authority.
    test::make_test_ca(other_);
    test::issue_certificate(other_, "stranger", "ent-connector", false);
    stranger_ = {other_.file("stranger.pem"), other_.file("stranger.key")};
    (void)listener;
  }

  test::TempDir dir_{"treve-tls"};
  test::TempDir other_{"treve-tls-other"};
  test::TestCa ca_;
  ClientCertificate client_;
  ClientCertificate stranger_;
};

TEST_F(Tls, EventsArePostedOverTlsAndPlainHttpGetsNoAnswer) {
  DaemonOptions o;
  o.server_config = tls_lines(dir_, "", false);
  Daemon daemon(o);
  daemon.start();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=serve.tls listener=ingest certificate=\"" +
                                             dir_.file("listener.pem") + "\""));
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("client_certificates=none renewed=false"));

  auto answer = post_event(daemon.port(), "over-tls", ca_.ca_file);
  ASSERT_EQ(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 202) << answer;
  EXPECT_THAT(answer.server_subject, HasSubstr("treve-first"));
  answer = tls_request(daemon.port(), "GET", "/v1/events/over-tls", "", kEntToken, ca_.ca_file);
  EXPECT_EQ(answer.status, 200) << answer;

  // A client that does not trust the CA refuses the server; a plain one gets no HTTP answer.
  answer = post_event(daemon.port(), "untrusted", other_.file("ca.pem"));
  EXPECT_EQ(answer.code, CURLE_PEER_FAILED_VERIFICATION) << answer;
  HttpClient plain(daemon.port(), 5s);
  EXPECT_ANY_THROW(plain.post_event(simple_event("in-clear")));

  Db db(daemon.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1);
}

TEST_F(Tls, AClientCaRequiresACertificateItSigned) {
  DaemonOptions o;
  o.server_config = tls_lines(dir_, "", true);
  Daemon daemon(o);
  daemon.start();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("client_certificates=required"));

  // The server refuses them in the handshake, with a TLS alert the client reports.
  auto answer = post_event(daemon.port(), "no-certificate", ca_.ca_file);
  EXPECT_NE(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 0) << answer;
  EXPECT_THAT(answer.error, HasSubstr("alert certificate required")) << answer;
  answer = post_event(daemon.port(), "stranger", ca_.ca_file, stranger_);
  EXPECT_NE(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 0) << answer;
  EXPECT_THAT(answer.error, HasSubstr("alert unknown ca")) << answer;
  // Once a minute per listener, with the last reason.
  EXPECT_TRUE(daemon.wait_for_log("event=http.tls_handshake_failed listener=ingest", 5s))
      << daemon.stderr_log();
  answer = post_event(daemon.port(), "with-certificate", ca_.ca_file, client_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 202) << answer;
  // The certificate says who may connect; the token still says which connector it is.
  answer = tls_request(daemon.port(), "POST", "/v1/events", simple_event("no-token"), "",
                       ca_.ca_file, client_);
  EXPECT_EQ(answer.status, 401) << answer;

  Db db(daemon.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE event_id = 'with-certificate'"), 1);
}

// A connector bound to a client certificate's name (`tls_client_name`): its token is refused
// (403 certificate-refused, nothing kept) over a connection whose certificate, however valid,
// does not give that name; accepted with one that gives it as a DNS name (compared without
// case). A connector left unbound takes any certificate the CA signed.
TEST_F(Tls, AConnectorBoundToACertificateNameIsRefusedWithAnotherCertificate) {
  test::issue_certificate(dir_, "bound", "poste-42", false, 2, "connecteur.ent.example");
  const ClientCertificate bound{dir_.file("bound.pem"), dir_.file("bound.key")};
  DaemonOptions o;
  o.server_config = tls_lines(dir_, "", true);
  // Token "ce-token".
  o.extra_config =
      "\n[[connectors]]\nname = \"vie-scolaire\"\n"
      "token_sha256 = \"e2a6e7b815abe4a856a09982ae95d53623003ba1035d9d4e944e4c174ec34203\"\n"
      "tls_client_name = \"Connecteur.ENT.example\"\n";
  Daemon daemon(o);
  daemon.start();

  auto answer = tls_request(daemon.port(), "POST", "/v1/events", simple_event("wrong-name"),
                            "ce-token", ca_.ca_file, client_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 403) << answer;
  EXPECT_THAT(answer.body, HasSubstr("certificate-refused"));
  EXPECT_THAT(answer.body, HasSubstr("connector \\\"vie-scolaire\\\" sends only over TLS with a "
                                     "client certificate naming \\\"Connecteur.ENT.example\\\""));
  EXPECT_TRUE(daemon.wait_for_log("event=ingest.certificate_refused client=\"127.0.0.1:", 5s))
      << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("connector=vie-scolaire method=\"POST\" "
                                             "path=\"/v1/events\" certificate=another"));
  // Reads too.
  answer = tls_request(daemon.port(), "GET", "/v1/events/wrong-name", "", "ce-token", ca_.ca_file,
                       client_);
  EXPECT_EQ(answer.status, 403) << answer;

  answer = tls_request(daemon.port(), "POST", "/v1/events", simple_event("right-name"), "ce-token",
                       ca_.ca_file, bound);
  ASSERT_EQ(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 202) << answer;
  // The unbound connector, with the other certificate.
  answer = post_event(daemon.port(), "unbound", ca_.ca_file, bound);
  EXPECT_EQ(answer.status, 202) << answer;

  Db db(daemon.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 2);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE source = 'vie-scolaire' AND "
                      "event_id = 'right-name'"),
            1);
}

TEST_F(Tls, TheAdminListenerTakesItsOwnCertificateAndClientCa) {
  // The admin listener's file holds its certificate and the CA's after it.
  test::issue_certificate(dir_, "admin", "treve-admin", true);
  dir_.write("admin-chain.pem", read_file(dir_.file("admin.pem")) + read_file(ca_.ca_file));
  DaemonOptions o = with_rectorat_admin();
  o.server_config = "admin_tls_certificate = \"" + dir_.file("admin-chain.pem") +
                    "\"\nadmin_tls_key = \"" + dir_.file("admin.key") +
                    "\"\nadmin_tls_client_ca = \"" + ca_.ca_file + "\"\n";
  Daemon daemon(o);
  daemon.start();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=serve.tls listener=admin"));
  // The ingest listener stays plain.
  HttpClient ingest(daemon.port());
  EXPECT_EQ(ingest.post_event(simple_event("plain-ingest")).status, 202);

  auto answer = tls_request(daemon.admin_port(), "GET", "/v1/admin/queue?establishment=" + kUai, "",
                            test::kRectoratToken, ca_.ca_file);
  EXPECT_NE(answer.status, 200) << answer;
  answer = tls_request(daemon.admin_port(), "GET", "/v1/admin/queue?establishment=" + kUai, "",
                       test::kRectoratToken, ca_.ca_file, client_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 200) << answer;

  // `treve admin` speaks TLS when the configuration says so, trusting the configured
  // certificate as it is, and shows the client certificate it is given.
  const std::string token = dir_.write("rectorat.token", test::kRectoratToken + "\n");
  // The daemon's configuration, with the admin port it took for its port 0.
  std::string config = read_file(daemon.config_path());
  const std::string any_port = "admin_listen = \"127.0.0.1:0\"";
  ASSERT_NE(config.find(any_port), std::string::npos) << config;
  config.replace(config.find(any_port), any_port.size(),
                 "admin_listen = \"127.0.0.1:" + std::to_string(daemon.admin_port()) + "\"");
  const std::string cli_config = dir_.write("cli.toml", config);
  auto cli = run_treve({"admin", "--config", cli_config, "--token-file", token,
                        "--client-certificate", client_.certificate, "--client-key", client_.key,
                        "queue", "--establishment", kUai});
  EXPECT_EQ(cli.status, 0) << cli.err << cli.out;
  cli = run_treve(
      {"admin", "--config", cli_config, "--token-file", token, "queue", "--establishment", kUai});
  EXPECT_EQ(cli.status, 1) << cli.out;
  EXPECT_THAT(cli.err, HasSubstr("cannot reach the admin API"));
  // Only the configured certificate is trusted, not every one its CA signed: a configuration
  // naming another certificate of the same CA (with that CA after it) does not reach this one.
  dir_.write("listener-chain.pem", read_file(dir_.file("listener.pem")) + read_file(ca_.ca_file));
  std::string other_config = config;
  for (const auto& [from, to] :
       {std::pair{dir_.file("admin-chain.pem"), dir_.file("listener-chain.pem")},
        std::pair{dir_.file("admin.key"), dir_.file("listener.key")}})
    other_config.replace(other_config.find(from), from.size(), to);
  cli = run_treve({"admin", "--config", dir_.write("other.toml", other_config), "--token-file",
                   token, "--client-certificate", client_.certificate, "--client-key", client_.key,
                   "queue", "--establishment", kUai});
  EXPECT_EQ(cli.status, 1) << cli.out;
  EXPECT_THAT(cli.err, HasSubstr("certificate verify failed"));
  // A client certificate for a listener reached in clear is a mistake said as such.
  cli = run_treve({"admin", "--admin", "127.0.0.1:" + std::to_string(daemon.admin_port()),
                   "--token-file", token, "--client-certificate", client_.certificate, "queue",
                   "--establishment", kUai});
  EXPECT_EQ(cli.status, 1) << cli.out;
  EXPECT_THAT(cli.err, HasSubstr("--client-certificate: the admin listener at"));
  // With the address given, --ca-file turns TLS on and checks the certificate's name.
  const std::string address = "127.0.0.1:" + std::to_string(daemon.admin_port());
  cli = run_treve({"admin", "--admin", address, "--ca-file", ca_.ca_file, "--token-file", token,
                   "--client-certificate", client_.certificate, "--client-key", client_.key,
                   "queue", "--establishment", kUai});
  EXPECT_EQ(cli.status, 0) << cli.err << cli.out;
  cli = run_treve({"admin", "--admin", address, "--ca-file", other_.file("ca.pem"), "--token-file",
                   token, "--client-certificate", client_.certificate, "--client-key", client_.key,
                   "queue", "--establishment", kUai});
  EXPECT_EQ(cli.status, 1) << cli.out;
  EXPECT_THAT(cli.err, HasSubstr("certificate verify failed"));
}

// An administrator bound to a client certificate's name (`[[admins]] tls_client_name`): its
// token is refused over a connection whose certificate, signed by the admin CA, gives another
// name (403 certificate-refused), on the API and on /metrics, and the refusal is audited
// (access_refused) before the answer; another administrator, unbound, is served with that
// certificate. The bound one is served with its own.
TEST_F(Tls, AnAdministratorBoundToACertificateNameIsRefusedWithAnotherCertificate) {
  test::issue_certificate(dir_, "admin", "treve-admin", true);
  dir_.write("admin-chain.pem", read_file(dir_.file("admin.pem")) + read_file(ca_.ca_file));
  test::issue_certificate(dir_, "durand", "mme-durand", false, 3, "Durand.Lycee.example");
  const ClientCertificate durand{dir_.file("durand.pem"), dir_.file("durand.key")};
  DaemonOptions o = with_rectorat_admin();
  o.server_config = "admin_tls_certificate = \"" + dir_.file("admin-chain.pem") +
                    "\"\nadmin_tls_key = \"" + dir_.file("admin.key") +
                    "\"\nadmin_tls_client_ca = \"" + ca_.ca_file + "\"\n";
  o.extra_config += "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" +
                    sha256_hex(test::kDurandToken) +
                    "\"\nrole = \"admin\"\nscope = \"*\"\n"
                    "tls_client_name = \"durand.lycee.example\"\n";
  Daemon daemon(o);
  daemon.start();
  const std::string queue = "/v1/admin/queue?establishment=" + kUai;

  auto answer =
      tls_request(daemon.admin_port(), "GET", queue, "", test::kDurandToken, ca_.ca_file, client_);
  ASSERT_EQ(answer.code, CURLE_OK) << answer;
  EXPECT_EQ(answer.status, 403) << answer;
  EXPECT_THAT(answer.body, HasSubstr("certificate-refused"));
  EXPECT_THAT(answer.body, HasSubstr("\\\"Mme Durand\\\" signs in only over TLS with a client "
                                     "certificate naming \\\"durand.lycee.example\\\"; this "
                                     "connection's names another"));
  EXPECT_TRUE(daemon.wait_for_log("event=admin.certificate_refused client=\"127.0.0.1:", 5s))
      << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(),
              HasSubstr("admin=\"Mme Durand\" method=\"GET\" path=\"/v1/admin/queue\" "
                        "certificate=another"));
  answer = tls_request(daemon.admin_port(), "GET", "/metrics", "", test::kDurandToken, ca_.ca_file,
                       client_);
  EXPECT_EQ(answer.status, 403) << answer;

  // The unbound administrator with that certificate; the bound one with its own (its DNS name,
  // in another case).
  answer = tls_request(daemon.admin_port(), "GET", queue, "", test::kRectoratToken, ca_.ca_file,
                       client_);
  EXPECT_EQ(answer.status, 200) << answer;
  answer =
      tls_request(daemon.admin_port(), "GET", queue, "", test::kDurandToken, ca_.ca_file, durand);
  EXPECT_EQ(answer.status, 200) << answer;

  Db db(daemon.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), 2);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'access_refused' AND detail "
                      "LIKE '%certificate naming \\\"durand.lycee.example\\\"; this "
                      "connection''s names another%'"),
            2);
  EXPECT_EQ(run_treve({"audit", "verify", "--state-dir", daemon.state_dir()}).status, 0);
}

TEST_F(Tls, AReloadPutsARenewedCertificateInForceAndAuditsIt) {
  DaemonOptions o;
  o.server_config = tls_lines(dir_, "", false);
  Daemon daemon(o);
  daemon.start();
  auto answer = post_event(daemon.port(), "before", ca_.ca_file);
  ASSERT_EQ(answer.status, 202) << answer;
  EXPECT_THAT(answer.server_subject, HasSubstr("treve-first"));

  // The renewed certificate and key, written over the same files.
  test::issue_certificate(dir_, "listener", "treve-renewed", true);
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("renewed=true"));
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=config.changed"));

  answer = post_event(daemon.port(), "after", ca_.ca_file);
  ASSERT_EQ(answer.status, 202) << answer;
  EXPECT_THAT(answer.server_subject, HasSubstr("treve-renewed"));
  EXPECT_EQ(run_treve({"audit", "verify", "--state-dir", daemon.state_dir()}).status, 0);
}

TEST_F(Tls, AReloadWhoseKeyDoesNotFitIsRejectedAndTheOldCertificateServes) {
  DaemonOptions o;
  o.server_config = tls_lines(dir_, "", false);
  Daemon daemon(o);
  daemon.start();
  // A new certificate whose key is not written (the old key stays): they do not fit.
  test::issue_certificate(other_, "listener", "treve-half-renewed", true);
  std::filesystem::copy_file(other_.file("listener.pem"), dir_.file("listener.pem"),
                             std::filesystem::copy_options::overwrite_existing);
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reload_rejected", 10s)) << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("the key is not the key of the first certificate"));
  EXPECT_THAT(daemon.stderr_log(), Not(HasSubstr("renewed=true")));

  const auto answer = post_event(daemon.port(), "still-served", ca_.ca_file);
  ASSERT_EQ(answer.status, 202) << answer;
  EXPECT_THAT(answer.server_subject, HasSubstr("treve-first"));
}

TEST_F(Tls, TurningTlsOnWaitsForARestart) {
  Daemon daemon;
  daemon.start();
  daemon.rewrite_config([&](DaemonOptions& o) { o.server_config = tls_lines(dir_, "", false); });
  ::kill(daemon.pid(), SIGHUP);
  ASSERT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(),
              HasSubstr("event=config.restart_needed key=server.tls_certificate"));
  HttpClient plain(daemon.port());
  EXPECT_EQ(plain.post_event(simple_event("still-plain")).status, 202);
  daemon.restart();
  const auto answer = post_event(daemon.port(), "now-tls", ca_.ca_file);
  EXPECT_EQ(answer.status, 202) << answer;
}

}  // namespace
}  // namespace treve::itest
