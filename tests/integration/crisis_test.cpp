// Crisis mode through the real daemon (docs/policy.md "Crisis mode"): opening with
// release_held sends that school's held notifications at once to a real webhook receiver and no
// other school's; during the crisis covered notifications go out at once and say why; uncovered
// categories and other schools stay held; the 72 h limit, the reason, role and scope; extension;
// closing by an admin and by itself at its end instant (also while the daemon was down); a
// reload keeps it; every crisis has its records and the trail verifies; `treve explain` and the
// preview name it.
#include <csignal>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kOtherUai = "0250001R";  // out of Mme Durand's scope

class Crisis : public ::testing::Test {
 protected:
  Crisis() : daemon_(options()) { daemon_.start(); }

  DaemonOptions options() {
    DaemonOptions o;
    o.admin_listen = "127.0.0.1:0";
    std::ostringstream c;
    c << "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" << sha256_hex(kDurandToken)
      << "\"\nrole = \"admin\"\nscope = [\"" << kUai << "\"]\n"
      << "\n[[admins]]\nname = \"DPD\"\ntoken_sha256 = \"" << sha256_hex(kDpdToken)
      << "\"\nrole = \"auditor\"\nscope = [\"" << kUai << "\"]\n";
    const std::string secret = dir_.write("hook.secret", make_webhook_secret() + "\n");
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    c << "\n[[sinks]]\nname = \"ent-push\"\ntype = \"webhook\"\nurl = \"" << push_.url()
      << "\"\nsecret_file = \"" << secret << "\"\n";
    o.extra_config = c.str();
    return o;
  }

  HttpResponse call(bhttp::verb method, const std::string& target, const std::string& token,
                    const std::string& body = "") {
    HttpClient client(daemon_.admin_port());
    Headers h{{"Content-Type", "application/json"}};
    h.emplace_back("Authorization", "Bearer " + token);
    return client.request(method, target, body, h);
  }
  static std::string crises(const std::string& uai, const std::string& rest = "") {
    return "/v1/admin/establishments/" + uai + "/crises" + rest;
  }
  static std::string until_in(std::chrono::milliseconds d) {
    return utc_rfc3339(std::chrono::system_clock::now() + d);
  }
  static std::string open_body(const std::string& until, const std::string& extra = "") {
    return R"({"reason":"Tempête : établissement fermé","until":")" + until + "\"" + extra + "}";
  }
  std::int64_t count(const std::string& sql) {
    Db db(daemon_.db_path());
    auto rows = db.query(sql);
    return rows.empty() || !rows[0][0] ? -1 : std::stoll(*rows[0][0]);
  }
  HttpResponse post(const std::string& id, const std::string& category = "message",
                    const std::string& uai = kUai) {
    EventSpec spec;
    spec.id = id;
    spec.category = category;
    spec.establishment = uai;
    return HttpClient(daemon_.port()).post_event(event_body(spec));
  }
  static json::object first_delivery(const HttpResponse& r) {
    return r.object().at("deliveries").as_array().at(0).as_object();
  }
  bool delivered_to_sink(const std::string& id) {
    for (const auto& r : push_.requests()) {
      if (r.body.find("\"" + id + "\"") != std::string::npos)
        return true;
    }
    return false;
  }
  // Every crisis has its crisis_opened record and, once closed, its crisis_closed record; and
  // the whole trail verifies.
  void expect_every_crisis_recorded() {
    EXPECT_EQ(count("SELECT count(*) FROM crises c WHERE NOT EXISTS (SELECT 1 FROM audit a "
                    "WHERE a.kind = 'crisis_opened' AND a.establishment = c.uai AND a.detail "
                    "LIKE '{\"crisis\":' || c.id || ',%')"),
              0);
    EXPECT_EQ(count("SELECT count(*) FROM crises c WHERE c.closed_at IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM audit a WHERE a.kind = 'crisis_closed' AND a.establishment = "
                    "c.uai AND a.detail LIKE '{\"crisis\":' || c.id || ',%')"),
              0);
    auto verified = run_treve({"audit", "verify", "--state-dir", daemon_.state_dir()});
    EXPECT_EQ(verified.status, 0) << verified;
  }

  TempDir dir_{"treve-crisis"};
  WebhookReceiver push_;
  Daemon daemon_;
};

