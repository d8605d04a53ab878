// A user directory for the benchmarks (docs/connectors.md, "The directory"): a real HTTP
// server on loopback answering trêve's user lookups.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace treve::bench {

// The ENT's directory, served by a benchmark for entcore-timeline connectors: every user is
// a Student of one UAI, answered after `delay` per request (as a real directory's round trip).
// Bearer token auth. One thread accepts, one thread per connection (blocking Beast).
class DirectoryServer {
 public:
  DirectoryServer(std::string token, std::string uai, std::chrono::milliseconds delay)
      : token_("Bearer " + std::move(token)),
        uai_(std::move(uai)),
        delay_(delay),
        acceptor_(ioc_,
                  boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    accepting_ = std::thread([this] { accept_loop(); });
  }
  DirectoryServer(const DirectoryServer&) = delete;
  DirectoryServer& operator=(const DirectoryServer&) = delete;
  ~DirectoryServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accepting_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      for (const auto& socket : sockets_)
        ::shutdown(socket->native_handle(), SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/lookup";
  }
  long long requests() const { return requests_; }
  long long users() const { return users_; }
  long long refused() const { return refused_; }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(ioc_);
      boost::beast::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_)
        return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);  // kept open until the end: its fd is never reused meanwhile
      threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  void serve(boost::asio::ip::tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      boost::beast::http::request<boost::beast::http::string_body> req;
      boost::beast::error_code ec;
      boost::beast::http::read(socket, buffer, req, ec);
      if (ec)
        return;
      boost::beast::http::response<boost::beast::http::string_body> res{
          boost::beast::http::status::ok, req.version()};
      res.set(boost::beast::http::field::content_type, "application/json");
      if (req[boost::beast::http::field::authorization] != token_) {
        ++refused_;
        res.result(boost::beast::http::status::unauthorized);
        res.body() = "{}";
      } else {
        // {"type":"treve.user_lookup","source":"…","users":["u-1",…]}: the ids are plain.
        std::string_view body = req.body();
        std::string out = "{\"users\":{";
        long long n = 0;
        if (auto at = body.find("\"users\":["); at != std::string_view::npos) {
          body = body.substr(at + 9);
          body = body.substr(0, body.find(']'));
          for (;;) {
            auto open = body.find('"');
            if (open == std::string_view::npos)
              break;
            auto close = body.find('"', open + 1);
            if (close == std::string_view::npos)
              break;
            if (n++)
              out += ',';
            out += body.substr(open, close - open + 1);
            out += ":{\"profile\":\"Student\",\"structures\":[\"";
            out += uai_;
            out += "\"]}";
            body = body.substr(close + 1);
          }
        }
        out += "}}";
        res.body() = std::move(out);
        std::this_thread::sleep_for(delay_);
        ++requests_;
        users_ += n;
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      boost::beast::http::write(socket, res, ec);
      if (ec || !req.keep_alive())
        return;
    }
  }

  std::string token_;
  std::string uai_;
  std::chrono::milliseconds delay_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread accepting_;
  std::atomic<bool> stopping_{false};
  std::atomic<long long> requests_{0}, users_{0}, refused_{0};
  std::mutex mutex_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
};

}  // namespace treve::bench
