// The listener accepts on its own strand; each session runs on a strand of its own and reads
// one request, hands it to the handler, writes the answer, then reads the next one — so a
// connection whose answer is pending sends back-pressure to its client by not being read.
//
// Deadlines: a new connection has `first_byte_timeout` to start its first request, a kept-alive
// one `idle_timeout` to start the next; from that first byte the header must arrive within
// `header_timeout` and the whole request (header and body) within `read_timeout` (absolute
// deadlines, so a client dribbling bytes is cut off); each write has `write_timeout`.
//
// Limits: at most `max_connections` sessions, and `max_connections_per_address` from one client
// address (TCP only); a connection over either is answered 503 at once and closed, and logged
// at most once per address per `refusal_log_interval`. A request with a body may be refused
// from its header by `admit_body`, or hold what it costs until its answer is written.
#include "daemon/http/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "daemon/core/log_field.h"
#include "daemon/http/problem.h"

namespace treve::http {

bool Client::certificate_gives(std::string_view name) const {
  return std::any_of(certificate_names.begin(), certificate_names.end(),
                     [name](const std::string& n) { return boost::beast::iequals(n, name); });
}

class TlsContext {
 public:
  explicit TlsContext(boost::asio::ssl::context context) : context(std::move(context)) {}
  boost::asio::ssl::context context;
};

namespace {

boost::asio::ssl::context& tls_context(TlsContext& tls) {
  return tls.context;
}

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
// TCP or a unix socket ("unix:/run/treve/admin.sock"), through one socket type.
using Protocol = net::generic::stream_protocol;
using Socket = Protocol::socket;
using Stream = beast::basic_stream<Protocol>;
using TlsStream = beast::ssl_stream<Stream>;
using Strand = net::strand<net::io_context::executor_type>;

// How much a session reads at a time while waiting for a request to start.
constexpr std::size_t kReadChunk = 4096;
// Largest request header (request line and fields) accepted; larger ones get 431.
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
// After an error answer the rest of the request is read and dropped for at most this long (and
// this many bytes) before closing, so that closing does not reset the connection and destroy
// the answer before the client reads it.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 1024 * 1024;
// Pause before accepting again when accept fails for lack of resources (file descriptors,
// memory): the first, doubled at each failure in a row up to the last.
constexpr std::chrono::milliseconds kAcceptRetryFirst{100};
constexpr std::chrono::milliseconds kAcceptRetryMost{1000};
// Connections answered at most with the spare descriptor at each such failure.
constexpr std::size_t kShedAtOnce = 64;

// Something that may happen in a burst, logged the first time and then at most once per
// interval with the number of times since the previous line.
class LogTally {
 public:
  // Counts one occurrence; the number to log (this one included), or 0 when not to log now.
  std::size_t count(std::chrono::steady_clock::time_point now, std::chrono::milliseconds interval) {
    ++since_logged_;
    if (logged_once_ && now - logged_ < interval) {
      return 0;
    }
    logged_once_ = true;
    logged_ = now;
    return std::exchange(since_logged_, 0);
  }
  std::chrono::steady_clock::time_point last_logged() const { return logged_; }

