// Open ENT NG timeline notifications (adapters/inbound/entcore_timeline.h): each fixture of
// tests/fixtures/entcore/ (written as entcore's modules publish them) gives the expected
// TimelineEvent; the category table and a connector's overrides; the content-derived id; and
// every refused document names the field where entcore wrote it.
#include "adapters/inbound/entcore_timeline.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "policy/rfc3339.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;
using policy::Category;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const policy::Instant kReceived = *policy::parse_rfc3339("2025-12-01T21:30:00Z");

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TREVE_SOURCE_DIR) + "/tests/fixtures/entcore/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TimelineEvent parsed(const std::string& body, const TimelineMapping& mapping = {},
                     const EventLimits& limits = {}) {
  auto e = parse_entcore_timeline(body, mapping, limits, kReceived);
  EXPECT_TRUE(e.has_value()) << (e ? "" : e.error().pointer + ": " + e.error().detail);
  return e ? *e : TimelineEvent{};
}

Problem problem(const std::string& body, const EventLimits& limits = {}) {
  auto e = parse_entcore_timeline(body, {}, limits, kReceived);
  EXPECT_FALSE(e.has_value()) << body;
  return e ? Problem{} : e.error();
}

// A minimal document as the timeline helper would send it, to be edited by each test.
json::object minimal() {
  return json::parse(R"({
    "action": "add",
    "type": "MESSAGERIE",
    "event-type": "SEND-MESSAGE",
    "recipients": [{"userId": "u-1", "unread": 1}, {"userId": "u-2", "unread": 1}],
    "recipientsIds": ["u-1", "u-2"],
    "resource": "m-1",
    "sender": "s-1",
    "pushNotif": {"title": "push.notif.new.message", "body": "Claire : bonjour"},
    "params": {"resourceUri": "/conversation/conversation#/read-mail/m-1"}
  })")
      .as_object();
}

std::string text(const json::object& o) {
  return json::serialize(o);
}

// --- the fixtures ---------------------------------------------------------------------------

TEST(EntcoreTimeline, ConversationMessageToTwoUsers) {
  const std::string body = fixture("messagerie-send-message.json");
  TimelineEvent e = parsed(body);
  // Cross-checked with an independent implementation of the content key (Python's json with
  // sorted keys and compact separators, hashlib.sha256).
  EXPECT_EQ(e.id, "etl_8df340539371cf7a947ff8f11ee13afe7fd0390386a61fbc0177470227314986");
  EXPECT_TRUE(e.id_derived);
  EXPECT_EQ(e.type, "MESSAGERIE");
  EXPECT_EQ(e.event_type, "SEND-MESSAGE");
  EXPECT_EQ(e.category, Category::message);
  EXPECT_THAT(e.recipients, ElementsAre("4f1c7a52-93de-4b0e-8a61-2c5d0e9b7f13",
                                        "b82e6d0f-1a47-4c39-9e25-7d3f8a6c0b91"));
  EXPECT_EQ(e.sender, "0c6e2b94-5d13-47a8-b0f2-e8d4a1973c56");
  EXPECT_EQ(e.title, "Nouveau message");
  EXPECT_EQ(e.body, "Claire DURAND : Bonjour, la sortie au musée est reportée à jeudi.");
  EXPECT_EQ(e.link, "/conversation/conversation#/read-mail/d3a9c1e7-6b52-4f08-a4d6-90e1b7c25f38");
  EXPECT_FALSE(e.dated);
  EXPECT_EQ(e.created_at, kReceived);
  EXPECT_FALSE(e.urgent);
  EXPECT_EQ(e.payload_json + "\n", body);
}

