// The dispatcher on a real store, sending to a real HTTP receiver on loopback: the sink's
// limits (requests in flight, rate), back-pressure on reading the store while a sink is slow,
// and per-recipient order through failures and retries.
#include "daemon/dispatch/dispatcher.h"
#include "daemon/core/digest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <sqlite3.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "adapters/outbound/webhook_body.h"
#include "daemon/config/config.h"
#include "daemon/http/server.h"
#include "daemon/store/audit_record.h"
#include "daemon/store/sqlite_store.h"
#include "tests/support/smtp_receiver.h"
#include "tests/support/store.h"
#include "tests/support/tokens.h"

namespace treve::dispatch {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A webhook receiver on loopback. `answer` decides each request's status; a held receiver
// keeps requests unanswered until released.
class Receiver {
 public:
  struct Seen {
    std::string recipient;
    int index = 0;  // the event number, from the event id "e<index>"
    std::string webhook_id;
  };

  Receiver() : work_(boost::asio::make_work_guard(ioc_)) {
    server_ = std::make_unique<http::Server>(
        ioc_, [this](http::Request&& req, http::Respond respond) { on(std::move(req), respond); },
        http::ServerOptions{});
    EXPECT_TRUE(server_->listen("127.0.0.1:0"));
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Receiver() {
    release();
    server_->stop([this] { work_.reset(); });
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->local_endpoint().port()) + "/hook";
  }

  std::function<int(const Seen&)> answer = [](const Seen&) { return 200; };

  void hold() {
    std::lock_guard lock(mutex_);
    holding_ = true;
  }
  void release() {
    std::vector<std::pair<http::Respond, int>> held;
    {
      std::lock_guard lock(mutex_);
      holding_ = false;
      held.swap(held_);
    }
    for (auto& [respond, status] : held)
      respond(response(status));
  }
  std::size_t held_now() const {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t succeeded() const {
    std::lock_guard lock(mutex_);
    return succeeded_;
  }
  bool wait_succeeded(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return succeeded_ >= n; });
  }

