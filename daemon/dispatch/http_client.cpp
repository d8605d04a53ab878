// libcurl's multi "socket" interface run by an io_context.
//
// curl decides what to wait for and tells us through two callbacks: the socket callback (wait
// for this descriptor to become readable and/or writable, or stop waiting) and the timer
// callback (call back in N ms). Each readiness and each timer expiry is handed back with
// curl_multi_socket_action, after which finished transfers are collected and their callbacks
// called. Nothing ever blocks or polls: Asio's reactor does the waiting.
//
// Descriptors. curl opens and closes its connections through CURLOPT_OPENSOCKETFUNCTION and
// CURLOPT_CLOSESOCKETFUNCTION, so each connection's descriptor belongs to a tcp::socket of ours
// (in `watches_`, keyed by descriptor): curl only uses the number, and closing is always done by
// the tcp::socket, once. Closing it cancels its pending waits, whose handlers then run with
// operation_aborted, find no watch under that descriptor and id, and do nothing; so a wait never
// outlives the descriptor it watches. A descriptor curl asks us to watch but did not open
// through us (the wake-up socket of its resolver thread) is watched through a duplicate of our
// own (F_DUPFD), which we close when curl says to stop watching; the descriptor itself stays
// curl's, and closing it early cannot disturb the duplicate's registration with the reactor.
//
// Lifetime. Asio handlers hold the Impl weakly, and keep it alive while they run: a callback
// may destroy the client, after which the handler only notices `closed_` and returns.
#include "daemon/dispatch/http_client.h"
#include "daemon/core/log_field.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace treve::dispatch {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

// The part of a response body kept for the caller; the rest is read and dropped so that the
// connection stays usable.
constexpr std::size_t kMaxResponseBody = 4 * 1024;
// Easy handles kept for reuse once their transfer is over.
constexpr std::size_t kMaxIdleHandles = 64;

std::once_flag curl_init_once;
CURLcode curl_init_result = CURLE_OK;

