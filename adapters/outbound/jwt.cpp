#include "adapters/outbound/jwt.h"

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <boost/json/serialize.hpp>

#include "adapters/outbound/base64url.h"
#include "adapters/outbound/openssl_handles.h"
#include "adapters/outbound/p256.h"

namespace treve::adapters {
namespace {

using Bio = std::unique_ptr<BIO, ossl::Deleter<BIO_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>>;

// Refuses to ask for a passphrase: an encrypted key cannot be read unattended.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

std::string json_string(std::string_view s) {
  return boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

// OpenSSL's DER ECDSA-Sig-Value (SEQUENCE of INTEGER r, INTEGER s) as JWS's r || s, each
// left-padded to 32 bytes.
std::expected<std::string, std::string> der_to_raw_p256(const unsigned char* der,
                                                        std::size_t size) {
  const unsigned char* p = der;
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(size)));
  if (!sig || p != der + size)
    return std::unexpected(std::string("ES256: OpenSSL gave a malformed signature"));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  unsigned char raw[64];
  if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
    return std::unexpected(std::string("ES256: the signature does not fit 64 bytes"));
  return base64url_encode(raw);
}

}  // namespace

std::expected<JwtSigner, std::string> JwtSigner::from_pem(JwtAlgorithm algorithm,
                                                          std::string_view pem) {
  // OpenSSL 3.0's PEM reader consults the thread's error queue as it goes from block to block:
  // with an error left there by an earlier, unrelated failure, it gave up at the "EC
  // PARAMETERS" block before an "EC PRIVATE KEY" (seen in the tests). Start clean, leave clean.
  ERR_clear_error();
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio)
    return std::unexpected(std::string("out of memory"));
  std::shared_ptr<EVP_PKEY> key(
      PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, no_passphrase, nullptr, nullptr, nullptr),
      EVP_PKEY_free);
  ERR_clear_error();
  if (!key) {
    return std::unexpected(std::string(
        "no private key in the PEM text (PKCS#8 \"PRIVATE KEY\", \"EC PRIVATE KEY\" or \"RSA "
        "PRIVATE KEY\", not encrypted)"));
  }
  if (algorithm == JwtAlgorithm::es256 && !is_p256(key.get()))
    return std::unexpected(std::string("ES256 needs a P-256 (prime256v1) EC key"));
  if (algorithm == JwtAlgorithm::rs256) {
    if (!EVP_PKEY_is_a(key.get(), "RSA"))
      return std::unexpected(std::string("RS256 needs an RSA key"));
    if (EVP_PKEY_get_bits(key.get()) < 2048) {
      return std::unexpected("RS256 needs an RSA key of 2048 bits or more, not " +
                             std::to_string(EVP_PKEY_get_bits(key.get())));
    }
  }
  return JwtSigner(algorithm, std::move(key));
}

std::expected<std::string, std::string> JwtSigner::signature(std::string_view signing_input) const {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key_.get(),
                                    nullptr) != 1) {
    return std::unexpected(std::string("cannot sign with SHA-256"));
  }
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  std::size_t size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &size, data, signing_input.size()) != 1)
    return std::unexpected(std::string("signing failed"));
  std::string sig(size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sig.data());
  if (EVP_DigestSign(ctx.get(), out, &size, data, signing_input.size()) != 1)
    return std::unexpected(std::string("signing failed"));
  if (algorithm_ == JwtAlgorithm::es256)
    return der_to_raw_p256(out, size);
  sig.resize(size);
  return base64url_encode(sig);
}

std::expected<std::string, std::string> JwtSigner::sign(std::string_view claims_json,
                                                        std::string_view key_id) const {
  std::string header = algorithm_ == JwtAlgorithm::es256 ? R"({"typ":"JWT","alg":"ES256")"
                                                         : R"({"typ":"JWT","alg":"RS256")";
  if (!key_id.empty())
    header.append(",\"kid\":").append(json_string(key_id));
  header += '}';
  std::string token = base64url_encode(header);
  token += '.';
  token += base64url_encode(claims_json);
  auto sig = signature(token);
  if (!sig)
    return std::unexpected(sig.error());
  token += '.';
  token += *sig;
  return token;
}

std::string service_account_claims(std::string_view client_email, std::int64_t now,
                                   std::string_view scope, std::string_view audience) {
  std::string claims = "{\"iss\":" + json_string(client_email);
  claims += ",\"scope\":" + json_string(scope);
  claims += ",\"aud\":" + json_string(audience);
  claims += ",\"iat\":" + std::to_string(now);
  claims += ",\"exp\":" + std::to_string(now + 3600);
  claims += '}';
  return claims;
}

}  // namespace treve::adapters
