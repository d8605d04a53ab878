// The auditor's tools, `treve audit verify|export|find|stats`, run as the real `treve` binary on
// the SQLite store of a real daemon (`treve serve`, launched here with a configuration of our
// own so that the chain head is logged every few records and the state directory is ours).
//
// What trêve promises (docs/audit.md) and what is checked here:
//   - the daemon logs `event=audit.head seq=N hash=H` at start, at stop and every
//     `audit.head_log_every` records, and `verify --heads LOG` checks the trail against them:
//     a truncated trail, or a removed record with the rest of the chain recomputed, passes the
//     chain check alone but is caught against the log;
//   - no recipient id, title or payload is ever in the audit table, in an export or in the
//     statistics, yet `find` lists a person's records when given their id and the key;
//   - export and verify read a snapshot of the live database without holding up ingest, and an
//     export re-verifies as a hash chain with an independent implementation;
//   - the retention purge at start leaves a chain that verifies from its checkpoint record.
//
// The chain is recomputed with daemon_harness.h's canonical encoding (written from the
// documented format, not from the daemon's code).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <compare>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <date/tz.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/store/sqlite_store.h"
#include "tests/daemon/store_fixture.h"
#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// ---- `treve` as a process --------------------------------------------------------------------

using Proc = ProcessResult;

Proc treve(const std::vector<std::string>& args, const std::string& input = "") {
  return run_treve(args, input);
}

// ---- the daemon, with our configuration ------------------------------------------------------

// The harness's daemon (every non-urgent event held), with the chain head logged every
// `head_log_every` records. Its stderr is appended to one log file across restarts: the log
// `verify --heads` reads.
std::unique_ptr<Daemon> serve(const std::string& state_dir, std::int64_t head_log_every) {
  DaemonOptions o;
  o.state_dir = state_dir;
  o.extra_config = "\n[audit]\nhead_log_every = " + std::to_string(head_log_every) + "\n";
  return std::make_unique<Daemon>(std::move(o));
}

// ---- logged heads, CSV, the chain --------------------------------------------------------------

// The `event=audit.head seq=N hash=H` lines of a log, in order.
std::vector<std::pair<std::int64_t, std::string>> logged_heads(const std::string& log) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    static constexpr std::string_view kHead = "event=audit.head seq=";
    auto at = line.find(kHead);
    if (at == std::string::npos)
      continue;
    std::size_t pos = at + kHead.size();
    const std::int64_t seq = std::stoll(line.substr(pos));
    auto h = line.find(" hash=", pos);
    if (h == std::string::npos || h + 6 + 64 > line.size()) {
      ADD_FAILURE() << "a head line without its hash: " << line;
      continue;
    }
    out.emplace_back(seq, line.substr(h + 6, 64));
  }
  return out;
}

std::set<std::int64_t> head_seqs(const std::string& log) {
  std::set<std::int64_t> out;
  for (const auto& [seq, hash] : logged_heads(log))
    out.insert(seq);
  return out;
}

// RFC 4180: fields separated by commas, records by CRLF or LF; a quoted field may hold commas,
// line breaks and quotes (doubled). Throws on a malformed text.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  std::size_t i = 0;
  const std::size_t n = text.size();
  bool any = false;  // the current record has started
  while (i < n) {
    if (text[i] == '"') {
      ++i;
      for (;;) {
        if (i >= n)
          throw std::runtime_error("unterminated quoted field");
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
      if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
        throw std::runtime_error("text after a closing quote at byte " + std::to_string(i));
      any = true;
      continue;
    }
    const char c = text[i];
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
      ++i;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < n && text[i + 1] == '\n')
        ++i;
      ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      if (c == '"')
        throw std::runtime_error("a quote inside an unquoted field");
      field += c;
      any = true;
      ++i;
    }
  }
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

constexpr std::string_view kCsvHeader =
    "seq,at,at_utc,at_local,kind,source,event_id,establishment,category,recipient,role,detail,"
    "prev_hash,hash";

