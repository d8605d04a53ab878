#include "daemon/runtime/crises.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"
#include "policy/uai.h"

namespace treve::runtime {

namespace {

constexpr std::chrono::seconds kWriterPatience{2};

const date::time_zone* zone_of(const config::Config& config, std::string_view uai) {
  auto parsed = policy::parse_uai(uai);
  return parsed ? config.policy->find(*parsed).zone() : nullptr;
}

// What an extension or a closing written by the store answers (a failure is logged).
Crises::Outcome::Status status_of(const store::Result<store::CrisisChange>& r) {
  using Status = Crises::Outcome::Status;
  if (!r) {
    spdlog::error("event=crisis.change_failed error={}", core::quoted(r.error().message));
    return Status::unavailable;
  }
  return *r == store::CrisisChange::done      ? Status::done
         : *r == store::CrisisChange::unknown ? Status::unknown
                                              : Status::closed;
}

}  // namespace

Crises::Crises(ConfigHolder& holder, store::CommitQueue& queue, store::CrisisStore& crises,
               const core::Clock& clock, ChangeConfig change, std::chrono::milliseconds max_sleep)
    : holder_(holder),
      queue_(queue),
      crises_(crises),
      clock_(clock),
      change_(std::move(change)),
      max_sleep_(max_sleep) {}

Crises::~Crises() {
  stop();
}

Crises::Outcome Crises::change(
    std::vector<std::string> uais,
    const std::function<Outcome(store::Store&, policy::Instant)>& write) {
  Outcome out;
  auto applied = change_(
      [&]() -> std::shared_ptr<const config::Config> {
        const policy::Instant now = clock_.now();
        auto written =
            queue_.write_and_wait([&](store::Store& s) { return write(s, now); }, kWriterPatience);
        if (!written) {
          spdlog::error("event=crisis.change_failed error={}",
                        core::quoted("the writer's queue stayed full"));
          return nullptr;
        }
        out = *written;
        if (out.status != Outcome::Status::done)
          return nullptr;
        auto open = crises_.open_crises();
        auto running = holder_.get();
        auto next =
            open ? build_in_force(*running, running->api_policies, store::crises_in_force(*open))
                 : config::LoadResult{};
        if (!open || !next) {
          // Written but not in force: the next change of the configuration (a reload, another
          // crisis) puts it in force.
          spdlog::error(
              "event=crisis.change_failed error={}",
              core::quoted(!open ? open.error().message : next.error().front().to_string()));
          return nullptr;
        }
        return *next;
      },
      std::move(uais));
  out.replanned = applied.replan.moved;
  return out;
}

Crises::Outcome Crises::open(store::NewCrisis c) {
  c.zone = zone_of(*holder_.get(), c.uai);
  const std::string uai = c.uai;
  Outcome out = change({uai}, [&c](store::Store& s, policy::Instant now) {
    Outcome o;
    auto r = s.open_crisis(c, now);
    if (!r) {
      spdlog::error("event=crisis.change_failed error={}", core::quoted(r.error().message));
      return o;
    }
    o.id = r->id;
    o.status = r->conflict ? Outcome::Status::already_open : Outcome::Status::done;
    return o;
  });
  if (out.status == Outcome::Status::done) {
    spdlog::info(
        "event=crisis.opened establishment={} crisis={} by={} release_held={} replanned={}", uai,
        out.id, core::quoted(c.by), c.release_held, out.replanned);
    {
      std::lock_guard lock(mutex_);
      poked_ = true;
    }
    wake_.notify_one();
  }
  return out;
}

Crises::Outcome Crises::extend(const std::string& uai, std::int64_t id, policy::Instant until,
                               const std::string& by) {
  const date::time_zone* zone = zone_of(*holder_.get(), uai);
  Outcome out = change({uai}, [&](store::Store& s, policy::Instant now) {
    Outcome o;
    o.id = id;
    // Later than its current end: checked on the writer, where no other change interleaves.
    auto mine = s.crises_of(uai, 1'000);
    if (mine) {
      auto it = std::find_if(mine->begin(), mine->end(),
                             [id](const auto& r) { return r.crisis.id == id; });
      if (it != mine->end() && it->open() && until <= it->crisis.until) {
        o.status = Outcome::Status::not_later;
        return o;
      }
    }
    auto r = s.extend_crisis(uai, id, until, by, zone, now);
    o.status = status_of(r);
    return o;
  });
  if (out.status == Outcome::Status::done) {
    spdlog::info("event=crisis.extended establishment={} crisis={} by={}", uai, id,
                 core::quoted(by));
    {
      std::lock_guard lock(mutex_);
      poked_ = true;
    }
    wake_.notify_one();
  }
  return out;
}

Crises::Outcome Crises::close(const std::string& uai, std::int64_t id, const std::string& by) {
  const date::time_zone* zone = zone_of(*holder_.get(), uai);
  Outcome out = change({uai}, [&](store::Store& s, policy::Instant now) {
    Outcome o;
    o.id = id;
    auto r = s.close_crisis(uai, id, by, zone, now);
    o.status = status_of(r);
    return o;
  });
  if (out.status == Outcome::Status::done)
    spdlog::info("event=crisis.closed establishment={} crisis={} by={}", uai, id, core::quoted(by));
  return out;
}

std::vector<std::int64_t> Crises::expire_due() {
  const policy::Instant now = clock_.now();
  std::vector<std::string> uais;
  for (const policy::Crisis& c : holder_.get()->crises) {
    if (c.until <= now)
      uais.push_back(c.uai);
  }
  if (uais.empty())
    return {};
  std::vector<std::int64_t> closed;
  change(uais, [&](store::Store& s, policy::Instant at) {
    Outcome o;
    auto config = holder_.get();
    auto r = s.expire_crises([config](std::string_view uai) { return zone_of(*config, uai); }, at);
    if (!r) {
      spdlog::error("event=crisis.change_failed error={}", core::quoted(r.error().message));
      return o;
    }
    closed = *r;
    o.status = Outcome::Status::done;
    return o;
  });
  for (std::int64_t id : closed)
    spdlog::info("event=crisis.expired crisis={}", id);
  return closed;
}

store::Result<std::vector<store::CrisisRecord>> Crises::list(const std::string& uai,
                                                             std::size_t limit) {
  return crises_.crises_of(uai, limit);
}

void Crises::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_)
    return;
  thread_ = std::thread([this] { run(); });
}

void Crises::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

void Crises::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // The earliest end in force, read again at least every max_sleep (a wall-clock step).
    std::chrono::milliseconds sleep = max_sleep_;
    const policy::Instant now = clock_.now();
    bool due = false;
    for (const policy::Crisis& c : holder_.get()->crises) {
      if (c.until <= now)
        due = true;
      else
        sleep =
            std::min(sleep, std::chrono::duration_cast<std::chrono::milliseconds>(c.until - now));
    }
    if (due) {
      lock.unlock();
      const bool closed = !expire_due().empty();
      lock.lock();
      if (closed)
        continue;
      sleep = max_sleep_;  // the writer was busy, or the store failed: again a little later
    }
    wake_.wait_for(lock, sleep, [this] { return stopping_ || poked_; });
    poked_ = false;
  }
}

}  // namespace treve::runtime
