// The HTTP server on loopback, driven by small blocking clients: keep-alive, answers given later
// from other threads, limits and malformed requests answered with problem+json, deadlines that
// cut off slow and idle clients without touching the others, the connection limit, and a stop
// that lets requests in progress finish.
#include "daemon/http/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <expected>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <openssl/ssl.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

#include "tests/support/temp_dir.h"
#include "tests/support/test_ca.h"

namespace treve::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Writes `text` one byte every `every` until the server closes the connection: when that
// happened (since `start`), or nothing if all of it was written.
std::optional<std::chrono::milliseconds> dribble(tcp::socket& socket, std::string_view text,
                                                 std::chrono::milliseconds every,
                                                 Clock::time_point start) {
  for (char byte : text) {
    std::this_thread::sleep_for(every);
    beast::error_code ec;
    net::write(socket, net::buffer(&byte, 1), ec);
    if (ec)
      return since(start);
  }
  return std::nullopt;
}

Response text(std::string body) {
  Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/plain");
  res.body() = std::move(body);
  return res;
}

// Answers at once with what it received.
void echo(Request&& req, Respond respond) {
  respond(
      text(std::string(req.method_string()) + " " + std::string(req.target()) + " " + req.body()));
}

// `echo`, counting the requests that reach it (a test checks that a refused one never does).
Handler counting_echo(std::atomic<int>& calls) {
  return [&calls](Request&& req, Respond respond) {
    ++calls;
    echo(std::move(req), std::move(respond));
  };
}

ServerOptions test_options() {
  ServerOptions options;
  options.server_name = "treve-test";
  options.shutdown_grace = 1'000ms;
  return options;
}