// "YYYY-MM-DDTHH:MM:SS" of a millisecond instant, in UTC.
std::string utc_seconds(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

// The records of a CSV export (after checking its header and shape).
std::vector<AuditRow> rows_of_csv(const std::string& text) {
  auto table = parse_csv(text);
  std::vector<AuditRow> out;
  if (table.empty()) {
    ADD_FAILURE() << "an empty export";
    return out;
  }
  std::string header;
  for (std::size_t i = 0; i < table[0].size(); ++i)
    header += (i ? "," : "") + table[0][i];
  EXPECT_EQ(header, kCsvHeader);
  for (std::size_t i = 1; i < table.size(); ++i) {
    const auto& f = table[i];
    if (f.size() != 14) {
      ADD_FAILURE() << "CSV record " << i << " has " << f.size() << " fields";
      continue;
    }
    AuditRow r;
    r.seq = std::stoll(f[0]);
    r.at = std::stoll(f[1]);
    EXPECT_EQ(f[2].substr(0, 19), utc_seconds(r.at)) << "at_utc of record " << r.seq;
    r.at_local = f[3];
    r.kind = f[4];
    r.source = f[5];
    r.event_id = f[6];
    r.establishment = f[7];
    r.category = f[8];
    r.recipient = f[9];
    r.role = f[10];
    r.detail = f[11];
    r.prev_hash = f[12];
    r.hash = f[13];
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<AuditRow> rows_of_jsonl(const std::string& text) {
  std::vector<AuditRow> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const json::object o = json::parse(line).as_object();
    EXPECT_EQ(o.size(), 14u) << line;
    auto s = [&](const char* k) { return std::string(o.at(k).as_string()); };
    AuditRow r;
    r.seq = o.at("seq").as_int64();
    r.at = o.at("at").as_int64();
    EXPECT_EQ(s("at_utc").substr(0, 19), utc_seconds(r.at));
    r.at_local = s("at_local");
    r.kind = s("kind");
    r.source = s("source");
    r.event_id = s("event_id");
    r.establishment = s("establishment");
    r.category = s("category");
    r.recipient = s("recipient");
    r.role = s("role");
    r.detail = s("detail");
    r.prev_hash = s("prev_hash");
    r.hash = s("hash");
    out.push_back(std::move(r));
  }
  return out;
}

// Empty when `rows` form a contiguous chain starting at `first_seq` from `prev`: seqs follow
// each other, each prev_hash is the hash before it, and every hash recomputes.
std::string check_chain(const std::vector<AuditRow>& rows, std::string prev,
                        std::int64_t first_seq) {
  std::int64_t expected = first_seq;
  for (const AuditRow& r : rows) {
    const std::string at = "record " + std::to_string(r.seq) + ": ";
    if (r.seq != expected)
      return at + "expected seq " + std::to_string(expected);
    if (r.prev_hash != prev)
      return at + "prev_hash " + r.prev_hash + " is not the previous hash " + prev;
    const std::string computed = sha256_hex(prev + "\n" + canonical_audit(r));
    if (computed != r.hash)
      return at + "hash " + r.hash + " but it recomputes to " + computed;
    prev = r.hash;
    ++expected;
  }
  return {};
}

// Writes a changed audit table: every record after `from_seq` replaced by `rows`.
void replace_tail(const std::string& db_path, std::int64_t from_seq,
                  const std::vector<AuditRow>& rows) {
  Db db(db_path, false);
  db.query("BEGIN IMMEDIATE");
  db.query("DELETE FROM audit WHERE seq >= ?", {std::to_string(from_seq)});
  for (const AuditRow& r : rows) {
    db.query(
        "INSERT INTO audit (seq, at, at_local, kind, source, event_id, establishment, category, "
        "recipient, role, detail, prev_hash, hash) VALUES "
        "(CAST(?1 AS INTEGER), CAST(?2 AS INTEGER), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13)",
        {std::to_string(r.seq), std::to_string(r.at), r.at_local, r.kind, r.source, r.event_id,
         r.establishment, r.category, r.recipient, r.role, r.detail, r.prev_hash, r.hash});
  }
  db.query("COMMIT");
}

// Every column of every audit row, as text, one row a line.
std::string dump_audit(const std::string& db_path) {
  Db db(db_path);
  std::string out;
  for (const auto& row : db.query("SELECT * FROM audit ORDER BY seq")) {
    for (const auto& col : row)
      out += col.value_or("<null>") + '\x1f';
    out += '\n';
  }
  return out;
}

// The number shown after `label` in `treve audit stats`' text output; -1 when absent.
std::int64_t stats_line(const std::string& text, const std::string& label) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  " + label + " ", 0) == 0) {
      std::istringstream rest(line.substr(2 + label.size()));
      std::int64_t n = -1;
      rest >> n;
      return n;
    }
  }
  return -1;
}

// ---- a trail made through the API -------------------------------------------------------------

// Recipients with distinctive ids (none of them may ever reach the audit table).
const Recipient kAlpha{"eleve-ALPHA-Kq4417", "student", ""};
const Recipient kBravo{"eleve-BRAVO-Wz5528", "student", ""};
const Recipient kCharlie{"parent-CHARLIE-Xy6639", "parent", "eleve-ALPHA-Kq4417"};
const Recipient kDelta{"prof-DELTA-Jv7740", "staff", ""};
const Recipient kEcho{"élève-ÉCHO-Pm8851", "student", ""};
const std::vector<Recipient> kPeople{kAlpha, kBravo, kCharlie, kDelta, kEcho};

// One per-recipient record the trail must hold.
struct Expect {
  std::string source;
  std::string event_id;
  std::string recipient;  // the raw id
  std::string role;
  std::string kind;
  auto operator<=>(const Expect&) const = default;
};

struct Scenario {
  int events = 0;
  int retracted = 0;
  std::multiset<Expect> per_recipient;
  std::vector<std::string> secrets;  // what must never be in the trail
};

std::string two_digits(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d", i);
  return buf;
}

EventSpec scenario_event(int i) {
  static const std::vector<std::vector<Recipient>> sets = {
      {kAlpha, kCharlie, kDelta},        {kBravo, kEcho},
      {kAlpha, kBravo, kCharlie, kEcho}, {kDelta, kEcho},
      {kAlpha, kBravo, kDelta},          {kCharlie, kEcho},
  };
  static const std::vector<std::string> categories = {"message", "grade",    "homework",
                                                      "news",    "schedule", "absence"};
  EventSpec spec;
  spec.id = "evt-" + two_digits(i);
  spec.category = categories[static_cast<std::size_t>(i) % categories.size()];
  spec.recipients = sets[static_cast<std::size_t>(i) % sets.size()];
  spec.title = "Conseil de classe SECRET-TITLE-" + two_digits(i) + " : résultats";
  spec.payload = json::object{
      {"note", "SECRET-PAYLOAD-" + two_digits(i)},
      {"comment", "Absence « justifiée », motif \"médical-confidentiel\""},
  };
  return spec;
}

