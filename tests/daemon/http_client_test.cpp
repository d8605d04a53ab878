// The HTTP client against real receivers on loopback: trêve's own server (on an io_context of
// its own, run by one thread) where a well-formed answer is wanted, and a raw acceptor where
// misbehaviour is (no answer at all, or bytes written by hand). The client's io_context is run
// by the test's thread, as the daemon runs it: by one thread.
#include "daemon/dispatch/http_client.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include "daemon/http/server.h"

namespace treve::dispatch {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::Each;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::Le;
using ::testing::Not;

// trêve's HTTP server on 127.0.0.1, on an io_context run by a thread of its own.
class Receiver {
 public:
  explicit Receiver(http::Handler handler)
      : server_(ioc_, std::move(handler), http::ServerOptions{}) {
    if (auto listening = server_.listen("127.0.0.1:0"); !listening) {
      throw std::runtime_error(listening.error());
    }
    server_.start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Receiver() {
    auto stopped = std::make_shared<std::promise<void>>();
    auto future = stopped->get_future();
    net::post(ioc_, [this, stopped] { server_.stop([stopped] { stopped->set_value(); }); });
    future.wait_for(5s);
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::string url(const std::string& target = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(server_.local_endpoint().port()) + target;
  }
  unsigned short port() const { return server_.local_endpoint().port(); }
  std::size_t open_connections() const { return server_.open_connections(); }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
  http::Server server_;
  std::thread thread_;
};

http::Response answer(bhttp::status status, std::string body = {}) {
  http::Response res{status, 11};
  res.set(bhttp::field::content_type, "text/plain");
  res.body() = std::move(body);
  return res;
}

// A raw acceptor: accepts connections and never answers, or answers every request with the
// same bytes. Counts the connections it accepted and those the client closed.
class RawServer {
 public:
  explicit RawServer(std::string reply = {})
      : reply_(std::move(reply)),
        acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~RawServer() {
    ioc_.stop();
    thread_.join();
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hook";
  }
  // The same server as an SMTP relay that never greets.
  std::string smtp_url() const {
    return "smtp://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::size_t accepted() const { return accepted_.load(); }
  std::size_t closed_by_client() const { return closed_.load(); }

 private:
  struct Connection {
    explicit Connection(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::array<char, 4096> chunk{};
    std::string received;
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        return;
      }
      ++accepted_;
      read(std::make_shared<Connection>(std::move(socket)));
      accept();
    });
  }
  void read(std::shared_ptr<Connection> c) {
    c->socket.async_read_some(net::buffer(c->chunk),
                              [this, c](boost::system::error_code ec, std::size_t n) {
                                if (ec) {
                                  ++closed_;
                                  return;
                                }
                                c->received.append(c->chunk.data(), n);
                                if (!reply_.empty() && whole_request(c->received)) {
                                  c->received.clear();
                                  net::write(c->socket, net::buffer(reply_), ec);
                                }
                                read(c);
                              });
  }
  // Whether `bytes` hold a request's header and as much body as its Content-Length says.
  static bool whole_request(const std::string& bytes) {
    const auto end = bytes.find("\r\n\r\n");
    if (end == std::string::npos) {
      return false;
    }
    std::string header = bytes.substr(0, end);
    std::transform(header.begin(), header.end(), header.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    std::size_t length = 0;
    if (const auto at = header.find("content-length:"); at != std::string::npos) {
      length = std::stoul(header.substr(at + 15));
    }
    return bytes.size() >= end + 4 + length;
  }

  const std::string reply_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> closed_{0};
  std::thread thread_;
};

// How many descriptors this process has open.
std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// A port on 127.0.0.1 that nothing listens on.
unsigned short closed_port() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// This machine's name, if it resolves to 127.0.0.1 only (and is not "localhost", which curl
// answers itself): a name curl has to resolve with its resolver thread.
std::optional<std::string> loopback_host_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0 || std::string(name.data()) == "localhost") {
    return std::nullopt;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(name.data(), nullptr, &hints, &found) != 0) {
    return std::nullopt;
  }
  bool loopback = found != nullptr;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
    loopback = loopback && a->ai_family == AF_INET && ntohl(in->sin_addr.s_addr) == 0x7f000001;
  }
  freeaddrinfo(found);
  return loopback ? std::optional<std::string>(name.data()) : std::nullopt;
}

HttpRequest post_to(std::string url, std::string body = "{}") {
  HttpRequest request;
  request.url = std::move(url);
  request.body = std::move(body);
  request.headers = {{"Content-Type", "application/json"}};
  return request;
}

