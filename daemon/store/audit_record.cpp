#include "daemon/store/audit_record.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace treve::store {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* data, std::size_t n) {
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xF];
  }
  return out;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

std::string canonical_encoding(const AuditRecord& r) {
  std::string out;
  out.reserve(256 + r.detail.size());
  out += '[';
  out += std::to_string(r.seq);
  out += ',';
  out += std::to_string(r.at_ms);
  for (const std::string* s : {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment,
                               &r.category, &r.recipient, &r.role, &r.detail}) {
    out += ',';
    json_string(out, *s);
  }
  out += ']';
  return out;
}

std::string compute_hash(const AuditRecord& r) {
  std::string input = r.prev_hash;
  input += '\n';
  input += canonical_encoding(r);
  return sha256_hex(input);
}

void chain(AuditRecord& r, std::string_view prev_hash) {
  r.prev_hash = std::string(prev_hash);
  r.hash = compute_hash(r);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return hex(digest, sizeof digest);
}

std::string Pseudonymizer::pseudonym(std::string_view source, std::string_view recipient) const {
  std::string input(source);
  input += '\n';
  input += recipient;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &len);
  return hex(digest, 16);
}

}  // namespace treve::store
