// The canonical event format (DESIGN.md, "Ingest API"): the example parses; every error is a
// 400 problem naming the offending field with a JSON pointer.
#include "adapters/inbound/canonical_event.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "policy/rfc3339.h"

namespace treve::adapters {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace json = boost::json;

// The event of DESIGN.md, verbatim.
const char* kDesignExample = R"({
  "id": "msg-8812",
  "establishment": "0250001R",
  "category": "grade",
  "recipients": [
    {"id": "u-7f3a", "role": "student"},
    {"id": "u-99c1", "role": "parent", "of": "u-7f3a"}
  ],
  "created_at": "2026-11-27T21:14:03+01:00",
  "urgent": false,
  "title": "Nouvelle note en mathématiques",
  "payload": {"any": "json, forwarded to the sink as is"}
})";

json::object example() {
  return json::parse(kDesignExample).as_object();
}

// Parses `o` (or the text) and expects a 400 invalid-field problem at `pointer`.
Problem expect_invalid(const std::string& body, const std::string& pointer,
                       const ParseMode& mode = {}) {
  auto parsed = parse_canonical_event(body, mode);
  EXPECT_FALSE(parsed.has_value()) << body;
  if (parsed)
    return {};
  const Problem& p = parsed.error();
  EXPECT_EQ(p.status, 400) << body;
  EXPECT_EQ(p.type, "urn:treve:problem:invalid-field") << body;
  EXPECT_EQ(p.pointer, pointer) << p.detail << "\n" << body;
  EXPECT_FALSE(p.detail.empty());
  return p;
}

Problem expect_invalid(const json::object& o, const std::string& pointer,
                       const ParseMode& mode = {}) {
  return expect_invalid(json::serialize(o), pointer, mode);
}

TEST(CanonicalEvent, TheDesignExampleParses) {
  auto parsed = parse_canonical_event(kDesignExample);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_json();
  const auto& n = parsed->notification;
  EXPECT_EQ(n.id, "msg-8812");
  EXPECT_EQ(n.establishment, "0250001R");
  EXPECT_EQ(n.category, policy::Category::grade);
  EXPECT_FALSE(n.urgent);
  ASSERT_EQ(n.recipients.size(), 2u);
  EXPECT_EQ(n.recipients[0].id, "u-7f3a");
  EXPECT_EQ(n.recipients[0].role, policy::Role::student);
  EXPECT_FALSE(n.recipients[0].of.has_value());
  EXPECT_EQ(n.recipients[1].id, "u-99c1");
  EXPECT_EQ(n.recipients[1].role, policy::Role::parent);
  EXPECT_EQ(n.recipients[1].of, std::optional<std::string>("u-7f3a"));
  EXPECT_EQ(parsed->created_at, *policy::parse_rfc3339("2026-11-27T20:14:03Z"));
  EXPECT_EQ(parsed->title, "Nouvelle note en mathématiques");
  EXPECT_EQ(json::parse(parsed->payload_json),
            json::parse(R"({"any": "json, forwarded to the sink as is"})"));
  EXPECT_FALSE(parsed->received_at.has_value());
  EXPECT_TRUE(n.source.empty());
}

TEST(CanonicalEvent, OptionalFieldsMayBeLeftOut) {
  auto o = example();
  o.erase("urgent");
  o.erase("title");
  o.erase("payload");
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_json();
  EXPECT_FALSE(parsed->notification.urgent);
  EXPECT_EQ(parsed->payload_json, "null");
}

