// The user directory client against a real HTTP server on loopback (daemon/http/server.h),
// which checks each request's Standard Webhooks signature with the tests' own verifier
// (tests/integration/webhook_receiver.h) or its bearer token: the answers, the cache (hits,
// expiry on a fake clock, eviction at the bound), coalescing of identical lookups, requests
// split at the per-request maximum and sent at once, and failures (timeout, 500, garbage),
// with log lines that name no user.
#include "daemon/directory/directory_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "daemon/http/server.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::directory {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Status = UserAnswer::Status;
namespace json = boost::json;

// What the directory saw of one request.
struct Seen {
  std::string content_type;
  std::string authorization;
  std::string webhook_id;
  std::string webhook_timestamp;
  std::string webhook_signature;
  std::string body;
  std::string source;
  std::vector<std::string> users;
  std::string verified;  // the verifier's complaint; empty when the signature is good
};

struct Answer {
  int status = 200;
  std::string body;
  bool hold = false;  // kept unanswered until release()
};

// A user directory on 127.0.0.1. `script` answers each request (on the server's thread).
class FakeDirectory {
 public:
  explicit FakeDirectory(std::string secret = {}) : work_(boost::asio::make_work_guard(ioc_)) {
    if (!secret.empty())
      verifier_.emplace(secret);
    server_ = std::make_unique<http::Server>(
        ioc_, [this](http::Request&& req, http::Respond respond) { on(std::move(req), respond); },
        http::ServerOptions{});
    EXPECT_TRUE(server_->listen("127.0.0.1:0"));
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeDirectory() {
    release();
    server_->stop([this] { work_.reset(); });
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->local_endpoint().port()) + "/who";
  }

  std::function<Answer(const Seen&)> script = [](const Seen&) { return Answer{404, ""}; };

  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return seen_.size() >= n; });
  }
  void release() {
    std::vector<std::pair<http::Respond, Answer>> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& [respond, answer] : held)
      respond(response(answer));
  }

 private:
  static http::Response response(const Answer& a) {
    http::Response r{static_cast<boost::beast::http::status>(a.status), 11};
    r.set(boost::beast::http::field::content_type, "application/json");
    r.body() = a.body;
    r.prepare_payload();
    return r;
  }
  void on(http::Request&& req, http::Respond respond) {
    Seen s;
    s.content_type = std::string(req[boost::beast::http::field::content_type]);
    s.authorization = std::string(req[boost::beast::http::field::authorization]);
    s.webhook_id = std::string(req["webhook-id"]);
    s.webhook_timestamp = std::string(req["webhook-timestamp"]);
    s.webhook_signature = std::string(req["webhook-signature"]);
    s.body = req.body();
    boost::system::error_code ec;
    json::value v = json::parse(s.body, ec);
    if (!ec && v.is_object()) {
      if (auto* src = v.as_object().if_contains("source"); src && src->is_string())
        s.source = std::string(src->get_string());
      if (auto* users = v.as_object().if_contains("users"); users && users->is_array()) {
        for (const auto& u : users->get_array())
          s.users.emplace_back(u.as_string());
      }
    }
    if (verifier_)
      s.verified = verifier_->check(s.webhook_id, s.webhook_timestamp, s.body, s.webhook_signature);
    Answer a = s.verified.empty() ? script(s) : Answer{401, ""};
    std::unique_lock lock(mutex_);
    seen_.push_back(std::move(s));
    changed_.notify_all();
    if (a.hold) {
      held_.emplace_back(std::move(respond), a);
      return;
    }
    lock.unlock();
    respond(response(a));
  }

  std::optional<itest::WebhookVerifier> verifier_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Seen> seen_;
  std::vector<std::pair<http::Respond, Answer>> held_;
};