TEST_F(Crisis, OpeningReleasesThatSchoolsHeldNotificationsAndDeliversNewOnesAtOnce) {
  ASSERT_TRUE(first_delivery(post("m1")).at("held").as_bool());
  ASSERT_TRUE(first_delivery(post("g1", "grade")).at("held").as_bool());
  ASSERT_TRUE(first_delivery(post("o1", "message", kOtherUai)).at("held").as_bool());

  auto r = call(bhttp::verb::post, crises(kUai), kDurandToken,
                open_body(until_in(std::chrono::hours{2}),
                          R"(,"categories":["message","news"],"release_held":true)"));
  ASSERT_EQ(r.status, 201) << r;
  const auto crisis = r.object();
  const std::int64_t id = crisis.at("id").to_number<std::int64_t>();
  EXPECT_TRUE(crisis.at("open").as_bool());
  EXPECT_EQ(crisis.at("opened_by").as_string(), "Mme Durand");
  EXPECT_EQ(json::serialize(crisis.at("categories")), R"(["message","news"])");
  EXPECT_EQ(crisis.at("replanned").to_number<std::int64_t>(), 1);

  // The held message of this school went out at once; not its grade, nor the other school's.
  ASSERT_TRUE(push_.wait_for_count(1, 10s)) << daemon_.stderr_log();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(push_.count(), 1u);
  EXPECT_TRUE(delivered_to_sink("m1"));
  EXPECT_FALSE(delivered_to_sink("g1"));
  EXPECT_FALSE(delivered_to_sink("o1"));

  // Received during the crisis: delivered at once, the crisis named in the answer and later.
  r = post("m2");
  ASSERT_EQ(r.status, 202) << r;
  const auto m2 = first_delivery(r);
  EXPECT_FALSE(m2.at("held").as_bool()) << r;
  const std::string named = "crisis " + std::to_string(id);
  EXPECT_THAT(std::string(m2.at("reason").as_string()), HasSubstr(named));
  EXPECT_THAT(std::string(m2.at("reason").as_string()), HasSubstr("Tempête"));
  ASSERT_TRUE(push_.wait_for_count(2, 10s));
  auto state = HttpClient(daemon_.port()).get_event("m2");
  ASSERT_EQ(state.status, 200) << state;
  EXPECT_THAT(state.body, HasSubstr(named));
  state = HttpClient(daemon_.port()).get_event("m1");
  EXPECT_THAT(state.body, HasSubstr(named)) << state;
  // Not covered: held as ever; another school: held.
  EXPECT_TRUE(first_delivery(post("g2", "grade")).at("held").as_bool());
  EXPECT_TRUE(first_delivery(post("o2", "message", kOtherUai)).at("held").as_bool());

  // GET /metrics counts it.
  r = call(bhttp::verb::get, "/metrics", kDpdToken);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, HasSubstr("treve_crises_open{establishment=\"" + kUai + "\"} 1\n"));

  // The preview says so too.
  r = call(bhttp::verb::post, "/v1/admin/establishments/" + kUai + "/preview", kDpdToken,
           R"({"category":"message"})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_FALSE(r.object().at("held").as_bool());
  EXPECT_THAT(std::string(r.object().at("reason").as_string()), HasSubstr(named));
  EXPECT_THAT(std::string(r.object().at("summary").as_string()), HasSubstr("mode crise"));

  // `treve explain` at an instant inside the crisis names it.
  auto explained = run_treve({"explain", "--config", daemon_.config_path(), "--establishment", kUai,
                              "--category", "message", "--role", "student", "--at",
                              until_in(std::chrono::minutes{30})});
  EXPECT_EQ(explained.status, 0) << explained;
  EXPECT_THAT(explained.out, HasSubstr(named));

  // One at a time per school.
  r = call(bhttp::verb::post, crises(kUai), kDurandToken, open_body(until_in(1h)));
  EXPECT_EQ(r.status, 409) << r;
  EXPECT_THAT(r.body, HasSubstr("crisis-open"));

  // A reload keeps it.
  ::kill(daemon_.pid(), SIGHUP);
  ASSERT_TRUE(daemon_.wait_for_log("event=config.reloaded", 10s));
  EXPECT_FALSE(first_delivery(post("m3")).at("held").as_bool());

  // Closed by the admin: held again.
  r = call(bhttp::verb::post, crises(kUai, "/" + std::to_string(id) + "/close"), kDurandToken);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_FALSE(r.object().at("open").as_bool());
  EXPECT_EQ(r.object().at("closed_by").as_string(), "Mme Durand");
  EXPECT_TRUE(first_delivery(post("m4")).at("held").as_bool());
  r = call(bhttp::verb::post, crises(kUai, "/" + std::to_string(id) + "/close"), kDurandToken);
  EXPECT_EQ(r.status, 409) << r;
  r = call(bhttp::verb::post, crises(kUai, "/" + std::to_string(id) + "/extend"), kDurandToken,
           R"({"until":")" + until_in(3h) + "\"}");
  EXPECT_EQ(r.status, 409) << r;

  r = call(bhttp::verb::get, crises(kUai), kDpdToken);
  ASSERT_EQ(r.status, 200) << r;
  ASSERT_EQ(json::parse(r.body).as_array().size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'crisis_opened' AND detail LIKE "
                  "'%\"release_held\":true%' AND detail LIKE '%\"by\":\"Mme Durand\"%'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'crisis_closed' AND detail LIKE "
                  "'%\"by\":\"Mme Durand\"%'"),
            1);
  expect_every_crisis_recorded();
}