class HttpClientTest : public ::testing::Test {
 protected:
  // Runs the client's io_context on this thread until `done` holds; false after `limit`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
    const auto deadline = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() >= deadline) {
        return false;
      }
      if (ioc_.stopped()) {
        ioc_.restart();
      }
      ioc_.run_one_for(10ms);
    }
    return true;
  }
  // Runs the io_context for `duration` whatever happens.
  void run_for(std::chrono::milliseconds duration) {
    run_until([] { return false; }, duration);
  }
  // A callback that stores the response.
  std::function<void(HttpResponse)> into(std::vector<HttpResponse>& responses) {
    return [&responses](HttpResponse response) { responses.push_back(std::move(response)); };
  }

  net::io_context ioc_;
};

TEST_F(HttpClientTest, APostReachesTheServerWithItsBodyAndHeaders) {
  std::mutex mutex;
  std::optional<http::Request> received;
  Receiver receiver([&](http::Request&& req, http::Respond respond) {
    {
      std::lock_guard lock(mutex);
      received = std::move(req);
    }
    respond(answer(bhttp::status::created, "stored"));
  });
  HttpClient client(ioc_, {});

  HttpRequest request = post_to(receiver.url("/hooks/push?x=1"), R"({"event":"grade"})");
  request.headers.emplace_back("X-Trace", "abc 123");
  request.headers.emplace_back("X-Empty", "");
  std::vector<HttpResponse> responses;
  bool in_post = true;
  bool called_in_post = false;
  client.post(std::move(request), [&](HttpResponse response) {
    called_in_post = in_post;
    responses.push_back(std::move(response));
  });
  in_post = false;
  EXPECT_EQ(client.in_flight(), 1u);
  ASSERT_TRUE(run_until([&] { return !responses.empty(); }));

  EXPECT_FALSE(called_in_post);
  EXPECT_EQ(client.in_flight(), 0u);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 201);
  EXPECT_EQ(responses[0].body, "stored");
  EXPECT_EQ(responses[0].error, "");
  EXPECT_FALSE(responses[0].timed_out);
  EXPECT_FALSE(responses[0].retry_after);

  std::lock_guard lock(mutex);
  ASSERT_TRUE(received);
  EXPECT_EQ(received->method(), bhttp::verb::post);
  EXPECT_EQ(received->target(), "/hooks/push?x=1");
  EXPECT_EQ(received->body(), R"({"event":"grade"})");
  EXPECT_EQ((*received)[bhttp::field::content_type], "application/json");
  EXPECT_EQ((*received)["X-Trace"], "abc 123");
  EXPECT_NE(received->find("X-Empty"), received->end());
  EXPECT_EQ(received->find(bhttp::field::expect), received->end());
}

TEST_F(HttpClientTest, RetryAfterOfA503IsReported) {
  Receiver receiver([](http::Request&&, http::Respond respond) {
    auto res = answer(bhttp::status::service_unavailable, "busy");
    res.set(bhttp::field::retry_after, "7");
    respond(std::move(res));
  });
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  client.post(post_to(receiver.url()), into(responses));
  ASSERT_TRUE(run_until([&] { return !responses.empty(); }));

  EXPECT_EQ(responses[0].status, 503);
  EXPECT_EQ(responses[0].retry_after, "7");
  EXPECT_EQ(responses[0].body, "busy");
  EXPECT_EQ(responses[0].error, "");
}

TEST_F(HttpClientTest, RetryAfterIsFoundWhateverItsCaseAndTrimmed) {
  RawServer server(
      "HTTP/1.1 429 Too Many Requests\r\nretry-after: \t Wed, 21 Oct 2026 07:28:00 GMT \t\r\n"
      "Content-Length: 4\r\n\r\nslow");
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  client.post(post_to(server.url()), into(responses));
  ASSERT_TRUE(run_until([&] { return !responses.empty(); }));

  EXPECT_EQ(responses[0].status, 429);
  EXPECT_EQ(responses[0].retry_after, "Wed, 21 Oct 2026 07:28:00 GMT");
  EXPECT_EQ(responses[0].body, "slow");
}

