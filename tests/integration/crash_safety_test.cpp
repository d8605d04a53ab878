// Durable before acknowledged: the daemon is SIGKILLed while several clients post events, then
// restarted on the same state directory. Every event that got a 202 must be there with all its
// deliveries and audit records; no event may be half there; the audit chain must verify from
// genesis. Also: held deliveries keep their release instants across a clean restart, and a
// SIGTERM under load exits 0 with every acknowledged event stored.
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

constexpr int kClients = 8;
constexpr unsigned kSeed = 20261127;  // fixed: the kill points are reproducible

// What the clients sent and what was acknowledged, over all rounds.
struct Ledger {
  std::mutex mutex;
  std::map<std::string, int> recipients;  // every id attempted -> its number of recipients
  std::set<std::string> acked;            // ids that got a 202
  std::uint64_t errors_before_kill = 0;   // answers other than 202 while the daemon was up
};

// Posts events from `kClients` threads until `stop` is set or the daemon goes away.
std::vector<std::thread> start_clients(std::uint16_t port, const std::string& prefix, unsigned seed,
                                       Ledger& ledger, std::atomic<bool>& stop,
                                       std::atomic<bool>& killed) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t, port, prefix, seed] {
      std::mt19937 rng(seed + static_cast<unsigned>(t));
      HttpClient client(port, 5s);
      for (int n = 0; !stop.load(); ++n) {
        const std::string id = prefix + "-c" + std::to_string(t) + "-" + std::to_string(n);
        const int recipients = 1 + static_cast<int>(rng() % 3);
        EventSpec spec;
        spec.id = id;
        spec.category = (n % 2) ? "grade" : "message";
        for (int i = 0; i < recipients; ++i) {
          spec.recipients.push_back(
              {id + "-u" + std::to_string(i), i == 0 ? "student" : "parent", ""});
        }
        {
          std::lock_guard lock(ledger.mutex);
          ledger.recipients[id] = recipients;
        }
        try {
          auto r = client.post_event(event_body(spec));
          std::lock_guard lock(ledger.mutex);
          if (r.status == 202) {
            ledger.acked.insert(id);
          } else if (!killed.load()) {
            ++ledger.errors_before_kill;
          }
        } catch (const std::exception&) {
          return;  // the daemon is gone: whatever was in flight is unknown
        }
      }
    });
  }
  return threads;
}

