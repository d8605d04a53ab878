// GET /metrics on the admin listener, end to end: the real daemon (`treve serve`) with a webhook
// sink pointing at a real receiver in this process (webhook_receiver.h); events posted, some
// held past a quiet window's end that comes a few seconds after the start (the test hook
// `[testing] clock_start`; without it, the next real minute boundary), some held for a day,
// one urgent; the receiver answers one delivery 503 once and another 400. Then:
//
//   - the counters are exact (events by connector and category, deliveries held and released
//     by establishment and category, delivered, retried and dead-lettered by sink, sink errors
//     by class, the histograms' counts);
//   - Debian's `promtool check metrics` finds nothing to say about the text;
//   - an administrator of one school sees only that school's series (and those of none);
//   - a real Prometheus (Debian's /usr/bin/prometheus) scrapes the daemon with a bearer token
//     from a credentials_file, and its query API returns the series.
//
// promtool and prometheus come from Debian's `prometheus` package (scripts/install-metrics-deps);
// without them these tests fail, they do not skip.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using SysClock = std::chrono::system_clock;

constexpr const char* kPromtool = "/usr/bin/promtool";
constexpr const char* kPrometheus = "/usr/bin/prometheus";
const std::string kOtherUai = "0250001R";

// "HH:MM" (UTC) of `t`.
std::string utc_hhmm(SysClock::time_point t) {
  const auto in_day =
      std::chrono::floor<std::chrono::minutes>(t) - std::chrono::floor<std::chrono::days>(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(in_day.count() / 60),
                static_cast<int>(in_day.count() % 60));
  return buf;
}

// The samples of a text exposition: "name{labels}" -> value, comments aside.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

// The daemon with its sink, receiver and administrators; the events of the scenario posted and
// their outcomes committed by the time run_scenario() returns.
class Metrics : public ::testing::Test {
 protected:
  Metrics() : receiver_(script()) {
    const auto now = SysClock::now();
    // The window's end: a minute boundary at least kLead away (in the daemon's time).
    constexpr auto kLead = std::chrono::seconds{8};
    std::optional<std::chrono::milliseconds> offset;
    SysClock::time_point daemon_start = now;
    if (TREVE_TESTING) {
      // The daemon starts kLead before the next minute boundary of the real clock plus one
      // minute: no waiting for a real one.
      const auto boundary = std::chrono::ceil<std::chrono::minutes>(now) + std::chrono::minutes{1};
      offset = std::chrono::duration_cast<std::chrono::milliseconds>(boundary - kLead - now);
      daemon_start = now + *offset;
      daemon_start_offset_ = offset;
    }
    window_end_ = std::chrono::ceil<std::chrono::minutes>(daemon_start + kLead);
    DaemonOptions o = with_rectorat_admin();
    o.clock_offset = offset;
    o.timezone = "UTC";
    // Quiet from one minute past the window's end until the window's end the next day: now is
    // quiet, and the window's end comes a few seconds from now.
    o.quiet_start = utc_hhmm(window_end_ + std::chrono::minutes{1});
    o.quiet_end = utc_hhmm(window_end_);
    o.extra_config += "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" +
                      sha256_hex(kDurandToken) + "\"\nrole = \"auditor\"\nscope = [\"" + kUai +
                      "\"]\n";
    o.extra_config += "\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\nurl = \"" +
                      receiver_.url() +
                      "\"\nsecret_file = \"hook.secret\"\ndefault = true\n"
                      "retry_initial = \"100ms\"\n";
    daemon_.emplace(o);
    std::ofstream(fs::path(daemon_->config_path()).parent_path() / "hook.secret", std::ios::binary)
        << "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
    daemon_->start();
  }

  // r-retry's first attempt is answered 503, r-dead's 400; everything else 200.
  static WebhookScript script() {
    auto retried = std::make_shared<std::atomic<bool>>(false);
    return [retried](const WebhookRequest& r, int) {
      WebhookResponse a;
      if (r.body.find("\"r-dead\"") != std::string::npos)
        a.status = 400;
      else if (r.body.find("\"r-retry\"") != std::string::npos && !retried->exchange(true))
        a.status = 503;
      return a;
    };
  }

  HttpResponse scrape(const std::string& token, bhttp::verb method = bhttp::verb::get) {
    HttpClient client(daemon_->admin_port());
    Headers h;
    if (!token.empty())
      h.emplace_back("Authorization", "Bearer " + token);
    return client.request(method, "/metrics", "", h);
  }

  void post(HttpClient& ingest, const EventSpec& spec, const std::string& token, bool held) {
    const auto r = ingest.post_event(event_body(spec), token);
    ASSERT_EQ(r.status, 202) << r;
    const json::object answer = r.object();
    for (const auto& d : answer.at("deliveries").as_array())
      ASSERT_EQ(d.at("held").as_bool(), held) << spec.id << ": " << r;
  }