// Posts events over two runs of the daemon (so that the log holds heads of a start, of two
// stops and of every `head_log_every` records), seven and then five of them (the last two
// through the "alert" connector: the same people get other pseudonyms there), and retracts
// one. Stops the daemon cleanly.
Scenario populate(Daemon& daemon) {
  Scenario s;
  for (const Recipient& p : kPeople)
    s.secrets.push_back(p.id);
  s.secrets.push_back("médical-confidentiel");
  auto post = [&](HttpClient& client, int i, const std::string& token, const std::string& source) {
    const EventSpec spec = scenario_event(i);
    s.secrets.push_back(spec.title);
    s.secrets.push_back("SECRET-TITLE-" + two_digits(i));
    s.secrets.push_back("SECRET-PAYLOAD-" + two_digits(i));
    auto r = client.post_event(event_body(spec), token);
    EXPECT_EQ(r.status, 202) << r;
    for (const Recipient& p : spec.recipients)
      s.per_recipient.insert({source, spec.id, p.id, p.role, "held"});
    ++s.events;
  };
  daemon.start();
  {
    HttpClient client(daemon.port());
    for (int i = 1; i <= 7; ++i)
      post(client, i, kEntToken, "ent");
  }
  EXPECT_EQ(daemon.stop(), 0) << daemon.stderr_log();
  daemon.start();
  {
    HttpClient client(daemon.port());
    for (int i = 8; i <= 10; ++i)
      post(client, i, kEntToken, "ent");
    for (int i = 11; i <= 12; ++i)
      post(client, i, kAlertToken, "alert");
    auto r = client.delete_event("evt-03");
    EXPECT_EQ(r.status, 200) << r;
    for (const Recipient& p : scenario_event(3).recipients) {
      s.per_recipient.insert({"ent", "evt-03", p.id, p.role, "retracted"});
      ++s.retracted;
    }
  }
  EXPECT_EQ(daemon.stop(), 0) << daemon.stderr_log();
  return s;
}

class AuditCli : public ::testing::Test {
 protected:
  // A daemon on a fresh state directory, the chain head logged every 10 records.
  std::unique_ptr<Daemon> fresh(std::int64_t head_log_every = 10) {
    return serve((dir_.path() / "state").string(), head_log_every);
  }
  TempDir dir_{"treve-audit-cli-state"};
};

// ---- 1. verify against the logged heads --------------------------------------------------------

TEST_F(AuditCli, VerifyWithTheLoggedHeadsOfTwoRunsSaysIntact) {
  auto daemon = fresh();
  populate(*daemon);
  Db db(daemon->db_path());
  const auto rows = read_audit(db);
  const auto n = static_cast<std::int64_t>(rows.size());
  ASSERT_GT(n, 40);
  ASSERT_EQ(verify_chain(rows), "");  // the daemon's chain, recomputed independently

  // The heads the daemon logged are those of the trail: at the first stop, at the second start
  // (the same), at the last stop, and after every commit crossing a multiple of 10.
  const std::string log = daemon->stderr_log();
  const auto heads = logged_heads(log);
  for (const auto& [seq, hash] : heads) {
    ASSERT_GE(seq, 1);
    ASSERT_LE(seq, n);
    EXPECT_EQ(hash, rows[static_cast<std::size_t>(seq - 1)].hash) << "logged head of " << seq;
  }
  const std::set<std::int64_t> seqs = head_seqs(log);
  EXPECT_TRUE(seqs.count(n)) << "the last stop logs the head\n" << log;
  for (std::int64_t m = 10; m <= n; m += 10) {
    ASSERT_NE(seqs.lower_bound(m), seqs.end()) << "no head logged for crossing record " << m;
    EXPECT_LT(*seqs.lower_bound(m), m + 10) << "no head logged for crossing record " << m;
  }
  // The first run's head at its stop is logged again when the second run starts, before it
  // writes anything.
  const auto first_stop = log.find("event=serve.stopped");
  ASSERT_NE(first_stop, std::string::npos);
  const auto before_stop = logged_heads(log.substr(0, first_stop));
  const auto after_stop = logged_heads(log.substr(first_stop));
  ASSERT_FALSE(before_stop.empty());
  ASSERT_FALSE(after_stop.empty());
  EXPECT_EQ(after_stop.front(), before_stop.back());

  const std::string expected_summary =
      "records:  " + std::to_string(n) + " (1 to " + std::to_string(n) + ")\n";
  const std::string expected_heads = "logged heads: " + std::to_string(seqs.size()) + " matched\n";
  Proc r = treve(
      {"audit", "verify", "--state-dir", daemon->state_dir(), "--heads", daemon->stderr_path()});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("the audit trail is intact"));
  EXPECT_THAT(r.out, HasSubstr(expected_summary));
  EXPECT_THAT(r.out, HasSubstr("from:     the start of the chain\n"));
  EXPECT_THAT(r.out, HasSubstr("head:     " + rows.back().hash + "\n"));
  EXPECT_THAT(r.out, HasSubstr(expected_heads));
  EXPECT_THAT(r.out, Not(HasSubstr("NOT intact")));

  // The same log on standard input.
  Proc piped = treve({"audit", "verify", "--state-dir", daemon->state_dir(), "--heads", "-"}, log);
  EXPECT_EQ(piped.status, 0) << piped;
  EXPECT_THAT(piped.out, HasSubstr("the audit trail is intact"));
  EXPECT_THAT(piped.out, HasSubstr(expected_summary));
  EXPECT_THAT(piped.out, HasSubstr(expected_heads));

  // An auditor's copy of the database file, by --db.
  const std::string copy = (dir_.path() / "copy.db").string();
  fs::copy_file(daemon->db_path(), copy);
  Proc on_copy = treve({"audit", "verify", "--db", copy, "--heads", daemon->stderr_path()});
  EXPECT_EQ(on_copy.status, 0) << on_copy;
  EXPECT_THAT(on_copy.out, HasSubstr(expected_summary));
  EXPECT_THAT(on_copy.out, HasSubstr(expected_heads));

  // A log without any head is refused as evidence, not taken as "nothing to check".
  Proc no_heads = treve({"audit", "verify", "--state-dir", daemon->state_dir(), "--heads", "-"},
                        "2026-01-01T00:00:00.000 info event=serve.ready\n");
  EXPECT_EQ(no_heads.status, 2) << no_heads;
}

