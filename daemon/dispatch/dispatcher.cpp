#include "daemon/dispatch/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <expected>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/digest_text.h"
#include "adapters/outbound/webhook_body.h"
#include "adapters/outbound/webhook_signature.h"
#include "daemon/core/digest.h"
#include "daemon/core/log_field.h"
#include "daemon/core/token_bucket.h"
#include "daemon/dispatch/channel.h"
#include "daemon/dispatch/http_client.h"
#include "daemon/dispatch/retry.h"
#include "policy/rfc3339.h"

namespace treve::dispatch {
namespace {

using Steady = std::chrono::steady_clock;

// A delivery in memory.
struct Item {
  store::DispatchItem d;
  std::string delivery_id;
  std::string recipient_key;
  std::size_t sink = 0;  // index in Impl::sinks
  std::optional<policy::Instant> not_before;
  bool in_flight = false;
  bool alone = false;  // refused inside a batch: sent alone, so that only its own fault counts
};
using ItemPtr = std::shared_ptr<Item>;

constexpr std::size_t kNoSink = static_cast<std::size_t>(-1);

// One recipient's deliveries in memory, in receipt order; only the first may be in flight.
struct Recipient {
  std::deque<ItemPtr> items;
  // The sink whose ready list holds this recipient for its first delivery, or kNoSink. An
  // entry in another sink's list is stale (the first delivery changed) and is skipped.
  std::size_t queued_in = kNoSink;
};

struct SinkState {
  config::Sink config;
  // The channel: sends and says what came of it (channel.h).
  std::unique_ptr<Channel> channel;
  // What signs the directory lookups (a directory_url's secret_file), or why nothing can.
  std::expected<adapters::WebhookSigner, std::string> directory_signer{std::unexpect, ""};
  std::deque<std::string> ready;  // recipients whose first delivery may be sent now
  std::size_t in_flight = 0;
  // Deliveries a second, when config.rate > 0.
  core::TokenBucket bucket{0, {}};
  std::unique_ptr<boost::asio::steady_timer> rate_timer;
  bool rate_timer_armed = false;
};

}  // namespace

struct Dispatcher::Impl {
  Impl(store::CommitQueue& q, store::DispatchStore& s, const core::Clock& c, ConfigSource cfg,
       Options o)
      : queue(q),
        store(s),
        clock(c),
        config_source(std::move(cfg)),
        options(std::move(o)),
        work(boost::asio::make_work_guard(ioc)),
        http(ioc, http_options(config_source())),
        retry_timer(ioc),
        scan_timer(ioc),
        grace_timer(ioc),
        flush_timer(ioc),
        gather_timer(ioc) {
    if (!options.jitter) {
      options.jitter = [rng = std::make_shared<std::mt19937_64>(std::random_device{}())] {
        return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
      };
    }
  }

  // Enough connections for every request a sink may have in flight: requests queued inside
  // libcurl for a connection would spend their timeout waiting.
  static HttpClient::Options http_options(const std::shared_ptr<const config::Config>& config) {
    HttpClient::Options o;
    long total = 0, most = 1;
    for (const auto& s : config->sinks) {
      most = std::max(most, static_cast<long>(s.max_in_flight));
      total += static_cast<long>(s.max_in_flight);
    }
    o.max_host_connections = most;
    o.max_total_connections = std::max(total, o.max_total_connections);
    return o;
  }

  store::CommitQueue& queue;
  store::DispatchStore& store;
  const core::Clock& clock;
  ConfigSource config_source;
  Options options;
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  HttpClient http;
  boost::asio::steady_timer retry_timer;
  boost::asio::steady_timer scan_timer;
  boost::asio::steady_timer grace_timer;
  boost::asio::steady_timer flush_timer;
  boost::asio::steady_timer gather_timer;
  std::thread thread;
  std::atomic<bool> notify_pending{false};
  std::promise<void> stopped_promise;
  std::future<void> stopped_future = stopped_promise.get_future();
  bool stopped_signalled = false;

  // Below: the dispatcher's thread only.
  std::shared_ptr<const config::Config> config;
  std::vector<std::unique_ptr<SinkState>> sinks;
  // Channels replaced by a reload, kept until their last send is answered (sends_on).
  std::vector<std::unique_ptr<Channel>> retired_channels;
  std::unordered_map<const Channel*, std::size_t> sends_on;  // sends under way, per channel
  std::unordered_map<std::string, Recipient> recipients;
  std::multimap<policy::Instant, std::string> waiting;  // retries, by instant
  std::optional<policy::Instant> retry_armed_for;
  std::int64_t cursor = 0;          // the last ready_seq read
  std::uint64_t next_flush = 1;     // the generation of the next flush of outcomes
  std::int64_t retrying_after = 0;  // the retrying deliveries read back so far, by seq
  bool retrying_read = false;       // all of them: due ones may be read now
  std::chrono::milliseconds commit_backoff{0};
  bool abandon_outcomes = false;  // stopping, grace over: outcomes that cannot be saved are left
  bool started = false;
  bool stopping = false;
  bool pump_posted = false;
  std::size_t pending = 0;
  std::size_t pending_bytes = 0;
  std::vector<store::DeliveryOutcome> outcomes;  // known, not yet handed to the writer
  std::size_t outcome_bytes = 0;
  bool committing = false;
  bool gather_armed = false;
  bool recording_batch = false;  // answered() is recording one request's outcomes
  static constexpr std::size_t kOutcomesPerCommit = 512;
  static constexpr std::chrono::milliseconds kGatherOutcomes{5};

  std::atomic<std::uint64_t> delivered{0}, retried{0}, dead{0}, no_address{0}, held_again_count{0},
      requests{0}, in_flight{0}, pending_count{0};

  // --- start and reading from the store -------------------------------------------------

  void begin() {
    config = config_source();
    for (const auto& s : config->sinks)
      sinks.push_back(make_sink(s));
    started = true;
    if (sinks.empty()) {
      spdlog::warn("event=dispatch.no_sinks: due deliveries wait in the store");
      return;
    }
    read_retrying();
    load();
    arm_scan();
  }

