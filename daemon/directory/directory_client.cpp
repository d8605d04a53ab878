#include "daemon/directory/directory_client.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "adapters/outbound/webhook_signature.h"
#include "daemon/core/log_field.h"
#include "daemon/dispatch/http_client.h"

namespace treve::directory {
namespace {

using Steady = std::chrono::steady_clock::time_point;

// One lookup() call waiting for its answers.
struct Pending {
  std::vector<UserAnswer> answers;
  std::size_t remaining = 0;
  DirectoryClient::Callback done;
};

struct Waiter {
  std::shared_ptr<Pending> pending;
  std::size_t index = 0;
};

struct CacheEntry {
  std::list<std::string>::iterator lru;  // its place in `lru_`, most recent first
  Steady expires;
  std::shared_ptr<const UserEntry> user;  // null: unknown
};

}  // namespace

class DirectoryClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(boost::asio::io_context& ioc, const config::Directory& config, const core::Clock& clock,
       Options options)
      : ioc_(ioc),
        config_(config),
        clock_(clock),
        options_(options),
        http_(ioc, dispatch::HttpClient::Options{16, 16}),
        random_(std::random_device{}()) {
    options_.max_users_per_request =
        std::clamp<std::size_t>(options_.max_users_per_request, 1, adapters::kMaxUsersPerLookup);
    config_.cache_entries = std::max<std::size_t>(config_.cache_entries, 1);
    if (!config_.secret.empty()) {
      if (auto signer = adapters::WebhookSigner::from_secret(config_.secret))
        signer_ = std::move(*signer);
    }
  }

  boost::asio::io_context& ioc() { return ioc_; }

  std::atomic<bool> closed{false};
  std::atomic<std::size_t> cached{0};
  std::atomic<std::size_t> requests{0};

  // On the io thread.
  void lookup(const std::string& source, std::vector<std::string>& ids, Callback done) {
    auto pending = std::make_shared<Pending>();
    pending->answers.resize(ids.size());
    pending->remaining = ids.size();
    pending->done = std::move(done);
    const Steady now = clock_.steady_now();
    std::vector<std::string> ask;
    std::size_t hits = 0;
    std::unique_lock lock(cache_mutex_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::string& id = ids[i];
      UserAnswer& answer = pending->answers[i];
      if (!adapters::valid_user_id(id)) {
        answer.status = UserAnswer::Status::unknown;
        --pending->remaining;
        continue;
      }
      if (auto it = cache_.find(id); it != cache_.end()) {
        if (it->second.expires > now) {
          lru_.splice(lru_.begin(), lru_, it->second.lru);
          answer.status = it->second.user ? UserAnswer::Status::known : UserAnswer::Status::unknown;
          answer.user = it->second.user;
          --pending->remaining;
          ++hits;
          continue;
        }
        forget(it);
      }
      auto [flight, first] = in_flight_.try_emplace(id);
      flight->second.push_back(Waiter{pending, i});
      if (first)
        ask.push_back(id);
    }
    lock.unlock();
    if (hits)
      spdlog::debug("event=directory.cache_hits directory={} users={}", core::quoted(config_.name),
                    hits);
    for (std::size_t at = 0; at < ask.size(); at += options_.max_users_per_request) {
      const std::size_t n = std::min(options_.max_users_per_request, ask.size() - at);
      send(source, std::vector<std::string>(ask.begin() + static_cast<std::ptrdiff_t>(at),
                                            ask.begin() + static_cast<std::ptrdiff_t>(at + n)));
    }
    if (pending->remaining == 0)
      finish(*pending);
  }

