// GET /v1/admin/audit filters and limits in the database query: `limit` keeps the most recent
// records the query takes, listed in sequence order, and a bad limit is a 400. Answers are sent
// in pieces as they are read, never built whole.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

TEST(AdminAuditQuery, TheLimitKeepsTheMostRecentRecordsInOrderAndABadOneIs400) {
  Daemon daemon(with_rectorat_admin());
  daemon.start();
  HttpClient ingest(daemon.port());
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(ingest.post_event(simple_event("q-" + std::to_string(i))).status, 202);
  EventSpec homework;
  homework.id = "q-homework";
  homework.category = "homework";
  homework.recipients.push_back({"q-hw-r0", "student", ""});
  ASSERT_EQ(ingest.post_event(event_body(homework)).status, 202);

  HttpClient admin(daemon.admin_port());
  const Headers auth{{"Authorization", "Bearer " + kRectoratToken}};
  auto get = [&](const std::string& query) {
    return admin.request(bhttp::verb::get, "/v1/admin/audit?" + query, "", auth);
  };
  auto seqs = [](const HttpResponse& r) {
    std::vector<std::int64_t> out;
    const json::value parsed = json::parse(r.body);
    for (const auto& v : parsed.as_array())
      out.push_back(v.at("seq").as_int64());
    return out;
  };
  auto all = get("establishment=" + kUai);
  ASSERT_EQ(all.status, 200) << all;
  const auto every = seqs(all);
  ASSERT_GE(every.size(), 8u);  // received and held, for each of the four events

  auto two = get("establishment=" + kUai + "&limit=2");
  ASSERT_EQ(two.status, 200) << two;
  EXPECT_EQ(seqs(two), (std::vector<std::int64_t>{every[every.size() - 2], every.back()}));

  auto held_homework = get("establishment=" + kUai + "&kind=held&category=homework");
  ASSERT_EQ(held_homework.status, 200) << held_homework;
  const json::value parsed = json::parse(held_homework.body);
  const json::array& rows = parsed.as_array();
  ASSERT_EQ(rows.size(), 1u) << held_homework.body;
  EXPECT_EQ(rows[0].at("event_id"), "q-homework");

  for (const std::string bad : {"limit=0", "limit=100001", "limit=abc", "limit=2x"}) {
    auto r = get("establishment=" + kUai + "&" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r;
  }
}

TEST(AdminAuditQuery, ExportsAreSentInPiecesAndHoldEveryRecordOnce) {
  Daemon daemon(with_rectorat_admin());
  daemon.start();
  HttpClient ingest(daemon.port());
  // About 450 records, several pieces of CSV and of JSON.
  for (int i = 0; i < 150; ++i) {
    EventSpec spec;
    spec.id = "x-" + std::to_string(i);
    spec.recipients = {{"x-a-" + std::to_string(i), "student", ""},
                       {"x-b-" + std::to_string(i), "student", ""}};
    ASSERT_EQ(ingest.post_event(event_body(spec)).status, 202);
  }
  HttpClient admin(daemon.admin_port());
  const Headers auth{{"Authorization", "Bearer " + kRectoratToken}};
  auto json_answer = admin.request(
      bhttp::verb::get, "/v1/admin/audit?establishment=" + kUai + "&limit=100000", "", auth);
  ASSERT_EQ(json_answer.status, 200) << json_answer;
  EXPECT_EQ(json_answer.header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(json_answer.header("Content-Length").has_value());
  EXPECT_GT(json_answer.body.size(), 3u * 64 * 1024);
  std::vector<std::int64_t> json_seqs;
  const json::value records = json::parse(json_answer.body);
  for (const auto& v : records.as_array())
    json_seqs.push_back(v.at("seq").as_int64());
  ASSERT_GE(json_seqs.size(), 450u);
  for (std::size_t i = 1; i < json_seqs.size(); ++i)
    ASSERT_LT(json_seqs[i - 1], json_seqs[i]) << "at " << i;

  auto csv = admin.request(bhttp::verb::get,
                           "/v1/admin/audit?establishment=" + kUai + "&format=csv", "", auth);
  ASSERT_EQ(csv.status, 200) << csv;
  EXPECT_EQ(csv.header("Transfer-Encoding"), "chunked");
  EXPECT_THAT(*csv.header("Content-Disposition"), ::testing::HasSubstr("treve-audit.csv"));
  std::istringstream lines(csv.body);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_THAT(line, ::testing::StartsWith("seq,at,"));
  std::vector<std::int64_t> csv_seqs;
  while (std::getline(lines, line))
    csv_seqs.push_back(std::stoll(line.substr(0, line.find(','))));
  EXPECT_EQ(csv_seqs, json_seqs);

  // The connection is kept for the next request after an answer sent in pieces.
  auto again = admin.request(bhttp::verb::get, "/v1/admin/audit?establishment=" + kUai + "&limit=1",
                             "", auth);
  ASSERT_EQ(again.status, 200) << again;
  EXPECT_EQ(json::parse(again.body).as_array().size(), 1u);
}

}  // namespace
}  // namespace treve::itest
