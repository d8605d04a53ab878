// CloudEvents 1.0 over HTTP (adapters/inbound/cloudevents.h): each content mode, each check on
// the attributes, the stored id, the type table and the connector's pointers; every problem
// names the field where the connector wrote it. A property test sends random canonical events
// as `fr.treve.notification.v1` CloudEvents, structured and binary, and gets them back.
#include "adapters/inbound/cloudevents.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "adapters/inbound/canonical_event.h"
#include "policy/rfc3339.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

const policy::Instant kReceived = *policy::parse_rfc3339("2026-11-27T21:30:00Z");

// A canonical event carried by the notification type.
json::object canonical_data() {
  return json::parse(R"({
    "establishment": "0250001R",
    "category": "grade",
    "recipients": [{"id": "u-7f3a", "role": "student"},
                   {"id": "u-99c1", "role": "parent", "of": "u-7f3a"}],
    "title": "Nouvelle note",
    "payload": {"note": 15, "x": [1, 2]}
  })")
      .as_object();
}

json::object structured(const std::string& type = std::string(kNotificationType)) {
  json::object e;
  e["specversion"] = "1.0";
  e["id"] = "evt-1";
  e["source"] = "https://ent.example/notes";
  e["type"] = type;
  e["time"] = "2026-11-27T21:14:03+01:00";
  e["datacontenttype"] = "application/json";
  e["data"] = canonical_data();
  return e;
}

// A mapped event: the ENT's own shape of data.
json::object grade_event() {
  json::object e = structured("com.example.grade.published");
  e["data"] = json::parse(R"({
    "school": {"uai": "0250001R"},
    "to": [{"id": "u-7f3a", "role": "student"}],
    "subject": "Maths", "headline": "Nouvelle note", "important": false
  })");
  return e;
}

CloudEventMapping grade_mapping() {
  CloudEventMapping m;
  m.ce_source = "https://ent.example/notes";
  m.types = {{"com.example.grade.published", policy::Category::grade}};
  m.establishment_pointer = "/school/uai";
  m.recipients_pointer = "/to";
  m.title_pointer = "/headline";
  m.urgent_pointer = "/important";
  return m;
}

CloudEventResult parse(const json::object& e, const CloudEventMapping& m = {}) {
  return parse_structured_cloudevent(json::serialize(e), m, kReceived);
}

void expect_invalid(const CloudEventResult& r, const std::string& pointer) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(r.error().type, "urn:treve:problem:invalid-field") << r.error().detail;
  EXPECT_EQ(r.error().pointer, pointer) << r.error().detail;
  EXPECT_FALSE(r.error().detail.empty());
}

void expect_bad_header(const CloudEventResult& r, const std::string& header) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(r.error().type, "urn:treve:problem:invalid-header") << r.error().detail;
  EXPECT_EQ(r.error().pointer, "");
  ASSERT_TRUE(r.error().members.contains("header")) << r.error().detail;
  EXPECT_EQ(r.error().members.at("header"), json::value(header)) << r.error().detail;
  // The document's header member survives into the problem+json.
  EXPECT_THAT(r.error().to_json(), HasSubstr("\"header\":\"" + header + "\""));
}

TEST(CloudEvents, AStructuredNotificationBecomesItsCanonicalEvent) {
  auto r = parse(structured());
  ASSERT_TRUE(r.has_value()) << r.error().detail << " at " << r.error().pointer;
  const policy::Notification& n = r->event.notification;
  EXPECT_EQ(n.id, "https://ent.example/notes#evt-1");  // no ce_source configured
  EXPECT_EQ(n.establishment, "0250001R");
  EXPECT_EQ(n.category, policy::Category::grade);
  ASSERT_EQ(n.recipients.size(), 2u);
  EXPECT_EQ(n.recipients[1].of, "u-7f3a");
  EXPECT_EQ(r->event.title, "Nouvelle note");
  EXPECT_EQ(r->event.created_at, *policy::parse_rfc3339("2026-11-27T20:14:03Z"));
  // The payload byte for byte, as the canonical format keeps it.
  EXPECT_EQ(r->event.payload_json, R"({"note":15,"x":[1,2]})");
  EXPECT_EQ(r->source, "https://ent.example/notes");
  EXPECT_EQ(r->id, "evt-1");
  // What is stored is a canonical event the canonical parser takes back.
  auto again = parse_canonical_event(r->body);
  ASSERT_TRUE(again.has_value()) << again.error().detail << "\n" << r->body;
  EXPECT_EQ(again->notification.id, "evt-1");
  EXPECT_EQ(again->payload_json, r->event.payload_json);
  EXPECT_EQ(again->created_at, r->event.created_at);
}