  // Posts the events, waits for the window's end and for every outcome to be counted.
  void run_scenario() {
    HttpClient ingest(daemon_->port());
    EventSpec m1{.id = "m-1", .recipients = {{"r-a", "student", ""}, {"r-b", "student", ""}}};
    post(ingest, m1, kEntToken, true);
    EventSpec g1{.id = "g-1",
                 .category = "grade",
                 .recipients = {{"s-1", "student", ""}, {"p-1", "parent", "s-1"}}};
    post(ingest, g1, kEntToken, true);
    EventSpec other{.id = "m-other", .recipients = {{"r-c", "student", ""}}};
    other.establishment = kOtherUai;
    post(ingest, other, kEntToken, true);
    post(ingest, EventSpec{.id = "m-retry", .recipients = {{"r-retry", "student", ""}}}, kEntToken,
         true);
    post(ingest, EventSpec{.id = "m-dead", .recipients = {{"r-dead", "student", ""}}}, kEntToken,
         true);
    post(ingest, EventSpec{.id = "u-1", .category = "alert", .recipients = {}, .urgent = true},
         kAlertToken, false);
    // A repeat changes nothing, and is not counted.
    post(ingest, m1, kEntToken, true);
    ASSERT_FALSE(HasFatalFailure());
    // Everything held before the window's end: only the urgent one has gone.
    EXPECT_LT(SysClock::now() + daemon_offset(), window_end_)
        << "the events came after the window's end; the machine is too slow for this test";
    // 1 urgent + 5 released (r-a, r-b, s-1, r-c, r-retry) + r-retry again + r-dead.
    ASSERT_TRUE(receiver_.wait_for_count(8, std::chrono::seconds{90}))
        << receiver_.count() << " requests\n"
        << daemon_->stderr_log();
    // The outcomes are counted once committed: a few milliseconds after the answers.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    for (;;) {
      auto s = samples(scrape(kRectoratToken).body);
      if (s["treve_deliveries_delivered_total{sink=\"hooks\"}"] == "6" &&
          s["treve_deliveries_dead_total{sink=\"hooks\"}"] == "1")
        break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << scrape(kRectoratToken).body;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  }

  std::chrono::milliseconds daemon_offset() const {
    return daemon_start_offset_ ? *daemon_start_offset_ : std::chrono::milliseconds{0};
  }

  WebhookReceiver receiver_;
  std::optional<Daemon> daemon_;
  SysClock::time_point window_end_;
  std::optional<std::chrono::milliseconds> daemon_start_offset_;
};

TEST_F(Metrics, CountsEventsDeliveriesOutcomesAndErrorsExactly) {
  run_scenario();
  ASSERT_FALSE(HasFatalFailure());
  const HttpResponse r = scrape(kRectoratToken);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.header("Content-Type").value_or(""), "text/plain; version=0.0.4; charset=utf-8");
  auto s = samples(r.body);
  const std::string uai = kUai, other = kOtherUai;
  const std::map<std::string, std::string> expected = {
      {"treve_events_received_total{source=\"ent\",category=\"message\"}", "4"},
      {"treve_events_received_total{source=\"ent\",category=\"grade\"}", "1"},
      {"treve_events_received_total{source=\"alert\",category=\"alert\"}", "1"},
      {"treve_deliveries_held_total{establishment=\"" + uai + "\",category=\"message\"}", "4"},
      {"treve_deliveries_held_total{establishment=\"" + uai + "\",category=\"grade\"}", "2"},
      {"treve_deliveries_held_total{establishment=\"" + other + "\",category=\"message\"}", "1"},
      // The parent's grade stays held for a day.
      {"treve_deliveries_released_total{establishment=\"" + uai + "\",category=\"message\"}", "4"},
      {"treve_deliveries_released_total{establishment=\"" + uai + "\",category=\"grade\"}", "1"},
      {"treve_deliveries_released_total{establishment=\"" + other + "\",category=\"message\"}",
       "1"},
      {"treve_deliveries_delivered_total{sink=\"hooks\"}", "6"},
      {"treve_deliveries_retried_total{sink=\"hooks\"}", "1"},
      {"treve_deliveries_dead_total{sink=\"hooks\"}", "1"},
      {"treve_sink_errors_total{sink=\"hooks\",class=\"status_5xx\"}", "1"},
      {"treve_sink_errors_total{sink=\"hooks\",class=\"status_4xx\"}", "1"},
      {"treve_release_lag_seconds_count", "6"},
      {"treve_delivery_latency_seconds_count{sink=\"hooks\"}", "7"},
      {"treve_writer_queue_depth", "0"},
  };
  for (const auto& [series, value] : expected)
    EXPECT_EQ(s[series], value) << series << "\n" << r.body;
  // Exactly these series of the labelled counters: nothing counted twice or elsewhere.
  std::set<std::string> counted;
  for (const auto& [series, value] : s) {
    if (series.find("_total{") != std::string::npos)
      counted.insert(series);
  }
  std::set<std::string> wanted;
  for (const auto& [series, value] : expected) {
    if (series.find("_total{") != std::string::npos)
      wanted.insert(series);
  }
  EXPECT_EQ(counted, wanted) << r.body;
  // The release came within a second of the window's end; every job of the writer was timed.
  EXPECT_EQ(s["treve_release_lag_seconds_bucket{le=\"1\"}"], "6") << r.body;
  EXPECT_NE(s["treve_store_commit_seconds_count"], "0") << r.body;
  EXPECT_EQ(s["treve_store_commit_seconds_bucket{le=\"+Inf\"}"],
            s["treve_store_commit_seconds_count"]);
}