 private:
  static http::Response response(int status) {
    http::Response r{static_cast<boost::beast::http::status>(status), 11};
    r.prepare_payload();
    return r;
  }
  void on(http::Request&& req, http::Respond respond) {
    auto body = boost::json::parse(req.body());
    std::vector<Seen> items;
    auto take = [&](const boost::json::value& v) {
      const auto& o = v.as_object();
      std::string id(o.at("id").as_string());
      items.push_back({std::string(o.at("recipient").as_string()), std::stoi(id.substr(1)),
                       std::string(req["webhook-id"])});
    };
    if (body.is_array()) {
      for (const auto& v : body.as_array())
        take(v);
    } else {
      take(body);
    }
    int status = 200;
    for (const auto& s : items)
      status = std::max(status, answer(s));
    std::unique_lock lock(mutex_);
    for (auto& s : items)
      seen_.push_back(s);
    if (status < 300)
      succeeded_ += items.size();
    changed_.notify_all();
    if (holding_) {
      held_.emplace_back(std::move(respond), status);
      return;
    }
    lock.unlock();
    respond(response(status));
  }

  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool holding_ = false;
  std::vector<std::pair<http::Respond, int>> held_;
  std::vector<Seen> seen_;
  std::size_t succeeded_ = 0;
};

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() {
    store_ = test::open_store(test::store_options(dir_.db()));
    queue_ = std::make_unique<store::CommitQueue>(*store_, clock_);
  }
  ~DispatcherTest() override {
    dispatcher_.reset();
    queue_->stop();
    queue_.reset();
    store_.reset();
  }

  void configure(const std::string& sink_options) {
    std::string text = R"(
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
[[sinks]]
name = "push"
type = "webhook"
url = ")" + receiver_.url() +
                       R"("
secret_file = ")" TREVE_SOURCE_DIR R"(/systemd/ent-push.secret"
default = true
retry_initial = "20ms"
retry_max_interval = "100ms"
)" + sink_options;
    auto c = config::parse_config(text, "test.toml");
    ASSERT_TRUE(c) << c.error()[0].to_string();
    config_ = *c;
  }

  // Event "e<number>" of connector "ent", received now, without deliveries.
  store::NewEvent new_event(int number, std::string body = R"({"title":"t"})") {
    store::NewEvent ev;
    ev.source = "ent";
    ev.id = "e" + std::to_string(number);
    ev.establishment = "0750654D";
    ev.received_at = clock_.now();
    ev.zone = date::locate_zone("Europe/Paris");
    ev.body = std::move(body);
    ev.body_sha256 = core::sha256_hex(ev.id);
    ev.response = "{}";
    return ev;
  }

  // `events` events for each of `recipients` recipients, due at once, in order per recipient.
  void store_due(int recipients, int events) {
    std::vector<store::NewEvent> batch;
    for (int e = 0; e < events; ++e) {
      store::NewEvent ev = new_event(e);
      for (int r = 0; r < recipients; ++r) {
        store::NewDelivery d;
        d.recipient = "r" + std::to_string(r);
        d.state = store::DeliveryState::due;
        d.release_at = ev.received_at;
        d.reason = "now";
        ev.deliveries.push_back(d);
      }
      batch.push_back(std::move(ev));
    }
    auto r = store_->accept(batch, clock_.now());
    ASSERT_TRUE(r) << r.error().message;
  }

  void start(Dispatcher::Options options = {}) {
    options.jitter = [] { return 0.5; };
    auto config = config_;
    dispatcher_ = std::make_unique<Dispatcher>(
        *queue_, *store_, clock_, [config] { return config; }, options);
    dispatcher_->start();
  }

  long long count(const std::string& state) {
    auto rows = store_->list(*store::parse_delivery_state(state), 0, 1'000'000);
    return rows ? static_cast<long long>(rows->size()) : -1;
  }

  test::TempDir dir_{"treve-dispatch"};
  core::SystemClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::CommitQueue> queue_;
  Receiver receiver_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, ASlowSinkGetsAtMostMaxInFlightRequestsAndReadingTheStorePauses) {
  configure("max_in_flight = 4\n");
  store_due(3000, 1);
  receiver_.hold();
  Dispatcher::Options options;
  options.max_pending = 200;
  options.load_batch = 50;
  start(options);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (receiver_.held_now() < 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(receiver_.held_now(), 4u);
  EXPECT_EQ(dispatcher_->counters().in_flight, 4u);
  EXPECT_LE(dispatcher_->counters().pending, 200u);
  receiver_.release();
  ASSERT_TRUE(receiver_.wait_succeeded(3000, 20s));
  dispatcher_->stop(1s);
  dispatcher_->wait();
  EXPECT_EQ(count("delivered"), 3000);
  EXPECT_EQ(count("due"), 0);
}

TEST_F(DispatcherTest, EachRecipientsDeliveriesGoInOrderThroughFailuresAndRetries) {
  configure("max_in_flight = 16\n");
  store_due(20, 15);
  std::mutex m;
  std::map<std::string, int> delivered_up_to;  // per recipient: last index that succeeded
  std::atomic<int> violations{0};
  auto rng = std::make_shared<std::mt19937>(42);
  receiver_.answer = [&](const Receiver::Seen& s) {
    std::lock_guard lock(m);
    auto [it, fresh] = delivered_up_to.try_emplace(s.recipient, -1);
    if (s.index != it->second + 1)
      ++violations;  // sent before the previous one succeeded, or out of order
    std::uniform_int_distribution<int> d(0, 9);
    int roll = d(*rng);
    int status = roll < 2 ? 503 : roll < 3 ? 429 : 200;
    if (status == 200)
      it->second = s.index;
    return status;
  };
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(300, 20s));
  dispatcher_->stop(1s);
  dispatcher_->wait();
  EXPECT_EQ(violations.load(), 0);
  for (const auto& [recipient, last] : delivered_up_to)
    EXPECT_EQ(last, 14) << recipient;
  EXPECT_EQ(count("delivered"), 300);
  EXPECT_GT(dispatcher_->counters().retried, 0u);
  // The same delivery keeps its webhook-id on every attempt.
  std::map<std::pair<std::string, int>, std::set<std::string>> ids;
  for (const auto& s : receiver_.seen())
    ids[{s.recipient, s.index}].insert(s.webhook_id);
  for (const auto& [key, set] : ids)
    EXPECT_EQ(set.size(), 1u);
}