void init_curl() {
  std::call_once(curl_init_once, [] { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init_result != CURLE_OK) {
    throw std::runtime_error(std::string("curl_global_init failed: ") +
                             curl_easy_strerror(curl_init_result));
  }
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kBlank = " \t\r\n";
  const auto first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(kBlank) - first + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

long clamp_ms(std::chrono::milliseconds duration) {
  return static_cast<long>(std::max<std::chrono::milliseconds::rep>(duration.count(), 1));
}

}  // namespace

class HttpClient::Impl : public std::enable_shared_from_this<HttpClient::Impl> {
 public:
  Impl(net::io_context& ioc, const Options& options);
  ~Impl() { shutdown(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void post(HttpRequest request, std::function<void(HttpResponse)> done);
  void send_mail(MailRequest request, std::function<void(MailResponse)> done);
  void cancel_all();
  // Removes every transfer without calling its callback and releases curl; idempotent.
  void shutdown();
  std::size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  // One request (a POST or an e-mail) handed to curl. Owned by `transfers_` until curl is done
  // with its easy handle (the handle points into it: request body, header or recipient list,
  // error buffer, response).
  struct Transfer {
    Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
    ~Transfer() {
      curl_slist_free_all(headers);
      curl_slist_free_all(recipients);
    }

    curl_slist* headers = nullptr;
    std::string request_body;  // the POST body, or the e-mail
    HttpResponse response;
    std::size_t max_body = kMaxResponseBody;  // of the response, kept; the rest is dropped
    std::function<void(HttpResponse)> done;
    // An e-mail: its recipients, how much of it curl has read, and its callback (set instead
    // of `done`).
    curl_slist* recipients = nullptr;
    std::size_t uploaded = 0;
    std::function<void(MailResponse)> mail_done;
    std::array<char, CURL_ERROR_SIZE> error{};
  };

  // A descriptor curl uses, and what curl wants to know about it.
  struct Watch {
    std::uint64_t id = 0;  // tells a watch from an earlier one under the same descriptor number
    std::optional<tcp::socket> socket;  // a connection opened here for curl (owns the descriptor)
    std::optional<net::posix::stream_descriptor> copy;  // our duplicate of a descriptor of curl's
    int wanted = 0;                                     // CURL_POLL_IN / CURL_POLL_OUT bits
    bool read_waiting = false;
    bool write_waiting = false;
  };

  enum class Direction { read, write };

  // A finished transfer's callback, its answer bound to it.
  using Finished = std::function<void()>;

  // curl callbacks; `userp` / `clientp` is the Impl.
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);
  static curl_socket_t on_open_socket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static int on_close_socket(void* clientp, curl_socket_t fd);
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* userp);
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* userp);
  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* userp);
  static int on_seek(void* userp, curl_off_t offset, int origin);
  static std::size_t on_discard(char* data, std::size_t size, std::size_t count, void* userp);

  CURLcode configure(CURL* easy, Transfer& transfer, const HttpRequest& request);
  CURLcode configure_mail(CURL* easy, Transfer& transfer, const MailRequest& request);
  CURLcode configure_common(CURL* easy, Transfer& transfer, std::chrono::milliseconds timeout,
                            std::chrono::milliseconds connect_timeout, const std::string& ca_file);
  // Hands `transfer` to curl, set up by `setup`; a failure is answered later.
  template <class Setup>
  void start(std::unique_ptr<Transfer> transfer, Setup setup);
  void update_watch(curl_socket_t fd, int what);
  void set_timer(long timeout_ms);
  curl_socket_t open_socket(curlsocktype purpose, const curl_sockaddr& address);
  int close_socket(curl_socket_t fd);

  Watch* find_watch(curl_socket_t fd, std::uint64_t id);
  Watch* watch_foreign(curl_socket_t fd);
  void wait(curl_socket_t fd, Watch& watch, Direction direction);
  void on_ready(curl_socket_t fd, std::uint64_t id, Direction direction, const error_code& ec);
  void on_timeout(std::uint64_t generation);

  // Tells curl about an event, then reports the transfers that finished.
  void socket_action(curl_socket_t fd, int events);
  std::vector<Finished> collect_finished();
  void deliver(std::vector<Finished>& finished);
  // The callback of `transfer` with an answer of status 0 (reply 0) and `error`.
  static Finished failure(Transfer& transfer, std::string error, bool timed_out = false);
  void fail_later(Transfer& transfer, std::string error);
  static void invoke(Finished& finished);

  // Takes an unfinished transfer out of the multi handle (its connection is closed).
  void abandon(CURL* easy, const Transfer& transfer);
  CURL* acquire_easy();
  void recycle_easy(CURL* easy);

  net::io_context& ioc_;
  CURLM* multi_ = nullptr;
  net::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;  // the wait that the latest timer callback asked for
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::unordered_map<curl_socket_t, std::unique_ptr<Watch>> watches_;
  std::uint64_t next_watch_id_ = 1;
  std::vector<CURL*> idle_easies_;
  std::atomic<std::size_t> in_flight_{0};
  bool closed_ = false;
};

// ---- Setup --------------------------------------------------------------------------------

HttpClient::Impl::Impl(net::io_context& ioc, const Options& options) : ioc_(ioc), timer_(ioc) {
  init_curl();
  multi_ = curl_multi_init();
  if (multi_ == nullptr) {
    throw std::runtime_error("curl_multi_init failed");
  }
  CURLMcode rc = CURLM_OK;
  const auto check = [&rc](CURLMcode result) {
    if (rc == CURLM_OK) {
      rc = result;
    }
  };
  check(curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket));
  check(curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this));
  check(curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::on_timer));
  check(curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this));
  check(curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX));
  check(curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections));
  check(curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_total_connections));
  check(curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options.max_total_connections));
  if (rc != CURLM_OK) {
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
    throw std::runtime_error(std::string("curl_multi_setopt failed: ") + curl_multi_strerror(rc));
  }
}