// The log lines written while it lives.
class Logs {
 public:
  Logs()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)),
        previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("directory-test", sink_);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~Logs() { spdlog::set_default_logger(previous_); }
  std::string text() const {
    std::string out;
    for (const auto& line : sink_->last_formatted())
      out += line;
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

// The client on its own io thread, with a fake clock.
class Client {
 public:
  Client(config::Directory config, DirectoryClient::Options options = {})
      : clock_(policy::Instant{std::chrono::milliseconds{1'764'000'000'000}}),
        work_(boost::asio::make_work_guard(ioc_)),
        client_(std::make_unique<DirectoryClient>(ioc_, config, clock_, options)) {
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Client() {
    // The client goes on its own thread's io_context, which then stops.
    boost::asio::post(ioc_, [this] {
      client_.reset();
      work_.reset();
    });
    thread_.join();
  }

  // The answers, or an empty vector after 10 s without them.
  std::vector<UserAnswer> lookup(std::vector<std::string> ids, std::string source = "ent") {
    auto f = start(std::move(ids), std::move(source));
    if (f.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer";
      return {};
    }
    return f.get();
  }
  std::future<std::vector<UserAnswer>> start(std::vector<std::string> ids,
                                             std::string source = "ent") {
    auto promise = std::make_shared<std::promise<std::vector<UserAnswer>>>();
    auto f = promise->get_future();
    client_->lookup(std::move(source), std::move(ids),
                    [promise](std::vector<UserAnswer> a) { promise->set_value(std::move(a)); });
    return f;
  }
  core::FakeClock& clock() { return clock_; }
  DirectoryClient& client() { return *client_; }

 private:
  core::FakeClock clock_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<DirectoryClient> client_;
  std::thread thread_;
};

config::Directory signed_directory(const FakeDirectory& d, const std::string& secret) {
  config::Directory c;
  c.name = "ent";
  c.url = d.url();
  c.secret = secret;
  return c;
}

// Every asked user that starts with "s-" is a student of 0250001R; others are unknown.
Answer students(const Seen& s) {
  json::object users;
  for (const auto& id : s.users) {
    if (id.starts_with("s-"))
      users[id] = json::object{{"profile", "Student"}, {"structures", json::array{"0250001R"}}};
  }
  return Answer{200, json::serialize(json::object{{"users", users}})};
}

TEST(DirectoryClient, ASignedRequestNamesEveryUserAndTheAnswerSaysWhoTheyAre) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  directory.script = [](const Seen&) {
    return Answer{200, R"({"users":{
      "p-1":{"profile":"Relative","structures":["0250001R"],"children":["s-1","s-2"]},
      "s-1":{"profile":"Student","structures":["0250001R","0750654D"]},
      "t-1":{"profile":"Teacher","structures":["0750654D"]},
      "g-1":{"profile":"Guest","structures":[]}}})"};
  };
  Client client(signed_directory(directory, secret));
  auto answers = client.lookup({"p-1", "s-1", "t-1", "g-1", "x-1"}, "ent-mobile");

  ASSERT_EQ(directory.count(), 1u);
  const Seen seen = directory.seen()[0];
  EXPECT_EQ(seen.verified, "");
  EXPECT_TRUE(seen.webhook_id.starts_with("ulk_")) << seen.webhook_id;
  EXPECT_EQ(seen.webhook_timestamp, "1764000000");  // the fake clock's
  EXPECT_EQ(seen.content_type, "application/json");
  EXPECT_EQ(seen.authorization, "");
  EXPECT_EQ(seen.source, "ent-mobile");
  EXPECT_THAT(seen.users, ElementsAre("p-1", "s-1", "t-1", "g-1", "x-1"));
  EXPECT_EQ(json::parse(seen.body).at("type").as_string(), "treve.user_lookup");

  ASSERT_EQ(answers.size(), 5u);
  ASSERT_EQ(answers[0].status, Status::known);
  EXPECT_EQ(answers[0].user->role, policy::Role::parent);
  EXPECT_EQ(answers[0].user->profile, adapters::Profile::relative);
  EXPECT_THAT(answers[0].user->children, ElementsAre("s-1", "s-2"));
  ASSERT_EQ(answers[1].status, Status::known);
  EXPECT_EQ(answers[1].user->role, policy::Role::student);
  EXPECT_THAT(answers[1].user->structures, ElementsAre("0250001R", "0750654D"));
  ASSERT_EQ(answers[2].status, Status::known);
  EXPECT_EQ(answers[2].user->role, policy::Role::staff);
  ASSERT_EQ(answers[3].status, Status::known);
  EXPECT_EQ(answers[3].user->role, policy::Role::staff);
  EXPECT_EQ(answers[3].user->profile, adapters::Profile::guest);
  EXPECT_EQ(answers[4].status, Status::unknown);
  EXPECT_FALSE(answers[4].user);
}

