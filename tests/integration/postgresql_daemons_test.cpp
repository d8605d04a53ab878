// Several real daemons (`treve serve`) sharing one PostgreSQL store (docs/design/postgresql.md),
// on a throw-away cluster (tests/support/pg_cluster.h), delivering to a real webhook receiver.
//
//   PgDaemons.ThreeDaemonsOneWindowEnd   connectors post to all three while a quiet window is
//                                        on; at its end every delivery is sent once, by the
//                                        daemon that holds the dispatch lease, in order per
//                                        recipient, none before the end; one audit chain.
//   PgDaemons.KilledLeaderIsTakenOver    the daemon sending is SIGKILLed in the middle of a
//                                        release: another takes the lease over and sends the
//                                        rest; nothing lost; a duplicate only with its webhook id.
//   PgDaemons.ACrisisOpenedThroughOneDaemonIsInForceOnTheOthers  and closed through another:
//                                        each daemon puts the other's change in force.
//   PgDaemons.ASqliteStoreMovesToPostgresqlWithItsChain  `treve store migrate`: every table,
//                                        the chain continued, refused into a used store.
//   PgDaemons.ServerRestartWhilePosting  PostgreSQL restarted under a daemon being posted to:
//                                        503 with Retry-After meanwhile, no 202 that is then
//                                        missing, service back by itself.
#include <signal.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_deliveries.h"
#include "tests/integration/webhook_receiver.h"
#include "tests/support/pg_cluster.h"

namespace treve::itest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SysClock = std::chrono::system_clock;

// A number from the shared store.
std::int64_t pg_int(const std::string& url, const std::string& sql) {
  store::pg::ConnectOptions o;
  o.url = url;
  auto c = store::pg::Connection::open(o);
  if (!c)
    throw std::runtime_error(c.error().message);
  auto r = (*c)->exec(sql);
  if (!r)
    throw std::runtime_error(r.error().message);
  return r->integer(0, 0);
}

// Three daemons on one fresh database, one webhook receiver, one shared pseudonym key; each
// daemon's clock `offset` ahead of the real one, a quiet window from `quiet_start` to
// `quiet_end` (UTC) every day.
struct Cluster {
  explicit Cluster(std::size_t n, milliseconds offset, std::string quiet_start,
                   std::string quiet_end, std::string sink_options = {},
                   std::string admin_listen = {}, std::string lease = "3s")
      : dir("treve-pgd"), url(test::PgCluster::shared().fresh_database()) {
    secret = make_webhook_secret();
    const std::string secret_file = dir.file("hook.secret");
    std::ofstream(secret_file, std::ios::binary) << secret << "\n";
    ::chmod(secret_file.c_str(), 0600);
    for (std::size_t i = 0; i < n; ++i) {
      DaemonOptions o;
      o.clock_offset = offset;
      o.quiet_start = quiet_start;
      o.quiet_end = quiet_end;
      o.admin_listen = admin_listen;
      o.server_config = "pseudonym_key = \"" + dir.file("pseudonym.key") + "\"\n";
      o.extra_config = "\n[store]\nbackend = \"postgresql\"\nurl = \"" + url + "\"\nlease = \"" +
                       lease +
                       "\"\n\n[[sinks]]\nname = \"hooks\"\ntype = \"webhook\"\n"
                       "url = \"" +
                       receiver.url() + "\"\nsecret_file = \"" + secret_file +
                       "\"\ndefault = true\n" + sink_options;
      if (!admin_listen.empty()) {
        o.extra_config += "\n[[admins]]\nname = \"Rectorat\"\ntoken_sha256 = \"" +
                          sha256_hex(test::kRectoratToken) +
                          "\"\nrole = \"admin\"\nscope = \"*\"\n";
      }
      daemons.push_back(std::make_unique<Daemon>(o));
    }
    // One after the other: the first creates the schema and the key the others read.
    for (auto& d : daemons)
      d->start();
  }
  ~Cluster() {
    for (auto& d : daemons) {
      if (d->pid() > 0)
        std::printf("[ info ] daemon %d warnings/errors: %s\n", static_cast<int>(d->pid()),
                    log_summary(d->stderr_log()).c_str());
    }
    for (auto& d : daemons)
      d->stop();
    receiver.stop();
  }

  // The daemon holding the dispatch lease (the last to log taking it); null if none.
  Daemon* leader() {
    Daemon* found = nullptr;
    for (auto& d : daemons) {
      if (d->running() && d->log_count("event=peers.leading") > d->log_count("event=peers.lease_"))
        found = d.get();
    }
    return found;
  }