CURLcode HttpClient::Impl::configure_common(CURL* easy, Transfer& transfer,
                                            std::chrono::milliseconds timeout,
                                            std::chrono::milliseconds connect_timeout,
                                            const std::string& ca_file) {
  CURLcode rc = CURLE_OK;
  const auto check = [&rc](CURLcode result) {
    if (rc == CURLE_OK) {
      rc = result;
    }
  };
  check(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  check(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, clamp_ms(timeout)));
  check(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, clamp_ms(connect_timeout)));
  if (!ca_file.empty()) {
    check(curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file.c_str()));
  }
  check(curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L));
  check(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error.data()));
  check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &Impl::on_open_socket));
  check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this));
  check(curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &Impl::on_close_socket));
  check(curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this));
  return rc;
}

CURLcode HttpClient::Impl::configure(CURL* easy, Transfer& transfer, const HttpRequest& request) {
  CURLcode rc =
      configure_common(easy, transfer, request.timeout, request.connect_timeout, request.ca_file);
  const auto check = [&rc](CURLcode result) {
    if (rc == CURLE_OK) {
      rc = result;
    }
  };
  check(curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str()));
  check(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
  check(curl_easy_setopt(easy, CURLOPT_POST, 1L));
  // Not copied by curl: the transfer keeps the body until the handle is done with it.
  check(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(transfer.request_body.size())));
  check(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.request_body.data()));
  check(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers));
  check(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)));
  // Over TLS a burst of requests to a new host waits for the first connection to tell whether
  // it multiplexes (HTTP/2) rather than opening a connection each. Over plain HTTP the answer
  // is always HTTP/1.1, so there is nothing to wait for.
  if (istarts_with(request.url, "https://")) {
    check(curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L));
  }
  check(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_body));
  check(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer));
  check(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::on_header));
  check(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer));
  return rc;
}

// curl speaks SMTP itself: EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA, the message read
// through on_read with its lines starting with a dot doubled, and the final dot. A connection
// is kept for the next message (without QUIT) when the session ended well; after a refusal
// curl closes it.
CURLcode HttpClient::Impl::configure_mail(CURL* easy, Transfer& transfer,
                                          const MailRequest& request) {
  CURLcode rc =
      configure_common(easy, transfer, request.timeout, request.connect_timeout, request.ca_file);
  const auto check = [&rc](CURLcode result) {
    if (rc == CURLE_OK) {
      rc = result;
    }
  };
  check(curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str()));
  check(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps"));
  const long use_ssl = request.tls == MailTls::required        ? CURLUSESSL_ALL
                       : request.tls == MailTls::opportunistic ? CURLUSESSL_TRY
                                                               : CURLUSESSL_NONE;
  check(curl_easy_setopt(easy, CURLOPT_USE_SSL, use_ssl));
  if (!request.username.empty()) {
    check(curl_easy_setopt(easy, CURLOPT_USERNAME, request.username.c_str()));
    check(curl_easy_setopt(easy, CURLOPT_PASSWORD, request.password.c_str()));
    // AUTH PLAIN with its initial response: one round trip less.
    check(curl_easy_setopt(easy, CURLOPT_SASL_IR, 1L));
  }
  check(curl_easy_setopt(easy, CURLOPT_MAIL_FROM, request.mail_from.c_str()));
  check(curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, transfer.recipients));
  check(curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L));
  check(curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE,
                         static_cast<curl_off_t>(transfer.request_body.size())));
  check(curl_easy_setopt(easy, CURLOPT_READFUNCTION, &Impl::on_read));
  check(curl_easy_setopt(easy, CURLOPT_READDATA, &transfer));
  // Lets curl start the message again on another connection when a kept one turns out dead.
  check(curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &Impl::on_seek));
  check(curl_easy_setopt(easy, CURLOPT_SEEKDATA, &transfer));
  check(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_discard));
  return rc;
}

// ---- Requests -----------------------------------------------------------------------------

