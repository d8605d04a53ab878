#include "daemon/runtime/reload.h"

#include <pwd.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "daemon/core/digest.h"
#include "daemon/core/log_field.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/in_force.h"
#include "policy/rfc3339.h"

namespace treve::runtime {

namespace {

// The bytes of the file at `path`; nullopt when it cannot be read.
std::optional<std::string> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad())
    return std::nullopt;
  return bytes.str();
}

}  // namespace

std::optional<store::ConfigChange> config_file_change(const std::string& path, std::string on,
                                                      std::span<const std::string> referenced) {
  auto bytes = file_bytes(path);
  struct stat st {};
  if (!bytes || ::stat(path.c_str(), &st) != 0)
    return std::nullopt;
  store::ConfigChange c;
  c.file = std::filesystem::absolute(path).lexically_normal().string();
  c.digest = core::sha256_hex(*bytes);
  if (!referenced.empty()) {
    // Two spaces between digest and name, one line per file: sha256sum's own format.
    std::string listing = c.digest + "  " + c.file + "\n";
    for (const auto& file : referenced) {
      auto other = file_bytes(file);
      listing += (other ? core::sha256_hex(*other) : std::string(64, '0')) + "  " + file + "\n";
    }
    c.digest = core::sha256_hex(listing);
  }
  const passwd* owner = ::getpwuid(st.st_uid);
  const policy::Instant modified{std::chrono::milliseconds{
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000}};
  c.by = "file owned by " + (owner ? std::string(owner->pw_name) : std::to_string(st.st_uid)) +
         ", modified " + policy::format_rfc3339(modified, store::zone_or_utc("UTC"));
  c.on = std::move(on);
  return c;
}

std::shared_ptr<const config::Config> keep_start_settings(
    const config::Config& running, std::shared_ptr<const config::Config> next,
    std::vector<std::string>& restart_needed) {
  auto merged = std::make_shared<config::Config>(*next);
  auto keep = [&](auto& field, const auto& value, const char* key) {
    if (field != value) {
      restart_needed.emplace_back(key);
      field = value;
    }
  };
  keep(merged->server.listen, running.server.listen, "server.listen");
  keep(merged->server.admin_listen, running.server.admin_listen, "server.admin_listen");
  keep(merged->server.state_dir, running.server.state_dir, "server.state_dir");
  keep(merged->server.pseudonym_key, running.server.pseudonym_key, "server.pseudonym_key");
  // A listener's certificate, key and client CA are read again on reload (a renewed
  // certificate is put in force), but turning TLS on or off changes its clients' scheme: that
  // waits for a restart.
  if (merged->server.tls.enabled() != running.server.tls.enabled()) {
    restart_needed.emplace_back("server.tls_certificate");
    merged->server.tls = running.server.tls;
  }
  if (merged->server.admin_tls.enabled() != running.server.admin_tls.enabled()) {
    restart_needed.emplace_back("server.admin_tls_certificate");
    merged->server.admin_tls = running.server.admin_tls;
  }
  keep(merged->store.backend, running.store.backend, "store.backend");
  keep(merged->store.url, running.store.url, "store.url");
  keep(merged->store.password, running.store.password, "store.password_file");
  keep(merged->store.pool_size, running.store.pool_size, "store.pool_size");
  keep(merged->store.statement_timeout, running.store.statement_timeout, "store.statement_timeout");
  keep(merged->store.lease, running.store.lease, "store.lease");
  keep(merged->audit.retention, running.audit.retention, "audit.retention");
  keep(merged->audit.head_log_every, running.audit.head_log_every, "audit.head_log_every");
  keep(merged->events.retention, running.events.retention, "events.retention");
  keep(merged->testing.max_page_count, running.testing.max_page_count, "testing.max_page_count");
  keep(merged->testing.clock_start, running.testing.clock_start, "testing.clock_start");
  keep(merged->testing.purge_interval_minutes, running.testing.purge_interval_minutes,
       "testing.purge_interval_minutes");
  return merged;
}

namespace {

// Waits until everything submitted to the writer so far is committed (the queue is FIFO).
bool drain(store::CommitQueue& queue) {
  return queue.write_and_wait([](store::Store&) { return true; }, std::chrono::seconds{2})
      .has_value();
}

}  // namespace

Reloader::Reloader(std::string config_path, ConfigHolder& holder, store::CommitQueue& queue,
                   store::PolicyStore& policies, store::CrisisStore& crises,
                   store::ReplanStore& held, const core::Clock& clock, Hooks hooks)
    : path_(std::move(config_path)),
      holder_(holder),
      queue_(queue),
      policies_(policies),
      crises_(crises),
      held_(held),
      clock_(clock),
      hooks_(std::move(hooks)),
      thread_([this] { run(); }) {}

Reloader::~Reloader() {
  stop();
}

void Reloader::request() {
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
}

void Reloader::stop() {
  cancel_ = true;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

Reloader::Outcome Reloader::last() const {
  std::lock_guard lock(mutex_);
  return last_;
}

std::size_t Reloader::completed() const {
  std::lock_guard lock(mutex_);
  return completed_;
}

void Reloader::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (stopping_)
      return;
    requested_ = false;
    lock.unlock();
    Outcome outcome = reload();
    lock.lock();
    last_ = outcome;
    ++completed_;
  }
}

