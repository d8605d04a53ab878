// A webhook receiver for integration tests: a real HTTP/1.1 server on 127.0.0.1 (an
// ephemeral port), built on Boost.Beast, that records every request it gets and answers each
// from a script. Keep-alive, any number of concurrent connections, served by its own threads.
//
// Also an independent verifier of Standard Webhooks signatures
// (https://www.standardwebhooks.com/), written directly against OpenSSL's EVP interfaces, so
// that the tests check the daemon's signatures without reusing its signing code.
//
// Header-only; everything is `inline` because several test files may include it.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace treve::itest {

// ---- what the receiver saw and how it answers ------------------------------------------------

struct WebhookRequest {
  int n = 0;                     // 0-based, in the order the requests were read completely
  std::uint64_t connection = 0;  // 1-based number of the TCP connection it came on
  std::chrono::system_clock::time_point arrived;  // wall clock, once the whole request was read
  std::chrono::steady_clock::time_point arrived_steady;
  std::string method;
  std::string target;
  std::string content_type;
  std::string webhook_id;
  std::string webhook_timestamp;
  std::string webhook_signature;
  std::string body;
  int status = 0;  // the status it was answered with (0 until the script has decided)
};

struct WebhookResponse {
  int status = 200;
  std::optional<std::string> retry_after;  // sent as `Retry-After` when set
  std::chrono::milliseconds delay{0};      // wait this long before answering
  std::string body;
};

// Decides the answer to a request; `n` is its 0-based arrival number. Called on the receiver's
// threads, possibly concurrently for requests on different connections: it must be
// thread-safe. It may call the receiver's read-only accessors (requests(), count()).
using WebhookScript = std::function<WebhookResponse(const WebhookRequest&, int n)>;

// ---- the server ------------------------------------------------------------------------------

class WebhookReceiver {
 public:
  explicit WebhookReceiver(WebhookScript script = {}, int threads = 2)
      : script_(std::move(script)), acceptor_(boost::asio::make_strand(ioc_)) {
    namespace net = boost::asio;
    using net::ip::tcp;
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
    accept();
    for (int i = 0; i < std::max(1, threads); ++i)
      threads_.emplace_back([this] { ioc_.run(); });
  }

  ~WebhookReceiver() { stop(); }
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/hooks/treve") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  // Replaces the script for the requests read from now on.
  void set_script(WebhookScript script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }

  // A copy of every request so far, in arrival order.
  std::vector<WebhookRequest> requests() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }
  std::uint64_t connections() const { return connections_.load(); }

  // Waits until at least `n` requests arrived; false on timeout.
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const {
    return wait_until([n](const std::vector<WebhookRequest>& r) { return r.size() >= n; }, timeout);
  }

  // Waits until at least `n` requests were answered (their status decided); false on timeout.
  bool wait_for_answered(std::size_t n, std::chrono::milliseconds timeout) const {
    return wait_until(
        [n](const std::vector<WebhookRequest>& r) {
          return static_cast<std::size_t>(std::count_if(
                     r.begin(), r.end(), [](const auto& x) { return x.status != 0; })) >= n;
        },
        timeout);
  }

  // Waits until `pred(requests)` holds (evaluated under the receiver's lock at each arrival
  // and answer, and at least every 50 ms); false on timeout.
  bool wait_until(const std::function<bool(const std::vector<WebhookRequest>&)>& pred,
                  std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
      if (pred(records_))
        return true;
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      changed_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  // Stops accepting, closes every connection and joins the threads. Idempotent.
  void stop() {
    if (stopped_.exchange(true))
      return;
    boost::asio::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable())
        t.join();
    }
  }

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(boost::asio::ip::tcp::socket&& socket, WebhookReceiver& owner, std::uint64_t id)
        : stream_(std::move(socket)), timer_(stream_.get_executor()), owner_(owner), id_(id) {}

    void start() {
      boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

   private:
    void read() {
      parser_.emplace();
      parser_->body_limit(256 * 1024 * 1024);
      parser_->header_limit(64 * 1024);
      stream_.expires_after(std::chrono::seconds(300));
      boost::beast::http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
            self->on_read(ec);
          });
    }

    void on_read(boost::system::error_code ec) {
      if (ec) {
        close();
        return;
      }
      auto req = parser_->release();
      const WebhookResponse answer = owner_.handle(req, id_);
      namespace http = boost::beast::http;
      response_ = http::response<http::string_body>{};
      response_.version(11);
      response_.result(static_cast<unsigned>(answer.status));
      response_.set(http::field::server, "treve-test-receiver");
      response_.set(http::field::content_type, "text/plain");
      if (answer.retry_after)
        response_.set(http::field::retry_after, *answer.retry_after);
      response_.body() = answer.body;
      keep_alive_ = req.keep_alive() && !owner_.stopped_.load();
      response_.keep_alive(keep_alive_);
      response_.prepare_payload();
      if (answer.delay.count() > 0) {
        timer_.expires_after(answer.delay);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
          if (e) {
            self->close();
            return;
          }
          self->write();
        });
      } else {
        write();
      }
    }

    void write() {
      stream_.expires_after(std::chrono::seconds(30));
      boost::beast::http::async_write(
          stream_, response_,
          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
            if (ec || !self->keep_alive_) {
              self->close();
              return;
            }
            self->read();
          });
    }

    void close() {
      boost::system::error_code ignored;
      stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      stream_.socket().close(ignored);
    }

    boost::beast::tcp_stream stream_;
    boost::asio::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    boost::beast::http::response<boost::beast::http::string_body> response_;
    bool keep_alive_ = true;
    WebhookReceiver& owner_;
    std::uint64_t id_;
  };

  void accept() {
    acceptor_.async_accept(
        boost::asio::make_strand(ioc_),
        [this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
          if (ec) {
            if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open())
              return;
            accept();  // e.g. too many open files for a moment: keep accepting
            return;
          }
          socket.set_option(boost::asio::ip::tcp::no_delay(true));
          std::make_shared<Session>(std::move(socket), *this, ++connections_)->start();
          accept();
        });
  }

  static std::string header(const boost::beast::http::request<boost::beast::http::string_body>& r,
                            std::string_view name) {
    auto it = r.find(boost::beast::string_view(name.data(), name.size()));
    return it == r.end() ? std::string() : std::string(it->value());
  }

  // Records the request, asks the script, records the answer's status.
  WebhookResponse handle(boost::beast::http::request<boost::beast::http::string_body>& req,
                         std::uint64_t connection) {
    WebhookRequest rec;
    rec.arrived = std::chrono::system_clock::now();
    rec.arrived_steady = std::chrono::steady_clock::now();
    rec.connection = connection;
    rec.method = std::string(req.method_string());
    rec.target = std::string(req.target());
    rec.content_type = header(req, "Content-Type");
    rec.webhook_id = header(req, "webhook-id");
    rec.webhook_timestamp = header(req, "webhook-timestamp");
    rec.webhook_signature = header(req, "webhook-signature");
    rec.body = std::move(req.body());
    WebhookScript script;
    {
      std::lock_guard lock(mutex_);
      rec.n = static_cast<int>(records_.size());
      records_.push_back(rec);
      script = script_;
    }
    changed_.notify_all();
    WebhookResponse answer;
    if (script) {
      try {
        answer = script(rec, rec.n);
      } catch (const std::exception& e) {
        answer = WebhookResponse{500, std::nullopt, std::chrono::milliseconds{0},
                                 std::string("script threw: ") + e.what()};
      }
    }
    {
      std::lock_guard lock(mutex_);
      records_[static_cast<std::size_t>(rec.n)].status = answer.status;
    }
    changed_.notify_all();
    return answer;
  }

  boost::asio::io_context ioc_;  // first: destroyed last, after everything using it
  WebhookScript script_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> connections_{0};
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<WebhookRequest> records_;
};

// ---- Standard Webhooks signatures, independently -------------------------------------------

// Base64 (RFC 4648, with padding) through OpenSSL's EVP encoder and decoder contexts.
inline std::string webhook_base64_encode(const unsigned char* data, std::size_t size) {
  std::string out;
  EVP_ENCODE_CTX* ctx = EVP_ENCODE_CTX_new();
  if (!ctx)
    throw std::runtime_error("EVP_ENCODE_CTX_new failed");
  EVP_EncodeInit(ctx);
  std::string buf(size * 2 + 80, '\0');
  int len = 0;
  int total = 0;
  if (EVP_EncodeUpdate(ctx, reinterpret_cast<unsigned char*>(buf.data()), &len, data,
                       static_cast<int>(size)) != 1) {
    EVP_ENCODE_CTX_free(ctx);
    throw std::runtime_error("EVP_EncodeUpdate failed");
  }
  total += len;
  EVP_EncodeFinal(ctx, reinterpret_cast<unsigned char*>(buf.data()) + total, &len);
  total += len;
  EVP_ENCODE_CTX_free(ctx);
  buf.resize(static_cast<std::size_t>(total));
  // The encoder breaks lines every 64 characters: one line is wanted.
  for (char c : buf) {
    if (c != '\n')
      out += c;
  }
  return out;
}