void HttpClient::Impl::post(HttpRequest request, std::function<void(HttpResponse)> done) {
  if (closed_) {
    return;
  }
  auto transfer = std::make_unique<Transfer>();
  transfer->done = std::move(done);
  transfer->request_body = std::move(request.body);
  transfer->max_body = request.max_response_body;

  bool has_expect = false;
  for (const auto& [name, value] : request.headers) {
    // "Name:" would make curl drop the header; "Name;" is its way of sending an empty value.
    std::string line = name;
    line += value.empty() ? ";" : ": " + value;
    has_expect = has_expect || iequals(name, "expect");
    curl_slist* list = curl_slist_append(transfer->headers, line.c_str());
    if (list == nullptr) {
      fail_later(*transfer, "out of memory for the request headers");
      return;
    }
    transfer->headers = list;
  }
  if (!has_expect) {
    // No "Expect: 100-continue" round trip before large bodies: the receivers answer at once.
    curl_slist* list = curl_slist_append(transfer->headers, "Expect:");
    if (list == nullptr) {
      fail_later(*transfer, "out of memory for the request headers");
      return;
    }
    transfer->headers = list;
  }

  start(std::move(transfer),
        [this, &request](CURL* easy, Transfer& t) { return configure(easy, t, request); });
}

void HttpClient::Impl::send_mail(MailRequest request, std::function<void(MailResponse)> done) {
  if (closed_) {
    return;
  }
  auto transfer = std::make_unique<Transfer>();
  transfer->mail_done = std::move(done);
  transfer->request_body = std::move(request.message);
  for (const std::string& recipient : request.recipients) {
    curl_slist* list = curl_slist_append(transfer->recipients, recipient.c_str());
    if (list == nullptr) {
      fail_later(*transfer, "out of memory for the recipients");
      return;
    }
    transfer->recipients = list;
  }
  start(std::move(transfer),
        [this, &request](CURL* easy, Transfer& t) { return configure_mail(easy, t, request); });
}

template <class Setup>
void HttpClient::Impl::start(std::unique_ptr<Transfer> transfer, Setup setup) {
  CURL* easy = acquire_easy();
  if (easy == nullptr) {
    fail_later(*transfer, "curl_easy_init failed");
    return;
  }
  if (const CURLcode rc = setup(easy, *transfer); rc != CURLE_OK) {
    curl_easy_cleanup(easy);
    fail_later(*transfer, std::string("cannot set up the request: ") + curl_easy_strerror(rc));
    return;
  }
  transfers_.emplace(easy, std::move(transfer));
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  // Starts nothing yet: curl asks for a timeout of 0 ms and connects when it expires.
  if (const CURLMcode rc = curl_multi_add_handle(multi_, easy); rc != CURLM_OK) {
    curl_easy_cleanup(easy);  // before the transfer it points into goes
    auto node = transfers_.extract(easy);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    fail_later(*node.mapped(),
               std::string("curl_multi_add_handle failed: ") + curl_multi_strerror(rc));
  }
}

void HttpClient::Impl::cancel_all() {
  if (closed_) {
    return;
  }
  std::vector<Finished> cancelled;
  cancelled.reserve(transfers_.size());
  auto transfers = std::move(transfers_);
  transfers_.clear();
  for (auto& [easy, transfer] : transfers) {
    // A connection in the middle of a transfer is closed; idle ones stay cached.
    abandon(easy, *transfer);
    recycle_easy(easy);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    cancelled.push_back(failure(*transfer, "cancelled"));
  }
  transfers.clear();
  deliver(cancelled);
}

