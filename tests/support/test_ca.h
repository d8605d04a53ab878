// A certificate authority of the tests' own, made by the `openssl` command in a TempDir: a CA
// certificate, and a server certificate it signs for 127.0.0.1 and localhost, so that a test
// server speaks real TLS to a client told to trust that CA (a sink's `ca_file`). Also an RSA
// key pair in PEM files (a service account's). Header-only; needs /usr/bin/openssl
// (scripts/install-channel-deps).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace treve::test {

inline constexpr const char* kOpenssl = "/usr/bin/openssl";

// Runs openssl with `args` in `dir`; throws with its output when it fails.
inline void openssl(const TempDir& dir, std::vector<std::string> args) {
  if (!std::filesystem::exists(kOpenssl))
    throw std::runtime_error("no /usr/bin/openssl: run scripts/install-channel-deps");
  Command c = command("/bin/sh", {"-c", "cd \"$0\" && exec \"$@\"", dir.str(), kOpenssl});
  c.args.insert(c.args.end(), args.begin(), args.end());
  const ProcessResult r = run(c, "", std::chrono::minutes(1));
  if (r.status != 0) {
    std::string line = "openssl";
    for (const auto& a : args)
      line += " " + a;
    throw std::runtime_error(line + " failed:\n" + r.err + r.out);
  }
}

struct TestCa {
  std::string ca_file;      // the CA certificate (PEM): what a client trusts
  std::string server_cert;  // the server's certificate (PEM), for 127.0.0.1 and localhost
  std::string server_key;   // its private key (PEM, P-256)
};

// A CA and a server certificate valid for two days, in `dir` (ca.pem, server.pem, server.key).
inline TestCa make_test_ca(const TempDir& dir) {
  openssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
                "/CN=treve test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign"});
  openssl(dir, {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"});
  dir.write("server.ext",
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(dir, {"x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"});
  return TestCa{dir.file("ca.pem"), dir.file("server.pem"), dir.file("server.key")};
}

struct CertificateFiles {
  std::string certificate;  // PEM
  std::string key;          // its private key (PEM, P-256)
};

// A certificate signed by the CA that make_test_ca made in `dir` (ca.pem, ca.key): <name>.pem
// and <name>.key, with `common_name`, for a TLS client (clientAuth) or a server (serverAuth,
// for 127.0.0.1 and localhost), valid for `days` days from now.
// A client certificate may also give `dns_name` (a DNS subject alternative name).
inline CertificateFiles issue_certificate(const TempDir& dir, const std::string& name,
                                          const std::string& common_name, bool server, int days = 2,
                                          const std::string& dns_name = "") {
  openssl(dir, {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + common_name});
  dir.write(name + ".ext",
            std::string("basicConstraints=CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\n") +
                (server ? "extendedKeyUsage=serverAuth\n"
                          "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        : "extendedKeyUsage=clientAuth\n" +
                              (dns_name.empty() ? std::string()
                                                : "subjectAltName=DNS:" + dns_name + "\n")));
  openssl(dir, {"x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", std::to_string(days), "-extfile",
                name + ".ext"});
  return CertificateFiles{dir.file(name + ".pem"), dir.file(name + ".key")};
}

struct RsaKeyFiles {
  std::string private_key;  // PKCS#8 PEM
  std::string public_key;   // SubjectPublicKeyInfo PEM
};

// A 2048-bit RSA key pair in `dir` (<name>.key, <name>.pub).
inline RsaKeyFiles make_rsa_key(const TempDir& dir, const std::string& name) {
  openssl(dir, {"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                name + ".key"});
  openssl(dir, {"pkey", "-in", name + ".key", "-pubout", "-out", name + ".pub"});
  return RsaKeyFiles{dir.file(name + ".key"), dir.file(name + ".pub")};
}

}  // namespace treve::test