TEST(CanonicalEvent, ThePayloadIsKeptAsTheConnectorWroteIt) {
  const std::string payload =
      R"({"x":1e999, "big":123456789012345678901234567890,"f":0.1,"k":1,"k":2})";
  std::string with = R"({"id":"p1","establishment":"0250001R","category":"message",)"
                     R"("recipients":[{"id":"u","role":"student"}],)"
                     R"("created_at":"2026-11-27T21:14:03+01:00","payload": )" +
                     payload + "}";
  auto parsed = parse_canonical_event(with);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_json();
  EXPECT_EQ(parsed->payload_json, payload);
  CanonicalEventReader reader{ParseMode{}};
  auto read = reader.parse(with);
  ASSERT_TRUE(read.has_value()) << read.error().to_json();
  EXPECT_EQ(read->payload_json, payload);
}

TEST(CanonicalEvent, AFieldGivenTwiceIsAnErrorAtThatField) {
  const std::string twice = R"({"id":"p1","establishment":"0250001R","category":"message",)"
                            R"("recipients":[{"id":"u","role":"student"}],)"
                            R"("created_at":"2026-11-27T21:14:03+01:00",)"
                            R"("payload":{"a":1},"pay\u006coad":{"a":2}})";
  auto parsed = parse_canonical_event(twice);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().status, 400);
  EXPECT_EQ(parsed.error().pointer, "/payload");
  EXPECT_THAT(parsed.error().detail, HasSubstr("twice"));
}

TEST(CanonicalEvent, UrgentTrueIsRead) {
  auto o = example();
  o["urgent"] = true;
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->notification.urgent);
}

TEST(CanonicalEvent, UnknownRoleIsAnErrorAtItsRecipient) {
  auto o = example();
  o["recipients"].as_array()[1].as_object()["role"] = "teacher";
  auto p = expect_invalid(o, "/recipients/1/role");
  EXPECT_THAT(p.detail, HasSubstr("teacher"));
}

TEST(CanonicalEvent, BadUaiIsAnErrorAtEstablishment) {
  auto o = example();
  o["establishment"] = "0250001A";
  auto p = expect_invalid(o, "/establishment");
  EXPECT_THAT(p.detail, HasSubstr("expected R"));
}

TEST(CanonicalEvent, IdOf128CharactersIsAcceptedAnd129IsAnError) {
  auto o = example();
  o["id"] = std::string(128, 'x');
  EXPECT_TRUE(parse_canonical_event(json::serialize(o)).has_value());
  o["id"] = std::string(129, 'x');
  auto p = expect_invalid(o, "/id");
  EXPECT_THAT(p.detail, HasSubstr("129"));
}

TEST(CanonicalEvent, IdLengthCountsCharactersNotBytes) {
  auto o = example();
  std::string id;
  for (int i = 0; i < 128; ++i)
    id += "é";  // 256 bytes, 128 characters
  o["id"] = id;
  EXPECT_TRUE(parse_canonical_event(json::serialize(o)).has_value());
}

TEST(CanonicalEvent, EmptyIdIsAnError) {
  auto o = example();
  o["id"] = "";
  expect_invalid(o, "/id");
}

// Identifiers reach the log and the audit trail: a control character in one could forge or
// hide a line there, so it is refused at the field that holds it.
TEST(CanonicalEvent, AControlCharacterInTheIdIsAnErrorAtId) {
  for (std::string bad : {std::string("msg\0-1", 6), std::string("msg\n1"), std::string("msg\r1"),
                          std::string("\tmsg"), std::string("msg\x1b[31m"), std::string("msg\x7f"),
                          std::string("msg\u0085"), std::string("msg\u2028"),
                          std::string("msg\u202e1"), std::string("msg\u2066")}) {
    auto o = example();
    o["id"] = bad;
    auto p = expect_invalid(o, "/id");
    EXPECT_THAT(p.detail, HasSubstr("control character")) << json::serialize(o);
  }
}

TEST(CanonicalEvent, AControlCharacterInARecipientIdOrOfIsAnErrorAtItsPointer) {
  {
    auto o = example();
    o["recipients"].as_array()[0].as_object()["id"] = std::string("u-7f3a\0", 7);
    expect_invalid(o, "/recipients/0/id");
  }
  {
    auto o = example();
    o["recipients"].as_array()[1].as_object()["id"] = "u-99c1\nreleased";
    expect_invalid(o, "/recipients/1/id");
  }
  {
    auto o = example();
    o["recipients"].as_array()[1].as_object()["of"] = "u-7f3a\r";
    expect_invalid(o, "/recipients/1/of");
  }
}

