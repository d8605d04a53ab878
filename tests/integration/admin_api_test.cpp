// The admin API of the real daemon, over its own TCP listener: roles and scopes on every
// endpoint (refusals audited), validation errors with their pointers, versions, rollback,
// persistence across a restart, and held deliveries re-planned when a policy changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

const std::string kOtherUai = "0250001R";  // another school, out of Mme Durand's scope

std::string admins_config() {
  std::ostringstream c;
  c << "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" << sha256_hex(kDurandToken)
    << "\"\nrole = \"admin\"\nscope = [\"" << kUai << "\"]\n"
    << "\n[[admins]]\nname = \"Rectorat\"\ntoken_sha256 = \"" << sha256_hex(kRectoratToken)
    << "\"\nrole = \"admin\"\nscope = \"*\"\n"
    << "\n[[admins]]\nname = \"DPD\"\ntoken_sha256 = \"" << sha256_hex(kDpdToken)
    << "\"\nrole = \"auditor\"\nscope = [\"" << kUai << "\"]\n";
  return c.str();
}

DaemonOptions admin_options() {
  DaemonOptions o;
  o.admin_listen = "127.0.0.1:0";
  o.extra_config = admins_config();
  return o;
}

json::value parse(const HttpResponse& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  EXPECT_FALSE(ec) << r;
  return v;
}

class AdminApi : public ::testing::Test {
 protected:
  AdminApi() : daemon_(admin_options()) { daemon_.start(); }

  HttpResponse call(bhttp::verb method, const std::string& target, const std::string& token,
                    const std::string& body = "") {
    HttpClient client(daemon_.admin_port());
    Headers h{{"Content-Type", "application/json"}};
    if (!token.empty())
      h.emplace_back("Authorization", "Bearer " + token);
    return client.request(method, target, body, h);
  }
  std::string policy_path(const std::string& uai, const std::string& what = "policy") {
    return "/v1/admin/establishments/" + uai + "/" + what;
  }
  std::int64_t count(const std::string& sql) {
    Db db(daemon_.db_path());
    auto rows = db.query(sql);
    return rows.empty() || !rows[0][0] ? -1 : std::stoll(*rows[0][0]);
  }

  // As the dispatcher leaves deliveries after their last attempt (no sink is configured here).
  void make_held_dead() {
    Db db(daemon_.db_path(), false);
    db.query(
        "UPDATE deliveries SET state = 'dead', attempts = 7, sink = 'push', "
        "last_error = 'HTTP 410' WHERE state = 'held'");
  }
  static std::string other_school_event(const std::string& id, const std::string& recipient) {
    EventSpec spec;
    spec.id = id;
    spec.establishment = kOtherUai;
    Recipient who;
    who.id = recipient;
    spec.recipients = {who};
    return event_body(spec);
  }

  Daemon daemon_;
};

// A policy with windows on weekdays only (no weekend window): weaker than the national default.
constexpr const char* kWeekdays =
    R"({"policy":{"quiet":[{"days":["mon","tue","wed","thu","fri"],"start":"19:00","end":"07:30"}]},)"
    R"("comment":"Conseil d'administration du 26 novembre","confirm_weaker":true})";

// Records about a school are dated in the school's own time, as every other record of that
// school is: a policy change in the time zone of the policy saved, a refusal in the time zone of
// the school asked for.
TEST_F(AdminApi, PolicyChangesAndRefusalsAreDatedInTheSchoolsTimeZone) {
  auto r = call(bhttp::verb::put, policy_path(kUai), kDurandToken,
                R"({"policy":{"timezone":"Europe/Paris","quiet":[{"days":["mon","tue","wed",)"
                R"("thu","fri"],"start":"19:00","end":"07:30"}]},"comment":"Fuseau de Paris",)"
                R"("confirm_weaker":true})");
  ASSERT_EQ(r.status, 200) << r;
  r = call(bhttp::verb::put, policy_path(kUai), kDpdToken, kWeekdays);
  ASSERT_EQ(r.status, 403) << r;
  const std::string paris = "(at_local LIKE '%+01:00' OR at_local LIKE '%+02:00')";
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'policy_changed' AND " + paris), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused' AND establishment = '" +
                  kUai + "' AND " + paris),
            1);
}

