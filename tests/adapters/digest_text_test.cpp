#include "adapters/outbound/digest_text.h"

#include <gtest/gtest.h>

namespace treve::adapters {
namespace {

OutboundDelivery delivery(std::string_view id, std::string_view category, std::string_view body) {
  OutboundDelivery d;
  d.delivery_id = id;
  d.event_id = id;
  d.category = category;
  d.event_body = body;
  return d;
}

TEST(DigestText, CountsPerCategoryInFrenchWithTitlesAndLinks) {
  const std::string a = R"({"title":"Note de maths","payload":{"link":"https://ent.example/n/1"}})";
  const std::string b =
      R"j({"title":"Devoir\nd'anglais","payload":{"url":"javascript:alert(1)"}})j";
  const std::string c = R"({"payload":{"link":"https://ent.example/n/3"}})";
  const std::vector<OutboundDelivery> batch = {
      delivery("d1", "grade", a), delivery("d2", "homework", b), delivery("d3", "grade", c)};
  const DigestText d = digest_text(batch);
  EXPECT_EQ(d.title, "3 nouvelles notifications");
  EXPECT_EQ(d.body, "2 notes et 1 devoir");
  ASSERT_EQ(d.items.size(), 3u);
  EXPECT_EQ(d.items[0].title, "Note de maths");
  EXPECT_EQ(d.items[0].link, "https://ent.example/n/1");
  EXPECT_EQ(d.items[1].title, "Devoir d'anglais");  // the line break is gone
  EXPECT_EQ(d.items[1].link, "");                   // not an http(s) link
  EXPECT_EQ(d.items[2].title, "Note");              // no title: the category's name
  ASSERT_EQ(d.counts.size(), 2u);
  EXPECT_EQ(d.counts[0].category, "grade");
  EXPECT_EQ(d.counts[0].count, 2u);
}

TEST(DigestText, IdIsStableAndDependsOnTheDeliveries) {
  const std::vector<OutboundDelivery> one = {delivery("d1", "grade", "{}"),
                                             delivery("d2", "message", "{}")};
  const std::vector<OutboundDelivery> other = {delivery("d1", "grade", "{}"),
                                               delivery("d3", "message", "{}")};
  EXPECT_EQ(digest_text(one).id, digest_text(one).id);
  EXPECT_NE(digest_text(one).id, digest_text(other).id);
  EXPECT_EQ(digest_text(one).id.substr(0, 4), "dig_");
  EXPECT_EQ(digest_text(one).id.size(), 36u);
  EXPECT_EQ(digest_text(one).body, "1 message et 1 note");  // in the categories' order
  // What the dispatcher records as the digest's id, from the deliveries' ids alone.
  const std::vector<std::string> ids = {"d1", "d2"};
  EXPECT_EQ(digest_id(ids), digest_text(one).id);
}

TEST(DigestText, LongTitlesAreCutAtACharacterBoundary) {
  std::string title;
  for (int i = 0; i < 150; ++i)
    title += "é";  // two bytes each
  const std::string body = R"({"title":")" + title + R"("})";
  const std::string t = event_title(body);
  EXPECT_LE(t.size(), 203u);
  EXPECT_TRUE(t.ends_with("\xE2\x80\xA6"));
  EXPECT_EQ((t.size() - 3) % 2, 0u);  // whole "é"s before the ellipsis
}

TEST(DigestText, CountedFormsInFrench) {
  EXPECT_EQ(category_count_fr("blog", 1), "1 billet de blog");
  EXPECT_EQ(category_count_fr("schedule", 2), "2 changements d'emploi du temps");
  EXPECT_EQ(category_count_fr("unknown", 4), "4 notifications");
}

}  // namespace
}  // namespace treve::adapters