 private:
  std::chrono::steady_clock::time_point logged_;
  std::size_t since_logged_ = 0;
  bool logged_once_ = false;
};

// An RFC 9457 problem answer; the connection is closed after it.
Response problem(bhttp::status status, std::string_view type, std::string_view title,
                 std::string_view detail, unsigned version) {
  Response res = problem_response(adapters::make_problem(static_cast<int>(status), type,
                                                         std::string(title), std::string(detail)),
                                  version, "treve");
  res.keep_alive(false);
  return res;
}

// Written without waiting on a connection that is then closed: a short answer fits in the send
// buffer of a fresh connection, and the listener must never wait on a client it refuses.
void answer_and_close(Socket socket, Response res) {
  res.prepare_payload();
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  bhttp::write(socket, res, ignored);
  socket.shutdown(net::socket_base::shutdown_both, ignored);
  socket.close(ignored);
}

// The client's IP address (IPv4-mapped IPv6 addresses as IPv4); none for a unix socket.
std::optional<net::ip::address> client_address(const Socket& socket) {
  beast::error_code ec;
  const Protocol::endpoint peer = socket.remote_endpoint(ec);
  const int family = ec ? AF_UNSPEC : peer.protocol().family();
  if (family != AF_INET && family != AF_INET6) {
    return std::nullopt;
  }
  tcp::endpoint ip;
  if (peer.size() > ip.capacity()) {
    return std::nullopt;
  }
  std::memcpy(ip.data(), peer.data(), peer.size());
  ip.resize(peer.size());
  net::ip::address address = ip.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// Errors of the parser that mean the client sent something that is not HTTP. Timeouts and
// connections closed by the client are not among them: those are closed without an answer.
bool is_malformed_request(const beast::error_code& ec) {
  if (ec.category() != bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    return false;
  }
  return ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
         ec != bhttp::error::need_more && ec != bhttp::error::need_buffer &&
         ec != bhttp::error::buffer_overflow && ec != bhttp::error::header_limit &&
         ec != bhttp::error::body_limit;
}

// The names a verified client certificate gives (Client::certificate_names): its subject's
// common names, then its DNS subject alternative names. A name with a control character or a
// NUL, or longer than 255 bytes, is left out, and at most 16 are read: the certificate's
// authority is trusted, but what it signed is still read with care.
std::vector<std::string> certificate_names(X509* cert) {
  constexpr std::size_t kMost = 16;
  constexpr int kLongest = 255;
  std::vector<std::string> out;
  if (cert == nullptr)
    return out;
  const auto keep = [&out](const unsigned char* data, int length) {
    if (out.size() >= kMost || data == nullptr || length <= 0 || length > kLongest)
      return;
    std::string name(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
    if (std::any_of(name.begin(), name.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      return;
    out.push_back(std::move(name));
  };
  if (X509_NAME* subject = X509_get_subject_name(cert)) {
    for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
      ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
      unsigned char* utf8 = nullptr;
      const int length = value ? ASN1_STRING_to_UTF8(&utf8, value) : -1;
      if (length >= 0)
        keep(utf8, length);
      OPENSSL_free(utf8);
    }
  }
  auto* alt =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (alt != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(alt, i);
      if (n->type == GEN_DNS)
        keep(ASN1_STRING_get0_data(n->d.dNSName), ASN1_STRING_length(n->d.dNSName));
    }
    GENERAL_NAMES_free(alt);
  }
  return out;
}

// The peer of an accepted connection, as Client::address says it.
std::string address_of(const Socket& socket) {
  beast::error_code ec;
  const Protocol::endpoint peer = socket.remote_endpoint(ec);
  if (ec)
    return "unknown";
  const int family = peer.protocol().family();
  if (family != AF_INET && family != AF_INET6)
    return "unix";
  tcp::endpoint ip;
  if (peer.size() > ip.capacity())
    return "unknown";
  std::memcpy(ip.data(), peer.data(), peer.size());
  ip.resize(peer.size());
  const std::string host = ip.address().to_string();
  return (family == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(ip.port());
}

// RFC 9110 §5.6.2.
bool is_token_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9112 §6.1 and §6.3: a request body is delimited by Content-Length or by a final `chunked`
// coding, and by nothing else. Anything else would leave the body to be read as the next
// request (behind a proxy that delimits it differently: request smuggling), so it is answered
// with a problem and the connection closed. Beast already refuses a Content-Length after a
// final `chunked` and a Transfer-Encoding after a Content-Length; the rest is checked here.
std::optional<Response> framing_problem(const Request& req) {
  const auto [first, last] = req.equal_range(bhttp::field::transfer_encoding);
  if (first == last) {
    return std::nullopt;
  }
  const auto bad = [](std::string_view detail) {
    return problem(bhttp::status::bad_request, "bad-http-request", "Malformed HTTP request", detail,
                   11);
  };
  if (req.count(bhttp::field::content_length) > 0) {
    return bad("a request may not have both Transfer-Encoding and Content-Length");
  }
  if (req.version() < 11) {
    return bad("Transfer-Encoding is not allowed in an HTTP/1.0 request");
  }
  // Every field, in order, as one comma-separated list; empty elements are allowed (RFC 9110
  // §5.6.1), anything but a token (parameters included) is not.
  std::size_t codings = 0;
  bool last_is_chunked = false;
  for (auto field = first; field != last; ++field) {
    std::string_view rest(field->value().data(), field->value().size());
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view element = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      const auto begin = element.find_first_not_of(" \t");
      if (begin == std::string_view::npos) {
        continue;
      }
      element = element.substr(begin, element.find_last_not_of(" \t") - begin + 1);
      if (!std::all_of(element.begin(), element.end(), is_token_char)) {
        return bad("Transfer-Encoding is not a list of transfer codings");
      }
      ++codings;
      last_is_chunked = beast::iequals(element, "chunked");
    }
  }
  if (!last_is_chunked) {
    return bad("the last transfer coding must be chunked, and no other framing is accepted");
  }
  if (codings > 1) {
    return problem(bhttp::status::not_implemented, "unsupported-transfer-coding",
                   "Unsupported transfer coding", "only the chunked transfer coding is supported",
                   11);
  }
  return std::nullopt;
}

// What the listener knows of a session, whichever stream it speaks.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // The server stops: close now unless a request is in progress.
  virtual void on_server_stopping() = 0;
  // The grace after stop has elapsed: close whatever is in progress.
  virtual void force_close() = 0;
};

// Owns the acceptor and knows the open sessions; shared by the sessions so that it outlives
// them. Counting and the session registry are guarded by `mutex_` because sessions end on their
// own strands.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, ClientHandler handler, ServerOptions options)
      : ioc_(ioc),
        handler_(std::move(handler)),
        options_(std::move(options)),
        strand_(net::make_strand(ioc)),
        acceptor_(strand_),
        grace_timer_(strand_),
        retry_timer_(strand_),
        spare_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}
  ~Listener() {
    if (spare_ >= 0) {
      ::close(spare_);
    }
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  std::expected<void, std::string> listen(const std::string& host_port);
  // Set by listen() and kept after stop, so reading it races with nothing.
  tcp::endpoint local_endpoint() const { return endpoint_; }
  // The unix socket's path, when listening on one.
  const std::string& socket_path() const { return socket_path_; }
  void start() {
    net::post(strand_, beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
  }
  void stop(std::function<void()> done, std::chrono::milliseconds grace) {
    net::post(strand_, [self = shared_from_this(), done = std::move(done), grace]() mutable {
      self->on_stop(std::move(done), grace);
    });
  }
  std::size_t open_connections() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }

  const ServerOptions& options() const { return options_; }
  const ClientHandler& handler() const { return handler_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // Called exactly once per registered session, from any thread, when its socket is closed.
  void unregister(const SessionBase* session);
  // The TLS context of the connections accepted next (null: plain HTTP).
  std::shared_ptr<TlsContext> tls() const;
  void set_tls(std::shared_ptr<TlsContext> tls);
  // A TLS handshake failed (no client certificate, an unknown authority, a plain HTTP client):
  // logged once per refusal_log_interval for the listener, with the number since the previous
  // line, and the address and reason of the failure that makes the line. From any thread.
  void log_handshake_failure(const std::string& client, const beast::error_code& ec);

 private:
  enum class Refusal { listener_full, address_full, no_descriptors };

  void do_accept();
  std::expected<void, std::string> listen_unix(const std::string& path);
  void on_accept(beast::error_code ec, Socket socket);
  void on_accept_failed(const beast::error_code& ec);
  std::size_t answer_waiting_with_spare();
  void refuse(Socket socket, Refusal why);
  void log_refusal(Refusal why, const std::optional<net::ip::address>& address);
  void on_stop(std::function<void()> done, std::chrono::milliseconds grace);
  void on_grace_elapsed();
  // Posts the `done` callbacks once stopping and no session is left.
  void finish_if_drained(std::unique_lock<std::mutex> lock);
  std::vector<std::shared_ptr<SessionBase>> live_sessions() const;

  net::io_context& ioc_;
  const ClientHandler handler_;
  const ServerOptions options_;
  Strand strand_;
  net::basic_socket_acceptor<Protocol> acceptor_;
  tcp::endpoint endpoint_;
  std::string socket_path_;
  net::steady_timer grace_timer_;
  net::steady_timer retry_timer_;
  std::atomic<bool> stopping_{false};

  // On the listener's strand only: refusals per client address ("" for the listener's own
  // limit), failures to accept, and the delay before accepting again after one.
  std::unordered_map<std::string, LogTally> refusals_;
  LogTally accept_failures_;
  std::size_t answered_since_logged_ = 0;
  std::chrono::milliseconds accept_delay_{0};
  // A descriptor held back (on /dev/null) for when the process has run out: closed for a moment
  // to accept the connections waiting and answer them 503 rather than leave them hanging.
  int spare_ = -1;

  struct Registered {
    std::weak_ptr<SessionBase> session;
    std::optional<net::ip::address> address;  // none on a unix socket
  };
  mutable std::mutex mutex_;
  std::unordered_map<const SessionBase*, Registered> sessions_;  // guarded
  std::shared_ptr<TlsContext> tls_;                              // guarded
  LogTally handshake_failures_;                                  // guarded
  std::map<net::ip::address, std::size_t> per_address_;          // guarded; no zero counts
  std::vector<std::function<void()>> done_;                      // guarded
  bool stop_requested_ = false;                                  // guarded
};

// One connection, over `S`: Stream (plain HTTP) or TlsStream. Keeps itself alive through the
// handlers of its pending operation and through the `Respond` it hands out. All members are
// touched only on its strand.
template <class S>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<S>> {
 public:
  static constexpr bool kTls = std::is_same_v<S, TlsStream>;

  Session(Socket&& socket, std::shared_ptr<Listener> listener) requires(!kTls)
      : client_{address_of(socket), {}},
        stream_(std::move(socket)),
        listener_(std::move(listener)) {}
  Session(Socket&& socket, std::shared_ptr<Listener> listener,
          std::shared_ptr<TlsContext> tls) requires(kTls)
      : client_{address_of(socket), {}},
        tls_(std::move(tls)),
        stream_(std::move(socket), tls_context(*tls_)),
        listener_(std::move(listener)) {}
  ~Session() override {
    if (phase_ != Phase::closed) {
      listener_->unregister(this);
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    if constexpr (kTls) {
      net::post(stream_.get_executor(),
                beast::bind_front_handler(&Session::do_handshake, this->shared_from_this()));
    } else {
      net::post(stream_.get_executor(),
                beast::bind_front_handler(&Session::do_read, this->shared_from_this()));
    }
  }
  void on_server_stopping() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->phase_ == Phase::idle || self->phase_ == Phase::lingering) {
        self->close();
      }
    });
  }
  void force_close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }

 private:
  enum class Phase {
    idle,       // waiting for the first byte of a request (or the TLS handshake)
    reading,    // a request has started
    handling,   // the handler has the request; waiting for Respond
    writing,    // writing the answer
    lingering,  // after an error answer: dropping what the client still sends
    closed,
  };

  // The TCP (or unix) stream under TLS, which carries the deadlines.
  Stream& lowest() { return beast::get_lowest_layer(stream_); }
  void do_handshake();
  void on_handshake(beast::error_code ec);
  void do_read();
  void on_first_bytes(beast::error_code ec, std::size_t n);
  void read_header();
  void on_read_header(beast::error_code ec, std::size_t n);
  void on_continue_written(beast::error_code ec, std::size_t n);
  void read_body();
  void on_read(beast::error_code ec, std::size_t n);
  void fail_request(const beast::error_code& ec);
  void handle();
  void on_response(Reply reply);
  void write(Response res, bool keep_alive, bool linger);
  void write_in_pieces(Response header, NextPiece next, bool keep_alive);
  void on_header_written(beast::error_code ec, std::size_t n);
  void ask_piece();
  void on_piece(Piece piece);
  void on_piece_written(beast::error_code ec, std::size_t n);
  void on_write(beast::error_code ec, std::size_t n);
  void linger();
  void on_linger_read(beast::error_code ec, std::size_t n);
  void close();

  Client client_;  // its certificate's names set once, after the handshake
  const std::chrono::steady_clock::time_point accepted_ = std::chrono::steady_clock::now();
  const std::shared_ptr<TlsContext> tls_;  // kept for as long as the stream uses it
  S stream_;
  const std::shared_ptr<Listener> listener_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::chrono::steady_clock::time_point request_deadline_;
  std::size_t body_limit_ = 0;
  unsigned version_ = 11;
  bool request_keep_alive_ = false;
  bool head_request_ = false;  // the answer carries the headers of a GET, without its body
  std::optional<Response> response_;
  // An answer sent in pieces: its header, the producer, and the piece being written.
  std::optional<bhttp::response<bhttp::empty_body>> pieces_header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> pieces_serializer_;
  NextPiece next_piece_;
  std::string piece_;
  bool last_piece_ = false;
  std::shared_ptr<void> hold_;  // from admit_body, until the answer is written
  std::size_t linger_bytes_ = kLingerBytes;
  bool linger_to_request_deadline_ = false;
  bool answered_once_ = false;  // a request has been handled: the next wait is idle_timeout
  bool keep_alive_after_write_ = false;
  bool linger_after_write_ = false;
  std::size_t lingered_bytes_ = 0;
  Phase phase_ = Phase::idle;
};

