#include "daemon/store/postgresql/pg_peers.h"

#include <unistd.h>

#include <random>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"
#include "daemon/store/postgresql/pg_store.h"

namespace treve::store {

namespace {
// How long one wait for notifications lasts at most: the thread looks at `stopping_`, and at
// the renewal's instant, between.
constexpr std::chrono::milliseconds kSlice{200};
}  // namespace

std::string lease_owner() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0)
    host[0] = '\0';
  std::random_device random;
  char nonce[9];
  std::snprintf(nonce, sizeof nonce, "%08x", static_cast<unsigned>(random()));
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + nonce;
}

Peers::Peers(pg::ConnectOptions options, std::string owner, std::chrono::milliseconds lease,
             Hooks hooks)
    : options_(std::move(options)),
      owner_(std::move(owner)),
      lease_(lease),
      hooks_(std::move(hooks)) {
  options_.application_name = "treve-peers";
  // A statement, a connection attempt and an unacknowledged send each take at most a third
  // of the lease.
  options_.statement_timeout = lease_ / 3;
  options_.tcp_user_timeout = lease_ / 3;
  options_.connect_timeout_s =
      static_cast<int>(std::max<long long>(2, (lease_ / 3).count() / 1000));
}

Peers::~Peers() {
  stop();
}

void Peers::start() {
  refresher_ = std::thread([this] { refresh_loop(); });
  thread_ = std::thread([this] { run(); });
}

void Peers::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  thread_.join();
  {
    std::lock_guard lock(refresh_mutex_);
    refresh_wake_.notify_all();
  }
  refresher_.join();
  if (leading_) {
    leading_ = false;
    auto dropped = connected() ? PgStore::drop_lease(*connection_, owner_)
                               : Result<void>(std::unexpected(
                                     StoreError{StoreError::Kind::unavailable, "no connection"}));
    if (!dropped) {
      spdlog::warn("event=peers.lease_not_dropped owner={} error={}", core::quoted(owner_),
                   core::quoted(dropped.error().message));
    } else {
      spdlog::info("event=peers.lease_dropped owner={}", core::quoted(owner_));
    }
  }
  connection_.reset();
}

bool Peers::connected() {
  if (connection_ && connection_->ok())
    return true;
  connection_.reset();
  auto opened = pg::Connection::open(options_);
  if (!opened)
    return false;
  if (auto l = (*opened)->exec("LISTEN treve"); !l)
    return false;
  connection_ = std::move(*opened);
  spdlog::info("event=peers.listening channel=treve");
  // What was sent while nobody listened is read from the store instead.
  {
    std::lock_guard lock(refresh_mutex_);
    refresh_asked_ = true;
  }
  refresh_wake_.notify_all();
  if (hooks_.due)
    hooks_.due();
  return true;
}

void Peers::renew() {
  using Clock = std::chrono::steady_clock;
  const auto asked = Clock::now();
  auto held = connected() ? PgStore::hold_lease(*connection_, owner_, lease_)
                          : Result<bool>(std::unexpected(StoreError{StoreError::Kind::unavailable,
                                                                    "cannot reach the database"}));
  if (held) {
    if (*held)
      renewed_at_ = asked;
    if (*held != leading_) {
      leading_ = *held;
      if (*held)
        spdlog::info("event=peers.leading owner={} lease_ms={}", core::quoted(owner_),
                     lease_.count());
      else
        spdlog::info("event=peers.lease_lost owner={} lease_ms={}", core::quoted(owner_),
                     lease_.count());
      if (hooks_.leading)
        hooks_.leading(*held);
    }
    return;
  }
  spdlog::warn("event=peers.lease_unreachable owner={} error={}", core::quoted(owner_),
               core::quoted(held.error().message));
}

void Peers::run() {
  using Clock = std::chrono::steady_clock;
  auto next_renewal = Clock::now();
  while (!stopping_) {
    if (Clock::now() >= next_renewal) {
      next_renewal = Clock::now() + lease_ / 3;
      renew();
    }
    // Not renewed for two thirds of the lease (each call above is bounded by a third): given
    // up before it can lapse in the database, where another daemon may then take it.
    if (leading_ && Clock::now() - renewed_at_ >= lease_ - lease_ / 3) {
      leading_ = false;
      spdlog::warn("event=peers.lease_given_up owner={}", core::quoted(owner_));
      if (hooks_.leading)
        hooks_.leading(false);
    }
    if (!connection_ || !connection_->ok()) {
      std::this_thread::sleep_for(kSlice);
      continue;
    }
    auto got = connection_->notifications(kSlice);
    if (!got) {
      spdlog::warn("event=peers.listen_lost error={}", core::quoted(got.error().message));
      continue;
    }
    bool due = false, policy = false;
    for (const std::string& payload : *got) {
      due = due || payload == "due";
      policy = policy || payload == "policy";
    }
    if (due && hooks_.due)
      hooks_.due();
    if (policy) {
      std::lock_guard lock(refresh_mutex_);
      refresh_asked_ = true;
      refresh_wake_.notify_all();
    }
  }
}

void Peers::refresh_loop() {
  for (;;) {
    {
      std::unique_lock lock(refresh_mutex_);
      refresh_wake_.wait(lock, [this] { return refresh_asked_ || stopping_; });
      if (stopping_)
        return;
      refresh_asked_ = false;
    }
    if (hooks_.policy)
      hooks_.policy();
  }
}

}  // namespace treve::store
