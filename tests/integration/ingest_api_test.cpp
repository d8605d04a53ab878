// The ingest API of the real daemon (`treve serve`) on loopback: every error class as an RFC 9457
// problem with its status, type and JSON pointer; authentication; idempotency and id conflicts
// (checked in the database, not only in the answers); GET and DELETE of one event; the NDJSON
// batch endpoint; and the audit trail, whose hash chain is recomputed here independently and
// searched for anything personal.
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Checks an application/problem+json answer: status, type, and the pointer (nullopt: the
// problem must not name one).
void expect_problem(const HttpResponse& r, int status, const std::string& type,
                    const std::optional<std::string>& pointer) {
  EXPECT_EQ(r.status, status) << r;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json") << r;
  json::object o;
  try {
    o = r.object();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << r;
    return;
  }
  EXPECT_EQ(json::value_to<std::string>(o.at("type")), type) << r;
  EXPECT_EQ(o.at("status").to_number<int>(), status) << r;
  EXPECT_TRUE(o.contains("title")) << r;
  if (pointer) {
    ASSERT_TRUE(o.contains("pointer")) << r;
    EXPECT_EQ(json::value_to<std::string>(o.at("pointer")), *pointer) << r;
  } else {
    EXPECT_FALSE(o.contains("pointer")) << r;
  }
}

// By value: safe in a range-for over a temporary.
json::array deliveries_of(const HttpResponse& r) {
  return r.object().at("deliveries").as_array();
}

std::string str(const json::value& v) {
  return json::value_to<std::string>(v);
}

class IngestApi : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.start();
    client_.emplace(daemon_.port());
  }
  void TearDown() override {
    client_.reset();
    EXPECT_EQ(daemon_.stop(), 0) << daemon_.stderr_log();
  }

  HttpClient& client() { return *client_; }

  // Posts `body` (a JSON object text with one field changed) and checks the 400 problem.
  void expect_invalid(const std::string& body, const std::string& pointer,
                      const std::string& type = "urn:treve:problem:invalid-field") {
    SCOPED_TRACE(body.substr(0, 300));
    auto r = client().post_event(body);
    expect_problem(r, 400, type, pointer);
  }

  // A valid event as an object, to be spoiled by a test.
  json::object valid(const std::string& id) {
    EventSpec spec;
    spec.id = id;
    return event_object(spec);
  }

  std::int64_t count(const std::string& sql, const std::vector<std::string>& params = {}) {
    Db db(daemon_.db_path());
    return db.scalar(sql, params);
  }

  Daemon daemon_;
  std::optional<HttpClient> client_;
};

// ---- health and routing ----------------------------------------------------------------------

TEST_F(IngestApi, HealthzAnswers200) {
  auto r = client().healthz();
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.object().at("status"), "ok");
}

TEST_F(IngestApi, UnknownPathIs404Problem) {
  auto r = client().request(bhttp::verb::get, "/v2/events", "",
                            {{"Authorization", "Bearer " + kEntToken}});
  expect_problem(r, 404, "urn:treve:problem:not-found", std::nullopt);
  r = client().request(bhttp::verb::get, "/", "");
  expect_problem(r, 404, "urn:treve:problem:not-found", std::nullopt);
}

TEST_F(IngestApi, WrongMethodIs405WithAllow) {
  auto r = client().request(bhttp::verb::get, "/v1/events", "",
                            {{"Authorization", "Bearer " + kEntToken}});
  expect_problem(r, 405, "urn:treve:problem:method-not-allowed", std::nullopt);
  EXPECT_EQ(r.header("Allow").value_or(""), "POST");

  r = client().request(
      bhttp::verb::put, "/v1/events/x", "{}",
      {{"Authorization", "Bearer " + kEntToken}, {"Content-Type", "application/json"}});
  expect_problem(r, 405, "urn:treve:problem:method-not-allowed", std::nullopt);
  EXPECT_EQ(r.header("Allow").value_or(""), "GET, DELETE");

  r = client().request(bhttp::verb::delete_, "/v1/events:batch", "",
                       {{"Authorization", "Bearer " + kEntToken}});
  expect_problem(r, 405, "urn:treve:problem:method-not-allowed", std::nullopt);

  r = client().request(bhttp::verb::post, "/healthz", "x");
  expect_problem(r, 405, "urn:treve:problem:method-not-allowed", std::nullopt);
  EXPECT_EQ(r.header("Allow").value_or(""), "GET, HEAD");
}

// ---- authentication --------------------------------------------------------------------------

TEST_F(IngestApi, MissingTokenIs401WithWwwAuthenticate) {
  auto r = client().post_event(simple_event("no-token"), /*token=*/"");
  expect_problem(r, 401, "urn:treve:problem:unauthorized", std::nullopt);
  EXPECT_THAT(r.header("WWW-Authenticate").value_or(""), StartsWith("Bearer"));
  EXPECT_EQ(count("SELECT count(*) FROM events"), 0);
}

TEST_F(IngestApi, UnknownTokenIs401) {
  auto r = client().post_event(simple_event("bad-token"), kUnknownToken);
  expect_problem(r, 401, "urn:treve:problem:unauthorized", std::nullopt);
  EXPECT_THAT(r.header("WWW-Authenticate").value_or(""), StartsWith("Bearer"));

  // Another scheme, or the hash itself instead of the token, is no better.
  r = client().request(
      bhttp::verb::post, "/v1/events", simple_event("basic"),
      {{"Content-Type", "application/json"}, {"Authorization", "Basic dG9rLWVudDp4"}});
  expect_problem(r, 401, "urn:treve:problem:unauthorized", std::nullopt);
  r = client().post_event(simple_event("hash"), sha256_hex(kEntToken));
  expect_problem(r, 401, "urn:treve:problem:unauthorized", std::nullopt);

  // GET and DELETE are authenticated too.
  r = client().request(bhttp::verb::get, "/v1/events/x");
  expect_problem(r, 401, "urn:treve:problem:unauthorized", std::nullopt);
  r = client().request(bhttp::verb::delete_, "/v1/events/x", "",
                       {{"Authorization", "Bearer " + kUnknownToken}});
  expect_problem(r, 401, "urn:treve:problem:unauthorized", std::nullopt);
  EXPECT_EQ(count("SELECT count(*) FROM events"), 0);
}