// The server on 127.0.0.1, on an io_context run by two threads (so that strands matter).
class RunningServer {
 public:
  explicit RunningServer(Handler handler, ServerOptions options = test_options(),
                         std::shared_ptr<TlsContext> tls = nullptr)
      : server_(ioc_, std::move(handler), std::move(options)) {
    if (auto listening = server_.listen("127.0.0.1:0"); !listening) {
      throw std::runtime_error(listening.error());
    }
    server_.set_tls(std::move(tls));
    server_.start();
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
  }
  ~RunningServer() {
    if (!stopped_) {
      stop().wait_for(5s);
    }
    work_.reset();
    for (auto& thread : threads_) {
      thread.join();
    }
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  // The future is ready once `done` has been called.
  std::future<void> stop() {
    stopped_ = true;
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    net::post(ioc_, [this, done] { server_.stop([done] { done->set_value(); }); });
    return future;
  }
  tcp::endpoint endpoint() const { return server_.local_endpoint(); }
  const Server& server() const { return server_; }

  // Waits until the server counts `n` open connections.
  bool wait_for_connections(std::size_t n, std::chrono::milliseconds timeout = 2s) const {
    const auto start = Clock::now();
    while (server_.open_connections() != n) {
      if (since(start) > timeout) {
        return false;
      }
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
  Server server_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

// A blocking client: each call runs its own io_context until the operation ends or times out.
class Client {
 public:
  explicit Client(const tcp::endpoint& endpoint) { connect_error_ = connect(endpoint); }
  // From another loopback address (any of 127.0.0.0/8), as another client host would.
  Client(const tcp::endpoint& endpoint, std::string_view source) {
    beast::error_code ec;
    stream_.socket().open(tcp::v4(), ec);
    if (!ec) {
      stream_.socket().bind(tcp::endpoint(net::ip::make_address(source), 0), ec);
    }
    connect_error_ = ec ? ec : connect(endpoint);
  }

  beast::error_code connect_error() const { return connect_error_; }

  beast::error_code send(std::string_view bytes) {
    beast::error_code result;
    stream_.expires_after(2s);
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                     [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  std::optional<Response> read(std::chrono::milliseconds timeout = 3s) {
    Response res;
    beast::error_code result;
    stream_.expires_after(timeout);
    bhttp::async_read(stream_, buffer_, res,
                      [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    if (result) {
      last_error_ = result;
      return std::nullopt;
    }
    return res;
  }

  std::optional<Response> request(std::string_view bytes) {
    if (send(bytes)) {
      return std::nullopt;
    }
    return read();
  }

  // How long until the server closed the connection; nothing if it is still open after
  // `timeout`.
  std::optional<std::chrono::milliseconds> wait_closed(std::chrono::milliseconds timeout = 3s) {
    const auto start = Clock::now();
    stream_.expires_after(timeout);
    beast::error_code result;
    std::array<char, 1024> scratch;
    do {
      stream_.async_read_some(net::buffer(scratch),
                              [&](beast::error_code ec, std::size_t) { result = ec; });
      run();
    } while (!result);
    if (result == beast::error::timeout) {
      return std::nullopt;
    }
    return since(start);
  }

  beast::error_code last_error() const { return last_error_; }

 private:
  beast::error_code connect(const tcp::endpoint& endpoint) {
    beast::error_code result;
    stream_.expires_after(2s);
    stream_.async_connect(endpoint, [&](beast::error_code ec) { result = ec; });
    run();
    return result;
  }
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code connect_error_;
  beast::error_code last_error_;
};

std::string get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

std::string post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// The lines the server logs while it is alive, from any thread.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)),
        previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> lines_with(std::string_view needle) const {
    std::vector<std::string> found;
    for (auto& line : sink_->last_formatted()) {
      if (line.find(needle) != std::string::npos) {
        found.push_back(line);
      }
    }
    return found;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

void expect_problem(const Response& res, unsigned status, std::string_view type) {
  EXPECT_EQ(res.result_int(), status);
  EXPECT_EQ(res[bhttp::field::content_type], "application/problem+json");
  EXPECT_FALSE(res.keep_alive());
  const auto body = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(body.at("type").as_string(), type);
  EXPECT_EQ(body.at("status").as_int64(), status);
  EXPECT_TRUE(body.at("title").is_string());
  EXPECT_TRUE(body.at("detail").is_string());
}

TEST(HttpServer, AnswersARequestWithTheHandlersResponse) {
  RunningServer running(echo);
  Client client(running.endpoint());
  ASSERT_FALSE(client.connect_error());

  const auto res = client.request(post("/v1/events", R"({"id":"msg-1"})"));
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_EQ(res->result(), bhttp::status::ok);
  EXPECT_EQ(res->version(), 11u);
  EXPECT_EQ(res->body(), R"(POST /v1/events {"id":"msg-1"})");
  EXPECT_EQ((*res)[bhttp::field::server], "treve-test");
  EXPECT_EQ((*res)[bhttp::field::content_length], std::to_string(res->body().size()));
  EXPECT_TRUE(res->keep_alive());
}

TEST(HttpServer, AnswersKeepAliveRequestsOnOneConnection) {
  RunningServer running(echo);
  Client client(running.endpoint());

  const auto first = client.request(get("/one"));
  const auto second = client.request(post("/two", "body"));
  ASSERT_TRUE(first && second) << client.last_error().message();
  EXPECT_EQ(first->body(), "GET /one ");
  EXPECT_EQ(second->body(), "POST /two body");
  EXPECT_EQ(running.server().open_connections(), 1u);
}

TEST(HttpServer, AnswersHttp10AndClosesTheConnectionAfterwards) {
  RunningServer running(echo);
  Client client(running.endpoint());

  const auto res = client.request("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_EQ(res->version(), 10u);
  EXPECT_EQ(res->body(), "GET /old ");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.wait_closed(1s));
}

TEST(HttpServer, KeepsAnHttp10ConnectionThatAsksForKeepAlive) {
  RunningServer running(echo);
  Client client(running.endpoint());

  const auto first = client.request("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(first) << client.last_error().message();
  EXPECT_EQ(first->version(), 10u);
  EXPECT_TRUE(first->keep_alive());
  const auto second = client.request("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(second) << client.last_error().message();
  EXPECT_EQ(second->body(), "GET /b ");
}

TEST(HttpServer, ClosesTheConnectionWhenTheClientAsksForIt) {
  RunningServer running(echo);
  Client client(running.endpoint());

  const auto res = client.request(get("/", "Connection: close\r\n"));
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.wait_closed(1s));
}

TEST(HttpServer, ClosesTheConnectionWhenTheHandlerAsksForIt) {
  RunningServer running([](Request&&, Respond respond) {
    Response res = text("bye");
    res.set(bhttp::field::connection, "close");
    respond(std::move(res));
  });
  Client client(running.endpoint());

  const auto res = client.request(get("/"));
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.wait_closed(1s));
}

TEST(HttpServer, DeliversAResponseGivenLaterFromAnotherThread) {
  std::vector<std::jthread> workers;
  std::mutex workers_mutex;
  RunningServer running([&](Request&& req, Respond respond) {
    std::lock_guard lock(workers_mutex);
    workers.emplace_back([respond, target = std::string(req.target())] {
      std::this_thread::sleep_for(50ms);  // a commit to the store
      respond(text("stored " + target));
    });
  });
  Client client(running.endpoint());

  const auto start = Clock::now();
  const auto first = client.request(post("/v1/events", "{}"));
  ASSERT_TRUE(first) << client.last_error().message();
  EXPECT_GE(since(start), 50ms);
  EXPECT_EQ(first->body(), "stored /v1/events");
  const auto second = client.request(get("/again"));
  ASSERT_TRUE(second) << client.last_error().message();
  EXPECT_EQ(second->body(), "stored /again");
  std::lock_guard lock(workers_mutex);
  workers.clear();
}

TEST(HttpServer, ReadsTheNextRequestOnlyOnceTheResponseIsWritten) {
  std::atomic<int> calls{0};
  std::vector<std::jthread> workers;
  std::mutex workers_mutex;
  std::atomic<int> calls_when_first_answered{-1};
  RunningServer running([&](Request&& req, Respond respond) {
    const int call = ++calls;
    std::lock_guard lock(workers_mutex);
    workers.emplace_back([&, call, respond, target = std::string(req.target())] {
      std::this_thread::sleep_for(100ms);
      if (call == 1) {
        calls_when_first_answered = calls.load();
      }
      respond(text(target));
    });
  });
  Client client(running.endpoint());

  // Both requests in one write: the second is already in the server's buffer.
  ASSERT_FALSE(client.send(get("/first") + get("/second")));
  const auto first = client.read();
  const auto second = client.read();
  ASSERT_TRUE(first && second) << client.last_error().message();
  EXPECT_EQ(first->body(), "/first");
  EXPECT_EQ(second->body(), "/second");
  EXPECT_EQ(calls_when_first_answered, 1);
  std::lock_guard lock(workers_mutex);
  workers.clear();
}

TEST(HttpServer, IgnoresASecondCallToRespond) {
  RunningServer running([](Request&&, Respond respond) {
    respond(text("first"));
    respond(text("second"));
  });
  Client client(running.endpoint());

  const auto first = client.request(get("/"));
  const auto next = client.request(get("/"));
  ASSERT_TRUE(first && next) << client.last_error().message();
  EXPECT_EQ(first->body(), "first");
  EXPECT_EQ(next->body(), "first");
}

TEST(HttpServer, AnswersAHandlerThatThrowsWith500) {
  RunningServer running([](Request&&, Respond) -> void { throw std::runtime_error("bug"); });
  Client client(running.endpoint());

  const auto res = client.request(get("/"));
  ASSERT_TRUE(res) << client.last_error().message();
  expect_problem(*res, 500, "urn:treve:problem:internal-error");
}

TEST(HttpServer, RejectsABodyOverTheLimitWith413ProblemJson) {
  std::atomic<int> calls{0};
  ServerOptions options = test_options();
  options.body_limit = [](const Request&) { return std::size_t{100}; };
  RunningServer running(counting_echo(calls), options);
  Client client(running.endpoint());

  const auto res = client.request(post("/v1/events", std::string(200, 'x')));
  ASSERT_TRUE(res) << client.last_error().message();
  expect_problem(*res, 413, "urn:treve:problem:body-too-large");
  EXPECT_EQ(boost::json::parse(res->body()).at("detail"),
            "the body is larger than the limit of 100 bytes");
  EXPECT_TRUE(client.wait_closed(2s));
  EXPECT_EQ(calls, 0);

  Client exact(running.endpoint());
  const auto accepted = exact.request(post("/v1/events", std::string(100, 'x')));
  ASSERT_TRUE(accepted) << exact.last_error().message();
  EXPECT_EQ(accepted->result(), bhttp::status::ok);
}

TEST(HttpServer, RejectsAChunkedBodyThatGrowsOverTheLimit) {
  ServerOptions options = test_options();
  options.body_limit = [](const Request&) { return std::size_t{100}; };
  RunningServer running(echo, options);
  Client client(running.endpoint());

  const std::string chunk(60, 'x');
  const auto res = client.request(
      "POST /v1/events:batch HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3c\r\n" +
      chunk + "\r\n3c\r\n" + chunk + "\r\n0\r\n\r\n");
  ASSERT_TRUE(res) << client.last_error().message();
  expect_problem(*res, 413, "urn:treve:problem:body-too-large");
  EXPECT_TRUE(client.wait_closed(2s));
}

TEST(HttpServer, TakesTheBodyLimitOfTheRequestTarget) {
  ServerOptions options = test_options();
  options.body_limit = [](const Request& header) {
    return header.target() == "/v1/events:batch" ? std::size_t{1000} : std::size_t{100};
  };
  RunningServer running(echo, options);
  Client client(running.endpoint());

  const auto res = client.request(post("/v1/events:batch", std::string(500, 'x')));
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_EQ(res->result(), bhttp::status::ok);
}

TEST(HttpServer, AnswersExpectContinueBeforeTheBodyIsSent) {
  ServerOptions options = test_options();
  options.body_limit = [](const Request&) { return std::size_t{100}; };
  RunningServer running(echo, options);

  Client client(running.endpoint());
  ASSERT_FALSE(
      client.send("POST /v1/events HTTP/1.1\r\nHost: test\r\nExpect: "
                  "100-continue\r\nContent-Length: 4\r\n\r\n"));
  const auto go_on = client.read();
  ASSERT_TRUE(go_on) << client.last_error().message();
  EXPECT_EQ(go_on->result(), bhttp::status::continue_);
  const auto res = client.request("body");
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_EQ(res->body(), "POST /v1/events body");

  Client too_large(running.endpoint());
  const auto refused = too_large.request(
      "POST /v1/events HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: "
      "1000\r\n\r\n");
  ASSERT_TRUE(refused) << too_large.last_error().message();
  expect_problem(*refused, 413, "urn:treve:problem:body-too-large");
}

TEST(HttpServer, AnswersARequestItsAdmissionRefusesWithoutReadingItsBody) {
  std::atomic<int> calls{0};
  std::atomic<std::size_t> asked_for{0};
  ServerOptions options = test_options();
  options.body_limit = [](const Request&) { return std::size_t{1024 * 1024}; };
  options.admit_body = [&](const Request& header,
                           std::size_t bytes) -> std::expected<std::shared_ptr<void>, Response> {
    asked_for = bytes;
    if (header.target() != "/busy") {
      return nullptr;
    }
    Response busy{bhttp::status::too_many_requests, 11};
    busy.set(bhttp::field::retry_after, "2");
    busy.body() = "busy";
    return std::unexpected(std::move(busy));
  };
  RunningServer running(counting_echo(calls), options);

  // Asked first: refused before the body is sent (no 100 Continue).
  Client asking(running.endpoint());
  const auto refused = asking.request(
      "POST /busy HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: "
      "500000\r\n\r\n");
  ASSERT_TRUE(refused) << asking.last_error().message();
  EXPECT_EQ(refused->result(), bhttp::status::too_many_requests);
  EXPECT_EQ((*refused)[bhttp::field::retry_after], "2");
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_EQ(asked_for, 500'000u);

  // Not asked: the whole body is read and dropped, then the refusal can be read.
  Client sending(running.endpoint());
  ASSERT_FALSE(sending.send(post("/busy", std::string(500'000, 'x'))));
  const auto after_body = sending.read();
  ASSERT_TRUE(after_body) << sending.last_error().message();
  EXPECT_EQ(after_body->result(), bhttp::status::too_many_requests);
  EXPECT_TRUE(sending.wait_closed(2s));
  EXPECT_EQ(calls, 0);

  Client admitted(running.endpoint());
  const auto served = admitted.request(post("/fine", "{}"));
  ASSERT_TRUE(served) << admitted.last_error().message();
  EXPECT_EQ(served->body(), "POST /fine {}");
  EXPECT_EQ(asked_for, 2u);
}

TEST(HttpServer, KeepsWhatAdmissionHoldsUntilTheAnswerIsWritten) {
  std::atomic<bool> released{false};
  std::atomic<bool> released_when_handled{true};
  std::vector<std::jthread> workers;
  std::mutex workers_mutex;
  ServerOptions options = test_options();
  options.admit_body = [&](const Request&,
                           std::size_t) -> std::expected<std::shared_ptr<void>, Response> {
    return std::shared_ptr<void>(new int(0), [&](void* p) {
      delete static_cast<int*>(p);
      released = true;
    });
  };
  RunningServer running(
      [&](Request&&, Respond respond) {
        released_when_handled = released.load();
        std::lock_guard lock(workers_mutex);
        workers.emplace_back([respond] {
          std::this_thread::sleep_for(100ms);
          respond(text("stored"));
        });
      },
      options);
  Client client(running.endpoint());
  const auto res = client.request(post("/v1/events", "{}"));
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_FALSE(released_when_handled);
  const auto start = Clock::now();
  while (!released && since(start) < 1s) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(released);
  std::lock_guard lock(workers_mutex);
  workers.clear();
}

TEST(HttpServer, AnswersGarbageWith400ProblemJsonAndCloses) {
  RunningServer running(echo);
  Client client(running.endpoint());

  const auto res = client.request("\x16\x03\x01 this is not HTTP\r\n\r\n");
  ASSERT_TRUE(res) << client.last_error().message();
  expect_problem(*res, 400, "urn:treve:problem:bad-http-request");
  EXPECT_TRUE(client.wait_closed(2s));

  Client other(running.endpoint());
  const auto served = other.request(get("/"));
  ASSERT_TRUE(served) << other.last_error().message();
  EXPECT_EQ(served->result(), bhttp::status::ok);
}

// RFC 9112 §6.3: a body framed by anything but a final `chunked` cannot be delimited, so a
// server that ignored it would read the body as the next request (request smuggling behind a
// proxy that delimits it differently).
TEST(HttpServer, AnswersATransferEncodingThatDoesNotEndInChunkedWith400AndCloses) {
  std::atomic<int> calls{0};
  RunningServer running(counting_echo(calls));
  for (const std::string coding : {"xchunked", "gzip", "chunked, identity", "identity", ""}) {
    SCOPED_TRACE("Transfer-Encoding: " + coding);
    Client client(running.endpoint());
    // What follows the header would be a second request if the header were taken as bodiless.
    const auto res =
        client.request("POST /v1/events HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: " + coding +
                       "\r\n\r\n" + get("/smuggled"));
    ASSERT_TRUE(res) << client.last_error().message();
    expect_problem(*res, 400, "urn:treve:problem:bad-http-request");
    EXPECT_TRUE(client.wait_closed(2s));
  }
  EXPECT_EQ(calls, 0);
}

TEST(HttpServer, AnswersATransferCodingBeforeChunkedWith501AndCloses) {
  std::atomic<int> calls{0};
  RunningServer running(counting_echo(calls));
  Client client(running.endpoint());
  const auto res = client.request(
      "POST /v1/events HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n");
  ASSERT_TRUE(res) << client.last_error().message();
  expect_problem(*res, 501, "urn:treve:problem:unsupported-transfer-coding");
  EXPECT_TRUE(client.wait_closed(2s));
  EXPECT_EQ(calls, 0);
}

TEST(HttpServer, AnswersBothTransferEncodingAndContentLengthWith400AndCloses) {
  std::atomic<int> calls{0};
  RunningServer running(counting_echo(calls));
  const std::string body = "2\r\n{}\r\n0\r\n\r\n";
  for (const std::string& fields :
       {"Transfer-Encoding: chunked\r\nContent-Length: " + std::to_string(body.size()),
        "Content-Length: " + std::to_string(body.size()) + "\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(body.size()),
        "Content-Length: " + std::to_string(body.size()) + "\r\nTransfer-Encoding: gzip"}) {
    SCOPED_TRACE(fields);
    Client client(running.endpoint());
    const auto res = client.request("POST /v1/events HTTP/1.1\r\nHost: test\r\n" + fields +
                                    "\r\n\r\n" + body + get("/smuggled"));
    ASSERT_TRUE(res) << client.last_error().message();
    expect_problem(*res, 400, "urn:treve:problem:bad-http-request");
    EXPECT_TRUE(client.wait_closed(2s));
  }
  EXPECT_EQ(calls, 0);
}

TEST(HttpServer, TakesAChunkedBodyWhateverTheCaseOfTheCoding) {
  RunningServer running(echo);
  Client client(running.endpoint());
  const auto res = client.request(
      "POST /v1/events HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n");
  ASSERT_TRUE(res) << client.last_error().message();
  EXPECT_EQ(res->result(), bhttp::status::ok);
  EXPECT_EQ(res->body(), "POST /v1/events {}");
  EXPECT_TRUE(res->keep_alive());
}

TEST(HttpServer, AnswersAnOversizedHeaderWith431ProblemJson) {
  RunningServer running(echo);
  Client client(running.endpoint());

  const auto res = client.request(get("/", "X-Padding: " + std::string(10'000, 'x') + "\r\n"));
  ASSERT_TRUE(res) << client.last_error().message();
  expect_problem(*res, 431, "urn:treve:problem:header-too-large");
  EXPECT_TRUE(client.wait_closed(2s));
}

TEST(HttpServer, CutsOffASlowClientWithoutDelayingOthers) {
  ServerOptions options = test_options();
  options.read_timeout = 300ms;
  options.idle_timeout = 300ms;
  RunningServer running(echo, options);

  net::io_context slow_ioc;
  tcp::socket slow(slow_ioc);
  slow.connect(running.endpoint());
  const auto start = Clock::now();
  net::write(slow, net::buffer(std::string_view("POST / HTTP/1.1\r\n")));

  auto normal = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(50ms);
    Client client(running.endpoint());
    const auto sent = Clock::now();
    const auto res = client.request(post("/v1/events", "{}"));
    return std::pair{res.has_value(), since(sent)};
  });

  // One header byte every 200 ms until the server has closed the connection.
  const auto cut_off =
      dribble(slow, "Host: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 200ms, start);
  ASSERT_TRUE(cut_off) << "the slow client was never cut off";
  EXPECT_GE(*cut_off, 300ms);
  EXPECT_LE(*cut_off, 1'500ms);

  const auto [served, latency] = normal.get();
  EXPECT_TRUE(served);
  EXPECT_LT(latency, 250ms);
}

TEST(HttpServer, ClosesAnIdleKeepAliveConnectionAfterTheIdleTimeout) {
  ServerOptions options = test_options();
  options.idle_timeout = 300ms;
  RunningServer running(echo, options);
  Client client(running.endpoint());

  ASSERT_TRUE(client.request(get("/")));
  const auto closed_after = client.wait_closed(2s);
  ASSERT_TRUE(closed_after) << "the idle connection stayed open";
  EXPECT_GE(*closed_after, 250ms);
  EXPECT_LE(*closed_after, 1'000ms);
  EXPECT_TRUE(running.wait_for_connections(0));
}

TEST(HttpServer, StopFinishesTheRequestInProgressThenCallsDoneAndRefusesNewConnections) {
  std::promise<void> slow_request_arrived;
  std::jthread worker;
  RunningServer running([&](Request&& req, Respond respond) {
    if (req.target() == "/quick") {
      respond(text("quick"));
      return;
    }
    worker = std::jthread([respond] {
      std::this_thread::sleep_for(200ms);
      respond(text("slow"));
    });
    slow_request_arrived.set_value();
  });

  Client idle(running.endpoint());
  ASSERT_TRUE(idle.request(get("/quick")));
  Client busy(running.endpoint());
  ASSERT_FALSE(busy.send(get("/slow")));
  ASSERT_EQ(slow_request_arrived.get_future().wait_for(2s), std::future_status::ready);

  const auto endpoint = running.endpoint();
  auto done = running.stop();
  EXPECT_EQ(running.endpoint(), endpoint);
  const auto idle_closed = idle.wait_closed(1s);
  ASSERT_TRUE(idle_closed) << "the idle connection stayed open";
  EXPECT_LT(*idle_closed, 150ms);
  EXPECT_EQ(done.wait_for(0ms), std::future_status::timeout);

  const auto res = busy.read();
  ASSERT_TRUE(res) << busy.last_error().message();
  EXPECT_EQ(res->body(), "slow");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_EQ((*res)[bhttp::field::connection], "close");
  EXPECT_EQ(done.wait_for(2s), std::future_status::ready);
  EXPECT_TRUE(busy.wait_closed(1s));
  EXPECT_EQ(running.server().open_connections(), 0u);

  Client late(endpoint);
  EXPECT_EQ(late.connect_error(), net::error::connection_refused);
  // The worker's copy of `respond` holds the connection (and the server) until its thread
  // ends: it must end before the server's io_context does.
  worker.join();
}

TEST(HttpServer, StopClosesConnectionsStillBusyWhenTheGraceRunsOut) {
  std::mutex held_mutex;
  std::optional<Respond> held;
  std::promise<void> arrived;
  ServerOptions options = test_options();
  options.shutdown_grace = 200ms;
  RunningServer running(
      [&](Request&&, Respond respond) {
        std::lock_guard lock(held_mutex);
        held = std::move(respond);  // a store that never commits
        arrived.set_value();
      },
      options);
  Client client(running.endpoint());
  ASSERT_FALSE(client.send(get("/stuck")));
  ASSERT_EQ(arrived.get_future().wait_for(2s), std::future_status::ready);

  const auto start = Clock::now();
  auto done = running.stop();
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready);
  EXPECT_GE(since(start), 150ms);
  EXPECT_FALSE(client.read(1s));
  EXPECT_EQ(running.server().open_connections(), 0u);

  // The store finally answers: nobody is left to hear it, and nothing breaks.
  std::lock_guard lock(held_mutex);
  (*held)(text("too late"));
  held.reset();
}

TEST(HttpServer, StopWithoutConnectionsCallsDoneAtOnce) {
  RunningServer running(echo);
  const auto start = Clock::now();
  auto done = running.stop();
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready);
  EXPECT_LT(since(start), 500ms);
}

TEST(HttpServer, ClosesConnectionsBeyondMaxConnections) {
  ServerOptions options = test_options();
  options.max_connections = 2;
  RunningServer running(echo, options);

  std::optional<Client> first(running.endpoint());
  Client second(running.endpoint());
  ASSERT_TRUE(first->request(get("/1")));
  ASSERT_TRUE(second.request(get("/2")));
  EXPECT_EQ(running.server().open_connections(), 2u);

  Client third(running.endpoint());
  ASSERT_FALSE(third.connect_error());
  const auto refused = third.read();
  ASSERT_TRUE(refused) << third.last_error().message();
  expect_problem(*refused, 503, "urn:treve:problem:too-many-connections");
  EXPECT_EQ((*refused)[bhttp::field::retry_after], "2");
  EXPECT_TRUE(third.wait_closed(1s));
  EXPECT_EQ(running.server().open_connections(), 2u);

  first.reset();
  ASSERT_TRUE(running.wait_for_connections(1));
  Client fourth(running.endpoint());
  const auto served = fourth.request(get("/4"));
  ASSERT_TRUE(served) << fourth.last_error().message();
  EXPECT_EQ(served->body(), "GET /4 ");
}

TEST(HttpServer, ClosesANewConnectionThatSendsNothingAfterTheFirstByteTimeout) {
  ServerOptions options = test_options();
  options.first_byte_timeout = 300ms;
  options.idle_timeout = 5'000ms;
  RunningServer running(echo, options);
  Client silent(running.endpoint());
  ASSERT_FALSE(silent.connect_error());

  const auto closed_after = silent.wait_closed(3s);
  ASSERT_TRUE(closed_after) << "the silent connection stayed open";
  EXPECT_GE(*closed_after, 250ms);
  EXPECT_LE(*closed_after, 1'000ms);
  EXPECT_TRUE(running.wait_for_connections(0));
}

TEST(HttpServer, WaitsTheIdleTimeoutAndNotTheFirstByteTimeoutBetweenRequests) {
  ServerOptions options = test_options();
  options.first_byte_timeout = 200ms;
  options.idle_timeout = 1'000ms;
  RunningServer running(echo, options);
  Client client(running.endpoint());

  ASSERT_TRUE(client.request(get("/")));
  const auto closed_after = client.wait_closed(3s);
  ASSERT_TRUE(closed_after) << "the idle connection stayed open";
  EXPECT_GE(*closed_after, 900ms);
}

TEST(HttpServer, CutsOffAHeaderSlowerThanTheHeaderTimeout) {
  ServerOptions options = test_options();
  options.header_timeout = 300ms;
  options.read_timeout = 5'000ms;
  RunningServer running(echo, options);

  net::io_context slow_ioc;
  tcp::socket slow(slow_ioc);
  slow.connect(running.endpoint());
  const auto start = Clock::now();
  net::write(slow, net::buffer(std::string_view("POST / HTTP/1.1\r\n")));
  const auto cut_off = dribble(
      slow, "Host: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 100ms, start);
  ASSERT_TRUE(cut_off) << "the slow header was never cut off";
  EXPECT_GE(*cut_off, 300ms);
  EXPECT_LE(*cut_off, 1'500ms);
}

TEST(HttpServer, RefusesConnectionsBeyondThePerAddressLimitWith503AndRetryAfter) {
  ServerOptions options = test_options();
  options.max_connections_per_address = 3;
  RunningServer running(echo, options);

  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Client>(running.endpoint()));
    ASSERT_TRUE(held.back()->request(get("/held"))) << held.back()->last_error().message();
  }
  Client over(running.endpoint());
  ASSERT_FALSE(over.connect_error());
  const auto refused = over.read();
  ASSERT_TRUE(refused) << over.last_error().message();
  expect_problem(*refused, 503, "urn:treve:problem:too-many-connections-from-address");
  EXPECT_EQ((*refused)[bhttp::field::retry_after], "2");
  EXPECT_TRUE(over.wait_closed(1s));

  // Another client address is not affected.
  Client other(running.endpoint(), "127.0.0.2");
  ASSERT_FALSE(other.connect_error()) << other.connect_error().message();
  const auto served = other.request(get("/other"));
  ASSERT_TRUE(served) << other.last_error().message();
  EXPECT_EQ(served->result(), bhttp::status::ok);

  // A slot given back is taken again.
  held.pop_back();
  ASSERT_TRUE(running.wait_for_connections(3));
  Client again(running.endpoint());
  const auto later = again.request(get("/again"));
  ASSERT_TRUE(later) << again.last_error().message();
  EXPECT_EQ(later->result(), bhttp::status::ok);
}

TEST(HttpServer, LogsRefusedConnectionsOncePerAddressPerInterval) {
  LogCapture log;
  ServerOptions options = test_options();
  options.name = "ingest";
  options.max_connections_per_address = 1;
  RunningServer running(echo, options);

  Client first(running.endpoint());
  ASSERT_TRUE(first.request(get("/")));
  for (int i = 0; i < 5; ++i) {
    Client refused(running.endpoint());
    ASSERT_TRUE(refused.read()) << refused.last_error().message();
  }
  Client second(running.endpoint(), "127.0.0.3");
  ASSERT_TRUE(second.request(get("/")));
  Client refused(running.endpoint(), "127.0.0.3");
  ASSERT_TRUE(refused.read()) << refused.last_error().message();

  const auto lines = log.lines_with("event=http.connection_refused");
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], ::testing::HasSubstr("listener=ingest reason=per_address "
                                             "address=\"127.0.0.1\" limit=1"));
  EXPECT_THAT(lines[1], ::testing::HasSubstr("address=\"127.0.0.3\""));
}

// Every descriptor the process may open taken, for as long as it lives.
class NoDescriptorLeft {
 public:
  NoDescriptorLeft() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, 512);
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
      taken_.push_back(fd);
    }
  }
  ~NoDescriptorLeft() {
    for (int fd : taken_) {
      ::close(fd);
    }
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  NoDescriptorLeft(const NoDescriptorLeft&) = delete;
  NoDescriptorLeft& operator=(const NoDescriptorLeft&) = delete;

 private:
  rlimit saved_{};
  std::vector<int> taken_;
};

// When accept fails for want of a descriptor (EMFILE), the connections waiting are answered 503
// with a descriptor kept in reserve instead of being left hanging, accepting backs off instead of
// spinning, and the failures are logged once.
TEST(HttpServer, AnswersConnectionsWith503WhenTheProcessHasNoDescriptorLeft) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' runtime needs descriptors of its own (it reads /proc/self/maps to check a
  // dynamic type) and reports false errors once none is left: this is tested in the other builds.
  GTEST_SKIP() << "needs every descriptor of the process, which the sanitizers' runtime uses";
#endif
  LogCapture log;
  RunningServer running(echo);
  net::io_context client_ioc;
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(client_ioc).open(tcp::v4());  // their descriptors taken beforehand
  }
  std::vector<std::string> answers;
  {
    NoDescriptorLeft none;
    for (auto& client : clients) {
      client.connect(running.endpoint());
    }
    for (auto& client : clients) {
      pollfd p{client.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 3'000) != 1) {
        answers.emplace_back();
        continue;
      }
      std::array<char, 4096> bytes{};
      const ssize_t n = ::recv(client.native_handle(), bytes.data(), bytes.size(), 0);
      answers.emplace_back(bytes.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
    }
  }
  for (const auto& answer : answers) {
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 503 ")) << "left unanswered";
    EXPECT_THAT(answer, ::testing::HasSubstr("Retry-After: 2\r\n"));
    EXPECT_THAT(answer, ::testing::HasSubstr("no file descriptor left"));
  }

  // Descriptors back: served again within the longest back-off (a connection that arrives
  // while the last ones waiting are being answered may still get the 503).
  const auto start = Clock::now();
  std::optional<Response> served;
  do {
    Client client(running.endpoint());
    served = client.request(get("/after"));
    ASSERT_TRUE(served) << client.last_error().message();
  } while (served->result() == bhttp::status::service_unavailable && since(start) < 2s);
  EXPECT_EQ(served->result(), bhttp::status::ok) << served->body();
  EXPECT_LT(since(start), 1'500ms);
  // Logged once for all the failures.
  EXPECT_EQ(log.lines_with("event=http.accept_failed").size(), 1u);
}

TEST(HttpServer, ListensOnAFreePortOfLocalhost) {
  net::io_context ioc;
  Server server(ioc, echo, test_options());
  ASSERT_TRUE(server.listen("localhost:0"));
  EXPECT_NE(server.local_endpoint().port(), 0);
  EXPECT_TRUE(server.local_endpoint().address().is_loopback());
}

TEST(HttpServer, ListensOnTheIpv6LoopbackInBrackets) {
  net::io_context ioc;
  Server server(ioc, echo, test_options());
  const auto listening = server.listen("[::1]:0");
  if (!listening && listening.error().find("Cannot assign") != std::string::npos) {
    GTEST_SKIP() << "no IPv6 loopback here: " << listening.error();
  }
  ASSERT_TRUE(listening) << listening.error();
  EXPECT_TRUE(server.local_endpoint().address().is_v6());
}

TEST(HttpServer, SaysWhichAddressIsAlreadyInUse) {
  RunningServer running(echo);
  const std::string taken = "127.0.0.1:" + std::to_string(running.endpoint().port());

  net::io_context ioc;
  Server second(ioc, echo, test_options());
  const auto listening = second.listen(taken);
  ASSERT_FALSE(listening);
  EXPECT_EQ(listening.error(), "cannot listen on " + taken + ": Address already in use");
}

TEST(HttpServer, RejectsAMalformedListenAddress) {
  net::io_context ioc;
  Server server(ioc, echo, test_options());
  for (const std::string address : {"127.0.0.1", "127.0.0.1:", ":2007", "127.0.0.1:99999",
                                    "127.0.0.1:http", "::1:2007", "[::1", "[::1]2007"}) {
    const auto listening = server.listen(address);
    ASSERT_FALSE(listening) << address;
    EXPECT_THAT(listening.error(), StartsWith("cannot listen on " + address + ": ")) << address;
  }
}

// ---- TLS ----------------------------------------------------------------------------------

// A CA, the server's certificate, and a client certificate of the same CA, made once.
class HttpServerTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("treve-http-tls");
    ca_ = test::make_test_ca(*dir_);
    client_ = test::issue_certificate(*dir_, "client", "a-connector", false);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::shared_ptr<TlsContext> context(bool client_ca) {
    auto made = make_tls_context({read_text(ca_.server_cert), read_text(ca_.server_key),
                                  client_ca ? read_text(ca_.ca_file) : std::string()});
    EXPECT_TRUE(made) << made.error();
    return made.value_or(nullptr);
  }

  // One GET over TLS, the server checked against the test CA; the answer, or the error.
  static std::expected<Response, beast::error_code> tls_get(const tcp::endpoint& endpoint,
                                                            bool with_certificate) {
    net::io_context ioc;
    net::ssl::context ssl(net::ssl::context::tls_client);
    ssl.load_verify_file(ca_.ca_file);
    ssl.set_verify_mode(net::ssl::verify_peer);
    if (with_certificate) {
      ssl.use_certificate_chain_file(client_.certificate);
      ssl.use_private_key_file(client_.key, net::ssl::context::pem);
    }
    net::ssl::stream<tcp::socket> stream(ioc, ssl);
    beast::error_code ec;
    stream.next_layer().connect(endpoint, ec);
    if (!ec)
      stream.handshake(net::ssl::stream_base::client, ec);
    Request req{bhttp::verb::get, "/over-tls", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    if (!ec)
      bhttp::write(stream, req, ec);
    Response res;
    beast::flat_buffer buffer;
    if (!ec)
      bhttp::read(stream, buffer, res, ec);
    if (ec)
      return std::unexpected(ec);
    return res;
  }

  static inline test::TempDir* dir_ = nullptr;
  static inline test::TestCa ca_;
  static inline test::CertificateFiles client_;
};

TEST_F(HttpServerTls, AnswersOverTlsAndClosesAPlainClientWithoutAnAnswer) {
  RunningServer running(echo, test_options(), context(false));
  auto answer = tls_get(running.endpoint(), false);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ(answer->result_int(), 200u);
  EXPECT_EQ(answer->body(), "GET /over-tls ");

  Client plain(running.endpoint());
  ASSERT_FALSE(plain.send(get("/in-clear")));
  EXPECT_FALSE(plain.read()) << "a plain request got an HTTP answer";
  EXPECT_TRUE(running.wait_for_connections(0));
}

TEST_F(HttpServerTls, RequiresAClientCertificateWhenGivenAClientCa) {
  std::atomic<int> calls{0};
  RunningServer running(counting_echo(calls), test_options(), context(true));
  EXPECT_FALSE(tls_get(running.endpoint(), false));
  EXPECT_EQ(calls.load(), 0) << "a request without a certificate reached the handler";
  auto answer = tls_get(running.endpoint(), true);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ(answer->result_int(), 200u);
  EXPECT_EQ(calls.load(), 1);
}

// A client that offers at most TLS 1.1 (its own policy lowered so that it does offer it) is
// refused by the server.
TEST_F(HttpServerTls, RefusesTlsBefore12) {
  RunningServer running(echo, test_options(), context(false));
  net::io_context ioc;
  net::ssl::context ssl(net::ssl::context::tls_client);
  SSL_CTX_set_security_level(ssl.native_handle(), 0);
  SSL_CTX_set_min_proto_version(ssl.native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ssl.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(ssl.native_handle(), "DEFAULT:@SECLEVEL=0");
  net::ssl::stream<tcp::socket> stream(ioc, ssl);
  beast::error_code ec;
  stream.next_layer().connect(running.endpoint(), ec);
  ASSERT_FALSE(ec) << ec.message();
  stream.handshake(net::ssl::stream_base::client, ec);
  ASSERT_TRUE(ec) << "a TLS 1.1 handshake succeeded";
  EXPECT_THAT(ec.message(), ::testing::HasSubstr("protocol version")) << ec.message();
}

// A TLS 1.2 client that resumes its session on a second connection, to a listener that asks
// for client certificates, is served (OpenSSL refuses such a resumption without a session
// context of the listener's).
TEST_F(HttpServerTls, ResumesATls12SessionWithAClientCertificate) {
  RunningServer running(echo, test_options(), context(true));
  net::ssl::context ssl(net::ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(ssl.native_handle(), TLS1_2_VERSION);
  ssl.load_verify_file(ca_.ca_file);
  ssl.set_verify_mode(net::ssl::verify_peer);
  ssl.use_certificate_chain_file(client_.certificate);
  ssl.use_private_key_file(client_.key, net::ssl::context::pem);
  SSL_SESSION* session = nullptr;
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("connection " + std::to_string(round + 1));
    net::io_context ioc;
    net::ssl::stream<tcp::socket> stream(ioc, ssl);
    if (session)
      SSL_set_session(stream.native_handle(), session);
    beast::error_code ec;
    stream.next_layer().connect(running.endpoint(), ec);
    ASSERT_FALSE(ec) << ec.message();
    stream.handshake(net::ssl::stream_base::client, ec);
    ASSERT_FALSE(ec) << ec.message();
    if (session) {
      EXPECT_EQ(SSL_session_reused(stream.native_handle()), 1);
    }
    Request req{bhttp::verb::get, "/again", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(stream, req, ec);
    Response res;
    beast::flat_buffer buffer;
    if (!ec)
      bhttp::read(stream, buffer, res, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 200u);
    if (!session)
      session = SSL_get1_session(stream.native_handle());
    ASSERT_NE(session, nullptr);
    stream.shutdown(ec);  // a session ended without close_notify may not be resumed
  }
  SSL_SESSION_free(session);
}

TEST_F(HttpServerTls, ClosesAHandshakeThatStallsAfterTheFirstByteTimeout) {
  ServerOptions options = test_options();
  options.first_byte_timeout = 300ms;
  RunningServer running(echo, options, context(false));
  Client stalled(running.endpoint());
  // The start of a TLS record, and nothing more.
  ASSERT_FALSE(stalled.send(std::string_view("\x16\x03\x01\x00", 4)));
  const auto closed_after = stalled.wait_closed(3s);
  ASSERT_TRUE(closed_after) << "the stalled handshake stayed open";
  EXPECT_LE(*closed_after, 1'000ms);
  EXPECT_TRUE(running.wait_for_connections(0));
}

TEST_F(HttpServerTls, ConnectionsOverTheLimitAreClosedWithoutAPlainAnswer) {
  ServerOptions options = test_options();
  options.max_connections = 1;
  RunningServer running(echo, options, context(false));
  Client first(running.endpoint());
  ASSERT_TRUE(running.wait_for_connections(1));
  Client second(running.endpoint());
  EXPECT_FALSE(second.read()) << "a TLS client was sent a plain answer";
  EXPECT_NE(second.last_error(), beast::error::timeout)
      << "the connection over the limit stayed open";
}

TEST_F(HttpServerTls, AKeyThatIsNotTheCertificatesIsRefused) {
  auto made = make_tls_context({read_text(ca_.server_cert), read_text(client_.key), ""});
  ASSERT_FALSE(made);
  EXPECT_FALSE(made.error().empty());
}

TEST_F(HttpServerTls, StopClosesTlsConnectionsInProgress) {
  RunningServer running(echo, test_options(), context(false));
  Client idle(running.endpoint());
  ASSERT_TRUE(running.wait_for_connections(1));
  EXPECT_EQ(running.stop().wait_for(5s), std::future_status::ready);
}

}  // namespace
}  // namespace treve::http

namespace treve::http {
namespace {

// The admin listener may be a unix socket: same sessions, a socket file replaced if stale,
// removed at stop, and never a regular file in the way.
TEST(HttpServerUnixSocket, AnswersOnAUnixSocketAndRemovesItAtStop) {
  const std::string path = "/tmp/treve-http-" + std::to_string(::getpid()) + ".sock";
  {
    std::ofstream(path) << "not a socket";
    net::io_context ioc;
    Server refused(ioc, echo, test_options());
    auto r = refused.listen("unix:" + path);
    ASSERT_FALSE(r.has_value());
    EXPECT_THAT(r.error(), ::testing::HasSubstr("not a socket"));
    ::unlink(path.c_str());
  }
  {
    // A socket file left behind, as after SIGKILL: bound, closed, never unlinked.
    net::io_context stale_ioc;
    net::local::stream_protocol::acceptor stale(stale_ioc,
                                                net::local::stream_protocol::endpoint(path));
    stale.close();
    ASSERT_TRUE(std::filesystem::exists(path));
  }
  net::io_context ioc;
  Server server(ioc, echo, test_options());
  ASSERT_TRUE(server.listen("unix:" + path).has_value());
  server.start();
  std::thread runner([&ioc] { ioc.run(); });
  net::io_context client_ioc;
  net::local::stream_protocol::socket socket(client_ioc);
  socket.connect(net::local::stream_protocol::endpoint(path));
  Request req{bhttp::verb::get, "/over-unix", 11};
  req.set(bhttp::field::host, "localhost");
  bhttp::write(socket, req);
  beast::flat_buffer buffer;
  Response res;
  bhttp::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "GET /over-unix ");
  socket.close();
  std::promise<void> stopped;
  net::post(ioc, [&] { server.stop([&] { stopped.set_value(); }); });
  stopped.get_future().wait();
  runner.join();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(HttpServerUnixSocket, DoesNotCountUnixSocketConnectionsPerAddress) {
  const std::string path = "/tmp/treve-http-limit-" + std::to_string(::getpid()) + ".sock";
  ServerOptions options = test_options();
  options.max_connections_per_address = 1;
  net::io_context ioc;
  Server server(ioc, echo, options);
  ASSERT_TRUE(server.listen("unix:" + path).has_value());
  server.start();
  std::thread runner([&ioc] { ioc.run(); });
  net::io_context client_ioc;
  std::vector<net::local::stream_protocol::socket> sockets;
  for (int i = 0; i < 3; ++i) {
    auto& socket = sockets.emplace_back(client_ioc);
    socket.connect(net::local::stream_protocol::endpoint(path));
    Request req{bhttp::verb::get, "/n" + std::to_string(i), 11};
    req.set(bhttp::field::host, "localhost");
    bhttp::write(socket, req);
    beast::flat_buffer buffer;
    Response res;
    bhttp::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 200) << i;
  }
  sockets.clear();
  std::promise<void> stopped;
  net::post(ioc, [&] { server.stop([&] { stopped.set_value(); }); });
  stopped.get_future().wait();
  runner.join();
}

}  // namespace
}  // namespace treve::http