// ---- 2. a truncated trail ----------------------------------------------------------------------

TEST_F(AuditCli, TruncationPassesTheChainButNotTheLoggedHeads) {
  auto daemon = fresh();
  populate(*daemon);
  std::int64_t n = 0;
  {
    Db db(daemon->db_path(), false);
    n = db.scalar("SELECT max(seq) FROM audit");
    ASSERT_GT(n, 10);
    db.query("DELETE FROM audit WHERE seq > ?", {std::to_string(n - 3)});
    // What is left is a chain that verifies on its own.
    ASSERT_EQ(verify_chain(read_audit(db)), "");
  }
  Proc alone = treve({"audit", "verify", "--state-dir", daemon->state_dir()});
  EXPECT_EQ(alone.status, 0) << alone;
  EXPECT_THAT(alone.out, HasSubstr("the audit trail is intact"));
  EXPECT_THAT(alone.out, HasSubstr("records:  " + std::to_string(n - 3) + " (1 to " +
                                   std::to_string(n - 3) + ")"));
  EXPECT_THAT(alone.out, HasSubstr("logged heads: none given"));

  Proc against = treve(
      {"audit", "verify", "--state-dir", daemon->state_dir(), "--heads", daemon->stderr_path()});
  EXPECT_EQ(against.status, 1) << against;
  EXPECT_THAT(against.out, HasSubstr("NOT intact"));
  EXPECT_THAT(against.out, HasSubstr("record " + std::to_string(n - 2) + ": truncated"));
  // It names the first logged head beyond the end of what is left.
  const std::set<std::int64_t> seqs = head_seqs(daemon->stderr_log());
  ASSERT_NE(seqs.upper_bound(n - 3), seqs.end());
  EXPECT_THAT(against.out, HasSubstr("the daemon logged record " +
                                     std::to_string(*seqs.upper_bound(n - 3)) + " "));
  EXPECT_THAT(against.out, Not(HasSubstr("the audit trail is intact")));
}

// ---- 3. a consistent rewrite -------------------------------------------------------------------