// ---- bodies: every error class ---------------------------------------------------------------

TEST_F(IngestApi, MalformedJsonIs400WithoutPointer) {
  auto r = client().post_event(R"({"id": "m1", "establishment": )");
  expect_problem(r, 400, "urn:treve:problem:malformed-json", std::nullopt);
  r = client().post_event("");
  expect_problem(r, 400, "urn:treve:problem:malformed-json", std::nullopt);
  r = client().post_event(R"({"id": "m1"} trailing)");
  expect_problem(r, 400, "urn:treve:problem:malformed-json", std::nullopt);
  // Valid JSON that is not an object: an invalid document, pointer "" (the whole body).
  r = client().post_event("[1, 2]");
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "");
}

TEST_F(IngestApi, WrongTypeNamesTheField) {
  auto e = valid("t1");
  e["urgent"] = "yes";
  expect_invalid(json::serialize(e), "/urgent");
  e = valid("t2");
  e["id"] = 42;
  expect_invalid(json::serialize(e), "/id");
  e = valid("t3");
  e["recipients"] = "everyone";
  expect_invalid(json::serialize(e), "/recipients");
  e = valid("t4");
  e["recipients"].as_array()[0] = "u-1";
  expect_invalid(json::serialize(e), "/recipients/0");
  e = valid("t5");
  e["created_at"] = "yesterday";
  expect_invalid(json::serialize(e), "/created_at");
  e = valid("t6");
  e.erase("category");
  expect_invalid(json::serialize(e), "/category");
}

TEST_F(IngestApi, RecipientRulesNameTheOffendingEntry) {
  auto e = valid("rr1");
  e["recipients"] = json::array{json::object{{"id", "u-1"}, {"role", "student"}},
                                json::object{{"id", "u-1"}, {"role", "parent"}}};
  expect_invalid(json::serialize(e), "/recipients/1/id");  // listed twice
  e["recipients"] = json::array{json::object{{"id", "u-1"}, {"role", "student"}, {"of", "u-2"}}};
  expect_invalid(json::serialize(e), "/recipients/0/of");  // only parents have `of`
  e["recipients"] = json::array{json::object{{"role", "student"}}};
  expect_invalid(json::serialize(e), "/recipients/0/id");  // missing
  e["recipients"] = json::array{json::object{{"id", std::string(129, 'r')}, {"role", "student"}}};
  expect_invalid(json::serialize(e), "/recipients/0/id");  // too long
  e = valid("rr2");
  e["title"] = std::string(1025, 't');
  expect_invalid(json::serialize(e), "/title");
  EXPECT_EQ(count("SELECT count(*) FROM events"), 0);
}

TEST_F(IngestApi, UnknownCategoryPointsAtCategory) {
  auto e = valid("c1");
  e["category"] = "gossip";
  auto r = client().post_event(json::serialize(e));
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "/category");
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("gossip"));
}

TEST_F(IngestApi, UnknownRolePointsAtTheRecipientsRole) {
  auto e = valid("r1");
  e["recipients"] = json::array{json::object{{"id", "u-1"}, {"role", "student"}},
                                json::object{{"id", "u-2"}, {"role", "teacher"}}};
  expect_invalid(json::serialize(e), "/recipients/1/role");
  e["recipients"] = json::array{json::object{{"id", "u-1"}, {"role", "principal"}}};
  expect_invalid(json::serialize(e), "/recipients/0/role");
}

TEST_F(IngestApi, BadUaiNamesTheExpectedControlLetter) {
  auto e = valid("u1");
  e["establishment"] = "0750654A";  // 0750654 mod 23 -> D
  auto r = client().post_event(json::serialize(e));
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "/establishment");
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("expected D"));

  e["establishment"] = "0750654d";  // lower-case control letter
  r = client().post_event(json::serialize(e));
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "/establishment");
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("expected D"));

  e["establishment"] = "075065D";  // wrong shape
  expect_invalid(json::serialize(e), "/establishment");
}

TEST_F(IngestApi, EmptyRecipientsPointsAtRecipients) {
  auto e = valid("e1");
  e["recipients"] = json::array{};
  expect_invalid(json::serialize(e), "/recipients");
}

TEST_F(IngestApi, OversizedRecipientListPointsAtRecipientsAndTheLimitIsAccepted) {
  auto make = [](const std::string& id, int n) {
    EventSpec spec;
    spec.id = id;
    for (int i = 0; i < n; ++i)
      spec.recipients.push_back({"u" + std::to_string(i), "student", ""});
    return event_body(spec);
  };
  auto r = client().post_event(make("big-1001", 1001));
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "/recipients");
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("1000"));

  r = client().post_event(make("big-1000", 1000));
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(r.object().at("deliveries").as_array().size(), 1000u);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries"), 1000);
}

TEST_F(IngestApi, IdOf129CharactersPointsAtIdAnd128IsAccepted) {
  auto e = valid(std::string(129, 'x'));
  auto r = client().post_event(json::serialize(e));
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "/id");
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("128"));

  // Characters, not bytes: 128 two-byte characters are fine.
  std::string id128;
  for (int i = 0; i < 128; ++i)
    id128 += "é";
  auto e128 = valid(id128);
  e128["recipients"] = json::array{json::object{{"id", id128}, {"role", "student"}}};
  r = client().post_event(json::serialize(e128));
  EXPECT_EQ(r.status, 202) << r;

  e = valid("");
  expect_invalid(json::serialize(e), "/id");
}

