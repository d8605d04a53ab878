// The user directory's request body and the validation of its answers, hostile ones included.
#include "adapters/inbound/directory_answer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/json/parse.hpp>

namespace treve::adapters {
namespace {

using Users = std::vector<std::string>;

DirectoryAnswerError error_of(std::string_view body, const Users& asked) {
  auto r = parse_user_lookup_answer(body, asked);
  EXPECT_FALSE(r.has_value()) << body;
  return r ? DirectoryAnswerError{} : r.error();
}

TEST(DirectoryAnswer, TheRequestNamesTheSourceAndEveryUser) {
  const Users ids{"u-1", "u-\"2\""};
  const auto v = boost::json::parse(user_lookup_body("ent", ids));
  EXPECT_EQ(v.at("type").as_string(), "treve.user_lookup");
  EXPECT_EQ(v.at("source").as_string(), "ent");
  ASSERT_EQ(v.at("users").as_array().size(), 2u);
  EXPECT_EQ(v.at("users").as_array()[1].as_string(), "u-\"2\"");
}

TEST(DirectoryAnswer, ProfilesMapToRoles) {
  EXPECT_EQ(role_of(*parse_profile("Student")), policy::Role::student);
  EXPECT_EQ(role_of(*parse_profile("Relative")), policy::Role::parent);
  EXPECT_EQ(role_of(*parse_profile("Teacher")), policy::Role::staff);
  EXPECT_EQ(role_of(*parse_profile("Personnel")), policy::Role::staff);
  EXPECT_EQ(role_of(*parse_profile("Guest")), policy::Role::staff);
  EXPECT_FALSE(parse_profile("student"));
  EXPECT_FALSE(parse_profile("Parent"));
  EXPECT_EQ(to_string(Profile::relative), "Relative");
}

TEST(DirectoryAnswer, ARelativeWithTwoChildrenAndAUserInTwoStructures) {
  const Users asked{"p-1", "t-1", "s-9"};
  auto r = parse_user_lookup_answer(
      R"({"users":{
        "p-1":{"profile":"Relative","structures":["0250001R"],"children":["s-1","s-2","s-1"]},
        "t-1":{"profile":"Teacher","structures":["0250001R","0750654D"],"displayName":"X"}}})",
      asked);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);  // s-9 is unknown
  EXPECT_EQ((*r)[0].first, "p-1");
  EXPECT_EQ((*r)[0].second.profile, Profile::relative);
  EXPECT_EQ((*r)[0].second.structures, Users{"0250001R"});
  EXPECT_EQ((*r)[0].second.children, (Users{"s-1", "s-2"}));  // the repeat dropped
  EXPECT_EQ((*r)[1].first, "t-1");
  EXPECT_EQ((*r)[1].second.structures, (Users{"0250001R", "0750654D"}));
  EXPECT_TRUE((*r)[1].second.children.empty());
}

TEST(DirectoryAnswer, UsersNotAskedAreIgnoredEvenWhenInvalid) {
  auto r = parse_user_lookup_answer(
      R"({"users":{"x":{"profile":"Admin"},"a":{"profile":"Student","structures":[]}}})",
      Users{"a"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].second.structures.empty());
}

