#include "daemon/audit/trail.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "daemon/store/sqlite_util.h"

namespace treve::audit {
namespace {

std::string error_text(sqlite3* db, const std::string& what) {
  return what + ": " + sqlite3_errmsg(db);
}

// Binds the filter's values in filter_sql's order, from the filter's own lists: SQLite keeps
// the bound text without a copy, so it must outlive the statement's steps.
void bind_filter(store::Statement& s, const Filter& f) {
  s.bind(1, f.from_seq).bind(2, f.from_ms).bind(3, f.to_ms);
  int i = 4;
  for (const auto* list : {&f.establishments, &f.kinds, &f.recipients, &f.categories}) {
    for (const std::string& v : *list)
      s.bind(i++, v);
  }
}

class SqliteTrail final : public Trail {
 public:
  SqliteTrail(sqlite3* db, std::string path) : Trail(std::move(path)), db_(db) {}
  ~SqliteTrail() override { sqlite3_close_v2(db_); }
  Expected<Range> range() override;
  Expected<void> scan(const Filter& filter,
                      const std::function<bool(const store::AuditRecord&)>& each) override;
  Expected<std::optional<std::int64_t>> seq_of_hash(std::string_view hash) override;
  Expected<std::vector<Checkpoint>> checkpoints() override;
  Expected<std::vector<std::string>> sources() override;
  Expected<std::vector<Count>> counts(const Filter& filter) override;

 private:
  sqlite3* db_;
};

}  // namespace

FilterSql filter_sql(const Filter& f, bool numbered) {
  FilterSql out;
  int n = 1;
  auto next = [&] {
    std::string p(1, numbered ? '$' : '?');
    if (numbered)
      p += std::to_string(n++);
    return p;
  };
  // One placeholder after the other: the operands of one `+` chain are evaluated in no set
  // order, and numbered placeholders must follow the values'.
  out.where = " WHERE seq >= " + next();
  out.where += " AND at >= " + next();
  out.where += " AND at < " + next();
  for (auto [column, list] : {std::pair{"establishment", &f.establishments},
                              {"kind", &f.kinds},
                              {"recipient", &f.recipients},
                              {"category", &f.categories}}) {
    if (list->empty())
      continue;
    out.where += std::string(" AND ") + column + " IN (";
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (i)
        out.where += ',';
      out.where += next();
      out.values.push_back((*list)[i]);
    }
    out.where += ')';
  }
  return out;
}

std::optional<Checkpoint> read_checkpoint(std::int64_t seq, std::string_view detail,
                                          std::string hash) {
  Checkpoint c;
  c.seq = seq;
  c.hash = std::move(hash);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(detail, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (!o)
    return std::nullopt;
  auto integer = [&](const char* key) -> std::int64_t {
    const boost::json::value* x = o->if_contains(key);
    return x && x->is_int64() ? x->as_int64() : 0;
  };
  c.purged_from = integer("purged_from");
  c.purged_through = integer("purged_through");
  if (const boost::json::value* x = o->if_contains("continues_from"); x && x->is_string())
    c.continues_from = std::string(x->as_string());
  return c;
}

const std::vector<std::string_view>& record_kinds() {
  static const std::vector<std::string_view> kinds = {"received",
                                                      "held",
                                                      "released",
                                                      "bypassed",
                                                      "bypass_refused",
                                                      "retracted",
                                                      "awaiting_directory",
                                                      "resolved",
                                                      "delivered",
                                                      "retrying",
                                                      "dead_lettered",
                                                      "no_address",
                                                      "held_again",
                                                      "digest",
                                                      "replayed",
                                                      "config_changed",
                                                      "replanned",
                                                      "policy_changed",
                                                      "access_refused",
                                                      "checkpoint",
                                                      "purged",
                                                      "crisis_opened",
                                                      "crisis_extended",
                                                      "crisis_closed",
                                                      "preferences_set",
                                                      "preferences_deleted",
                                                      "preferences_purged"};
  return kinds;
}

Expected<std::unique_ptr<Trail>> Trail::open(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0)
    return std::unexpected("cannot read " + path + ": " + std::strerror(errno));
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string e = "cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return std::unexpected(e);
  }
  sqlite3_busy_timeout(db, 5000);
  // The trail is read once from end to end: mapped pages spare a copy per page read.
  sqlite3_exec(db, "PRAGMA mmap_size = 4294967296", nullptr, nullptr, nullptr);
  std::unique_ptr<Trail> trail = std::make_unique<SqliteTrail>(db, path);
  // One read transaction for the Trail's life: every query sees the same snapshot.
  if (auto r = store::exec(db, "BEGIN"); !r)
    return std::unexpected(path + ": " + r.error().message);
  sqlite3_stmt* probe = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'audit'", -1, &probe,
                          nullptr);
  bool has_audit = false;
  if (rc == SQLITE_OK && (rc = sqlite3_step(probe)) == SQLITE_ROW)
    has_audit = sqlite3_column_int(probe, 0) > 0;
  sqlite3_finalize(probe);
  if (rc != SQLITE_ROW)
    return std::unexpected(error_text(db, "cannot read " + path));
  if (!has_audit)
    return std::unexpected(path + " is not a trêve store: it has no audit table");
  return trail;
}