// A recipient in quiet time when their deliveries are about to go (Options::quiet_now): held
// again until its end, each with a `held_again` record, after a failed attempt as well as
// waiting behind it; the scheduler is told the new instant; other recipients' go.
TEST_F(DispatcherTest, DeliveriesOfARecipientInQuietTimeNowAreHeldAgainNotSent) {
  configure("");
  store_due(2, 3);
  const policy::Instant morning = clock_.now() + std::chrono::hours(10);
  std::atomic<bool> quiet{false};
  receiver_.answer = [&](const Receiver::Seen& s) {
    if (s.recipient == "r0" && s.index == 0) {
      quiet = true;  // r0's quiet time begins while its first attempt is answered 503
      return 503;
    }
    return 200;
  };
  std::mutex m;
  std::vector<policy::Instant> woken;
  Dispatcher::Options options;
  options.quiet_now = [&](const config::Config&, const store::DispatchItem& item,
                          policy::Instant) -> std::optional<store::HoldAgain> {
    if (item.ref.recipient != "r0" || !quiet)
      return std::nullopt;
    return store::HoldAgain{morning, "quiet window Mon-Thu 20:00-07:00"};
  };
  options.on_held_again = [&](policy::Instant t) {
    std::lock_guard lock(m);
    woken.push_back(t);
  };
  start(options);
  ASSERT_TRUE(receiver_.wait_succeeded(3, 10s));
  for (int i = 0; i < 500 && count("held") < 3; ++i)
    std::this_thread::sleep_for(10ms);
  dispatcher_->stop(1s);
  dispatcher_->wait();
  EXPECT_EQ(count("held"), 3);
  EXPECT_EQ(count("delivered"), 3);
  EXPECT_EQ(dispatcher_->counters().held_again, 3u);
  int r0_requests = 0;
  for (const auto& s : receiver_.seen())
    r0_requests += s.recipient == "r0";
  EXPECT_EQ(r0_requests, 1) << "r0's deliveries went out in its quiet time";
  {
    std::lock_guard lock(m);
    ASSERT_FALSE(woken.empty());
    EXPECT_EQ(woken.front(), morning);
  }
  EXPECT_EQ(*store_->next_release(), morning);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir_.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT event_id, detail FROM audit WHERE kind = 'held_again' ORDER BY seq",
                     -1, &st, nullptr);
  std::vector<std::string> events;
  while (sqlite3_step(st) == SQLITE_ROW) {
    events.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    auto detail =
        boost::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 1))).as_object();
    // The first in its own words; those behind it, held with it, say so.
    EXPECT_EQ(detail.at("reason").as_string(),
              events.size() == 1 ? "quiet window Mon-Thu 20:00-07:00"
                                 : "behind e0, held again: quiet window Mon-Thu 20:00-07:00")
        << detail;
    EXPECT_TRUE(detail.at("until").is_string()) << detail;
    EXPECT_EQ(detail.at("attempts").as_int64(), events.size() == 1 ? 1 : 0) << detail;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(events, (std::vector<std::string>{"e0", "e1", "e2"}));
  // Released at the new instant, they come back due, the retried one with its attempt kept.
  auto released = store_->release_due(morning, 10);
  ASSERT_TRUE(released);
  EXPECT_EQ(released->size(), 3u);
  auto ready = store_->ready(0, 10);
  ASSERT_TRUE(ready);
  ASSERT_EQ(ready->size(), 3u);
  EXPECT_EQ(ready->front().ref.event_id, "e0");
  EXPECT_EQ(ready->front().attempts, 1);
  EXPECT_FALSE(ready->front().first_attempt_at.has_value());
}

// A recipient's delivery held again, and a later one of theirs released by the store after
// that decision but before the hold is committed (the hold, on its way to the writer, queues
// behind the release): read meanwhile, the later one must wait behind the held one, not go
// first. Found by the crash loop under AddressSanitizer, where commits are slow.
TEST_F(DispatcherTest, ADeliveryReleasedWhileAHoldIsBeingCommittedWaitsBehindIt) {
  configure("");
  const policy::Instant morning = clock_.now() + std::chrono::hours(10);
  {
    std::vector<store::NewEvent> batch;
    for (int e = 0; e < 2; ++e) {
      store::NewEvent ev = new_event(e);
      store::NewDelivery d;
      d.recipient = "r0";
      d.state = e == 0 ? store::DeliveryState::due : store::DeliveryState::held;
      d.release_at = ev.received_at;  // e1: held until now, released by the writer below
      d.reason = e == 0 ? "now" : "quiet window Mon-Sun 20:00-07:00";
      ev.deliveries.push_back(d);
      batch.push_back(std::move(ev));
    }
    auto r = store_->accept(batch, clock_.now());
    ASSERT_TRUE(r) << r.error().message;
  }
  // The writer is busy until the dispatcher has decided to hold e0; it then releases e1 and
  // stays busy a while, so that the hold's commit waits while the dispatcher reads e1.
  std::atomic<bool> decided{false};
  std::atomic<bool> released{false};
  ASSERT_TRUE(queue_->submit_write([&](store::Store& s) {
    for (int i = 0; i < 500 && !decided; ++i)
      std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(20ms);  // the dispatcher records its decision
    auto r = s.release_due(clock_.now(), 10);
    EXPECT_TRUE(r && r->size() == 1u);
    released = true;
    // Room for the dispatcher to read e1 (it scans every 10 ms) and, wrongly, send it.
    for (int i = 0; i < 100 && receiver_.seen().empty(); ++i)
      std::this_thread::sleep_for(10ms);
  }));
  Dispatcher::Options options;
  options.idle_scan = 10ms;
  options.quiet_now = [&](const config::Config&, const store::DispatchItem& item,
                          policy::Instant) -> std::optional<store::HoldAgain> {
    if (item.ref.event_id != "e0")
      return std::nullopt;  // e1 could go now, but for e0 held ahead of it
    decided = true;
    return store::HoldAgain{morning, "quiet window Mon-Sun 20:00-07:00"};
  };
  start(options);
  for (int i = 0; i < 500 && count("held") < 2; ++i)
    std::this_thread::sleep_for(10ms);
  dispatcher_->stop(1s);
  dispatcher_->wait();
  EXPECT_TRUE(released);
  EXPECT_TRUE(receiver_.seen().empty()) << "e1 went before e0, held ahead of it";
  EXPECT_EQ(count("held"), 2);
  // Released at e0's new instant, they come back in receipt order.
  auto again = store_->release_due(morning, 10);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ(again->at(0).ref.event_id, "e0");
  EXPECT_EQ(again->at(1).ref.event_id, "e1");
  // Then they go, in that order (nothing stays held for ever).
  dispatcher_.reset();
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(2, 10s));
  const auto seen = receiver_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].index, 0);
  EXPECT_EQ(seen[1].index, 1);
}

