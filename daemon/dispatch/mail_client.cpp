#include "daemon/dispatch/mail_client.h"

#include <cstdint>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace treve::dispatch {

namespace net = boost::asio;

class MailClient::Impl : public std::enable_shared_from_this<MailClient::Impl> {
 public:
  explicit Impl(net::io_context& home) : home_(home) {}

  void send_mail(MailRequest request, std::function<void(MailResponse)> done) {
    if (!mail_)
      start();
    const std::uint64_t id = ++last_id_;
    pending_.emplace(id, std::move(done));
    net::post(*mail_, [this, weak = weak_from_this(), id, request = std::move(request)]() mutable {
      // On the mail thread, which ends before this object does.
      http_->send_mail(std::move(request), [weak, &home = home_, id](MailResponse response) {
        net::post(home, [weak, id, response = std::move(response)]() mutable {
          if (const auto self = weak.lock())
            self->answer(id, std::move(response));
        });
      });
    });
  }

  void cancel_all() {
    auto pending = std::move(pending_);
    pending_.clear();
    if (mail_)
      net::post(*mail_, [this] { http_->cancel_all(); });
    for (auto& [id, done] : pending) {
      MailResponse cancelled;
      cancelled.error = "cancelled";
      done(std::move(cancelled));
    }
  }

  std::size_t in_flight() const { return pending_.size(); }

  // Ends the mail thread; nothing is answered any more.
  void close() {
    pending_.clear();
    if (!mail_)
      return;
    net::post(*mail_, [this] {
      http_.reset();  // aborts the transfers without callbacks
      work_.reset();
      mail_->stop();
    });
    thread_.join();
  }

 private:
  void start() {
    mail_ = std::make_unique<net::io_context>(1);
    work_.emplace(net::make_work_guard(*mail_));
    http_ = std::make_unique<HttpClient>(*mail_, HttpClient::Options{});
    thread_ = std::thread([this] { mail_->run(); });
  }

  void answer(std::uint64_t id, MailResponse response) {
    const auto it = pending_.find(id);
    if (it == pending_.end())
      return;  // cancelled, or the client closed
    auto done = std::move(it->second);
    pending_.erase(it);
    done(std::move(response));
  }

  net::io_context& home_;
  // The home thread's.
  std::unordered_map<std::uint64_t, std::function<void(MailResponse)>> pending_;
  std::uint64_t last_id_ = 0;
  // The mail thread's, once started (made before it starts, dropped after it ends).
  std::unique_ptr<net::io_context> mail_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::unique_ptr<HttpClient> http_;
  std::thread thread_;
};

MailClient::MailClient(net::io_context& home) : impl_(std::make_shared<Impl>(home)) {}

MailClient::~MailClient() {
  impl_->close();
}

void MailClient::send_mail(MailRequest request, std::function<void(MailResponse)> done) {
  impl_->send_mail(std::move(request), std::move(done));
}

void MailClient::cancel_all() {
  impl_->cancel_all();
}

std::size_t MailClient::in_flight() const {
  return impl_->in_flight();
}

}  // namespace treve::dispatch