TEST_F(Crisis, BadInputRoleAndScopeAreRefused) {
  struct Case {
    std::string body;
    std::string pointer;
  };
  const std::vector<Case> cases = {
      {R"({"until":")" + until_in(1h) + "\"}", "/reason"},
      {R"({"reason":"  ","until":")" + until_in(1h) + "\"}", "/reason"},
      {R"({"reason":")" + std::string(501, 'x') + R"(","until":")" + until_in(1h) + "\"}",
       "/reason"},
      {open_body(until_in(73h)), "/until"},
      {open_body(until_in(-1min)), "/until"},
      {open_body("demain"), "/until"},
      {R"({"reason":"x"})", "/until"},
      {open_body(until_in(1h), R"(,"categories":["message","notes"])"), "/categories/1"},
      {open_body(until_in(1h), R"(,"categories":[])"), "/categories"},
      {open_body(until_in(1h), R"(,"release_held":"oui")"), "/release_held"},
      {open_body(until_in(1h), R"(,"by":"quelqu'un")"), "/by"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = call(bhttp::verb::post, crises(kUai), kDurandToken, c.body);
    EXPECT_EQ(r.status, 400) << r;
    EXPECT_THAT(*r.header("Content-Type"), HasSubstr("application/problem+json"));
    EXPECT_THAT(r.body, HasSubstr("\"pointer\":\"" + c.pointer + "\""));
  }
  // Out of scope, and an auditor: 403, each audited.
  auto r = call(bhttp::verb::post, crises(kOtherUai), kDurandToken, open_body(until_in(1h)));
  EXPECT_EQ(r.status, 403) << r;
  r = call(bhttp::verb::get, crises(kOtherUai), kDurandToken);
  EXPECT_EQ(r.status, 403) << r;
  r = call(bhttp::verb::post, crises(kUai), kDpdToken, open_body(until_in(1h)));
  EXPECT_EQ(r.status, 403) << r;
  r = call(bhttp::verb::post, crises(kUai, "/1/close"), kDpdToken);
  EXPECT_EQ(r.status, 403) << r;
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'access_refused'"), 4);
  r = call(bhttp::verb::get, crises(kUai), kDpdToken);
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(count("SELECT count(*) FROM crises"), 0);
  // Unknown crisis.
  r = call(bhttp::verb::post, crises(kUai, "/7/close"), kDurandToken);
  EXPECT_EQ(r.status, 404) << r;
  r = call(bhttp::verb::post, crises(kUai, "/sept/close"), kDurandToken);
  EXPECT_EQ(r.status, 404) << r;

  // Extension: later than now's end, at most 72 h ahead, audited with the previous end.
  r = call(bhttp::verb::post, crises(kUai), kDurandToken, open_body(until_in(2h)));
  ASSERT_EQ(r.status, 201) << r;
  const std::string id = std::to_string(r.object().at("id").to_number<std::int64_t>());
  r = call(bhttp::verb::post, crises(kUai, "/" + id + "/extend"), kDurandToken,
           R"({"until":")" + until_in(1h) + "\"}");
  EXPECT_EQ(r.status, 400) << r;
  r = call(bhttp::verb::post, crises(kUai, "/" + id + "/extend"), kDurandToken,
           R"({"until":")" + until_in(73h) + "\"}");
  EXPECT_EQ(r.status, 400) << r;
  r = call(bhttp::verb::post, crises(kUai, "/" + id + "/extend"), kDurandToken,
           R"({"until":")" + until_in(71h) + "\"}");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'crisis_extended' AND detail LIKE "
                  "'%\"previous_until\":%' AND detail LIKE '%\"by\":\"Mme Durand\"%'"),
            1);
  expect_every_crisis_recorded();
}