// ---- Session ------------------------------------------------------------------------------

// The handshake has what a silent new connection has to send its first byte; a client that
// is not speaking TLS, or has no acceptable certificate, is closed without an answer.
template <class S>
void Session<S>::do_handshake() {
  if constexpr (kTls) {
    if (listener_->stopping()) {
      close();
      return;
    }
    lowest().expires_at(accepted_ + listener_->options().first_byte_timeout);
    stream_.async_handshake(
        net::ssl::stream_base::server,
        beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
  }
}

template <class S>
void Session<S>::on_handshake(beast::error_code ec) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {
    if (ec != net::error::operation_aborted)
      listener_->log_handshake_failure(client_.address, ec);
    close();
    return;
  }
  if constexpr (kTls) {
    // Only a certificate the handshake verified (a listener without a client CA asks for none).
    SSL* ssl = stream_.native_handle();
    if (SSL_get_verify_result(ssl) == X509_V_OK)
      client_.certificate_names = certificate_names(SSL_get0_peer_certificate(ssl));
  }
  do_read();
}

template <class S>
void Session<S>::do_read() {
  if (phase_ == Phase::closed) {
    return;
  }
  if (listener_->stopping()) {
    close();
    return;
  }
  phase_ = Phase::idle;
  parser_.emplace();
  // The limit depends on the target, known only after the header; checked by hand then.
  parser_->body_limit(boost::none);
  parser_->header_limit(kHeaderLimit);
  if (buffer_.size() > 0) {  // a pipelined request has already started
    read_header();
    return;
  }
  // The first request's first byte is due first_byte_timeout after the connection was
  // accepted, the TLS handshake included.
  if (answered_once_)
    lowest().expires_after(listener_->options().idle_timeout);
  else
    lowest().expires_at(accepted_ + listener_->options().first_byte_timeout);
  stream_.async_read_some(
      buffer_.prepare(kReadChunk),
      beast::bind_front_handler(&Session::on_first_bytes, this->shared_from_this()));
}

