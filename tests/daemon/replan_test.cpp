// Re-planning held deliveries after a change of policy: events accepted through the real
// ingest API into a real store under one configuration, then decided again under another.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include <boost/beast/http.hpp>

#include "daemon/api/ingest_api.h"
#include "daemon/audit/trail.h"
#include "daemon/runtime/config_holder.h"
#include "daemon/runtime/replan.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"
#include "tests/support/tokens.h"

namespace treve::runtime {
namespace {

using core::FakeClock;

namespace bhttp = boost::beast::http;
using store::testing::at;
using store::testing::TempDir;

constexpr const char* kConnector = R"(
[server]
state_dir = "/nonexistent"
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
)";  // token "change-me"

std::string event(const std::string& id, const std::string& uai,
                  const std::string& category = "message") {
  return R"({"id":")" + id + R"(","establishment":")" + uai + R"(","category":")" + category +
         R"(","recipients":[{"id":"u-1","role":"student"},{"id":"p-1","role":"parent"}],)"
         R"("created_at":"2026-11-27T21:14:03+01:00"})";
}

std::shared_ptr<const config::Config> config_with(const std::string& policy) {
  auto c = config::parse_config(std::string(kConnector) + policy, "test.toml");
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error()[0].to_string());
  return *c;
}

class ReplanTest : public ::testing::Test {
 protected:
  ReplanTest()
      : clock_(at("2026-11-27T21:14:03+01:00")),  // a Friday evening
        holder_(config_with("")) {
    store_ = test::open_store(test::store_options(dir_.db()));
    queue_ = std::make_unique<store::CommitQueue>(*store_, clock_);
    api_ = std::make_unique<api::IngestApi>([this] { return holder_.get(); }, *queue_, *store_,
                                            clock_);
  }
  ~ReplanTest() override {
    api_.reset();
    queue_.reset();
    store_.reset();
  }

  void post(const std::string& body) {
    http::Request req{bhttp::verb::post, "/v1/events", 11};
    req.set(bhttp::field::authorization, "Bearer change-me");
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    std::promise<http::Response> answer;
    api_->handle({"127.0.0.1:40000"}, std::move(req),
                 [&](http::Reply r) { answer.set_value(std::move(r.response)); });
    ASSERT_EQ(answer.get_future().get().result_int(), 202);
  }

  ReplanReport replan(const std::string& policy, ReplanOptions options = {}) {
    holder_.set(config_with(policy));
    return replan_held(*holder_.get(), *store_, *queue_, clock_, options);
  }

  std::vector<store::DeliveryView> deliveries(const std::string& id) {
    auto e = store_->find("ent", id);
    EXPECT_TRUE(e && *e);
    return (e && *e) ? (**e).deliveries : std::vector<store::DeliveryView>{};
  }

  std::vector<store::AuditRecord> records(const std::string& kind) {
    auto trail = audit::Trail::open(dir_.db());
    EXPECT_TRUE(trail.has_value());
    std::vector<store::AuditRecord> out;
    (void)(*trail)->scan({}, [&](const store::AuditRecord& a) {
      if (a.kind == kind)
        out.push_back(a);
      return true;
    });
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
  ConfigHolder holder_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::CommitQueue> queue_;
  std::unique_ptr<api::IngestApi> api_;
};

// Weekday evenings only: no weekend window.
constexpr const char* kNoWeekend = R"(
[[policy.quiet]]
days = ["mon", "tue", "wed", "thu"]
start = "20:00"
end = "07:00"
)";

TEST_F(ReplanTest, ShorteningAWindowReleasesWhatItNoLongerCoversAtOnce) {
  post(event("m-1", "0750654D"));
  ASSERT_EQ(deliveries("m-1")[0].release_at, at("2026-11-30T07:00:00+01:00"));
  clock_.set_wall(at("2026-11-28T10:00:00+01:00"));  // Saturday morning
  auto report = replan(kNoWeekend);
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.events, 1u);
  EXPECT_EQ(report.examined, 2u);
  EXPECT_EQ(report.moved, 2u);
  EXPECT_EQ(report.earlier, 2u);
  for (const auto& d : deliveries("m-1")) {
    EXPECT_EQ(d.state, store::DeliveryState::held);  // the scheduler releases it next tick
    EXPECT_EQ(d.release_at, at("2026-11-28T10:00:00+01:00"));
    EXPECT_EQ(d.reason, "outside quiet windows and closed days");
  }
  auto rs = records("replanned");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].event_id, "m-1");
  EXPECT_EQ(rs[0].establishment, "0750654D");
  EXPECT_NE(rs[0].recipient, "u-1");  // a pseudonym, never the id
  EXPECT_THAT(rs[0].detail, ::testing::HasSubstr(R"("was_until":"2026-11-30T07:00:00+01:00")"));
  EXPECT_THAT(rs[0].detail, ::testing::HasSubstr(R"("until":"2026-11-28T10:00:00+01:00")"));
  auto due = store_->release_due(clock_.now(), 10);
  ASSERT_TRUE(due);
  EXPECT_EQ(due->size(), 2u);
}

