// The audit trail's verification, retention and records, on real SQLite files: a trail is
// written by the store, tampered with the way someone with write access to the file could,
// and `audit::verify` must catch and name each change.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/core/digest.h"
#include "daemon/core/log_field.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/support/store.h"

namespace treve::audit {
namespace {

using store::DeliveryState;
using store::testing::at;
using store::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<store::SqliteStore> open_store(const TempDir& dir) {
  return test::open_store(test::store_options(dir.db(), 5));
}

store::NewEvent event(const std::string& id, policy::Instant received,
                      DeliveryState state = DeliveryState::held, int recipients = 2) {
  store::NewEvent e;
  e.source = "ent";
  e.id = id;
  e.establishment = "0750654D";
  e.category = policy::Category::message;
  e.received_at = received;
  e.zone = date::locate_zone("Europe/Paris");
  e.body = R"({"title":"Conseil de classe","payload":{"note":"12/20"}})";
  e.body_sha256 = core::sha256_hex(e.body + id);
  e.response = "{}";
  for (int i = 0; i < recipients; ++i) {
    store::NewDelivery d;
    d.recipient = "eleve-" + std::to_string(i);
    d.state = state;
    d.release_at = state == DeliveryState::due ? received : received + std::chrono::hours{10};
    d.reason = "test";
    e.deliveries.push_back(d);
  }
  return e;
}

void accept(store::SqliteStore& s, store::NewEvent e) {
  std::vector<store::NewEvent> v;
  v.push_back(std::move(e));
  auto r = s.accept(v, v.front().received_at);
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

// A trail of `events` x 3 records (received, 2 held), records 1 to 3 * events.
void write_trail(const TempDir& dir, int events) {
  auto s = open_store(dir);
  for (int i = 0; i < events; ++i)
    accept(*s, event("e" + std::to_string(i), at("2026-11-27T21:00:00+01:00")));
}

void sql(const TempDir& dir, const std::string& statements) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
  char* msg = nullptr;
  int rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &msg);
  std::string error = msg ? msg : "";
  sqlite3_free(msg);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << error << " in " << statements;
}

std::vector<store::AuditRecord> records(const TempDir& dir) {
  auto trail = Trail::open(dir.db());
  EXPECT_TRUE(trail.has_value()) << trail.error();
  std::vector<store::AuditRecord> out;
  auto r = (*trail)->scan({}, [&](const store::AuditRecord& a) {
    out.push_back(a);
    return true;
  });
  EXPECT_TRUE(r.has_value());
  return out;
}

// Writes `rs` as the whole audit table, as someone rewriting the file would.
void replace_all(const TempDir& dir, const std::vector<store::AuditRecord>& rs) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN; DELETE FROM audit;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, nullptr);
  for (const auto& r : rs) {
    sqlite3_bind_int64(st, 1, r.seq);
    sqlite3_bind_int64(st, 2, r.at_ms);
    int i = 3;
    for (const std::string* f :
         {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment, &r.category, &r.recipient,
          &r.role, &r.detail, &r.prev_hash, &r.hash}) {
      sqlite3_bind_text(st, i++, f->c_str(), -1, SQLITE_TRANSIENT);
    }
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

// Renumbers from `from` and re-chains every record after it: a consistent rewrite.
void rechain(std::vector<store::AuditRecord>& rs, std::size_t from) {
  for (std::size_t i = from; i < rs.size(); ++i) {
    rs[i].seq = static_cast<std::int64_t>(i) + 1;
    store::chain(rs[i], i == 0 ? std::string(store::kGenesisHash) : rs[i - 1].hash);
  }
}

VerifyReport run(const TempDir& dir, VerifyOptions options = {}) {
  auto trail = Trail::open(dir.db());
  EXPECT_TRUE(trail.has_value()) << trail.error();
  auto report = verify(**trail, options);
  EXPECT_TRUE(report.has_value()) << report.error();
  return *report;
}

// The heads a daemon would have logged: every `every` records and at the end.
std::vector<LoggedHead> heads_of(const std::vector<store::AuditRecord>& rs, std::size_t every) {
  std::vector<LoggedHead> out;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if ((i + 1) % every == 0 || i + 1 == rs.size())
      out.push_back({rs[i].seq, rs[i].hash, static_cast<int>(out.size() + 1)});
  }
  return out;
}