// nullopt when `text` is not valid base64.
inline std::optional<std::vector<unsigned char>> webhook_base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0)
    return std::nullopt;
  EVP_ENCODE_CTX* ctx = EVP_ENCODE_CTX_new();
  if (!ctx)
    return std::nullopt;
  EVP_DecodeInit(ctx);
  std::vector<unsigned char> out(text.size() / 4 * 3 + 4);
  int len = 0;
  int total = 0;
  int rc =
      EVP_DecodeUpdate(ctx, out.data(), &len, reinterpret_cast<const unsigned char*>(text.data()),
                       static_cast<int>(text.size()));
  if (rc < 0) {
    EVP_ENCODE_CTX_free(ctx);
    return std::nullopt;
  }
  total = len;
  if (EVP_DecodeFinal(ctx, out.data() + total, &len) != 1) {
    EVP_ENCODE_CTX_free(ctx);
    return std::nullopt;
  }
  total += len;
  EVP_ENCODE_CTX_free(ctx);
  out.resize(static_cast<std::size_t>(total));
  return out;
}

// A fresh secret in the form webhook sinks read: "whsec_" + base64 of 32 random bytes.
inline std::string make_webhook_secret() {
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return "whsec_" + webhook_base64_encode(key, sizeof key);
}

// Checks `webhook-signature` as the Standard Webhooks specification defines it:
//   v1,<base64(HMAC-SHA256(key, msg_id + "." + timestamp + "." + body))>
// where the key is the base64-decoded text after "whsec_"; the header holds one or more
// space-separated signatures, any v1 one of which may match.
class WebhookVerifier {
 public:
  explicit WebhookVerifier(std::string_view secret) {
    if (secret.starts_with("whsec_"))
      secret.remove_prefix(6);
    auto key = webhook_base64_decode(secret);
    if (!key || key->empty())
      throw std::invalid_argument("not a whsec_<base64> secret");
    key_ = std::move(*key);
  }

  // The raw HMAC-SHA256 over id.timestamp.body (EVP_MAC, OpenSSL 3).
  std::vector<unsigned char> mac(std::string_view id, std::string_view timestamp,
                                 std::string_view body) const {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (!hmac)
      throw std::runtime_error("EVP_MAC_fetch(HMAC) failed");
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    std::vector<unsigned char> out(EVP_MAX_MD_SIZE);
    std::size_t len = 0;
    bool ok = ctx && EVP_MAC_init(ctx, key_.data(), key_.size(), params) == 1;
    auto update = [&](std::string_view s) {
      ok = ok &&
           EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(s.data()), s.size()) == 1;
    };
    update(id);
    update(".");
    update(timestamp);
    update(".");
    update(body);
    ok = ok && EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    if (!ok)
      throw std::runtime_error("HMAC-SHA256 failed");
    out.resize(len);
    return out;
  }

  std::string sign(std::string_view id, std::string_view timestamp, std::string_view body) const {
    auto m = mac(id, timestamp, body);
    return "v1," + webhook_base64_encode(m.data(), m.size());
  }

  // Empty when the signature header holds a valid v1 signature of (id, timestamp, body);
  // otherwise why not.
  std::string check(std::string_view id, std::string_view timestamp, std::string_view body,
                    std::string_view signature_header) const {
    if (id.empty())
      return "no webhook-id";
    if (timestamp.empty() || !std::all_of(timestamp.begin(), timestamp.end(),
                                          [](char c) { return c >= '0' && c <= '9'; }))
      return "webhook-timestamp is not a number of seconds: \"" + std::string(timestamp) + "\"";
    if (signature_header.empty())
      return "no webhook-signature";
    const auto expected = mac(id, timestamp, body);
    std::string seen;
    std::string_view rest = signature_header;
    while (!rest.empty()) {
      const auto space = rest.find(' ');
      std::string_view entry = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      if (entry.empty())
        continue;
      seen += std::string(seen.empty() ? "" : ", ") + std::string(entry.substr(0, 12)) + "…";
      if (!entry.starts_with("v1,"))
        continue;
      auto sig = webhook_base64_decode(entry.substr(3));
      if (sig && sig->size() == expected.size() &&
          CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) == 0) {
        return {};
      }
    }
    return "no valid v1 signature among [" + seen + "] for webhook-id " + std::string(id);
  }

  std::string check(const WebhookRequest& r) const {
    return check(r.webhook_id, r.webhook_timestamp, r.body, r.webhook_signature);
  }
  bool verify(const WebhookRequest& r) const { return check(r).empty(); }

 private:
  std::vector<unsigned char> key_;
};

}  // namespace treve::itest