void HttpClient::Impl::shutdown() {
  if (closed_) {
    return;
  }
  closed_ = true;
  ++timer_generation_;
  timer_.cancel();
  for (auto& [easy, transfer] : transfers_) {
    abandon(easy, *transfer);
    curl_easy_cleanup(easy);
  }
  transfers_.clear();
  in_flight_.store(0, std::memory_order_relaxed);
  for (CURL* easy : idle_easies_) {
    curl_easy_cleanup(easy);
  }
  idle_easies_.clear();
  // curl ends a cached SMTP session with a QUIT whose answer it waits for, blocking, up to two
  // minutes: from a relay that no longer answers (or a firewall that forgot the connection),
  // none comes. Nothing is sent once a connection is shut down, so nothing is waited for.
  for (auto& [fd, watch] : watches_) {
    if (watch->socket) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  // Closes the cached connections, each through on_close_socket.
  curl_multi_cleanup(multi_);
  multi_ = nullptr;
  // What is left are duplicates of curl's descriptors (ours to close). A connection curl did
  // not close through us would be ours too: curl, now gone, will not close it.
  for (auto& [fd, watch] : watches_) {
    if (watch->socket) {
      spdlog::warn("event=http_client.descriptor_left fd={}: still open after curl's cleanup", fd);
    }
  }
  watches_.clear();
}

// curl finishes an SMTP transfer taken out of the multi handle as if it had ended well: it
// sends the end of the message and waits for the relay's answer, blocking, up to the
// transfer's timeout (its "DONE" phase is not asynchronous; curl's TODO, "More non-blocking").
// With a timeout already over, it gives up at once and closes the connection.
void HttpClient::Impl::abandon(CURL* easy, const Transfer& transfer) {
  if (transfer.mail_done) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 1L);
  }
  curl_multi_remove_handle(multi_, easy);
}

CURL* HttpClient::Impl::acquire_easy() {
  if (idle_easies_.empty()) {
    return curl_easy_init();
  }
  CURL* easy = idle_easies_.back();
  idle_easies_.pop_back();
  return easy;
}

// Called once the handle has left the multi: its options (and so its pointers into the
// transfer, which is about to go) are cleared before it waits for another request.
void HttpClient::Impl::recycle_easy(CURL* easy) {
  if (closed_ || idle_easies_.size() >= kMaxIdleHandles) {
    curl_easy_cleanup(easy);
    return;
  }
  curl_easy_reset(easy);
  idle_easies_.push_back(easy);
}

// ---- Completion ---------------------------------------------------------------------------

void HttpClient::Impl::socket_action(curl_socket_t fd, int events) {
  int running = 0;
  if (const CURLMcode rc = curl_multi_socket_action(multi_, fd, events, &running); rc != CURLM_OK) {
    spdlog::warn("event=http_client.socket_action_failed error={}",
                 core::quoted(curl_multi_strerror(rc)));
  }
  auto finished = collect_finished();
  deliver(finished);
}

std::vector<HttpClient::Impl::Finished> HttpClient::Impl::collect_finished() {
  std::vector<Finished> finished;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) {
      continue;
    }
    // `message` is freed by curl_multi_remove_handle.
    CURL* easy = message->easy_handle;
    const CURLcode result = message->data.result;
    auto node = transfers_.extract(easy);
    if (node.empty()) {
      curl_multi_remove_handle(multi_, easy);
      continue;
    }
    Transfer& transfer = *node.mapped();
    if (transfer.mail_done) {
      // The last reply is read whatever the outcome: a refused recipient's 451 or 550 is why.
      MailResponse mail;
      long reply = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply);
      mail.reply = static_cast<int>(reply);
      mail.accepted = result == CURLE_OK;
      if (!mail.accepted) {
        mail.error = transfer.error[0] != '\0' ? std::string(transfer.error.data())
                                               : std::string(curl_easy_strerror(result));
        mail.timed_out = result == CURLE_OPERATION_TIMEDOUT;
      }
      curl_multi_remove_handle(multi_, easy);
      recycle_easy(easy);
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      finished.emplace_back([done = std::move(transfer.mail_done),
                             mail = std::move(mail)]() mutable { done(std::move(mail)); });
      continue;
    }
    HttpResponse& response = transfer.response;
    long status = 0;
    if (result == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    }
    response.status = static_cast<int>(status);
    if (response.status == 0) {
      response.error = transfer.error[0] != '\0' ? std::string(transfer.error.data())
                       : result != CURLE_OK      ? std::string(curl_easy_strerror(result))
                                                 : std::string("no HTTP response");
      response.timed_out = result == CURLE_OPERATION_TIMEDOUT;
      response.retry_after.reset();
      response.body.clear();
    }
    curl_multi_remove_handle(multi_, easy);
    recycle_easy(easy);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    finished.emplace_back(
        [done = std::move(transfer.done), response = std::move(response)]() mutable {
          if (done) {
            done(std::move(response));
          }
        });
  }
  return finished;
}

