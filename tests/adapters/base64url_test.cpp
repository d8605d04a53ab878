// base64url without padding, against RFC 4648's test vectors (§10, with the URL-safe alphabet)
// and the edge cases a decoder must refuse.
#include "adapters/outbound/base64url.h"

#include <gtest/gtest.h>

#include <string>

namespace treve::adapters {
namespace {

std::string text_of(const std::vector<unsigned char>& bytes) {
  return {bytes.begin(), bytes.end()};
}

TEST(Base64url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(std::string_view("")), "");
  EXPECT_EQ(base64url_encode(std::string_view("f")), "Zg");
  EXPECT_EQ(base64url_encode(std::string_view("fo")), "Zm8");
  EXPECT_EQ(base64url_encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64url_encode(std::string_view("foob")), "Zm9vYg");
  EXPECT_EQ(base64url_encode(std::string_view("fooba")), "Zm9vYmE");
  EXPECT_EQ(base64url_encode(std::string_view("foobar")), "Zm9vYmFy");
}

TEST(Base64url, UsesTheUrlSafeAlphabetForTheLastTwoValues) {
  const unsigned char bytes[] = {0xFB, 0xFF, 0xBF};
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  auto back = base64url_decode("-_-_");
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, std::vector<unsigned char>(std::begin(bytes), std::end(bytes)));
}

TEST(Base64url, DecodesWithOrWithoutPadding) {
  for (const auto& [text, plain] :
       std::vector<std::pair<std::string, std::string>>{{"", ""},
                                                        {"Zg", "f"},
                                                        {"Zg==", "f"},
                                                        {"Zm8", "fo"},
                                                        {"Zm8=", "fo"},
                                                        {"Zm9v", "foo"},
                                                        {"Zm9vYmE", "fooba"},
                                                        {"Zm9vYmE=", "fooba"},
                                                        {"Zm9vYmFy", "foobar"}}) {
    auto decoded = base64url_decode(text);
    ASSERT_TRUE(decoded) << text << ": " << decoded.error();
    EXPECT_EQ(text_of(*decoded), plain) << text;
  }
}

TEST(Base64url, RefusesWhatIsNoEncoding) {
  for (std::string_view bad : {
           "Zm9v+g",  // plain base64's alphabet
           "Zm9v/g",  //
           "Zm 9v",   // white space
           "Zm9v\n",  //
           "Z",       // 4n+1 characters
           "Zm9vY",   //
           "Zg=",     // padding that does not complete the group
           "Zg===",   //
           "Zm8==",   //
           "Zm9v=",   //
           "=",       //
           "Zh",      // stray low bits: "Zg" is the only spelling of "f"
           "Zm9",     // stray low bits: "Zm8" is the only spelling of "fo"
           "Zg==Zg",  // padding in the middle
       }) {
    auto decoded = base64url_decode(bad);
    EXPECT_FALSE(decoded) << "accepted \"" << bad << "\"";
    if (!decoded) {
      EXPECT_TRUE(decoded.error().starts_with("not base64url")) << decoded.error();
    }
  }
}

TEST(Base64url, RoundTripsEveryByteValueAtEveryLength) {
  std::vector<unsigned char> bytes;
  for (int n = 0; n < 300; ++n) {
    auto decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, bytes) << n;
    bytes.push_back(static_cast<unsigned char>(n * 167 + 13));
  }
}

}  // namespace
}  // namespace treve::adapters