TEST(CloudEvents, ThePayloadKeepsItsTextWhenWrittenWithSpaces) {
  const std::string body =
      R"({"specversion":"1.0","id":"a","source":"s","type":"fr.treve.notification.v1",)"
      R"("data":{"establishment":"0250001R","category":"news","recipients":[{"id":"u","role":"staff"}],)"
      R"("payload": { "big" : 12345678901234567890123 } }})";
  auto r = parse_structured_cloudevent(body, {}, kReceived);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->event.payload_json, R"({ "big" : 12345678901234567890123 })");
}

TEST(CloudEvents, TheStoredIdIsTheBareIdOnlyFromTheConfiguredSource) {
  CloudEventMapping m;
  m.ce_source = "https://ent.example/notes";
  EXPECT_EQ(stored_event_id("https://ent.example/notes", "evt-1", m), "evt-1");
  EXPECT_EQ(stored_event_id("https://other.example", "evt-1", m), "https://other.example#evt-1");
  // '#' and '%' in the source are escaped, so that no two pairs meet.
  EXPECT_EQ(stored_event_id("a#b", "c", m), "a%23b#c");
  EXPECT_EQ(stored_event_id("a%23b", "c", m), "a%2523b#c");
  EXPECT_NE(stored_event_id("a#b", "c", m), stored_event_id("a", "b#c", m));
  // A bare id with '#' could be read as a composite: it is stored as one.
  EXPECT_EQ(stored_event_id("https://ent.example/notes", "x#y", m),
            "https://ent.example/notes#x#y");
  EXPECT_NE(stored_event_id("https://ent.example/notes", "x#y", m), stored_event_id("x", "y", m));
  CloudEventMapping none;
  EXPECT_EQ(stored_event_id("s", "i", none), "s#i");
}

TEST(CloudEvents, AStoredIdIsInjectiveOverRandomPairs) {
  CloudEventMapping m;
  m.ce_source = "s#";
  std::mt19937 rng(7);
  const std::string alphabet = "s#%2a";
  std::map<std::string, std::pair<std::string, std::string>> seen;
  for (int i = 0; i < 20000; ++i) {
    auto word = [&] {
      std::string w;
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < n; ++k)
        w += alphabet[rng() % alphabet.size()];
      return w;
    };
    const std::string source = word(), id = word();
    auto [it, fresh] = seen.try_emplace(stored_event_id(source, id, m), source, id);
    if (!fresh) {
      EXPECT_EQ(it->second, std::make_pair(source, id)) << it->first;
    }
  }
}

TEST(CloudEvents, TheTimeBecomesCreatedAtAndWithoutItTheReceivedInstant) {
  json::object e = structured();
  e.erase("time");
  auto r = parse(e);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->event.created_at, kReceived);
  // The received instant is not part of what identifies the content: a retry is a replay.
  auto later =
      parse_structured_cloudevent(json::serialize(e), {}, kReceived + std::chrono::hours(1));
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->fingerprint, r->fingerprint);
  EXPECT_NE(later->body, r->body);
  // data's own created_at stands in for a missing time.
  e["data"].as_object()["created_at"] = "2026-11-27T19:00:00Z";
  auto own = parse(e);
  ASSERT_TRUE(own.has_value()) << own.error().detail;
  EXPECT_EQ(own->event.created_at, *policy::parse_rfc3339("2026-11-27T19:00:00Z"));
}