// Stops at once if a callback destroys the client.
void HttpClient::Impl::deliver(std::vector<Finished>& finished) {
  for (Finished& callback : finished) {
    if (closed_) {
      return;
    }
    invoke(callback);
  }
}

void HttpClient::Impl::invoke(Finished& finished) {
  if (!finished) {
    return;
  }
  try {
    finished();
  } catch (const std::exception& e) {
    spdlog::error("event=http_client.callback_failed error={}", core::quoted(e.what()));
  } catch (...) {
    spdlog::error("event=http_client.callback_failed error=\"unknown exception\"");
  }
}

HttpClient::Impl::Finished HttpClient::Impl::failure(Transfer& transfer, std::string error,
                                                     bool timed_out) {
  if (transfer.mail_done) {
    MailResponse mail;
    mail.error = std::move(error);
    mail.timed_out = timed_out;
    return [done = std::move(transfer.mail_done), mail = std::move(mail)]() mutable {
      done(std::move(mail));
    };
  }
  HttpResponse response;
  response.error = std::move(error);
  response.timed_out = timed_out;
  return [done = std::move(transfer.done), response = std::move(response)]() mutable {
    if (done) {
      done(std::move(response));
    }
  };
}

// For a request that could not even be handed to curl: answered from the io_context, never
// from inside post() or send_mail().
void HttpClient::Impl::fail_later(Transfer& transfer, std::string error) {
  net::post(ioc_,
            [weak = weak_from_this(), callback = failure(transfer, std::move(error))]() mutable {
              const auto self = weak.lock();
              if (!self || self->closed_) {
                return;
              }
              invoke(callback);
            });
}

std::size_t HttpClient::Impl::on_body(char* data, std::size_t size, std::size_t count,
                                      void* userp) {
  auto& transfer = *static_cast<Transfer*>(userp);
  auto& body = transfer.response.body;
  const std::size_t length = size * count;
  if (body.size() < transfer.max_body) {
    body.append(data, std::min(length, transfer.max_body - body.size()));
  }
  return length;
}

std::size_t HttpClient::Impl::on_read(char* buffer, std::size_t size, std::size_t count,
                                      void* userp) {
  auto& transfer = *static_cast<Transfer*>(userp);
  const std::string& message = transfer.request_body;
  const std::size_t n = std::min(size * count, message.size() - transfer.uploaded);
  std::memcpy(buffer, message.data() + transfer.uploaded, n);
  transfer.uploaded += n;
  return n;
}

int HttpClient::Impl::on_seek(void* userp, curl_off_t offset, int origin) {
  auto& transfer = *static_cast<Transfer*>(userp);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<std::size_t>(offset) > transfer.request_body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  transfer.uploaded = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

std::size_t HttpClient::Impl::on_discard(char*, std::size_t size, std::size_t count, void*) {
  return size * count;
}

std::size_t HttpClient::Impl::on_header(char* data, std::size_t size, std::size_t count,
                                        void* userp) {
  auto& response = static_cast<Transfer*>(userp)->response;
  const std::size_t length = size * count;
  const std::string_view line(data, length);
  if (line.starts_with("HTTP/")) {
    // The status line of a new response (the final one follows any 1xx): its own headers.
    response.retry_after.reset();
  } else if (const auto colon = line.find(':');
             colon != std::string_view::npos &&
             iequals(trim(line.substr(0, colon)), "retry-after")) {
    response.retry_after = std::string(trim(line.substr(colon + 1)));
  }
  return length;
}

// ---- Sockets ------------------------------------------------------------------------------

curl_socket_t HttpClient::Impl::on_open_socket(void* clientp, curlsocktype purpose,
                                               curl_sockaddr* address) {
  return static_cast<Impl*>(clientp)->open_socket(purpose, *address);
}

int HttpClient::Impl::on_close_socket(void* clientp, curl_socket_t fd) {
  return static_cast<Impl*>(clientp)->close_socket(fd);
}

int HttpClient::Impl::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
  static_cast<Impl*>(userp)->update_watch(fd, what);
  return 0;
}

