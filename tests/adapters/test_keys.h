// Keys made in the tests through OpenSSL (no files), their PEM text, and the verification of
// JWS signatures: what a push service or Google's token endpoint checks.
#pragma once

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/openssl_handles.h"

namespace treve::adapters::test {

enum class PemForm { pkcs8, traditional, encrypted };

inline std::string pem_of(const EVP_PKEY* key, PemForm form) {
  std::unique_ptr<BIO, ossl::Deleter<BIO_free>> bio(BIO_new(BIO_s_mem()));
  int ok = 0;
  switch (form) {
    case PemForm::pkcs8:
      ok = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
      break;
    case PemForm::traditional:
      ok = PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                                nullptr);
      break;
    case PemForm::encrypted: {
      char pass[] = "correct horse";
      ok = PEM_write_bio_PrivateKey(bio.get(), key, EVP_aes_256_cbc(),
                                    reinterpret_cast<unsigned char*>(pass), sizeof pass - 1,
                                    nullptr, nullptr);
      break;
    }
  }
  if (ok != 1)
    return {};
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

inline ossl::Pkey generate_rsa(unsigned bits) {
  return ossl::Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
}

inline ossl::Pkey generate_p256() {
  return ossl::Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

// The public half alone, through its SubjectPublicKeyInfo: nothing private can remain.
inline ossl::Pkey public_half(const EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(key, &der);
  if (size <= 0)
    return nullptr;
  const unsigned char* p = der;
  ossl::Pkey pub(d2i_PUBKEY(nullptr, &p, size));
  OPENSSL_free(der);
  return pub;
}

// JWS's raw r || s (64 bytes) as the DER ECDSA-Sig-Value OpenSSL verifies; empty if not 64.
inline std::vector<unsigned char> raw_to_der(const std::vector<unsigned char>& raw) {
  if (raw.size() != 64)
    return {};
  std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  unsigned char* der = nullptr;
  const int size = i2d_ECDSA_SIG(sig.get(), &der);
  if (size <= 0)
    return {};
  std::vector<unsigned char> out(der, der + size);
  OPENSSL_free(der);
  return out;
}

// True when `token` ("h.p.s") carries a valid ES256 or RS256 signature by `key`'s public half.
inline bool verify_jws(std::string_view token, const EVP_PKEY* key, bool es256) {
  const auto last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos)
    return false;
  auto sig = base64url_decode(token.substr(last_dot + 1));
  if (!sig)
    return false;
  std::vector<unsigned char> der = es256 ? raw_to_der(*sig) : *sig;
  if (der.empty())
    return false;
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  const std::string_view input = token.substr(0, last_dot);
  return ctx &&
         EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr,
                                 const_cast<EVP_PKEY*>(key), nullptr) == 1 &&
         EVP_DigestVerify(ctx.get(), der.data(), der.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// The JSON text of a token's part (0: header, 1: claims).
inline std::string jws_part(std::string_view token, int index) {
  for (int i = 0; i < index; ++i)
    token.remove_prefix(token.find('.') + 1);
  auto bytes = base64url_decode(token.substr(0, token.find('.')));
  return bytes ? std::string(bytes->begin(), bytes->end()) : std::string("<not base64url>");
}

}  // namespace treve::adapters::test
