// `treve audit …` as functions: their arguments, their messages and exit statuses, and what
// they print, on a real store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "daemon/audit/trail.h"
#include "daemon/cli/commands.h"
#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"

namespace treve::cli {
namespace {

using store::testing::at;
using store::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A store under dir with two events of 0750654D (a message held for two people, a grade for
// one, decided at once) and one of 0250001R, and the pseudonym key beside it.
void write_store(const TempDir& dir) {
  auto key = store::load_or_create_key(dir.file("pseudonym.key"));
  ASSERT_TRUE(key);
  store::SqliteOptions o;
  o.path = dir.db();
  o.pseudonym_key = *key;
  auto s = store::SqliteStore::open(o);
  ASSERT_TRUE(s);
  auto make = [](std::string id, std::string uai, policy::Category c, std::string received,
                 std::vector<std::string> people, store::DeliveryState state) {
    store::NewEvent e;
    e.source = "ent";
    e.id = std::move(id);
    e.establishment = std::move(uai);
    e.category = c;
    e.received_at = at(received);
    e.zone = date::locate_zone("Europe/Paris");
    e.body = R"({"title":"Réunion, \"parents\""})";
    e.body_sha256 = core::sha256_hex(e.id);
    e.response = "{}";
    for (auto& p : people) {
      store::NewDelivery d;
      d.recipient = p;
      d.state = state;
      d.release_at = at("2026-11-30T07:00:00+01:00");
      d.reason = "quiet window Fri 20:00-Mon 07:00, \"weekend\"";
      e.deliveries.push_back(d);
    }
    return e;
  };
  std::vector<store::NewEvent> events;
  events.push_back(make("m1", "0750654D", policy::Category::message, "2026-11-27T21:00:00+01:00",
                        {"eleve-1", "parent-1"}, store::DeliveryState::held));
  events.push_back(make("g1", "0750654D", policy::Category::grade, "2026-11-27T10:00:00+01:00",
                        {"eleve-1"}, store::DeliveryState::due));
  events.push_back(make("b1", "0250001R", policy::Category::blog, "2026-11-27T11:00:00+01:00",
                        {"eleve-9"}, store::DeliveryState::due));
  ASSERT_TRUE((*s)->accept(events, at("2026-11-27T21:00:00+01:00")));
}

struct Output {
  int status = 0;
  std::string out, err;
};

AuditLocation at_dir(const TempDir& dir) {
  AuditLocation l;
  l.state_dir = dir.path().string();
  return l;
}

Output export_with(const TempDir& dir, AuditExportRequest r) {
  r.where = at_dir(dir);
  std::ostringstream out, err;
  Output o;
  o.status = audit_export(r, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

AuditExportRequest november() {
  AuditExportRequest r;
  r.period.from = "2026-11-01";
  r.period.to = "2026-11-30";
  return r;
}

TEST(AuditCommand, ExportWritesQuotedCsvOfTheRecordsAsked) {
  TempDir dir;
  write_store(dir);
  auto r = november();
  r.establishments = {"0750654D"};
  r.kinds = {"held", "received"};
  auto o = export_with(dir, r);
  ASSERT_EQ(o.status, 0) << o.err;
  std::istringstream lines(o.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line,
            "seq,at,at_utc,at_local,kind,source,event_id,establishment,category,recipient,role,"
            "detail,prev_hash,hash");
  int rows = 0;
  while (std::getline(lines, line)) {
    ++rows;
    EXPECT_THAT(line, Not(HasSubstr("0250001R")));
  }
  EXPECT_EQ(rows, 4);  // received m1, held x2, received g1
  // The reason's comma and quotes are inside one quoted field, quotes doubled.
  EXPECT_THAT(o.out, HasSubstr(R"("{""until"":""2026-11-30T07:00:00+01:00"",""reason"":)"
                               R"(""quiet window Fri 20:00-Mon 07:00, \""weekend\""""}")"));
  EXPECT_THAT(o.err, HasSubstr("4 record(s) exported"));
}

TEST(AuditCommand, ExportAsJsonLinesKeepsTheHashedDetailText) {
  TempDir dir;
  write_store(dir);
  auto r = november();
  r.format = "jsonl";
  auto o = export_with(dir, r);
  ASSERT_EQ(o.status, 0) << o.err;
  std::istringstream lines(o.out);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    ++rows;
    auto v = boost::json::parse(line).as_object();
    EXPECT_TRUE(v.at("detail").is_string());
    EXPECT_EQ(v.at("hash").as_string().size(), 64u);
  }
  EXPECT_EQ(rows, 7);  // 3 received, 2 held, 2 released at once
}

TEST(AuditCommand, ExportNamesEachBadArgument) {
  TempDir dir;
  write_store(dir);
  auto r = november();
  r.format = "xlsx";
  EXPECT_THAT(export_with(dir, r).err, StartsWith("--format: expected csv or jsonl"));
  r = november();
  r.period.from = "2026-13-01";
  EXPECT_THAT(export_with(dir, r).err, StartsWith("--from: \"2026-13-01\" is not a date"));
  r = november();
  r.period.to = "yesterday";
  EXPECT_THAT(export_with(dir, r).err, StartsWith("--to: \"yesterday\" is neither a date"));
  r = november();
  r.period.from = "2026-12-01";
  EXPECT_THAT(export_with(dir, r).err, StartsWith("--to must come after --from"));
  r = november();
  r.kinds = {"sent"};
  auto o = export_with(dir, r);
  EXPECT_EQ(o.status, 1);
  EXPECT_THAT(o.err, AllOf(StartsWith("--kind: unknown kind \"sent\""), HasSubstr("delivered")));
  r = november();
  r.period.timezone = "Europe/Lutece";
  EXPECT_THAT(export_with(dir, r).err, StartsWith("--timezone: unknown time zone"));
}

// The kinds export, find and stats accept are the kinds docs/audit.md lists, in its order: a
// kind the store writes and the auditor's tools refuse is a kind nobody can select.
TEST(AuditCommand, TheKindsAcceptedAreTheKindsDocumented) {
  std::ifstream doc(std::string(TREVE_SOURCE_DIR) + "/docs/audit.md");
  ASSERT_TRUE(doc) << "docs/audit.md";
  std::vector<std::string> documented;
  bool in_table = false;
  for (std::string line; std::getline(doc, line);) {
    if (line.starts_with("| kind | when |")) {
      in_table = true;
      continue;
    }
    if (in_table && !line.starts_with("|"))
      break;
    if (in_table && line.starts_with("| `")) {
      const auto end = line.find('`', 3);
      documented.push_back(line.substr(3, end - 3));
    }
  }
  std::vector<std::string> accepted(audit::record_kinds().begin(), audit::record_kinds().end());
  EXPECT_EQ(accepted, documented);
  for (const std::string& kind : documented) {
    auto r = november();
    r.kinds = {kind};
    TempDir dir;
    write_store(dir);
    EXPECT_EQ(export_with(dir, r).status, 0) << kind;
  }
}

TEST(AuditCommand, ADayIsTheEstablishmentsLocalDay) {
  TempDir dir;
  write_store(dir);
  auto r = november();
  r.period.from = "2026-11-27";
  r.period.to = "2026-11-27";
  EXPECT_THAT(export_with(dir, r).err, HasSubstr("7 record(s)"));
  r.period.from = "2026-11-28";
  r.period.to = "2026-11-28";
  EXPECT_THAT(export_with(dir, r).err, HasSubstr("0 record(s)"));
  // 21:00 in Paris is 20:00 UTC: an instant bound is exact.
  r.period.from = "2026-11-27T20:00:00Z";
  r.period.to = "2026-11-27T20:00:00.001Z";
  EXPECT_THAT(export_with(dir, r).err, HasSubstr("3 record(s)"));
}

TEST(AuditCommand, FindListsOnePersonsRecordsWithTheKeyOnly) {
  TempDir dir;
  write_store(dir);
  AuditFindRequest r;
  r.where = at_dir(dir);
  r.recipient = "eleve-1";
  std::ostringstream out, err;
  ASSERT_EQ(audit_find(r, out, err), 0) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("pseudonym at ent: "));
  EXPECT_THAT(out.str(), HasSubstr("held  ent/m1"));
  EXPECT_THAT(out.str(), HasSubstr("released  ent/g1"));
  EXPECT_THAT(out.str(), Not(HasSubstr("ent/b1")));
  EXPECT_THAT(err.str(), HasSubstr("2 record(s) about this person"));

  // From a copy of the database, the key must be given: it is never kept with it.
  r.where = AuditLocation{};
  r.where.db = dir.db();
  std::ostringstream out2, err2;
  EXPECT_EQ(audit_find(r, out2, err2), 1);
  EXPECT_THAT(err2.str(), StartsWith("--key-file: needed with --db"));
  // Another key finds nobody.
  std::ofstream(dir.file("other.key")) << std::string(32, 'k');
  r.key_file = dir.file("other.key");
  std::ostringstream out3, err3;
  EXPECT_EQ(audit_find(r, out3, err3), 0);
  EXPECT_THAT(err3.str(), HasSubstr("0 record(s)"));
}

TEST(AuditCommand, StatsCountWhatWasHeldAndSentAtOnce) {
  TempDir dir;
  write_store(dir);
  AuditStatsRequest r;
  r.where = at_dir(dir);
  r.establishments = {"0750654D"};
  std::ostringstream out, err;
  ASSERT_EQ(audit_stats(r, out, err), 0) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("events received                            2"));
  EXPECT_THAT(out.str(), HasSubstr("deliveries decided                         3"));
  EXPECT_THAT(out.str(), HasSubstr("held for a quiet time                    2  (66.7 %)"));
  r.format = "json";
  std::ostringstream json, err2;
  ASSERT_EQ(audit_stats(r, json, err2), 0);
  auto v = boost::json::parse(json.str()).as_object();
  EXPECT_EQ(v.at("totals").at("sent_at_once").as_int64(), 1);
  EXPECT_EQ(v.at("by_category").at("message").at("held").as_int64(), 2);
  EXPECT_EQ(v.at("by_hour").at(21).at("held").as_int64(), 2);
}

TEST(AuditCommand, VerifySaysWhyItCannotReadAndNamesTheFirstBadRecord) {
  TempDir dir;
  AuditVerifyRequest r;
  r.where.db = dir.file("absent.db");
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(audit_verify(r, in, out, err), kExitAuditUnverifiable);
  EXPECT_THAT(err.str(), HasSubstr("cannot read " + dir.file("absent.db")));

  sqlite3* db = nullptr;
  sqlite3_open(dir.file("other.db").c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  r.where.db = dir.file("other.db");
  std::ostringstream out2, err2;
  EXPECT_EQ(audit_verify(r, in, out2, err2), kExitAuditUnverifiable);
  EXPECT_THAT(err2.str(), HasSubstr("is not a trêve store"));

  write_store(dir);
  r.where.db = dir.db();
  std::ostringstream out3, err3;
  EXPECT_EQ(audit_verify(r, in, out3, err3), 0) << out3.str() << err3.str();
  EXPECT_THAT(out3.str(), HasSubstr("the audit trail is intact"));
  EXPECT_THAT(out3.str(), HasSubstr("records:  7 (1 to 7)"));

  sqlite3_open(dir.db().c_str(), &db);
  sqlite3_exec(db, "UPDATE audit SET establishment = '0250001R' WHERE seq = 4", nullptr, nullptr,
               nullptr);
  sqlite3_close(db);
  std::ostringstream out4, err4;
  EXPECT_EQ(audit_verify(r, in, out4, err4), kExitAuditBroken);
  EXPECT_THAT(out4.str(), HasSubstr("NOT intact"));
  EXPECT_THAT(out4.str(), HasSubstr("record 4: edited:"));
  EXPECT_THAT(out4.str(), HasSubstr("records 1 to 3 verified"));

  r.heads_file = dir.file("no-heads.log");
  std::ofstream(r.heads_file) << "nothing here\n";
  std::ostringstream out5, err5;
  EXPECT_EQ(audit_verify(r, in, out5, err5), kExitAuditUnverifiable);
  EXPECT_THAT(err5.str(), HasSubstr("has no line with \"event=audit.head"));
}

}  // namespace
}  // namespace treve::cli