template <class S>
void Session<S>::on_first_bytes(beast::error_code ec, std::size_t n) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {  // idle timeout, client gone, or closed by stop
    close();
    return;
  }
  buffer_.commit(n);
  read_header();
}

template <class S>
void Session<S>::read_header() {
  phase_ = Phase::reading;
  const auto now = std::chrono::steady_clock::now();
  request_deadline_ = now + listener_->options().read_timeout;
  lowest().expires_at(std::min(request_deadline_, now + listener_->options().header_timeout));
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      beast::bind_front_handler(&Session::on_read_header, this->shared_from_this()));
}

template <class S>
void Session<S>::on_read_header(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {
    fail_request(ec);
    return;
  }
  const auto& req = parser_->get();
  version_ = req.version();
  request_keep_alive_ = req.keep_alive();
  head_request_ = req.method() == bhttp::verb::head;
  if (auto refused = framing_problem(req)) {
    write(std::move(*refused), false, true);
    return;
  }
  body_limit_ = listener_->options().body_limit(req);
  if (const auto length = parser_->content_length(); length && *length > body_limit_) {
    fail_request(bhttp::error::body_limit);
    return;
  }
  parser_->body_limit(body_limit_);  // enforced while a chunked body grows
  if (parser_->is_done()) {
    handle();
    return;
  }
  if (const auto& admit = listener_->options().admit_body) {
    const auto length = parser_->content_length();
    const std::size_t bytes = length ? static_cast<std::size_t>(*length) : body_limit_;
    auto admitted = admit(req, bytes);
    if (!admitted) {
      // Drop the whole body as it comes, so that the client gets to read the refusal.
      linger_bytes_ = bytes + kLingerBytes;
      linger_to_request_deadline_ = true;
      admitted.error().version(version_);
      write(std::move(admitted.error()), false, true);
      return;
    }
    hold_ = std::move(*admitted);
  }
  if (req.version() >= 11 && beast::iequals(req[bhttp::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    lowest().expires_after(listener_->options().write_timeout);
    net::async_write(
        stream_, net::buffer(kContinue.data(), kContinue.size()),
        beast::bind_front_handler(&Session::on_continue_written, this->shared_from_this()));
    return;
  }
  read_body();
}

template <class S>
void Session<S>::on_continue_written(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {
    close();
    return;
  }
  read_body();
}

template <class S>
void Session<S>::read_body() {
  lowest().expires_at(request_deadline_);
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
}

template <class S>
void Session<S>::on_read(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {
    fail_request(ec);
    return;
  }
  handle();
}

template <class S>
void Session<S>::fail_request(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit) {
    write(problem(bhttp::status::payload_too_large, "body-too-large", "Request body too large",
                  "the body is larger than the limit of " + std::to_string(body_limit_) + " bytes",
                  version_),
          false, true);
  } else if (ec == bhttp::error::header_limit) {
    write(
        problem(bhttp::status::request_header_fields_too_large, "header-too-large",
                "Request header too large",
                "the request header is larger than " + std::to_string(kHeaderLimit) + " bytes", 11),
        false, true);
  } else if (is_malformed_request(ec)) {
    write(problem(bhttp::status::bad_request, "bad-http-request", "Malformed HTTP request",
                  "the request is not valid HTTP/1.1: " + ec.message(), 11),
          false, true);
  } else {  // read timeout, client gone, or closed by stop
    close();
  }
}

template <class S>
void Session<S>::handle() {
  phase_ = Phase::handling;
  answered_once_ = true;
  // Nothing is read while the handler works; a missed deadline must not close the connection.
  lowest().expires_never();
  Respond respond = [self = this->shared_from_this(),
                     answered = std::make_shared<std::atomic<bool>>(false)](Reply reply) {
    if (answered->exchange(true)) {
      spdlog::warn("event=http.respond_called_twice: the second answer is dropped");
      return;
    }
    net::post(self->stream_.get_executor(),
              [self, reply = std::move(reply)]() mutable { self->on_response(std::move(reply)); });
  };
  Request req = parser_->release();
  parser_.reset();
  try {
    listener_->handler()(client_, std::move(req), respond);
  } catch (const std::exception& e) {
    // A bug in a handler must not take down the daemon or leave the client waiting.
    spdlog::error("event=http.handler_failed error={}", core::quoted(e.what()));
    respond(problem(bhttp::status::internal_server_error, "internal-error", "Internal server error",
                    "the request could not be handled", version_));
  }
}

template <class S>
void Session<S>::on_response(Reply reply) {
  if (phase_ != Phase::handling) {  // closed by the grace deadline meanwhile
    return;
  }
  Response& res = reply.response;
  // The handler may close the connection with `Connection: close`; it cannot keep open one that
  // the client or a stop closes.
  const bool handler_closes = bhttp::token_list(res[bhttp::field::connection]).exists("close");
  const bool keep_alive = !handler_closes && request_keep_alive_ && !listener_->stopping();
  res.version(version_);
  if (reply.next) {
    write_in_pieces(std::move(res), std::move(reply.next), keep_alive);
  } else {
    write(std::move(res), keep_alive, false);
  }
}

template <class S>
void Session<S>::write_in_pieces(Response header, NextPiece next, bool keep_alive) {
  phase_ = Phase::writing;
  keep_alive_after_write_ = keep_alive;
  linger_after_write_ = false;
  bhttp::response<bhttp::empty_body> head{header.result(), header.version()};
  for (const auto& field : header)
    head.set(field.name_string(), field.value());
  head.set(bhttp::field::server, listener_->options().server_name);
  head.keep_alive(keep_alive);
  head.chunked(true);
  pieces_header_.emplace(std::move(head));
  pieces_serializer_.emplace(*pieces_header_);
  // A HEAD request gets the header only: the body is not produced at all.
  if (!head_request_)
    next_piece_ = std::move(next);
  last_piece_ = false;
  lowest().expires_after(listener_->options().write_timeout);
  bhttp::async_write_header(
      stream_, *pieces_serializer_,
      beast::bind_front_handler(&Session::on_header_written, this->shared_from_this()));
}

template <class S>
void Session<S>::on_header_written(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {
    close();
    return;
  }
  if (!next_piece_) {  // HEAD
    pieces_serializer_.reset();
    pieces_header_.reset();
    on_write({}, 0);
    return;
  }
  ask_piece();
}

template <class S>
void Session<S>::ask_piece() {
  // No deadline while the piece is produced: the producer answers once, and a closed session
  // ignores it.
  lowest().expires_never();
  next_piece_([self = this->shared_from_this()](Piece piece) {
    net::post(self->stream_.get_executor(),
              [self, piece = std::move(piece)]() mutable { self->on_piece(std::move(piece)); });
  });
}

template <class S>
void Session<S>::on_piece(Piece piece) {
  if (phase_ != Phase::writing) {  // closed meanwhile (client gone, stop's grace)
    return;
  }
  if (piece.failed) {
    // Without the last chunk the client knows the answer is incomplete.
    close();
    return;
  }
  piece_ = std::move(piece.data);
  last_piece_ = piece.last;
  lowest().expires_after(listener_->options().write_timeout);
  if (!piece_.empty()) {
    net::async_write(
        stream_, bhttp::make_chunk(net::buffer(piece_)),
        beast::bind_front_handler(&Session::on_piece_written, this->shared_from_this()));
  } else {
    on_piece_written({}, 0);
  }
}

template <class S>
void Session<S>::on_piece_written(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::closed) {
    return;
  }
  if (ec) {
    close();
    return;
  }
  piece_.clear();
  piece_.shrink_to_fit();
  if (!last_piece_) {
    ask_piece();
    return;
  }
  next_piece_ = nullptr;
  pieces_serializer_.reset();
  pieces_header_.reset();
  net::async_write(stream_, bhttp::make_chunk_last(),
                   beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
}

template <class S>
void Session<S>::write(Response res, bool keep_alive, bool linger) {
  phase_ = Phase::writing;
  keep_alive_after_write_ = keep_alive;
  linger_after_write_ = linger;
  res.keep_alive(keep_alive);
  res.set(bhttp::field::server, listener_->options().server_name);
  res.prepare_payload();
  if (head_request_) {
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  response_.emplace(std::move(res));
  lowest().expires_after(listener_->options().write_timeout);
  bhttp::async_write(stream_, *response_,
                     beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
}

template <class S>
void Session<S>::on_write(beast::error_code ec, std::size_t) {
  if (phase_ == Phase::closed) {
    return;
  }
  response_.reset();
  hold_.reset();
  if (ec) {
    close();
  } else if (linger_after_write_) {
    linger();
  } else if (keep_alive_after_write_) {
    do_read();
  } else {
    close();
  }
}

template <class S>
void Session<S>::linger() {
  if (listener_->stopping()) {
    close();
    return;
  }
  phase_ = Phase::lingering;
  beast::error_code ignored;
  lowest().socket().shutdown(net::socket_base::shutdown_send, ignored);
  buffer_.clear();
  if (linger_to_request_deadline_) {
    lowest().expires_at(request_deadline_);
  } else {
    lowest().expires_after(std::min(kLingerTime, listener_->options().read_timeout));
  }
  stream_.async_read_some(
      buffer_.prepare(kReadChunk),
      beast::bind_front_handler(&Session::on_linger_read, this->shared_from_this()));
}

template <class S>
void Session<S>::on_linger_read(beast::error_code ec, std::size_t n) {
  if (phase_ == Phase::closed) {
    return;
  }
  lingered_bytes_ += n;
  if (ec || lingered_bytes_ > linger_bytes_) {
    close();
    return;
  }
  stream_.async_read_some(
      buffer_.prepare(kReadChunk),
      beast::bind_front_handler(&Session::on_linger_read, this->shared_from_this()));
}

template <class S>
void Session<S>::close() {
  if (phase_ == Phase::closed) {
    return;
  }
  phase_ = Phase::closed;
  hold_.reset();
  next_piece_ = nullptr;  // the producer's state (an open read transaction) goes with it
  beast::error_code ignored;
  lowest().socket().shutdown(net::socket_base::shutdown_both, ignored);
  lowest().close();  // pending operations complete with operation_aborted
  listener_->unregister(this);
}

// ---- Listener -----------------------------------------------------------------------------

std::expected<void, std::string> Listener::listen(const std::string& host_port) {
  const auto fail = [&](std::string_view why) {
    return std::unexpected("cannot listen on " + host_port + ": " + std::string(why));
  };
  if (host_port.starts_with("unix:"))
    return listen_unix(host_port.substr(5));
  std::string host;
  std::string port;
  if (host_port.starts_with('[')) {
    const auto close = host_port.find(']');
    if (close == std::string::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return fail("expected [ADDRESS]:PORT");
    }
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
  } else {
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos || host_port.find(':') != colon) {
      return fail("expected HOST:PORT (an IPv6 address in brackets)");
    }
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
  }
  if (host.empty() || port.empty() ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      port.size() > 5 || std::stoul(port) > 65535) {
    return fail("expected HOST:PORT with a port from 0 to 65535");
  }

  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto endpoints = resolver.resolve(host, port, tcp::resolver::numeric_service, ec);
  if (ec) {
    return fail(ec.message());
  }
  if (acceptor_.is_open()) {
    return fail("the server is already listening");
  }
  // The first address that works wins ("localhost" may resolve to ::1 and 127.0.0.1).
  for (const auto& entry : endpoints) {
    const Protocol::endpoint endpoint(entry.endpoint());
    beast::error_code ignored;
    acceptor_.close(ignored);
    if (acceptor_.open(endpoint.protocol(), ec)) {
      continue;
    }
    if (acceptor_.set_option(net::socket_base::reuse_address(true), ec)) {
      continue;
    }
    if (acceptor_.bind(endpoint, ec)) {
      continue;
    }
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec)) {
      continue;
    }
    const Protocol::endpoint bound = acceptor_.local_endpoint(ec);
    if (ec || bound.size() > endpoint_.capacity()) {
      continue;
    }
    std::memcpy(endpoint_.data(), bound.data(), bound.size());
    endpoint_.resize(bound.size());
    return {};
  }
  beast::error_code ignored;
  acceptor_.close(ignored);
  return fail(ec ? ec.message() : "the host has no address");
}