void Reloader::put_in_force(std::shared_ptr<const config::Config> next) {
  const auto previous = holder_.set(std::move(next));
  if (hooks_.applied)
    hooks_.applied();
  // Events decided under the previous policy are re-planned too: wait until no request is
  // deciding under it any more, then until what those requests handed the writer is committed.
  if (!ConfigHolder::wait_released(previous, std::chrono::seconds{10}))
    spdlog::warn(
        "event=config.change_slow_requests: requests decided under the previous "
        "configuration for more than 10 s; re-planning anyway");
  if (!drain(queue_))
    spdlog::warn("event=config.change_queue_busy: re-planning without waiting for the writer");
}

Reloader::PolicyChange Reloader::change_policy(
    const std::function<std::shared_ptr<const config::Config>()>& change,
    std::vector<std::string> establishments) {
  PolicyChange out;
  std::lock_guard change_lock(change_mutex_);
  auto next = change();
  if (!next)
    return out;
  put_in_force(next);
  out.applied = true;
  ReplanOptions options;
  options.cancel = &cancel_;
  options.on_moved = hooks_.moved;
  options.establishments = std::move(establishments);
  options.preferences = preferences_;
  out.replan = replan_held(*next, held_, queue_, clock_, options);
  return out;
}

bool Reloader::refresh(const std::function<std::shared_ptr<const config::Config>()>& change) {
  std::lock_guard change_lock(change_mutex_);
  auto next = change();
  if (!next)
    return false;
  put_in_force(next);
  return true;
}

config::LoadResult load_in_force(const std::string& path, store::PolicyStore& store,
                                 store::CrisisStore& crises) {
  auto versions = store.current_policies();
  if (!versions) {
    return std::unexpected(std::vector<config::ConfigError>{
        {config::Code::api_policies_unreadable, path, 0, "", {versions.error().message}}});
  }
  auto open = crises.open_crises();
  if (!open) {
    return std::unexpected(std::vector<config::ConfigError>{
        {config::Code::api_policies_unreadable, path, 0, "", {open.error().message}}});
  }
  return store::load_in_force(path, *versions, store::crises_in_force(*open));
}

config::LoadResult build_in_force(const config::Config& running,
                                  const std::vector<config::ApiPolicy>& policies) {
  return build_in_force(running, policies, running.crises);
}

config::LoadResult build_in_force(const config::Config& running,
                                  const std::vector<config::ApiPolicy>& policies,
                                  std::vector<policy::Crisis> crises) {
  return config::parse_config_with(running.text, running.path, policies, {}, std::move(crises));
}

Reloader::Outcome Reloader::reload() {
  Outcome outcome;
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("event=config.reloading file={}", core::quoted(path_));
  if (hooks_.reloading)
    hooks_.reloading();
  struct Done {
    const Hooks& hooks;
    const std::atomic<bool>& cancel;
    ~Done() {
      if (hooks.done && !cancel)
        hooks.done();
    }
  } done{hooks_, cancel_};

  std::lock_guard change_lock(change_mutex_);
  auto loaded = load_in_force(path_, policies_, crises_);
  if (!loaded) {
    outcome.errors = loaded.error().size();
    for (const auto& e : loaded.error())
      spdlog::error("event=config.reload_error error={}", core::quoted(e.to_string()));
    spdlog::error(
        "event=config.reload_rejected file={} errors={}: the configuration in force is kept",
        core::quoted(path_), outcome.errors);
    return outcome;
  }
  for (const auto& w : (*loaded)->warnings)
    spdlog::warn("event=config.warning warning={}", core::quoted(w));

  std::vector<std::string> restart_needed;
  auto next = keep_start_settings(*holder_.get(), *loaded, restart_needed);
  for (const auto& key : restart_needed) {
    spdlog::warn("event=config.restart_needed key={}: the running value is kept until a restart",
                 key);
  }

  // The change is audited before anything is decided under it.
  if (auto change = config_file_change(path_, "reload", next->referenced_files)) {
    const policy::Instant now = clock_.now();
    auto r = queue_
                 .write_and_wait([change = *change,
                                  now](store::Store& s) { return s.record_config(change, now); },
                                 std::chrono::seconds{2})
                 .value_or(std::unexpected(store::StoreError{store::StoreError::Kind::unavailable,
                                                             "the writer's queue is full"}));
    if (!r) {
      spdlog::error("event=config.reload_rejected file={} error={}", core::quoted(path_),
                    core::quoted("cannot audit the change: " + r.error().message));
      return outcome;
    }
    if (*r)
      spdlog::info("event=config.changed file={} digest={}", core::quoted(change->file),
                   change->digest);
  }

  put_in_force(next);
  outcome.applied = true;

  ReplanOptions options;
  options.cancel = &cancel_;
  options.on_moved = hooks_.moved;
  options.preferences = preferences_;
  outcome.replan = replan_held(*next, held_, queue_, clock_, options);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  spdlog::info(
      "event=config.reloaded file={} establishments={} connectors={} sinks={} held_events={} "
      "held={} replanned={} earlier={} complete={} took_ms={}",
      core::quoted(path_), next->policy->configured_uais().size(), next->connectors.size(),
      next->sinks.size(), outcome.replan.events, outcome.replan.examined, outcome.replan.moved,
      outcome.replan.earlier, outcome.replan.complete, took.count());
  return outcome;
}

}  // namespace treve::runtime