  test::TempDir dir;
  std::string url;
  std::string secret;
  WebhookReceiver receiver;
  std::vector<std::unique_ptr<Daemon>> daemons;
};

// The offset that puts the next window end `lead` after now, on a minute boundary of the
// daemons' clock; the window's start and end as "HH:MM" (an hour long).
struct WindowEnd {
  milliseconds offset;
  SysClock::time_point end;  // in the daemons' time
  std::string start_hhmm, end_hhmm;
};
WindowEnd window_ending_in(milliseconds lead) {
  const auto target = SysClock::now() + lead;
  const auto ms = std::chrono::duration_cast<milliseconds>(target.time_since_epoch()).count();
  const milliseconds offset{(60'000 - ms % 60'000) % 60'000};
  const SysClock::time_point end = target + offset;
  return {offset, end, utc_hhmm(end - std::chrono::hours(1)), utc_hhmm(end)};
}

EventSpec event_to(const std::string& id, std::vector<std::string> recipients) {
  EventSpec spec;
  spec.id = id;
  for (auto& r : recipients)
    spec.recipients.push_back({r, "student", ""});
  spec.title = "Titre " + id;
  return spec;
}

TEST(PgDaemons, ThreeDaemonsOneWindowEnd) {
  const WindowEnd w = window_ending_in(seconds{30});
  // A lease long enough that a loaded machine never lets it lapse: one sender throughout.
  Cluster c(3, w.offset, w.start_hhmm, w.end_hhmm, {}, {}, "15s");
  // Exactly one daemon sends.
  ASSERT_TRUE(c.daemons[0]->wait_for_log("event=peers.", seconds{10}));
  std::this_thread::sleep_for(seconds{1});
  int leading = 0;
  for (auto& d : c.daemons)
    leading += d->log_count("event=peers.leading") > 0 ? 1 : 0;
  EXPECT_EQ(leading, 1);

  // 60 events, round-robin over the daemons, each to two of eight recipients; every one
  // posted twice (the second time to another daemon): stored once.
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (auto& d : c.daemons)
    clients.push_back(std::make_unique<HttpClient>(d->port()));
  std::map<std::string, std::vector<std::string>> posted;  // recipient -> event ids in order
  std::size_t deliveries = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string id = "ev-" + std::to_string(i);
    const std::vector<std::string> to{"r" + std::to_string(i % 8),
                                      "r" + std::to_string((i + 3) % 8)};
    const std::string body = event_body(event_to(id, to));
    HttpResponse first = clients[i % 3]->post_event(body);
    ASSERT_EQ(first.status, 202) << first.body;
    EXPECT_TRUE(first.object().at("deliveries").as_array()[0].as_object().at("held").as_bool())
        << first.body;
    HttpResponse again = clients[(i + 1) % 3]->post_event(body);
    ASSERT_EQ(again.status, 202) << again.body;  // repeated: the stored event's answer
    EXPECT_EQ(again.header("Idempotent-Replayed").value_or(""), "true");
    for (auto& r : to)
      posted[r].push_back(id);
    deliveries += to.size();
  }
  EXPECT_EQ(pg_int(c.url, "SELECT count(*) FROM events"), 60);
  EXPECT_EQ(pg_int(c.url, "SELECT count(*) FROM deliveries WHERE state = 'held'"),
            static_cast<std::int64_t>(deliveries));
  EXPECT_EQ(c.receiver.count(), 0u) << "sent inside the quiet window";

  ASSERT_TRUE(c.receiver.wait_for_answered(deliveries, seconds{60}))
      << "got " << c.receiver.count() << " of " << deliveries;
  std::this_thread::sleep_for(seconds{2});  // anything more would be a duplicate
  const auto requests = c.receiver.requests();
  const WebhookVerifier verifier(c.secret);
  // Signed and shaped as documented; the timestamps are the daemons' clock, ahead of ours.
  std::vector<std::string> problems = all_request_problems(requests, verifier);
  std::erase_if(problems, [](const std::string& p) {
    return p.find("is not close to its arrival") != std::string::npos;
  });
  EXPECT_THAT(problems, ::testing::IsEmpty());
  const auto got = all_deliveries(requests);
  std::set<std::string> keys, webhook_ids;
  for (const auto& g : got) {
    keys.insert(g.key());
    webhook_ids.insert(g.webhook_id);
    EXPECT_GE(g.arrived + w.offset, w.end) << g.id << " sent inside the quiet window";
  }
  EXPECT_EQ(keys.size(), deliveries);
  EXPECT_EQ(got.size(), deliveries) << "duplicates";
  EXPECT_EQ(webhook_ids.size(), requests.size());
  const auto order = first_arrival_order(got);
  for (const auto& [recipient, ids] : posted)
    EXPECT_EQ(order.at("ent\n" + recipient), ids) << recipient;
  EXPECT_EQ(pg_int(c.url, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
            static_cast<std::int64_t>(deliveries));
  // The operator's command reads the shared store too.
  ProcessResult listed = run_treve({"deliveries", "list", "--state", "delivered", "--limit", "1000",
                                    "--config", c.daemons[2]->config_path()});
  EXPECT_EQ(listed.status, 0) << listed.err;
  EXPECT_THAT(listed.err,
              ::testing::HasSubstr(std::to_string(deliveries) + " deliveries in state delivered"));

  // One chain, written by three daemons, verified by the auditor's command.
  for (auto& d : c.daemons) {
    ProcessResult v = run_treve({"audit", "verify", "--config", d->config_path()});
    EXPECT_EQ(v.status, 0) << v.out << v.err;
    EXPECT_THAT(v.out, ::testing::HasSubstr("the audit trail is intact")) << v.out;
  }
}

TEST(PgDaemons, KilledLeaderIsTakenOver) {
  const WindowEnd w = window_ending_in(seconds{25});
  // A slow sink: the release takes several seconds, the leader is killed in its middle.
  Cluster c(3, w.offset, w.start_hhmm, w.end_hhmm, "max_in_flight = 2\n");
  c.receiver.set_script([](const WebhookRequest&, int) {
    WebhookResponse r;
    r.delay = milliseconds{40};
    return r;
  });
  ASSERT_TRUE(c.daemons[0]->wait_for_log("event=peers.", seconds{10}));
  std::this_thread::sleep_for(seconds{1});
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (auto& d : c.daemons)
    clients.push_back(std::make_unique<HttpClient>(d->port()));
  std::map<std::string, std::vector<std::string>> posted;
  std::size_t deliveries = 0;
  for (int i = 0; i < 240; ++i) {
    const std::string id = "k-" + std::to_string(i);
    const std::string r = "r" + std::to_string(i % 6);
    HttpResponse a = clients[i % 3]->post_event(event_body(event_to(id, {r})));
    ASSERT_EQ(a.status, 202) << a.body;
    posted[r].push_back(id);
    ++deliveries;
  }
  ASSERT_TRUE(c.receiver.wait_for_count(40, seconds{60}));
  Daemon* leader = c.leader();
  ASSERT_NE(leader, nullptr);
  const auto killed_at = std::chrono::steady_clock::now();
  leader->kill();
  // Another daemon takes the lease within its 3 s (and a renewal period), and sends the rest.
  std::set<std::string> keys;
  const bool all = c.receiver.wait_until(
      [&](const std::vector<WebhookRequest>& rs) {
        keys.clear();
        for (const auto& r : rs) {
          if (r.status == 200) {
            for (const auto& g : deliveries_of(r))
              keys.insert(g.key());
          }
        }
        return keys.size() >= deliveries;
      },
      seconds{90});
  ASSERT_TRUE(all) << keys.size() << " of " << deliveries;
  Daemon* next = c.leader();
  ASSERT_NE(next, nullptr);
  EXPECT_NE(next, leader);
  const auto requests = c.receiver.requests();
  // Duplicates only of what the killed daemon had in flight, each with the same webhook id.
  std::map<std::string, std::set<std::string>> ids_of;
  for (const auto& g : all_deliveries(requests))
    ids_of[g.key()].insert(g.webhook_id);
  for (const auto& [key, ids] : ids_of)
    EXPECT_EQ(ids.size(), 1u) << key;
  const auto order = first_arrival_order(all_deliveries(requests));
  for (const auto& [recipient, ids] : posted)
    EXPECT_EQ(order.at("ent\n" + recipient), ids) << recipient;
  std::int64_t taken_over_ms = 0;
  for (const auto& r : requests) {
    if (r.arrived_steady > killed_at) {
      taken_over_ms =
          std::chrono::duration_cast<milliseconds>(r.arrived_steady - killed_at).count();
      break;
    }
  }
  std::printf("[ info ] first delivery after the SIGKILL: %lld ms (lease 3000 ms)\n",
              static_cast<long long>(taken_over_ms));
  EXPECT_LT(taken_over_ms, 6000);
  // The last outcomes are committed just after their answers.
  std::int64_t delivered = 0;
  for (int i = 0; i < 100 && delivered < static_cast<std::int64_t>(deliveries); ++i) {
    delivered = pg_int(c.url, "SELECT count(*) FROM deliveries WHERE state = 'delivered'");
    std::this_thread::sleep_for(milliseconds{50});
  }
  EXPECT_EQ(delivered, static_cast<std::int64_t>(deliveries));
  ProcessResult v = run_treve({"audit", "verify", "--config", next->config_path()});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
}

TEST(PgDaemons, ServerRestartWhilePosting) {
  // Open time: every event is due at once.
  Cluster c(1, milliseconds{0}, "", "");
  Daemon& d = *c.daemons[0];
  HttpClient client(d.port());
  std::vector<std::string> accepted;
  int unavailable = 0;
  std::atomic<bool> restarted{false};
  std::thread restart([&] {
    std::this_thread::sleep_for(milliseconds{300});
    test::PgCluster::shared().stop();
    std::this_thread::sleep_for(seconds{2});
    test::PgCluster::shared().start();
    restarted = true;
  });
  int i = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds{60};
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string id = "p-" + std::to_string(i++);
    HttpResponse r;
    try {
      r = client.post_event(simple_event(id));
    } catch (const std::exception&) {
      client.close();
      continue;
    }
    if (r.status == 202) {
      accepted.push_back(id);
      if (restarted && unavailable > 0 && accepted.size() > 20)
        break;
    } else {
      ASSERT_EQ(r.status, 503) << r.body;
      EXPECT_TRUE(r.header("Retry-After").has_value());
      ++unavailable;
    }
    std::this_thread::sleep_for(milliseconds{20});
  }
  restart.join();
  EXPECT_GT(unavailable, 0) << "no request met the restart";
  // Every 202 is stored, and service came back by itself.
  for (const auto& id : accepted) {
    HttpResponse g = client.get_event(id);
    EXPECT_EQ(g.status, 200) << id << ": " << g.body;
  }
  EXPECT_TRUE(restarted);
  ProcessResult v = run_treve({"audit", "verify", "--config", d.config_path()});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
}