TEST_F(AdminApi, EveryEndpointEnforcesRoleAndScopeAndAuditsRefusals) {
  struct Case {
    bhttp::verb method;
    std::string target;
    std::string body;
    std::string token;
    int status;
  };
  const std::string mine = kUai, other = kOtherUai;
  const std::vector<Case> cases = {
      // Reading a policy: anyone in scope.
      {bhttp::verb::get, policy_path(mine), "", kDurandToken, 200},
      {bhttp::verb::get, policy_path(mine), "", kDpdToken, 200},
      {bhttp::verb::get, policy_path(other), "", kDurandToken, 403},
      {bhttp::verb::get, policy_path(other), "", kDpdToken, 403},
      {bhttp::verb::get, policy_path(other), "", kRectoratToken, 200},
      // Writing: admins in scope only.
      {bhttp::verb::put, policy_path(mine), kWeekdays, kDpdToken, 403},
      {bhttp::verb::put, policy_path(other), kWeekdays, kDurandToken, 403},
      {bhttp::verb::post, policy_path(mine, "rollback"), R"({"version":1,"comment":"x"})",
       kDpdToken, 403},
      {bhttp::verb::post, policy_path(other, "rollback"), R"({"version":1,"comment":"x"})",
       kDurandToken, 403},
      {bhttp::verb::post, policy_path(mine, "ics"), "BEGIN:VCALENDAR", kDpdToken, 403},
      // Versions and preview: anyone in scope.
      {bhttp::verb::get, policy_path(mine, "versions"), "", kDpdToken, 200},
      {bhttp::verb::get, policy_path(other, "versions"), "", kDpdToken, 403},
      {bhttp::verb::post, policy_path(mine, "preview"), "{}", kDpdToken, 200},
      {bhttp::verb::post, policy_path(other, "preview"), "{}", kDurandToken, 403},
      // Queue: in scope.
      {bhttp::verb::get, "/v1/admin/queue?establishment=" + mine, "", kDpdToken, 200},
      {bhttp::verb::get, "/v1/admin/queue?establishment=" + other, "", kDurandToken, 403},
      // Dead letters: admins only, in scope.
      {bhttp::verb::get, "/v1/admin/dead-letters?establishment=" + mine, "", kDurandToken, 200},
      {bhttp::verb::get, "/v1/admin/dead-letters?establishment=" + mine, "", kDpdToken, 403},
      {bhttp::verb::get, "/v1/admin/dead-letters?establishment=" + other, "", kDurandToken, 403},
      {bhttp::verb::post, "/v1/admin/dead-letters/replay", R"({"seqs":[1]})", kDpdToken, 403},
      // Audit and statistics: both roles, in scope.
      {bhttp::verb::get, "/v1/admin/audit?establishment=" + mine, "", kDpdToken, 200},
      {bhttp::verb::get, "/v1/admin/audit?establishment=" + other, "", kDpdToken, 403},
      {bhttp::verb::get, "/v1/admin/stats?establishment=" + mine, "", kDurandToken, 200},
      {bhttp::verb::get, "/v1/admin/stats?establishment=" + other, "", kDurandToken, 403},
      // The report to the conseil d'administration: both roles, in scope.
      {bhttp::verb::get,
       "/v1/admin/report?establishment=" + mine + "&from=2026-11-01&to=2026-11-30", "", kDpdToken,
       200},
      {bhttp::verb::get,
       "/v1/admin/report?establishment=" + other + "&from=2026-11-01&to=2026-11-30", "", kDpdToken,
       403},
      // Who am I: anyone with a token; nobody without.
      {bhttp::verb::get, "/v1/admin/me", "", kDpdToken, 200},
      {bhttp::verb::get, "/v1/admin/me", "", "", 401},
      {bhttp::verb::get, "/v1/admin/me", "", "change-me", 401},
  };
  int refused = 0;
  for (const auto& c : cases) {
    auto r = call(c.method, c.target, c.token, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << " as " << c.token << ": " << r;
    if (r.status >= 400) {
      EXPECT_THAT(*r.header("Content-Type"), HasSubstr("application/problem+json"));
    }
    refused += r.status == 403;
  }
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), refused);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused' AND detail LIKE "
                  "'%\"admin\":\"DPD\"%'"),
            count("SELECT count(*) FROM audit WHERE kind = 'access_refused' AND detail LIKE "
                  "'%\"role\":\"auditor\"%'"));
  // The ingest listener knows nothing of the admin API.
  EXPECT_EQ(HttpClient(daemon_.port())
                .request(bhttp::verb::get, "/v1/admin/me", "",
                         {{"Authorization", "Bearer " + kDurandToken}})
                .status,
            404);
}

TEST_F(AdminApi, ValidationErrorsNameTheFieldsWithPointers) {
  auto r = call(bhttp::verb::put, policy_path(kUai), kDurandToken,
                R"({"policy":{"quiet":[{"days":["mon"],"start":"19:00","end":"7h"},)"
                R"({"days":["lun"],"start":"20:00","end":"07:00"}],"parent_grade_delay":"demain",)"
                R"("closed_ics":"/etc/shadow"},"comment":"essai"})");
  ASSERT_EQ(r.status, 400) << r;
  // closed_ics is refused before anything else is looked at.
  EXPECT_THAT(r.body, HasSubstr("/policy/closed_ics"));
  r = call(bhttp::verb::put, policy_path(kUai), kDurandToken,
           R"({"policy":{"quiet":[{"days":["mon"],"start":"19:00","end":"7h"},)"
           R"({"days":["lun"],"start":"20:00","end":"07:00"}],"parent_grade_delay":"demain"},)"
           R"("comment":"essai"})");
  ASSERT_EQ(r.status, 400) << r;
  std::vector<std::string> pointers;
  const auto problem = parse(r);
  for (const auto& e : problem.as_object().at("errors").as_array()) {
    pointers.emplace_back(e.as_object().at("pointer").as_string());
    if (pointers.back() == "/policy/quiet/0/end") {
      // In French for the page, with check-config's own words beside.
      EXPECT_EQ(e.as_object().at("detail").as_string(),
                "heure attendue au format HH:MM (de 00:00 à 23:59), reçu « 7h »");
      EXPECT_EQ(e.as_object().at("code").as_string(), "config.bad_time");
      EXPECT_THAT(std::string(e.as_object().at("detail_en").as_string()),
                  HasSubstr("expected a time"));
    }
  }
  EXPECT_THAT(pointers, ::testing::IsSupersetOf({"/policy/quiet/0/end", "/policy/quiet/1/days/0",
                                                 "/policy/parent_grade_delay"}));
  r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, R"({"policy":{}})");
  ASSERT_EQ(r.status, 400) << r;
  EXPECT_THAT(r.body, HasSubstr("/comment"));
  EXPECT_EQ(count("SELECT count(*) FROM policy_versions"), 0);
}

TEST_F(AdminApi, AWeakerPolicyNeedsConfirmationAndIsFlagged) {
  std::string unconfirmed = kWeekdays;
  unconfirmed.replace(unconfirmed.find("true"), 4, "false");
  auto r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, unconfirmed);
  ASSERT_EQ(r.status, 409) << r;
  EXPECT_THAT(r.body, HasSubstr("weaker-policy"));
  EXPECT_THAT(r.body, HasSubstr("47 h par semaine"));
  EXPECT_THAT(r.body, HasSubstr("à partir du samedi à 07:30"));
  r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, kWeekdays);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(parse(r).as_object().at("version").as_int64(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'policy_changed' AND detail LIKE "
                  "'%\"by\":\"Mme Durand\"%' AND detail NOT LIKE '%\"weaker\":[]%'"),
            1);
}