// A unix socket: a stale socket file left by a daemon killed hard is replaced; any other file
// at that path is not touched. Its mode follows the umask (0600 under `treve serve`, which sets
// 0077): only the daemon's user and root connect.
std::expected<void, std::string> Listener::listen_unix(const std::string& path) {
  const auto fail = [&](std::string_view why) {
    return std::unexpected("cannot listen on unix:" + path + ": " + std::string(why));
  };
  if (path.empty() || path.front() != '/')
    return fail("expected unix:/ABSOLUTE/PATH");
  if (acceptor_.is_open())
    return fail("the server is already listening");
  net::local::stream_protocol::endpoint local;
  if (path.size() >= local.capacity())
    return fail("the path is too long for a unix socket");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail("a file that is not a socket is in the way");
    ::unlink(path.c_str());
  }
  local.path(path);
  const Protocol::endpoint endpoint(local);
  beast::error_code ec;
  if (acceptor_.open(endpoint.protocol(), ec) || acceptor_.bind(endpoint, ec) ||
      acceptor_.listen(net::socket_base::max_listen_connections, ec)) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return fail(ec.message());
  }
  socket_path_ = path;
  return {};
}

void Listener::do_accept() {
  if (stopping() || !acceptor_.is_open()) {
    return;
  }
  acceptor_.async_accept(net::make_strand(ioc_),
                         beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, Socket socket) {
  if (stopping() || ec == net::error::operation_aborted) {
    return;  // the socket, if any, closes as it goes out of scope
  }
  if (ec) {
    on_accept_failed(ec);
    return;
  }
  accept_delay_ = std::chrono::milliseconds{0};

  const std::optional<net::ip::address> address = client_address(socket);
  std::shared_ptr<SessionBase> session;
  std::function<void()> start;
  std::optional<Refusal> refusal;
  {
    std::lock_guard lock(mutex_);
    const auto from_address = address ? per_address_.find(*address) : per_address_.end();
    if (sessions_.size() >= options_.max_connections) {
      refusal = Refusal::listener_full;
    } else if (from_address != per_address_.end() &&
               from_address->second >= options_.max_connections_per_address) {
      refusal = Refusal::address_full;
    } else {
      if (tls_) {
        auto tls =
            std::make_shared<Session<TlsStream>>(std::move(socket), shared_from_this(), tls_);
        start = [tls] { tls->start(); };
        session = std::move(tls);
      } else {
        auto plain = std::make_shared<Session<Stream>>(std::move(socket), shared_from_this());
        start = [plain] { plain->start(); };
        session = std::move(plain);
      }
      sessions_.emplace(session.get(), Registered{session, address});
      if (address) {
        ++per_address_[*address];
      }
    }
  }
  if (session) {
    start();
  } else {
    log_refusal(*refusal, address);
    refuse(std::move(socket), *refusal);
  }
  do_accept();
}

// Out of descriptors (EMFILE, ENFILE) or memory, accepting again at once would spin and leave
// the connections waiting unanswered: those waiting are answered 503 with the spare descriptor,
// and accepting resumes after a delay that doubles up to a second while the failures last.
void Listener::on_accept_failed(const beast::error_code& ec) {
  const bool no_descriptors =
      ec == net::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system;
  const bool no_memory = ec == net::error::no_buffer_space || ec == net::error::no_memory;
  if (no_descriptors) {
    answered_since_logged_ += answer_waiting_with_spare();
  }
  const auto delay = no_descriptors || no_memory
                         ? std::clamp(accept_delay_ * 2, kAcceptRetryFirst, kAcceptRetryMost)
                         : std::chrono::milliseconds{0};
  if (const auto failures =
          accept_failures_.count(std::chrono::steady_clock::now(), options_.refusal_log_interval)) {
    spdlog::warn(
        "event=http.accept_failed listener={} error={} failures={} answered={} "
        "retry_in_ms={}",
        options_.name, core::quoted(ec.message()), failures, answered_since_logged_, delay.count());
    answered_since_logged_ = 0;
  }
  accept_delay_ = delay;
  if (delay.count() == 0) {  // that connection failed on its own (reset by its client)
    do_accept();
    return;
  }
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (!wait_ec) {
      self->do_accept();
    }
  });
}