  std::unique_ptr<SinkState> make_sink(const config::Sink& s) {
    auto state = std::make_unique<SinkState>();
    configure(*state, s);
    state->bucket = core::TokenBucket(s.rate, Steady::now());
    state->rate_timer = std::make_unique<boost::asio::steady_timer>(ioc);
    return state;
  }

  // A sink keeps its channel across reloads unless its type changes; requests in flight
  // finish with the settings they started with.
  void configure(SinkState& state, const config::Sink& s) {
    const bool same_type = state.channel && state.config.type == s.type;
    state.config = s;
    if (!s.directory_url.empty())
      state.directory_signer = adapters::WebhookSigner::from_secret(s.secret);
    if (same_type) {
      state.channel->reconfigure(s);
      return;
    }
    if (state.channel && sends_on.contains(state.channel.get())) {
      // Callbacks of the old channel's sends still in flight must find it alive.
      retired_channels.push_back(std::move(state.channel));
    }
    state.channel = make_channel(s, ChannelContext{ioc, http, clock});
  }

  // A reload: sinks of the same name take their new settings (URL, secret, limits, retry
  // schedule) for the requests that follow; new sinks are added. Routing follows the new
  // configuration for deliveries read from now on; those already in memory stay with the sink
  // they were given, which keeps its last settings even if it is no longer configured.
  void reconfigure() {
    if (!started || stopping)
      return;  // begin() reads the configuration in force when it runs
    config = config_source();
    const bool had_sinks = !sinks.empty();
    for (const auto& s : config->sinks) {
      auto found = std::find_if(sinks.begin(), sinks.end(),
                                [&](const auto& state) { return state->config.name == s.name; });
      if (found == sinks.end()) {
        sinks.push_back(make_sink(s));
        continue;
      }
      configure(**found, s);
      (*found)->bucket.set_rate(s.rate);
    }
    spdlog::info("event=dispatch.reconfigured sinks={}", config->sinks.size());
    if (!had_sinks && !sinks.empty()) {
      read_retrying();
      arm_scan();
    }
    load();
    schedule_pump();
  }

  // Deliveries that were waiting for a retry when the daemon stopped come back first, so
  // that a recipient's later due deliveries queue behind them; until all are read, no due
  // delivery is. A failed read is tried again by the scan timer.
  void read_retrying() {
    while (!retrying_read) {
      auto page = store.retrying(retrying_after, options.load_batch);
      if (!page) {
        spdlog::error("event=dispatch.read_failed error={}", core::quoted(page.error().message));
        return;
      }
      for (auto& d : *page) {
        retrying_after = d.ref.seq;
        add(std::move(d));
      }
      retrying_read = page->size() < options.load_batch;
    }
  }

  // Reads due deliveries past the cursor while there is room.
  void load() {
    if (!started || stopping || sinks.empty() || !retrying_read)
      return;
    if (pending >= options.max_pending || pending_bytes >= options.max_pending_bytes)
      return;
    const std::size_t room = std::min(options.load_batch, options.max_pending - pending);
    // Read whole pages: one query per page, whatever its size.
    if (room < options.load_batch && pending > 0)
      return;
    auto page = store.ready(cursor, room);
    if (!page) {
      spdlog::error("event=dispatch.read_failed error={}", core::quoted(page.error().message));
      return;  // the scan timer tries again
    }
    for (auto& d : *page) {
      cursor = std::max(cursor, d.ready_seq);
      add(std::move(d));
    }
    pending_count = pending;
    if (page->size() == room) {
      // More may be due: read on after what is already there had a chance to go out.
      boost::asio::post(ioc, [this] { load(); });
    }
    schedule_pump();
  }