TEST_F(AdminApi, VersionsRollbackAndARestartKeepThePolicy) {
  ASSERT_EQ(call(bhttp::verb::put, policy_path(kUai), kDurandToken, kWeekdays).status, 200);
  auto second = call(bhttp::verb::put, policy_path(kUai), kDurandToken,
                     R"({"policy":{"parent_grade_delay":"72h"},"comment":"délai des notes",)"
                     R"("expected_version":1,"confirm_weaker":true})");
  ASSERT_EQ(second.status, 200) << second;
  // A stale expected version is a conflict, and nothing is saved.
  auto stale = call(bhttp::verb::put, policy_path(kUai), kDurandToken,
                    R"({"policy":{},"comment":"x","expected_version":1})");
  EXPECT_EQ(stale.status, 409) << stale;
  EXPECT_THAT(stale.body, HasSubstr("version-conflict"));

  auto versions = parse(call(bhttp::verb::get, policy_path(kUai, "versions"), kDpdToken));
  ASSERT_EQ(versions.as_array().size(), 2u);
  EXPECT_EQ(versions.as_array()[0].as_object().at("version").as_int64(), 2);
  EXPECT_EQ(versions.as_array()[0].as_object().at("author").as_string(), "Mme Durand");

  auto back = call(bhttp::verb::post, policy_path(kUai, "rollback"), kDurandToken,
                   R"({"version":1,"comment":"retour à la version du CA","confirm_weaker":true})");
  ASSERT_EQ(back.status, 200) << back;
  EXPECT_EQ(parse(back).as_object().at("version").as_int64(), 3);
  auto policy = parse(call(bhttp::verb::get, policy_path(kUai), kDurandToken)).as_object();
  EXPECT_EQ(policy.at("managed_by").as_string(), "api");
  EXPECT_EQ(policy.at("version").as_int64(), 3);
  EXPECT_EQ(policy.at("effective").as_object().at("quiet").as_array().size(), 1u);
  EXPECT_EQ(policy.at("effective").as_object().at("parent_grade_delay").as_string(), "1d");

  daemon_.restart();
  policy = parse(call(bhttp::verb::get, policy_path(kUai), kDurandToken)).as_object();
  EXPECT_EQ(policy.at("version").as_int64(), 3);
  EXPECT_EQ(policy.at("effective").as_object().at("quiet").as_array()[0].as_object().at("start"),
            "19:00");
  auto me = parse(call(bhttp::verb::get, "/v1/admin/me", kDurandToken)).as_object();
  EXPECT_EQ(me.at("establishments").as_array()[0].as_object().at("managed_by"), "api");
}

TEST_F(AdminApi, AChangeAppliesToNewEventsAndReplansThatSchoolsHeldDeliveries) {
  HttpClient ingest(daemon_.port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(ingest.post_event(simple_event("mine-" + std::to_string(i), 2)).status, 202);
    EventSpec spec;
    spec.id = "other-" + std::to_string(i);
    spec.establishment = kOtherUai;
    Recipient who;
    who.id = "u-" + std::to_string(i);
    spec.recipients = {who};
    ASSERT_EQ(ingest.post_event(event_body(spec)).status, 202);
  }
  // A window six hours away: the present is open for this school.
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char start[8], end[8];
  std::snprintf(start, sizeof start, "%02d:00", (utc.tm_hour + 6) % 24);
  std::snprintf(end, sizeof end, "%02d:00", (utc.tm_hour + 7) % 24);
  const std::string body = std::string(R"({"policy":{"quiet":[{"days":["mon","tue","wed","thu",)") +
                           R"("fri","sat","sun"],"start":")" + start + R"(","end":")" + end +
                           R"("}]},"comment":"ouverture","confirm_weaker":true})";
  auto r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, body);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(parse(r).as_object().at("replanned").as_int64(), 10);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (count("SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event WHERE "
               "d.state = 'held' AND e.establishment = '" +
               kUai + "'") != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(count("SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event WHERE "
                  "d.state = 'held' AND e.establishment = '" +
                  kUai + "'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event WHERE "
                  "d.state = 'held' AND e.establishment = '" +
                  kOtherUai + "'"),
            5);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'replanned'"), 10);
  auto after = ingest.post_event(simple_event("after"));
  EXPECT_THAT(after.body, HasSubstr("\"held\":false"));
  auto queue =
      parse(call(bhttp::verb::get, "/v1/admin/queue?establishment=" + kOtherUai, kRectoratToken))
          .as_object();
  EXPECT_EQ(queue.at("held").as_int64(), 5);
  EXPECT_EQ(queue.at("by_category").as_object().at("message").as_int64(), 5);
  EXPECT_TRUE(queue.at("next_release").is_string());
}

TEST_F(AdminApi, ThePreviewSaysInFrenchWhenAMessageWouldArrive) {
  auto r = call(bhttp::verb::post, policy_path(kUai, "preview"), kDpdToken,
                R"({"at":"2026-11-27T21:00:00+00:00","policy":{"timezone":"Europe/Paris",)"
                R"("quiet":[{"days":["fri"],"start":"20:00","end_day":"mon","end":"07:00"}]}})");
  ASSERT_EQ(r.status, 200) << r;
  auto o = parse(r).as_object();
  EXPECT_EQ(o.at("held").as_bool(), true);
  EXPECT_EQ(o.at("release_at").as_string(), "2026-11-30T07:00:00+01:00");
  // (The year is written only when it is not the current one.)
  const std::string summary(o.at("summary").as_string());
  EXPECT_THAT(summary, ::testing::StartsWith("Un message envoyé le vendredi 27 novembre "));
  EXPECT_THAT(summary, HasSubstr(" à 22:00 serait remis lundi 30 novembre "));
  EXPECT_THAT(summary, ::testing::EndsWith(" à 07:00 (fenêtre du week-end)"));
  ASSERT_GE(o.at("quiet").as_array().size(), 2u);
  // Each quiet interval is labelled with what makes it quiet, not with its dates again.
  EXPECT_EQ(o.at("quiet").as_array()[0].at("label").as_string(), "fenêtre du week-end");
  EXPECT_EQ(o.at("quiet").as_array()[0].at("start").as_string(), "2026-11-27T20:00:00+01:00");
  // The page itself, with no external resource.
  HttpClient page(daemon_.admin_port());
  auto html = page.request(bhttp::verb::get, "/");
  EXPECT_EQ(html.status, 200);
  EXPECT_THAT(*html.header("Content-Type"), HasSubstr("text/html"));
  EXPECT_THAT(*html.header("Content-Security-Policy"), HasSubstr("default-src 'self'"));
  EXPECT_THAT(html.body, ::testing::Not(HasSubstr("http://")));
  EXPECT_THAT(html.body, ::testing::Not(HasSubstr("https://")));
  auto head = page.request(bhttp::verb::head, "/");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(*head.header("Content-Length"), std::to_string(html.body.size()));
  EXPECT_EQ(page.request(bhttp::verb::get, "/favicon.ico").status, 204);
}

}  // namespace
}  // namespace treve::itest

