// The HTTP/1.1 server under trêve's APIs: a listener that accepts connections and a session
// per connection (keep-alive, one request at a time, a deadline on every read), shaped like
// the Beast/Asio examples. It knows nothing of events: each request goes to a `Handler`,
// which answers through `Respond` — at once or later, from any thread (the store answers
// after its commit). Lives on one io_context; `start` and `stop` are called from its thread
// or before it runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace treve::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
// Call exactly once, from any thread.
using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Respond)>;

// Who sent a request, for logs: "192.0.2.7:50312", "[2001:db8::1]:50312", or "unix" for a client
// of a unix socket (which has no address of its own).
struct Client {
  std::string address;
};
// A handler that is also told who sent the request.
using ClientHandler = std::function<void(const Client&, Request&&, Respond)>;

struct ServerOptions {
  // Time allowed to receive one whole request (header and body) once it has started.
  std::chrono::milliseconds read_timeout{10'000};
  // Time a keep-alive connection may stay idle between requests.
  std::chrono::milliseconds idle_timeout{60'000};
  // Time allowed to write a response to a slow reader.
  std::chrono::milliseconds write_timeout{10'000};
  // Largest request body accepted, decided from the request's header (target, credentials)
  // before any of the body is read; larger ones get 413.
  std::function<std::size_t(const Request& header)> body_limit = [](const Request&) {
    return std::size_t{256 * 1024};
  };
  // Connections beyond this are accepted and closed at once (the listener never stalls).
  std::size_t max_connections = 1024;
  // On stop: how long requests in progress may take before their connections are closed.
  std::chrono::milliseconds shutdown_grace{5'000};
  std::string server_name = "treve";
};

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

  // Stops accepting, lets requests in progress finish (their responses are written) for at
  // most shutdown_grace, closes idle connections at once, then calls `done` on the io_context.
  void stop(std::function<void()> done);

  std::size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::http