TEST(CanonicalEvent, AControlCharacterInTheEstablishmentIsAnErrorAtEstablishment) {
  for (std::string bad : {std::string("0250001R\0", 9), std::string("0250001R\n"),
                          std::string("\x1b"
                                      "0250001R")}) {
    auto o = example();
    o["establishment"] = bad;
    expect_invalid(o, "/establishment");
  }
}

TEST(CanonicalEvent, AControlCharacterInASimulatedSourceIsAnErrorAtSource) {
  ParseMode sim;
  sim.simulation = true;
  auto o = example();
  o["received_at"] = "2026-11-27T21:15:00+01:00";
  o["source"] = "ent\nsource=other";
  expect_invalid(o, "/source", sim);
}

TEST(CanonicalEvent, PrintableUnicodeInIdentifiersIsAccepted) {
  auto o = example();
  o["id"] = "élève-Ωμέγα-日本-😀 with spaces";
  o["recipients"].as_array()[0].as_object()["id"] = "u-é\u00a0x";  // a no-break space is printable
  o["recipients"].as_array()[1].as_object()["of"] = "u-é\u00a0x";
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_json();
}

TEST(CanonicalEvent, EmptyRecipientsIsAnError) {
  auto o = example();
  o["recipients"] = json::array{};
  expect_invalid(o, "/recipients");
}

TEST(CanonicalEvent, UnknownFieldIsAnErrorAtItsPointer) {
  auto o = example();
  o["urgnet"] = true;
  auto p = expect_invalid(o, "/urgnet");
  EXPECT_THAT(p.detail, HasSubstr("urgnet"));
}

TEST(CanonicalEvent, UnknownFieldInARecipientIsAnErrorAtItsPointer) {
  auto o = example();
  o["recipients"].as_array()[0].as_object()["name"] = "Alice";
  expect_invalid(o, "/recipients/0/name");
}

TEST(CanonicalEvent, PointerTokensAreEscaped) {
  auto o = example();
  o["a/b~c"] = 1;
  expect_invalid(o, "/a~1b~0c");
}

TEST(CanonicalEvent, MissingRequiredFieldsAreErrorsAtTheirPointer) {
  for (const char* key : {"id", "establishment", "category", "recipients", "created_at"}) {
    auto o = example();
    o.erase(key);
    expect_invalid(o, std::string("/") + key);
  }
}

TEST(CanonicalEvent, WrongTypesAreErrorsAtTheirPointer) {
  struct Case {
    const char* key;
    json::value value;
  };
  for (const auto& [key, value] :
       {Case{"id", 12}, Case{"establishment", nullptr}, Case{"category", json::array{}},
        Case{"recipients", "u-7f3a"}, Case{"created_at", 1764274443}, Case{"urgent", "false"},
        Case{"title", 3}}) {
    auto o = example();
    o[key] = value;
    expect_invalid(o, std::string("/") + key);
  }
}

TEST(CanonicalEvent, UnknownCategoryIsAnError) {
  auto o = example();
  o["category"] = "grades";
  expect_invalid(o, "/category");
}

TEST(CanonicalEvent, BadCreatedAtIsAnError) {
  auto o = example();
  o["created_at"] = "2026-11-27 21:14";
  expect_invalid(o, "/created_at");
}

