// The pure part of events resolved through a directory: what identifies a timeline document
// (its layout aside), and for `treve explain --user` and the admin preview of a user
// (runtime::explain_recipient) who a directory's answer says the recipient is.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/core/json_text.h"
#include "daemon/runtime/directory_events.h"

namespace treve::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Kind = ExplainRefusal::Kind;

directory::UserAnswer known(policy::Role role, std::vector<std::string> structures,
                            std::vector<std::string> children = {}) {
  auto u = std::make_shared<directory::UserEntry>();
  u->role = role;
  u->structures = std::move(structures);
  u->children = std::move(children);
  directory::UserAnswer a;
  a.status = directory::UserAnswer::Status::known;
  a.user = std::move(u);
  return a;
}

TEST(DirectoryEvents, JsonWithoutLayoutDropsWhiteSpaceBetweenTokensOnly) {
  EXPECT_EQ(core::json_without_layout(" {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\":\"x y\" } "),
            R"({"a":[1,2],"b":"x y"})");
  // Inside strings nothing changes, escaped quotes and backslashes included.
  EXPECT_EQ(core::json_without_layout(R"({ "q" : "say \" hi \\" , "t":"\t " })"),
            R"({"q":"say \" hi \\","t":"\t "})");
}

TEST(DirectoryEvents, ATimelineDocumentLaidOutOtherwiseIsTheSameEventAndAnotherIsNot) {
  adapters::TimelineEvent t;
  t.id = "tl-1";
  t.title = "Nouveau message";
  t.recipients = {"u-1"};
  t.payload_json = R"({"type":"MESSAGERIE","recipients":[{"userId":"u-1"}],"_id":"tl-1"})";
  const PendingEvent compact = pending_from_timeline(t);
  t.payload_json =
      "{\n  \"type\": \"MESSAGERIE\",\n  \"recipients\": [ { \"userId\": \"u-1\" } ],\n"
      "  \"_id\": \"tl-1\"\n}";
  const PendingEvent pretty = pending_from_timeline(t);
  EXPECT_EQ(compact.identity, pretty.identity);
  t.payload_json = R"({"type":"MESSAGERIE","recipients":[{"userId":"u 1"}],"_id":"tl-1"})";
  EXPECT_NE(pending_from_timeline(t).identity, compact.identity);
}

TEST(DirectoryEvents, ExplainRecipientTakesTheFirstStructureAndHoldsUnderTheOthers) {
  auto r = explain_recipient(
      known(policy::Role::parent, {"0211234A", "0219999Z", "0750654D"}, {"child-1"}), "");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->role, policy::Role::parent);
  EXPECT_EQ(r->establishment, "0211234A");
  EXPECT_THAT(r->also, ElementsAre("0219999Z", "0750654D"));
}

TEST(DirectoryEvents, ExplainRecipientUsesTheEstablishmentAskedForWhenItIsTheirs) {
  auto r = explain_recipient(known(policy::Role::staff, {"0211234A", "0219999Z"}), "0219999Z");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->role, policy::Role::staff);
  EXPECT_EQ(r->establishment, "0219999Z");
  EXPECT_THAT(r->also, ElementsAre("0211234A"));

  auto one = explain_recipient(known(policy::Role::student, {"0211234A"}), "0211234A");
  ASSERT_TRUE(one.has_value());
  EXPECT_THAT(one->also, IsEmpty());
}

TEST(DirectoryEvents, ExplainRecipientRefusesAnEstablishmentThatIsNotTheirs) {
  auto r = explain_recipient(known(policy::Role::student, {"0211234A"}), "0750654D");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, Kind::not_in_establishment);
  EXPECT_EQ(r.error().detail, "the user is not in 0750654D per the directory");
}

TEST(DirectoryEvents, ExplainRecipientSaysWhyTheDirectoryDidNotTell) {
  directory::UserAnswer unknown;
  unknown.status = directory::UserAnswer::Status::unknown;
  auto u = explain_recipient(unknown, "");
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().kind, Kind::unknown);
  EXPECT_THAT(u.error().detail, HasSubstr("does not know the user"));

  directory::UserAnswer failed;
  failed.status = directory::UserAnswer::Status::failed;
  failed.error = "HTTP 500";
  auto f = explain_recipient(failed, "0211234A");
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().kind, Kind::failed);
  EXPECT_EQ(f.error().detail, "HTTP 500");
  failed.error.clear();
  EXPECT_THAT(explain_recipient(failed, "").error().detail, Not(IsEmpty()));

  auto nowhere = explain_recipient(known(policy::Role::staff, {}), "");
  ASSERT_FALSE(nowhere.has_value());
  EXPECT_EQ(nowhere.error().kind, Kind::no_establishment);
}

TEST(DirectoryEvents, ExplainRecipientNamesAtMostEightOtherEstablishments) {
  std::vector<std::string> many;
  for (int i = 0; i < 12; ++i)
    many.push_back("02100" + std::to_string(10 + i) + "A");
  auto r = explain_recipient(known(policy::Role::staff, many), "");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->also.size(), 8u);
}

}  // namespace
}  // namespace treve::runtime
