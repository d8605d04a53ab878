// The bearer tokens of trêve's tests, each written once: connectors' tokens for the ingest API
// and administrators' for the admin API. A configuration names a token by its SHA-256
// (`token_sha256`); sha256_hex here computes it the same way as the daemon.
#pragma once

#include <string>

namespace treve::test {

inline const std::string kEntToken = "tok-ent";         // connector "ent", may_bypass = false
inline const std::string kAlertToken = "tok-alert";     // connector "alert", may_bypass = true
inline const std::string kOtherToken = "other-token";   // a second connector, in-process tests
inline const std::string kUnknownToken = "tok-nobody";  // no connector's

inline const std::string kRectoratToken = "rectorat-token";  // "Rectorat", admin of every school
inline const std::string kDurandToken = "durand-token";      // "Mme Durand", admin of one school
inline const std::string kDpdToken = "dpd-token";            // "DPD", auditor

// "change-me", the placeholder of the example configuration, and its SHA-256: the token of the
// configurations written by the in-process tests.
inline const std::string kChangeMeToken = "change-me";
// (A macro as well, for `constexpr const char*` configurations written as string literals.)
#define TREVE_TEST_CHANGE_ME_SHA256 \
  "e2186dbdb1bb4193608605e84f33208765b5693b55edd4f730a719a100eeea6f"
inline const std::string kChangeMeSha256 = TREVE_TEST_CHANGE_ME_SHA256;

}  // namespace treve::test