namespace treve::itest {
namespace {

TEST_F(AdminApi, TheAdminCommandCallsTheSameApi) {
  TempDir dir("treve-admin-cli");
  const std::string token = (dir.path() / "token").string();
  const std::string policy = (dir.path() / "policy.json").string();
  std::ofstream(token) << kDurandToken + "\n";
  std::ofstream(policy) << R"({"parent_grade_delay":"72h"})";
  const std::string admin = "127.0.0.1:" + std::to_string(daemon_.admin_port());
  auto set = run_treve({"admin", "--admin", admin, "--token-file", token, "policy", "set",
                        "--establishment", kUai, "--file", policy, "--comment",
                        "délai des notes porté à 72 h", "--confirm-weaker"});
  ASSERT_EQ(set.status, 0) << set;
  EXPECT_THAT(set.out, HasSubstr("\"version\": 1"));
  auto versions = run_treve(
      {"admin", "--admin", admin, "--token-file", token, "versions", "--establishment", kUai});
  ASSERT_EQ(versions.status, 0) << versions;
  EXPECT_THAT(versions.out, HasSubstr("délai des notes porté à 72 h"));
  // Out of scope: refused, on standard error, exit 1.
  auto refused = run_treve({"admin", "--admin", admin, "--token-file", token, "policy", "get",
                            "--establishment", kOtherUai});
  EXPECT_EQ(refused.status, 1) << refused;
  EXPECT_THAT(refused.err, HasSubstr("HTTP 403"));
  // No token at all.
  auto none = run_treve({"admin", "--admin", admin, "me"});
  EXPECT_EQ(none.status, 1);
  EXPECT_THAT(none.err, HasSubstr("TREVE_ADMIN_TOKEN"));
}

}  // namespace
}  // namespace treve::itest

namespace treve::itest {
namespace {

TEST_F(AdminApi, DeadLettersAreListedAndReplayedWithinScope) {
  HttpClient ingest(daemon_.port());
  ASSERT_EQ(ingest.post_event(simple_event("lost-1")).status, 202);
  ASSERT_EQ(ingest.post_event(other_school_event("lost-2", "u-2")).status, 202);
  make_held_dead();
  auto mine = parse(call(bhttp::verb::get, "/v1/admin/dead-letters", kDurandToken));
  ASSERT_EQ(mine.as_array().size(), 1u) << mine;  // only the school in scope
  const auto& letter = mine.as_array()[0].as_object();
  EXPECT_EQ(letter.at("event_id").as_string(), "lost-1");
  EXPECT_EQ(letter.at("last_error").as_string(), "HTTP 410");
  const std::int64_t seq = letter.at("seq").as_int64();
  auto all = parse(call(bhttp::verb::get, "/v1/admin/dead-letters", kRectoratToken));
  ASSERT_EQ(all.as_array().size(), 2u);
  std::int64_t other_seq = 0;
  for (const auto& d : all.as_array()) {
    if (d.as_object().at("event_id").as_string() == "lost-2")
      other_seq = d.as_object().at("seq").as_int64();
  }
  // Replaying another school's letter is refused as if it did not exist, and nothing is
  // replayed.
  auto refused =
      call(bhttp::verb::post, "/v1/admin/dead-letters/replay", kDurandToken,
           R"({"seqs":[)" + std::to_string(seq) + "," + std::to_string(other_seq) + "]}");
  EXPECT_EQ(refused.status, 404) << refused;
  EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE state = 'dead'"), 2);
  auto replayed = call(bhttp::verb::post, "/v1/admin/dead-letters/replay", kDurandToken,
                       R"({"seqs":[)" + std::to_string(seq) + "]}");
  ASSERT_EQ(replayed.status, 200) << replayed;
  EXPECT_EQ(parse(replayed).as_object().at("replayed").as_int64(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE state = 'dead'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'replayed'"), 1);
}

}  // namespace
}  // namespace treve::itest

namespace treve::itest {
namespace {

// A UAI taken from a query parameter is validated before anything uses it: an invalid one is
// 400 naming the parameter, for every token (a "*" scope included), and the daemon carries on.
TEST_F(AdminApi, AnInvalidUaiInAQueryIs400NamingTheParameter) {
  for (const std::string& token : {kRectoratToken, kDurandToken}) {
    for (const std::string path : {"queue", "dead-letters", "audit", "stats"}) {
      for (const std::string bad : {"0750654d", "0750654X", "75", "0750654D0"}) {
        SCOPED_TRACE(token + " " + path + " " + bad);
        auto r = call(bhttp::verb::get, "/v1/admin/" + path + "?establishment=" + bad, token);
        EXPECT_EQ(r.status, 400) << r;
        EXPECT_THAT(r.body, HasSubstr("urn:treve:problem:invalid-query"));
        EXPECT_THAT(r.body, HasSubstr("establishment"));
      }
    }
  }
  EXPECT_TRUE(daemon_.running());
  EXPECT_EQ(call(bhttp::verb::get, "/v1/admin/me", kRectoratToken).status, 200);
  // Not a refusal: nothing audited.
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), 0);
}

// RFC 9110: the scheme is case-insensitive, one or more spaces before the token.
TEST_F(AdminApi, TheBearerSchemeIsCaseInsensitiveOnBothListeners) {
  for (const std::string scheme : {"Bearer ", "bearer ", "BEARER ", "beArer   "}) {
    SCOPED_TRACE(scheme);
    auto admin = HttpClient(daemon_.admin_port())
                     .request(bhttp::verb::get, "/v1/admin/me", "",
                              {{"Authorization", scheme + kDurandToken}});
    EXPECT_EQ(admin.status, 200) << admin;
    // An unknown event is 404 only once the connector is known.
    auto ingest = HttpClient(daemon_.port())
                      .request(bhttp::verb::get, "/v1/events/never-sent", "",
                               {{"Authorization", scheme + kEntToken}});
    EXPECT_EQ(ingest.status, 404) << ingest;
  }
}

// A failed login is 401 on both listeners, and logged with the client's address and the reason,
// never with the token.
TEST_F(AdminApi, FailedLoginsAre401AndLoggedWithoutTheToken) {
  const std::vector<std::string> headers = {"",  // no header at all
                                            "Bearer",
                                            "Bearer ",
                                            "Basic ZHVyYW5kOnRva2Vu",
                                            "Bearer" + kDurandToken,
                                            "Bearer " + kDurandToken + " extra",
                                            "Bearer s3cret-nobody-has",
                                            "Bearer dur\"and\\token"};
  for (const auto& h : headers) {
    SCOPED_TRACE(h);
    Headers with;
    if (!h.empty())
      with.emplace_back("Authorization", h);
    auto admin =
        HttpClient(daemon_.admin_port()).request(bhttp::verb::get, "/v1/admin/me", "", with);
    EXPECT_EQ(admin.status, 401) << admin;
    auto ingest = HttpClient(daemon_.port()).request(bhttp::verb::get, "/v1/events/x", "", with);
    EXPECT_EQ(ingest.status, 401) << ingest;
  }
  ASSERT_TRUE(daemon_.wait_for_log("event=ingest.unauthorized", 5s));
  const std::string log = daemon_.stderr_log();
  EXPECT_EQ(daemon_.log_count("event=admin.unauthorized"), headers.size()) << log;
  EXPECT_EQ(daemon_.log_count("event=ingest.unauthorized"), headers.size()) << log;
  EXPECT_GE(daemon_.log_count("client=\"127.0.0.1:"), 2 * headers.size()) << log;
  EXPECT_THAT(log, HasSubstr("reason=\"missing Authorization header\""));
  EXPECT_THAT(log, HasSubstr("reason=\"the token matches no [[admins]] entry\""));
  EXPECT_THAT(log, HasSubstr("reason=\"the token matches no connector\""));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("s3cret-nobody-has")));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("ZHVyYW5kOnRva2Vu")));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("dur\"and")));
}