// Checks the database against the ledger; returns the number of events found.
std::size_t check_database(const Daemon& daemon, Ledger& ledger) {
  Db db(daemon.db_path());
  std::lock_guard lock(ledger.mutex);

  // Events, their deliveries and audit records, per id.
  struct Found {
    int deliveries = 0;
    int received = 0;
    int held = 0;
    int other = 0;
  };
  std::map<std::string, Found> found;
  for (auto& row : db.query("SELECT e.event_id, (SELECT count(*) FROM deliveries d WHERE d.event "
                            "= e.id) FROM events e WHERE e.source = 'ent'")) {
    found[*row[0]].deliveries = std::stoi(*row[1]);
  }
  for (auto& row : db.query("SELECT event_id, kind, count(*) FROM audit WHERE source = 'ent' "
                            "GROUP BY event_id, kind")) {
    auto it = found.find(*row[0]);
    if (it == found.end()) {
      ADD_FAILURE() << "audit records for an event that is not stored: " << *row[0] << " "
                    << *row[1];
      continue;
    }
    const int n = std::stoi(*row[2]);
    if (*row[1] == "received") {
      it->second.received += n;
    } else if (*row[1] == "held") {
      it->second.held += n;
    } else {
      it->second.other += n;
    }
  }

  // Every acknowledged id is there, whole.
  std::size_t missing = 0;
  for (const auto& id : ledger.acked) {
    auto it = found.find(id);
    if (it == found.end()) {
      if (++missing <= 10)
        ADD_FAILURE() << "acknowledged event " << id << " is missing after the crash";
      continue;
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << ledger.acked.size() << " acknowledged events";

  // Every stored event is whole: all its deliveries, one "received" and one "held" per delivery.
  std::size_t half = 0;
  for (const auto& [id, f] : found) {
    auto sent = ledger.recipients.find(id);
    if (sent == ledger.recipients.end()) {
      ADD_FAILURE() << "an event nobody sent: " << id;
      continue;
    }
    if (f.deliveries != sent->second || f.received != 1 || f.held != sent->second || f.other != 0) {
      if (++half <= 10) {
        ADD_FAILURE() << "event " << id << " is not whole: " << f.deliveries << " deliveries, "
                      << f.received << " received and " << f.held << " held records, " << f.other
                      << " others; " << sent->second << " recipients were sent";
      }
    }
  }
  EXPECT_EQ(half, 0u);

  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries WHERE event NOT IN (SELECT id FROM "
                      "events)"),
            0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries WHERE state <> 'held'"), 0);

  auto rows = read_audit(db);
  EXPECT_EQ(verify_chain(rows), "");
  std::size_t deliveries = 0;
  for (const auto& [id, f] : found)
    deliveries += static_cast<std::size_t>(f.deliveries);
  // The first start records the configuration in force; it does not change afterwards.
  const auto config_records =
      std::ranges::count_if(rows, [](const AuditRow& r) { return r.kind == "config_changed"; });
  EXPECT_EQ(config_records, 1);
  EXPECT_EQ(rows.size(), found.size() + deliveries + 1);
  // The daemon picked up the chain where it was: the head it logged is the last record's hash.
  if (!rows.empty()) {
    EXPECT_THAT(daemon.stderr_log(),
                HasSubstr("event=audit.head seq=" + std::to_string(rows.size()) +
                          " hash=" + rows.back().hash));
  }
  return found.size();
}

TEST(CrashSafety, EveryAcknowledgedEventSurvivesASigkillWhole) {
  std::mt19937 rng(kSeed);
  std::printf("crash-safety seed %u\n", kSeed);
  Daemon daemon;
  daemon.start();
  Ledger ledger;
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    const int delay_ms = 50 + static_cast<int>(rng() % 351);  // 50..400 ms
    SCOPED_TRACE("round " + std::to_string(round) + ", killed after " + std::to_string(delay_ms) +
                 " ms");
    std::atomic<bool> stop{false}, killed{false};
    auto threads =
        start_clients(daemon.port(), "r" + std::to_string(round),
                      kSeed * 31 + static_cast<unsigned>(round) * 100, ledger, stop, killed);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    killed = true;
    daemon.kill();
    stop = true;
    for (auto& t : threads)
      t.join();
    std::size_t acked;
    {
      std::lock_guard lock(ledger.mutex);
      acked = ledger.acked.size();
      EXPECT_EQ(ledger.errors_before_kill, 0u);
    }
    std::printf("round %d: SIGKILL after %d ms, %zu events acknowledged so far\n", round, delay_ms,
                acked);

    daemon.start();  // recovers the database on the same state_dir
    const std::size_t stored = check_database(daemon, ledger);
    EXPECT_GE(stored, acked);

    // The restarted daemon serves what it stored, and takes new events.
    HttpClient client(daemon.port());
    std::vector<std::string> sample;
    {
      std::lock_guard lock(ledger.mutex);
      for (auto it = ledger.acked.rbegin(); it != ledger.acked.rend() && sample.size() < 20; ++it)
        sample.push_back(*it);
    }
    for (const auto& id : sample) {
      auto r = client.get_event(id);
      ASSERT_EQ(r.status, 200) << id << " " << r;
      std::lock_guard lock(ledger.mutex);
      EXPECT_EQ(static_cast<int>(r.object().at("deliveries").as_array().size()),
                ledger.recipients[id]);
    }
  }
  {
    std::lock_guard lock(ledger.mutex);
    EXPECT_GT(ledger.acked.size(), 0u) << "no event was acknowledged: the test proved nothing";
  }
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(CrashSafety, SigtermUnderLoadExitsZeroWithEveryAcknowledgedEventStored) {
  Daemon daemon;
  daemon.start();
  Ledger ledger;
  std::atomic<bool> stop{false}, killed{false};
  auto threads = start_clients(daemon.port(), "term", kSeed, ledger, stop, killed);
  std::this_thread::sleep_for(200ms);
  killed = true;  // answers after this may be refusals of a stopping server
  EXPECT_EQ(daemon.stop(), 0) << daemon.stderr_log();
  stop = true;
  for (auto& t : threads)
    t.join();
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=serve.stopped"));
  daemon.start();
  check_database(daemon, ledger);
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(CrashSafety, HeldDeliveriesKeepTheirReleaseInstantsAcrossACleanRestart) {
  Daemon daemon;
  daemon.start();
  std::vector<std::string> ids;
  {
    HttpClient client(daemon.port());
    for (int i = 0; i < 6; ++i) {
      EventSpec spec;
      spec.id = "keep-" + std::to_string(i);
      spec.category = i % 2 ? "grade" : "homework";
      spec.recipients = {{"k-s" + std::to_string(i), "student", ""},
                         {"k-p" + std::to_string(i), "parent", "k-s" + std::to_string(i)}};
      ASSERT_EQ(client.post_event(event_body(spec)).status, 202);
      ids.push_back(spec.id);
    }
    ASSERT_EQ(client.delete_event("keep-3").status, 200);
  }
  auto snapshot = [&] {
    HttpClient client(daemon.port());
    std::map<std::string, std::string> out;
    for (const auto& id : ids) {
      auto r = client.get_event(id);
      EXPECT_EQ(r.status, 200) << r;
      out[id] = r.body;
    }
    return out;
  };
  const auto before = snapshot();
  for (const auto& [id, body] : before) {
    auto o = json::parse(body).as_object();
    for (const auto& d : o.at("deliveries").as_array()) {
      EXPECT_TRUE(d.at("release_at").is_string()) << body;
      EXPECT_EQ(d.at("state"), id == "keep-3" ? "retracted" : "held") << body;
    }
  }
  ASSERT_EQ(daemon.stop(), 0);
  daemon.start();
  EXPECT_EQ(snapshot(), before);
  // Twice, for good measure, and once more after a SIGKILL.
  ASSERT_EQ(daemon.stop(), 0);
  daemon.start();
  EXPECT_EQ(snapshot(), before);
  daemon.kill();
  daemon.start();
  EXPECT_EQ(snapshot(), before);
  Db db(daemon.db_path());
  EXPECT_EQ(verify_chain(read_audit(db)), "");
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
