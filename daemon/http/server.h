// The HTTP/1.1 server under trêve's APIs: a listener that accepts connections and a session
// per connection (keep-alive, one request at a time, a deadline on every read), shaped like
// the Beast/Asio examples. It knows nothing of events: each request goes to a `Handler`,
// which answers through `Respond` — at once or later, from any thread (the store answers
// after its commit). Lives on one io_context; `start` and `stop` are called from its thread
// or before it runs. Over TCP it may speak TLS (`set_tls`), with client certificates.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace treve::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// A piece of a body sent as it is produced: `data` (written as one chunk when not empty), then
// `last` to end the body, or `failed` to abort it (the connection is closed without the last
// chunk, so the client sees a truncated answer rather than a short one that looks whole).
struct Piece {
  std::string data;
  bool last = false;
  bool failed = false;
};
// Hands the session the next piece; call exactly once, from any thread.
using PutPiece = std::function<void(Piece)>;
// Asked for the next piece once the previous one is written, on the session's strand: it must
// not block there, but produce the piece elsewhere (a worker thread) and `put` it when ready.
using NextPiece = std::function<void(PutPiece)>;

// An answer: a whole response, or a response's header and a body produced piece by piece
// (`Transfer-Encoding: chunked`), so that an answer larger than memory should hold (an audit
// export) is never built whole. Only one piece is in memory at a time.
struct Reply {
  Reply(Response r) : response(std::move(r)) {}  // NOLINT: a whole response is a reply
  Reply(Response header, NextPiece pieces) : response(std::move(header)), next(std::move(pieces)) {}
  Response response;  // with `next`, its body is ignored
  NextPiece next;
};
// Call exactly once, from any thread.
using Respond = std::function<void(Reply)>;
using Handler = std::function<void(Request&&, Respond)>;

// Who sent a request, for logs: "192.0.2.7:50312", "[2001:db8::1]:50312", or "unix" for a client
// of a unix socket (which has no address of its own).
struct Client {
  std::string address;
  // Over TLS with a client certificate (the listener asks for one: it has a client CA, and the
  // handshake verified it): the names it gives, its subject's common names then its DNS
  // names, as written in it. Empty otherwise.
  std::vector<std::string> certificate_names = {};

  // Whether its client certificate gives `name`, compared as DNS names are (ASCII letters in
  // either case): what binds a connector's or an admin's token to its certificate.
  bool certificate_gives(std::string_view name) const;
};
// A handler that is also told who sent the request.
using ClientHandler = std::function<void(const Client&, Request&&, Respond)>;

struct ServerOptions {
  // A name for the logs ("ingest", "admin").
  std::string name = "http";
  // Time a new connection may take to send the first byte of its first request: short, so
  // that connections opened and left silent do not hold the listener's slots for long.
  std::chrono::milliseconds first_byte_timeout{10'000};
  // Time allowed to receive a request's header once its first byte has arrived.
  std::chrono::milliseconds header_timeout{5'000};
  // Time allowed to receive one whole request (header and body) once it has started.
  std::chrono::milliseconds read_timeout{10'000};
  // Time a keep-alive connection may stay idle between requests.
  std::chrono::milliseconds idle_timeout{60'000};
  // Time allowed to write a response (or one piece of a body sent in pieces) to a slow reader.
  std::chrono::milliseconds write_timeout{10'000};
  // Largest request body accepted, decided from the request's header (target, credentials)
  // before any of the body is read; larger ones get 413.
  std::function<std::size_t(const Request& header)> body_limit = [](const Request&) {
    return std::size_t{256 * 1024};
  };
  // Called, when a request has a body, once its header is read and before any of the body is,
  // with the most the body may take (its Content-Length, else the body limit). Either a hold,
  // kept until the request's answer is written or its connection closed (so that what the
  // request costs can be counted while it lasts), or the answer that refuses the request: that
  // answer is written at once, what the client still sends of the body is read and dropped
  // until the request's read deadline (so that the client, done sending, reads the answer),
  // and the connection is closed. Unset: every request is admitted.
  std::function<std::expected<std::shared_ptr<void>, Response>(const Request& header,
                                                               std::size_t body_bytes)>
      admit_body;
  // Connections beyond this are accepted, answered 503 with Retry-After and closed at once (the
  // listener never stalls).
  std::size_t max_connections = 1024;
  // Connections one client address may have open at once, so that one client cannot take every
  // slot; beyond it the same answer. Unix socket connections are not counted.
  std::size_t max_connections_per_address = 64;
  // Retry-After of a connection refused for either limit.
  std::chrono::seconds refused_retry_after{2};
  // Refused connections are logged once per client address (and the listener's own limit once)
  // per this interval, with the number refused since the last line.
  std::chrono::milliseconds refusal_log_interval{60'000};
  // On stop: how long requests in progress may take before their connections are closed.
  std::chrono::milliseconds shutdown_grace{5'000};
  std::string server_name = "treve";
};

// A listener's TLS (Beast over OpenSSL): its certificate chain and key, and the authorities
// whose client certificates it requires, if any. Opaque, so that only server.cpp includes
// OpenSSL and Asio's SSL.
struct TlsSettings {
  std::string certificate_pem;  // the chain, the listener's own certificate first
  std::string key_pem;          // unencrypted PEM
  std::string client_ca_pem;    // empty: no client certificate asked
};
class TlsContext;
// TLS 1.2 and 1.3 only, no renegotiation, no compression; with `client_ca_pem`, a connection
// without a certificate signed by one of those authorities fails its handshake.
std::expected<std::shared_ptr<TlsContext>, std::string> make_tls_context(
    const TlsSettings& settings);

class Server {
 public:
  Server(boost::asio::io_context& ioc, Handler handler, ServerOptions options);
  Server(boost::asio::io_context& ioc, ClientHandler handler, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens ("127.0.0.1:2007", "[::1]:2007"; port 0 picks a free one), or on a unix
  // socket ("unix:/run/treve/admin.sock"; a stale socket file is replaced, removed at stop).
  std::expected<void, std::string> listen(const std::string& host_port);
  boost::asio::ip::tcp::endpoint local_endpoint() const;  // TCP only

  // Starts accepting. Call after listen().
  void start();

  // Connections accepted from now on speak TLS with this context (null: plain HTTP); those
  // already open keep theirs. For a reload that renews the certificate. TCP only.
  void set_tls(std::shared_ptr<TlsContext> tls);

  // Stops accepting, lets requests in progress finish (their responses are written) for at
  // most shutdown_grace, closes idle connections at once, then calls `done` on the io_context.
  void stop(std::function<void()> done);

  std::size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::http