TEST(PgDaemons, CheckConfigReachesTheDatabaseAndReportsItsSchema) {
  test::TempDir dir("treve-pgcheck");
  const std::string url = test::PgCluster::shared().fresh_database();
  const std::string path = dir.file("treve.toml");
  std::ofstream(path) << "[store]\nbackend = \"postgresql\"\nurl = \"" << url << "\"\n";
  ProcessResult empty = run_treve({"check-config", "--config", path});
  EXPECT_EQ(empty.status, 0) << empty.err;
  EXPECT_THAT(empty.out, ::testing::HasSubstr("store: PostgreSQL, schema version 0 (empty"));
  // A command that reads the store neither creates its schema nor records a key.
  const std::string state = dir.file("state");
  std::ofstream(path) << "[server]\nstate_dir = \"" << state
                      << "\"\n[store]\nbackend = \"postgresql\"\nurl = \"" << url << "\"\n";
  ProcessResult listed = run_treve({"deliveries", "list", "--config", path});
  EXPECT_EQ(listed.status, 1) << listed.out;
  ProcessResult still = run_treve({"check-config", "--config", path});
  EXPECT_THAT(still.out, ::testing::HasSubstr("schema version 0 (empty"));
  EXPECT_FALSE(std::filesystem::exists(state + "/pseudonym.key"));

  Cluster c(1, milliseconds{0}, "", "");
  ProcessResult used = run_treve({"check-config", "--config", c.daemons[0]->config_path()});
  EXPECT_EQ(used.status, 0) << used.err;
  EXPECT_THAT(used.out, ::testing::HasSubstr("store: PostgreSQL, schema version 2\n"));

  std::ofstream(path) << "[store]\nbackend = \"postgresql\"\nurl = \"host=" << dir.str()
                      << " dbname=nothing connect_timeout=2\"\n";
  ProcessResult unreachable = run_treve({"check-config", "--config", path});
  EXPECT_EQ(unreachable.status, 1);
  EXPECT_THAT(unreachable.err,
              ::testing::HasSubstr("store.url: cannot reach the PostgreSQL store"));
}