  void arm_scan() {
    scan_timer.expires_after(options.idle_scan);
    scan_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping)
        return;
      read_retrying();
      load();
      prune_held_recipients();
      arm_scan();
    });
  }

  // What a recipient's deliveries on one sink are kept in order by (Item::recipient_key, and
  // the holds remembered for it).
  static std::string recipient_key(std::string_view source, std::string_view recipient,
                                   std::string_view sink) {
    std::string key;
    key.reserve(source.size() + recipient.size() + sink.size() + 2);
    key.append(source).append(1, '\n').append(recipient).append(1, '\n').append(sink);
    return key;
  }

  // Takes a delivery read from the store into memory, behind its recipient's earlier ones.
  void add(store::DispatchItem d) {
    auto item = std::make_shared<Item>();
    const store::DeliveryRef& ref = d.ref;
    item->delivery_id = adapters::webhook_delivery_id(ref.source, ref.event_id, ref.recipient,
                                                      policy::to_string(ref.role));
    if (d.state == store::DeliveryState::retrying)
      item->not_before = d.next_attempt_at;
    ++pending;
    pending_bytes += d.body.size();
    // A copy goes to the sink it was stored for; one stored before fan-out is routed now.
    const config::Sink* sink = ref.sink.empty()
                                   ? config->sink_for(ref.source, ref.category, ref.role)
                                   : config->sink_named(ref.sink);
    item->d = std::move(d);
    if (!sink) {
      // Only possible for a connector or a sink removed from the configuration since the
      // event came: dead-lettered, visible and replayable once a sink takes it again.
      item->sink = kNoSink;
      record(*item, store::DeliveryOutcome::Kind::dead, "", 0,
             item->d.ref.sink.empty()
                 ? "no sink takes this delivery (source " + item->d.ref.source + ")"
                 : "sink \"" + item->d.ref.sink + "\" is no longer configured",
             clock.now());
      return;
    }
    for (std::size_t i = 0; i < sinks.size(); ++i) {
      if (sinks[i]->config.name == sink->name)
        item->sink = i;
    }
    // Order holds per recipient and sink: each sink's copies go at their own pace.
    const store::DeliveryRef& to = item->d.ref;
    item->recipient_key = recipient_key(to.source, to.recipient, sink->name);
    Recipient& r = recipients[item->recipient_key];
    // Receipt order, behind a delivery already in flight.
    auto pos = r.items.end();
    while (pos != r.items.begin()) {
      auto prev = std::prev(pos);
      if ((*prev)->in_flight || (*prev)->d.ref.seq < item->d.ref.seq)
        break;
      pos = prev;
    }
    const bool first = pos == r.items.begin();
    const std::string key = item->recipient_key;
    r.items.insert(pos, std::move(item));
    if (first)
      make_ready(key);
  }

  // --- choosing what to send ------------------------------------------------------------

  // The recipient's first delivery goes to its sink's ready list, or waits for its retry.
  void make_ready(const std::string& key) {
    auto it = recipients.find(key);
    if (it == recipients.end() || it->second.items.empty())
      return;
    Recipient& r = it->second;
    Item& head = *r.items.front();
    if (head.in_flight || r.queued_in == head.sink)
      return;
    if (head.not_before && *head.not_before > clock.now()) {
      r.queued_in = kNoSink;  // an entry left in a ready list is now stale
      waiting.emplace(*head.not_before, key);
      arm_retry();
      return;
    }
    r.queued_in = head.sink;
    sinks[head.sink]->ready.push_back(key);
    schedule_pump();
  }

  void arm_retry() {
    if (waiting.empty() || stopping)
      return;
    const policy::Instant next = waiting.begin()->first;
    if (retry_armed_for && *retry_armed_for <= next)
      return;
    retry_armed_for = next;
    // The wall clock is read again at least every idle_scan: a clock step neither sends a
    // retry early nor delays it long.
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock.now());
    until = std::clamp(until, std::chrono::milliseconds{0}, options.idle_scan);
    retry_timer.expires_after(until);
    retry_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec)
        return;
      retry_armed_for.reset();
      const policy::Instant now = clock.now();
      while (!waiting.empty() && waiting.begin()->first <= now) {
        std::string key = std::move(waiting.begin()->second);
        waiting.erase(waiting.begin());
        make_ready(key);
      }
      arm_retry();
    });
  }

  void schedule_pump() {
    if (pump_posted)
      return;
    pump_posted = true;
    boost::asio::post(ioc, [this] {
      pump_posted = false;
      for (std::size_t i = 0; i < sinks.size(); ++i)
        pump(i);
    });
  }

  // Sends what the sink's limits allow.
  void pump(std::size_t index) {
    SinkState& sink = *sinks[index];
    while (!stopping && sink.in_flight < sink.config.max_in_flight && !sink.ready.empty()) {
      std::size_t allowed = sink.config.batch_max;
      if (sink.config.rate > 0) {
        const double tokens = sink.bucket.refill(Steady::now());
        if (tokens < 1.0) {
          arm_rate(index, sink.bucket.wait_for_one());
          return;
        }
        allowed = std::min(allowed, static_cast<std::size_t>(tokens));
      }
      std::vector<ItemPtr> batch;
      while (batch.size() < allowed && !sink.ready.empty()) {
        auto it = recipients.find(sink.ready.front());
        if (it == recipients.end() || it->second.queued_in != index || it->second.items.empty()) {
          sink.ready.pop_front();  // stale: the recipient moved on
          continue;
        }
        ItemPtr head = it->second.items.front();
        if (head->in_flight || head->sink != index) {
          sink.ready.pop_front();
          it->second.queued_in = kNoSink;
          make_ready(it->first);
          continue;
        }
        if (head->alone && !batch.empty())
          break;  // it goes in a request of its own, next
        sink.ready.pop_front();
        it->second.queued_in = kNoSink;
        if (held_again(*head))
          continue;  // `it` may be gone: the recipient's next delivery was made ready
        head->in_flight = true;
        const bool alone = head->alone;
        batch.push_back(std::move(head));
        if (alone)
          break;
      }
      if (batch.empty())
        continue;
      const bool digest = batch.size() == 1 && take_digest(sink, batch);
      if (sink.config.rate > 0)
        sink.bucket.take(digest ? 1.0 : static_cast<double>(batch.size()));
      send(index, std::move(batch), digest);
    }
  }

  // The morning digest (docs/delivery.md): when the head delivery of a recipient, on a push
  // or e-mail sink, was released with more than `min` others of that recipient at the same
  // instant (a quiet interval ending), those that follow it in memory join it as one message.
  // Only first attempts join: a delivery that failed once goes alone.
  bool take_digest(const SinkState& sink, std::vector<ItemPtr>& batch) {
    if (sink.config.type == "webhook")
      return false;
    const Item& head = *batch.front();
    const config::Digest digest = config->digest_for(head.d.ref.establishment);
    if (!digest.morning || head.alone || head.d.attempts > 0 || !held_by_policy(head.d))
      return false;
    auto it = recipients.find(head.recipient_key);
    if (it == recipients.end())
      return false;
    const auto& items = it->second.items;
    std::size_t run = 1;
    while (run < items.size() && run < kMaxDigest) {
      const Item& next = *items[run];
      if (next.in_flight || next.alone || next.d.attempts > 0 || next.not_before ||
          next.d.released_at != head.d.released_at || !held_by_policy(next.d) || quiet_now(next) ||
          holding(next))
        break;  // one in quiet time now, or behind a hold, is held again when it is the head
      ++run;
    }
    if (run <= digest.min)
      return false;
    for (std::size_t i = 1; i < run; ++i) {
      items[i]->in_flight = true;
      batch.push_back(items[i]);
    }
    return true;
  }
  static constexpr std::size_t kMaxDigest = 100;
  // Held, then released: the policy set its release after its receipt. Deliveries due at once
  // share a released_at too when they came in one batch, and must not become a digest.
  static bool held_by_policy(const store::DispatchItem& d) { return d.release_at > d.received_at; }

  // Its recipient's quiet time has begun since it became due (Options::quiet_now).
  std::optional<store::HoldAgain> quiet_now(const Item& item) const {
    if (!options.quiet_now)
      return std::nullopt;
    return options.quiet_now(*config, item.d, clock.now());
  }

  // The head delivery `item`, about to be sent: held again instead when its recipient's quiet
  // time has begun (a `held_again` outcome; the scheduler releases it at the new instant). The
  // recipient's deliveries waiting behind it are held with it, until the same instant, in the
  // same transaction (the store holds those not read yet: SqliteStore::hold_followers), so that
  // none overtakes it at the window's end, even after a crash; an urgent one goes if its own
  // decision lets it (an urgent bypass never waits for a quiet time).
  bool held_again(Item& item) {
    if (!options.quiet_now)
      return false;
    auto hold = quiet_now(item);
    const policy::Instant now = clock.now();
    if (!hold)
      hold = released_inside_quiet_time(item);
    if (hold) {
      remember_hold(item, *hold);
    } else if (!item.d.urgent) {
      hold = behind_held(item);
    }
    if (!hold)
      return false;
    const policy::Instant hold_until = hold->until;
    const std::string hold_reason = hold->reason;
    recording_batch = true;
    hold_one(item, std::move(*hold), now);
    if (auto it = recipients.find(item.recipient_key); it != recipients.end()) {
      auto& items = it->second.items;
      for (auto next = items.begin(); next != items.end();) {
        Item& follower = **next;
        if (&follower == &item || follower.in_flight) {
          ++next;
          continue;
        }
        std::optional<store::HoldAgain> with;
        if (follower.d.urgent) {
          with = quiet_now(follower);
        } else {
          with = store::HoldAgain{hold_until,
                                  "behind " + item.d.ref.event_id + ", held again: " + hold_reason};
        }
        if (!with) {  // urgent, and it may go now: it does, next
          ++next;
          continue;
        }
        hold_one(follower, std::move(*with), now);
        next = items.erase(next);
      }
    }
    end_batch();
    finish(item);
    return true;
  }

  // A delivery made due late (its release instant passed while the daemon was stopped) inside
  // its recipient's quiet time, and not held again then (the daemon was killed first, or read
  // it only after that quiet time): held again until the end of that quiet time even when it
  // has passed. The scheduler then releases it at once, in (release instant, receipt) order
  // with what its recipient had held until that end, instead of it overtaking them. Only late
  // releases are decided so: one on time is due at the end of a quiet time, never inside one.
  std::optional<store::HoldAgain> released_inside_quiet_time(const Item& item) const {
    const store::DispatchItem& d = item.d;
    if (d.released_at <= d.release_at + kLateRelease)
      return std::nullopt;
    auto hold = options.quiet_now(*config, d, d.released_at);
    if (hold)
      hold->reason = "released late inside this quiet time: " + hold->reason;
    return hold;
  }
  static constexpr std::chrono::seconds kLateRelease{1};

  // A hold decided, not yet committed (HeldRecipient::released_up_to).
  static constexpr std::int64_t kUncommitted = std::numeric_limits<std::int64_t>::max();

  // Recipients whose deliveries were held again, until then. A delivery of theirs released
  // before that hold was committed but not held with it (read from the store meanwhile, or
  // released by the store after the decision but before the commit) must not go before them:
  // it is held with them when it comes up.
  struct HeldRecipient {
    // The store's last ready_seq when their latest hold was committed (kUncommitted until it
    // is): what became due after that is in order behind them. A ready_seq, not an instant:
    // the scheduler reads its clock before its release waits for the writer.
    std::int64_t released_up_to = kUncommitted;
    std::uint64_t flush = 0;       // the flush that carries their latest hold (its generation)
    policy::Instant committed_at;  // when it was committed
    policy::Instant until;
    std::string reason;
    std::string first;           // the event id of the first one held
    std::int64_t first_seq = 0;  // and its receipt sequence: those received before go first
  };
  std::unordered_map<std::string, HeldRecipient> held_recipients;

  // A hold of the recipient decided now (its quiet time, or a late release): until it is
  // committed, what the store makes due meanwhile waits behind it. Merged with a hold still
  // remembered: behind the earliest received of them, until the latest of their instants,
  // so that a second hold never lets go what the first still keeps.
  void remember_hold(const Item& item, const store::HoldAgain& hold) {
    auto [it, fresh] = held_recipients.try_emplace(item.recipient_key);
    HeldRecipient& h = it->second;
    if (fresh || item.d.ref.seq < h.first_seq) {
      h.first = item.d.ref.event_id;
      h.first_seq = item.d.ref.seq;
      h.reason = hold.reason;
    }
    h.until = fresh ? hold.until : std::max(h.until, hold.until);
    h.released_up_to = kUncommitted;
    h.flush = next_flush;
  }

  // The remembered hold `item` must wait behind, if any.
  const HeldRecipient* holding(const Item& item) const {
    auto it = held_recipients.find(item.recipient_key);
    if (it == held_recipients.end())
      return nullptr;
    const HeldRecipient& h = it->second;
    if (item.d.ready_seq > h.released_up_to)
      return nullptr;  // due since their hold was committed: in order behind them
    if (item.d.ref.seq <= h.first_seq)
      return nullptr;  // received before them, or the first of them itself: it goes first
    return &h;
  }

  // Not renewed by the hold it decides: the store holds what is due behind the first held one
  // in that hold's own commit (SqliteStore::hold_followers), and one released after it has its
  // own instant, in (release instant, receipt) order. Renewing made deliveries held behind
  // others hold one another again for ever, each renewal catching the other's re-release (the
  // crash loop under AddressSanitizer, seed 6).
  std::optional<store::HoldAgain> behind_held(const Item& item) {
    const HeldRecipient* h = holding(item);
    if (!h)
      return std::nullopt;
    // Until their instant, even one already past: they may still be being released, and this
    // one is released right after them, in receipt order.
    return store::HoldAgain{h->until, "behind " + h->first + ", held again: " + h->reason};
  }

  // Forgets the recipients whose deliveries held again were released long enough ago that no
  // copy read before could still be waiting in memory (scan timer).
  void prune_held_recipients() {
    const policy::Instant now = clock.now();
    std::erase_if(held_recipients, [now](const auto& e) {
      const HeldRecipient& h = e.second;
      return h.released_up_to != kUncommitted && h.until != policy::Instant::max() &&
             std::max(h.until, h.committed_at) + kHeldMemory <= now;
    });
  }
  static constexpr std::chrono::minutes kHeldMemory{10};

  void hold_one(const Item& item, store::HoldAgain hold, policy::Instant now) {
    record(item, store::DeliveryOutcome::Kind::held_again, "", 0, "", now, {}, {}, std::move(hold));
    ++held_again_count;
  }

  void arm_rate(std::size_t index, double seconds) {
    SinkState& sink = *sinks[index];
    if (sink.rate_timer_armed)
      return;
    sink.rate_timer_armed = true;
    seconds = std::clamp(seconds, 0.001, 100.0);
    sink.rate_timer->expires_after(
        std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
    sink.rate_timer->async_wait([this, index](const boost::system::error_code& ec) {
      sinks[index]->rate_timer_armed = false;
      if (!ec)
        pump(index);
    });
  }

  // --- one request ----------------------------------------------------------------------

  static std::string local_time(policy::Instant t, const std::string& zone) {
    return policy::format_rfc3339(t, store::zone_or_utc(zone));
  }

  void send(std::size_t index, std::vector<ItemPtr> batch, bool digest) {
    SinkState& sink = *sinks[index];
    const policy::Instant sent_at = clock.now();
    ++sink.in_flight;
    ++in_flight;
    if (!sink.config.directory_url.empty()) {
      look_up(index, std::move(batch), digest, sent_at);
      return;
    }
    send_now(index, std::move(batch), digest, sent_at, nullptr);
  }

  // Hands `batch` to the sink's channel, with the addresses a directory answered when
  // `addresses` is set (read during the call only: the channels copy what they keep).
  void send_now(std::size_t index, std::vector<ItemPtr> batch, bool digest, policy::Instant sent_at,
                const adapters::RecipientChannels* addresses) {
    SinkState& sink = *sinks[index];
    // The local times outlive the views the channel reads.
    std::vector<std::string> times;
    times.reserve(2 * batch.size());
    std::vector<adapters::OutboundDelivery> deliveries;
    deliveries.reserve(batch.size());
    for (const ItemPtr& item : batch) {
      const auto& d = item->d;
      times.push_back(local_time(d.received_at, d.ref.timezone));
      times.push_back(local_time(d.released_at, d.ref.timezone));
      deliveries.push_back({.delivery_id = item->delivery_id,
                            .source = d.ref.source,
                            .event_id = d.ref.event_id,
                            .establishment = d.ref.establishment,
                            .category = policy::to_string(d.ref.category),
                            .urgent = d.urgent,
                            .recipient = d.ref.recipient,
                            .role = policy::to_string(d.ref.role),
                            .event_body = d.body,
                            .received_at = times[times.size() - 2],
                            .released_at = times.back(),
                            .addresses = addresses});
    }
    ++requests;
    Channel* channel = sink.channel.get();
    ++sends_on[channel];
    channel->send(
        deliveries, digest,
        [this, channel, index, batch = std::move(batch), digest, sent_at](ChannelResult r) {
          if (--sends_on[channel] == 0) {
            sends_on.erase(channel);
            retire_later(channel);
          }
          answered(index, batch, digest, sent_at, std::move(r));
        });
  }

  // Frees `channel` if a reload replaced it (later: this runs inside one of its callbacks).
  void retire_later(const Channel* channel) {
    const auto retired = [channel](const std::unique_ptr<Channel>& c) {
      return c.get() == channel;
    };
    if (std::none_of(retired_channels.begin(), retired_channels.end(), retired))
      return;
    boost::asio::post(ioc, [this, retired] { std::erase_if(retired_channels, retired); });
  }

  // --- the directory lookup (docs/delivery.md "Addresses") --------------------------------

  // Asks the sink's directory for the recipient's addresses on its channel (one question for
  // a digest: its deliveries share the recipient), then sends with them. The answer lives in
  // this attempt only: nothing of it is stored or logged. A failed lookup is a failed attempt,
  // retried; a 404 is a recipient without addresses.
  void look_up(std::size_t index, std::vector<ItemPtr> batch, bool digest,
               policy::Instant sent_at) {
    SinkState& sink = *sinks[index];
    const Item& head = *batch.front();
    const std::string channel = sink.config.type == "smtp" ? "email" : sink.config.type;
    const std::string id =
        "lkp_" +
        core::sha256_hex(head.delivery_id + "#" + std::to_string(head.d.attempts)).substr(0, 32);
    auto fail = [&](std::string error) {
      ChannelResult r;
      r.error = "directory lookup: " + error;
      r.id = id;
      // No digest was sent: no digest record (its notifications go alone when retried).
      boost::asio::post(
          ioc, [this, index, batch = std::move(batch), sent_at, r = std::move(r)]() mutable {
            answered(index, batch, false, sent_at, std::move(r));
          });
    };
    const auto& signer = sink.directory_signer;
    if (!signer)
      return fail("no key to sign with: " + signer.error());
    boost::json::object question;
    question["type"] = "treve.address_lookup";
    question["source"] = head.d.ref.source;
    question["recipient"] = head.d.ref.recipient;
    question["role"] = policy::to_string(head.d.ref.role);
    question["channel"] = channel;
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
    HttpRequest request;
    request.url = sink.config.directory_url;
    request.body = boost::json::serialize(question);
    std::string signature = signer->sign(id, now, request.body);
    if (signature.empty())
      return fail("signing failed");
    request.headers = {{"content-type", "application/json"},
                       {"webhook-id", id},
                       {"webhook-timestamp", std::to_string(now)},
                       {"webhook-signature", std::move(signature)}};
    request.timeout = sink.config.timeout;
    request.connect_timeout = std::min(sink.config.timeout, std::chrono::milliseconds{5'000});
    request.ca_file = sink.config.ca_file;
    request.max_response_body = kMaxDirectoryAnswer;
    http.post(std::move(request),
              [this, index, batch = std::move(batch), digest, sent_at, id](HttpResponse r) {
                looked_up(index, batch, digest, sent_at, id, std::move(r));
              });
  }
  // Ten addresses of the longest kind (device tokens of 4 KiB), and room for other channels.
  static constexpr std::size_t kMaxDirectoryAnswer = 128 * 1024;

  void looked_up(std::size_t index, const std::vector<ItemPtr>& batch, bool digest,
                 policy::Instant sent_at, const std::string& id, HttpResponse response) {
    ChannelResult failed;
    failed.id = id;
    if (stopping) {
      // Not sent: the deliveries stay due for the next start, like a send cut short at stop
      // (the addresses answered are not kept for it).
      failed.cancelled = true;
      answered(index, batch, digest, sent_at, std::move(failed));
      return;
    }
    if (response.status == 404) {
      const adapters::RecipientChannels none;
      send_now(index, batch, digest, sent_at, &none);
      return;
    }
    if (response.status == 200) {
      if (auto bad = adapters::validate_channels(response.body)) {
        failed.error = "directory lookup: malformed answer" +
                       (bad->pointer.empty() ? std::string() : " at " + bad->pointer) + ": " +
                       bad->message;
      } else if (auto addresses = adapters::parse_channels(response.body)) {
        send_now(index, batch, digest, sent_at, &*addresses);
        return;
      } else {
        failed.error = "directory lookup: the answer is not a JSON object";
      }
    } else if (response.status != 0) {
      failed.error = "directory lookup: HTTP " + std::to_string(response.status);
      failed.retry_after = std::move(response.retry_after);
    } else {
      failed.error = "directory lookup: " + response.error;
    }
    // Not a digest's attempt: nothing was sent (its notifications go alone when retried).
    answered(index, batch, false, sent_at, std::move(failed));
  }

  void answered(std::size_t index, const std::vector<ItemPtr>& batch, bool digest,
                policy::Instant sent_at, ChannelResult response) {
    SinkState& sink = *sinks[index];
    --sink.in_flight;
    --in_flight;
    if (stopping && response.cancelled) {
      // Abandoned at stop: not an attempt. The deliveries stay due for the next start.
      for (const auto& item : batch)
        item->in_flight = false;
      maybe_finish_stop();
      return;
    }
    const policy::Instant now = clock.now();
    const adapters::Verdict verdict = response.verdict;
    const std::string& webhook_id = response.id;
    std::string error;
    if (verdict == adapters::Verdict::retry || verdict == adapters::Verdict::permanent) {
      error = !response.error.empty() ? response.error
              : response.status       ? "HTTP " + std::to_string(response.status)
                                      : std::string("no answer");
      spdlog::warn("event=dispatch.attempt_failed sink={} webhook_id={} deliveries={} error={}",
                   core::quoted(sink.config.name), webhook_id, batch.size(), core::quoted(error));
      if (options.metrics)
        options.metrics->sink_errors.with({sink.config.name, error_class(response.status)}).inc();
    }
    if (verdict == adapters::Verdict::permanent && batch.size() > 1) {
      // Refused as a whole (413, or 400 for one bad delivery among many; a digest refused):
      // each is sent again alone, so that a refusal dead-letters only the delivery it is
      // about. Not an attempt.
      spdlog::warn(
          "event=dispatch.batch_refused sink={} webhook_id={} deliveries={} status={}: "
          "sending them one by one",
          core::quoted(sink.config.name), webhook_id, batch.size(), response.status);
      for (const auto& item : batch) {
        item->in_flight = false;
        item->alone = true;
        make_ready(item->recipient_key);
      }
      schedule_pump();
      return;
    }
    // The digest's own id, from its deliveries' ids: the same on every sink. Not the channel's
    // id, which is what its receiver deduplicates on (an e-mail's: the Message-ID,
    // <dig_…@domain>).
    const std::string digest_id = digest ? digest_id_of(batch) : std::string();
    if (verdict == adapters::Verdict::no_address) {
      recording_batch = true;
      for (const auto& item : batch) {
        item->in_flight = false;
        record(*item, store::DeliveryOutcome::Kind::no_address, webhook_id, 0,
               "no " + sink.config.type + " address for this recipient", now, {}, digest_id);
        ++no_address;
        finish(*item);
      }
      end_batch();
      if (stopping)
        maybe_finish_stop();
      else
        schedule_pump();
      return;
    }
    std::optional<std::chrono::milliseconds> retry_after;
    if (response.retry_after)
      retry_after = parse_retry_after(*response.retry_after, now);
    const RetrySchedule schedule{sink.config.retry_initial, sink.config.retry_max_interval,
                                 sink.config.retry_for};
    recording_batch = true;
    for (const auto& item : batch) {
      item->in_flight = false;
      ++item->d.attempts;
      if (!item->d.first_attempt_at)
        item->d.first_attempt_at = sent_at;
      if (verdict == adapters::Verdict::delivered) {
        record(*item, store::DeliveryOutcome::Kind::delivered, webhook_id, response.status, "", now,
               response.addresses, digest_id);
        ++delivered;
        finish(*item);
        continue;
      }
      std::optional<policy::Instant> next;
      if (verdict == adapters::Verdict::retry) {
        next = next_attempt(schedule, item->d.attempts, *item->d.first_attempt_at, now, retry_after,
                            options.jitter());
      }
      if (!next) {
        record(*item, store::DeliveryOutcome::Kind::dead, webhook_id, response.status, error, now,
               response.addresses, digest_id);
        ++dead;
        finish(*item);
        continue;
      }
      item->not_before = *next;
      item->d.next_attempt_at = *next;
      record(*item, store::DeliveryOutcome::Kind::retrying, webhook_id, response.status, error, now,
             response.addresses, digest_id);
      ++retried;
      make_ready(item->recipient_key);
    }
    end_batch();
    if (stopping)
      maybe_finish_stop();
    else
      schedule_pump();
  }

  static std::string digest_id_of(const std::vector<ItemPtr>& batch) {
    std::vector<std::string> ids;
    ids.reserve(batch.size());
    for (const auto& item : batch)
      ids.push_back(item->delivery_id);
    return adapters::digest_id(ids);
  }

  // The recipient's first delivery is done with (delivered or dead): the next may go.
  void finish(const Item& item) {
    auto it = recipients.find(item.recipient_key);
    if (it == recipients.end())
      return;
    auto& items = it->second.items;
    if (!items.empty() && items.front().get() == &item)
      items.pop_front();
    if (items.empty() && it->second.queued_in == kNoSink) {
      recipients.erase(it);
      return;
    }
    make_ready(item.recipient_key);
  }

  // --- outcomes -------------------------------------------------------------------------

  void record(const Item& item, store::DeliveryOutcome::Kind kind, const std::string& webhook_id,
              int status, std::string error, policy::Instant now,
              const std::vector<std::string>& addresses = {}, const std::string& digest = {},
              store::HoldAgain hold = {}) {
    store::DeliveryOutcome o;
    o.kind = kind;
    o.ref = item.d.ref;
    if (item.sink < sinks.size()) {
      o.sink = sinks[item.sink]->config.name;
      o.channel = sinks[item.sink]->config.type;
    }
    o.webhook_id = webhook_id;
    o.delivery_id = item.delivery_id;
    o.attempts = item.d.attempts;
    o.status = status;
    o.error = std::move(error);
    o.first_attempt_at = item.d.first_attempt_at.value_or(now);
    o.next_attempt_at = item.d.next_attempt_at.value_or(now);
    o.addresses = addresses;
    o.digest = digest;
    o.due_at = item.d.released_at;
    o.held_until = hold.until;
    o.hold_reason = std::move(hold.reason);
    outcomes.push_back(std::move(o));
    // A retrying delivery stays in memory: only final outcomes free its place.
    if (kind != store::DeliveryOutcome::Kind::retrying)
      outcome_bytes += item.d.body.size() + 1;
    // Outcomes are gathered for a few milliseconds (or a few hundred) into one transaction:
    // one-delivery requests answered one by one would otherwise cost a commit each.
    if (!recording_batch && (outcomes.size() >= kOutcomesPerCommit || stopping)) {
      flush();
    } else if (!gather_armed && !committing) {
      gather_armed = true;
      gather_timer.expires_after(kGatherOutcomes);
      gather_timer.async_wait([this](const boost::system::error_code&) {
        gather_armed = false;
        flush();
      });
    }
  }

  // The outcomes of one request go to the writer together (record() holds them until this):
  // a digest's audit record covers every copy it carried, also at stop or past
  // kOutcomesPerCommit, instead of being split across two transactions (and two records).
  void end_batch() {
    recording_batch = false;
    if (outcomes.size() >= kOutcomesPerCommit || stopping)
      flush();
  }

  // Hands the outcomes known so far to the writer: one transaction at a time, so that those
  // arriving meanwhile are committed together in the next.
  void flush() {
    if (committing || outcomes.empty())
      return;
    committing = true;
    const std::uint64_t generation = next_flush++;
    auto batch = std::make_shared<std::vector<store::DeliveryOutcome>>(std::move(outcomes));
    outcomes.clear();
    std::size_t freed = 0;
    for (const auto& o : *batch) {
      if (o.kind != store::DeliveryOutcome::Kind::retrying)
        ++freed;
    }
    const std::size_t bytes = outcome_bytes - freed;  // +1 per delivery above
    outcome_bytes = 0;
    bool queued = queue.submit_write([this, batch, freed, bytes, generation](store::Store& s) {
      auto r = s.record_outcomes(*batch, clock.now());
      const std::int64_t released_up_to = s.last_ready_seq();
      boost::asio::post(
          ioc, [this, r = std::move(r), batch, freed, bytes, generation, released_up_to] {
            committing = false;
            if (!r) {
              spdlog::error("event=dispatch.outcomes_not_saved deliveries={} error={}",
                            batch->size(), r.error().message);
              retry_outcomes(*batch, freed, bytes);
              return;
            }
            commit_backoff = std::chrono::milliseconds{0};
            count(*batch);
            held_again_committed(*batch, generation, released_up_to);
            pending -= freed;
            pending_bytes -= std::min(pending_bytes, bytes);
            pending_count = pending;
            flush();
            if (stopping)
              maybe_finish_stop();
            else
              load();
          });
    });
    if (!queued) {
      // The writer is full (or stopping).
      committing = false;
      retry_outcomes(*batch, freed, bytes);
    }
  }

  // Outcomes that could not be committed are kept and tried again, later and later (the
  // deliveries they are about stay out of the store's due list meanwhile: they are in
  // memory). At stop, once the grace is over, they are left: the store still has those
  // deliveries due or retrying, and the next start sends them again (at least once).
  void retry_outcomes(std::vector<store::DeliveryOutcome>& batch, std::size_t freed,
                      std::size_t bytes) {
    if (abandon_outcomes) {
      spdlog::warn("event=dispatch.outcomes_left deliveries={}: sent again at the next start",
                   batch.size());
      pending -= freed;
      pending_bytes -= std::min(pending_bytes, bytes);
      maybe_finish_stop();
      return;
    }
    std::vector<store::DeliveryOutcome> newer = std::move(outcomes);
    outcomes = std::move(batch);
    for (auto& o : newer)
      outcomes.push_back(std::move(o));
    outcome_bytes += bytes + freed;
    commit_backoff = std::clamp(commit_backoff * 2, std::chrono::milliseconds{20},
                                std::chrono::milliseconds{5'000});
    flush_timer.expires_after(commit_backoff);
    flush_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec)
        flush();
    });
  }

  // Deliveries held again are in the store as held: the scheduler is told when to release them,
  // and the holds decided up to this flush (`generation`, committed when the store's last
  // ready_seq was `released_up_to`) are in force.
  void held_again_committed(const std::vector<store::DeliveryOutcome>& batch,
                            std::uint64_t generation, std::int64_t released_up_to) {
    std::size_t n = 0;
    policy::Instant earliest = policy::Instant::max();
    for (const auto& o : batch) {
      if (o.kind != store::DeliveryOutcome::Kind::held_again)
        continue;
      ++n;
      earliest = std::min(earliest, o.held_until);
      auto h = held_recipients.find(recipient_key(o.ref.source, o.ref.recipient, o.sink));
      // A hold decided since (a later flush carries it) stays uncommitted.
      if (h != held_recipients.end() && h->second.released_up_to == kUncommitted &&
          h->second.flush <= generation) {
        h->second.released_up_to = released_up_to;
        h->second.committed_at = clock.now();
      }
    }
    if (n == 0)
      return;
    spdlog::info(
        "event=dispatch.held_again deliveries={} until={}: their recipients' quiet time "
        "began before they were sent",
        n,
        earliest == policy::Instant::max()
            ? std::string("null")
            : policy::format_rfc3339(earliest, store::zone_or_utc("UTC")));
    if (options.on_held_again && earliest != policy::Instant::max())
      options.on_held_again(earliest);
  }

  // Committed outcomes into the metrics (on the dispatcher's thread).
  void count(const std::vector<store::DeliveryOutcome>& batch) {
    core::Metrics* m = options.metrics;
    if (!m)
      return;
    const policy::Instant now = clock.now();
    for (const auto& o : batch) {
      switch (o.kind) {
        case store::DeliveryOutcome::Kind::delivered:
          m->delivered.with({o.sink}).inc();
          break;
        case store::DeliveryOutcome::Kind::retrying:
          m->retried.with({o.sink}).inc();
          continue;
        case store::DeliveryOutcome::Kind::dead:
          m->dead.with({o.sink}).inc();
          break;
        case store::DeliveryOutcome::Kind::no_address:
        case store::DeliveryOutcome::Kind::held_again:
          continue;
      }
      const std::chrono::duration<double> latency = now - o.due_at;
      m->delivery_latency.with({o.sink}).observe(std::max(latency.count(), 0.0));
    }
  }

  // The class of a failed attempt, by the status of the answer that decided it (HTTP, or an
  // SMTP reply code: 4xx transient, 5xx permanent).
  static std::string_view error_class(int status) {
    if (status == 0)
      return "no_answer";
    if (status >= 400 && status < 500)
      return "status_4xx";
    if (status >= 500 && status < 600)
      return "status_5xx";
    return "status_other";
  }

  // --- stopping -------------------------------------------------------------------------

  void begin_stop(std::chrono::milliseconds grace) {
    if (stopping)
      return;
    stopping = true;
    scan_timer.cancel();
    retry_timer.cancel();
    for (auto& s : sinks)
      s->rate_timer->cancel();
    grace_timer.expires_after(grace);
    grace_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec)
        return;
      abandon_outcomes = true;
      std::size_t under_way = http.in_flight();
      for (const auto& s : sinks)
        under_way += s->channel->in_flight();
      for (const auto& c : retired_channels)
        under_way += c->in_flight();
      if (under_way) {
        spdlog::warn("event=dispatch.abandoned requests={}", under_way);
        http.cancel_all();
        for (const auto& s : sinks)
          s->channel->cancel_all();
        for (const auto& c : retired_channels)
          c->cancel_all();
      }
      maybe_finish_stop();
    });
    maybe_finish_stop();
  }

  void maybe_finish_stop() {
    if (!stopping || stopped_signalled)
      return;
    if (in_flight.load() != 0)
      return;
    flush();
    if (committing || !outcomes.empty())
      return;
    stopped_signalled = true;
    grace_timer.cancel();
    flush_timer.cancel();
    gather_timer.cancel();
    work.reset();
    ioc.stop();
    stopped_promise.set_value();
  }
};

