#include "daemon/config/tls_files.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <climits>
#include <ctime>
#include <memory>
#include <vector>

namespace treve::config {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
struct ContextFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using Context = std::unique_ptr<SSL_CTX, ContextFree>;

// OpenSSL's reason for the last failure on this thread, and the queue emptied.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0)
    return "";
  const char* reason = ERR_reason_error_string(code);
  return reason ? std::string(" (") + reason + ")" : "";
}

Bio memory(std::string_view pem) {
  if (pem.size() > INT_MAX)
    return nullptr;
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every PEM certificate in `pem`, in order; an error when one does not parse or none is there.
std::expected<std::vector<Certificate>, std::string> certificates(std::string_view pem) {
  ERR_clear_error();
  Bio bio = memory(pem);
  if (!bio)
    return std::unexpected("cannot read the file");
  std::vector<Certificate> out;
  for (;;) {
    Certificate cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert)
      break;
    out.push_back(std::move(cert));
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a block that does not
  // parse: only the first is expected.
  const unsigned long last = ERR_peek_last_error();
  const bool at_end =
      ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (last != 0 && !at_end) {
    const std::string why = openssl_reason();
    return std::unexpected("certificate number " + std::to_string(out.size() + 1) +
                           " is not a valid PEM certificate" + why);
  }
  ERR_clear_error();
  if (out.empty())
    return std::unexpected("holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
  return out;
}

}  // namespace

std::expected<CertificateSummary, std::string> check_tls_identity(std::string_view chain_pem,
                                                                  std::string_view key_pem) {
  auto chain = certificates(chain_pem);
  if (!chain)
    return std::unexpected(chain.error());
  ERR_clear_error();
  Bio bio = memory(key_pem);
  // No password callback: an encrypted key is refused rather than asked for on a terminal.
  Key key(bio ? PEM_read_bio_PrivateKey(
                    bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
              : nullptr);
  if (!key) {
    const std::string why = openssl_reason();
    return std::unexpected("the key is not an unencrypted PEM private key" + why);
  }
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return std::unexpected(
        "the key is not the key of the first certificate (the listener's own must come first, "
        "then the intermediates)");
  }
  // What the listener will do with them, under the system's OpenSSL policy (Debian's security
  // level 2 refuses, for instance, an RSA key under 2048 bits or a SHA-1 signature).
  ERR_clear_error();
  Context context(SSL_CTX_new(TLS_server_method()));
  if (!context)
    return std::unexpected("OpenSSL cannot make a TLS context" + openssl_reason());
  if (SSL_CTX_use_certificate(context.get(), leaf) != 1) {
    const std::string why = openssl_reason();
    return std::unexpected("OpenSSL's policy refuses the certificate" + why);
  }
  for (std::size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(context.get(), (*chain)[i].get()) != 1) {
      const std::string why = openssl_reason();
      return std::unexpected("OpenSSL's policy refuses certificate number " +
                             std::to_string(i + 1) + " of the chain" + why);
    }
  }
  if (SSL_CTX_use_PrivateKey(context.get(), key.get()) != 1) {
    const std::string why = openssl_reason();
    return std::unexpected("the key is refused by OpenSSL's policy" + why);
  }
  CertificateSummary summary;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
    summary.not_after = static_cast<std::int64_t>(::timegm(&tm));
  return summary;
}

std::expected<std::size_t, std::string> check_certificate_bundle(std::string_view pem) {
  auto all = certificates(pem);
  if (!all)
    return std::unexpected(all.error());
  return all->size();
}

}  // namespace treve::config