// Gives back the spare descriptor for as long as it takes to accept the connections waiting
// (at most kShedAtOnce) and answer each 503; each is closed before the next is accepted. Returns
// how many were answered.
std::size_t Listener::answer_waiting_with_spare() {
  if (spare_ < 0) {  // taken by something else last time: try to get it back
    spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return 0;
  }
  ::close(spare_);
  spare_ = -1;
  beast::error_code ec;
  acceptor_.non_blocking(true, ec);  // accept below says would_block when nobody waits
  std::size_t answered = 0;
  while (!ec && answered < kShedAtOnce) {
    Socket socket(ioc_);
    acceptor_.accept(socket, ec);
    if (!ec) {
      refuse(std::move(socket), Refusal::no_descriptors);
      ++answered;
    }
  }
  spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return answered;
}

void Listener::refuse(Socket socket, Refusal why) {
  if (tls()) {
    // A TLS client would read a plain answer as garbage: it sees the connection closed.
    beast::error_code ignored;
    socket.shutdown(net::socket_base::shutdown_both, ignored);
    socket.close(ignored);
    return;
  }
  Response res = [&] {
    switch (why) {
      case Refusal::listener_full:
        return problem(bhttp::status::service_unavailable, "too-many-connections",
                       "Too many connections",
                       "the server already has " + std::to_string(options_.max_connections) +
                           " open connections; retry later",
                       11);
      case Refusal::address_full:
        return problem(bhttp::status::service_unavailable, "too-many-connections-from-address",
                       "Too many connections from this address",
                       "this address already has " +
                           std::to_string(options_.max_connections_per_address) +
                           " open connections; reuse them (keep-alive) or retry later",
                       11);
      case Refusal::no_descriptors:
        break;
    }
    return problem(
        bhttp::status::service_unavailable, "too-many-connections", "Too many connections",
        "the server has no file descriptor left for another connection; retry later", 11);
  }();
  res.set(bhttp::field::retry_after, std::to_string(options_.refused_retry_after.count()));
  res.set(bhttp::field::server, options_.server_name);
  answer_and_close(std::move(socket), std::move(res));
}