TEST_F(ReplanTest, LengtheningAWindowHoldsLonger) {
  post(event("m-1", "0750654D"));
  clock_.set_wall(at("2026-11-28T10:00:00+01:00"));
  auto report = replan(R"(
[[policy.quiet]]
days = ["mon", "tue", "wed", "thu"]
start = "20:00"
end = "07:00"
[[policy.quiet]]
days = ["fri"]
start = "20:00"
end_day = "mon"
end = "08:30"
)");
  EXPECT_EQ(report.moved, 2u);
  EXPECT_EQ(report.earlier, 0u);
  for (const auto& d : deliveries("m-1"))
    EXPECT_EQ(d.release_at, at("2026-11-30T08:30:00+01:00"));
}

TEST_F(ReplanTest, NeverReleasesInsideAQuietIntervalOfTheNewPolicy) {
  // Under the new policy the event would have gone out at once on Friday evening; but it is
  // Saturday 10:00 now, inside the new Saturday window: released when that window ends.
  post(event("m-1", "0750654D"));
  clock_.set_wall(at("2026-11-28T10:00:00+01:00"));
  auto report = replan(std::string(kNoWeekend) + R"(
[[policy.quiet]]
days = ["sat"]
start = "09:00"
end_day = "sun"
end = "12:00"
)");
  EXPECT_EQ(report.moved, 2u);
  for (const auto& d : deliveries("m-1")) {
    EXPECT_EQ(d.release_at, at("2026-11-29T12:00:00+01:00"));
    EXPECT_THAT(d.reason, ::testing::HasSubstr("Sat 09:00"));
  }
}

TEST_F(ReplanTest, AnUnchangedPolicyMovesNothingAndWritesNothing) {
  post(event("m-1", "0750654D"));
  post(event("m-2", "0250001R"));
  clock_.set_wall(at("2026-11-28T10:00:00+01:00"));
  auto report = replan("");
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.events, 2u);
  EXPECT_EQ(report.examined, 4u);
  EXPECT_EQ(report.moved, 0u);
  EXPECT_TRUE(records("replanned").empty());
}

TEST_F(ReplanTest, OnlyTheEstablishmentsAskedForAreReplanned) {
  post(event("m-1", "0750654D"));
  post(event("m-2", "0250001R"));
  clock_.set_wall(at("2026-11-28T10:00:00+01:00"));
  ReplanOptions only;
  only.establishments = {"0250001R"};
  auto report = replan(kNoWeekend, only);
  EXPECT_EQ(report.events, 1u);
  EXPECT_EQ(report.moved, 2u);
  EXPECT_EQ(deliveries("m-1")[0].release_at, at("2026-11-30T07:00:00+01:00"));
  EXPECT_EQ(deliveries("m-2")[0].release_at, at("2026-11-28T10:00:00+01:00"));
}

TEST_F(ReplanTest, ReleasedAndRetractedDeliveriesAreLeftAlone) {
  post(event("m-1", "0750654D"));
  post(event("m-2", "0750654D"));
  ASSERT_TRUE(store_->retract("ent", "m-2", clock_.now()));
  clock_.set_wall(at("2026-11-30T07:00:00+01:00"));
  ASSERT_EQ(store_->release_due(clock_.now(), 100)->size(), 2u);  // m-1's two
  clock_.set_wall(at("2026-11-30T09:00:00+01:00"));
  auto report = replan(kNoWeekend);
  EXPECT_EQ(report.events, 0u);
  EXPECT_EQ(report.moved, 0u);
  for (const auto& d : deliveries("m-2"))
    EXPECT_EQ(d.state, store::DeliveryState::retracted);
}

TEST_F(ReplanTest, TheStoreSkipsADeliveryWhoseInstantChangedSinceItWasRead) {
  post(event("m-1", "0750654D"));
  auto rows = store_->held_event_rows();
  ASSERT_TRUE(rows);
  auto held = store_->held_events(*rows);
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  ASSERT_EQ((*held)[0].held.size(), 2u);
  EXPECT_THAT((*held)[0].body, ::testing::HasSubstr("\"m-1\""));
  store::Replan stale;
  stale.ref = (*held)[0].held[0].ref;
  stale.was = at("2026-11-29T07:00:00+01:00");  // not what the store holds
  stale.release_at = at("2026-11-28T10:00:00+01:00");
  auto moved = store_->replan(std::span(&stale, 1), clock_.now());
  ASSERT_TRUE(moved);
  EXPECT_EQ(*moved, 0u);
  EXPECT_TRUE(records("replanned").empty());
}