TEST(EntcoreTimeline, BlogPostToAGroup) {
  TimelineEvent e = parsed(fixture("blog-publish-post.json"));
  EXPECT_EQ(e.category, Category::blog);
  EXPECT_EQ(e.event_type, "PUBLISH-POST");
  ASSERT_EQ(e.recipients.size(), 12u);
  EXPECT_EQ(e.recipients.front(), "1e014b7c-0d2f-4a18-9c3e-5b7a9d0e2f01");
  EXPECT_EQ(e.recipients.back(), "1e0c4b7c-0d2f-4a18-9c3e-5b7a9d0e2f0c");
  EXPECT_EQ(e.title, "Nouveau billet de blog");  // the French text has a trailing space
  EXPECT_EQ(e.body, "Sophie MARTIN : Le potager de la 5e B");
  EXPECT_EQ(e.link,
            "/blog#/view/8b2d4f60-7e19-4c3a-a5b1-d06f2e9c4a87/"
            "5c0e8a3d-2f71-4b96-8d4e-a1b3c5d7e9f2");
  EXPECT_THAT(e.id, StartsWith("etl_"));
  EXPECT_EQ(e.id.size(), 4u + 64u);
}

TEST(EntcoreTimeline, ScheduledNewsItemKeepsItsPublicationDate) {
  TimelineEvent e = parsed(fixture("news-published.json"));
  EXPECT_EQ(e.category, Category::news);
  EXPECT_THAT(e.recipients, ::testing::SizeIs(3));
  EXPECT_EQ(e.title, "Nouvelle actualité");
  EXPECT_TRUE(e.dated);
  EXPECT_EQ(e.created_at, *policy::parse_rfc3339("2025-12-02T08:00:00Z"));
  EXPECT_EQ(e.link, "/actualites#/view/thread/18/info/742");
}

TEST(EntcoreTimeline, HomeworkWithoutPushTitleGetsTheCategoryTitle) {
  TimelineEvent e = parsed(fixture("homeworks-share.json"));
  EXPECT_EQ(e.category, Category::homework);
  EXPECT_EQ(e.title, "Nouveau travail à faire");  // "pushNotif": null
  EXPECT_EQ(e.body, "");
  EXPECT_EQ(e.link, "/homeworks#/view-homeworks/c5e7a9b1-3d2f-4068-9a4c-e1f3b5d7a902");
}

TEST(EntcoreTimeline, StoredGradeDocumentKeepsItsIdAndIsoDate) {
  TimelineEvent e = parsed(fixture("competences-stored.json"));
  EXPECT_EQ(e.id, "b3c5d7e9f1a2b4c6d8e0f1a3");
  EXPECT_FALSE(e.id_derived);
  EXPECT_EQ(e.category, Category::grade);
  EXPECT_EQ(e.title, "Nouvelle note en mathématiques");  // a literal title, kept
  EXPECT_EQ(e.body, "Contrôle n°3 : fonctions affines");
  EXPECT_THAT(e.recipients, ::testing::SizeIs(2));
  EXPECT_TRUE(e.dated);
  EXPECT_EQ(e.created_at, *policy::parse_rfc3339("2025-12-02T16:45:00Z"));
  EXPECT_EQ(e.link, "/competences#/releve");  // no resourceUri: params.uri
}

TEST(EntcoreTimeline, SchoolbookWordToParentsListedTwice) {
  TimelineEvent e = parsed(fixture("schoolbook-publish.json"));
  EXPECT_EQ(e.category, Category::message);
  // A parent of two pupils of the class is listed twice by the module: held once.
  EXPECT_THAT(e.recipients, ElementsAre("a4c6e8f0-2b3d-4e5f-9a1b-7c8d9e0f1a2b",
                                        "b5d7f9a1-3c4e-4f60-8b2c-8d9e0f1a2b3c"));
  // A translation key nobody knows: the category's title, not the key.
  EXPECT_EQ(e.title, "Nouveau message");
  EXPECT_EQ(e.link, "/schoolbook#/word/1187");
}

TEST(EntcoreTimeline, FlashMessageIsNews) {
  TimelineEvent e = parsed(fixture("timeline-flash-message.json"));
  EXPECT_EQ(e.category, Category::news);
  EXPECT_EQ(e.title, "Nouveau message flash");
  EXPECT_EQ(e.link, "");
}

// --- the category table ---------------------------------------------------------------------