// One line per client address (or for the listener's limit) per interval, with the number of
// connections refused since the previous line: a flood must not flood the journal too.
void Listener::log_refusal(Refusal why, const std::optional<net::ip::address>& address) {
  const auto now = std::chrono::steady_clock::now();
  const std::string key = why == Refusal::address_full && address ? address->to_string() : "";
  if (refusals_.size() > 4096) {  // forget addresses not refused for a whole interval
    std::erase_if(refusals_, [&](const auto& entry) {
      return now - entry.second.last_logged() >= options_.refusal_log_interval;
    });
  }
  const std::size_t refused = refusals_[key].count(now, options_.refusal_log_interval);
  if (refused == 0) {
    return;
  }
  if (why == Refusal::address_full) {
    // The address is formatted here from the kernel's binary form: it carries no client text.
    spdlog::warn(
        "event=http.connection_refused listener={} reason=per_address address=\"{}\" "
        "limit={} refused={}",
        options_.name, key, options_.max_connections_per_address, refused);
  } else {
    spdlog::warn(
        "event=http.connection_refused listener={} reason=listener_full limit={} "
        "refused={}",
        options_.name, options_.max_connections, refused);
  }
}

void Listener::on_stop(std::function<void()> done, std::chrono::milliseconds grace) {
  stopping_.store(true, std::memory_order_release);
  beast::error_code ignored;
  if (acceptor_.is_open() && !socket_path_.empty())
    ::unlink(socket_path_.c_str());
  acceptor_.close(ignored);
  retry_timer_.cancel();
  bool first_stop = false;
  {
    std::lock_guard lock(mutex_);
    if (done) {
      done_.push_back(std::move(done));
    }
    first_stop = !stop_requested_;
    stop_requested_ = true;
  }
  if (first_stop) {
    for (const auto& session : live_sessions()) {
      session->on_server_stopping();
    }
    grace_timer_.expires_after(grace);
    grace_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->on_grace_elapsed();
      }
    });
  }
  finish_if_drained(std::unique_lock(mutex_));
}

void Listener::on_grace_elapsed() {
  for (const auto& session : live_sessions()) {
    session->force_close();
  }
}