// Ids reach the daemon's log and the audit trail: one with a NUL, a line break or an escape
// sequence is refused at its pointer, and nothing of it is stored or logged.
TEST_F(IngestApi, IdentifiersWithControlCharactersAreRefusedAtTheirPointer) {
  auto e = valid(std::string("ctl\0nul", 7));
  expect_invalid(json::serialize(e), "/id");
  e = valid("ctl\nevent=serve.stopped");
  expect_invalid(json::serialize(e), "/id");
  e = valid("ctl-recipient");
  e["recipients"] = json::array{json::object{{"id", "u\r\x1b[2Kx"}, {"role", "student"}}};
  expect_invalid(json::serialize(e), "/recipients/0/id");
  e = valid("ctl-of");
  e["recipients"] = json::array{json::object{{"id", "u-1"}, {"role", "student"}},
                                json::object{{"id", "p-1"}, {"role", "parent"}, {"of", "u-1\n"}}};
  expect_invalid(json::serialize(e), "/recipients/1/of");
  e = valid("ctl-establishment");
  e["establishment"] = kUai + "\n";
  expect_invalid(json::serialize(e), "/establishment");
  EXPECT_EQ(count("SELECT count(*) FROM events"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind <> 'config_changed'"), 0);
  EXPECT_EQ(daemon_.log_count("event=serve.stopped"), 0u);
  EXPECT_EQ(client().healthz().status, 200);
}

TEST_F(IngestApi, UnknownFieldIsRefusedByName) {
  auto e = valid("f1");
  e["urgnet"] = true;
  auto r = client().post_event(json::serialize(e));
  expect_problem(r, 400, "urn:treve:problem:invalid-field", "/urgnet");
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("urgnet"));

  e = valid("f2");
  e["recipients"].as_array()[0].as_object()["rol"] = "student";
  expect_invalid(json::serialize(e), "/recipients/0/rol");
  EXPECT_EQ(count("SELECT count(*) FROM events"), 0);
}

TEST_F(IngestApi, WrongContentTypeIs415) {
  auto r = client().post_event(simple_event("ct1"), kEntToken, "text/plain");
  expect_problem(r, 415, "urn:treve:problem:unsupported-media-type", std::nullopt);
  r = client().request(bhttp::verb::post, "/v1/events", simple_event("ct2"),
                       {{"Authorization", "Bearer " + kEntToken}});  // no Content-Type
  expect_problem(r, 415, "urn:treve:problem:unsupported-media-type", std::nullopt);
  r = client().post_batch(simple_event("ct3"), kEntToken, "application/json");
  expect_problem(r, 415, "urn:treve:problem:unsupported-media-type", std::nullopt);
  EXPECT_EQ(count("SELECT count(*) FROM events"), 0);

  // Parameters and case do not matter.
  r = client().post_event(simple_event("ct4"), kEntToken, "Application/JSON; charset=utf-8");
  EXPECT_EQ(r.status, 202) << r;
}

TEST(IngestApiLimits, BodyOverTheLimitIs413AndTheDaemonCarriesOn) {
  DaemonOptions options;
  options.max_body_bytes = 2048;
  Daemon daemon(options);
  daemon.start();
  HttpClient client(daemon.port());

  EventSpec spec;
  spec.id = "too-big";
  spec.title = std::string(4096, 'a');  // a 4 KiB+ body
  auto r = client.post_event(event_body(spec));
  expect_problem(r, 413, "urn:treve:problem:body-too-large", std::nullopt);
  EXPECT_THAT(str(r.object().at("detail")), HasSubstr("2048"));

  // The next request (on a new connection: the server closes after a 413) is served.
  r = client.post_event(simple_event("small"));
  EXPECT_EQ(r.status, 202) << r;
  // The batch endpoint has its own, larger limit.
  std::string batch;
  for (int i = 0; i < 12; ++i)
    batch += simple_event("batched-" + std::to_string(i)) + "\n";
  ASSERT_GT(batch.size(), 2048u);
  r = client.post_batch(batch);
  EXPECT_EQ(r.status, 200) << r;
  Db db(daemon.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 13);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE event_id = 'too-big'"), 0);
  EXPECT_EQ(daemon.stop(), 0);
}

// A recipient attached to a second establishment (recipients[i].establishments) is held under
// the stricter of the two: both quiet from the hour before now (H+11:00 UTC, H twelve hours
// away), the event's establishment until H:00 UTC, the other until H+1:00.
TEST(IngestApiStrictest, ARecipientOfTwoSchoolsIsReleasedAtTheStricterOnesOpening) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  const int h = (utc.tm_hour + 12) % 24;
  auto hh = [](int hour) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d:00", (hour + 24) % 24);
    return std::string(buf);
  };
  const std::string all_days = "[\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]";
  DaemonOptions options;
  options.extra_config =
      "\n[establishments.\"" + kUai + "\"]\n[[establishments.\"" + kUai +
      "\".quiet]]\ndays = " + all_days + "\nstart = \"" + hh(h + 11) + "\"\nend = \"" + hh(h) +
      "\"\n\n[establishments.\"0250001R\"]\n[[establishments.\"0250001R\".quiet]]"
      "\ndays = " +
      all_days + "\nstart = \"" + hh(h + 11) + "\"\nend = \"" + hh(h + 1) +
      "\"\nname = \"Soirée\"\n";
  Daemon daemon(options);
  daemon.start();
  HttpClient client(daemon.port());

  json::object o = event_object(
      EventSpec{.id = "two-schools", .recipients = {{"t-a", "staff", ""}, {"t-ab", "staff", ""}}});
  o["recipients"].as_array()[1].as_object()["establishments"] = json::array{"0250001R"};
  auto r = client.post_event(json::serialize(o));
  ASSERT_EQ(r.status, 202) << r;
  auto ds = deliveries_of(r);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].at("held"), true);
  EXPECT_EQ(ds[1].at("held"), true);
  const std::string one = str(ds[0].at("release_at"));
  const std::string two = str(ds[1].at("release_at"));
  // UTC "YYYY-MM-DDTHH:00:00Z": the hours are H and H+1, an hour apart.
  auto at = [](const std::string& text) {
    std::tm t{};
    std::istringstream in(text);
    in >> std::get_time(&t, "%Y-%m-%dT%H:%M:%S");
    EXPECT_FALSE(in.fail()) << text;
    return ::timegm(&t);
  };
  EXPECT_EQ(one.substr(11, 5), hh(h)) << one;
  EXPECT_EQ(two.substr(11, 5), hh(h + 1)) << two;
  EXPECT_EQ(at(two) - at(one), 3600) << one << " " << two;
  EXPECT_THAT(str(ds[1].at("reason")),
              HasSubstr("also attached to 0250001R: quiet window \"Soirée\""));
  EXPECT_THAT(str(ds[0].at("reason")), Not(HasSubstr("attached")));

  // The event read back keeps the field and says the same.
  auto g = client.get_event("two-schools");
  ASSERT_EQ(g.status, 200) << g;
  EXPECT_THAT(g.body, HasSubstr("also attached to 0250001R"));
  EXPECT_EQ(daemon.stop(), 0) << daemon.stderr_log();
}