TEST_F(AuditCli, ARemovedRecordWithTheChainRecomputedIsCaughtOnlyAgainstTheLog) {
  auto daemon = fresh();
  populate(*daemon);
  const std::string log = daemon->stderr_log();
  const std::set<std::int64_t> seqs = head_seqs(log);
  std::vector<AuditRow> rows;
  {
    Db db(daemon->db_path());
    rows = read_audit(db);
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  // Remove a `held` record from the middle of the first run, then renumber and rehash every
  // record after it, exactly as the documented encoding says.
  std::int64_t victim = 0;
  for (const AuditRow& r : rows) {
    if (r.seq >= n / 4 && r.kind == "held") {
      victim = r.seq;
      break;
    }
  }
  ASSERT_GT(victim, 1);
  // The first logged head at or after the victim, still inside the rewritten trail, is where
  // the rewrite shows.
  auto first_after = seqs.lower_bound(victim);
  ASSERT_NE(first_after, seqs.end());
  ASSERT_LT(*first_after, n) << "the test needs a logged head inside the rewritten part";

  std::vector<AuditRow> tail;
  std::string prev = rows[static_cast<std::size_t>(victim - 2)].hash;
  for (std::int64_t seq = victim + 1; seq <= n; ++seq) {
    AuditRow r = rows[static_cast<std::size_t>(seq - 1)];
    r.seq = seq - 1;
    r.prev_hash = prev;
    r.hash = sha256_hex(prev + "\n" + canonical_audit(r));
    prev = r.hash;
    tail.push_back(std::move(r));
  }
  replace_tail(daemon->db_path(), victim, tail);
  {
    Db db(daemon->db_path());
    const auto rewritten = read_audit(db);
    ASSERT_EQ(static_cast<std::int64_t>(rewritten.size()), n - 1);
    ASSERT_EQ(verify_chain(rewritten), "");  // consistent: the chain alone cannot tell
  }

  Proc alone = treve({"audit", "verify", "--state-dir", daemon->state_dir()});
  EXPECT_EQ(alone.status, 0) << alone;
  EXPECT_THAT(alone.out, HasSubstr("the audit trail is intact"));

  Proc against = treve(
      {"audit", "verify", "--state-dir", daemon->state_dir(), "--heads", daemon->stderr_path()});
  EXPECT_EQ(against.status, 1) << against;
  EXPECT_THAT(against.out, HasSubstr("NOT intact"));
  EXPECT_THAT(against.out, HasSubstr("record " + std::to_string(*first_after) + ": rewritten"));
  // The records before the first bad one were checked.
  EXPECT_THAT(against.out, HasSubstr("records 1 to " + std::to_string(*first_after - 1) +
                                     " verified before it"));

  Proc piped = treve({"audit", "verify", "--state-dir", daemon->state_dir(), "--heads", "-"}, log);
  EXPECT_EQ(piped.status, 1) << piped;
  EXPECT_THAT(piped.out, HasSubstr("rewritten"));
}

// ---- 4. nothing personal in the trail, yet findable with the key -------------------------------

TEST_F(AuditCli, NoIdTitleOrPayloadInTheTrailButFindListsAPersonsRecordsWithTheKey) {
  auto daemon = fresh();
  const Scenario s = populate(*daemon);

  const std::string table = dump_audit(daemon->db_path());
  ASSERT_THAT(table, HasSubstr("evt-01"));  // the dump does hold the records
  {
    // The secrets are real: the store keeps them where they belong (bodies, deliveries).
    Db db(daemon->db_path());
    std::string kept;
    for (const auto& r : db.query("SELECT body FROM events"))
      kept += r[0].value_or("");
    for (const auto& r : db.query("SELECT recipient FROM deliveries"))
      kept += r[0].value_or("") + "\n";
    for (const std::string& secret : s.secrets)
      ASSERT_THAT(kept, HasSubstr(secret));
  }
  const std::vector<std::string> period = {"--from", "2000-01-01", "--to", "2100-12-31"};
  auto args = [&](std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  Proc csv = treve(
      args({"audit", "export", "--state-dir", daemon->state_dir(), "--format", "csv"}, period));
  Proc jsonl = treve(
      args({"audit", "export", "--state-dir", daemon->state_dir(), "--format", "jsonl"}, period));
  Proc stats = treve({"audit", "stats", "--state-dir", daemon->state_dir()});
  Proc stats_json =
      treve({"audit", "stats", "--state-dir", daemon->state_dir(), "--format", "json"});
  Proc stats_csv = treve({"audit", "stats", "--state-dir", daemon->state_dir(), "--format", "csv"});
  for (const Proc* r : {&csv, &jsonl, &stats, &stats_json, &stats_csv})
    ASSERT_EQ(r->status, 0) << *r;
  ASSERT_THAT(csv.out, HasSubstr("evt-12"));
  ASSERT_THAT(jsonl.out, HasSubstr("evt-12"));
  for (const std::string& secret : s.secrets) {
    EXPECT_THAT(table, Not(HasSubstr(secret))) << "in the audit table";
    for (const Proc* r : {&csv, &jsonl, &stats, &stats_json, &stats_csv}) {
      EXPECT_THAT(r->out, Not(HasSubstr(secret)));
      EXPECT_THAT(r->err, Not(HasSubstr(secret)));
    }
  }
  // Exports hold every record, and the stats count them.
  Db db(daemon->db_path());
  const auto rows = read_audit(db);
  EXPECT_EQ(rows_of_csv(csv.out).size(), rows.size());
  EXPECT_EQ(rows_of_jsonl(jsonl.out).size(), rows.size());
  EXPECT_THAT(csv.err, HasSubstr(std::to_string(rows.size()) + " record(s) exported"));
  EXPECT_EQ(stats_line(stats.out, "events received"), s.events) << stats.out;
  EXPECT_EQ(stats_line(stats.out, "retracted while held"), s.retracted) << stats.out;
  EXPECT_EQ(stats_line(stats.out, "  held for a quiet time"),
            static_cast<std::int64_t>(s.per_recipient.size()) - s.retracted)
      << stats.out;

  // `find` with the key in the state directory: exactly the person's per-recipient records, at
  // both connectors, under the pseudonym HMAC(key, source "\n" id).
  const std::string key = read_file(daemon->key_path());
  ASSERT_EQ(key.size(), 32u);
  for (const Recipient& person : kPeople) {
    SCOPED_TRACE(person.id);
    Proc found = treve({"audit", "find", "--recipient", person.id, "--state-dir",
                        daemon->state_dir(), "--format", "jsonl"});
    ASSERT_EQ(found.status, 0) << found;
    std::multiset<Expect> got;
    for (const AuditRow& r : rows_of_jsonl(found.out)) {
      EXPECT_EQ(r.recipient, expected_pseudonym(key, r.source, person.id));
      got.insert({r.source, r.event_id, person.id, r.role, r.kind});
    }
    std::multiset<Expect> want;
    for (const Expect& e : s.per_recipient) {
      if (e.recipient == person.id)
        want.insert(e);
    }
    ASSERT_FALSE(want.empty());
    EXPECT_TRUE(got == want) << "find listed " << got.size() << " record(s), expected "
                             << want.size() << "\n"
                             << found.out;
    EXPECT_THAT(found.err, HasSubstr(std::to_string(want.size()) + " record(s) about this person"));
  }
  // The text format names the pseudonym at each connector, then the records (Echo's evt-03
  // was retracted at "ent"; evt-11 came through "alert").
  Proc text = treve({"audit", "find", "--recipient", kEcho.id, "--state-dir", daemon->state_dir()});
  ASSERT_EQ(text.status, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("pseudonym at ent: " + expected_pseudonym(key, "ent", kEcho.id)));
  EXPECT_THAT(text.out,
              HasSubstr("pseudonym at alert: " + expected_pseudonym(key, "alert", kEcho.id)));
  EXPECT_THAT(text.out, HasSubstr("  held  ent/evt-03  "));
  EXPECT_THAT(text.out, HasSubstr("  retracted  ent/evt-03  "));
  EXPECT_THAT(text.out, HasSubstr("  held  alert/evt-11  "));
  EXPECT_THAT(text.out, Not(HasSubstr(kEcho.id)));

  // With another key, the same person is nowhere.
  std::string other(32, '\0');
  std::random_device rd;
  do {
    for (char& c : other)
      c = static_cast<char>(rd() & 0xFF);
  } while (other == key);
  const std::string other_path = (dir_.path() / "other.key").string();
  std::ofstream(other_path, std::ios::binary) << other;
  for (const char* format : {"jsonl", "csv"}) {
    Proc none = treve({"audit", "find", "--recipient", kAlpha.id, "--state-dir",
                       daemon->state_dir(), "--key-file", other_path, "--format", format});
    EXPECT_EQ(none.status, 0) << none;
    EXPECT_THAT(none.err, HasSubstr("0 record(s) about this person"));
    EXPECT_THAT(none.out, Not(HasSubstr("evt-")));
  }
}

// ---- 5. export and verify on a live database -------------------------------------------------

TEST_F(AuditCli, ExportAndVerifyOnTheLiveDatabaseNeverHoldUpIngest) {
  auto daemon = fresh(10'000);
  daemon->start();
  HttpClient client(daemon->port());
  // Some bulk first, so that an export takes a while: 1500 events, 3 records each.
  for (int b = 0; b < 3; ++b) {
    std::string ndjson;
    for (int i = 0; i < 500; ++i) {
      EventSpec spec;
      spec.id = "bulk-" + std::to_string(b) + "-" + std::to_string(i);
      spec.recipients = {{spec.id + "-a", "student", ""}, {spec.id + "-b", "parent", ""}};
      ndjson += event_body(spec) + "\n";
    }
    auto r = client.post_batch(ndjson);
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
    std::size_t accepted = 0;
    for (auto at = r.body.find("\"status\":202"); at != std::string::npos;
         at = r.body.find("\"status\":202", at + 1))
      ++accepted;
    ASSERT_EQ(accepted, 500u) << r.body.substr(0, 500);
  }

  // Meanwhile a connector keeps posting, one event at a time; event ids with commas and quotes
  // exercise the CSV quoting and the canonical escaping.
  std::atomic<bool> stop{false};
  std::atomic<int> posted{0};
  std::atomic<long long> slowest_ms{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  // Whatever happens below, the poster is stopped and joined before the test returns.
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop = true;
      if (thread.joinable())
        thread.join();
    }
  };
  std::thread poster;
  Joiner joiner{stop, poster};
  poster = std::thread([&] {
    HttpClient c(daemon->port());
    for (int i = 0; !stop.load(); ++i) {
      EventSpec spec;
      spec.id = (i % 2 ? "live,\"q\"-" : "live-") + std::to_string(i);
      spec.recipients = {{"live-r-" + std::to_string(i), "student", ""},
                         {"live-s-" + std::to_string(i), "staff", ""}};
      const auto t0 = Steady::now();
      int status = 0;
      std::string what;
      try {
        auto r = c.post_event(event_body(spec));
        status = r.status;
        what = r.body;
      } catch (const std::exception& e) {
        what = e.what();
      }
      const long long ms = duration_cast<milliseconds>(Steady::now() - t0).count();
      if (ms > slowest_ms.load())
        slowest_ms = ms;
      if (status != 202 || ms > 2000) {
        std::lock_guard lock(failures_mutex);
        failures.push_back(spec.id + ": HTTP " + std::to_string(status) + " after " +
                           std::to_string(ms) + " ms: " + what);
      }
      ++posted;
    }
  });
  const auto deadline = Steady::now() + 10s;
  while (posted.load() < 5 && Steady::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_GE(posted.load(), 5);

  const int posted_before = posted.load();
  std::vector<AuditRow> previous;
  const std::vector<std::string> period = {"--from", "2000-01-01", "--to", "2100-12-31"};
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<std::string> a = {"audit",       "export",
                                  "--state-dir", daemon->state_dir(),
                                  "--format",    round == 3 ? "jsonl" : "csv"};
    a.insert(a.end(), period.begin(), period.end());
    Proc exp = treve(a);
    ASSERT_EQ(exp.status, 0) << exp;
    std::vector<AuditRow> rows;
    try {
      rows = round == 3 ? rows_of_jsonl(exp.out) : rows_of_csv(exp.out);
    } catch (const std::exception& e) {
      FAIL() << "the export does not parse: " << e.what();
    }
    EXPECT_THAT(exp.err, HasSubstr(std::to_string(rows.size()) + " record(s) exported"));
    ASSERT_GT(rows.size(), 4500u);
    // The whole trail, as one contiguous chain from genesis.
    EXPECT_EQ(check_chain(rows, kGenesis, 1), "");
    // Quoted fields did come through: details with commas and quotes, ids with them.
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const AuditRow& r) {
      return r.detail.find(',') != std::string::npos && r.detail.find('"') != std::string::npos;
    }));
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const AuditRow& r) {
      return r.event_id.find(",\"q\"") != std::string::npos;
    }));
    // A later snapshot extends an earlier one: the same records, then more.
    ASSERT_GE(rows.size(), previous.size());
    for (std::size_t i = 0; i < previous.size(); ++i)
      ASSERT_EQ(rows[i].hash, previous[i].hash) << "record " << rows[i].seq;
    previous = std::move(rows);

    Proc ver = treve({"audit", "verify", "--state-dir", daemon->state_dir()});
    EXPECT_EQ(ver.status, 0) << ver;
    EXPECT_THAT(ver.out, HasSubstr("the audit trail is intact"));
  }
  const int posted_during = posted.load() - posted_before;
  stop = true;
  poster.join();
  {
    std::lock_guard lock(failures_mutex);
    EXPECT_TRUE(failures.empty()) << failures.size() << " slow or refused post(s), first: "
                                  << (failures.empty() ? "" : failures.front());
  }
  EXPECT_GT(posted_during, 0) << "no event was posted while the exports ran";
  RecordProperty("posts_during_exports", posted_during);
  RecordProperty("slowest_post_ms", static_cast<int>(slowest_ms.load()));
  client.close();
  ASSERT_EQ(daemon->stop(), 0) << daemon->stderr_log();

  // After the stop, an export is exactly the table.
  std::vector<std::string> a = {"audit", "export", "--state-dir", daemon->state_dir()};
  a.insert(a.end(), period.begin(), period.end());
  Proc last = treve(a);
  ASSERT_EQ(last.status, 0) << last;
  const auto exported = rows_of_csv(last.out);
  Db db(daemon->db_path());
  const auto rows = read_audit(db);
  ASSERT_EQ(exported.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(canonical_audit(exported[i]), canonical_audit(rows[i]));
    ASSERT_EQ(exported[i].hash, rows[i].hash);
  }
  EXPECT_EQ(verify_chain(rows), "");
}