TEST(AuditVerify, AnIntactTrailVerifiesWithItsRangeAndHead) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  VerifyOptions o;
  o.heads = heads_of(rs, 7);
  auto r = run(dir, o);
  EXPECT_FALSE(r.problem) << r.problem->message;
  EXPECT_EQ(r.records, 30);
  EXPECT_EQ(r.first_seq, 1);
  EXPECT_EQ(r.last_seq, 30);
  EXPECT_EQ(r.head, rs.back().hash);
  EXPECT_EQ(r.heads_matched, 5u);  // 7, 14, 21, 28, 30
  EXPECT_THAT(r.anchor, HasSubstr("start of the chain"));
}

TEST(AuditVerify, AnEmptyTrailIsIntact) {
  TempDir dir;
  write_trail(dir, 0);
  auto r = run(dir);
  EXPECT_FALSE(r.problem);
  EXPECT_EQ(r.records, 0);
}

TEST(AuditVerify, OneEditedFieldIsNamedEditedAtItsRecord) {
  TempDir dir;
  write_trail(dir, 10);
  sql(dir, "UPDATE audit SET detail = '{\"until\":null,\"reason\":\"x\"}' WHERE seq = 14");
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::edited);
  EXPECT_EQ(r.problem->seq, 14);
  EXPECT_EQ(r.last_seq, 13);  // verified up to the record before
}

TEST(AuditVerify, AnEditedRecordWhoseHashWasRecomputedIsNamed) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  rs[13].category = "grade";
  store::chain(rs[13], rs[12].hash);  // the record's own hash made consistent again
  replace_all(dir, rs);
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::edited);
  EXPECT_EQ(r.problem->seq, 14);
  EXPECT_THAT(r.problem->message, HasSubstr("hash recomputed"));
}

TEST(AuditVerify, ADeletedRecordIsNamedMissing) {
  TempDir dir;
  write_trail(dir, 10);
  sql(dir, "DELETE FROM audit WHERE seq = 17");
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::missing);
  EXPECT_EQ(r.problem->seq, 18);
  EXPECT_THAT(r.problem->message, HasSubstr("record 17 missing"));
}

TEST(AuditVerify, ADeletedRecordWithTheRestRenumberedIsNamedMissing) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  rs.erase(rs.begin() + 16);  // record 17
  for (std::size_t i = 16; i < rs.size(); ++i)
    --rs[i].seq;
  replace_all(dir, rs);
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::missing);
  EXPECT_EQ(r.problem->seq, 17);
  EXPECT_THAT(r.problem->message, HasSubstr("written as record 18"));
}

TEST(AuditVerify, TheFirstRecordDeletedWithoutACheckpointIsNamedMissing) {
  TempDir dir;
  write_trail(dir, 3);
  sql(dir, "DELETE FROM audit WHERE seq = 1");
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::missing);
  EXPECT_EQ(r.problem->seq, 2);
  EXPECT_THAT(r.problem->message, HasSubstr("no checkpoint"));
}

TEST(AuditVerify, AnInsertedRecordIsNamedInserted) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  // A forged record, well formed and chained to record 11, slipped in as the new record 12.
  store::AuditRecord forged = rs[11];
  forged.kind = "delivered";
  forged.detail = R"({"sink":"ent-push","attempt":1,"status":200,"webhook_id":"dlv_x"})";
  forged.seq = 12;
  store::chain(forged, rs[10].hash);
  rs.insert(rs.begin() + 11, forged);
  for (std::size_t i = 12; i < rs.size(); ++i)
    ++rs[i].seq;
  replace_all(dir, rs);
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::inserted);
  EXPECT_EQ(r.problem->seq, 12);
}

TEST(AuditVerify, TwoSwappedRecordsAreNamedReordered) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  std::swap(rs[19], rs[20]);  // records 20 and 21 change places, keeping the numbering
  rs[19].seq = 20;
  rs[20].seq = 21;
  replace_all(dir, rs);
  auto r = run(dir);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::reordered);
  EXPECT_EQ(r.problem->seq, 20);
}

TEST(AuditVerify, ATruncatedTrailIsCaughtOnlyAgainstTheLoggedHeads) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  const auto heads = heads_of(rs, 10);
  sql(dir, "DELETE FROM audit WHERE seq > 25");
  EXPECT_FALSE(run(dir).problem) << "a cut end is consistent in itself";
  VerifyOptions o;
  o.heads = heads;
  auto r = run(dir, o);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::truncated);
  EXPECT_EQ(r.problem->seq, 26);
  EXPECT_THAT(r.problem->message, HasSubstr("record 30"));
}

