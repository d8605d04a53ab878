// Sinks that misbehave, against the dispatcher's HTTP client: a reset after the header, one byte
// a second, a 1 GB answer, a redirect elsewhere, HTTP/0.9 garbage. Each ends within the
// request's timeout as a failed attempt with a clear error (status 0) or the status itself (a
// redirect, never followed); memory stays bounded however much the sink sends.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "daemon/dispatch/http_client.h"

namespace treve::dispatch {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A server on 127.0.0.1 that reads a request's header (and its declared body), then hands the
// socket to `behave`, one thread per connection. Counts the requests it saw.
class MisbehavingSink {
 public:
  using Behaviour = std::function<void(tcp::socket&)>;
  explicit MisbehavingSink(Behaviour behave)
      : behave_(std::move(behave)),
        acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~MisbehavingSink() {
    stopping_ = true;
    // A blocking accept is not woken by closing the acceptor: a connection wakes it.
    boost::system::error_code ec;
    tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    acceptor_.close(ec);
    for (auto& t : connections_)
      t.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hook";
  }
  int requests() const { return requests_.load(); }
  bool stopping() const { return stopping_.load(); }

 private:
  void serve() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_)
        return;
      connections_.emplace_back([this, s = std::move(socket)]() mutable {
        std::string head;
        boost::system::error_code read_ec;
        const std::size_t n = net::read_until(s, net::dynamic_buffer(head), "\r\n\r\n", read_ec);
        if (read_ec)
          return;
        std::size_t length = 0;
        std::string lower = head.substr(0, n);
        for (char& c : lower)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto at = lower.find("content-length:"); at != std::string::npos)
          length = std::stoul(lower.substr(at + 15));
        if (head.size() < n + length) {
          std::string rest(n + length - head.size(), '\0');
          net::read(s, net::buffer(rest), read_ec);
        }
        ++requests_;
        behave_(s);
      });
    }
  }

  Behaviour behave_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::vector<std::thread> connections_;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
};

void write(tcp::socket& s, std::string_view bytes) {
  boost::system::error_code ec;
  net::write(s, net::buffer(bytes.data(), bytes.size()), ec);
}

// Resident memory of this process, in bytes.
long long rss() {
  std::ifstream statm("/proc/self/statm");
  long long pages = 0;
  long long resident = 0;
  statm >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

struct Attempt {
  HttpResponse response;
  Clock::duration took{};
};

// One POST to `url` with `timeout`, its answer and how long it took.
Attempt post(const std::string& url, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  HttpClient client(ioc, {});
  HttpRequest request;
  request.url = url;
  request.body = "{}";
  request.headers = {{"Content-Type", "application/json"}};
  request.timeout = timeout;
  std::optional<HttpResponse> got;
  const auto start = Clock::now();
  client.post(std::move(request), [&](HttpResponse r) { got = std::move(r); });
  while (!got && Clock::now() - start < timeout + 5s)
    ioc.run_one_for(10ms);
  Attempt a;
  a.took = Clock::now() - start;
  if (got)
    a.response = std::move(*got);
  else
    a.response.error = "no callback";
  return a;
}

TEST(MisbehavingSink, AResetAfterTheHeaderIsAFailedAttemptWithItsError) {
  MisbehavingSink sink([](tcp::socket& s) {
    write(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nhalf");
    s.set_option(net::socket_base::linger(true, 0));  // close with RST
    s.close();
  });
  const Attempt a = post(sink.url(), 3s);
  EXPECT_EQ(a.response.status, 0);
  EXPECT_THAT(a.response.error, Not(IsEmpty()));
  EXPECT_LT(a.took, 3s);
}

TEST(MisbehavingSink, OneByteASecondEndsAtTheTimeout) {
  MisbehavingSink sink([](tcp::socket& s) {
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    boost::system::error_code ec;
    for (std::size_t i = 0; i < answer.size() && !ec; ++i) {
      net::write(s, net::buffer(&answer[i], 1), ec);
      std::this_thread::sleep_for(1s);
    }
  });
  const Attempt a = post(sink.url(), 1500ms);
  EXPECT_EQ(a.response.status, 0);
  EXPECT_TRUE(a.response.timed_out) << a.response.error;
  EXPECT_LT(a.took, 3s);
}

// A 1 GB answer is read and dropped past 4 KiB: its status counts (loopback reads a gigabyte
// within the timeout), and memory does not grow with it.
TEST(MisbehavingSink, AGigabyteAnswerIsReadWithoutBeingHeld) {
  MisbehavingSink sink([](tcp::socket& s) {
    write(s, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
    const std::string chunk(64 * 1024, 'x');
    boost::system::error_code ec;
    for (std::size_t sent = 0; sent < (1u << 30) && !ec; sent += chunk.size())
      net::write(s, net::buffer(chunk), ec);
  });
  const long long before = rss();
  const Attempt a = post(sink.url(), 10s);
  const long long grown = rss() - before;
  EXPECT_TRUE(a.response.status == 200 || a.response.timed_out) << a.response.error;
  EXPECT_LE(a.response.body.size(), 4u * 1024);
  EXPECT_LT(grown, 32ll * 1024 * 1024) << "resident memory grew by " << grown << " bytes";
}

// An answer that never ends (chunked, forever) ends at the timeout, memory bounded.
TEST(MisbehavingSink, AnEndlessAnswerEndsAtTheTimeoutWithoutBeingHeld) {
  MisbehavingSink sink([](tcp::socket& s) {
    write(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    boost::system::error_code ec;
    while (!ec)
      net::write(s, net::buffer(chunk), ec);
  });
  const long long before = rss();
  const Attempt a = post(sink.url(), 1500ms);
  const long long grown = rss() - before;
  EXPECT_EQ(a.response.status, 0);
  EXPECT_TRUE(a.response.timed_out) << a.response.error;
  EXPECT_LT(a.took, 4s);
  EXPECT_LT(grown, 32ll * 1024 * 1024) << "resident memory grew by " << grown << " bytes";
}

TEST(MisbehavingSink, ARedirectIsItsStatusAndIsNotFollowed) {
  MisbehavingSink elsewhere(
      [](tcp::socket& s) { write(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); });
  MisbehavingSink sink([&](tcp::socket& s) {
    write(s,
          "HTTP/1.1 302 Found\r\nLocation: " + elsewhere.url() + "\r\nContent-Length: 0\r\n\r\n");
  });
  const Attempt a = post(sink.url(), 3s);
  EXPECT_EQ(a.response.status, 302);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(elsewhere.requests(), 0);
}

TEST(MisbehavingSink, HttpZeroNineGarbageIsAFailedAttempt) {
  MisbehavingSink sink([](tcp::socket& s) {
    write(s, "garbage without a status line\r\n\r\n");
    s.close();
  });
  const Attempt a = post(sink.url(), 3s);
  EXPECT_EQ(a.response.status, 0);
  EXPECT_THAT(a.response.error, Not(IsEmpty()));
  EXPECT_LT(a.took, 3s);
}

}  // namespace
}  // namespace treve::dispatch