TEST(PgDaemons, ADaemonWithAnotherPseudonymKeyIsRefused) {
  Cluster c(1, milliseconds{0}, "", "");
  HttpClient client(c.daemons[0]->port());
  ASSERT_EQ(client.post_event(simple_event("before-the-stranger")).status, 202);
  DaemonOptions o;
  o.extra_config = "\n[store]\nbackend = \"postgresql\"\nurl = \"" + c.url + "\"\n";
  Daemon stranger(o);  // its own state directory, so its own new key
  EXPECT_THROW(stranger.start(), std::runtime_error);
  EXPECT_THAT(stranger.stderr_log(),
              ::testing::HasSubstr("pseudonym key is not the one the store's records were made "
                                   "with"));
  // The store is untouched and the first daemon serves on.
  EXPECT_EQ(client.get_event("before-the-stranger").status, 200);
  ProcessResult v = run_treve({"audit", "verify", "--config", c.daemons[0]->config_path()});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
}

// An administrator's call to a daemon's admin API (on loopback TCP).
HttpResponse admin_call(const Daemon& d, bhttp::verb method, const std::string& target,
                        const std::string& body = "") {
  HttpClient client(d.admin_port());
  return client.request(method, target, body,
                        {{"Content-Type", "application/json"},
                         {"Authorization", std::string("Bearer ") + test::kRectoratToken}});
}