TEST_F(DispatcherTest, APermanentRefusalDeadLettersAndTheRecipientsNextDeliveryGoes) {
  configure("");
  store_due(1, 3);
  receiver_.answer = [](const Receiver::Seen& s) { return s.index == 1 ? 400 : 200; };
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(2, 10s));
  dispatcher_->stop(1s);
  dispatcher_->wait();
  auto dead = store_->list(store::DeliveryState::dead, 0, 10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].ref.event_id, "e1");
  EXPECT_EQ((*dead)[0].last_error, "HTTP 400");
  auto seen = receiver_.seen();
  ASSERT_EQ(seen.size(), 3u);  // 400 is not retried
  EXPECT_EQ(seen[0].index, 0);
  EXPECT_EQ(seen[1].index, 1);
  EXPECT_EQ(seen[2].index, 2);
}

TEST_F(DispatcherTest, EachDeliverySentInABatchIsAuditedWithItsOwnDeliveryId) {
  configure("batch_max = 25\n");
  store_due(10, 1);
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(10, 20s));
  dispatcher_->stop(1s);
  dispatcher_->wait();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir_.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT detail FROM audit WHERE kind = 'delivered' ORDER BY seq", -1, &st,
                     nullptr);
  std::set<std::string> ids;
  std::set<std::string> expected;
  for (int r = 0; r < 10; ++r)
    expected.insert(adapters::webhook_delivery_id("ent", "e0", "r" + std::to_string(r), "student"));
  while (sqlite3_step(st) == SQLITE_ROW) {
    auto detail =
        boost::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))).as_object();
    EXPECT_TRUE(detail.at("webhook_id").as_string().starts_with("bat_")) << detail;
    ASSERT_TRUE(detail.contains("delivery_id")) << detail;
    ids.insert(std::string(detail.at("delivery_id").as_string()));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(ids, expected);
}

TEST_F(DispatcherTest, TheRateLimitSpacesDeliveriesOut) {
  configure("rate = 100\nmax_in_flight = 64\n");
  store_due(300, 1);
  const auto begin = std::chrono::steady_clock::now();
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(300, 20s));
  const auto took = std::chrono::steady_clock::now() - begin;
  // A burst of 100, then 200 more at 100 per second.
  EXPECT_GE(took, 1800ms);
  EXPECT_LE(took, 6s);
}

TEST_F(DispatcherTest, BatchesCarrySeveralRecipientsAndAtMostOneDeliveryOfEach) {
  configure("batch_max = 25\n");
  store_due(100, 3);
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(300, 20s));
  dispatcher_->stop(1s);
  dispatcher_->wait();
  std::map<std::string, std::vector<std::string>> by_request;
  for (const auto& s : receiver_.seen())
    by_request[s.webhook_id].push_back(s.recipient);
  EXPECT_LT(by_request.size(), 60u);  // about 12 requests of 25
  for (auto& [id, recipients] : by_request) {
    EXPECT_LE(recipients.size(), 25u);
    std::sort(recipients.begin(), recipients.end());
    EXPECT_EQ(std::adjacent_find(recipients.begin(), recipients.end()), recipients.end()) << id;
  }
  std::map<std::string, int> last;
  for (const auto& s : receiver_.seen()) {
    auto [it, fresh] = last.try_emplace(s.recipient, -1);
    EXPECT_EQ(s.index, it->second + 1) << s.recipient;
    it->second = s.index;
  }
}