TEST_F(HttpClientTest, ALongBodyIsCutTo4KiBAndTheConnectionIsReused) {
  Receiver receiver([](http::Request&&, http::Respond respond) {
    respond(answer(bhttp::status::ok, std::string(10'000, 'x')));
  });
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  client.post(post_to(receiver.url()), into(responses));
  ASSERT_TRUE(run_until([&] { return responses.size() == 1; }));
  client.post(post_to(receiver.url()), into(responses));
  ASSERT_TRUE(run_until([&] { return responses.size() == 2; }));

  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, std::string(4096, 'x'));
  }
  EXPECT_EQ(receiver.open_connections(), 1u);
}

TEST_F(HttpClientTest, ARefusedConnectionGivesStatusZeroAndAnError) {
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  client.post(post_to("http://127.0.0.1:" + std::to_string(closed_port()) + "/hook"),
              into(responses));
  ASSERT_TRUE(run_until([&] { return !responses.empty(); }));

  EXPECT_EQ(responses[0].status, 0);
  EXPECT_THAT(responses[0].error, Not(IsEmpty()));
  EXPECT_FALSE(responses[0].timed_out);
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(HttpClientTest, AnUnsupportedUrlFailsLaterWithAnError) {
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  client.post(post_to("ftp://127.0.0.1/file"), into(responses));
  client.post(post_to("not a url"), into(responses));
  EXPECT_THAT(responses, IsEmpty());
  ASSERT_TRUE(run_until([&] { return responses.size() == 2; }));
  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 0);
    EXPECT_THAT(response.error, Not(IsEmpty()));
  }
}

TEST_F(HttpClientTest, AServerThatNeverAnswersTimesOut) {
  RawServer hole;
  HttpClient client(ioc_, {});
  HttpRequest request = post_to(hole.url());
  request.timeout = 300ms;
  std::vector<HttpResponse> responses;
  const auto start = Clock::now();
  client.post(std::move(request), into(responses));
  ASSERT_TRUE(run_until([&] { return !responses.empty(); }));
  const auto elapsed = Clock::now() - start;

  EXPECT_EQ(responses[0].status, 0);
  EXPECT_TRUE(responses[0].timed_out);
  EXPECT_THAT(responses[0].error, Not(IsEmpty()));
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 1'300ms);
  EXPECT_EQ(hole.accepted(), 1u);
  // The timed-out connection is closed, not kept for reuse.
  EXPECT_TRUE(run_until([&] { return hole.closed_by_client() == 1; }, 1s));
}