TEST(CloudEvents, DataMayRepeatTheIdAndTimeButNotContradictThem) {
  json::object e = structured();
  e["data"].as_object()["id"] = "evt-1";
  e["data"].as_object()["created_at"] = "2026-11-27T20:14:03Z";  // the same instant as time
  EXPECT_TRUE(parse(e).has_value());
  e["data"].as_object()["id"] = "evt-2";
  expect_invalid(parse(e), "/data/id");
  e["data"].as_object()["id"] = "evt-1";
  e["data"].as_object()["created_at"] = "2026-11-27T20:14:04Z";
  expect_invalid(parse(e), "/data/created_at");
}

TEST(CloudEvents, EachRequiredAttributeIsChecked) {
  for (const char* name : {"specversion", "id", "source", "type"}) {
    SCOPED_TRACE(name);
    json::object e = structured();
    e.erase(name);
    expect_invalid(parse(e), std::string("/") + name);
    e[name] = "";
    expect_invalid(parse(e), std::string("/") + name);
    e[name] = 3;
    expect_invalid(parse(e), std::string("/") + name);
  }
  json::object e = structured();
  e["specversion"] = "0.3";
  expect_invalid(parse(e), "/specversion");
  e = structured();
  e["id"] = std::string(129, 'x');
  expect_invalid(parse(e), "/id");
  e["id"] = "a\nb";
  expect_invalid(parse(e), "/id");
  e = structured();
  e["source"] = std::string(257, 's');
  expect_invalid(parse(e), "/source");
}

TEST(CloudEvents, TimeMustBeRfc3339) {
  json::object e = structured();
  e["time"] = "27/11/2026 21:14";
  expect_invalid(parse(e), "/time");
  e["time"] = "2026-11-27T21:14:03";  // no offset
  expect_invalid(parse(e), "/time");
}

TEST(CloudEvents, AttributeNamesAreLowerCaseLettersAndDigits) {
  for (const char* name : {"Type2", "my-ext", "my_ext", "é"}) {
    SCOPED_TRACE(name);
    json::object e = structured();
    e[name] = "x";
    expect_invalid(parse(e), std::string("/") + name);
  }
}

TEST(CloudEvents, UnknownExtensionsAreAllowedAndIgnored) {
  json::object e = structured();
  e["traceparent"] = "00-abc-def-01";
  e["partitionkey"] = 12;
  e["sampled"] = true;
  e["subject"] = "grade/42";
  e["dataschema"] = "https://ent.example/schema";
  e["comexampleextension1"] = nullptr;
  auto with = parse(e);
  ASSERT_TRUE(with.has_value()) << with.error().detail;
  EXPECT_EQ(with->fingerprint, parse(structured())->fingerprint);
  e["nested"] = json::object{{"a", 1}};
  expect_invalid(parse(e), "/nested");
}

TEST(CloudEvents, DataMustBeJsonObjectNotBase64) {
  json::object e = structured();
  e.erase("data");
  expect_invalid(parse(e), "/data");
  e["data"] = "text";
  expect_invalid(parse(e), "/data");
  e = structured();
  e.erase("data");
  e["data_base64"] = "eyJ9";
  expect_invalid(parse(e), "/data_base64");
  e = structured();
  e["datacontenttype"] = "text/plain";
  expect_invalid(parse(e), "/datacontenttype");
  e["datacontenttype"] = "application/vnd.ent+json; charset=utf-8";
  EXPECT_TRUE(parse(e).has_value());
}

TEST(CloudEvents, ProblemsInsideANotificationPointIntoData) {
  json::object e = structured();
  e["data"].as_object()["recipients"].as_array()[0].as_object()["role"] = "teacher";
  expect_invalid(parse(e), "/data/recipients/0/role");
  e = structured();
  e["data"].as_object()["urgnet"] = true;
  expect_invalid(parse(e), "/data/urgnet");
  e = structured();
  e["data"].as_object()["establishment"] = "0250001A";
  expect_invalid(parse(e), "/data/establishment");
}