// ---- 6. purge at start
// ---------------------------------------------------------------------------

store::NewEvent library_event(const std::string& id, policy::Instant received,
                              const std::vector<std::string>& recipients,
                              store::DeliveryState state, policy::Instant release) {
  store::NewEvent e;
  e.source = "ent";
  e.id = id;
  e.establishment = kUai;
  e.category = policy::Category::message;
  e.received_at = received;
  e.zone = date::locate_zone("Europe/Paris");
  e.body = R"({"title":"SECRET-OLD-TITLE )" + id + R"(","payload":{"p":"SECRET-OLD-PAYLOAD"}})";
  e.body_sha256 = sha256_hex(e.body);
  e.response = "{}";
  for (const std::string& r : recipients) {
    store::NewDelivery d;
    d.recipient = r;
    d.state = state;
    d.release_at = state == store::DeliveryState::due ? received : release;
    d.reason = "test";
    e.deliveries.push_back(d);
  }
  return e;
}

store::DeliveryOutcome delivered(const store::DispatchItem& d) {
  return store::testing::outcome_for(d, store::DeliveryOutcome::Kind::delivered, d.released_at);
}

// Delivers every due delivery at `now`.
void deliver_all(store::SqliteStore& s, policy::Instant now) {
  auto items = s.ready(0, 1000);
  ASSERT_TRUE(items.has_value()) << items.error().message;
  std::vector<store::DeliveryOutcome> outcomes;
  for (const auto& d : *items)
    outcomes.push_back(delivered(d));
  ASSERT_TRUE(s.record_outcomes(outcomes, now).has_value());
}