TEST_F(IngestApi, BadRequestsNeitherStopTheDaemonNorAffectOthers) {
  for (int i = 0; i < 20; ++i) {
    auto r = client().post_event(i % 2 ? "{" : "\xff\xfe garbage");
    EXPECT_EQ(r.status, 400) << r;
  }
  EXPECT_EQ(client().post_event(simple_event("after-garbage")).status, 202);
  EXPECT_EQ(client().healthz().status, 200);
  EXPECT_TRUE(daemon_.running());
}

// ---- accepted events, idempotency ------------------------------------------------------------

TEST_F(IngestApi, AcceptedEventAnswers202WithEachDelivery) {
  EventSpec spec;
  spec.id = "msg-8812";
  spec.category = "grade";
  spec.recipients = {{"u-7f3a", "student", ""}, {"u-99c1", "parent", "u-7f3a"}};
  auto r = client().post_event(event_body(spec));
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_FALSE(r.header("Idempotent-Replayed"));
  auto o = r.object();
  EXPECT_EQ(o.at("source"), "ent");
  EXPECT_EQ(o.at("id"), "msg-8812");
  auto& ds = o.at("deliveries").as_array();
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].at("recipient"), "u-7f3a");
  EXPECT_EQ(ds[0].at("role"), "student");
  EXPECT_EQ(ds[0].at("held"), true);
  EXPECT_EQ(ds[1].at("recipient"), "u-99c1");
  EXPECT_EQ(ds[1].at("role"), "parent");
  EXPECT_EQ(ds[1].at("held"), true);
  // The parent's grade comes 24 h after the student's release.
  EXPECT_NE(ds[0].at("release_at"), ds[1].at("release_at"));
  EXPECT_THAT(str(ds[1].at("reason")), HasSubstr("24h"));
}

// A connector that dies in the middle of a body (its process killed, its connection reset)
// has sent no event: nothing is stored under that id, and the whole body sent again is a new
// event, not a replay or a conflict with a half of it.
TEST_F(IngestApi, ABodyCutShortIsNotAnEvent) {
  EventSpec spec;
  spec.id = "cut-1";
  const std::string body = event_body(spec);
  const std::string request = raw_request("POST", "/v1/events", body, kEntToken);
  for (const std::size_t keep : {request.size() - body.size() / 2, request.size() - 1}) {
    RawConnection c(daemon_.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(std::string_view(request).substr(0, keep)));
  }  // closed with the body incomplete
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE event_id = ?", {"cut-1"}), 0);
  auto r = client().post_event(body);
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_FALSE(r.header("Idempotent-Replayed"));
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE event_id = ?", {"cut-1"}), 1);
}

TEST_F(IngestApi, SamePostTwiceIsReplayedAndStoredOnce) {
  EventSpec spec;
  spec.id = "idem-1";
  spec.recipients = {{"a", "student", ""}, {"b", "parent", "a"}, {"c", "staff", ""}};
  const std::string body = event_body(spec);
  auto first = client().post_event(body);
  ASSERT_EQ(first.status, 202) << first;
  EXPECT_FALSE(first.header("Idempotent-Replayed"));
  auto second = client().post_event(body);
  ASSERT_EQ(second.status, 202) << second;
  EXPECT_EQ(second.header("Idempotent-Replayed").value_or(""), "true");
  EXPECT_EQ(second.body, first.body);
  auto third = client().post_event(body);
  EXPECT_EQ(third.body, first.body);

  Db db(daemon_.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries"), 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'received'"), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind <> 'config_changed'"),
            4);  // received + 3 held
}

TEST_F(IngestApi, SameIdWithAnotherBodyIs409AndChangesNothing) {
  EventSpec spec;
  spec.id = "conflict-1";
  auto r = client().post_event(event_body(spec));
  ASSERT_EQ(r.status, 202) << r;
  spec.title = "another title";
  r = client().post_event(event_body(spec));
  expect_problem(r, 409, "urn:treve:problem:id-conflict", "/id");
  Db db(daemon_.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries"), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind <> 'config_changed'"), 2);
}

// Behaviour a connector developer may trip over: the idempotency key is the id plus the exact
// bytes of the body. The same event re-serialised (other key order, other spacing) is refused as
// a conflict rather than replayed.
TEST_F(IngestApi, IdempotencyComparesBodiesByteForByte) {
  EventSpec spec;
  spec.id = "bytes-1";
  const auto o = event_object(spec);
  auto r = client().post_event(json::serialize(o));
  ASSERT_EQ(r.status, 202) << r;
  std::string spaced = json::serialize(o);
  spaced.insert(1, " ");
  r = client().post_event(spaced);
  expect_problem(r, 409, "urn:treve:problem:id-conflict", "/id");
}