TEST(AuditVerify, AShorterRecomputedChainIsCaughtAgainstTheLoggedHeads) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  const auto heads = heads_of(rs, 10);
  rs.erase(rs.begin() + 4, rs.begin() + 7);  // records 5 to 7 removed
  rechain(rs, 4);                            // and every later record renumbered and rehashed
  replace_all(dir, rs);
  EXPECT_FALSE(run(dir).problem) << "a recomputed chain is consistent in itself";
  VerifyOptions o;
  o.heads = heads;
  auto r = run(dir, o);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::rewritten);
  EXPECT_EQ(r.problem->seq, 10);  // the first logged head that no longer matches
}

TEST(AuditVerify, EveryLogLineOfARecordMustMatchNotOnlyTheFirst) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  VerifyOptions o;
  o.heads = {{20, rs[19].hash, 1}, {20, rs[19].hash, 2}};
  auto r = run(dir, o);
  EXPECT_FALSE(r.problem);
  EXPECT_EQ(r.heads_matched, 1u);  // one record, logged twice
  o.heads.push_back({20, std::string(64, 'e'), 3});
  r = run(dir, o);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::rewritten);
  EXPECT_THAT(r.problem->message, HasSubstr("log line 3"));
}

TEST(AuditVerify, FromStartsAtARecordTrustingItsLink) {
  TempDir dir;
  write_trail(dir, 10);
  sql(dir, "UPDATE audit SET role = 'staff' WHERE seq = 3");
  VerifyOptions o;
  o.from_seq = 10;
  auto r = run(dir, o);
  EXPECT_FALSE(r.problem);
  EXPECT_EQ(r.first_seq, 10);
  EXPECT_EQ(r.records, 21);
  EXPECT_TRUE(run(dir).problem);
}

TEST(AuditVerify, ProgressIsReportedUpToTheTotal) {
  TempDir dir;
  write_trail(dir, 3);
  std::int64_t last_done = -1, last_total = -1;
  VerifyOptions o;
  o.progress = [&](std::int64_t done, std::int64_t total) {
    last_done = done;
    last_total = total;
  };
  run(dir, o);
  EXPECT_EQ(last_done, 9);
  EXPECT_EQ(last_total, 9);
}

TEST(AuditHeads, HeadsAreReadFromTheDaemonsLogLines) {
  std::istringstream log(
      "2026-11-28T20:00:00.000 info event=store.opened state_dir=/x next_audit_seq=5\n"
      "2026-11-28T20:00:00.001 info event=audit.head seq=4 hash=" +
      std::string(64, 'a') +
      "\n"
      "garbage event=audit.head seq=x hash=zz\n"
      "treve[12]: event=audit.head seq=10000 hash=" +
      std::string(64, 'b') + "\n");
  auto heads = parse_heads(log);
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].seq, 4);
  EXPECT_EQ(heads[0].line, 2);
  EXPECT_EQ(heads[1].seq, 10000);
  EXPECT_EQ(heads[1].hash, std::string(64, 'b'));
}

TEST(AuditHeads, AHeadInsideAnotherLinesValueIsNotTakenForOne) {
  const std::string h(64, 'c');
  // What a client could once have put in a logged query value, quoted or not.
  std::istringstream log(
      "2026-11-28T20:00:00.000 warn event=admin.refused admin=\"DPD\" path=\"/v1/admin/audit\" "
      "establishment=x event=audit.head seq=1 hash=" +
      h +
      "\n"
      "2026-11-28T20:00:00.000 warn event=admin.refused establishment=\"x\" reason=\"event=audit."
      "head seq=2 hash=" +
      h +
      "\"\n"
      "event=audit.head seq=3 hash=" +
      h +
      " and more\n"
      "2026-11-28T20:00:00.000 warn event=audit.head seq=4 hash=" +
      h +
      "\n"
      "event=audit.checkpoint seq=5 hash=" +
      h + " purged_through=4\n");
  auto heads = parse_heads(log);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].seq, 5);
  EXPECT_TRUE(heads[0].checkpoint);
}