TEST(CloudEvents, AFieldGivenTwiceIsRefused) {
  const std::string twice =
      R"({"specversion":"1.0","id":"a","id":"b","source":"s","type":"t","data":{}})";
  expect_invalid(parse_structured_cloudevent(twice, {}, kReceived), "/id");
  const std::string in_data =
      R"({"specversion":"1.0","id":"a","source":"s","type":"fr.treve.notification.v1",)"
      R"("data":{"category":"news","category":"alert"}})";
  expect_invalid(parse_structured_cloudevent(in_data, {}, kReceived), "/data/category");
}

TEST(CloudEvents, MalformedJsonAndNonObjectsAreProblems) {
  auto r = parse_structured_cloudevent("{", {}, kReceived);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, "urn:treve:problem:malformed-json");
  expect_invalid(parse_structured_cloudevent("[]", {}, kReceived), "");
}

TEST(CloudEvents, AMappedTypeTakesItsFieldsFromTheConnectorsPointers) {
  auto r = parse(grade_event(), grade_mapping());
  ASSERT_TRUE(r.has_value()) << r.error().detail << " at " << r.error().pointer;
  const policy::Notification& n = r->event.notification;
  EXPECT_EQ(n.id, "evt-1");  // from the configured source
  EXPECT_EQ(n.category, policy::Category::grade);
  EXPECT_EQ(n.establishment, "0250001R");
  ASSERT_EQ(n.recipients.size(), 1u);
  EXPECT_EQ(n.recipients[0].id, "u-7f3a");
  EXPECT_FALSE(n.urgent);
  EXPECT_EQ(r->event.title, "Nouvelle note");
  // The whole data is the payload.
  EXPECT_EQ(json::parse(r->event.payload_json), grade_event()["data"]);
  EXPECT_TRUE(parse_canonical_event(r->body).has_value()) << r->body;
}

TEST(CloudEvents, AnUnmappedTypeIsOther) {
  auto r = parse(structured("com.example.unknown"), grade_mapping());
  // The default pointers find the canonical-looking data.
  CloudEventMapping defaults;
  auto d = parse(structured("com.example.unknown"), defaults);
  ASSERT_TRUE(d.has_value()) << d.error().detail;
  EXPECT_EQ(d->event.notification.category, policy::Category::other);
  // With the grade mapping's pointers, that data has no /school/uai.
  expect_invalid(r, "/data/school/uai");
}

TEST(CloudEvents, AMappedTypesProblemsPointWhereTheConnectorWroteTheField) {
  const CloudEventMapping m = grade_mapping();
  json::object e = grade_event();
  e["data"].as_object()["to"].as_array()[0].as_object()["role"] = "teacher";
  expect_invalid(parse(e, m), "/data/to/0/role");
  e = grade_event();
  e["data"].as_object()["school"].as_object()["uai"] = "nope";
  expect_invalid(parse(e, m), "/data/school/uai");
  e = grade_event();
  e["data"].as_object()["headline"] = 3;
  expect_invalid(parse(e, m), "/data/headline");
  e = grade_event();
  e["data"].as_object()["important"] = "yes";
  expect_invalid(parse(e, m), "/data/important");
  e = grade_event();
  e["data"].as_object().erase("to");
  expect_invalid(parse(e, m), "/data/to");
  // Optional fields may be missing.
  e = grade_event();
  e["data"].as_object().erase("headline");
  e["data"].as_object().erase("important");
  auto r = parse(e, m);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->event.title, "");
}