 private:
  void send(const std::string& source, std::vector<std::string> batch) {
    dispatch::HttpRequest request;
    request.url = config_.url;
    request.body = adapters::user_lookup_body(source, batch);
    request.headers = {{"content-type", "application/json"}};
    if (!config_.token.empty()) {
      request.headers.emplace_back("authorization", "Bearer " + config_.token);
    } else {
      const std::string id = "ulk_" + random_hex();
      const std::int64_t ts =
          std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
      std::string signature = signer_ ? signer_->sign(id, ts, request.body) : std::string();
      if (signature.empty()) {
        const std::string why = signer_ ? "signing failed" : "no key to sign with";
        boost::asio::post(ioc_, [weak = weak_from_this(), batch = std::move(batch), why] {
          if (auto self = weak.lock())
            self->failed(batch, why, std::chrono::milliseconds{0});
        });
        return;
      }
      request.headers.emplace_back("webhook-id", id);
      request.headers.emplace_back("webhook-timestamp", std::to_string(ts));
      request.headers.emplace_back("webhook-signature", std::move(signature));
    }
    request.timeout = config_.timeout;
    request.connect_timeout = std::min(config_.timeout, std::chrono::milliseconds{5'000});
    request.ca_file = config_.ca_file;
    // One byte more than an answer may have, so that a longer one is seen as such.
    request.max_response_body = adapters::kMaxUserLookupAnswer + 1;
    ++requests;
    const Steady started = clock_.steady_now();
    const auto real_start = std::chrono::steady_clock::now();
    http_.post(std::move(request), [weak = weak_from_this(), batch = std::move(batch), started,
                                    real_start](dispatch::HttpResponse r) {
      if (auto self = weak.lock())
        self->answered(batch, std::move(r), started, real_start);
    });
  }

  void answered(const std::vector<std::string>& batch, dispatch::HttpResponse r, Steady started,
                std::chrono::steady_clock::time_point real_start) {
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - real_start);
    if (r.status == 404) {
      spdlog::debug("event=directory.answered directory={} users={} known=0 duration_ms={}",
                    core::quoted(config_.name), batch.size(), took.count());
      for (const auto& id : batch)
        resolve(id, nullptr, started);
      return;
    }
    if (r.status != 200) {
      std::string why = r.status      ? "HTTP " + std::to_string(r.status)
                        : r.timed_out ? "timed out"
                                      : r.error;
      return failed(batch, why, took);
    }
    auto users = adapters::parse_user_lookup_answer(r.body, batch);
    if (!users) {
      const auto& e = users.error();
      return failed(batch,
                    "malformed answer" +
                        (e.scrubbed_pointer.empty() ? std::string() : " at " + e.scrubbed_pointer) +
                        ": " + e.message,
                    took);
    }
    spdlog::debug("event=directory.answered directory={} users={} known={} duration_ms={}",
                  core::quoted(config_.name), batch.size(), users->size(), took.count());
    std::unordered_map<std::string_view, std::shared_ptr<const UserEntry>> known;
    for (auto& [id, u] : *users) {
      auto entry = std::make_shared<UserEntry>();
      entry->profile = u.profile;
      entry->role = adapters::role_of(u.profile);
      entry->structures = std::move(u.structures);
      entry->children = std::move(u.children);
      known.emplace(id, std::move(entry));
    }
    for (const auto& id : batch) {
      auto it = known.find(id);
      resolve(id, it == known.end() ? nullptr : it->second, started);
    }
  }

  void failed(const std::vector<std::string>& batch, const std::string& why,
              std::chrono::milliseconds took) {
    spdlog::warn("event=directory.lookup_failed directory={} users={} duration_ms={} error={}",
                 core::quoted(config_.name), batch.size(), took.count(), core::quoted(why));
    for (const auto& id : batch) {
      auto waiters = take_waiters(id);
      for (auto& w : waiters) {
        UserAnswer& a = w.pending->answers[w.index];
        a.status = UserAnswer::Status::failed;
        a.error = "directory " + config_.name + ": " + why;
        if (--w.pending->remaining == 0)
          finish(*w.pending);
      }
    }
  }

  // Records the answer about `id` (null: unknown) and hands it to whoever waits for it.
  void resolve(const std::string& id, std::shared_ptr<const UserEntry> user, Steady asked) {
    const auto ttl = user ? config_.ttl : std::min(config_.ttl, kUnknownTtl);
    remember(id, user, asked + ttl);
    for (auto& w : take_waiters(id)) {
      UserAnswer& a = w.pending->answers[w.index];
      a.status = user ? UserAnswer::Status::known : UserAnswer::Status::unknown;
      a.user = user;
      if (--w.pending->remaining == 0)
        finish(*w.pending);
    }
  }

  std::vector<Waiter> take_waiters(const std::string& id) {
    std::vector<Waiter> out;
    if (auto it = in_flight_.find(id); it != in_flight_.end()) {
      out = std::move(it->second);
      in_flight_.erase(it);
    }
    return out;
  }

 public:
  // The answers when every one of `ids` is in the cache and fresh (or not a user id), as
  // lookup() would give them; nothing otherwise. Any thread.
  std::optional<std::vector<UserAnswer>> cached_answers(std::span<const std::string> ids) {
    std::vector<UserAnswer> answers(ids.size());
    const Steady now = clock_.steady_now();
    std::lock_guard lock(cache_mutex_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      UserAnswer& answer = answers[i];
      if (!adapters::valid_user_id(ids[i])) {
        answer.status = UserAnswer::Status::unknown;
        continue;
      }
      auto it = cache_.find(ids[i]);
      if (it == cache_.end() || it->second.expires <= now)
        return std::nullopt;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      answer.status = it->second.user ? UserAnswer::Status::known : UserAnswer::Status::unknown;
      answer.user = it->second.user;
    }
    return answers;
  }

 private:
  void remember(const std::string& id, std::shared_ptr<const UserEntry> user, Steady expires) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(id); it != cache_.end())
      forget(it);
    while (cache_.size() >= config_.cache_entries) {
      forget(cache_.find(lru_.back()));
    }
    lru_.push_front(id);
    cache_.emplace(id, CacheEntry{lru_.begin(), expires, std::move(user)});
    cached = cache_.size();
  }

  // With cache_mutex_ held.
  void forget(std::unordered_map<std::string, CacheEntry>::iterator it) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
    cached = cache_.size();
  }

  void finish(Pending& p) {
    if (closed)
      return;
    Callback done = std::move(p.done);
    try {
      done(std::move(p.answers));
    } catch (const std::exception& e) {
      spdlog::error("event=directory.callback_failed directory={} error={}",
                    core::quoted(config_.name), core::quoted(e.what()));
    }
  }

  std::string random_hex() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int word = 0; word < 2; ++word) {
      std::uint64_t v = random_();
      for (int i = 0; i < 16; ++i, v >>= 4)
        out += kHex[v & 0xF];
    }
    return out;
  }

  boost::asio::io_context& ioc_;
  config::Directory config_;
  const core::Clock& clock_;
  Options options_;
  dispatch::HttpClient http_;
  std::optional<adapters::WebhookSigner> signer_;
  std::mt19937_64 random_;
  // The cache: written on the io thread, read by cached_answers() from any thread.
  std::mutex cache_mutex_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::unordered_map<std::string, std::vector<Waiter>> in_flight_;
};