TEST_F(IngestApi, IdsAreUniquePerConnector) {
  const std::string body = simple_event("shared-id", 2);
  auto ent = client().post_event(body, kEntToken);
  ASSERT_EQ(ent.status, 202) << ent;
  auto alert = client().post_event(body, kAlertToken);
  ASSERT_EQ(alert.status, 202) << alert;
  EXPECT_FALSE(alert.header("Idempotent-Replayed"));
  EXPECT_EQ(alert.object().at("source"), "alert");
  EXPECT_EQ(ent.object().at("source"), "ent");

  Db db(daemon_.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE event_id = 'shared-id'"), 2);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE event_id = 'shared-id' AND source = "
                      "'alert'"),
            1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries"), 4);

  // Each connector sees only its own event.
  auto g = client().get_event("shared-id", kAlertToken);
  ASSERT_EQ(g.status, 200) << g;
  EXPECT_EQ(g.object().at("source"), "alert");
  g = client().get_event("shared-id", kEntToken);
  ASSERT_EQ(g.status, 200) << g;
  EXPECT_EQ(g.object().at("source"), "ent");
  ASSERT_EQ(client().post_event(simple_event("only-ent")).status, 202);
  EXPECT_EQ(client().get_event("only-ent", kAlertToken).status, 404);
}

// ---- GET /v1/events/{id} ---------------------------------------------------------------------

TEST_F(IngestApi, GetGivesEachDeliveryItsStateReleaseInstantAndReason) {
  EventSpec spec;
  spec.id = "get-1";
  spec.category = "grade";
  spec.recipients = {{"s-1", "student", ""}, {"p-1", "parent", "s-1"}};
  auto posted = client().post_event(event_body(spec));
  ASSERT_EQ(posted.status, 202) << posted;

  auto r = client().get_event("get-1");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  auto o = r.object();
  EXPECT_EQ(o.at("source"), "ent");
  EXPECT_EQ(o.at("id"), "get-1");
  EXPECT_EQ(str(o.at("establishment")), kUai);
  EXPECT_EQ(o.at("category"), "grade");
  EXPECT_TRUE(o.at("received_at").is_string());
  auto& ds = o.at("deliveries").as_array();
  const auto posted_object = posted.object();
  auto& accepted = posted_object.at("deliveries").as_array();
  ASSERT_EQ(ds.size(), 2u);
  for (std::size_t i = 0; i < ds.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ds[i].at("state"), "held");
    EXPECT_EQ(ds[i].at("recipient"), accepted[i].at("recipient"));
    EXPECT_EQ(ds[i].at("role"), accepted[i].at("role"));
    // Consistent with the 202.
    EXPECT_EQ(ds[i].at("release_at"), accepted[i].at("release_at"));
    EXPECT_EQ(ds[i].at("reason"), accepted[i].at("reason"));
    EXPECT_FALSE(str(ds[i].at("reason")).empty());
  }
}

TEST_F(IngestApi, GetWithPercentEncodedIds) {
  for (const std::string id : {"a/b c", "x?y#z%", "café 100%", "a+b", "../etc/passwd"}) {
    SCOPED_TRACE(id);
    auto r = client().post_event(simple_event(id));
    ASSERT_EQ(r.status, 202) << r;
    auto g = client().get_event(id);  // percent-encoded by the helper
    ASSERT_EQ(g.status, 200) << g;
    EXPECT_EQ(str(g.object().at("id")), id);
  }
  // '+' in a path is a plus, not a space.
  auto g = client().request(bhttp::verb::get, "/v1/events/a+b", "",
                            {{"Authorization", "Bearer " + kEntToken}});
  EXPECT_EQ(g.status, 200) << g;
}

TEST_F(IngestApi, GetOfAnUnknownIdIs404) {
  expect_problem(client().get_event("never-sent"), 404, "urn:treve:problem:not-found",
                 std::nullopt);
  // A malformed percent-encoding.
  auto r = client().request(bhttp::verb::get, "/v1/events/bad%zz", "",
                            {{"Authorization", "Bearer " + kEntToken}});
  expect_problem(r, 404, "urn:treve:problem:not-found", std::nullopt);
  r = client().request(bhttp::verb::get, "/v1/events/", "",
                       {{"Authorization", "Bearer " + kEntToken}});
  expect_problem(r, 404, "urn:treve:problem:not-found", std::nullopt);
}

// ---- DELETE /v1/events/{id} ------------------------------------------------------------------

TEST_F(IngestApi, DeleteRetractsHeldDeliveries) {
  EventSpec spec;
  spec.id = "del-1";
  spec.recipients = {{"d-a", "student", ""}, {"d-b", "staff", ""}};
  ASSERT_EQ(client().post_event(event_body(spec)).status, 202);

  auto r = client().delete_event("del-1");
  ASSERT_EQ(r.status, 200) << r;
  auto o = r.object();
  EXPECT_EQ(o.at("source"), "ent");
  EXPECT_EQ(o.at("id"), "del-1");
  auto& retracted = o.at("retracted").as_array();
  ASSERT_EQ(retracted.size(), 2u);
  EXPECT_EQ(retracted[0].at("recipient"), "d-a");
  EXPECT_EQ(retracted[0].at("state"), "retracted");
  EXPECT_EQ(retracted[1].at("recipient"), "d-b");
  EXPECT_TRUE(o.at("not_retracted").as_array().empty());

  auto g = client().get_event("del-1");
  ASSERT_EQ(g.status, 200) << g;
  for (const auto& d : deliveries_of(g))
    EXPECT_EQ(d.at("state"), "retracted");

  Db db(daemon_.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'retracted' AND event_id = "
                      "'del-1'"),
            2);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries WHERE state = 'retracted'"), 2);
  EXPECT_EQ(verify_chain(read_audit(db)), "");
}