TEST(AuditHeads, LoggedValuesAreQuotedAndEscapedOnOneLine) {
  EXPECT_EQ(core::log_quote("a\nevent=audit.head seq=1 \"x\" \\ \x1b"),
            "\"a\\x0aevent=audit.head seq=1 \\\"x\\\" \\\\ \\x1b\"");
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
  spdlog::warn("event=admin.refused path={}", core::quoted("/x\nevent=audit.head seq=9"));
  spdlog::set_default_logger(previous);
  const std::string line = out.str();
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_THAT(line, HasSubstr("path=\"/x\\x0aevent=audit.head seq=9\""));
}

TEST(AuditHeads, TheStoreLogsTheHeadAfterEachCommitThatCrossesAMultipleOfEvery) {
  TempDir dir;
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  spdlog::default_logger()->set_pattern(core::kStderrLogPattern);
  {
    auto s = open_store(dir);
    s->log_heads_every(4);
    for (int i = 0; i < 3; ++i)  // commits end at records 3, 6 and 9
      accept(*s, event("e" + std::to_string(i), at("2026-11-27T21:00:00+01:00")));
  }
  spdlog::set_default_logger(previous);
  auto rs = records(dir);
  EXPECT_THAT(log.str(), Not(HasSubstr("seq=3 ")));
  EXPECT_THAT(log.str(), HasSubstr("event=audit.head seq=6 hash=" + rs[5].hash));
  EXPECT_THAT(log.str(), HasSubstr("event=audit.head seq=9 hash=" + rs[8].hash));
  std::istringstream in(log.str());
  VerifyOptions o;
  o.heads = parse_heads(in);
  EXPECT_EQ(o.heads.size(), 2u);
  auto r = run(dir, o);
  EXPECT_FALSE(r.problem);
  EXPECT_EQ(r.heads_matched, 2u);
}

// Retention.

constexpr std::int64_t kDay = 86'400'000;

store::PurgeLimits limits_at(policy::Instant now, std::size_t max_rows = 20'000) {
  store::PurgeLimits l;
  l.audit_before = now - std::chrono::milliseconds{365 * kDay};
  l.events_before = now - std::chrono::milliseconds{30 * kDay};
  l.max_rows = max_rows;
  return l;
}

std::int64_t scalar(const TempDir& dir, const std::string& query) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(dir.db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr);
  std::int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// Events received long ago and delivered, then recent ones: what a year of service leaves.
void write_year(const TempDir& dir, store::SqliteStore& s, policy::Instant old_at,
                policy::Instant recent_at) {
  for (int i = 0; i < 4; ++i)
    accept(s, event("old" + std::to_string(i), old_at, DeliveryState::due));
  auto due = s.ready(0, 100);
  ASSERT_TRUE(due);
  std::vector<store::DeliveryOutcome> outcomes;
  for (const auto& d : *due)
    outcomes.push_back(
        store::testing::outcome_for(d, store::DeliveryOutcome::Kind::delivered, old_at));
  ASSERT_TRUE(s.record_outcomes(outcomes, old_at));
  accept(s, event("old-held", old_at, DeliveryState::held));  // never released: kept
  accept(s, event("recent", recent_at, DeliveryState::held));
  (void)dir;
}

TEST(AuditRetention, APurgeWritesACheckpointAndTheRestStillVerifies) {
  TempDir dir;
  const policy::Instant now = at("2027-12-15T12:00:00+01:00");
  std::int64_t recent_first = 0;
  {
    auto s = open_store(dir);
    write_year(dir, *s, at("2026-11-27T21:00:00+01:00"), at("2027-12-10T10:00:00+01:00"));
    recent_first = scalar(dir, "SELECT min(seq) FROM audit WHERE event_id = 'recent'");
    auto r = s->purge(limits_at(now), now);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->audit_records, recent_first - 1);
    EXPECT_EQ(r->purged_through, recent_first - 1);
    EXPECT_FALSE(r->more);
    EXPECT_EQ(r->events, 4);  // the delivered ones; the held one stays
    EXPECT_EQ(r->deliveries, 8);
  }
  EXPECT_EQ(scalar(dir, "SELECT min(seq) FROM audit"), recent_first);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM audit WHERE kind = 'checkpoint'"), 1);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM audit WHERE kind = 'purged'"), 1);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM events WHERE event_id LIKE 'old%'"), 1);
  auto r = run(dir);
  EXPECT_FALSE(r.problem) << r.problem->message;
  EXPECT_EQ(r.first_seq, recent_first);
  EXPECT_THAT(r.anchor, HasSubstr("checkpoint record"));

  // A second purge a year later removes the first checkpoint too; its own one anchors the rest.
  {
    auto s = open_store(dir);
    const policy::Instant later = at("2028-12-20T12:00:00+01:00");
    accept(*s, event("later", later, DeliveryState::held));
    auto p = s->purge(limits_at(later), later);
    ASSERT_TRUE(p.has_value());
    EXPECT_GT(p->audit_records, 0);
  }
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM audit WHERE kind = 'checkpoint'"), 1);
  r = run(dir);
  EXPECT_FALSE(r.problem) << r.problem->message;
}