// The API's paths come from one table: an unknown path is 404, a known one asked with another
// method is 405 with the methods it takes.
TEST_F(AdminApi, UnknownPathsAre404AndOtherMethodsAre405WithAllow) {
  struct Case {
    bhttp::verb method;
    std::string target;
    int status;
    std::string allow;
  };
  const std::vector<Case> cases = {
      {bhttp::verb::get, "/v1/admin/nope", 404, ""},
      {bhttp::verb::get, "/v1/admin/", 404, ""},
      {bhttp::verb::get, "/v1/admin/me/more", 404, ""},
      {bhttp::verb::get, "/v1/admin/establishments/" + kUai, 404, ""},
      {bhttp::verb::get, "/v1/admin/establishments/" + kUai + "/nope", 404, ""},
      {bhttp::verb::get, "/v1/admin/establishments/" + kUai + "/policy/more", 404, ""},
      {bhttp::verb::get, "/v1/admin/establishments/0750654X/policy", 404, ""},
      {bhttp::verb::get, "/v1/admin/dead-letters/nope", 404, ""},
      {bhttp::verb::delete_, "/v1/admin/me", 405, "GET"},
      {bhttp::verb::patch, "/v1/admin/establishments/" + kUai + "/policy", 405, "GET, PUT"},
      {bhttp::verb::get, "/v1/admin/establishments/" + kUai + "/rollback", 405, "POST"},
      {bhttp::verb::get, "/v1/admin/establishments/" + kUai + "/preview", 405, "POST"},
      {bhttp::verb::get, "/v1/admin/establishments/" + kUai + "/ics", 405, "POST"},
      {bhttp::verb::post, "/v1/admin/establishments/" + kUai + "/versions", 405, "GET"},
      {bhttp::verb::post, "/v1/admin/queue?establishment=" + kUai, 405, "GET"},
      {bhttp::verb::post, "/v1/admin/dead-letters", 405, "GET"},
      {bhttp::verb::get, "/v1/admin/dead-letters/replay", 405, "POST"},
      {bhttp::verb::post, "/v1/admin/audit", 405, "GET"},
      {bhttp::verb::put, "/v1/admin/stats", 405, "GET"},
      {bhttp::verb::post, "/v1/admin/report", 405, "GET"},
      {bhttp::verb::post, "/v1/admin/events?source=ent&id=x", 405, "GET"},
      {bhttp::verb::get, "/v1/admin/events/x", 404, ""},
  };
  for (const auto& c : cases) {
    auto r = call(c.method, c.target, kRectoratToken);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << ": " << r;
    EXPECT_THAT(r.body, HasSubstr(c.status == 404 ? "not-found" : "method-not-allowed"));
    if (!c.allow.empty()) {
      EXPECT_EQ(r.header("Allow").value_or(""), c.allow) << c.target;
    }
  }
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), 0);
}

// A dead letter of another school is answered as one that does not exist (the refusal is still
// audited): the answer tells nothing of which school it belongs to.
TEST_F(AdminApi, ReplayingAnotherSchoolsDeadLetterIsAnsweredAsAnUnknownOne) {
  HttpClient ingest(daemon_.port());
  ASSERT_EQ(ingest.post_event(other_school_event("lost-other", "u-9")).status, 202);
  make_held_dead();
  const std::int64_t other = count("SELECT max(seq) FROM deliveries WHERE state = 'dead'");
  ASSERT_GT(other, 0);
  const std::int64_t unknown = other + 1000;
  auto theirs = call(bhttp::verb::post, "/v1/admin/dead-letters/replay", kDurandToken,
                     R"({"seqs":[)" + std::to_string(other) + "]}");
  auto none = call(bhttp::verb::post, "/v1/admin/dead-letters/replay", kDurandToken,
                   R"({"seqs":[)" + std::to_string(unknown) + "]}");
  EXPECT_EQ(theirs.status, 404) << theirs;
  EXPECT_EQ(none.status, 404) << none;
  EXPECT_THAT(theirs.body, ::testing::Not(HasSubstr(kOtherUai)));
  // The same answer but for the number asked.
  auto same_shape = [](const HttpResponse& r, std::int64_t seq) {
    auto o = r.object();
    std::string detail(o.at("detail").as_string());
    const std::string number = std::to_string(seq);
    if (detail.ends_with(number))
      detail.replace(detail.size() - number.size(), number.size(), "N");
    o["detail"] = detail;
    return json::serialize(o);
  };
  EXPECT_EQ(same_shape(theirs, other), same_shape(none, unknown));
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused' AND establishment = '" +
                  kOtherUai + "'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM deliveries WHERE state = 'dead'"), 1);
}