TEST(CloudEvents, PointersFollowRfc6901) {
  EXPECT_TRUE(valid_member_pointer("/title"));
  EXPECT_TRUE(valid_member_pointer("/a~1b/~0c/0"));
  EXPECT_FALSE(valid_member_pointer(""));
  EXPECT_FALSE(valid_member_pointer("title"));
  EXPECT_FALSE(valid_member_pointer("/a~2"));
  EXPECT_FALSE(valid_member_pointer("/a~"));
  // An escaped key is found.
  CloudEventMapping m = grade_mapping();
  m.title_pointer = "/a~1b";
  json::object e = grade_event();
  e["data"].as_object()["a/b"] = "Par pointeur";
  auto r = parse(e, m);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->event.title, "Par pointeur");
}

// ---- binary mode ------------------------------------------------------------------------

struct Binary {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json; charset=utf-8"},
      {"ce-specversion", "1.0"},
      {"ce-id", "evt-1"},
      {"ce-source", "https://ent.example/notes"},
      {"ce-type", std::string(kNotificationType)},
      {"ce-time", "2026-11-27T21:14:03+01:00"},
  };
  std::string body = json::serialize(canonical_data());

  CloudEventResult parse(const CloudEventMapping& m = {}) const {
    std::vector<HeaderField> fields;
    for (const auto& [n, v] : headers)
      fields.push_back({n, v});
    return parse_binary_cloudevent(fields, body, m, kReceived);
  }
  void set(const std::string& name, const std::string& value) {
    for (auto& [n, v] : headers) {
      if (n == name) {
        v = value;
        return;
      }
    }
    headers.emplace_back(name, value);
  }
  void erase(const std::string& name) {
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
  }
};

TEST(CloudEvents, BinaryModeReadsTheHeadersAndTheBodyAsData) {
  Binary b;
  auto r = b.parse();
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  auto s = parse(structured());
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(r->body, s->body);
  EXPECT_EQ(r->fingerprint, s->fingerprint);
  EXPECT_EQ(r->event.notification.id, s->event.notification.id);
}

TEST(CloudEvents, BinaryHeaderNamesAreCaseInsensitiveAndValuesPercentDecoded) {
  Binary b;
  b.erase("ce-source");
  b.set("CE-Source", "https://ent.example/%C3%A9cole%20A");
  auto r = b.parse();
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_EQ(r->source, "https://ent.example/école A");
}

TEST(CloudEvents, BinaryModeNamesTheBadHeader) {
  for (const char* name : {"ce-specversion", "ce-id", "ce-source", "ce-type"}) {
    SCOPED_TRACE(name);
    Binary b;
    b.erase(name);
    expect_bad_header(b.parse(), name);
  }
  Binary b;
  b.set("ce-specversion", "0.3");
  expect_bad_header(b.parse(), "ce-specversion");
  b = Binary();
  b.set("ce-time", "tomorrow");
  expect_bad_header(b.parse(), "ce-time");
  b = Binary();
  b.set("ce-id", "%E9t%");
  expect_bad_header(b.parse(), "ce-id");
  b = Binary();
  b.set("ce-id", "%FF");  // not UTF-8
  expect_bad_header(b.parse(), "ce-id");
  b = Binary();
  b.set("ce-my_ext", "x");
  expect_bad_header(b.parse(), "ce-my_ext");
  b = Binary();
  b.headers.emplace_back("Ce-Id", "evt-2");
  expect_bad_header(b.parse(), "ce-id");
}

TEST(CloudEvents, BinaryModeProblemsInDataPointIntoTheBody) {
  Binary b;
  json::object d = canonical_data();
  d["recipients"].as_array()[0].as_object()["role"] = "teacher";
  b.body = json::serialize(d);
  expect_invalid(b.parse(), "/recipients/0/role");
  b.body = "[1]";
  expect_invalid(b.parse(), "");
  b.body = "{";
  auto r = b.parse();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, "urn:treve:problem:malformed-json");
}

TEST(CloudEvents, BinaryDataMustBeJson) {
  Binary b;
  b.set("Content-Type", "text/plain");
  auto r = b.parse();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 415);
}