TEST(EntcoreTimelineMapping, Defaults) {
  const TimelineMapping m;
  EXPECT_EQ(m.category_of("MESSAGERIE", "SEND-MESSAGE"), Category::message);
  EXPECT_EQ(m.category_of("MESSAGERIE", "STORAGE"), Category::other);
  EXPECT_EQ(m.category_of("BLOG", "SUBMIT-POST"), Category::blog);
  EXPECT_EQ(m.category_of("NEWS", "NEWS-COMMENT"), Category::news);
  EXPECT_EQ(m.category_of("SCHOOLBOOK", "ACKNOWLEDGE"), Category::message);
  EXPECT_EQ(m.category_of("HOMEWORKS", ""), Category::homework);
  EXPECT_EQ(m.category_of("DIARY", "NOTIFY"), Category::homework);
  EXPECT_EQ(m.category_of("COMPETENCES", "X"), Category::grade);
  EXPECT_EQ(m.category_of("PRESENCES", "X"), Category::absence);
  EXPECT_EQ(m.category_of("TIMELINE", "NOTIFY-REPORT"), Category::other);
  EXPECT_EQ(m.category_of("TIMELINE", "SEND-FLASH-MESSAGE-MAIL"), Category::news);
  EXPECT_EQ(m.category_of("WORKSPACE", "SHARE"), Category::other);
  // Case does not matter.
  EXPECT_EQ(m.category_of("blog", "publish-post"), Category::blog);
}

TEST(EntcoreTimelineMapping, ConnectorEntriesExtendAndOverride) {
  TimelineMapping m;
  m.types = {{"SCHOOLBOOK", Category::alert},
             {"BLOG.PUBLISH-COMMENT", Category::other},
             {"EDT", Category::schedule},
             {"MESSAGERIE.STORAGE", Category::alert}};
  EXPECT_EQ(m.category_of("SCHOOLBOOK", "PUBLISH"), Category::alert);
  EXPECT_EQ(m.category_of("BLOG", "PUBLISH-COMMENT"), Category::other);
  EXPECT_EQ(m.category_of("BLOG", "PUBLISH-POST"), Category::blog);
  EXPECT_EQ(m.category_of("EDT", "CHANGE"), Category::schedule);
  EXPECT_EQ(m.category_of("MESSAGERIE", "STORAGE"), Category::alert);
  // A default (type, event-type) entry still wins over the connector's entry for its type.
  m.types = {{"TIMELINE", Category::other}};
  EXPECT_EQ(m.category_of("TIMELINE", "SEND-FLASH-MESSAGE-PUSH"), Category::news);
  EXPECT_EQ(m.category_of("TIMELINE", "NOTIFY-REPORT"), Category::other);
  // The last of two entries for one key wins.
  m.types = {{"BLOG", Category::news}, {"blog", Category::alert}};
  EXPECT_EQ(m.category_of("BLOG", "PUBLISH-POST"), Category::alert);
}

TEST(EntcoreTimelineMapping, UnknownTypeIsOtherAndStillHeld) {
  json::object o = minimal();
  o["type"] = "MINDMAP";
  o["event-type"] = "SHARE";
  o.erase("pushNotif");
  TimelineEvent e = parsed(text(o));
  EXPECT_EQ(e.category, Category::other);
  EXPECT_EQ(e.title, "Nouvelle notification");
}

TEST(EntcoreTimelineMapping, ConnectorTitlesOverrideTheBuiltInTexts) {
  TimelineMapping m;
  m.titles = {{"push.notif.new.message", "Message de l'établissement"},
              {"schoolbook.push.notif.publish", "Mot dans le carnet de liaison "}};
  EXPECT_EQ(parsed(text(minimal()), m).title, "Message de l'établissement");
  EXPECT_EQ(parsed(fixture("schoolbook-publish.json"), m).title, "Mot dans le carnet de liaison");
}

