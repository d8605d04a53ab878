// The report to the conseil d'administration from a real trail: the daemon, on a clock moved
// through one week of December 2026 by the test hook `[testing] clock_start` (one start per
// moment, all on the same state directory), receives events on a Tuesday evening, on a
// Wednesday morning and on a Saturday, releases them at the ends of the national quiet windows
// and delivers them to a webhook; then `treve report` counts them, in HTML and in PDF, and the
// admin API answers the same report (200, 403 out of scope, 400 for bad dates).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "policy/rfc3339.h"
#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kOtherUai = "0250001R";  // outside the auditor's scope
const std::string kAuditorToken = "auditor-token-for-the-report-0123456789";

std::chrono::system_clock::time_point instant(const std::string& rfc3339) {
  auto t = policy::parse_rfc3339(rfc3339);
  if (!t)
    throw std::runtime_error("bad instant " + rfc3339);
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      std::chrono::sys_time<std::chrono::milliseconds>(t->time_since_epoch()));
}

// The daemon on `state_dir`, its clock starting at `at`.
class Moment {
 public:
  Moment(const std::string& state_dir, const std::string& hook_url, const std::string& secret,
         const std::string& at)
      : daemon_(options(state_dir, hook_url, secret, at)) {
    daemon_.start();
  }
  Daemon& daemon() { return daemon_; }
  void post(const EventSpec& e) {
    auto r = HttpClient(daemon_.port()).post_event(event_body(e));
    ASSERT_EQ(r.status, 202) << r.body;
  }
  // Waits until the trail holds `n` records of `kind`.
  void wait_for(const std::string& kind, int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int have = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      Db db(daemon_.db_path());
      auto rows = db.query("SELECT count(*) FROM audit WHERE kind = '" + kind + "'");
      have = rows.empty() ? 0 : std::stoi(*rows[0][0]);
      if (have >= n)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "waited for " << n << " " << kind << " records, have " << have << "\n"
           << daemon_.stderr_log().substr(0, 4000);
  }

 private:
  static DaemonOptions options(const std::string& state_dir, const std::string& hook_url,
                               const std::string& secret, const std::string& at) {
    DaemonOptions o = with_rectorat_admin();
    o.state_dir = state_dir;
    o.timezone = "Europe/Paris";
    o.national_windows = true;
    o.extra_config += "\n[[admins]]\nname = \"DPD\"\ntoken_sha256 = \"" +
                      sha256_hex(kAuditorToken) + "\"\nrole = \"auditor\"\nscope = [\"" + kUai +
                      "\"]\n";
    o.extra_config += "\n[[sinks]]\nname = \"ent-push\"\ntype = \"webhook\"\nurl = \"" + hook_url +
                      "\"\nsecret_file = \"" + secret + "\"\n";
    o.clock_offset = std::chrono::duration_cast<std::chrono::milliseconds>(
        instant(at) - std::chrono::system_clock::now());
    return o;
  }
  Daemon daemon_;
};