// The national windows, the first one named.
std::string windows_named(const std::string& name) {
  return R"({"quiet":[{"days":["mon","tue","wed","thu"],"start":"20:00","end":"07:00","name":")" +
         name + R"("},{"days":["fri"],"start":"20:00","end":"07:00","end_day":"mon"}]})";
}

// A PUT of them, confirmed (the harness's configuration has no public holidays: weaker).
std::string window_named(const std::string& name) {
  return R"({"policy":)" + windows_named(name) + R"(,"comment":"essai","confirm_weaker":true})";
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out += s;
  return out;
}

// The page's limits (64 characters for a window's name, 500 for a comment) hold on the server
// too, counted in characters, with the pointer and a French detail for the page.
TEST_F(AdminApi, TooLongWindowNamesAndCommentsAre400WithTheirPointerInFrench) {
  auto r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, window_named(repeat("n", 65)));
  ASSERT_EQ(r.status, 400) << r;
  auto errors = parse(r).as_object().at("errors").as_array();
  ASSERT_EQ(errors.size(), 1u) << r;
  EXPECT_EQ(errors[0].as_object().at("pointer").as_string(), "/policy/quiet/0/name");
  EXPECT_EQ(errors[0].as_object().at("detail").as_string(),
            "le nom ne peut dépasser 64 caractères (65 reçus)");
  EXPECT_THAT(std::string(errors[0].as_object().at("detail_en").as_string()),
              HasSubstr("at most 64 characters"));
  // A preview's draft is checked alike.
  r = call(bhttp::verb::post, policy_path(kUai, "preview"), kDurandToken,
           R"({"policy":)" + windows_named(repeat("n", 65)) + "}");
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_THAT(r.body, HasSubstr("/policy/quiet/0/name"));
  // 64 characters, some of them two bytes long, are accepted.
  r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, window_named(repeat("é", 64)));
  ASSERT_EQ(r.status, 200) << r;

  const std::string policy = R"({"policy":{},"confirm_weaker":true,"comment":")";
  r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, policy + repeat("c", 501) + "\"}");
  ASSERT_EQ(r.status, 400) << r;
  auto o = parse(r).as_object();
  EXPECT_EQ(o.at("pointer").as_string(), "/comment");
  ASSERT_EQ(o.at("errors").as_array().size(), 1u);
  EXPECT_EQ(o.at("errors").as_array()[0].as_object().at("pointer").as_string(), "/comment");
  EXPECT_EQ(o.at("errors").as_array()[0].as_object().at("detail").as_string(),
            "le commentaire ne peut dépasser 500 caractères (501 reçus)");
  EXPECT_EQ(o.at("errors").as_array()[0].as_object().at("code").as_string(),
            "policy.comment_too_long");
  r = call(bhttp::verb::post, policy_path(kUai, "rollback"), kDurandToken,
           R"({"version":1,"comment":")" + repeat("c", 501) + "\"}");
  ASSERT_EQ(r.status, 400) << r;
  EXPECT_THAT(r.body, HasSubstr("/comment"));
  r = call(bhttp::verb::put, policy_path(kUai), kDurandToken, policy + repeat("ç", 500) + "\"}");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(count("SELECT count(*) FROM policy_versions"), 2);
}