TEST(EntcoreTimelineMapping, ValidKeys) {
  EXPECT_TRUE(valid_timeline_type_key("MESSAGERIE"));
  EXPECT_TRUE(valid_timeline_type_key("BLOG.PUBLISH-POST"));
  EXPECT_TRUE(valid_timeline_type_key("userbook.userbook_mood"));
  EXPECT_FALSE(valid_timeline_type_key(""));
  EXPECT_FALSE(valid_timeline_type_key("BLOG."));
  EXPECT_FALSE(valid_timeline_type_key(".PUBLISH-POST"));
  EXPECT_FALSE(valid_timeline_type_key("A.B.C"));
  EXPECT_FALSE(valid_timeline_type_key("BLOG POST"));
}

// --- recipients -----------------------------------------------------------------------------

TEST(EntcoreTimelineRecipients, UnionOfBothListsInOrderEachOnce) {
  json::object o = minimal();
  o["recipients"] = json::parse(R"([{"userId": "u-3"}, {"userId": "u-1"}, {"userId": "u-3"}])");
  o["recipientsIds"] = json::parse(R"(["u-1", "u-4", "u-3", "u-5"])");
  EXPECT_THAT(parsed(text(o)).recipients, ElementsAre("u-3", "u-1", "u-4", "u-5"));
}

TEST(EntcoreTimelineRecipients, EitherListAlone) {
  json::object o = minimal();
  o.erase("recipientsIds");
  EXPECT_THAT(parsed(text(o)).recipients, ElementsAre("u-1", "u-2"));
  o = minimal();
  o.erase("recipients");
  EXPECT_THAT(parsed(text(o)).recipients, ElementsAre("u-1", "u-2"));
  o["recipients"] = nullptr;
  EXPECT_THAT(parsed(text(o)).recipients, ElementsAre("u-1", "u-2"));
}

TEST(EntcoreTimelineRecipients, Problems) {
  json::object o = minimal();
  o.erase("recipients");
  o.erase("recipientsIds");
  EXPECT_EQ(problem(text(o)).pointer, "/recipients");

  o["recipients"] = json::array();
  EXPECT_THAT(problem(text(o)).detail, HasSubstr("no recipient"));

  o = minimal();
  o["recipients"] = json::parse(R"([{"userId": "u-1"}, {"userId": "u-2"}, {"userId": 42}])");
  Problem p = problem(text(o));
  EXPECT_EQ(p.pointer, "/recipients/2/userId");
  EXPECT_THAT(p.detail, HasSubstr("must be a string, got a number"));

  o["recipients"] = json::parse(R"([{"user": "u-1"}])");
  EXPECT_EQ(problem(text(o)).pointer, "/recipients/0/userId");
  o["recipients"] = json::parse(R"(["u-1"])");
  EXPECT_EQ(problem(text(o)).pointer, "/recipients/0");
  o["recipients"] = json::parse(R"({"userId": "u-1"})");
  EXPECT_EQ(problem(text(o)).pointer, "/recipients");
  o["recipients"] = json::parse(R"([{"userId": ""}])");
  EXPECT_EQ(problem(text(o)).pointer, "/recipients/0/userId");
  o["recipients"] = json::parse(R"([{"userId": "u\u0007"}])");
  EXPECT_THAT(problem(text(o)).detail, HasSubstr("U+0007"));

  o = minimal();
  o["recipientsIds"] = json::parse(R"(["u-1", {"userId": "u-2"}])");
  EXPECT_EQ(problem(text(o)).pointer, "/recipientsIds/1");
  o["recipientsIds"] = "u-1";
  EXPECT_EQ(problem(text(o)).pointer, "/recipientsIds");
}

