// The bearer token as both listeners read it (daemon/http/auth.h).
#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

#include "daemon/http/auth.h"

namespace treve::http {
namespace {

namespace bhttp = boost::beast::http;

TEST(BearerToken, TheSchemeIsCaseInsensitive) {
  for (const std::string_view header : {"Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"})
    EXPECT_EQ(bearer_token(header).value_or("?"), "abc") << header;
}

TEST(BearerToken, OneOrMoreSpacesMaySeparateTheSchemeFromTheToken) {
  EXPECT_EQ(bearer_token("Bearer    abc").value_or("?"), "abc");
  EXPECT_EQ(bearer_token("Bearer abc  ").value_or("?"), "abc");
}

TEST(BearerToken, AcceptsEveryToken68Character) {
  EXPECT_EQ(bearer_token("Bearer aZ09-._~+/==").value_or("?"), "aZ09-._~+/==");
  EXPECT_EQ(bearer_token("Bearer 030b7371ba89f4920e65").value_or("?"), "030b7371ba89f4920e65");
}

TEST(BearerToken, RefusesOtherSchemesAsNotBearer) {
  for (const std::string_view header : {"Basic dXNlcjpwYXNz", "Bearerabc", "Token abc", "", " "})
    EXPECT_EQ(bearer_token(header).error(), AuthFailure::not_bearer) << "[" << header << "]";
}

TEST(BearerToken, RefusesAnEmptyOrGarbledTokenAsMalformed) {
  for (const std::string_view header :
       {"Bearer", "Bearer ", "Bearer    ", "Bearer a b", "Bearer =abc", "Bearer ab=c",
        "Bearer a\tb", "Bearer \"abc\"", "Bearer abc;", "Bearer caf\xc3\xa9", "Bearer a,b"})
    EXPECT_EQ(bearer_token(header).error(), AuthFailure::malformed) << "[" << header << "]";
}

TEST(BearerToken, ReadsTheRequestsHeaderAndRefusesSeveral) {
  Request req{bhttp::verb::get, "/", 11};
  EXPECT_EQ(bearer_token(req).error(), AuthFailure::missing);
  req.set(bhttp::field::authorization, "bearer tok-1");
  EXPECT_EQ(bearer_token(req).value_or("?"), "tok-1");
  req.insert(bhttp::field::authorization, "Bearer tok-2");
  EXPECT_EQ(bearer_token(req).error(), AuthFailure::malformed);
}

TEST(BearerToken, SaysWhyWithoutTheToken) {
  EXPECT_EQ(to_string(AuthFailure::missing), "missing Authorization header");
  EXPECT_EQ(to_string(AuthFailure::not_bearer), "not a Bearer credential");
  EXPECT_EQ(to_string(AuthFailure::malformed), "malformed Bearer token");
}

}  // namespace
}  // namespace treve::http