TEST(DirectoryAnswer, AnEmptyUsersObjectMeansEveryoneIsUnknown) {
  auto r = parse_user_lookup_answer(R"({"users":{}})", Users{"a", "b"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST(DirectoryAnswer, GarbageIsRefusedAtTheTop) {
  const Users asked{"a"};
  for (std::string_view body : {"", "<html>", "{\"users\":", "[]", "null", "{\"users\":{}} x"}) {
    auto e = error_of(body, asked);
    EXPECT_EQ(e.pointer, "") << body;
  }
  EXPECT_EQ(error_of(R"({"user":{}})", asked).pointer, "/users");
  EXPECT_EQ(error_of(R"({"users":[]})", asked).pointer, "/users");
}

TEST(DirectoryAnswer, TheErrorNamesThePointerAndItsScrubbedForm) {
  const Users asked{"u/7~a"};
  auto e =
      error_of(R"({"users":{"u/7~a":{"profile":"Student","structures":["0250001A"]}}})", asked);
  EXPECT_EQ(e.pointer, "/users/u~17~0a/structures/0");
  EXPECT_EQ(e.scrubbed_pointer, "/users/*/structures/0");
  EXPECT_EQ(e.message, "is not a valid UAI");
  EXPECT_EQ(e.message.find("0250001A"), std::string::npos);
}

TEST(DirectoryAnswer, HostileUsersAreRefused) {
  const Users asked{"a"};
  struct Case {
    const char* body;
    const char* pointer;
  };
  const Case cases[] = {
      {R"({"users":{"a":"Student"}})", "/users/*"},
      {R"({"users":{"a":{"structures":[]}}})", "/users/*/profile"},
      {R"({"users":{"a":{"profile":"Admin","structures":[]}}})", "/users/*/profile"},
      {R"({"users":{"a":{"profile":"student","structures":[]}}})", "/users/*/profile"},
      {R"({"users":{"a":{"profile":7,"structures":[]}}})", "/users/*/profile"},
      {R"({"users":{"a":{"profile":"Student"}}})", "/users/*/structures"},
      {R"({"users":{"a":{"profile":"Student","structures":"0250001R"}}})", "/users/*/structures"},
      {R"({"users":{"a":{"profile":"Student","structures":[1]}}})", "/users/*/structures/0"},
      {R"({"users":{"a":{"profile":"Student","structures":["0250001r"]}}})",
       "/users/*/structures/0"},
      {R"({"users":{"a":{"profile":"Student","structures":["../etc"]}}})", "/users/*/structures/0"},
      {R"({"users":{"a":{"profile":"Student","structures":[],"children":["b"]}}})",
       "/users/*/children"},
      {R"({"users":{"a":{"profile":"Relative","structures":[],"children":[""]}}})",
       "/users/*/children/0"},
      {R"({"users":{"a":{"profile":"Relative","structures":[],"children":["x\ny"]}}})",
       "/users/*/children/0"},
      {R"({"users":{"a":{"profile":"Relative","structures":[],"children":{"b":1}}}})",
       "/users/*/children"},
  };
  for (const Case& c : cases) {
    auto e = error_of(c.body, asked);
    EXPECT_EQ(e.scrubbed_pointer, c.pointer) << c.body;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(DirectoryAnswer, ListsAndSizesAreBounded) {
  const Users asked{"a"};
  std::string many = "[";
  for (std::size_t i = 0; i <= kMaxStructures; ++i)
    many += std::string(i ? "," : "") + "\"0250001R\"";
  many += "]";
  auto e = error_of(R"({"users":{"a":{"profile":"Student","structures":)" + many + "}}}", asked);
  EXPECT_EQ(e.scrubbed_pointer, "/users/*/structures");

  std::string kids = "[";
  for (std::size_t i = 0; i <= kMaxChildren; ++i)
    kids += std::string(i ? "," : "") + "\"c" + std::to_string(i) + "\"";
  kids += "]";
  e = error_of(R"({"users":{"a":{"profile":"Relative","structures":[],"children":)" + kids + "}}}",
               asked);
  EXPECT_EQ(e.scrubbed_pointer, "/users/*/children");

  const std::string long_id(kMaxUserIdBytes + 1, 'x');
  e = error_of(
      R"({"users":{"a":{"profile":"Relative","structures":[],"children":[")" + long_id + "\"]}}}",
      asked);
  EXPECT_EQ(e.scrubbed_pointer, "/users/*/children/0");

  std::string huge = R"({"users":{},"pad":")" + std::string(kMaxUserLookupAnswer, ' ') + "\"}";
  e = error_of(huge, asked);
  EXPECT_EQ(e.pointer, "");
  EXPECT_NE(e.message.find("larger than"), std::string::npos);

  std::string deep(100, '[');
  e = error_of(R"({"users":{"a":)" + deep + "}}", asked);
  EXPECT_EQ(e.pointer, "");
}

TEST(DirectoryAnswer, UserIdsAreBounded) {
  EXPECT_TRUE(valid_user_id("u-7f3a"));
  EXPECT_TRUE(valid_user_id("élève"));
  EXPECT_TRUE(valid_user_id(std::string(kMaxUserIdBytes, 'a')));
  EXPECT_FALSE(valid_user_id(""));
  EXPECT_FALSE(valid_user_id(std::string(kMaxUserIdBytes + 1, 'a')));
  EXPECT_FALSE(valid_user_id("a\tb"));
  EXPECT_FALSE(valid_user_id("a\x7f"));
  EXPECT_FALSE(valid_user_id("a\xc2\x85"));  // NEL
}

}  // namespace
}  // namespace treve::adapters