// What the code does for a second DELETE: 200 with an empty `retracted` list (DELETE is
// idempotent), the deliveries listed under `not_retracted` in state "retracted"; no new audit
// record. Not a 409: nothing was released.
TEST_F(IngestApi, DeleteTwiceAnswers200WithNothingRetracted) {
  ASSERT_EQ(client().post_event(simple_event("del-2", 2)).status, 202);
  ASSERT_EQ(client().delete_event("del-2").status, 200);
  auto r = client().delete_event("del-2");
  ASSERT_EQ(r.status, 200) << r;
  auto o = r.object();
  EXPECT_TRUE(o.at("retracted").as_array().empty());
  auto& rest = o.at("not_retracted").as_array();
  ASSERT_EQ(rest.size(), 2u);
  for (const auto& d : rest)
    EXPECT_EQ(d.at("state"), "retracted");
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'retracted'"), 2);
}

// Behaviour a connector developer may trip over: after a DELETE, sending the same event again is
// an idempotent replay of the first answer ("held": true), and the deliveries stay retracted.
TEST_F(IngestApi, ResendingARetractedEventReplaysTheOriginalAnswer) {
  const std::string body = simple_event("resend-1", 1);
  auto first = client().post_event(body);
  ASSERT_EQ(first.status, 202) << first;
  ASSERT_EQ(client().delete_event("resend-1").status, 200);
  auto again = client().post_event(body);
  EXPECT_EQ(again.status, 202) << again;
  EXPECT_EQ(again.header("Idempotent-Replayed").value_or(""), "true");
  EXPECT_EQ(again.body, first.body);
  auto g = client().get_event("resend-1");
  for (const auto& d : deliveries_of(g))
    EXPECT_EQ(d.at("state"), "retracted");
}

TEST_F(IngestApi, DeleteOfAnUrgentAlertDeliveredAtOnceIs409AlreadyReleased) {
  EventSpec spec;
  spec.id = "alert-1";
  spec.category = "alert";
  spec.urgent = true;
  spec.recipients = {{"al-a", "student", ""}, {"al-b", "parent", ""}};
  auto r = client().post_event(event_body(spec), kAlertToken);
  ASSERT_EQ(r.status, 202) << r;
  for (const auto& d : deliveries_of(r))
    EXPECT_EQ(d.at("held"), false) << r;

  auto g = client().get_event("alert-1", kAlertToken);
  ASSERT_EQ(g.status, 200) << g;
  for (const auto& d : deliveries_of(g))
    EXPECT_EQ(d.at("state"), "due") << g;

  auto del = client().delete_event("alert-1", kAlertToken);
  expect_problem(del, 409, "urn:treve:problem:already-released", std::nullopt);
  EXPECT_EQ(del.object().at("deliveries").as_array().size(), 2u);

  Db db(daemon_.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'bypassed'"), 2);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE kind = 'retracted'"), 0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries WHERE state = 'due'"), 2);
}

TEST_F(IngestApi, UrgentFromAConnectorThatMayNotBypassIsHeldAndTheRefusalAudited) {
  EventSpec spec;
  spec.id = "alert-refused";
  spec.category = "alert";
  spec.urgent = true;
  auto r = client().post_event(event_body(spec), kEntToken);
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(r.object().at("deliveries").as_array()[0].at("held"), true);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'bypass_refused'"), 1);
  // And a category outside the urgent list is held even for a connector that may bypass.
  spec.id = "urgent-message";
  spec.category = "message";
  r = client().post_event(event_body(spec), kAlertToken);
  ASSERT_EQ(r.status, 202) << r;
  EXPECT_EQ(r.object().at("deliveries").as_array()[0].at("held"), true);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'bypass_refused'"), 2);
}

TEST_F(IngestApi, DeleteOfAnUnknownOrAnotherConnectorsEventIs404) {
  expect_problem(client().delete_event("never-sent"), 404, "urn:treve:problem:not-found",
                 std::nullopt);
  ASSERT_EQ(client().post_event(simple_event("mine")).status, 202);
  expect_problem(client().delete_event("mine", kAlertToken), 404, "urn:treve:problem:not-found",
                 std::nullopt);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE state = 'held'"), 1);
}

// ---- POST /v1/events:batch -------------------------------------------------------------------

TEST_F(IngestApi, BatchAnswersOneResultPerLineInOrder) {
  auto bad_role = valid("b2");
  bad_role["recipients"].as_array()[0].as_object()["role"] = "janitor";
  auto unknown_field = valid("b4");
  unknown_field["colour"] = "red";
  const std::string body = simple_event("b1") + "\n" + json::serialize(bad_role) + "\n" +
                           simple_event("b3", 2) + "\r\n" + json::serialize(unknown_field) + "\n" +
                           simple_event("b5", 3);  // no final newline
  auto r = client().post_batch(body);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/x-ndjson");

  std::vector<json::object> lines;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);)
    lines.push_back(json::parse(line).as_object());
  ASSERT_EQ(lines.size(), 5u) << r.body;
  const int statuses[] = {202, 400, 202, 400, 202};
  for (std::size_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(lines[i].at("line").to_number<int>(), static_cast<int>(i + 1));
    EXPECT_EQ(lines[i].at("status").to_number<int>(), statuses[i]);
  }
  EXPECT_EQ(lines[1].at("type"), "urn:treve:problem:invalid-field");
  EXPECT_EQ(lines[1].at("pointer"), "/recipients/0/role");
  EXPECT_EQ(lines[3].at("type"), "urn:treve:problem:invalid-field");
  EXPECT_EQ(lines[3].at("pointer"), "/colour");
  EXPECT_EQ(lines[0].at("id"), "b1");
  EXPECT_EQ(lines[2].at("id"), "b3");
  EXPECT_EQ(lines[2].at("deliveries").as_array().size(), 2u);
  EXPECT_EQ(lines[4].at("id"), "b5");
  EXPECT_EQ(lines[4].at("deliveries").as_array().size(), 3u);

  Db db(daemon_.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries"), 6);
  for (const std::string id : {"b1", "b3", "b5"})
    EXPECT_EQ(client().get_event(id).status, 200) << id;
  for (const std::string id : {"b2", "b4"})
    EXPECT_EQ(client().get_event(id).status, 404) << id;
}

