#include "daemon/store/postgresql/pg_peers.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"

namespace treve::store {

namespace {
// How long one wait for notifications lasts at most: the thread looks at `stopping_` between.
constexpr std::chrono::milliseconds kSlice{200};
}  // namespace

std::string lease_owner() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0)
    host[0] = '\0';
  return std::string(host) + ":" + std::to_string(::getpid());
}

Peers::Peers(PgStore& store, pg::ConnectOptions options, std::string owner,
             std::chrono::milliseconds lease, Hooks hooks)
    : store_(store),
      options_(std::move(options)),
      owner_(std::move(owner)),
      lease_(lease),
      hooks_(std::move(hooks)) {
  options_.application_name = "treve-peers";
}

Peers::~Peers() {
  stop();
}

void Peers::start() {
  thread_ = std::thread([this] { run(); });
}

void Peers::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  thread_.join();
  if (leading_) {
    leading_ = false;
    if (auto r = store_.drop_lease(owner_); !r) {
      spdlog::warn("event=peers.lease_not_dropped owner={} error={}", core::quoted(owner_),
                   core::quoted(r.error().message));
    } else {
      spdlog::info("event=peers.lease_dropped owner={}", core::quoted(owner_));
    }
  }
}

void Peers::renew() {
  using Clock = std::chrono::steady_clock;
  const auto asked = Clock::now();
  auto held = store_.hold_lease(owner_, lease_);
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
  // Not renewed: given up a third of the lease before it can lapse in the database, where
  // another daemon may then take it.
  if (leading_ && Clock::now() - renewed_at_ >= lease_ - lease_ / 3) {
    leading_ = false;
    spdlog::warn("event=peers.lease_given_up owner={}", core::quoted(owner_));
    if (hooks_.leading)
      hooks_.leading(false);
  }
}

void Peers::run() {
  using Clock = std::chrono::steady_clock;
  std::unique_ptr<pg::Connection> listener;
  auto next_renewal = Clock::now();
  while (!stopping_) {
    if (Clock::now() >= next_renewal) {
      next_renewal = Clock::now() + lease_ / 3;
      renew();
    }
    if (!listener || !listener->ok()) {
      listener.reset();
      auto opened = pg::Connection::open(options_);
      if (opened) {
        if (auto l = (*opened)->exec("LISTEN treve"); l) {
          listener = std::move(*opened);
          spdlog::info("event=peers.listening channel=treve");
          // What was sent while nobody listened is read from the store instead.
          if (hooks_.policy)
            hooks_.policy();
          if (hooks_.due)
            hooks_.due();
        }
      }
      if (!listener) {
        std::this_thread::sleep_for(kSlice);
        continue;
      }
    }
    auto got = listener->notifications(kSlice);
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
    if (policy && hooks_.policy)
      hooks_.policy();
  }
}

}  // namespace treve::store