TEST_F(HttpClientTest, TwoHundredConcurrentRequestsCompleteOnFewerConnections) {
  std::atomic<int> handled{0};
  Receiver receiver([&](http::Request&&, http::Respond respond) {
    ++handled;
    respond(answer(bhttp::status::ok, "ok"));
  });
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  for (int i = 0; i < 200; ++i) {
    client.post(post_to(receiver.url(), std::to_string(i)), into(responses));
  }
  EXPECT_EQ(client.in_flight(), 200u);
  ASSERT_TRUE(run_until([&] { return responses.size() == 200; }));
  EXPECT_THAT(responses, Each(Field(&HttpResponse::status, 200)));
  EXPECT_EQ(handled.load(), 200);
  // Every connection the client opened is still open (kept for reuse), so the server's count
  // is the number of connections used: at most max_host_connections.
  const std::size_t connections = receiver.open_connections();
  EXPECT_THAT(connections, Le(64u));
  EXPECT_GT(connections, 0u);

  // A second burst goes over the connections kept from the first.
  responses.clear();
  for (int i = 0; i < 200; ++i) {
    client.post(post_to(receiver.url()), into(responses));
  }
  ASSERT_TRUE(run_until([&] { return responses.size() == 200; }));
  EXPECT_THAT(responses, Each(Field(&HttpResponse::status, 200)));
  EXPECT_EQ(receiver.open_connections(), connections);
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(HttpClientTest, MaxHostConnectionsCapsTheConnectionsToOneHost) {
  Receiver receiver(
      [](http::Request&&, http::Respond respond) { respond(answer(bhttp::status::ok)); });
  HttpClient client(ioc_, {.max_host_connections = 4, .max_total_connections = 8});
  std::vector<HttpResponse> responses;
  for (int i = 0; i < 50; ++i) {
    client.post(post_to(receiver.url()), into(responses));
  }
  ASSERT_TRUE(run_until([&] { return responses.size() == 50; }));
  EXPECT_THAT(responses, Each(Field(&HttpResponse::status, 200)));
  EXPECT_THAT(receiver.open_connections(), Le(4u));
}

TEST_F(HttpClientTest, CancelAllCallsEveryCallbackWithCancelled) {
  RawServer hole;
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  for (int i = 0; i < 10; ++i) {
    client.post(post_to(hole.url()), into(responses));
  }
  // The requests are sent and waiting for answers.
  ASSERT_TRUE(run_until([&] { return hole.accepted() == 10; }));
  run_for(50ms);
  EXPECT_EQ(client.in_flight(), 10u);
  ASSERT_THAT(responses, IsEmpty());

  client.cancel_all();
  EXPECT_EQ(client.in_flight(), 0u);
  ASSERT_EQ(responses.size(), 10u);
  for (const auto& response : responses) {
    EXPECT_EQ(response.status, 0);
    EXPECT_EQ(response.error, "cancelled");
    EXPECT_FALSE(response.timed_out);
  }
  // Nothing more is called later, and the connections were closed.
  EXPECT_TRUE(run_until([&] { return hole.closed_by_client() == 10; }));
  run_for(50ms);
  EXPECT_EQ(responses.size(), 10u);
}

TEST_F(HttpClientTest, CancelAllBeforeTheRequestsStartCancelsThemToo) {
  RawServer hole;
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  for (int i = 0; i < 3; ++i) {
    client.post(post_to(hole.url()), into(responses));
  }
  client.cancel_all();
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_THAT(responses, Each(Field(&HttpResponse::error, "cancelled")));
  run_for(100ms);
  EXPECT_EQ(responses.size(), 3u);
  EXPECT_EQ(hole.accepted(), 0u);
}

TEST_F(HttpClientTest, DestroyingTheClientAbortsTransfersWithoutCallbacks) {
  RawServer hole;
  std::vector<HttpResponse> responses;
  // Counted once the one-time descriptors exist (the io_context's reactor, curl's and
  // OpenSSL's global state), which a first client creates.
  { HttpClient warm_up(ioc_, {}); }
  const std::size_t descriptors = open_descriptors();
  {
    HttpClient client(ioc_, {});
    for (int i = 0; i < 10; ++i) {
      client.post(post_to(hole.url()), into(responses));
    }
    ASSERT_TRUE(run_until([&] { return hole.accepted() == 10; }));
    run_for(20ms);
  }
  // The aborted waits complete on the io_context with nobody left to call.
  run_for(100ms);
  EXPECT_THAT(responses, IsEmpty());
  EXPECT_TRUE(run_until([&] { return hole.closed_by_client() == 10; }));
  // Every descriptor the client opened was closed (the raw server closes its ends on EOF).
  EXPECT_TRUE(run_until([&] { return open_descriptors() == descriptors; }, 1s))
      << open_descriptors() << " descriptors open, " << descriptors << " before";
}

TEST_F(HttpClientTest, DestroyingTheClientAfterTheIoContextStoppedIsSafe) {
  RawServer hole;
  std::vector<HttpResponse> responses;
  auto client = std::make_unique<HttpClient>(ioc_, HttpClient::Options{});
  for (int i = 0; i < 5; ++i) {
    client->post(post_to(hole.url()), into(responses));
  }
  ASSERT_TRUE(run_until([&] { return hole.accepted() == 5; }));
  ioc_.stop();
  client.reset();
  // The handlers left behind run (or are destroyed) after the client is gone.
  ioc_.restart();
  ioc_.poll();
  EXPECT_THAT(responses, IsEmpty());
  EXPECT_TRUE(run_until([&] { return hole.closed_by_client() == 5; }));
}

TEST_F(HttpClientTest, ACallbackMayPostAgainAndDestroyTheClient) {
  Receiver receiver(
      [](http::Request&&, http::Respond respond) { respond(answer(bhttp::status::ok)); });
  auto client = std::make_unique<HttpClient>(ioc_, HttpClient::Options{});
  std::vector<int> statuses;
  int untouched = 0;
  client->post(post_to(receiver.url()), [&](HttpResponse first) {
    statuses.push_back(first.status);
    client->post(post_to(receiver.url()), [&](HttpResponse second) {
      statuses.push_back(second.status);
      client.reset();  // from inside its own callback
    });
  });
  // Requests still running when the client goes: their callbacks are never called.
  HttpRequest slow = post_to(receiver.url());
  RawServer hole;
  slow.url = hole.url();
  client->post(std::move(slow), [&](HttpResponse) { ++untouched; });

  ASSERT_TRUE(run_until([&] { return client == nullptr; }));
  run_for(100ms);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
  EXPECT_EQ(untouched, 0);
}

TEST_F(HttpClientTest, AHostNameIsResolvedWithoutBlockingTheIoThread) {
  const auto host = loopback_host_name();
  if (!host) {
    GTEST_SKIP() << "this machine's name does not resolve to 127.0.0.1 only";
  }
  Receiver receiver(
      [](http::Request&&, http::Respond respond) { respond(answer(bhttp::status::accepted)); });
  HttpClient client(ioc_, {});
  std::vector<HttpResponse> responses;
  for (int i = 0; i < 3; ++i) {
    client.post(post_to("http://" + *host + ":" + std::to_string(receiver.port()) + "/hook"),
                into(responses));
  }
  ASSERT_TRUE(run_until([&] { return responses.size() == 3; }));
  EXPECT_THAT(responses, Each(Field(&HttpResponse::status, 202)));
}

// E-mails go through the same multi handle (the relay's replies are tested with a real relay
// in smtp_channel_test.cpp).
MailRequest mail_to(std::string url) {
  MailRequest request;
  request.url = std::move(url);
  request.mail_from = "notifications@college.example.fr";
  request.recipients = {"parent@example.fr"};
  request.message = "Subject: test\r\n\r\nbody\r\n";
  request.tls = MailTls::off;
  return request;
}

TEST_F(HttpClientTest, AnEmailToARelayThatNeverGreetsTimesOutWithNoReply) {
  RawServer hole;
  HttpClient client(ioc_, {});
  MailRequest request = mail_to(hole.smtp_url());
  request.timeout = 300ms;
  std::vector<MailResponse> responses;
  client.send_mail(std::move(request), [&](MailResponse r) { responses.push_back(std::move(r)); });
  EXPECT_THAT(responses, IsEmpty());
  EXPECT_EQ(client.in_flight(), 1u);
  ASSERT_TRUE(run_until([&] { return !responses.empty(); }));
  EXPECT_FALSE(responses[0].accepted);
  EXPECT_EQ(responses[0].reply, 0);
  EXPECT_TRUE(responses[0].timed_out);
  EXPECT_THAT(responses[0].error, Not(IsEmpty()));
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(HttpClientTest, CancelAllCancelsEmailsAndPostsAlike) {
  RawServer hole;
  HttpClient client(ioc_, {});
  std::vector<MailResponse> mails;
  std::vector<HttpResponse> posts;
  client.send_mail(mail_to(hole.smtp_url()), [&](MailResponse r) { mails.push_back(r); });
  client.post(post_to(hole.url()), into(posts));
  ASSERT_TRUE(run_until([&] { return hole.accepted() == 2; }));
  // curl would end the e-mail and wait for the relay's answer: cancelling does not let it.
  const auto start = Clock::now();
  client.cancel_all();
  EXPECT_LT(Clock::now() - start, 500ms);
  ASSERT_EQ(mails.size(), 1u);
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(mails[0].error, "cancelled");
  EXPECT_FALSE(mails[0].accepted);
  EXPECT_EQ(posts[0].error, "cancelled");
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(HttpClientTest, EachKindOfRequestRefusesTheOthersScheme) {
  RawServer hole;
  HttpClient client(ioc_, {});
  std::vector<MailResponse> mails;
  std::vector<HttpResponse> posts;
  client.send_mail(mail_to(hole.url()), [&](MailResponse r) { mails.push_back(r); });
  client.post(post_to(hole.smtp_url()), into(posts));
  ASSERT_TRUE(run_until([&] { return mails.size() == 1 && posts.size() == 1; }));
  EXPECT_FALSE(mails[0].accepted);
  EXPECT_THAT(mails[0].error, Not(IsEmpty()));
  EXPECT_EQ(posts[0].status, 0);
  EXPECT_THAT(posts[0].error, Not(IsEmpty()));
  EXPECT_EQ(hole.accepted(), 0u);
}

TEST_F(HttpClientTest, DestroyingTheClientWaitsForNoRelay) {
  RawServer hole;
  auto client = std::make_unique<HttpClient>(ioc_, HttpClient::Options{});
  std::vector<MailResponse> mails;
  for (int i = 0; i < 3; ++i)
    client->send_mail(mail_to(hole.smtp_url()), [&](MailResponse r) { mails.push_back(r); });
  ASSERT_TRUE(run_until([&] { return hole.accepted() == 3; }));
  const auto start = Clock::now();
  client.reset();
  EXPECT_LT(Clock::now() - start, 500ms);
  EXPECT_THAT(mails, IsEmpty());
  EXPECT_TRUE(run_until([&] { return hole.closed_by_client() == 3; }));
}

}  // namespace
}  // namespace treve::dispatch
