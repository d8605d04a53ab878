// Checks of a listener's TLS files as OpenSSL reads them, so that a certificate that does not
// parse, a key that is not the certificate's, or an empty client CA bundle is a configuration
// error with its file and line (at start, on reload and in `treve check-config`), not a failure
// of the first handshake.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace treve::config {

// The listener's own certificate (the first of the chain), once checked.
struct CertificateSummary {
  std::int64_t not_after = 0;  // Unix seconds
};

// The chain in `chain_pem` (one or more PEM certificates, the listener's first) and the private
// key in `key_pem` (PEM, unencrypted): both parse, and the key is the first certificate's. The
// error says what is wrong in English, never quoting the key.
std::expected<CertificateSummary, std::string> check_tls_identity(std::string_view chain_pem,
                                                                  std::string_view key_pem);

// The certificate authorities in `pem`: at least one certificate, each one parsing. Their count.
std::expected<std::size_t, std::string> check_certificate_bundle(std::string_view pem);

}  // namespace treve::config