// An .ics import's warnings come in English and, with their code, in French for the page; a
// body that is no calendar is refused with its code and its French detail.
TEST_F(AdminApi, IcsImportWarningsAndErrorsCarryTheirCodeAndTheirFrench) {
  auto r = call(bhttp::verb::post, policy_path(kUai, "ics"), kDurandToken,
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261111\r\n"
                "SUMMARY:Armistice\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART:20261112T180000Z\r\n"
                "SUMMARY:Réunion\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
  ASSERT_EQ(r.status, 200) << r;
  auto o = parse(r).as_object();
  EXPECT_EQ(o.at("ignored").as_int64(), 1);
  ASSERT_EQ(o.at("warnings").as_array().size(), 1u);
  EXPECT_EQ(o.at("warnings").as_array()[0].as_string(),
            "line 7: event \"Réunion\" has a time, not a whole day: ignored");
  ASSERT_EQ(o.at("warning_details").as_array().size(), 1u);
  const auto& w = o.at("warning_details").as_array()[0].as_object();
  EXPECT_EQ(w.at("code").as_string(), "ics.timed_event");
  EXPECT_EQ(w.at("detail").as_string(),
            "ligne 7 : l'événement « Réunion » a une heure, ce n'est pas une journée entière : "
            "ignoré");
  EXPECT_EQ(w.at("detail_en").as_string(), o.at("warnings").as_array()[0].as_string());

  r = call(bhttp::verb::post, policy_path(kUai, "ics"), kDurandToken, "pas un calendrier\n");
  ASSERT_EQ(r.status, 400) << r;
  o = parse(r).as_object();
  EXPECT_EQ(o.at("detail").as_string(), "not an iCalendar file (no VCALENDAR)");
  EXPECT_EQ(o.at("code").as_string(), "ics.no_vcalendar");
  ASSERT_EQ(o.at("errors").as_array().size(), 1u);
  EXPECT_EQ(o.at("errors").as_array()[0].as_object().at("detail").as_string(),
            "ce n'est pas un fichier iCalendar (pas de VCALENDAR)");
}

// Every key of a rollback and of a preview is checked as a PUT's are: an unknown key, or a value
// of the wrong type, is 400 with its pointer.
TEST_F(AdminApi, RollbackAndPreviewRefuseUnknownKeysAndWrongTypesWithPointers) {
  ASSERT_EQ(call(bhttp::verb::put, policy_path(kUai), kDurandToken, kWeekdays).status, 200);
  struct Case {
    std::string what;
    std::string body;
    std::string pointer;
  };
  const std::vector<Case> cases = {
      {"rollback", R"({"version":1,"comment":"x","force":true})", "/force"},
      {"rollback", R"({"version":1,"comment":"x","confirm_weaker":"yes"})", "/confirm_weaker"},
      {"preview", R"({"at":20261127})", "/at"},
      {"preview", R"({"category":7})", "/category"},
      {"preview", R"({"role":["parent"]})", "/role"},
      {"preview", R"({"role":"parent","colour":"blue"})", "/colour"},
  };
  for (const auto& c : cases) {
    auto r = call(bhttp::verb::post, policy_path(kUai, c.what), kDurandToken, c.body);
    EXPECT_EQ(r.status, 400) << c.body << ": " << r;
    EXPECT_THAT(r.body, HasSubstr("invalid-field")) << c.body;
    EXPECT_EQ(r.status == 400 ? std::string(parse(r).as_object().at("pointer").as_string()) : "",
              c.pointer)
        << c.body;
  }
  // null counts as absent, as in a PUT.
  auto r = call(bhttp::verb::post, policy_path(kUai, "preview"), kDurandToken,
                R"({"at":null,"category":null,"role":null,"policy":null})");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(count("SELECT count(*) FROM policy_versions"), 1);
}

// Query parameters are percent-decoded as RFC 3986 says; a malformed escape is 400.
TEST_F(AdminApi, QueryParametersArePercentDecodedAndAMalformedEscapeIs400) {
  auto r = call(bhttp::verb::get, "/v1/admin/queue?establishment=0750654%44", kDurandToken);
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(parse(r).as_object().at("establishment").as_string(), kUai);
  r = call(bhttp::verb::get,
           "/v1/admin/audit?establishment=" + kUai + "&from=2026-11-29T00:00:00%2B01:00",
           kDurandToken);
  EXPECT_EQ(r.status, 200) << r;
  for (const std::string q : {"kind=%ZZ", "kind=%4", "kind=held%", "establishment=%G0750654D"}) {
    SCOPED_TRACE(q);
    r = call(bhttp::verb::get, "/v1/admin/audit?" + q, kDurandToken);
    EXPECT_EQ(r.status, 400) << r;
    EXPECT_THAT(r.body, HasSubstr("invalid-query"));
  }
}

// ---- GET /v1/admin/events: one notification, one entry per copy ----------------------------

// Two webhook sinks: "ent-push" takes every copy and accepts it, "mail-parents" takes the
// parents' copies and refuses them for good (400: dead at the first attempt).
class AdminEvents : public ::testing::Test {
 protected:
  AdminEvents()
      : mail_([](const WebhookRequest&, int) {
          WebhookResponse refused;
          refused.status = 400;
          return refused;
        }),
        daemon_(options()) {
    daemon_.start();
  }

  DaemonOptions options() {
    DaemonOptions o = admin_options();
    const std::string secret = dir_.write("hook.secret", make_webhook_secret() + "\n");
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    std::ostringstream c;
    c << "\n[[sinks]]\nname = \"ent-push\"\ntype = \"webhook\"\nurl = \"" << push_.url()
      << "\"\nsecret_file = \"" << secret << "\"\n"
      << "\n[[sinks]]\nname = \"mail-parents\"\ntype = \"webhook\"\nurl = \"" << mail_.url()
      << "\"\nsecret_file = \"" << secret << "\"\nroles = [\"parent\"]\n";
    o.extra_config += c.str();
    return o;
  }

  HttpResponse get(const std::string& source, const std::string& id, const std::string& token) {
    return HttpClient(daemon_.admin_port())
        .request(bhttp::verb::get, "/v1/admin/events?source=" + source + "&id=" + id, "",
                 {{"Authorization", "Bearer " + token}});
  }
  std::int64_t count(const std::string& sql) {
    Db db(daemon_.db_path());
    auto rows = db.query(sql);
    return rows.empty() || !rows[0][0] ? -1 : std::stoll(*rows[0][0]);
  }
  std::string pseudonym_in_trail(const std::string& event_id, const std::string& role) {
    Db db(daemon_.db_path());
    auto rows = db.query("SELECT DISTINCT recipient FROM audit WHERE event_id = '" + event_id +
                         "' AND role = '" + role + "'");
    return rows.size() == 1 && rows[0][0] ? *rows[0][0] : "";
  }
  // The copy of `role` to `sink`.
  static json::object copy_of(const json::object& event, const std::string& role,
                              const std::string& sink) {
    for (const auto& d : event.at("deliveries").as_array()) {
      const auto& o = d.as_object();
      if (o.at("role").as_string() == role && o.at("sink").is_string() &&
          o.at("sink").as_string() == sink)
        return o;
    }
    ADD_FAILURE() << "no copy for " << role << " to " << sink << ": " << json::serialize(event);
    return {};
  }

  TempDir dir_{"treve-admin-events"};
  WebhookReceiver push_;
  WebhookReceiver mail_;
  Daemon daemon_;
};

// Both events have a student and a parent: the student's copy goes to ent-push, the parent's to
// ent-push and mail-parents. A held event shows its copies held until the same instant; an
// urgent one shows what became of each copy, sink by sink.
TEST_F(AdminEvents, EachCopyIsListedWithItsSinkStateAttemptsAndError) {
  HttpClient ingest(daemon_.port());
  EventSpec held;
  held.id = "note-88";
  held.recipients = {{"eleve-4521", "student", ""}, {"parent-77", "parent", "eleve-4521"}};
  ASSERT_EQ(ingest.post_event(event_body(held)).status, 202);
  EventSpec alert = held;
  alert.id = "alerte-1";
  alert.category = "alert";
  alert.urgent = true;
  ASSERT_EQ(ingest.post_event(event_body(alert), kAlertToken).status, 202);

  auto r = get("ent", "note-88", kDurandToken);
  ASSERT_EQ(r.status, 200) << r;
  auto event = r.object();
  EXPECT_EQ(event.at("source").as_string(), "ent");
  EXPECT_EQ(event.at("id").as_string(), "note-88");
  EXPECT_EQ(event.at("establishment").as_string(), kUai);
  EXPECT_EQ(event.at("category").as_string(), "message");
  EXPECT_TRUE(parse_instant(std::string(event.at("received_at").as_string())));
  ASSERT_EQ(event.at("deliveries").as_array().size(), 3u) << r;
  for (const auto& [role, sink] : std::vector<std::pair<std::string, std::string>>{
           {"student", "ent-push"}, {"parent", "ent-push"}, {"parent", "mail-parents"}}) {
    SCOPED_TRACE(role + " to " + sink);
    const auto c = copy_of(event, role, sink);
    if (c.empty())
      continue;
    EXPECT_EQ(c.at("state").as_string(), "held");
    EXPECT_EQ(c.at("attempts").as_int64(), 0);
    EXPECT_TRUE(parse_instant(std::string(c.at("release_at").as_string())));
    EXPECT_TRUE(c.at("released_at").is_null());
    EXPECT_TRUE(c.at("last_error").is_null());
    EXPECT_TRUE(c.at("digest").is_null());
    EXPECT_TRUE(parse_instant(std::string(c.at("updated_at").as_string())));
    EXPECT_GT(c.at("seq").as_int64(), 0);
    // The recipient as the audit trail names it, never as the connector does.
    EXPECT_EQ(c.at("recipient").as_string(), pseudonym_in_trail("note-88", role));
    EXPECT_EQ(c.at("recipient").as_string().size(), 32u);
  }
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("eleve-4521")));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("parent-77")));

  // The urgent one, once every copy has had its attempt.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (count("SELECT count(*) FROM deliveries WHERE state IN ('due', 'sending', 'retrying')") >
             0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  r = get("alert", "alerte-1", kDurandToken);
  ASSERT_EQ(r.status, 200) << r;
  event = r.object();
  EXPECT_EQ(event.at("category").as_string(), "alert");
  ASSERT_EQ(event.at("deliveries").as_array().size(), 3u) << r;
  for (const std::string role : {"student", "parent"}) {
    SCOPED_TRACE(role);
    const auto c = copy_of(event, role, "ent-push");
    if (c.empty())
      continue;
    EXPECT_EQ(c.at("state").as_string(), "delivered");
    EXPECT_EQ(c.at("attempts").as_int64(), 1);
    EXPECT_TRUE(c.at("last_error").is_null());
    EXPECT_TRUE(parse_instant(std::string(c.at("released_at").as_string())));
  }
  const auto dead = copy_of(event, "parent", "mail-parents");
  if (!dead.empty()) {
    EXPECT_EQ(dead.at("state").as_string(), "dead");
    EXPECT_EQ(dead.at("attempts").as_int64(), 1);
    EXPECT_THAT(std::string(dead.at("last_error").as_string()), HasSubstr("400"));
    EXPECT_TRUE(parse_instant(std::string(dead.at("released_at").as_string())));
  }
  EXPECT_EQ(push_.count(), 2u);
  EXPECT_EQ(mail_.count(), 1u);
}

