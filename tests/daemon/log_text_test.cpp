// Values quoted for log lines (daemon/core/log_text.h).
#include <gtest/gtest.h>

#include "daemon/core/log_text.h"

namespace treve::core {
namespace {

TEST(LogQuote, QuotesPlainTextAsItIs) {
  EXPECT_EQ(log_quote("/v1/admin/me"), "\"/v1/admin/me\"");
  EXPECT_EQ(log_quote(""), "\"\"");
}

TEST(LogQuote, EscapesQuotesAndBackslashes) {
  EXPECT_EQ(log_quote(R"(a"b\c)"), R"("a\"b\\c")");
}

TEST(LogQuote, EscapesControlCharactersSoThatNoLineCanBeForged) {
  EXPECT_EQ(log_quote("a\nevent=forged x=\"1\""), R"("a\x0aevent=forged x=\"1\"")");
  EXPECT_EQ(log_quote(std::string_view("\r\t\x1b\x7f\0", 5)), R"("\x0d\x09\x1b\x7f\x00")");
  EXPECT_EQ(log_quote("\xc2\x85"), R"("\xc2\x85")");  // NEL, a C1 control character
}

TEST(LogQuote, KeepsUtf8AndEscapesBytesThatAreNot) {
  EXPECT_EQ(log_quote("Mme Durand, collège"), "\"Mme Durand, collège\"");
  EXPECT_EQ(log_quote("€ 😀"), "\"€ 😀\"");
  EXPECT_EQ(log_quote("a\xff"
                      "b"),
            R"("a\xffb")");
  EXPECT_EQ(log_quote("\xc3"), R"("\xc3")");                  // truncated
  EXPECT_EQ(log_quote("\xc0\xaf"), R"("\xc0\xaf")");          // overlong
  EXPECT_EQ(log_quote("\xed\xa0\x80"), R"("\xed\xa0\x80")");  // a surrogate
}

}  // namespace
}  // namespace treve::core