TEST(AuditRetention, AForgedCheckpointHidingRecentRecordsIsCaughtAgainstTheLog) {
  TempDir dir;
  write_trail(dir, 10);
  auto rs = records(dir);
  const auto heads = heads_of(rs, 5);
  // Records 1 to 10 removed, and a checkpoint claiming their purge appended to the chain.
  store::AuditRecord forged = rs.back();
  forged.seq = 31;
  forged.kind = "checkpoint";
  forged.source = forged.event_id = forged.establishment = forged.category = "";
  forged.recipient = forged.role = "";
  forged.detail = R"({"purged_from":1,"purged_through":10,"records":10,"continues_from":")" +
                  rs[9].hash + R"(","before":"2025-01-01T00:00:00+00:00"})";
  store::chain(forged, rs.back().hash);
  rs.erase(rs.begin(), rs.begin() + 10);
  rs.push_back(forged);
  replace_all(dir, rs);
  EXPECT_FALSE(run(dir).problem) << "without the log, a forged purge looks like a real one";
  VerifyOptions o;
  o.heads = heads;
  auto r = run(dir, o);
  ASSERT_TRUE(r.problem);
  EXPECT_EQ(r.problem->kind, Problem::Kind::unanchored);
  EXPECT_EQ(r.problem->seq, 11);
  EXPECT_THAT(r.problem->message, HasSubstr("event=audit.checkpoint seq=31"));
}

TEST(AuditRetention, ARealPurgeIsVouchedForByTheCheckpointItLogs) {
  TempDir dir;
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  spdlog::default_logger()->set_pattern(core::kStderrLogPattern);
  const policy::Instant now = at("2027-12-15T12:00:00+01:00");
  {
    auto s = open_store(dir);
    s->log_heads_every(3);
    write_year(dir, *s, at("2026-11-27T21:00:00+01:00"), at("2027-12-10T10:00:00+01:00"));
    ASSERT_TRUE(s->purge(limits_at(now), now));
  }
  spdlog::set_default_logger(previous);
  EXPECT_THAT(log.str(), HasSubstr("event=audit.checkpoint seq="));
  std::istringstream in(log.str());
  VerifyOptions o;
  o.heads = parse_heads(in);
  auto r = run(dir, o);
  EXPECT_FALSE(r.problem) << r.problem->message;
  EXPECT_GT(r.heads_before, 0u);
}

TEST(AuditRetention, BodiesOfFinishedEventsGoAfterTheirRetentionWhileRecordsStay) {
  TempDir dir;
  const policy::Instant received = at("2026-11-02T10:00:00+01:00");
  const policy::Instant now = at("2026-12-15T12:00:00+01:00");  // 43 days later
  auto s = open_store(dir);
  write_year(dir, *s, received, at("2026-12-14T10:00:00+01:00"));
  const auto records_before = scalar(dir, "SELECT count(*) FROM audit");
  auto r = s->purge(limits_at(now), now);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->audit_records, 0);
  EXPECT_EQ(r->bodies, 4);
  EXPECT_EQ(r->events, 0);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM events WHERE body IS NULL"), 4);
  EXPECT_EQ(scalar(dir,
                   "SELECT count(*) FROM events WHERE event_id = 'old-held' AND body IS "
                   "NOT NULL"),
            1)
      << "a held event keeps its body: it has yet to be sent";
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM audit"), records_before + 1);  // + purged
  EXPECT_FALSE(run(dir).problem);
}