TEST(DirectoryClient, ABearerTokenInsteadOfASignature) {
  FakeDirectory directory;
  directory.script = [](const Seen& s) {
    return s.authorization == "Bearer t0ken-of-the-ent" ? students(s) : Answer{401, ""};
  };
  config::Directory c;
  c.name = "pronote";
  c.url = directory.url();
  c.token = "t0ken-of-the-ent";
  Client client(c);
  auto answers = client.lookup({"s-1"});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, Status::known);
  ASSERT_EQ(directory.count(), 1u);
  EXPECT_EQ(directory.seen()[0].webhook_signature, "");
}

// A directory whose users starting with "s-" are students, and a client keeping answers 10 min.
struct StudentDirectory {
  std::string secret = itest::make_webhook_secret();
  FakeDirectory directory{secret};
  std::optional<Client> client;
  StudentDirectory() {
    directory.script = students;
    config::Directory c = signed_directory(directory, secret);
    c.ttl = 10min;
    client.emplace(c);
  }
};

TEST(DirectoryClient, AnswersAreKeptForTheirTtlAndAskedAgainAfter) {
  StudentDirectory d;
  FakeDirectory& directory = d.directory;
  Client& client = *d.client;
  EXPECT_EQ(client.lookup({"s-1", "x-1"})[0].status, Status::known);
  EXPECT_EQ(directory.count(), 1u);

  client.clock().advance(30s);
  auto again = client.lookup({"s-1", "x-1"});  // both from the cache: the unknown too
  EXPECT_EQ(again[0].status, Status::known);
  EXPECT_EQ(again[1].status, Status::unknown);
  EXPECT_EQ(directory.count(), 1u);

  client.clock().advance(60s);  // the unknown user is asked again after a minute
  EXPECT_EQ(client.lookup({"s-1", "x-1"})[1].status, Status::unknown);
  ASSERT_EQ(directory.count(), 2u);
  EXPECT_THAT(directory.seen()[1].users, ElementsAre("x-1"));

  client.clock().advance(10min);  // the known one after its ttl
  EXPECT_EQ(client.lookup({"s-1"})[0].status, Status::known);
  ASSERT_EQ(directory.count(), 3u);
  EXPECT_THAT(directory.seen()[2].users, ElementsAre("s-1"));
  EXPECT_EQ(client.client().requests_sent(), 3u);
}

TEST(DirectoryClient, CachedAnswersComeAtOnceOnlyWhenEveryUserIsCachedAndFresh) {
  StudentDirectory d;
  FakeDirectory& directory = d.directory;
  Client& client = *d.client;
  const std::vector<std::string> both = {"s-1", "x-1"};
  EXPECT_FALSE(client.client().cached_answers(both)) << "nothing is cached yet";
  client.lookup({"s-1"});
  EXPECT_FALSE(client.client().cached_answers(both)) << "x-1 was never asked";
  client.lookup({"x-1"});
  auto answers = client.client().cached_answers(both);
  ASSERT_TRUE(answers);
  ASSERT_EQ(answers->size(), 2u);
  EXPECT_EQ((*answers)[0].status, Status::known);
  ASSERT_TRUE((*answers)[0].user);
  EXPECT_THAT((*answers)[0].user->structures, ElementsAre("0250001R"));
  EXPECT_EQ((*answers)[1].status, Status::unknown);
  const std::vector<std::string> not_an_id = {"s-1", std::string(300, 'a')};
  auto invalid = client.client().cached_answers(not_an_id);
  ASSERT_TRUE(invalid) << "an id that is not one is unknown without asking";
  EXPECT_EQ((*invalid)[1].status, Status::unknown);
  EXPECT_EQ(directory.count(), 2u) << "cached_answers never asks";

  client.clock().advance(90s);  // the unknown user's answer is stale after a minute
  EXPECT_FALSE(client.client().cached_answers(both));
  EXPECT_TRUE(client.client().cached_answers(std::vector<std::string>{"s-1"}));
  client.clock().advance(10min);
  EXPECT_FALSE(client.client().cached_answers(std::vector<std::string>{"s-1"}));
}