// ---- batched mode -----------------------------------------------------------------------

TEST(CloudEvents, ABatchGivesOneResultPerEventInOrder) {
  json::array batch;
  batch.push_back(structured());
  json::object bad = structured();
  bad["id"] = "evt-2";
  bad["data"].as_object()["title"] = 3;
  batch.push_back(bad);
  batch.push_back(7);
  json::object mapped = grade_event();
  mapped["id"] = "evt-4";
  batch.push_back(mapped);
  auto r = parse_cloudevent_batch(json::serialize(batch), grade_mapping(), kReceived);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 4u);
  ASSERT_TRUE((*r)[0].has_value()) << (*r)[0].error().detail;
  EXPECT_EQ((*r)[0]->event.notification.id, "evt-1");
  expect_invalid((*r)[1], "/1/data/title");
  expect_invalid((*r)[2], "/2");
  ASSERT_TRUE((*r)[3].has_value()) << (*r)[3].error().detail;
  EXPECT_EQ((*r)[3]->event.notification.category, policy::Category::grade);
  // Payloads keep their text in a batch too.
  EXPECT_EQ((*r)[0]->event.payload_json, R"({"note":15,"x":[1,2]})");
}

TEST(CloudEvents, ABatchIsAJsonArray) {
  auto r = parse_cloudevent_batch(json::serialize(structured()), {}, kReceived);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().pointer, "");
  auto empty = parse_cloudevent_batch(" [ ] ", {}, kReceived);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  auto malformed = parse_cloudevent_batch("[{]", {}, kReceived);
  ASSERT_FALSE(malformed.has_value());
  EXPECT_EQ(malformed.error().type, "urn:treve:problem:malformed-json");
}

// ---- recipients from a directory -------------------------------------------------------

CloudEventMapping directory_mapping() {
  CloudEventMapping m = grade_mapping();
  m.recipients_from_directory = true;
  return m;
}

// A mapped event naming its recipients by user id, as strings or {"userId": …}.
json::object users_event(json::array to) {
  json::object e = structured("com.example.grade.published");
  e["data"] = json::object{{"to", std::move(to)}, {"headline", "Nouvelle note"}};
  return e;
}

TEST(CloudEventsFromADirectory, UserIdsAreStringsOrObjectsEachOnceInOrder) {
  auto r = parse(users_event(json::array{"u-1", json::object{{"userId", "u-2"}, {"x", 1}}, "u-1",
                                         json::object{{"userId", "u-3"}}}),
                 directory_mapping());
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_THAT(r->users, ::testing::ElementsAre("u-1", "u-2", "u-3"));
  EXPECT_THAT(r->user_pointers,
              ::testing::ElementsAre("/data/to/0", "/data/to/1/userId", "/data/to/3/userId"));
  // No establishment, no recipients: the directory's answer gives them.
  EXPECT_TRUE(r->event.notification.establishment.empty());
  EXPECT_TRUE(r->event.notification.recipients.empty());
  EXPECT_EQ(r->event.notification.category, policy::Category::grade);
  EXPECT_EQ(r->event.notification.id, "evt-1");
  EXPECT_EQ(r->event.title, "Nouvelle note");
  const json::object body = json::parse(r->body).as_object();
  EXPECT_FALSE(body.contains("establishment"));
  EXPECT_FALSE(body.contains("recipients"));
  EXPECT_EQ(body.at("created_at"), json::value("2026-11-27T21:14:03+01:00"));
  // The payload is the event's data, whole.
  EXPECT_EQ(body.at("payload").as_object().at("headline"), json::value("Nouvelle note"));
  EXPECT_EQ(json::parse(r->event.payload_json), body.at("payload"));
}