Dispatcher::Dispatcher(store::CommitQueue& queue, store::DispatchStore& store,
                       const core::Clock& clock, ConfigSource config, Options options)
    : impl_(std::make_shared<Impl>(queue, store, clock, std::move(config), std::move(options))) {}

Dispatcher::~Dispatcher() {
  stop(std::chrono::milliseconds{0});
  wait();
}

void Dispatcher::start() {
  Impl* impl = impl_.get();
  boost::asio::post(impl->ioc, [impl] { impl->begin(); });
  impl->thread = std::thread([impl] { impl->ioc.run(); });
}

void Dispatcher::notify() {
  Impl* impl = impl_.get();
  if (impl->notify_pending.exchange(true))
    return;
  boost::asio::post(impl->ioc, [impl] {
    impl->notify_pending = false;
    impl->load();
  });
}

void Dispatcher::reconfigure() {
  Impl* impl = impl_.get();
  boost::asio::post(impl->ioc, [impl] { impl->reconfigure(); });
}

void Dispatcher::stop(std::chrono::milliseconds grace) {
  Impl* impl = impl_.get();
  boost::asio::post(impl->ioc, [impl, grace] { impl->begin_stop(grace); });
}

void Dispatcher::wait() {
  Impl* impl = impl_.get();
  if (impl->thread.joinable()) {
    impl->stopped_future.wait();
    impl->thread.join();
  }
}

Dispatcher::Counters Dispatcher::counters() const {
  const Impl& i = *impl_;
  Counters c;
  c.delivered = i.delivered.load();
  c.retried = i.retried.load();
  c.dead = i.dead.load();
  c.no_address = i.no_address.load();
  c.held_again = i.held_again_count.load();
  c.requests = i.requests.load();
  c.in_flight = i.in_flight.load();
  c.pending = i.pending_count.load();
  return c;
}

}  // namespace treve::dispatch