TEST(DirectoryClient, CachedAnswersAreSafeWhileLookupsFillTheCache) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  directory.script = students;
  config::Directory c = signed_directory(directory, secret);
  c.cache_entries = 50;  // evictions all along
  Client client(c);
  std::atomic<bool> done{false};
  std::atomic<int> hits{0};
  std::thread reader([&] {
    while (!done) {
      for (int i = 0; i < 200; ++i) {
        const std::vector<std::string> ids = {"s-" + std::to_string(i)};
        if (auto a = client.client().cached_answers(ids)) {
          EXPECT_EQ((*a)[0].status, Status::known);
          ++hits;
        }
      }
    }
  });
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 200; i += 20) {
      std::vector<std::string> ids;
      for (int j = i; j < i + 20; ++j)
        ids.push_back("s-" + std::to_string(j));
      EXPECT_EQ(client.lookup(ids).size(), 20u);
    }
  }
  done = true;
  reader.join();
  EXPECT_LE(client.client().cached(), 50u);
  EXPECT_GT(hits.load(), 0);
}

TEST(DirectoryClient, ANotFoundAnswerMakesEveryoneUnknown) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);  // answers 404
  Client client(signed_directory(directory, secret));
  auto answers = client.lookup({"a", "b"});
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status, Status::unknown);
  EXPECT_EQ(answers[1].status, Status::unknown);
}

TEST(DirectoryClient, TheLeastRecentlyUsedIsForgottenAtTheBound) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  directory.script = students;
  config::Directory c = signed_directory(directory, secret);
  c.cache_entries = 2;
  Client client(c);
  client.lookup({"s-a"});
  client.lookup({"s-b"});
  client.lookup({"s-a"});  // a hit: s-a is now the most recent
  EXPECT_EQ(directory.count(), 2u);
  client.lookup({"s-c"});  // forgets s-b
  EXPECT_EQ(client.client().cached(), 2u);
  EXPECT_EQ(directory.count(), 3u);
  client.lookup({"s-a"});
  EXPECT_EQ(directory.count(), 3u);
  client.lookup({"s-b"});
  ASSERT_EQ(directory.count(), 4u);
  EXPECT_THAT(directory.seen()[3].users, ElementsAre("s-b"));
  EXPECT_EQ(client.client().cached(), 2u);
}

TEST(DirectoryClient, IdenticalLookupsInFlightShareOneRequest) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  directory.script = [](const Seen& s) {
    Answer a = students(s);
    a.hold = true;
    return a;
  };
  Client client(signed_directory(directory, secret));
  auto first = client.start({"s-1"});
  ASSERT_TRUE(directory.wait_for(1));
  auto second = client.start({"s-1", "s-2", "s-1"});
  auto third = client.start({"s-2"});
  ASSERT_TRUE(directory.wait_for(2));
  std::this_thread::sleep_for(100ms);  // nothing more comes
  directory.release();
  ASSERT_EQ(first.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(third.wait_for(10s), std::future_status::ready);
  auto a = first.get();
  auto b = second.get();
  auto c = third.get();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(a[0].status, Status::known);
  EXPECT_EQ(b[0].status, Status::known);
  EXPECT_EQ(b[1].status, Status::known);
  EXPECT_EQ(b[2].status, Status::known);
  EXPECT_EQ(c[0].status, Status::known);
  EXPECT_EQ(a[0].user, b[0].user);  // the same answer, shared
  const auto seen = directory.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_THAT(seen[0].users, ElementsAre("s-1"));
  EXPECT_THAT(seen[1].users, ElementsAre("s-2"));
}

TEST(DirectoryClient, ManyUsersAreAskedInSeveralRequestsAtOnce) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  // Held until all three arrived: they are in flight together.
  directory.script = [](const Seen& s) {
    Answer a = students(s);
    a.hold = true;
    return a;
  };
  Client client(signed_directory(directory, secret));
  std::vector<std::string> ids;
  for (int i = 0; i < 250; ++i)
    ids.push_back("s-" + std::to_string(i));
  auto f = client.start(ids);
  ASSERT_TRUE(directory.wait_for(3));
  directory.release();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto answers = f.get();
  ASSERT_EQ(answers.size(), 250u);
  EXPECT_TRUE(std::all_of(answers.begin(), answers.end(),
                          [](const UserAnswer& a) { return a.status == Status::known; }));
  const auto seen = directory.seen();
  ASSERT_EQ(seen.size(), 3u);
  std::vector<std::size_t> sizes;
  for (const auto& s : seen) {
    sizes.push_back(s.users.size());
    EXPECT_EQ(s.verified, "");
  }
  std::sort(sizes.begin(), sizes.end());
  EXPECT_THAT(sizes, ElementsAre(50u, 100u, 100u));
}