TEST_F(IngestApi, BatchCountsBlankLinesAndReportsRepeatsAndConflictsPerLine) {
  ASSERT_EQ(client().post_event(simple_event("already")).status, 202);
  EventSpec changed;
  changed.id = "already";
  changed.title = "changed";
  const std::string body = "\n" + simple_event("n1") + "\n\n" + simple_event("already") + "\n" +
                           event_body(changed) + "\n" + simple_event("n1") + "\n";
  auto r = client().post_batch(body, kEntToken, "application/jsonl");
  ASSERT_EQ(r.status, 200) << r;
  std::vector<json::object> lines;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);)
    lines.push_back(json::parse(line).as_object());
  ASSERT_EQ(lines.size(), 4u) << r.body;
  EXPECT_EQ(lines[0].at("line").to_number<int>(), 2);
  EXPECT_EQ(lines[0].at("status").to_number<int>(), 202);
  EXPECT_EQ(lines[1].at("line").to_number<int>(), 4);
  EXPECT_EQ(lines[1].at("status").to_number<int>(), 202);
  EXPECT_EQ(lines[1].at("replayed"), true);
  EXPECT_EQ(lines[2].at("line").to_number<int>(), 5);
  EXPECT_EQ(lines[2].at("status").to_number<int>(), 409);
  EXPECT_EQ(lines[2].at("type"), "urn:treve:problem:id-conflict");
  EXPECT_EQ(lines[3].at("line").to_number<int>(), 6);
  EXPECT_EQ(lines[3].at("status").to_number<int>(), 202);
  EXPECT_EQ(lines[3].at("replayed"), true);  // the same id earlier in the same batch
  EXPECT_EQ(count("SELECT count(*) FROM events"), 2);
}

// ---- audit -----------------------------------------------------------------------------------

// Control characters still reach the audit trail through free text an administrator writes (a
// quiet window's name, in the `reason` of each `held` record): escaped, and the chain verifies.
TEST(IngestApiAudit, ControlCharactersInAReasonAreEscapedInTheAuditTrailAndTheChainVerifies) {
  // The same window as the harness's (all but [H:00, H:01) UTC), named.
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char start[8], end[8];
  std::snprintf(start, sizeof start, "%02d:01", (utc.tm_hour + 12) % 24);
  std::snprintf(end, sizeof end, "%02d:00", (utc.tm_hour + 12) % 24);
  DaemonOptions options;
  options.extra_config = "\n[establishments.\"" + kUai + "\"]\n[[establishments.\"" + kUai +
                         "\".quiet]]\n"
                         "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
                         "start = \"" +
                         start + "\"\nend = \"" + end +
                         "\"\nname = \"nuit \\\"calme\\\" \\\\ \\t\\u0001\\u007F\\u2028fin\"\n";
  Daemon daemon(options);
  daemon.start();
  HttpClient client(daemon.port());
  auto r = client.post_event(simple_event("named-window", 2));
  ASSERT_EQ(r.status, 202) << r << daemon.stderr_log();
  EXPECT_THAT(r.body, HasSubstr("calme"));
  EXPECT_EQ(daemon.stop(), 0);

  Db db(daemon.db_path());
  auto rows = read_audit(db);
  EXPECT_EQ(verify_chain(rows), "");
  int named = 0;
  for (const auto& row : rows) {
    if (row.kind == "held" && row.detail.find("\"calme\"") == std::string::npos &&
        row.detail.find("calme") != std::string::npos) {
      ++named;
      EXPECT_EQ(row.detail.find('\t'), std::string::npos) << "a raw tab in " << row.detail;
    }
  }
  EXPECT_EQ(named, 2);
}