void Listener::unregister(const SessionBase* session) {
  std::unique_lock lock(mutex_);
  if (const auto found = sessions_.find(session); found != sessions_.end()) {
    if (const auto& address = found->second.address) {
      if (const auto count = per_address_.find(*address); count != per_address_.end()) {
        if (--count->second == 0) {
          per_address_.erase(count);
        }
      }
    }
    sessions_.erase(found);
  }
  finish_if_drained(std::move(lock));
}

void Listener::finish_if_drained(std::unique_lock<std::mutex> lock) {
  if (!stop_requested_ || !sessions_.empty()) {
    return;
  }
  std::vector<std::function<void()>> done;
  done.swap(done_);
  lock.unlock();
  net::post(strand_, [self = shared_from_this()] { self->grace_timer_.cancel(); });
  for (auto& callback : done) {
    net::post(ioc_, std::move(callback));
  }
}

std::vector<std::shared_ptr<SessionBase>> Listener::live_sessions() const {
  std::vector<std::shared_ptr<SessionBase>> live;
  std::lock_guard lock(mutex_);
  live.reserve(sessions_.size());
  for (const auto& [key, registered] : sessions_) {
    if (auto session = registered.session.lock()) {
      live.push_back(std::move(session));
    }
  }
  return live;
}

std::shared_ptr<TlsContext> Listener::tls() const {
  std::lock_guard lock(mutex_);
  return tls_;
}

void Listener::set_tls(std::shared_ptr<TlsContext> tls) {
  std::lock_guard lock(mutex_);
  tls_ = std::move(tls);
}

void Listener::log_handshake_failure(const std::string& client, const beast::error_code& ec) {
  std::size_t failed = 0;
  {
    std::lock_guard lock(mutex_);
    failed =
        handshake_failures_.count(std::chrono::steady_clock::now(), options_.refusal_log_interval);
  }
  if (failed == 0)
    return;
  // The address is formatted from the kernel's binary form; the reason is OpenSSL's.
  spdlog::warn("event=http.tls_handshake_failed listener={} client=\"{}\" error={} failed={}",
               options_.name, client, core::quoted(ec.message()), failed);
}

}  // namespace

std::expected<std::shared_ptr<TlsContext>, std::string> make_tls_context(
    const TlsSettings& settings) {
  try {
    boost::asio::ssl::context context(boost::asio::ssl::context::tls_server);
    SSL_CTX* native = context.native_handle();
    // Whatever fails below leaves OpenSSL's reasons on this thread's queue: not for the next.
    struct ClearErrors {
      ~ClearErrors() { ERR_clear_error(); }
    } clear_errors;
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
      return std::unexpected("cannot require TLS 1.2 or later");
    context.set_options(boost::asio::ssl::context::default_workarounds |
                        boost::asio::ssl::context::no_compression |
                        boost::asio::ssl::context::single_dh_use);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    context.use_certificate_chain(
        boost::asio::buffer(settings.certificate_pem.data(), settings.certificate_pem.size()));
    context.use_private_key(boost::asio::buffer(settings.key_pem.data(), settings.key_pem.size()),
                            boost::asio::ssl::context::pem);
    if (SSL_CTX_check_private_key(native) != 1)
      return std::unexpected("the key is not the certificate's");
    if (!settings.client_ca_pem.empty()) {
      context.add_certificate_authority(
          boost::asio::buffer(settings.client_ca_pem.data(), settings.client_ca_pem.size()));
      context.set_verify_mode(boost::asio::ssl::verify_peer |
                              boost::asio::ssl::verify_fail_if_no_peer_cert);
      // Sessions resumed (TLS 1.2) must have been set up under this verification: without a
      // context id, OpenSSL fails the handshake of every client that offers one.
      static constexpr unsigned char kSessionContext[] = "treve";
      SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
      // The authorities a client may choose its certificate from, named in the handshake.
      if (BIO* bio = BIO_new_mem_buf(settings.client_ca_pem.data(),
                                     static_cast<int>(settings.client_ca_pem.size()))) {
        if (STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null()) {
          while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
            X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert));
            if (name && sk_X509_NAME_push(names, name) == 0)
              X509_NAME_free(name);
            X509_free(cert);
          }
          SSL_CTX_set_client_CA_list(native, names);
        }
        BIO_free(bio);
      }
    }
    return std::make_shared<TlsContext>(std::move(context));
  } catch (const boost::system::system_error& e) {
    return std::unexpected(e.code().message());
  }
}

struct Server::Impl final : Listener {
  using Listener::Listener;
};

Server::Server(boost::asio::io_context& ioc, ClientHandler handler, ServerOptions options)
    : impl_(std::make_shared<Impl>(ioc, std::move(handler), std::move(options))) {}

Server::Server(boost::asio::io_context& ioc, Handler handler, ServerOptions options)
    : Server(
          ioc,
          [handler = std::move(handler)](const Client&, Request&& req, Respond respond) {
            handler(std::move(req), std::move(respond));
          },
          std::move(options)) {}

// Without a stop, everything is closed at once (the io_context may no longer run, in which case
// the posted work is dropped with it).
Server::~Server() {
  impl_->stop(nullptr, std::chrono::milliseconds{0});
}

std::expected<void, std::string> Server::listen(const std::string& host_port) {
  return impl_->listen(host_port);
}

boost::asio::ip::tcp::endpoint Server::local_endpoint() const {
  return impl_->local_endpoint();
}

void Server::start() {
  impl_->start();
}

void Server::set_tls(std::shared_ptr<TlsContext> tls) {
  impl_->set_tls(std::move(tls));
}

void Server::stop(std::function<void()> done) {
  impl_->stop(std::move(done), impl_->options().shutdown_grace);
}

std::size_t Server::open_connections() const {
  return impl_->open_connections();
}

}  // namespace treve::http