TEST(DirectoryClient, ADirectoryThatDoesNotAnswerInTimeFailsAndIsAskedAgain) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  std::atomic<int> n{0};
  directory.script = [&](const Seen& s) {
    if (n++ == 0)
      return Answer{200, "", true};  // never answered in time
    return students(s);
  };
  config::Directory c = signed_directory(directory, secret);
  c.timeout = 300ms;
  Client client(c);
  auto answers = client.lookup({"s-1"});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, Status::failed);
  EXPECT_EQ(answers[0].error, "directory ent: timed out");
  EXPECT_EQ(client.client().cached(), 0u);
  EXPECT_EQ(client.lookup({"s-1"})[0].status, Status::known);  // a failure is not kept
  EXPECT_EQ(directory.count(), 2u);
}

TEST(DirectoryClient, ServerErrorsAndGarbageAreFailuresNamingNoUser) {
  const std::string secret = itest::make_webhook_secret();
  FakeDirectory directory(secret);
  Logs logs;
  Client client(signed_directory(directory, secret));

  directory.script = [](const Seen&) { return Answer{500, "oops"}; };
  auto a = client.lookup({"s-secret-1"});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].status, Status::failed);
  EXPECT_EQ(a[0].error, "directory ent: HTTP 500");

  directory.script = [](const Seen&) { return Answer{200, "<html>maintenance</html>"}; };
  a = client.lookup({"s-secret-1"});
  EXPECT_EQ(a[0].status, Status::failed);
  EXPECT_THAT(a[0].error, HasSubstr("directory ent: malformed answer: not JSON"));

  directory.script = [](const Seen&) {
    return Answer{200, R"({"users":{"s-secret-1":{"profile":"Admin","structures":[]}}})"};
  };
  a = client.lookup({"s-secret-1"});
  EXPECT_EQ(a[0].status, Status::failed);
  EXPECT_THAT(a[0].error, HasSubstr("malformed answer at /users/*/profile: must be one of"));

  directory.script = [](const Seen&) {
    return Answer{200, R"({"users":{"s-secret-1":{"profile":"Student",)"
                       R"("structures":["0250001R"],"pad":")" +
                           std::string(adapters::kMaxUserLookupAnswer, 'x') + "\"}}}"};
  };
  a = client.lookup({"s-secret-1"});
  EXPECT_EQ(a[0].status, Status::failed);
  EXPECT_THAT(a[0].error, HasSubstr("malformed answer: larger than"));
  EXPECT_EQ(client.client().cached(), 0u);

  directory.script = students;
  a = client.lookup({"s-secret-1"});
  EXPECT_EQ(a[0].status, Status::known);

  const std::string text = logs.text();
  EXPECT_THAT(text, HasSubstr("event=directory.lookup_failed directory=\"ent\" users=1"));
  EXPECT_THAT(text, HasSubstr("error=\"HTTP 500\""));
  EXPECT_THAT(text, HasSubstr("/users/*/profile"));
  EXPECT_THAT(text, HasSubstr("event=directory.answered directory=\"ent\" users=1 known=1"));
  EXPECT_THAT(text, Not(HasSubstr("s-secret-1")));
  EXPECT_THAT(text, Not(HasSubstr("0250001R")));
}

TEST(DirectoryClient, InvalidIdsAreUnknownWithoutAsking) {
  FakeDirectory directory;
  config::Directory c;
  c.name = "ent";
  c.url = directory.url();
  c.token = "t";
  Client client(c);
  auto a = client.lookup({"", std::string(200, 'x'), "a\nb"});
  ASSERT_EQ(a.size(), 3u);
  for (const auto& x : a)
    EXPECT_EQ(x.status, Status::unknown);
  EXPECT_TRUE(client.lookup({}).empty());
  EXPECT_EQ(directory.count(), 0u);
}

}  // namespace
}  // namespace treve::directory
