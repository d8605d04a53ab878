// The admin API's refusals when the store's writer is busy, without sockets: a real store on a
// temporary file, a commit queue that takes one waiting job, and a writer held by the test.
// A refusal is answered only once its access_refused record is committed; when the writer does
// not take it in time, the answer is 503 and says nothing of the refusal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include <boost/beast/http.hpp>

#include "daemon/admin/admin_api.h"
#include "daemon/audit/trail.h"
#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/support/store.h"
#include "tests/support/tokens.h"

namespace treve::admin {
namespace {

namespace fs = std::filesystem;
namespace bhttp = boost::beast::http;
using ::testing::HasSubstr;
using ::testing::Not;

std::string admin_config() {
  return "[server]\nstate_dir = \"/nonexistent\"\n"
         "[[admins]]\nname = \"DPD\"\ntoken_sha256 = \"" +
         core::sha256_hex(test::kDpdToken) + "\"\nrole = \"auditor\"\nscope = [\"0750654D\"]\n";
}

class AdminRefusal : public ::testing::Test {
 protected:
  AdminRefusal() : clock_(*policy::parse_rfc3339("2026-11-27T21:14:03+01:00")) {
    auto parsed = config::parse_config(admin_config(), "test.toml");
    EXPECT_TRUE(parsed.has_value());
    holder_ = std::make_unique<runtime::ConfigHolder>(*parsed);
    const store::SqliteOptions o = test::store_options(dir_.db());
    store_ = test::open_store(o);
    store::CommitQueue::Options q;
    q.capacity = 1;
    queue_ = std::make_unique<store::CommitQueue>(*store_, clock_, q);
    api_ = std::make_unique<AdminApi>(AdminApi::Deps{
        *holder_, *store_, *store_, *store_, *queue_, clock_,
        [](const auto&, std::vector<std::string>) { return runtime::Reloader::PolicyChange{}; },
        [path = o.path] { return audit::Trail::open(path); }, std::chrono::milliseconds{1000}});
  }
  ~AdminRefusal() override {
    release_writer();
    api_.reset();
    queue_.reset();
    store_.reset();
  }

  // Holds the writer on a job until release_writer(), and fills the one waiting place.
  void hold_writer() {
    std::promise<void> started;
    auto taken = started.get_future();
    ASSERT_TRUE(queue_->submit_write([this, &started](store::Store&) {
      started.set_value();
      gate_.wait();
    }));
    taken.wait();
    ASSERT_TRUE(queue_->submit_write([](store::Store&) {}));
  }
  void release_writer() {
    if (!released_) {
      released_ = true;
      open_.set_value();
    }
  }

  http::Response call(bhttp::verb method, const std::string& target) {
    http::Request req{method, target, 11};
    req.set(bhttp::field::authorization, "Bearer " + test::kDpdToken);
    req.prepare_payload();
    std::promise<http::Response> answer;
    api_->handle({"127.0.0.1:40000"}, std::move(req),
                 [&](http::Reply r) { answer.set_value(std::move(r.response)); });
    return answer.get_future().get();
  }

  std::int64_t refusals() {
    auto trail = audit::Trail::open(dir_.db());
    if (!trail) {
      ADD_FAILURE() << trail.error();
      return -1;
    }
    audit::Filter filter;
    filter.kinds = {"access_refused"};
    std::int64_t n = 0;
    auto scanned = (*trail)->scan(filter, [&](const store::AuditRecord&) {
      ++n;
      return true;
    });
    EXPECT_TRUE(scanned.has_value());
    return n;
  }

  test::TempDir dir_{"treve-admin"};
  core::FakeClock clock_;
  std::unique_ptr<runtime::ConfigHolder> holder_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::CommitQueue> queue_;
  std::unique_ptr<AdminApi> api_;
  std::promise<void> open_;
  std::shared_future<void> gate_ = open_.get_future().share();
  bool released_ = false;
};

TEST_F(AdminRefusal, ARefusalWaitsForTheBusyWriterAndIsAuditedBeforeTheAnswer) {
  hold_writer();
  auto answered = std::async(std::launch::async, [this] {
    return call(bhttp::verb::get, "/v1/admin/dead-letters?establishment=0750654D");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  release_writer();
  const http::Response r = answered.get();
  EXPECT_EQ(r.result_int(), 403u) << r.body();
  EXPECT_EQ(refusals(), 1);
}

TEST_F(AdminRefusal, AWriterBusyPastThePatienceIs503AndDisclosesNothing) {
  hold_writer();
  const http::Response r = call(bhttp::verb::get, "/v1/admin/dead-letters?establishment=0750654D");
  EXPECT_EQ(r.result_int(), 503u) << r.body();
  EXPECT_THAT(r.body(), HasSubstr("urn:treve:problem:overloaded"));
  EXPECT_THAT(r.body(), Not(HasSubstr("auditor")));
  EXPECT_THAT(r.body(), Not(HasSubstr("forbidden")));
  EXPECT_EQ(r[bhttp::field::retry_after], "5");
  release_writer();
  queue_->stop();
  EXPECT_EQ(refusals(), 0);
}

}  // namespace
}  // namespace treve::admin
