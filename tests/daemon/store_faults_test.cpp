// I/O faults injected where they happen: the store's writer opens its file through a VFS that
// fails its N-th read, write or sync (tests/support/fault_vfs.h). For an ingest, a release, a
// retry's outcome, a reload's record, a purge and an admin's save, N goes over every I/O call
// the operation makes: each time it either completes or fails with an error, and then
//  - what it reported is what the file holds (an acknowledged event is there, a failed one is
//    not, deliveries are released only if the release succeeded);
//  - the same store keeps serving (the next ingest succeeds);
//  - reopened, the audit trail verifies from genesis.
// A full disk is tried the same way.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <string>

#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/fault_vfs.h"
#include "tests/support/store.h"

namespace treve::store {
namespace {

using testing::at;
using Dir = testing::TempDir;
using test::FaultVfs;

const policy::Instant kReceived = at("2026-11-27T21:00:00+01:00");
const policy::Instant kRelease = at("2026-11-30T07:00:00+01:00");

NewEvent event(const std::string& id, DeliveryState state) {
  NewEvent e;
  e.source = "ent";
  e.id = id;
  e.establishment = "0750654D";
  e.category = policy::Category::message;
  e.received_at = kReceived;
  e.zone = date::locate_zone("Europe/Paris");
  e.body = R"({"title":"t"})";
  e.body_sha256 = core::sha256_hex(e.body + id);
  e.response = "{}";
  for (const char* r : {"a", "b"}) {
    NewDelivery d;
    d.recipient = r;
    d.state = state;
    d.release_at = state == DeliveryState::due ? kReceived : kRelease;
    d.reason = "test";
    e.deliveries.push_back(d);
  }
  return e;
}

Result<std::vector<AcceptResult>> accept(SqliteStore& s, NewEvent e) {
  std::vector<NewEvent> v;
  v.push_back(std::move(e));
  return s.accept(v, kReceived);
}

// One number from the file, read by a connection of its own.
long long count(const Dir& dir, const std::string& sql) {
  return testing::sqlite_query_int(dir.db(), sql);
}

std::string chain_problem(const Dir& dir) {
  auto trail = audit::Trail::open(dir.db());
  if (!trail)
    return "cannot open the trail";
  auto report = audit::verify(**trail, {});
  if (!report)
    return "cannot verify";
  // From genesis, or from the checkpoint a purge wrote.
  return report->problem ? report->problem->message : "";
}

struct Operation {
  std::string name;
  std::function<void(SqliteStore&)> setup;
  // Runs it; whether it reported success.
  std::function<bool(SqliteStore&)> run;
  // What the file must hold after it, given whether it reported success.
  std::function<void(const Dir&, bool)> check;
};

std::vector<Operation> operations() {
  std::vector<Operation> out;
  out.push_back(
      {"ingest", [](SqliteStore&) {},
       [](SqliteStore& s) { return accept(s, event("e-1", DeliveryState::held)).has_value(); },
       [](const Dir& dir, bool ok) {
         EXPECT_EQ(count(dir, "SELECT count(*) FROM events WHERE event_id = 'e-1'"), ok ? 1 : 0);
         EXPECT_EQ(count(dir, "SELECT count(*) FROM audit WHERE event_id = 'e-1'"),
                   ok ? 3 : 0);  // received, held ×2
       }});
  out.push_back(
      {"release", [](SqliteStore& s) { ASSERT_TRUE(accept(s, event("e-1", DeliveryState::held))); },
       [](SqliteStore& s) { return s.release_due(kRelease, 100).has_value(); },
       [](const Dir& dir, bool ok) {
         EXPECT_EQ(count(dir, "SELECT count(*) FROM audit WHERE kind = 'released'"), ok ? 2 : 0);
         EXPECT_EQ(count(dir,
                         "SELECT count(*) FROM deliveries d JOIN events e ON d.event = e.id "
                         "WHERE e.event_id = 'e-1'"),
                   2);
       }});
  out.push_back(
      {"retry", [](SqliteStore& s) { ASSERT_TRUE(accept(s, event("e-1", DeliveryState::due))); },
       [](SqliteStore& s) {
         auto items = s.ready(0, 100);
         if (!items || items->size() != 2)
           return false;
         std::vector<DeliveryOutcome> outs;
         for (const auto& d : *items)
           outs.push_back(testing::outcome_for(d, DeliveryOutcome::Kind::retrying,
                                               at("2026-11-27T21:00:01+01:00")));
         return s.record_outcomes(outs, at("2026-11-27T21:00:01+01:00")).has_value();
       },
       [](const Dir& dir, bool ok) {
         EXPECT_EQ(count(dir, "SELECT count(*) FROM audit WHERE kind = 'retrying'"), ok ? 2 : 0);
       }});
  out.push_back({"reload", [](SqliteStore&) {},
                 [](SqliteStore& s) {
                   ConfigChange c{std::string(64, 'a'), "/etc/treve/treve.toml", "root", "reload"};
                   return s.record_config(c, kReceived).has_value();
                 },
                 [](const Dir& dir, bool ok) {
                   EXPECT_EQ(count(dir, "SELECT count(*) FROM audit WHERE kind = 'config_changed'"),
                             ok ? 1 : 0);
                 }});
  out.push_back({"purge",
                 [](SqliteStore& s) { ASSERT_TRUE(accept(s, event("old", DeliveryState::held))); },
                 [](SqliteStore& s) {
                   PurgeLimits limits;
                   limits.audit_before = at("2027-12-01T00:00:00+01:00");
                   limits.events_before = at("2027-12-01T00:00:00+01:00");
                   return s.purge(limits, at("2027-12-01T00:00:00+01:00")).has_value();
                 },
                 [](const Dir&, bool) {}});  // the chain check below says whether it stayed whole
  out.push_back({"admin save", [](SqliteStore&) {},
                 [](SqliteStore& s) {
                   PolicyVersion v;
                   v.uai = "0750654D";
                   v.at = kReceived;
                   v.author = "Mme Durand";
                   v.comment = "test";
                   v.document = "{}";
                   v.digest = core::sha256_hex(v.document);
                   auto r = s.save_policy(v, std::nullopt, kReceived);
                   return r.has_value() && !r->conflict;
                 },
                 [](const Dir& dir, bool ok) {
                   EXPECT_EQ(count(dir, "SELECT count(*) FROM policy_versions"), ok ? 1 : 0);
                   EXPECT_EQ(count(dir, "SELECT count(*) FROM audit WHERE kind = 'policy_changed'"),
                             ok ? 1 : 0);
                 }});
  return out;
}

std::unique_ptr<SqliteStore> open_faulty(const Dir& dir) {
  auto options = test::store_options(dir.db(), 3);
  options.vfs = test::kFaultVfs;
  return test::open_store(options);
}

// After `op` reported `ok` on `s` (the fault now disarmed): the same store takes the next
// ingest, and, closed, the file holds what `op` reported and a chain that verifies.
void expect_consistent_and_serving(const Operation& op, std::unique_ptr<SqliteStore> s,
                                   const Dir& dir, bool ok) {
  auto next = accept(*s, event("after", DeliveryState::held));
  EXPECT_TRUE(next.has_value()) << (next ? "" : next.error().message);
  s.reset();
  op.check(dir, ok);
  EXPECT_EQ(count(dir, "SELECT count(*) FROM events WHERE event_id = 'after'"), 1);
  EXPECT_EQ(chain_problem(dir), "");
}

TEST(StoreFaults, EveryFailedReadWriteOrSyncLeavesTheStoreConsistentAndServing) {
  FaultVfs& vfs = FaultVfs::get();
  for (const Operation& op : operations()) {
    unsigned long n = 1;
    int failed = 0;
    for (;; ++n) {
      SCOPED_TRACE(op.name + ", I/O call " + std::to_string(n));
      Dir dir;
      auto s = open_faulty(dir);
      ASSERT_TRUE(s);
      op.setup(*s);
      vfs.fail_at(n);
      const bool ok = op.run(*s);
      const bool fired = vfs.fired();
      vfs.disarm();
      if (!ok)
        ++failed;
      expect_consistent_and_serving(op, std::move(s), dir, ok);
      if (!fired)
        break;  // past the operation's last I/O call: it ran untouched
      ASSERT_LT(n, 500u) << "more I/O calls than expected";
    }
    EXPECT_GT(n, 1u) << op.name << " made no I/O call through the VFS";
    EXPECT_GT(failed, 0) << op.name << ": no injected fault made it fail";
    std::printf("[ faults  ] %s: %lu I/O calls, %d failed cleanly\n", op.name.c_str(), n - 1,
                failed);
  }
}

TEST(StoreFaults, AFullDiskRefusesCleanlyAndServesOnceThereIsRoom) {
  FaultVfs& vfs = FaultVfs::get();
  for (const Operation& op : operations()) {
    SCOPED_TRACE(op.name);
    Dir dir;
    auto s = open_faulty(dir);
    ASSERT_TRUE(s);
    op.setup(*s);
    vfs.full_disk(true);
    const bool ok = op.run(*s);
    vfs.disarm();
    EXPECT_FALSE(ok) << "every operation here writes";
    expect_consistent_and_serving(op, std::move(s), dir, ok);
  }
}

}  // namespace
}  // namespace treve::store