Expected<Range> SqliteTrail::range() {
  // min/max on the primary key are index lookups; count(*) reads the table once.
  store::Statement s(db_, "SELECT count(*), min(seq), max(seq) FROM audit");
  if (s.step() != SQLITE_ROW)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  Range r;
  r.count = s.integer(0);
  r.first_seq = s.integer(1);
  r.last_seq = s.integer(2);
  if (r.count == 0)
    return r;
  store::Statement at(db_, "SELECT at FROM audit WHERE seq = ?");
  for (auto [seq, target] : {std::pair{r.first_seq, &r.first_at_ms}, {r.last_seq, &r.last_at_ms}}) {
    at.reset();
    at.bind(1, seq);
    if (at.step() == SQLITE_ROW)
      *target = at.integer(0);
  }
  return r;
}

Expected<void> SqliteTrail::scan(const Filter& filter,
                                 const std::function<bool(const store::AuditRecord&)>& each) {
  std::string sql =
      std::string("SELECT ") + kRecordColumns + " FROM audit" + filter_sql(filter, false).where;
  // The newest records are found from the end of the primary key, then read in order.
  if (filter.newest > 0)
    sql = std::string("SELECT * FROM (") + sql + " ORDER BY seq DESC LIMIT " +
          std::to_string(filter.newest) + ")";
  sql += " ORDER BY seq";
  store::Statement s(db_, sql.c_str());
  bind_filter(s, filter);
  store::AuditRecord r;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    r.seq = s.integer(0);
    r.at_ms = s.integer(1);
    int c = 2;
    for (std::string* f : {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment,
                           &r.category, &r.recipient, &r.role, &r.detail, &r.prev_hash, &r.hash}) {
      f->assign(s.view(c++));
    }
    if (!each(r))
      return {};
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return {};
}

Expected<std::optional<std::int64_t>> SqliteTrail::seq_of_hash(std::string_view hash) {
  store::Statement s(db_, "SELECT seq FROM audit WHERE hash = ? LIMIT 1");
  s.bind(1, hash);
  int rc = s.step();
  if (rc == SQLITE_ROW)
    return s.integer(0);
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return std::nullopt;
}

Expected<std::vector<Checkpoint>> SqliteTrail::checkpoints() {
  store::Statement s(db_,
                     "SELECT seq, detail, hash FROM audit WHERE kind = 'checkpoint' ORDER BY seq");
  std::vector<Checkpoint> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (auto c = read_checkpoint(s.integer(0), s.view(1), s.text(2)))
      out.push_back(std::move(*c));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return out;
}

Expected<std::vector<std::string>> SqliteTrail::sources() {
  store::Statement s(db_, "SELECT DISTINCT source FROM audit WHERE source != ''");
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(s.text(0));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return out;
}

Expected<std::vector<Count>> SqliteTrail::counts(const Filter& filter) {
  // at_local is RFC 3339 ("2026-11-30T07:00:00+01:00"): the hour is characters 12-13.
  const std::string sql =
      "SELECT kind, category, establishment, CAST(substr(at_local, 12, 2) AS INTEGER), "
      "kind = 'released' AND detail LIKE '{\"release_at\"%', count(*) FROM audit" +
      filter_sql(filter, false).where + " GROUP BY 1, 2, 3, 4, 5";
  store::Statement s(db_, sql.c_str());
  bind_filter(s, filter);
  std::vector<Count> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    Count c;
    c.kind = s.text(0);
    c.category = s.text(1);
    c.establishment = s.text(2);
    c.hour = static_cast<int>(s.integer(3));
    c.after_hold = s.integer(4) != 0;
    c.n = s.integer(5);
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return out;
}

}  // namespace treve::audit