TEST(EntcoreTimelineRecipients, Limits) {
  EventLimits limits;
  limits.max_recipients = 3;
  json::object o = minimal();
  o["recipients"] = json::parse(R"([{"userId": "a"}, {"userId": "b"}, {"userId": "c"},
                                    {"userId": "d"}])");
  o.erase("recipientsIds");
  Problem p = problem(text(o), limits);
  EXPECT_EQ(p.pointer, "/recipients");
  EXPECT_THAT(p.detail, HasSubstr("holds 4 recipients; at most 3"));

  // Duplicates do not count; distinct ids across both lists do.
  o["recipients"] = json::parse(R"([{"userId": "a"}, {"userId": "a"}, {"userId": "b"}])");
  o["recipientsIds"] = json::parse(R"(["a", "b", "c"])");
  EXPECT_THAT(parsed(text(o), {}, limits).recipients, ElementsAre("a", "b", "c"));
  o["recipientsIds"] = json::parse(R"(["a", "c", "d"])");
  p = problem(text(o), limits);
  EXPECT_EQ(p.pointer, "/recipientsIds/2");
  EXPECT_THAT(p.detail, HasSubstr("more than 3 distinct recipients"));

  limits = {};
  limits.max_id_chars = 12;  // "SEND-MESSAGE" is 12
  o = minimal();
  o["recipientsIds"] = json::parse(R"(["u-1", "1234567890123"])");
  EXPECT_EQ(problem(text(o), limits).pointer, "/recipientsIds/1");
}

// --- title, body, link ----------------------------------------------------------------------

TEST(EntcoreTimelineTitle, FallbacksAndLimits) {
  json::object o = minimal();
  o["pushNotif"] = nullptr;
  EXPECT_EQ(parsed(text(o)).title, "Nouveau message");
  o["pushNotif"] = json::parse(R"({"title": "   ", "body": "b"})");
  TimelineEvent e = parsed(text(o));
  EXPECT_EQ(e.title, "Nouveau message");
  EXPECT_EQ(e.body, "b");
  o["pushNotif"] = json::parse(R"({"title": " Réunion : changement de salle "})");
  EXPECT_EQ(parsed(text(o)).title, "Réunion : changement de salle");
  // The body falls back to the preview's text.
  o["pushNotif"] = json::parse(R"({"title": "push.notif.new.message"})");
  o["preview"] = json::parse(R"({"text": "Début du billet", "images": []})");
  EXPECT_EQ(parsed(text(o)).body, "Début du billet");

  EventLimits limits;
  limits.max_title_chars = 10;
  o["pushNotif"] = json::parse(R"({"title": "Un titre bien trop long"})");
  Problem p = problem(text(o), limits);
  EXPECT_EQ(p.pointer, "/pushNotif/title");
  EXPECT_THAT(p.detail, HasSubstr("23 characters long; at most 10"));
  // A translated key counts in its translation; the fallback is never refused.
  limits.max_title_chars = 15;
  o["pushNotif"] = json::parse(R"({"title": "push.notif.new.message"})");
  EXPECT_EQ(parsed(text(o), {}, limits).title, "Nouveau message");
}

TEST(EntcoreTimelineTitle, Problems) {
  json::object o = minimal();
  o["pushNotif"] = "Nouveau message";
  EXPECT_EQ(problem(text(o)).pointer, "/pushNotif");
  o["pushNotif"] = json::parse(R"({"title": 3})");
  EXPECT_EQ(problem(text(o)).pointer, "/pushNotif/title");
  o["pushNotif"] = json::parse(R"({"title": "t", "body": ["x"]})");
  EXPECT_EQ(problem(text(o)).pointer, "/pushNotif/body");
}

TEST(EntcoreTimelineLink, ResourceUriThenUriAsGiven) {
  json::object o = minimal();
  o["params"] = json::parse(R"({"uri": "/userbook/annuaire#s-1#Teacher",
                                "resourceUri": "https://ent.example/blog#/view/b"})");
  EXPECT_EQ(parsed(text(o)).link, "https://ent.example/blog#/view/b");
  o["params"] = json::parse(R"({"uri": "/userbook/annuaire#s-1#Teacher", "resourceUri": null})");
  EXPECT_EQ(parsed(text(o)).link, "/userbook/annuaire#s-1#Teacher");
  o.erase("params");
  EXPECT_EQ(parsed(text(o)).link, "");
  o["params"] = json::parse(R"({"resourceUri": 7})");
  EXPECT_EQ(problem(text(o)).pointer, "/params/resourceUri");
  o["params"] = json::array();
  EXPECT_EQ(problem(text(o)).pointer, "/params");
}

