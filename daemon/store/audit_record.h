// One record of the audit trail, its canonical encoding and its place in the hash chain.
//
// hash = hex(SHA-256(prev_hash + "\n" + canonical)), where prev_hash is the previous record's
// hash (64 zeros before the first record) and canonical is the compact JSON array
//   [seq, at_ms, at_local, kind, source, event_id, establishment, category, recipient, role,
//    detail]
// with integers as JSON numbers, everything else as JSON strings (RFC 8259 escaping, UTF-8,
// no spaces), `detail` being itself a JSON text carried as a string. docs/audit.md spells it
// out for auditors who re-implement the check.
//
// Recipients appear only as keyed pseudonyms (see Pseudonymizer); titles and payloads never.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace treve::store {

struct AuditRecord {
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;  // UTC, milliseconds since the epoch
  std::string at_local;    // RFC 3339 in the establishment's time zone
  std::string kind;        // received, held, released, bypassed, retracted, ...
  std::string source;
  std::string event_id;
  std::string establishment;
  std::string category;
  std::string recipient;  // pseudonym, or empty for records about the whole event
  std::string role;
  std::string detail;  // JSON object text: {"until": ..., "reason": ...}
  std::string prev_hash;
  std::string hash;
};

inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

std::string canonical_encoding(const AuditRecord& r);
// Sets r.prev_hash and r.hash.
void chain(AuditRecord& r, std::string_view prev_hash);
std::string compute_hash(const AuditRecord& r);  // from r.prev_hash and the fields

// Keyed pseudonyms of recipients: hex(HMAC-SHA-256(key, source + "\n" + recipient))[0:32].
// Without the key, nobody can link a pseudonym to a person; with it, an auditor who knows the
// person's id computes the pseudonym to look them up.
// Not thread-safe: one per writer.
class Pseudonymizer {
 public:
  explicit Pseudonymizer(std::array<unsigned char, 32> key);
  ~Pseudonymizer();
  Pseudonymizer(const Pseudonymizer&) = delete;
  Pseudonymizer& operator=(const Pseudonymizer&) = delete;
  std::string pseudonym(std::string_view source, std::string_view recipient) const;

 private:
  struct Keyed;  // an HMAC context holding the key, duplicated for each pseudonym
  std::unique_ptr<Keyed> keyed_;
};

}  // namespace treve::store