// An auditor reads it too (in scope): it holds nothing the audit trail does not already show
// an auditor.
TEST_F(AdminEvents, AnAuditorInScopeReadsItAsAnAdminDoes) {
  HttpClient ingest(daemon_.port());
  ASSERT_EQ(ingest.post_event(simple_event("msg-1", 2)).status, 202);
  auto admin = get("ent", "msg-1", kDurandToken);
  auto auditor = get("ent", "msg-1", kDpdToken);
  ASSERT_EQ(admin.status, 200) << admin;
  ASSERT_EQ(auditor.status, 200) << auditor;
  EXPECT_EQ(admin.body, auditor.body);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), 0);
}

// Another school's event is answered exactly as an unknown one, for an admin as for an
// auditor, and the attempt is audited naming that school; an admin of every school reads it.
TEST_F(AdminEvents, AnotherSchoolsEventIsAnsweredAsAnUnknownOneAndAudited) {
  HttpClient ingest(daemon_.port());
  EventSpec spec;
  spec.id = "msg-other";
  spec.establishment = kOtherUai;
  ASSERT_EQ(ingest.post_event(event_body(spec)).status, 202);

  auto unknown = get("ent", "msg-none", kDurandToken);
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_THAT(*unknown.header("Content-Type"), HasSubstr("application/problem+json"));
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), 0);
  for (const std::string& token : {kDurandToken, kDpdToken}) {
    auto theirs = get("ent", "msg-other", token);
    EXPECT_EQ(theirs.status, 404) << theirs;
    EXPECT_EQ(theirs.body, unknown.body);
    EXPECT_THAT(theirs.body, ::testing::Not(HasSubstr(kOtherUai)));
  }
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused' AND establishment = '" +
                  kOtherUai + "' AND detail LIKE '%\"path\":\"/v1/admin/events\"%'"),
            2);
  // Its own connector's id only: the same id from another connector is another event.
  EXPECT_EQ(get("alert", "msg-other", kRectoratToken).status, 404);
  auto rectorat = get("ent", "msg-other", kRectoratToken);
  ASSERT_EQ(rectorat.status, 200) << rectorat;
  EXPECT_EQ(rectorat.object().at("establishment").as_string(), kOtherUai);
}

// source and id are both required; a bad query is 400 invalid-query naming the parameter.
TEST_F(AdminEvents, ABadQueryIs400NamingTheParameter) {
  struct Case {
    std::string query;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"", "source=CONNECTOR is required"},
      {"?id=msg-1", "source=CONNECTOR is required"},
      {"?source=&id=msg-1", "source=CONNECTOR is required"},
      {"?source=ent", "id=EVENT_ID is required"},
      {"?source=ent&id=", "id=EVENT_ID is required"},
      {"?source=ent&id=a&id=b", "id: given more than once"},
      {"?source=ent&id=%ZZ", "the query string is not valid percent-encoded text"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.query);
    auto r = HttpClient(daemon_.admin_port())
                 .request(bhttp::verb::get, "/v1/admin/events" + c.query, "",
                          {{"Authorization", "Bearer " + kDpdToken}});
    EXPECT_EQ(r.status, 400) << r;
    EXPECT_THAT(*r.header("Content-Type"), HasSubstr("application/problem+json"));
    EXPECT_EQ(r.object().at("type").as_string(), "urn:treve:problem:invalid-query");
    EXPECT_EQ(r.object().at("detail").as_string(), c.detail);
  }
  // An id is percent-decoded: "note 88" is found as %20 and as +.
  HttpClient ingest(daemon_.port());
  EventSpec spec;
  spec.id = "note 88+1";
  ASSERT_EQ(ingest.post_event(event_body(spec)).status, 202);
  EXPECT_EQ(get("ent", "note%2088%2B1", kDurandToken).status, 200);
  EXPECT_EQ(get("ent", "note+88%2B1", kDurandToken).status, 200);
  EXPECT_EQ(HttpClient(daemon_.admin_port())
                .request(bhttp::verb::get, "/v1/admin/events?source=ent&id=msg-1", "", {})
                .status,
            401);
}

}  // namespace
}  // namespace treve::itest
