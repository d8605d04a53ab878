// GET /v1/admin/audit filters and limits in the database query: `limit` keeps the most recent
// records the query takes, listed in sequence order, and a bad limit is a 400.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace treve::itest
