// An asynchronous HTTP client for POST requests, living on one io_context: libcurl's multi
// interface driven by Asio (the io_context waits on curl's sockets and its timer), so that many
// requests run at once on the io thread without a thread per request. Connections are kept and
// reused between requests (HTTP/1.1 keep-alive, HTTP/2 multiplexing over TLS).
//
// Everything but in_flight() and the destructor is called on the io_context's thread; the
// io_context is meant to be run by one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace treve::dispatch {

struct HttpRequest {
  std::string url;                                           // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;  // sent as "Name: value"
  std::string body;                                          // POSTed as is
  // Time allowed for the whole request (connecting, sending, receiving the whole answer) and
  // for connecting alone. Values below 1 ms count as 1 ms: a request always has a deadline.
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
  // https: a PEM file of certificate authorities trusted instead of the system's (a sink's
  // `ca_file`: a private gateway, the tests' own CA). Empty: the system's.
  std::string ca_file;
};

struct HttpResponse {
  int status = 0;          // HTTP status; 0 when no (complete) response came (error set)
  std::string error;       // curl's error text when status == 0, or "cancelled"
  bool timed_out = false;  // the request or its connection ran out of time
  std::optional<std::string> retry_after;  // the raw Retry-After header value, if any (trimmed)
  std::string body;                        // response body, truncated to 4 KiB
};

class HttpClient {
 public:
  struct Options {
    long max_host_connections = 64;    // connections open to one host at most
    long max_total_connections = 256;  // connections open (and kept idle) in all at most
  };

  HttpClient(boost::asio::io_context& ioc, Options options);
  // Aborts the transfers still running without calling their callbacks; no callback runs once
  // the destructor has started. Call it on the io thread (a callback may destroy the client) or
  // once the io_context has stopped; the io_context must outlive the client.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a POST. `done` is called exactly once, later, on the io_context's thread (never from
  // inside post()), unless the client is destroyed first. A callback may call post(),
  // cancel_all() or destroy the client. Exceptions it throws are logged and swallowed.
  void post(HttpRequest request, std::function<void(HttpResponse)> done);

  // Aborts every transfer; each `done` gets status 0 and error "cancelled", before cancel_all()
  // returns.
  void cancel_all();

  // Transfers started and not finished (nor cancelled) yet. May be read from any thread.
  std::size_t in_flight() const;

 private:
  class Impl;
  // Shared with the pending Asio handlers (which hold it weakly) so that a handler running the
  // callback that destroys the client finishes on a live object.
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::dispatch