// HTTP(S) and SMTP need TCP over IPv4 or IPv6 only; anything else is refused (curl then fails
// the connection attempt).
curl_socket_t HttpClient::Impl::open_socket(curlsocktype purpose, const curl_sockaddr& address) {
  if (closed_ || purpose != CURLSOCKTYPE_IPCXN || address.socktype != SOCK_STREAM ||
      (address.family != AF_INET && address.family != AF_INET6)) {
    return CURL_SOCKET_BAD;
  }
  auto watch = std::make_unique<Watch>();
  watch->id = next_watch_id_++;
  watch->socket.emplace(ioc_);
  error_code ec;
  watch->socket->open(address.family == AF_INET6 ? tcp::v6() : tcp::v4(), ec);
  if (ec) {
    spdlog::warn("event=http_client.socket_failed error={}", core::quoted(ec.message()));
    return CURL_SOCKET_BAD;
  }
  const curl_socket_t fd = watch->socket->native_handle();
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  // The number may still name the duplicate-watch of a descriptor curl has since closed.
  watches_.erase(fd);
  watches_.emplace(fd, std::move(watch));
  return fd;
}

int HttpClient::Impl::close_socket(curl_socket_t fd) {
  const auto it = watches_.find(fd);
  if (it != watches_.end() && it->second->socket) {
    // Deregisters from the reactor, closes the descriptor, and completes the pending waits with
    // operation_aborted; their handlers find no watch and return.
    error_code ec;
    it->second->socket->close(ec);
    watches_.erase(it);
    return ec ? -1 : 0;
  }
  // Not a descriptor of ours (curl opens its connections through us, so this is not expected):
  // do what curl would have done.
  if (it != watches_.end()) {
    watches_.erase(it);
  }
  return ::close(fd);
}

void HttpClient::Impl::update_watch(curl_socket_t fd, int what) {
  auto it = watches_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (it == watches_.end()) {
      return;
    }
    Watch& watch = *it->second;
    if (watch.copy) {
      watches_.erase(it);  // closes our duplicate; its waits complete with operation_aborted
      return;
    }
    // A connection going idle in curl's cache, or about to be closed: stop waiting on it.
    watch.wanted = 0;
    if (watch.read_waiting || watch.write_waiting) {
      error_code ignored;
      watch.socket->cancel(ignored);
    }
    return;
  }
  if (closed_) {
    return;
  }
  Watch* watch = it != watches_.end() ? it->second.get() : watch_foreign(fd);
  if (watch == nullptr) {
    return;
  }
  watch->wanted = what & (CURL_POLL_IN | CURL_POLL_OUT);
  if ((watch->wanted & CURL_POLL_IN) != 0) {
    wait(fd, *watch, Direction::read);
  }
  if ((watch->wanted & CURL_POLL_OUT) != 0) {
    wait(fd, *watch, Direction::write);
  }
}

HttpClient::Impl::Watch* HttpClient::Impl::watch_foreign(curl_socket_t fd) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    spdlog::warn("event=http_client.watch_failed fd={}: cannot duplicate the descriptor", fd);
    return nullptr;
  }
  auto watch = std::make_unique<Watch>();
  watch->id = next_watch_id_++;
  watch->copy.emplace(ioc_);
  error_code ec;
  watch->copy->assign(copy, ec);
  if (ec) {
    ::close(copy);
    spdlog::warn("event=http_client.watch_failed fd={} error={}", fd, core::quoted(ec.message()));
    return nullptr;
  }
  return watches_.emplace(fd, std::move(watch)).first->second.get();
}

HttpClient::Impl::Watch* HttpClient::Impl::find_watch(curl_socket_t fd, std::uint64_t id) {
  const auto it = watches_.find(fd);
  return it != watches_.end() && it->second->id == id ? it->second.get() : nullptr;
}