TEST_F(Metrics, PromtoolFindsNothingToSayAboutTheText) {
  ASSERT_TRUE(fs::exists(kPromtool))
      << kPromtool << " is missing: run scripts/install-metrics-deps";
  run_scenario();
  ASSERT_FALSE(HasFatalFailure());
  const HttpResponse r = scrape(kRectoratToken);
  ASSERT_EQ(r.status, 200) << r;
  const auto checked = test::run(test::command(kPromtool, {"check", "metrics"}), r.body);
  EXPECT_EQ(checked.status, 0) << checked << "\n" << r.body;
  EXPECT_EQ(checked.out + checked.err, "") << checked;
}

TEST_F(Metrics, AnAdminOfOneSchoolSeesOnlyItsSchoolsSeriesAndThoseOfNoSchool) {
  run_scenario();
  ASSERT_FALSE(HasFatalFailure());
  const HttpResponse r = scrape(kDurandToken);  // an auditor of kUai
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.body, Not(HasSubstr(kOtherUai)));
  auto s = samples(r.body);
  EXPECT_EQ(s["treve_deliveries_held_total{establishment=\"" + kUai + "\",category=\"message\"}"],
            "4");
  EXPECT_EQ(s["treve_deliveries_delivered_total{sink=\"hooks\"}"], "6");
  EXPECT_EQ(s["treve_events_received_total{source=\"ent\",category=\"message\"}"], "4");
  // The administrator of every school sees the other school.
  EXPECT_THAT(scrape(kRectoratToken).body, HasSubstr(kOtherUai));
}

TEST_F(Metrics, WithoutAnAdministratorsTokenTheAnswerIsA401Problem) {
  for (const std::string& token : {std::string(), kEntToken, kUnknownToken}) {
    const HttpResponse r = scrape(token);
    EXPECT_EQ(r.status, 401) << token << ": " << r;
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
    EXPECT_EQ(r.object().at("status").as_int64(), 401) << r;
  }
  const HttpResponse post = scrape(kRectoratToken, bhttp::verb::post);
  EXPECT_EQ(post.status, 405) << post;
  EXPECT_EQ(post.header("Allow").value_or(""), "GET");
  EXPECT_EQ(scrape(kDurandToken, bhttp::verb::head).status, 200);
}

TEST_F(Metrics, ARealPrometheusScrapesTheDaemonWithABearerTokenFromAFile) {
  ASSERT_TRUE(fs::exists(kPrometheus))
      << kPrometheus << " is missing: run scripts/install-metrics-deps";
  run_scenario();
  ASSERT_FALSE(HasFatalFailure());
  TempDir dir("treve-prometheus");
  const std::string token_file = dir.write("token", kRectoratToken);
  const std::uint16_t port = free_loopback_port();
  const std::string config =
      dir.write("prometheus.yml",
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: treve\n"
                "    authorization:\n      type: Bearer\n"
                "      credentials_file: " +
                    token_file + "\n    static_configs:\n      - targets: ['127.0.0.1:" +
                    std::to_string(daemon_->admin_port()) + "']\n");
  fs::create_directories(dir.path() / "data");
  test::Command c =
      test::command(kPrometheus, {"--config.file=" + config,
                                  "--storage.tsdb.path=" + (dir.path() / "data").string(),
                                  "--web.listen-address=127.0.0.1:" + std::to_string(port)});
  c.stdout_path = dir.file("prometheus.log");
  c.stderr_path = dir.file("prometheus.log");
  c.append = true;
  test::Process prometheus(c);
  std::string last;
  bool found = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (!found && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{250});
    try {
      HttpClient api(port, std::chrono::seconds{5});
      const HttpResponse r = api.request(
          bhttp::verb::get,
          "/api/v1/query?query=treve_events_received_total%7Bsource%3D%22ent%22%2Ccategory%3D%22"
          "message%22%7D");
      last = r.body;
      if (r.status != 200)
        continue;
      const json::object answer = r.object();
      const auto& result = answer.at("data").at("result").as_array();
      if (result.empty())
        continue;
      const auto& value = result.at(0).at("value").as_array();
      EXPECT_EQ(value.at(1).as_string(), "4") << r.body;
      EXPECT_EQ(result.at(0).at("metric").at("job").as_string(), "treve") << r.body;
      found = true;
    } catch (const boost::system::system_error&) {
      // Not listening yet.
    }
  }
  EXPECT_TRUE(found) << "last answer: " << last << "\nprometheus:\n"
                     << read_file(dir.file("prometheus.log"));
  // The daemon was not refused: it logged no failed login for Prometheus's scrapes.
  EXPECT_THAT(daemon_->stderr_log(), Not(HasSubstr("event=admin.unauthorized")));
  prometheus.signal(SIGTERM);
  if (!prometheus.wait_for(std::chrono::seconds{10}))
    prometheus.kill();
}

}  // namespace
}  // namespace treve::itest
