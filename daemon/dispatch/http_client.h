// An asynchronous HTTP client for POST requests, and SMTP client for e-mails, living on one
// io_context: libcurl's multi interface driven by Asio (the io_context waits on curl's sockets
// and its timer), so that many requests run at once on the io thread without a thread per
// request. Connections are kept and reused between requests (HTTP/1.1 keep-alive, HTTP/2
// multiplexing over TLS; an SMTP session sends one message after another, to the same relay
// with the same credentials and TLS settings).
//
// Everything but in_flight() and the destructor is called on the io_context's thread; the
// io_context is meant to be run by one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
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
  // https: a PEM file of the certificate authorities trusted instead of the system's.
  std::string ca_file;
  // How much of the response body is kept (HttpResponse::body); the rest is read and dropped.
  std::size_t max_response_body = 4 * 1024;
};

// How an SMTP session over smtp:// uses TLS (smtps:// is TLS from the start whatever this says).
enum class MailTls : std::uint8_t {
  required,       // STARTTLS or fail (CURLUSESSL_ALL)
  opportunistic,  // STARTTLS when the server offers it, else in clear (CURLUSESSL_TRY)
  off,            // never (CURLUSESSL_NONE)
};

// One e-mail handed to an SMTP relay.
struct MailRequest {
  // smtp://host[:port][/helo-domain] or smtps://… (the path, when given, is the EHLO name;
  // otherwise this machine's host name).
  std::string url;
  std::string mail_from;                // the envelope sender (MAIL FROM), a bare address
  std::vector<std::string> recipients;  // RCPT TO, bare addresses: all or nothing
  std::string message;                  // the whole message, CRLF line endings (curl dot-stuffs)
  // AUTH (PLAIN, LOGIN, … as the server offers) when `username` is not empty. The password is
  // never in an error, a log line or a response.
  std::string username;
  std::string password;
  MailTls tls = MailTls::required;
  // A PEM file of certificate authorities trusted instead of the system's. Empty: the system's.
  std::string ca_file;
  // The whole session (connecting, TLS, AUTH, the message) and connecting alone; below 1 ms
  // counts as 1 ms.
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
};

struct MailResponse {
  bool accepted = false;  // the relay took the message (its last reply was 2xx, curl had no error)
  // The last SMTP reply code read (a 451 or 550 refusing a recipient, the 250 taking the
  // message, a 220 or 250 before a failure of curl's own); 0 when no reply came at all.
  int reply = 0;
  std::string error;       // curl's error text when not accepted, or "cancelled"
  bool timed_out = false;  // the session or its connection ran out of time
};

struct HttpResponse {
  int status = 0;          // HTTP status; 0 when no (complete) response came (error set)
  std::string error;       // curl's error text when status == 0, or "cancelled"
  bool timed_out = false;  // the request or its connection ran out of time
  std::optional<std::string> retry_after;  // the raw Retry-After header value, if any (trimmed)
  std::string body;  // response body, truncated to HttpRequest::max_response_body
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

  // Sends an e-mail, on a connection kept from an earlier one to the same relay when there is
  // one. `done` as for post().
  //
  // One wait is not asynchronous: once the message is written, curl waits for the relay's
  // answer to its final dot blocking this thread (libcurl's SMTP "DONE" phase, on its TODO list
  // as "More non-blocking"), for as long as the relay takes, at most `timeout`. A relay on the
  // local network answers in a millisecond or two; a slow one holds every other transfer back
  // meanwhile. Cancelling, and destroying the client, never wait for a relay.
  void send_mail(MailRequest request, std::function<void(MailResponse)> done);

  // Aborts every transfer; each `done` gets status 0 (reply 0) and error "cancelled", before
  // cancel_all() returns.
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