TEST(CanonicalEvent, RecipientErrorsPointIntoTheRecipient) {
  {
    auto o = example();
    o["recipients"].as_array()[1] = "u-99c1";
    expect_invalid(o, "/recipients/1");
  }
  {
    auto o = example();
    o["recipients"].as_array()[1].as_object().erase("id");
    expect_invalid(o, "/recipients/1/id");
  }
  {
    auto o = example();
    o["recipients"].as_array()[1].as_object()["id"] = "u-7f3a";  // listed twice
    expect_invalid(o, "/recipients/1/id");
  }
  {
    auto o = example();
    o["recipients"].as_array()[0].as_object()["of"] = "u-99c1";  // a student with `of`
    expect_invalid(o, "/recipients/0/of");
  }
}

TEST(CanonicalEvent, MalformedJsonIsAMalformedJsonProblem) {
  for (const char* body : {"{", "", "{\"id\": }", "{} {}", "nul"}) {
    auto parsed = parse_canonical_event(body);
    ASSERT_FALSE(parsed.has_value()) << body;
    EXPECT_EQ(parsed.error().status, 400) << body;
    EXPECT_EQ(parsed.error().type, "urn:treve:problem:malformed-json") << body;
    EXPECT_THAT(parsed.error().pointer, IsEmpty());
  }
}

TEST(CanonicalEvent, ANonObjectBodyIsAnInvalidFieldAtTheRoot) {
  for (const char* body : {"[]", "null", "42", "\"event\""}) {
    auto p = expect_invalid(body, "");
    EXPECT_THAT(p.detail, HasSubstr("object")) << body;
  }
}

TEST(CanonicalEvent, ProblemToJsonIsValidJsonWithEveryMember) {
  auto o = example();
  o["recipients"].as_array()[1].as_object()["role"] = "teacher";
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_FALSE(parsed.has_value());
  boost::system::error_code ec;
  json::value v = json::parse(parsed.error().to_json(), ec);
  ASSERT_FALSE(ec) << parsed.error().to_json();
  ASSERT_TRUE(v.is_object());
  const auto& doc = v.as_object();
  EXPECT_EQ(doc.at("type"), "urn:treve:problem:invalid-field");
  EXPECT_TRUE(doc.at("title").is_string());
  EXPECT_FALSE(doc.at("title").as_string().empty());
  EXPECT_EQ(doc.at("status"), 400);
  EXPECT_EQ(doc.at("detail"), json::value(parsed.error().detail));
  EXPECT_EQ(doc.at("pointer"), "/recipients/1/role");
}

TEST(CanonicalEvent, ProblemToJsonEscapesItsStrings) {
  Problem p = invalid_field("/a\"b", "line\nbreak \"quoted\" \\ é");
  boost::system::error_code ec;
  json::value v = json::parse(p.to_json(), ec);
  ASSERT_FALSE(ec) << p.to_json();
  EXPECT_EQ(v.at("detail"), "line\nbreak \"quoted\" \\ é");
  EXPECT_EQ(v.at("pointer"), "/a\"b");
}

TEST(CanonicalEvent, MalformedJsonProblemToJsonIsValidJson) {
  auto parsed = parse_canonical_event("{");
  ASSERT_FALSE(parsed.has_value());
  boost::system::error_code ec;
  json::value v = json::parse(parsed.error().to_json(), ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(v.at("type"), "urn:treve:problem:malformed-json");
  EXPECT_EQ(v.at("status"), 400);
  EXPECT_TRUE(v.at("title").is_string());
  EXPECT_TRUE(v.at("detail").is_string());
}

TEST(CanonicalEvent, SimulationModeRequiresReceivedAt) {
  ParseMode sim;
  sim.simulation = true;
  auto p = expect_invalid(std::string(kDesignExample), "/received_at", sim);
  EXPECT_THAT(p.detail, HasSubstr("received_at"));
}

TEST(CanonicalEvent, SimulationModeReadsReceivedAtAndSource) {
  ParseMode sim;
  sim.simulation = true;
  auto o = example();
  o["received_at"] = "2026-11-27T21:15:00+01:00";
  auto parsed = parse_canonical_event(json::serialize(o), sim);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_json();
  ASSERT_TRUE(parsed->received_at.has_value());
  EXPECT_EQ(*parsed->received_at, *policy::parse_rfc3339("2026-11-27T20:15:00Z"));
  EXPECT_EQ(parsed->notification.source, "simulate");
  o["source"] = "ent";
  parsed = parse_canonical_event(json::serialize(o), sim);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->notification.source, "ent");
  o["received_at"] = "yesterday";
  expect_invalid(o, "/received_at", sim);
}

