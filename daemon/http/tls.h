// TLS on the HTTP listeners: a server context loaded from PEM files (docs/configuration.md,
// "TLS"). Beast's streams over OpenSSL use it (server.cpp); this header keeps OpenSSL's and
// Asio's SSL headers out of the files that only pass a context along.
#pragma once

#include <expected>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace treve::http {

struct TlsFiles {
  std::string certificate;  // PEM: the server's certificate, then the chain up to its CA
  std::string key;          // PEM: its private key (unencrypted)
  std::string client_ca;    // PEM: CAs a client certificate must chain to; empty: none asked

  bool enabled() const { return !certificate.empty(); }
};

using TlsContext = std::shared_ptr<boost::asio::ssl::context>;

// A server context from `files`: TLS 1.2 or later, the certificate chain and its key (checked
// to belong together). With `client_ca`, every client must present a certificate that chains to
// one of those CAs (mutual TLS), or the handshake fails. The error names the file and what is
// wrong with it, e.g. "/etc/treve/tls/key.pem: the key does not match the certificate".
std::expected<TlsContext, std::string> server_tls_context(const TlsFiles& files);

}  // namespace treve::http