std::string open_crisis_body(const std::string& categories) {
  return R"({"reason":"Tempête : collège fermé","until":")" +
         utc_rfc3339(SysClock::now() + std::chrono::hours{2}) + R"(","categories":[)" + categories +
         "]}";
}

TEST(PgDaemons, ACrisisOpenedThroughOneDaemonIsInForceOnTheOthers) {
  Cluster c(2, milliseconds{0}, "", "", {}, "127.0.0.1:0");
  HttpClient second(c.daemons[1]->port());
  // Held by the quiet window on both daemons.
  HttpResponse before = second.post_event(simple_event("before"));
  ASSERT_EQ(before.status, 202) << before.body;
  EXPECT_TRUE(before.object().at("deliveries").as_array()[0].as_object().at("held").as_bool());
  HttpResponse opened =
      admin_call(*c.daemons[0], bhttp::verb::post, "/v1/admin/establishments/" + kUai + "/crises",
                 open_crisis_body("\"message\""));
  ASSERT_EQ(opened.status, 201) << opened.body;
  ASSERT_TRUE(c.daemons[1]->wait_for_log("event=peers.policies_refreshed", seconds{5}))
      << c.daemons[1]->stderr_log();
  // The other daemon decides under the crisis: a message goes at once.
  HttpResponse during = second.post_event(simple_event("during"));
  ASSERT_EQ(during.status, 202) << during.body;
  EXPECT_FALSE(during.object().at("deliveries").as_array()[0].as_object().at("held").as_bool())
      << during.body;
  EXPECT_TRUE(c.receiver.wait_for_count(1, seconds{10}));
  // Closed through the second daemon: the first holds again.
  const std::string id = std::to_string(opened.object().at("id").to_number<std::int64_t>());
  HttpResponse closed = admin_call(*c.daemons[1], bhttp::verb::post,
                                   "/v1/admin/establishments/" + kUai + "/crises/" + id + "/close");
  ASSERT_EQ(closed.status, 200) << closed.body;
  bool held_again = false;
  HttpClient first(c.daemons[0]->port());
  for (int i = 0; i < 50 && !held_again; ++i) {
    HttpResponse after = first.post_event(simple_event("after-" + std::to_string(i)));
    ASSERT_EQ(after.status, 202) << after.body;
    held_again = after.object().at("deliveries").as_array()[0].as_object().at("held").as_bool();
    if (!held_again)
      std::this_thread::sleep_for(milliseconds{100});
  }
  EXPECT_TRUE(held_again) << "the first daemon did not put the closing in force";
}