// --- date -----------------------------------------------------------------------------------

TEST(EntcoreTimelineDate, Forms) {
  const policy::Instant t = *policy::parse_rfc3339("2025-12-02T08:00:00.250Z");
  json::object o = minimal();
  o["date"] = json::parse(R"({"$date": 1764662400250})");
  EXPECT_EQ(parsed(text(o)).created_at, t);
  o["date"] = json::parse(R"({"$date": "2025-12-02T09:00:00.250+01:00"})");
  EXPECT_EQ(parsed(text(o)).created_at, t);
  o["date"] = json::parse(R"({"$date": {"$numberLong": "1764662400250"}})");
  EXPECT_EQ(parsed(text(o)).created_at, t);
  o["date"] = nullptr;
  TimelineEvent e = parsed(text(o));
  EXPECT_EQ(e.created_at, kReceived);
  EXPECT_FALSE(e.dated);
}

TEST(EntcoreTimelineDate, Problems) {
  json::object o = minimal();
  o["date"] = 1764662400000;
  EXPECT_EQ(problem(text(o)).pointer, "/date");
  o["date"] = json::object();
  EXPECT_EQ(problem(text(o)).pointer, "/date/$date");
  for (const char* bad : {R"({"$date": "hier"})", R"({"$date": 1.5})", R"({"$date": -1})",
                          R"({"$date": 18446744073709551615})", R"({"$date": 1e300})",
                          R"({"$date": true})", R"({"$date": 253402300800000})"}) {
    o["date"] = json::parse(bad);
    EXPECT_EQ(problem(text(o)).pointer, "/date/$date") << bad;
  }
  o["date"] = json::parse(R"({"$date": {"$numberLong": "12a"}})");
  EXPECT_EQ(problem(text(o)).pointer, "/date/$date/$numberLong");
  o["date"] = json::parse(R"({"$date": {"$numberLong": "99999999999999999999999"}})");
  EXPECT_EQ(problem(text(o)).pointer, "/date/$date/$numberLong");
}

// --- the id ---------------------------------------------------------------------------------