TEST_F(IngestApi, AuditChainVerifiesAndHoldsNothingPersonal) {
  const std::vector<std::string> people = {"secret-student-4242", "secret-parent-4343",
                                           "secret-staff-4444", "secret-alerted-4545"};
  const std::string title = "TITRE-CONFIDENTIEL-ALPHA";
  const std::string payload_marker = "PAYLOAD-SECRET-BETA";

  EventSpec a;
  a.id = "audit-grade";
  a.category = "grade";
  a.title = title;
  a.payload = json::object{{"note", payload_marker}, {"list", json::array{payload_marker}}};
  a.recipients = {{people[0], "student", ""}, {people[1], "parent", people[0]}};
  ASSERT_EQ(client().post_event(event_body(a)).status, 202);

  EventSpec b = a;
  // Exercises the canonical string escaping (an id with control characters is refused: see
  // IdentifiersWithControlCharactersAreRefusedAtTheirPointer and, for them in the audit trail,
  // ControlCharactersInAReasonAreEscapedInTheAuditTrailAndTheChainVerifies).
  b.id = "audit \"odd\" \\ id é/ü end";
  b.category = "message";
  b.recipients = {{people[2], "staff", ""}};
  ASSERT_EQ(client().post_event(event_body(b)).status, 202);

  EventSpec c = a;
  c.id = "audit-alert";
  c.category = "alert";
  c.urgent = true;
  c.recipients = {{people[3], "student", ""}, {people[0], "student", ""}};
  ASSERT_EQ(client().post_event(event_body(c), kAlertToken).status, 202);

  EventSpec d = c;
  d.id = "audit-alert-refused";
  ASSERT_EQ(client().post_event(event_body(d), kEntToken).status, 202);

  ASSERT_EQ(client().delete_event(b.id).status, 200);
  EventSpec e1 = a, e2 = a;
  e1.id = "audit-batch-1";
  e2.id = "audit-batch-2";
  ASSERT_EQ(client().post_batch(event_body(e1) + "\n" + event_body(e2) + "\n").status, 200);
  // A replay and a conflict add nothing.
  ASSERT_EQ(client().post_event(event_body(a)).status, 202);
  EventSpec conflict = a;
  conflict.title = "other";
  ASSERT_EQ(client().post_event(event_body(conflict)).status, 409);

  Db db(daemon_.db_path());
  auto rows = read_audit(db);
  EXPECT_EQ(verify_chain(rows), "");
  // received: a, b, c, d, e1, e2; held: 2 + 1 + 2 (d) + 2 + 2; bypassed: 2 (c);
  // bypass_refused: 1 (d); retracted: 1 (b).
  std::map<std::string, int> kinds;
  for (const auto& r : rows)
    ++kinds[r.kind];
  EXPECT_EQ(kinds["received"], 6);
  EXPECT_EQ(kinds["held"], 9);
  EXPECT_EQ(kinds["bypassed"], 2);
  EXPECT_EQ(kinds["bypass_refused"], 1);
  EXPECT_EQ(kinds["retracted"], 1);
  EXPECT_EQ(kinds["config_changed"], 1);  // the configuration in force from the first start
  EXPECT_EQ(rows.size(), 20u);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().prev_hash, kGenesis);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM audit WHERE event_id = ?", {b.id}), 3);

  // Recipients only as keyed pseudonyms: hex(HMAC-SHA-256(key, source \n id))[0:32].
  const std::string key = read_file(daemon_.key_path());
  ASSERT_EQ(key.size(), 32u);
  std::set<std::string> pseudonyms;
  for (const auto& p : people) {
    pseudonyms.insert(expected_pseudonym(key, "ent", p));
    pseudonyms.insert(expected_pseudonym(key, "alert", p));
  }
  for (const auto& r : rows) {
    SCOPED_TRACE("audit seq " + std::to_string(r.seq) + " kind " + r.kind);
    if (r.kind == "received" || r.kind == "bypass_refused" || r.kind == "config_changed") {
      EXPECT_EQ(r.recipient, "");
    } else {
      EXPECT_TRUE(pseudonyms.count(r.recipient)) << r.recipient;
    }
    json::value detail;
    EXPECT_NO_THROW(detail = json::parse(r.detail)) << r.detail;
  }

  // Nothing personal or content anywhere in the audit table, in any column.
  std::vector<std::string> forbidden = people;
  forbidden.push_back(title);
  forbidden.push_back(payload_marker);
  auto all = db.query("SELECT * FROM audit");
  for (const auto& row : all) {
    for (const auto& col : row) {
      for (const auto& f : forbidden)
        EXPECT_EQ(col.value_or("").find(f), std::string::npos) << f << " found in " << *col;
    }
  }
}

TEST_F(IngestApi, IndependentVerifierDetectsTampering) {
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(client().post_event(simple_event("t-" + std::to_string(i), 2)).status, 202);
  client_.reset();
  ASSERT_EQ(daemon_.stop(), 0);
  TempDir copy;
  const std::string path = (copy.path() / "copy.db").string();
  fs::copy_file(daemon_.db_path(), path);
  Db db(path, /*read_only=*/false);
  ASSERT_EQ(verify_chain(read_audit(db)), "");
  const std::string original_detail = *db.query("SELECT detail FROM audit WHERE seq = 5")[0][0];
  db.query("UPDATE audit SET detail = '{\"until\":\"2099-01-01T00:00:00Z\"}' WHERE seq = 5");
  EXPECT_THAT(verify_chain(read_audit(db)), HasSubstr("seq=5"));
  db.query("UPDATE audit SET detail = ? WHERE seq = 5", {original_detail});
  ASSERT_EQ(verify_chain(read_audit(db)), "");
  db.query("DELETE FROM audit WHERE seq = 7");
  EXPECT_THAT(verify_chain(read_audit(db)), HasSubstr("seq=8"));
  daemon_.start();  // for TearDown
  client_.emplace(daemon_.port());
}

// ---- HTTP details ----------------------------------------------------------------------------

// A response to HEAD carries no content (RFC 9110 §9.3.2): on a kept-alive connection a body
// would be read as the start of the next response.
TEST_F(IngestApi, HeadHealthzHasNoBody) {
  auto head = client().request(bhttp::verb::head, "/healthz");
  EXPECT_EQ(head.status, 200);
  HttpResponse next;
  EXPECT_NO_THROW(next = client().healthz()) << "the HEAD answer carried a body";
  EXPECT_EQ(next.status, 200) << next;
}

// `listen = "127.0.0.1:0"` asks for any free port; `serve` logs the one it got
// (`event=serve.ready listen=127.0.0.1:PORT`), which is what tests and parallel CI runs need.
TEST(ServeHarness, ListenOnPortZeroIsAccepted) {
  TempDir dir;
  const std::string config = (dir.path() / "treve.toml").string();
  std::ofstream(config) << "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"unix:"
                        << (dir.path() / "admin.sock").string() << "\"\nstate_dir = \""
                        << (dir.path() / "state").string() << "\"\n";
  const std::string out = (dir.path() / "out").string();
  const std::string cmd =
      "'" + kBinary + "' check-config --config '" + config + "' > '" + out + "' 2>&1";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 0) << read_file(out);
}

TEST_F(IngestApi, CleanStopExitsZeroAndLogsTheAuditHead) {
  ASSERT_EQ(client().post_event(simple_event("head-1", 2)).status, 202);
  client_.reset();
  ASSERT_EQ(daemon_.stop(), 0);
  Db db(daemon_.db_path());
  auto rows = read_audit(db);
  ASSERT_EQ(rows.size(), 4u);  // config_changed, received, 2 x held
  EXPECT_THAT(daemon_.stderr_log(),
              HasSubstr("event=audit.head seq=4 hash=" + rows.back().hash + "\n"));
  EXPECT_THAT(daemon_.stderr_log(), HasSubstr("event=serve.stopped"));
  daemon_.start();
  EXPECT_THAT(daemon_.stderr_log(), HasSubstr("next_audit_seq=5"));
  EXPECT_THAT(daemon_.stderr_log(), HasSubstr("event=audit.head seq=4 hash=" + rows.back().hash));
  client_.emplace(daemon_.port());
}

}  // namespace
}  // namespace treve::itest