TEST(PgDaemons, ASqliteStoreMovesToPostgresqlWithItsChain) {
  Daemon sqlite_daemon(with_rectorat_admin());
  sqlite_daemon.start();
  {
    HttpClient client(sqlite_daemon.port());
    for (int i = 0; i < 25; ++i)
      ASSERT_EQ(client.post_event(simple_event("m-" + std::to_string(i), 2)).status, 202);
    ASSERT_EQ(client.delete_event("m-3").status, 200);
    HttpResponse put =
        client.request(bhttp::verb::put, "/v1/recipients/m-1-r0/preferences",
                       R"({"quiet": [{"days": ["mon"], "start": "20:00", "end": "08:00"}]})",
                       {{"Authorization", std::string("Bearer ") + kEntToken},
                        {"Content-Type", "application/json"}});
    ASSERT_EQ(put.status, 200) << put.body;
    HttpResponse crisis =
        admin_call(sqlite_daemon, bhttp::verb::post, "/v1/admin/establishments/" + kUai + "/crises",
                   open_crisis_body("\"news\""));
    ASSERT_EQ(crisis.status, 201) << crisis.body;
  }
  const std::int64_t records = Db(sqlite_daemon.db_path()).scalar("SELECT count(*) FROM audit");
  const std::string last_hash =
      *Db(sqlite_daemon.db_path()).query("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")[0][0];

  const std::string url = test::PgCluster::shared().fresh_database();
  DaemonOptions o;  // its admin API on a unix socket: the configuration is written before start
  o.state_dir = sqlite_daemon.state_dir();
  o.extra_config = "\n[store]\nbackend = \"postgresql\"\nurl = \"" + url + "\"\n";
  Daemon pg_daemon(o);
  pg_daemon.rewrite_config([](DaemonOptions&) {});
  const std::vector<std::string> move{"store",      "migrate",  "--to",
                                      "postgresql", "--config", pg_daemon.config_path()};
  // Not while a daemon runs on the SQLite store.
  ProcessResult busy = run_treve(move);
  EXPECT_EQ(busy.status, 1);
  EXPECT_THAT(busy.err, ::testing::HasSubstr("is running on"));
  sqlite_daemon.stop();

  ProcessResult moved = run_treve(move);
  ASSERT_EQ(moved.status, 0) << moved.out << moved.err;
  EXPECT_THAT(moved.out, ::testing::HasSubstr("events: 25 row(s)"));
  EXPECT_THAT(moved.out, ::testing::HasSubstr("deliveries: 50 row(s)"));
  EXPECT_THAT(moved.out, ::testing::HasSubstr("the audit chain continues from record " +
                                              std::to_string(records) + " (hash " + last_hash));
  EXPECT_EQ(pg_int(url, "SELECT count(*) FROM audit"), records);
  EXPECT_EQ(pg_int(url, "SELECT count(*) FROM deliveries WHERE state = 'retracted'"), 2);
  EXPECT_EQ(pg_int(url, "SELECT count(*) FROM crises WHERE closed_at IS NULL"), 1);
  EXPECT_EQ(pg_int(url, "SELECT count(*) FROM preferences"), 1);
  // Into an empty store only.
  ProcessResult again = run_treve(move);
  EXPECT_EQ(again.status, 1);
  EXPECT_THAT(again.err, ::testing::HasSubstr("not empty"));

  // The daemon on PostgreSQL finds every event, and the chain continues from the SQLite one.
  pg_daemon.start();
  HttpClient client(pg_daemon.port());
  HttpResponse held = client.get_event("m-7");
  EXPECT_EQ(held.status, 200) << held.body;
  EXPECT_THAT(held.body, ::testing::HasSubstr("\"held\""));
  EXPECT_EQ(client.post_event(simple_event("m-7", 2)).header("Idempotent-Replayed").value_or(""),
            "true");
  ASSERT_EQ(client.post_event(simple_event("after-the-move")).status, 202);
  EXPECT_GT(pg_int(url, "SELECT count(*) FROM audit"), records);
  EXPECT_EQ(pg_int(url, "SELECT count(*) FROM events"), 26);
  EXPECT_EQ(pg_int(url, "SELECT count(*) FROM preferences"), 1);
  // The crisis moved with the store is in force: a news item goes at once.
  EventSpec news;
  news.id = "news-during-the-crisis";
  news.category = "news";
  HttpResponse during = client.post_event(event_body(news));
  ASSERT_EQ(during.status, 202) << during.body;
  EXPECT_FALSE(during.object().at("deliveries").as_array()[0].as_object().at("held").as_bool())
      << during.body;
  ProcessResult v = run_treve({"audit", "verify", "--config", pg_daemon.config_path()});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_THAT(v.out, ::testing::HasSubstr("the audit trail is intact"));
}

}  // namespace
}  // namespace treve::itest
