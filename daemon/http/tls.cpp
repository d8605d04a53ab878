#include "daemon/http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

namespace treve::http {
namespace {

namespace ssl = boost::asio::ssl;

// OpenSSL's reason for the last failure, without its error queue's codes: "no start line",
// "key values mismatch".
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string out = ec.message();
  ERR_clear_error();
  return out;
}

}  // namespace

std::expected<TlsContext, std::string> server_tls_context(const TlsFiles& files) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  // TLS 1.2 and 1.3 only; no compression, no renegotiation by the client.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                           SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE,
                       ec);
  if (ec)
    return std::unexpected("cannot set the TLS options: " + openssl_reason(ec));
  context->use_certificate_chain_file(files.certificate, ec);
  if (ec) {
    return std::unexpected(files.certificate +
                           ": not a PEM certificate chain: " + openssl_reason(ec));
  }
  context->use_private_key_file(files.key, ssl::context::pem, ec);
  if (ec)
    return std::unexpected(files.key + ": not a PEM private key: " + openssl_reason(ec));
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return std::unexpected(files.key + ": the key does not match the certificate in " +
                           files.certificate);
  }
  if (!files.client_ca.empty()) {
    context->load_verify_file(files.client_ca, ec);
    if (ec) {
      return std::unexpected(files.client_ca +
                             ": not PEM CA certificates: " + openssl_reason(ec));
    }
    // The CAs' names go in the handshake's certificate request, so that a client with several
    // certificates picks the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str()))
      SSL_CTX_set_client_CA_list(context->native_handle(), names);
    ERR_clear_error();
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec)
      return std::unexpected("cannot ask for client certificates: " + openssl_reason(ec));
  }
  return context;
}

}  // namespace treve::http
