// A certificate authority of the tests' own, made with the `openssl` command (installed by
// scripts/install-channel-deps), and a server certificate it signed for 127.0.0.1: what a
// stand-in receiver over TLS (a push service, a relay) serves, and what the client under test
// is told to trust (a sink's `ca_file`) instead of the system's authorities. P-256 keys, valid
// for two days from now. Header-only.
#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace treve::test {

inline const std::string kOpenssl = "/usr/bin/openssl";

// PEM files, in the directory given to make_test_ca.
struct TestCa {
  std::string ca_cert;      // ca.pem: the authority's certificate, what the client trusts
  std::string server_key;   // server-key.pem: the server's private key (PKCS#8)
  std::string server_cert;  // server.pem: CN and subjectAltName IP:127.0.0.1, DNS:localhost
};

// Makes the authority and the server's key and certificate in `dir` (which must exist). The
// error says which command failed and what it printed.
inline std::expected<TestCa, std::string> make_test_ca(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(kOpenssl))
    return std::unexpected(kOpenssl + " is missing: run scripts/install-channel-deps");
  const auto at = [&](const char* name) { return (dir / name).string(); };
  {
    std::ofstream config(at("ca.cnf"));
    config << "[req]\ndistinguished_name = dn\nprompt = no\n"
              "[dn]\nCN = treve test CA\n"
              "[ca_ext]\nbasicConstraints = critical, CA:TRUE\n"
              "keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
              "[server_ext]\nbasicConstraints = critical, CA:FALSE\n"
              "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
              "subjectAltName = IP:127.0.0.1, DNS:localhost\nauthorityKeyIdentifier = keyid\n";
  }
  const std::vector<std::string> p256 = {"-newkey", "ec", "-pkeyopt",
                                         "ec_paramgen_curve:prime256v1", "-nodes"};
  const auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<std::vector<std::string>> steps = {
      with({"req", "-x509", "-config", at("ca.cnf"), "-extensions", "ca_ext", "-days", "2",
            "-keyout", at("ca-key.pem"), "-out", at("ca.pem")},
           p256),
      with({"req", "-new", "-config", at("ca.cnf"), "-subj", "/CN=127.0.0.1", "-keyout",
            at("server-key.pem"), "-out", at("server.csr")},
           p256),
      {"x509", "-req", "-in", at("server.csr"), "-CA", at("ca.pem"), "-CAkey", at("ca-key.pem"),
       "-set_serial", "2", "-days", "2", "-extfile", at("ca.cnf"), "-extensions", "server_ext",
       "-out", at("server.pem")},
  };
  for (const auto& args : steps) {
    const ProcessResult r = run(command(kOpenssl, args), "", std::chrono::seconds(60));
    if (r.status != 0)
      return std::unexpected("openssl " + args[0] + " failed: " + r.err + r.out);
  }
  return TestCa{at("ca.pem"), at("server-key.pem"), at("server.pem")};
}

}  // namespace treve::test
