#include "daemon/store/audit_record.h"

#include "daemon/core/digest.h"
#include "daemon/core/json_text.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdexcept>

namespace treve::store {

using core::append_json_string;
using core::hex;

namespace {

void append_canonical(std::string& out, const AuditRecord& r) {
  out += '[';
  out += std::to_string(r.seq);
  out += ',';
  out += std::to_string(r.at_ms);
  for (const std::string* s : {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment,
                               &r.category, &r.recipient, &r.role, &r.detail}) {
    out += ',';
    append_json_string(out, *s);
  }
  out += ']';
}

}  // namespace

std::string canonical_encoding(const AuditRecord& r) {
  std::string out;
  out.reserve(256 + r.detail.size());
  append_canonical(out, r);
  return out;
}

std::string compute_hash(const AuditRecord& r) {
  // Built in a buffer kept per thread: this runs for every record the writer appends and
  // every record an auditor verifies.
  thread_local std::string canonical;
  canonical.clear();
  append_canonical(canonical, r);
  return core::sha256_hex_of({r.prev_hash, "\n", canonical});
}

void chain(AuditRecord& r, std::string_view prev_hash) {
  r.prev_hash = std::string(prev_hash);
  r.hash = compute_hash(r);
}

struct Pseudonymizer::Keyed {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
};

Pseudonymizer::Pseudonymizer(std::array<unsigned char, 32> key)
    : keyed_(std::make_unique<Keyed>()) {
  keyed_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  keyed_->ctx = keyed_->mac ? EVP_MAC_CTX_new(keyed_->mac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!keyed_->ctx || EVP_MAC_init(keyed_->ctx, key.data(), key.size(), params) != 1) {
    throw std::runtime_error("cannot set up HMAC-SHA-256");
  }
}

Pseudonymizer::~Pseudonymizer() {
  EVP_MAC_CTX_free(keyed_->ctx);
  EVP_MAC_free(keyed_->mac);
}

std::string Pseudonymizer::pseudonym(std::string_view source, std::string_view recipient) const {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_->ctx);
  unsigned char digest[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  const unsigned char newline = '\n';
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(source.data()), source.size());
  EVP_MAC_update(ctx, &newline, 1);
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(recipient.data()), recipient.size());
  EVP_MAC_final(ctx, digest, &len, sizeof digest);
  EVP_MAC_CTX_free(ctx);
  return hex({digest, 16});
}

}  // namespace treve::store