TEST(CloudEventsFromADirectory, BadUserIdsAreNamedWhereTheyWereWritten) {
  const CloudEventMapping m = directory_mapping();
  expect_invalid(parse(users_event(json::array{"u-1", 7}), m), "/data/to/1");
  expect_invalid(parse(users_event(json::array{"u-1", ""}), m), "/data/to/1");
  expect_invalid(parse(users_event(json::array{json::object{{"userId", 7}}}), m),
                 "/data/to/0/userId");
  expect_invalid(parse(users_event(json::array{json::object{{"id", "u-1"}}}), m),
                 "/data/to/0/userId");
  expect_invalid(parse(users_event(json::array{"u-1", json::array{"u-2"}}), m), "/data/to/1");
  expect_invalid(parse(users_event(json::array{}), m), "/data/to");
  json::object not_array = users_event({});
  not_array["data"].as_object()["to"] = "u-1";
  expect_invalid(parse(not_array, m), "/data/to");
  json::object missing = users_event({});
  missing["data"].as_object().erase("to");
  expect_invalid(parse(missing, m), "/data/to");
  json::array many;
  for (int i = 0; i <= 1000; ++i)
    many.push_back(json::value("u-" + std::to_string(i)));
  expect_invalid(parse(users_event(many), m), "/data/to");
  // The other fields are checked as for any mapped type.
  json::object bad_title = users_event(json::array{"u-1"});
  bad_title["data"].as_object()["headline"] = 3;
  expect_invalid(parse(bad_title, m), "/data/headline");
}

TEST(CloudEventsFromADirectory, BinaryAndBatchedPointersAreIntoTheDocumentSent) {
  Binary b;
  b.set("ce-type", "com.example.grade.published");
  b.body = R"({"to": ["u-1", {"userId": "u-2"}]})";
  auto r = b.parse(directory_mapping());
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_THAT(r->user_pointers, ::testing::ElementsAre("/to/0", "/to/1/userId"));
  b.body = R"({"to": ["u-1", 2]})";
  expect_invalid(b.parse(directory_mapping()), "/to/1");

  json::array batch;
  batch.push_back(structured());  // a notification names its own recipients
  json::object second = users_event(json::array{"u-1", "u-2"});
  second["id"] = "evt-2";
  batch.push_back(second);
  json::object third = users_event(json::array{"u-1", false});
  third["id"] = "evt-3";
  batch.push_back(third);
  auto all = parse_cloudevent_batch(json::serialize(batch), directory_mapping(), kReceived);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 3u);
  ASSERT_TRUE((*all)[0].has_value()) << (*all)[0].error().detail;
  EXPECT_TRUE((*all)[0]->users.empty());
  EXPECT_EQ((*all)[0]->event.notification.establishment, "0250001R");
  ASSERT_TRUE((*all)[1].has_value()) << (*all)[1].error().detail;
  EXPECT_THAT((*all)[1]->user_pointers, ::testing::ElementsAre("/1/data/to/0", "/1/data/to/1"));
  expect_invalid((*all)[2], "/2/data/to/1");
}

TEST(CloudEventsFromADirectory, TheFingerprintTellsOtherUsersApart) {
  const CloudEventMapping m = directory_mapping();
  auto a = parse(users_event(json::array{"u-1"}), m);
  auto same = parse(users_event(json::array{"u-1"}), m);
  auto other = parse(users_event(json::array{"u-2"}), m);
  ASSERT_TRUE(a && same && other);
  EXPECT_EQ(a->fingerprint, same->fingerprint);
  EXPECT_NE(a->fingerprint, other->fingerprint);
}

// ---- property: canonical -> CloudEvent -> canonical -------------------------------------

std::string random_id(std::mt19937& rng, const char* prefix) {
  return prefix + std::to_string(rng() % 100000);
}