// At most one wait per direction is pending; a wait left over from an earlier wish of curl's
// is not cancelled but ignored when it completes.
void HttpClient::Impl::wait(curl_socket_t fd, Watch& watch, Direction direction) {
  bool& waiting = direction == Direction::read ? watch.read_waiting : watch.write_waiting;
  if (waiting) {
    return;
  }
  waiting = true;
  auto handler = [weak = weak_from_this(), fd, id = watch.id, direction](const error_code& ec) {
    if (const auto self = weak.lock()) {
      self->on_ready(fd, id, direction, ec);
    }
  };
  if (watch.socket) {
    watch.socket->async_wait(
        direction == Direction::read ? tcp::socket::wait_read : tcp::socket::wait_write,
        std::move(handler));
  } else {
    using Descriptor = net::posix::stream_descriptor;
    watch.copy->async_wait(
        direction == Direction::read ? Descriptor::wait_read : Descriptor::wait_write,
        std::move(handler));
  }
}

void HttpClient::Impl::on_ready(curl_socket_t fd, std::uint64_t id, Direction direction,
                                const error_code& ec) {
  Watch* watch = find_watch(fd, id);
  if (watch == nullptr) {
    return;  // closed (or replaced) while the wait was pending
  }
  (direction == Direction::read ? watch->read_waiting : watch->write_waiting) = false;
  const int bit = direction == Direction::read ? CURL_POLL_IN : CURL_POLL_OUT;
  if (closed_ || (watch->wanted & bit) == 0) {
    return;
  }
  if (ec != net::error::operation_aborted) {
    const int event = ec                             ? CURL_CSELECT_ERR
                      : direction == Direction::read ? CURL_CSELECT_IN
                                                     : CURL_CSELECT_OUT;
    socket_action(fd, event);
    if (closed_ || ec) {
      return;  // after an error curl says itself whether to wait again
    }
    watch = find_watch(fd, id);
    if (watch == nullptr) {
      return;
    }
  }
  // curl still wants this direction (or wants it again after a cancelled wait).
  if ((watch->wanted & bit) != 0) {
    wait(fd, *watch, direction);
  }
}

// ---- Timer --------------------------------------------------------------------------------

int HttpClient::Impl::on_timer(CURLM*, long timeout_ms, void* userp) {
  static_cast<Impl*>(userp)->set_timer(timeout_ms);
  return 0;
}

// A new timeout replaces the previous one; -1 removes it. A timeout of 0 still goes through
// the timer: curl must not be called back from inside its own callback.
void HttpClient::Impl::set_timer(long timeout_ms) {
  const std::uint64_t generation = ++timer_generation_;
  timer_.cancel();
  if (closed_ || timeout_ms < 0) {
    return;
  }
  timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  timer_.async_wait([weak = weak_from_this(), generation](const error_code& ec) {
    if (ec) {
      return;
    }
    if (const auto self = weak.lock()) {
      self->on_timeout(generation);
    }
  });
}

// An expiry that had already been queued when the timeout was replaced is dropped.
void HttpClient::Impl::on_timeout(std::uint64_t generation) {
  if (closed_ || generation != timer_generation_) {
    return;
  }
  socket_action(CURL_SOCKET_TIMEOUT, 0);
}

// ---- HttpClient ---------------------------------------------------------------------------

HttpClient::HttpClient(boost::asio::io_context& ioc, Options options)
    : impl_(std::make_shared<Impl>(ioc, options)) {}

HttpClient::~HttpClient() {
  impl_->shutdown();
}

void HttpClient::post(HttpRequest request, std::function<void(HttpResponse)> done) {
  impl_->post(std::move(request), std::move(done));
}

void HttpClient::send_mail(MailRequest request, std::function<void(MailResponse)> done) {
  impl_->send_mail(std::move(request), std::move(done));
}

void HttpClient::cancel_all() {
  const auto keep = impl_;  // a callback may destroy the client
  keep->cancel_all();
}

std::size_t HttpClient::in_flight() const {
  return impl_->in_flight();
}

}  // namespace treve::dispatch