TEST_F(DispatcherTest, StopLeavesUnsentDeliveriesDueForTheNextStart) {
  configure("max_in_flight = 2\n");
  store_due(50, 1);
  receiver_.hold();
  start();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (receiver_.held_now() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  dispatcher_->stop(200ms);  // the two in flight are abandoned after the grace
  dispatcher_->wait();
  EXPECT_EQ(count("due"), 50);
  EXPECT_EQ(count("retrying"), 0);
  receiver_.release();
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(52, 10s));  // the two abandoned ones come again
  dispatcher_->stop(1s);
  dispatcher_->wait();
  EXPECT_EQ(count("delivered"), 50);
}

// An e-mail relay that takes its time (5 s before answering the first message): the webhook
// copies of the same events go meanwhile, and a stop abandons the e-mail at the end of its
// grace instead of waiting for the relay; the e-mails stay due for the next start.
TEST_F(DispatcherTest, ASlowMailRelayHoldsBackNeitherOtherSinksNorTheStop) {
  if (const std::string missing = test::smtp_receiver_missing(); !missing.empty())
    FAIL() << missing;
  test::SmtpReceiverOptions relay_options;
  relay_options.tls = false;
  relay_options.slow = {{"slow", 5000}};
  test::SmtpReceiver relay(relay_options);
  configure("[[sinks]]\nname = \"mail\"\ntype = \"smtp\"\nurl = \"" + relay.url() +
            "\"\nstarttls = \"off\"\nfrom = \"notifications@college.example.fr\"\n"
            "timeout = \"20s\"\n");
  std::vector<store::NewEvent> batch;
  for (int e = 0; e < 3; ++e) {
    store::NewEvent ev = new_event(e, R"({"title":"t","recipients":[{"id":"r0","role":"student",)"
                                      R"("channels":{"email":"slow.r0@example.fr"}}]})");
    store::NewDelivery d;
    d.recipient = "r0";
    d.state = store::DeliveryState::due;
    d.release_at = ev.received_at;
    d.reason = "now";
    d.sinks = {"push", "mail"};
    ev.deliveries.push_back(d);
    batch.push_back(std::move(ev));
  }
  ASSERT_TRUE(store_->accept(batch, clock_.now()));
  start();
  // The three webhooks, in well under the relay's 5 s.
  ASSERT_TRUE(receiver_.wait_succeeded(3, 2s));
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (count("delivered") < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(count("delivered"), 3);
  const auto stopping = std::chrono::steady_clock::now();
  dispatcher_->stop(200ms);
  dispatcher_->wait();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 2s) << "the stop waited for the relay";
  EXPECT_EQ(count("due"), 3);  // the e-mail abandoned, and the two behind it in order
  EXPECT_EQ(count("retrying"), 0);
}

TEST_F(DispatcherTest, ABatchRefusedAsAWholeIsSentAgainOneByOneAndOnlyTheCulpritIsDead) {
  configure("batch_max = 10\n");
  store_due(30, 1);
  // The receiver refuses any request that carries r7's delivery.
  receiver_.answer = [](const Receiver::Seen& s) { return s.recipient == "r7" ? 400 : 200; };
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(29, 10s));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count("dead") < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  dispatcher_->stop(1s);
  dispatcher_->wait();
  auto dead = store_->list(store::DeliveryState::dead, 0, 10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].ref.recipient, "r7");
  EXPECT_EQ((*dead)[0].attempts, 1);  // the refused batch was not counted as an attempt
  EXPECT_EQ(count("delivered"), 29);
}

TEST_F(DispatcherTest, TheRateHoldsWithBatchesToo) {
  configure("rate = 50\nbatch_max = 100\n");
  store_due(100, 1);
  const auto begin = std::chrono::steady_clock::now();
  start();
  ASSERT_TRUE(receiver_.wait_succeeded(100, 10s));
  // One second's worth at once, then 50 per second: not all 100 in the first request.
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 900ms);
  std::map<std::string, int> per_request;
  for (const auto& s : receiver_.seen())
    ++per_request[s.webhook_id];
  for (const auto& [id, n] : per_request)
    EXPECT_LE(n, 50) << id;
}

}  // namespace
}  // namespace treve::dispatch