json::object random_canonical(std::mt19937& rng) {
  static const char* categories[] = {"message",  "grade",   "homework", "blog", "news",
                                     "schedule", "absence", "alert",    "other"};
  static const char* uais[] = {"0250001R", "0750654D", "9710001Z", "0672345K"};
  json::object o;
  o["id"] = random_id(rng, "evt-");
  o["establishment"] = uais[rng() % 4];
  o["category"] = categories[rng() % 9];
  json::array recipients;
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) {
    json::object r;
    r["id"] = "u-" + std::to_string(i) + "-" + std::to_string(rng() % 1000);
    static const char* roles[] = {"student", "parent", "staff"};
    r["role"] = roles[rng() % 3];
    if (r["role"] == "parent" && rng() % 2)
      r["of"] = "u-0";
    recipients.push_back(std::move(r));
  }
  o["recipients"] = std::move(recipients);
  const auto t =
      std::chrono::sys_seconds{std::chrono::seconds{1'700'000'000 + rng() % 100'000'000}};
  o["created_at"] = date::format("%FT%TZ", t);
  if (rng() % 2)
    o["urgent"] = rng() % 2 == 0;
  if (rng() % 2)
    o["title"] = "Titre " + std::to_string(rng() % 1000) + " é";
  if (rng() % 2)
    o["payload"] = json::object{{"k", rng() % 1000}, {"list", json::array{1, "two", nullptr}}};
  return o;
}

void expect_same(const CanonicalEvent& a, const CanonicalEvent& b) {
  EXPECT_EQ(a.notification.establishment, b.notification.establishment);
  EXPECT_EQ(a.notification.category, b.notification.category);
  EXPECT_EQ(a.notification.urgent, b.notification.urgent);
  ASSERT_EQ(a.notification.recipients.size(), b.notification.recipients.size());
  for (std::size_t i = 0; i < a.notification.recipients.size(); ++i) {
    EXPECT_EQ(a.notification.recipients[i].id, b.notification.recipients[i].id);
    EXPECT_EQ(a.notification.recipients[i].role, b.notification.recipients[i].role);
    EXPECT_EQ(a.notification.recipients[i].of, b.notification.recipients[i].of);
  }
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.payload_json, b.payload_json);
}

TEST(CloudEventsProperty, ACanonicalEventSentAsACloudEventComesBackTheSame) {
  std::mt19937 rng(20261127);
  CloudEventMapping m;
  m.ce_source = "https://ent.example";
  for (int i = 0; i < 500; ++i) {
    const json::object original = random_canonical(rng);
    const std::string text = json::serialize(original);
    SCOPED_TRACE(text);
    auto expected = parse_canonical_event(text);
    ASSERT_TRUE(expected.has_value()) << expected.error().detail;

    // The CloudEvent: the id and created_at as attributes, the rest as data (sometimes
    // repeating them, which is allowed when equal).
    json::object data = original;
    const std::string id(original.at("id").as_string());
    const std::string time(original.at("created_at").as_string());
    const bool repeat = rng() % 2;
    if (!repeat) {
      data.erase("id");
      data.erase("created_at");
    }
    json::object ce{{"specversion", "1.0"},      {"id", id},     {"source", m.ce_source},
                    {"type", kNotificationType}, {"time", time}, {"data", data}};
    auto s = parse_structured_cloudevent(json::serialize(ce), m, kReceived);
    ASSERT_TRUE(s.has_value()) << s.error().detail << " at " << s.error().pointer;
    EXPECT_EQ(s->event.notification.id, id);
    expect_same(s->event, *expected);

    const std::vector<std::pair<std::string, std::string>> headers = {
        {"content-type", "application/json"},
        {"ce-specversion", "1.0"},
        {"ce-id", id},
        {"ce-source", m.ce_source},
        {"ce-type", std::string(kNotificationType)},
        {"ce-time", time}};
    std::vector<HeaderField> fields;
    for (const auto& [n, v] : headers)
      fields.push_back({n, v});
    auto b = parse_binary_cloudevent(fields, json::serialize(data), m, kReceived);
    ASSERT_TRUE(b.has_value()) << b.error().detail;
    EXPECT_EQ(b->event.notification.id, id);
    expect_same(b->event, *expected);
    EXPECT_EQ(b->fingerprint, s->fingerprint);
  }
}

}  // namespace
}  // namespace treve::adapters