std::int64_t detail_int(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : -1;
}

TEST_F(AuditCli, PurgeAtStartKeepsTheChainVerifiableFromItsCheckpoint) {
  using std::chrono::days;
  using std::chrono::hours;
  using std::chrono::minutes;
  const std::string state = (dir_.path() / "state").string();
  fs::create_directories(state);
  const policy::Instant now =
      std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now());
  const policy::Instant old = now - days(400);
  const policy::Instant mid = now - days(100);
  const policy::Instant recent = now - days(1);
  using DS = store::DeliveryState;

  // A store made by the library, as an earlier daemon would have left it: three events 400
  // days old, each finished (delivered at once; held, released and delivered; retracted), one
  // 100 days old (delivered), then two from yesterday (one still held).
  {
    auto key = store::load_or_create_key(state + "/pseudonym.key");
    ASSERT_TRUE(key.has_value()) << key.error().message;
    store::SqliteOptions options;
    options.path = state + "/treve.db";
    options.pseudonym_key = *key;
    auto opened = store::SqliteStore::open(options);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    store::SqliteStore& s = **opened;
    std::vector<store::NewEvent> olds;
    olds.push_back(library_event("old-due", old, {"ancien-A", "ancien-B"}, DS::due, old));
    olds.push_back(
        library_event("old-held", old, {"ancien-C", "ancien-D"}, DS::held, old + hours(1)));
    olds.push_back(
        library_event("old-retracted", old, {"ancien-E", "ancien-F"}, DS::held, old + days(1)));
    ASSERT_TRUE(s.accept(olds, old).has_value());
    auto retracted = s.retract("ent", "old-retracted", old + minutes(30));
    ASSERT_TRUE(retracted.has_value());
    ASSERT_EQ(retracted->retracted.size(), 2u);
    auto released = s.release_due(old + hours(2), 100);
    ASSERT_TRUE(released.has_value());
    ASSERT_EQ(released->size(), 2u);
    deliver_all(s, old + hours(3));

    std::vector<store::NewEvent> mids;
    mids.push_back(library_event("mid-done", mid, {"moyen-A"}, DS::due, mid));
    ASSERT_TRUE(s.accept(mids, mid).has_value());
    deliver_all(s, mid + minutes(1));

    std::vector<store::NewEvent> recents;
    recents.push_back(
        library_event("recent-held", recent, {"ancien-A", "recent-B"}, DS::held, now + days(10)));
    recents.push_back(library_event("recent-done", recent, {"recent-C"}, DS::due, recent));
    ASSERT_TRUE(s.accept(recents, recent).has_value());
    deliver_all(s, recent + minutes(1));
  }

  // Before the daemon: 17 records from 400 days ago (3 received, 2 released at once, 4 held,
  // 2 retracted, 2 released, 4 delivered), in one intact chain.
  const std::int64_t cutoff_ms = (now - days(365)).time_since_epoch().count();
  std::vector<AuditRow> before;
  {
    Db db(state + "/treve.db");
    before = read_audit(db);
  }
  ASSERT_EQ(check_chain(before, kGenesis, 1), "");
  const auto old_count = std::count_if(before.begin(), before.end(),
                                       [&](const AuditRow& r) { return r.at < cutoff_ms; });
  ASSERT_EQ(old_count, 17);
  const std::string last_old_hash = before[16].hash;

  // The daemon on that state directory: purge at start (default audit.retention: 365 days).
  auto served = serve(state, 10'000);
  Daemon& daemon = *served;
  daemon.start();
  ASSERT_TRUE(daemon.wait_for_log("event=retention.purged", 10s)) << daemon.stderr_log();
  EXPECT_THAT(daemon.stderr_log(),
              HasSubstr("event=retention.purged audit_records=17 purged_through=17 "
                        "bodies=4 events=3 deliveries=6"));
  ASSERT_EQ(daemon.stop(), 0) << daemon.stderr_log();

  Db db(state + "/treve.db");
  const auto rows = read_audit(db);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().seq, 18);
  for (const AuditRow& r : rows)
    EXPECT_GE(r.at, cutoff_ms) << "record " << r.seq << " (" << r.kind << ") outlived retention";
  // The first remaining record still follows the last purged one.
  EXPECT_EQ(rows.front().prev_hash, last_old_hash);
  EXPECT_EQ(check_chain(rows, rows.front().prev_hash, rows.front().seq), "");

  std::vector<const AuditRow*> checkpoints, purges;
  for (const AuditRow& r : rows) {
    if (r.kind == "checkpoint")
      checkpoints.push_back(&r);
    if (r.kind == "purged")
      purges.push_back(&r);
  }
  ASSERT_EQ(checkpoints.size(), 1u);
  const json::object cp = json::parse(checkpoints[0]->detail).as_object();
  EXPECT_EQ(detail_int(cp, "purged_from"), 1) << checkpoints[0]->detail;
  EXPECT_EQ(detail_int(cp, "purged_through"), rows.front().seq - 1) << checkpoints[0]->detail;
  EXPECT_EQ(detail_int(cp, "records"), 17) << checkpoints[0]->detail;
  ASSERT_TRUE(cp.contains("continues_from")) << checkpoints[0]->detail;
  EXPECT_EQ(json::value_to<std::string>(cp.at("continues_from")), rows.front().prev_hash);
  ASSERT_EQ(purges.size(), 1u);
  const json::object pg = json::parse(purges[0]->detail).as_object();
  EXPECT_EQ(detail_int(pg, "events"), 3) << purges[0]->detail;
  EXPECT_EQ(detail_int(pg, "deliveries"), 6) << purges[0]->detail;
  EXPECT_EQ(detail_int(pg, "bodies"), 4) << purges[0]->detail;

  // The old events are gone with their deliveries (and the raw ids they held); the others stay,
  // the 100-day-old one without its body.
  std::map<std::string, bool> events;  // id -> has a body
  for (const auto& r : db.query("SELECT event_id, body IS NOT NULL FROM events"))
    events[r[0].value_or("")] = r[1].value_or("0") == "1";
  EXPECT_EQ(events, (std::map<std::string, bool>{
                        {"mid-done", false}, {"recent-held", true}, {"recent-done", true}}));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries"), 4);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM deliveries WHERE recipient LIKE 'ancien-%'"), 1);

  // `treve audit verify` starts from the checkpoint.
  Proc r = treve({"audit", "verify", "--state-dir", state});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("the audit trail is intact"));
  EXPECT_THAT(r.out, HasSubstr("from:     checkpoint record " +
                               std::to_string(checkpoints[0]->seq) + " (records 1 to 17 purged)"));
  EXPECT_THAT(r.out, HasSubstr("records:  " + std::to_string(rows.size()) + " (18 to " +
                               std::to_string(rows.back().seq) + ")"));
  // A head logged before the purge names a purged record: counted, not an error.
  const std::string heads =
      "event=audit.head seq=17 hash=" + last_old_hash + "\n" + daemon.stderr_log();
  Proc with_heads = treve({"audit", "verify", "--state-dir", state, "--heads", "-"}, heads);
  EXPECT_EQ(with_heads.status, 0) << with_heads;
  EXPECT_THAT(with_heads.out, HasSubstr(", 1 of records before record 18 (purged since)"));

  // Someone who only had old records has none left; a recent recipient is still found.
  Proc gone = treve({"audit", "find", "--recipient", "ancien-C", "--state-dir", state});
  EXPECT_EQ(gone.status, 0) << gone;
  EXPECT_THAT(gone.err, HasSubstr("0 record(s) about this person"));
  Proc still = treve(
      {"audit", "find", "--recipient", "ancien-A", "--state-dir", state, "--format", "jsonl"});
  EXPECT_EQ(still.status, 0) << still;
  EXPECT_THAT(still.err, HasSubstr("1 record(s) about this person"));  // held, recent-held
}

}  // namespace
}  // namespace treve::itest