TEST_F(Crisis, ItClosesByItselfAtItsEndEvenWhileTheDaemonIsDown) {
  auto r = call(bhttp::verb::post, crises(kUai), kDurandToken, open_body(until_in(2s)));
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_FALSE(first_delivery(post("m1")).at("held").as_bool());
  ASSERT_TRUE(daemon_.wait_for_log("event=crisis.expired", 10s)) << daemon_.stderr_log();
  EXPECT_EQ(count("SELECT count(*) FROM audit WHERE kind = 'crisis_closed' AND detail LIKE "
                  "'%\"by\":\"expiry\"%'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM crises WHERE closed_by = 'expiry'"), 1);
  EXPECT_TRUE(first_delivery(post("m2")).at("held").as_bool());

  // Ended while the daemon was stopped: closed at the next start.
  r = call(bhttp::verb::post, crises(kUai), kDurandToken, open_body(until_in(3s)));
  ASSERT_EQ(r.status, 201) << r;
  ASSERT_EQ(daemon_.stop(), 0);
  std::this_thread::sleep_for(3500ms);
  daemon_.start();
  EXPECT_EQ(count("SELECT count(*) FROM crises WHERE closed_by = 'expiry'"), 2);
  EXPECT_TRUE(first_delivery(post("m3")).at("held").as_bool());
  expect_every_crisis_recorded();
}

TEST_F(Crisis, TheCommandLineOpensExtendsListsAndClosesACrisis) {
  const std::string token = dir_.write("durand.token", kDurandToken + "\n");
  const std::string admin = "127.0.0.1:" + std::to_string(daemon_.admin_port());
  auto treve = [&](std::vector<std::string> args) {
    std::vector<std::string> all = {"admin", "--admin", admin, "--token-file", token, "crisis"};
    all.insert(all.end(), args.begin(), args.end());
    return run_treve(all);
  };
  auto opened = treve({"open", "--establishment", kUai, "--reason", "Confinement", "--until",
                       until_in(6h), "--category", "message", "--category", "alert"});
  ASSERT_EQ(opened.status, 0) << opened;
  const auto crisis = json::parse(opened.out).as_object();
  const std::string id = std::to_string(crisis.at("id").to_number<std::int64_t>());
  EXPECT_EQ(json::serialize(crisis.at("categories")), R"(["message","alert"])");
  EXPECT_FALSE(first_delivery(post("m1")).at("held").as_bool());
  EXPECT_TRUE(first_delivery(post("n1", "news")).at("held").as_bool());
  auto extended = treve({"extend", "--establishment", kUai, "--id", id, "--until", until_in(48h)});
  EXPECT_EQ(extended.status, 0) << extended;
  auto too_far = treve({"extend", "--establishment", kUai, "--id", id, "--until", until_in(80h)});
  EXPECT_EQ(too_far.status, 1) << too_far;
  EXPECT_THAT(too_far.err, HasSubstr("HTTP 400"));
  auto listed = treve({"list", "--establishment", kUai});
  ASSERT_EQ(listed.status, 0) << listed;
  EXPECT_THAT(listed.out, HasSubstr("Confinement"));
  auto closed = treve({"close", "--establishment", kUai, "--id", id});
  EXPECT_EQ(closed.status, 0) << closed;
  EXPECT_THAT(closed.out, HasSubstr("\"closed_by\": \"Mme Durand\""));
  auto again = treve({"close", "--establishment", kUai, "--id", id});
  EXPECT_EQ(again.status, 1) << again;
  EXPECT_THAT(again.err, HasSubstr("crisis-closed"));
  auto other =
      treve({"open", "--establishment", kOtherUai, "--reason", "x", "--until", until_in(1h)});
  EXPECT_EQ(other.status, 1) << other;
  EXPECT_THAT(other.err, HasSubstr("HTTP 403"));
  expect_every_crisis_recorded();
}

}  // namespace
}  // namespace treve::itest