TEST(AuditRetention, APurgeInSlicesWritesOneCheckpointPerSliceAndVerifies) {
  TempDir dir;
  const policy::Instant now = at("2027-12-15T12:00:00+01:00");
  auto s = open_store(dir);
  write_year(dir, *s, at("2026-11-27T21:00:00+01:00"), at("2027-12-10T10:00:00+01:00"));
  int slices = 0;
  for (;;) {
    auto r = s->purge(limits_at(now, 5), now);
    ASSERT_TRUE(r.has_value());
    ++slices;
    if (!r->more)
      break;
    ASSERT_LT(slices, 100);
  }
  EXPECT_GT(slices, 2);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM events WHERE event_id LIKE 'old%'"), 1);
  auto r = run(dir);
  EXPECT_FALSE(r.problem) << r.problem->message;
}

TEST(AuditRetention, EventsThatMustStayNeverMakeThePurgeAskForMore) {
  TempDir dir;
  auto s = open_store(dir);
  const policy::Instant old = at("2025-11-02T10:00:00+01:00");
  for (int i = 0; i < 5; ++i)  // held, never released: their bodies and rows stay
    accept(*s, event("held" + std::to_string(i), old, DeliveryState::held));
  const policy::Instant now = at("2026-12-15T12:00:00+01:00");
  sql(dir, "DELETE FROM audit");  // only the events matter here
  auto r = s->purge(limits_at(now, 2), now);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->bodies + r->events, 0);
  EXPECT_FALSE(r->more) << "nothing can go: another slice would find the same";
}

TEST(AuditRetention, OldEventsThatMustStayDoNotHideTheRemovableOnesBehindThem) {
  TempDir dir;
  auto s = open_store(dir);
  const policy::Instant old = at("2025-11-02T10:00:00+01:00");
  for (int i = 0; i < 6; ++i)  // more than a slice of events that must stay, first
    accept(*s, event("held" + std::to_string(i), old, DeliveryState::held));
  for (int i = 0; i < 3; ++i)
    accept(*s, event("done" + std::to_string(i), old, DeliveryState::due));
  auto due = s->ready(0, 100);
  ASSERT_TRUE(due);
  std::vector<store::DeliveryOutcome> outcomes;
  for (const auto& d : *due)
    outcomes.push_back(
        store::testing::outcome_for(d, store::DeliveryOutcome::Kind::delivered, old));
  ASSERT_TRUE(s->record_outcomes(outcomes, old));
  const policy::Instant now = at("2026-12-15T12:00:00+01:00");
  std::int64_t events = 0, bodies = 0;
  for (int call = 0; call < 10; ++call) {
    auto r = s->purge(limits_at(now, 5), now);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    events += r->events;
    bodies += r->bodies;
    if (!r->more)
      break;
  }
  EXPECT_EQ(events, 3);
  EXPECT_EQ(bodies, 3);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM events WHERE event_id LIKE 'done%'"), 0);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM events WHERE event_id LIKE 'held%'"), 6);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM events WHERE body IS NULL"), 0);
  EXPECT_FALSE(run(dir).problem);
}

TEST(AuditRetention, TheStoreCountsStayExactAcrossAcceptReleaseAndPurge) {
  TempDir dir;
  auto s = open_store(dir);
  auto check = [&](const char* when) {
    auto st = s->stats();
    ASSERT_TRUE(st.has_value()) << when;
    EXPECT_EQ(static_cast<std::int64_t>(st->events), scalar(dir, "SELECT count(*) FROM events"))
        << when;
    EXPECT_EQ(static_cast<std::int64_t>(st->held),
              scalar(dir, "SELECT count(*) FROM deliveries WHERE state = 'held'"))
        << when;
    EXPECT_EQ(static_cast<std::int64_t>(st->due),
              scalar(dir, "SELECT count(*) FROM deliveries WHERE state = 'due'"))
        << when;
    EXPECT_EQ(static_cast<std::int64_t>(st->audit_records),
              scalar(dir, "SELECT count(*) FROM audit"))
        << when;
  };
  check("empty");
  write_year(dir, *s, at("2026-11-27T21:00:00+01:00"), at("2027-12-10T10:00:00+01:00"));
  accept(*s, event("old", at("2026-11-27T21:00:00+01:00"), DeliveryState::held));
  std::vector<store::NewEvent> again{event("old", at("2026-11-27T21:00:00+01:00"))};
  ASSERT_TRUE(s->accept(again, at("2026-11-28T08:00:00+01:00")));  // a repeat: not counted
  check("accepted");
  ASSERT_TRUE(s->release_due(at("2026-11-28T08:00:00+01:00"), 100));
  check("released");
  const policy::Instant now = at("2027-12-15T12:00:00+01:00");
  for (int call = 0; call < 10; ++call) {
    auto r = s->purge(limits_at(now, 3), now);
    ASSERT_TRUE(r.has_value());
    check("purging");
    if (!r->more)
      break;
  }
  s.reset();
  s = open_store(dir);
  check("reopened");
}