TEST(CouncilReport, CountsAWeekOfEveningsAndAWeekendFromTheRealDaemon) {
  TempDir dir("treve-report");
  const std::string state = (dir.path() / "state").string();
  fs::create_directories(state);
  WebhookReceiver hooks;
  const std::string secret = dir.write("hook.secret", make_webhook_secret() + "\n");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  const std::string hook = hooks.url("/push");

  // Tuesday 1 December, 21:00: a message to a student, and a grade to a student and a parent.
  {
    Moment m(state, hook, secret, "2026-12-01T21:00:00+01:00");
    EventSpec message;
    message.id = "msg-soir";
    message.recipients = {{"eleve-1", "student", ""}};
    m.post(message);
    EventSpec grade;
    grade.id = "note-soir";
    grade.category = "grade";
    grade.recipients = {{"eleve-2", "student", ""}, {"parent-2", "parent", "eleve-2"}};
    m.post(grade);
    m.wait_for("held", 3);
    EXPECT_EQ(m.daemon().stop(), 0);
  }
  // Wednesday 07:00: the students' copies go; an event received at 07:00 goes at once.
  {
    Moment m(state, hook, secret, "2026-12-02T06:59:58+01:00");
    m.wait_for("delivered", 2);
    EventSpec day;
    day.id = "msg-jour";
    day.recipients = {{"eleve-3", "student", ""}};
    m.post(day);
    m.wait_for("delivered", 3);
    EXPECT_EQ(m.daemon().stop(), 0);
  }
  // Thursday 07:00: the parent's grade, 24 hours after the student's.
  {
    Moment m(state, hook, secret, "2026-12-03T06:59:58+01:00");
    m.wait_for("delivered", 4);
    EXPECT_EQ(m.daemon().stop(), 0);
  }
  // Saturday 10:00: held until Monday 07:00.
  {
    Moment m(state, hook, secret, "2026-12-05T10:00:00+01:00");
    EventSpec weekend;
    weekend.id = "msg-samedi";
    weekend.category = "news";
    weekend.recipients = {{"eleve-4", "student", ""}};
    m.post(weekend);
    m.wait_for("held", 4);
    EXPECT_EQ(m.daemon().stop(), 0);
  }
  Moment last(state, hook, secret, "2026-12-07T06:59:58+01:00");
  last.wait_for("delivered", 5);
  const std::string config = last.daemon().config_path();

  // `treve report` in HTML, on the live store.
  auto html = run_treve({"report", "--config", config, "--establishment", kUai, "--from",
                         "2026-11-30", "--to", "2026-12-06"});
  ASSERT_EQ(html.status, 0) << html.err;
  const std::string& r = html.out;
  auto cell = [](const std::string& label, const std::string& value) {
    return label + "</th><td class=\"n\">" + value + "</td>";
  };
  EXPECT_THAT(r, StartsWith("<!doctype html>"));
  EXPECT_THAT(r, HasSubstr("du 30 novembre 2026 au 6 décembre 2026 inclus"));
  EXPECT_THAT(r, HasSubstr(cell("Notifications reçues des logiciels (événements)", "4")));
  EXPECT_THAT(r, HasSubstr(cell("Remises décidées (une par destinataire)", "5")));
  EXPECT_THAT(r, HasSubstr(cell("Remises tenues pendant un temps de repos", "4")));
  EXPECT_THAT(r, HasSubstr(cell("Le soir", "2") + "<td class=\"n\">50,0\u202F%</td>"));
  EXPECT_THAT(r, HasSubstr(cell("Le week-end", "1") + "<td class=\"n\">25,0\u202F%</td>"));
  // Holds of 10 h, 10 h, 34 h and 45 h.
  EXPECT_THAT(r, HasSubstr(cell("Durée médiane", "22 h")));
  EXPECT_THAT(r, HasSubstr(cell("Durée la plus longue", "1 j 21 h")));
  EXPECT_THAT(r, HasSubstr(cell("Transmis", "5") + "<td class=\"n\">100,0\u202F%</td>"));
  EXPECT_THAT(r, HasSubstr(cell("Notes remises aux parents après l&#39;élève (tenues)", "1")));
  EXPECT_THAT(r, HasSubstr(cell("Délai médian après la remise à l&#39;élève", "1 j")));
  // 21:00, by hour: 2 events, 3 held deliveries.
  EXPECT_THAT(r, HasSubstr("21 h – 22 h</th><td class=\"n\">2</td><td class=\"n\">3</td>"));
  for (const char* personal : {"eleve-1", "parent-2", "msg-soir", "note-soir", "Nouveau message"})
    EXPECT_THAT(r, Not(HasSubstr(personal)));

  // Errors name the bad argument.
  auto bad = run_treve({"report", "--config", config, "--establishment", "0750654X", "--from",
                        "2026-11-30", "--to", "2026-12-06"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.err, HasSubstr("--establishment"));
  bad = run_treve({"report", "--config", config, "--establishment", kUai, "--from", "2026-11-31",
                   "--to", "2026-12-06"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.err, HasSubstr("--from"));
  bad = run_treve({"report", "--config", config, "--establishment", kUai, "--from", "2026-11-30",
                   "--to", "2026-12-06", "--format", "pdf"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.err, HasSubstr("--output"));
  bad = run_treve({"report", "--config", config, "--establishment", kUai, "--from", "2026-11-30",
                   "--to", "2026-12-06", "--format", "pdf", "--output",
                   (dir.path() / "x.pdf").string(), "--chromium", "/nonexistent/chromium"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.err, HasSubstr("install Debian's chromium"));
  EXPECT_THAT(bad.err, HasSubstr("--format html"));

  // The admin API: the same report for an auditor of the establishment.
  const std::string query =
      "/v1/admin/report?establishment=" + std::string(kUai) + "&from=2026-11-30&to=2026-12-06";
  HttpClient client(last.daemon().admin_port());
  auto get = [&](const std::string& target) {
    return client.request(bhttp::verb::get, target, "",
                          {{"Authorization", "Bearer " + kAuditorToken}});
  };
  auto page = get(query);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_THAT(page.header("content-type").value_or(""), StartsWith("text/html"));
  EXPECT_THAT(page.header("content-security-policy").value_or(""), HasSubstr("style-src 'sha256-"));
  EXPECT_THAT(page.body, HasSubstr(cell("Durée médiane", "22 h")));
  EXPECT_THAT(page.body, HasSubstr(cell("Le week-end", "1")));
  auto out_of_scope = get("/v1/admin/report?establishment=" + std::string(kOtherUai) +
                          "&from=2026-11-30&to=2026-12-06");
  EXPECT_EQ(out_of_scope.status, 403) << out_of_scope.body;
  auto bad_date =
      get("/v1/admin/report?establishment=" + std::string(kUai) + "&from=2026-12-40&to=2026-12-06");
  EXPECT_EQ(bad_date.status, 400) << bad_date.body;
  EXPECT_THAT(bad_date.header("content-type").value_or(""), StartsWith("application/problem+json"));
  EXPECT_THAT(bad_date.body, HasSubstr("from"));
  auto no_date = get("/v1/admin/report?establishment=" + std::string(kUai));
  EXPECT_EQ(no_date.status, 400) << no_date.body;
  auto no_uai = get("/v1/admin/report?from=2026-11-30&to=2026-12-06");
  EXPECT_EQ(no_uai.status, 400) << no_uai.body;
  EXPECT_EQ(last.daemon().stop(), 0);
}

TEST(CouncilReport, PrintsToPdfThroughChromium) {
  if (!fs::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "chromium is not installed (scripts/install-browser-deps)";
  Daemon daemon(DaemonOptions{});
  daemon.start();
  ASSERT_EQ(HttpClient(daemon.port()).post_event(simple_event("pdf-1")).status, 202);
  TempDir dir("treve-report-pdf");
  const std::string pdf = (dir.path() / "rapport.pdf").string();
  auto r = run_treve({"report", "--config", daemon.config_path(), "--establishment", kUai, "--from",
                      "2026-01-01", "--to", "2030-12-31", "--format", "pdf", "--output", pdf});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string bytes = read_file(pdf);
  ASSERT_THAT(bytes, StartsWith("%PDF"));
  if (fs::exists("/usr/bin/pdftotext")) {
    auto text = test::run(test::command("/usr/bin/pdftotext", {pdf, "-"}), "");
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_THAT(text.out, AnyOf(HasSubstr("Rapport au conseil d’administration"),
                                HasSubstr("Rapport au conseil d'administration")));
    EXPECT_THAT(text.out, HasSubstr(kUai));
  }
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
