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

constexpr const char* kColumns =
    "seq, at, at_local, kind, source, event_id, establishment, category, recipient, role, "
    "detail, prev_hash, hash";

std::string error_text(sqlite3* db, const std::string& what) {
  return what + ": " + sqlite3_errmsg(db);
}

// Builds " AND column IN (?, ?, …)" and remembers the values to bind.
void add_in(std::string& sql, const char* column, const std::vector<std::string>& values) {
  if (values.empty())
    return;
  sql += " AND ";
  sql += column;
  sql += " IN (";
  for (std::size_t i = 0; i < values.size(); ++i)
    sql += i ? ",?" : "?";
  sql += ')';
}

std::string where(const Filter& f) {
  std::string sql = " WHERE seq >= ? AND at >= ? AND at < ?";
  add_in(sql, "establishment", f.establishments);
  add_in(sql, "kind", f.kinds);
  add_in(sql, "recipient", f.recipients);
  add_in(sql, "category", f.categories);
  return sql;
}

void bind_filter(store::Statement& s, const Filter& f) {
  s.bind(1, f.from_seq).bind(2, f.from_ms).bind(3, f.to_ms);
  int i = 4;
  for (const auto* list : {&f.establishments, &f.kinds, &f.recipients, &f.categories}) {
    for (const std::string& v : *list)
      s.bind(i++, v);
  }
}

}  // namespace

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
  std::unique_ptr<Trail> trail(new Trail(db, path));
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

Trail::~Trail() {
  sqlite3_close_v2(db_);
}

Expected<Range> Trail::range() {
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

Expected<void> Trail::scan(const Filter& filter,
                           const std::function<bool(const store::AuditRecord&)>& each) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM audit" + where(filter);
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

Expected<std::optional<std::int64_t>> Trail::seq_of_hash(std::string_view hash) {
  store::Statement s(db_, "SELECT seq FROM audit WHERE hash = ? LIMIT 1");
  s.bind(1, hash);
  int rc = s.step();
  if (rc == SQLITE_ROW)
    return s.integer(0);
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return std::nullopt;
}

Expected<std::vector<Checkpoint>> Trail::checkpoints() {
  store::Statement s(db_,
                     "SELECT seq, detail, hash FROM audit WHERE kind = 'checkpoint' ORDER BY seq");
  std::vector<Checkpoint> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    Checkpoint c;
    c.seq = s.integer(0);
    c.hash = s.text(2);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(s.view(1), ec);
    const boost::json::object* o = ec ? nullptr : v.if_object();
    if (!o)
      continue;  // an edited record: the chain check names it
    auto integer = [&](const char* key) -> std::int64_t {
      const boost::json::value* x = o->if_contains(key);
      return x && x->is_int64() ? x->as_int64() : 0;
    };
    c.purged_from = integer("purged_from");
    c.purged_through = integer("purged_through");
    if (const boost::json::value* x = o->if_contains("continues_from"); x && x->is_string())
      c.continues_from = std::string(x->as_string());
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return out;
}

Expected<std::vector<std::string>> Trail::sources() {
  store::Statement s(db_, "SELECT DISTINCT source FROM audit WHERE source != ''");
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(s.text(0));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_text(db_, "cannot read the audit trail"));
  return out;
}

Expected<std::vector<Count>> Trail::counts(const Filter& filter) {
  // at_local is RFC 3339 ("2026-11-30T07:00:00+01:00"): the hour is characters 12-13.
  const std::string sql =
      "SELECT kind, category, establishment, CAST(substr(at_local, 12, 2) AS INTEGER), "
      "kind = 'released' AND detail LIKE '{\"release_at\"%', count(*) FROM audit" +
      where(filter) + " GROUP BY 1, 2, 3, 4, 5";
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
