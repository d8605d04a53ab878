// Logging under systemd: which standard error is the journal, and the fields an entry gets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "daemon/runtime/journal_log.h"

namespace treve::runtime {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

TEST(JournalLog, EachKeyValueOfALineIsAField) {
  EXPECT_EQ(journal_fields("event=retention.purged audit_records=17 purged_through=17"),
            (Fields{{"TREVE_EVENT", "retention.purged"},
                    {"TREVE_AUDIT_RECORDS", "17"},
                    {"TREVE_PURGED_THROUGH", "17"}}));
  EXPECT_EQ(journal_fields(
                "event=dispatch.attempt_failed sink=ent-push error=\"HTTP 503, \\\"busy\\\"\""),
            (Fields{{"TREVE_EVENT", "dispatch.attempt_failed"},
                    {"TREVE_SINK", "ent-push"},
                    {"TREVE_ERROR", "HTTP 503, \"busy\""}}));
  // Words that are not key=value are left to MESSAGE.
  EXPECT_EQ(journal_fields("listening on x event=serve.ready"),
            (Fields{{"TREVE_EVENT", "serve.ready"}}));
  EXPECT_TRUE(journal_fields("").empty());
}

TEST(JournalLog, StandardErrorIsTheJournalOnlyWhenJournalStreamNamesIt) {
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(stderr_is_journal());
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(stderr_is_journal());
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":1").c_str(), 1);
  EXPECT_FALSE(stderr_is_journal()) << "a stream inherited by a child that redirected stderr";
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(stderr_is_journal());
  ::unsetenv("JOURNAL_STREAM");
}

}  // namespace
}  // namespace treve::runtime