TEST(EntcoreTimelineId, DerivedKeyIgnoresDeliveryDetailsButNotContent) {
  const std::string base = parsed(text(minimal())).id;
  EXPECT_THAT(base, StartsWith("etl_"));

  // The same notification through another front end, with members in another order, marked
  // read, with its template and name: the same id.
  json::object o = minimal();
  o["request"] = json::parse(R"({"headers": {"Host": "autre.example", "Accept-Language": "en"}})");
  o["notification"] = json::parse(R"({"type": "MESSAGERIE", "push-notif": true})");
  o["notificationName"] = "messagerie.send-message";
  o["disableMailNotification"] = nullptr;
  o["recipients"] = json::parse(R"([{"userId": "u-1", "unread": 0}, {"userId": "u-2"}])");
  o["params"] = json::parse(R"({"resourceUri": "/conversation/conversation#/read-mail/m-1"})");
  json::object reordered;
  for (auto it = o.end(); it != o.begin();) {
    --it;
    reordered[it->key()] = it->value();
  }
  EXPECT_EQ(parsed(text(reordered)).id, base);

  // What the notification says and to whom: another id.
  auto changed = [&](const char* key, json::value v) {
    json::object c = minimal();
    c[key] = std::move(v);
    return parsed(text(c)).id;
  };
  EXPECT_NE(changed("event-type", "STORAGE"), base);
  EXPECT_NE(changed("resource", "m-2"), base);
  EXPECT_NE(changed("sender", "s-2"), base);
  EXPECT_NE(changed("sub-resource", "x"), base);
  EXPECT_NE(changed("date", json::parse(R"({"$date": 1764662400000})")), base);
  EXPECT_NE(changed("params", json::parse(R"({"resourceUri": "/other"})")), base);
  EXPECT_NE(changed("recipientsIds", json::parse(R"(["u-1", "u-2", "u-3"])")), base);
}

TEST(EntcoreTimelineId, StoredIdForms) {
  json::object o = minimal();
  o["_id"] = json::parse(R"({"$oid": "65f1c0a2b3c4d5e6f7a8b9c0"})");
  TimelineEvent e = parsed(text(o));
  EXPECT_EQ(e.id, "65f1c0a2b3c4d5e6f7a8b9c0");
  EXPECT_FALSE(e.id_derived);
  o["_id"] = 12;
  EXPECT_EQ(problem(text(o)).pointer, "/_id");
  o["_id"] = json::parse(R"({"$oid": ""})");
  EXPECT_EQ(problem(text(o)).pointer, "/_id/$oid");
  o["_id"] = "etl_0000";
  EXPECT_THAT(problem(text(o)).detail, HasSubstr("prefix"));
  o["_id"] = std::string(200, 'a');
  EXPECT_EQ(problem(text(o)).pointer, "/_id");
}

// --- the rest of the document ---------------------------------------------------------------

TEST(EntcoreTimelineDocument, Problems) {
  json::object o = minimal();
  o.erase("type");
  EXPECT_EQ(problem(text(o)).pointer, "/type");
  o["type"] = nullptr;  // what the helper sends for a notification name it does not know
  EXPECT_EQ(problem(text(o)).pointer, "/type");
  o["type"] = 1;
  EXPECT_EQ(problem(text(o)).pointer, "/type");
  o = minimal();
  o["event-type"] = false;
  EXPECT_EQ(problem(text(o)).pointer, "/event-type");
  o = minimal();
  o["event-type"] = nullptr;
  EXPECT_EQ(parsed(text(o)).event_type, "");
  o = minimal();
  o["sender"] = json::array();
  EXPECT_EQ(problem(text(o)).pointer, "/sender");
  o = minimal();
  o.erase("sender");
  EXPECT_FALSE(parsed(text(o)).sender.has_value());
  o = minimal();
  o["resource"] = 5;
  EXPECT_EQ(problem(text(o)).pointer, "/resource");
  o = minimal();
  o["sub-resource"] = json::object();
  EXPECT_EQ(problem(text(o)).pointer, "/sub-resource");
  o = minimal();
  o["action"] = "delete";
  Problem p = problem(text(o));
  EXPECT_EQ(p.pointer, "/action");
  EXPECT_THAT(p.detail, HasSubstr("\"delete\""));
}

TEST(EntcoreTimelineDocument, PointersEscapeTildeAndSlash) {
  std::string body = text(minimal());
  body.insert(1, R"("a/b~c": 1, "a/b~c": 2, )");
  EXPECT_EQ(problem(body).pointer, "/a~1b~0c");
}

TEST(EntcoreTimelineDocument, HostileInput) {
  Problem p = problem("{\"type\": ");
  EXPECT_EQ(p.status, 400);
  EXPECT_THAT(p.type, HasSubstr("malformed"));
  EXPECT_EQ(problem("[1, 2]").pointer, "");
  EXPECT_EQ(problem("\"MESSAGERIE\"").pointer, "");

  // Deep nesting in a member trêve does not read is still refused by the parser.
  json::object o = minimal();
  std::string body = text(o);
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  body.insert(1, "\"params2\": " + deep + ", ");
  EXPECT_THAT(problem(body).type, HasSubstr("malformed"));

  // Huge numbers where trêve does not look are kept as written in the payload.
  body = text(minimal());
  body.insert(1, R"("big": 123456789012345678901234567890, "e": 1e300, )");
  TimelineEvent e = parsed(body);
  EXPECT_THAT(e.payload_json, HasSubstr("123456789012345678901234567890"));

  // A member given twice.
  body = text(minimal());
  body.insert(1, R"("type": "BLOG", )");
  EXPECT_EQ(problem(body).pointer, "/type");
}

}  // namespace
}  // namespace treve::adapters