TEST(AuditRetention, NothingOldNothingPurgedNoRecord) {
  TempDir dir;
  auto s = open_store(dir);
  const policy::Instant now = at("2026-11-28T12:00:00+01:00");
  accept(*s, event("e", now, DeliveryState::held));
  auto r = s->purge(limits_at(now), now);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->audit_records + r->bodies + r->events, 0);
  EXPECT_EQ(scalar(dir, "SELECT count(*) FROM audit"), 3);
}

TEST(AuditRetention, ADeadDeliveryWhoseBodyWasPurgedIsNotReplayed) {
  TempDir dir;
  const policy::Instant received = at("2026-11-02T10:00:00+01:00");
  auto s = open_store(dir);
  accept(*s, event("dead", received, DeliveryState::due, 1));
  auto due = s->ready(0, 10);
  ASSERT_TRUE(due && due->size() == 1);
  store::DeliveryOutcome o;
  o.kind = store::DeliveryOutcome::Kind::dead;
  o.ref.seq = (*due)[0].ref.seq;
  o.ref.source = "ent";
  o.ref.event_id = "dead";
  o.ref.timezone = "Europe/Paris";
  o.ref.recipient = "eleve-0";
  o.status = 400;
  o.first_attempt_at = received;
  ASSERT_TRUE(s->record_outcomes(std::vector{o}, received));
  const policy::Instant now = at("2026-12-15T12:00:00+01:00");
  ASSERT_TRUE(s->purge(limits_at(now), now));
  auto replayed = s->replay({}, now);
  ASSERT_TRUE(replayed.has_value());
  EXPECT_EQ(*replayed, 0u) << "nothing left to send";
}

TEST(AuditConfigRecord, TheFirstConfigurationAndEachChangeAreRecordedOnce) {
  TempDir dir;
  auto s = open_store(dir);
  const policy::Instant now = at("2026-11-28T12:00:00+01:00");
  store::ConfigChange c{std::string(64, '1'), "/etc/treve/treve.toml", "file owned by root", ""};
  EXPECT_EQ(s->record_config(c, now), true);
  EXPECT_EQ(s->record_config(c, now), false);
  c.digest = std::string(64, '2');
  EXPECT_EQ(s->record_config(c, now), true);
  auto rs = records(dir);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].kind, "config_changed");
  EXPECT_THAT(rs[0].detail, HasSubstr("\"before\":null"));
  EXPECT_THAT(rs[1].detail, HasSubstr("\"before\":\"" + std::string(64, '1') + "\""));
  EXPECT_THAT(rs[1].detail, HasSubstr("\"after\":\"" + std::string(64, '2') + "\""));
  EXPECT_FALSE(run(dir).problem);
}

TEST(AuditTrail, CountsSplitReleasesAtOnceFromReleasesAfterAHold) {
  TempDir dir;
  auto s = open_store(dir);
  const policy::Instant evening = at("2026-11-27T21:00:00+01:00");
  accept(*s, event("held", evening, DeliveryState::held, 2));
  accept(*s, event("now", at("2026-11-27T10:00:00+01:00"), DeliveryState::due, 1));
  ASSERT_TRUE(s->release_due(at("2026-11-28T07:00:00+01:00"), 100));
  auto trail = Trail::open(dir.db());
  ASSERT_TRUE(trail);
  auto counts = (*trail)->counts({});
  ASSERT_TRUE(counts);
  std::map<std::string, std::int64_t> by;
  for (const auto& c : *counts) {
    by[c.kind + (c.after_hold ? "+hold" : "") + "@" + std::to_string(c.hour)] += c.n;
  }
  EXPECT_EQ(by["held@21"], 2);
  EXPECT_EQ(by["released@10"], 1);      // decided at once, at 10:00 local
  EXPECT_EQ(by["released+hold@7"], 2);  // released at 07:00 local
  EXPECT_EQ(by["received@21"] + by["received@10"], 2);
}

}  // namespace
}  // namespace treve::audit