DirectoryClient::DirectoryClient(boost::asio::io_context& ioc, const config::Directory& config,
                                 const core::Clock& clock, Options options)
    : impl_(std::make_shared<Impl>(ioc, config, clock, options)) {}

DirectoryClient::DirectoryClient(boost::asio::io_context& ioc, const config::Directory& config,
                                 const core::Clock& clock)
    : DirectoryClient(ioc, config, clock, Options{}) {}

DirectoryClient::~DirectoryClient() {
  impl_->closed = true;
}

void DirectoryClient::lookup(std::string source, std::vector<std::string> ids, Callback done) {
  boost::asio::post(impl_->ioc(), [weak = std::weak_ptr<Impl>(impl_), source = std::move(source),
                                   ids = std::move(ids), done = std::move(done)]() mutable {
    if (auto self = weak.lock(); self && !self->closed)
      self->lookup(source, ids, std::move(done));
  });
}

std::optional<std::vector<UserAnswer>> DirectoryClient::cached_answers(
    std::span<const std::string> ids) const {
  if (impl_->closed)
    return std::nullopt;
  return impl_->cached_answers(ids);
}

std::size_t DirectoryClient::cached() const {
  return impl_->cached.load();
}

std::size_t DirectoryClient::requests_sent() const {
  return impl_->requests.load();
}

}  // namespace treve::directory