TEST_F(ReplanTest, ARecipientOfTwoSchoolsIsReplannedUnderTheStrictestOfThem) {
  // The stored body keeps recipients[i].establishments: a change to the other school's policy
  // moves that recipient, and only it.
  post(R"({"id":"m-2","establishment":"0750654D","category":"message","recipients":[)"
       R"({"id":"u-1","role":"student"},{"id":"u-2","role":"student",)"
       R"("establishments":["0250001R"]}],"created_at":"2026-11-27T21:14:03+01:00"})");
  ASSERT_EQ(deliveries("m-2")[1].release_at, at("2026-11-30T07:00:00+01:00"));
  auto report = replan(R"(
[establishments."0250001R"]
[[establishments."0250001R".quiet]]
days = ["fri"]
start = "20:00"
end = "09:00"
end_day = "mon"
name = "week-end long"
)");
  EXPECT_EQ(report.moved, 1u);
  auto d = deliveries("m-2");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].recipient, "u-1");
  EXPECT_EQ(d[0].release_at, at("2026-11-30T07:00:00+01:00"));
  EXPECT_EQ(d[1].release_at, at("2026-11-30T09:00:00+01:00"));
  EXPECT_THAT(d[1].reason,
              ::testing::HasSubstr("also attached to 0250001R: quiet window \"week-end long\""));
}

// hold_again: a delivery released earlier, about to be sent, decided again for its recipient
// alone at that instant. A recipient attached to another school is held under its window too,
// also when the event's body spells "establishments" with an escape; a parent's grade gets no
// second delay.
TEST(HoldAgain, DecidesTheRecipientAloneAtTheInstantOfSending) {
  const auto config = config_with(R"(
[establishments."0250001R"]
[[establishments."0250001R".quiet]]
days = ["mon"]
start = "06:00"
end = "09:00"
name = "lundi matin"
)");
  const auto item = [](std::string body, std::string recipient, policy::Role role,
                       policy::Category category = policy::Category::message) {
    store::DispatchItem d;
    d.ref.source = "ent";
    d.ref.event_id = "m-1";
    d.ref.establishment = "0750654D";
    d.ref.category = category;
    d.ref.timezone = "Europe/Paris";
    d.ref.recipient = std::move(recipient);
    d.ref.role = role;
    d.body = std::move(body);
    return d;
  };
  const std::string plain =
      R"({"id":"m-1","establishment":"0750654D","category":"message","recipients":[)"
      R"({"id":"u-1","role":"student"},{"id":"u-2","role":"student",)"
      R"("establishments":["0250001R"]}],"created_at":"2026-11-27T21:14:03+01:00"})";
  std::string escaped = plain;
  escaped.replace(escaped.find("establishments\":["), 14, "establishm\\u0065nts");
  const policy::Instant monday_0730 = at("2026-11-30T07:30:00+01:00");
  EXPECT_FALSE(hold_again(*config, item(plain, "u-1", policy::Role::student), monday_0730));
  for (const auto& body : {plain, escaped}) {
    auto h = hold_again(*config, item(body, "u-2", policy::Role::student), monday_0730);
    ASSERT_TRUE(h) << body;
    EXPECT_EQ(h->until, at("2026-11-30T09:00:00+01:00")) << body;
    EXPECT_THAT(h->reason, ::testing::HasSubstr("lundi matin")) << body;
  }
  // The default window (weekdays 20:00-07:00): held until the morning, in the policy's words.
  auto evening = hold_again(*config, item(plain, "u-1", policy::Role::student),
                            at("2026-11-30T20:00:00+01:00"));
  ASSERT_TRUE(evening);
  EXPECT_EQ(evening->until, at("2026-12-01T07:00:00+01:00"));
  EXPECT_THAT(evening->reason, ::testing::HasSubstr("quiet window"));
  // A parent's grade in open time goes: its delay after the student's release was counted when
  // it was first released.
  const std::string grade =
      R"({"id":"m-1","establishment":"0750654D","category":"grade","recipients":[)"
      R"({"id":"p-1","role":"parent"}],"created_at":"2026-11-27T21:14:03+01:00"})";
  EXPECT_FALSE(hold_again(
      *config, item(grade, "p-1", policy::Role::parent, policy::Category::grade), monday_0730));
}

TEST_F(ReplanTest, AnEventWhoseBodyIsGoneKeepsItsDeliveries) {
  // Its body purged, an event cannot be decided again: its deliveries stay as they are.
  post(event("m-1", "0750654D"));
  auto rows = store_->held_event_rows();
  auto held = store_->held_events(*rows);
  ASSERT_TRUE(held);
  auto changes = replan_event(*holder_.get(), (*held)[0], clock_.now());
  EXPECT_TRUE(changes.empty());  // same policy, same instants
  store::HeldEvent unreadable = (*held)[0];
  unreadable.body.clear();
  EXPECT_TRUE(replan_event(*config_with(kNoWeekend), unreadable, clock_.now()).empty());
}

}  // namespace
}  // namespace treve::runtime