TEST(CanonicalEvent, ReceivedAtAndSourceAreUnknownFieldsOutsideSimulation) {
  auto o = example();
  o["received_at"] = "2026-11-27T21:15:00+01:00";
  expect_invalid(o, "/received_at");
  o = example();
  o["source"] = "ent";
  expect_invalid(o, "/source");
}

TEST(CanonicalEvent, TooManyRecipientsIsAnError) {
  ParseMode mode;
  mode.limits.max_recipients = 3;
  auto o = example();
  auto& r = o["recipients"].as_array();
  r.push_back(json::object{{"id", "u-3"}, {"role", "staff"}});
  EXPECT_TRUE(parse_canonical_event(json::serialize(o), mode).has_value());
  r.push_back(json::object{{"id", "u-4"}, {"role", "staff"}});
  expect_invalid(o, "/recipients", mode);
}

// ---------------------------------------------------------------------------------------------
// recipients[i].establishments: the recipient's other establishments.

TEST(CanonicalEventEstablishments, AreReadValidatedAndFolded) {
  auto o = example();
  // The event's own establishment and a repeat are folded away, in order otherwise.
  o["recipients"].as_array()[1].as_object()["establishments"] =
      json::array{"0750654D", "0250001R", "0570001S", "0750654D"};
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().detail;
  const auto& r = parsed->notification.recipients;
  EXPECT_THAT(r[0].establishments, IsEmpty());
  EXPECT_EQ(r[1].establishments, (std::vector<std::string>{"0750654D", "0570001S"}));
}

TEST(CanonicalEventEstablishments, AnEmptyListIsTheEventsEstablishmentOnly) {
  auto o = example();
  o["recipients"].as_array()[0].as_object()["establishments"] = json::array{};
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_THAT(parsed->notification.recipients[0].establishments, IsEmpty());
}

TEST(CanonicalEventEstablishments, ABadUaiIsAnErrorAtItsPointer) {
  auto o = example();
  o["recipients"].as_array()[1].as_object()["establishments"] = json::array{"0750654D", "0250001A"};
  auto p = expect_invalid(o, "/recipients/1/establishments/1");
  EXPECT_THAT(p.detail, HasSubstr("expected R"));
  o["recipients"].as_array()[1].as_object()["establishments"] = json::array{"0750654D", 7};
  expect_invalid(o, "/recipients/1/establishments/1");
  o["recipients"].as_array()[0].as_object()["establishments"] = "0750654D";
  expect_invalid(o, "/recipients/0/establishments");
}

TEST(CanonicalEventEstablishments, AtMostEightAreAllowed) {
  auto o = example();
  json::array eight;
  for (const char* u : {"0750654D", "0570001S", "0670001M", "9710001Z", "9720001U", "9730001N",
                        "9740001H", "9750001C"})
    eight.push_back(json::string(u));
  o["recipients"].as_array()[0].as_object()["establishments"] = eight;
  auto parsed = parse_canonical_event(json::serialize(o));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().detail;
  EXPECT_EQ(parsed->notification.recipients[0].establishments.size(), 8u);
  json::array nine = eight;
  nine.push_back(json::string("9760001X"));
  o["recipients"].as_array()[0].as_object()["establishments"] = nine;
  auto p = expect_invalid(o, "/recipients/0/establishments");
  EXPECT_THAT(p.detail, HasSubstr("at most 8"));
}

}  // namespace
}  // namespace treve::adapters
