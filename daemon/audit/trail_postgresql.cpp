// The audit trail of a shared PostgreSQL store (trail.h): one read-only REPEATABLE READ
// transaction for the Trail's life, so that every query sees the same snapshot while daemons
// keep writing; a scan reads through a cursor, a page at a time, so that a trail of millions
// of records is never held in memory whole.
#include "daemon/audit/trail.h"
#include "daemon/store/postgresql/pg_connection.h"
#include "daemon/store/state_dir.h"

namespace treve::audit {
namespace {

namespace pg = store::pg;

std::string message(const store::StoreError& e) {
  return e.message;
}

class PgTrail final : public Trail {
 public:
  PgTrail(std::unique_ptr<pg::Connection> c, std::string name)
      : Trail(std::move(name)), c_(std::move(c)) {}
  ~PgTrail() override { (void)c_->exec("COMMIT"); }

  Expected<Range> range() override {
    auto q = c_->exec(
        "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0), coalesce((SELECT at FROM "
        "audit ORDER BY seq LIMIT 1), 0), coalesce((SELECT at FROM audit ORDER BY seq DESC LIMIT "
        "1), 0) FROM audit");
    if (!q)
      return std::unexpected("cannot read the audit trail: " + message(q.error()));
    Range r;
    r.count = q->integer(0, 0);
    r.first_seq = q->integer(0, 1);
    r.last_seq = q->integer(0, 2);
    r.first_at_ms = q->integer(0, 3);
    r.last_at_ms = q->integer(0, 4);
    return r;
  }

  Expected<void> scan(const Filter& filter,
                      const std::function<bool(const store::AuditRecord&)>& each) override {
    const FilterSql f = filter_sql(filter, true);
    std::string sql = std::string("SELECT ") + kRecordColumns + " FROM audit" + f.where;
    if (filter.newest > 0)
      sql = std::string("SELECT * FROM (") + sql + " ORDER BY seq DESC LIMIT " +
            std::to_string(filter.newest) + ") AS newest";
    sql += " ORDER BY seq";
    std::vector<pg::Param> params{filter.from_seq, filter.from_ms, filter.to_ms};
    params.insert(params.end(), f.values.begin(), f.values.end());
    const std::string cursor = "trail_scan_" + std::to_string(++cursors_);
    if (auto d = c_->exec("DECLARE " + cursor + " NO SCROLL CURSOR FOR " + sql, params); !d)
      return std::unexpected("cannot read the audit trail: " + message(d.error()));
    struct Close {
      pg::Connection& c;
      std::string name;
      ~Close() { (void)c.exec("CLOSE " + name); }
    } close{*c_, cursor};
    store::AuditRecord r;
    for (;;) {
      auto page = c_->exec("FETCH 5000 FROM " + cursor);
      if (!page)
        return std::unexpected("cannot read the audit trail: " + message(page.error()));
      if (page->empty())
        return {};
      for (int i = 0; i < page->size(); ++i) {
        r.seq = page->integer(i, 0);
        r.at_ms = page->integer(i, 1);
        int c = 2;
        for (std::string* field :
             {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment, &r.category,
              &r.recipient, &r.role, &r.detail, &r.prev_hash, &r.hash}) {
          *field = page->text(i, c++);
        }
        if (!each(r))
          return {};
      }
    }
  }

  Expected<std::optional<std::int64_t>> seq_of_hash(std::string_view hash) override {
    auto q = c_->exec("SELECT seq FROM audit WHERE hash = $1 LIMIT 1", {hash});
    if (!q)
      return std::unexpected("cannot read the audit trail: " + message(q.error()));
    if (q->empty())
      return std::nullopt;
    return q->integer(0, 0);
  }

  Expected<std::vector<Checkpoint>> checkpoints() override {
    auto q = c_->exec("SELECT seq, detail, hash FROM audit WHERE kind = 'checkpoint' ORDER BY seq");
    if (!q)
      return std::unexpected("cannot read the audit trail: " + message(q.error()));
    std::vector<Checkpoint> out;
    for (int i = 0; i < q->size(); ++i) {
      if (auto c = read_checkpoint(q->integer(i, 0), q->text(i, 1), q->text(i, 2)))
        out.push_back(std::move(*c));
    }
    return out;
  }

  Expected<std::vector<std::string>> sources() override {
    auto q = c_->exec("SELECT DISTINCT source FROM audit WHERE source != ''");
    if (!q)
      return std::unexpected("cannot read the audit trail: " + message(q.error()));
    std::vector<std::string> out;
    for (int i = 0; i < q->size(); ++i)
      out.push_back(q->text(i, 0));
    return out;
  }

  Expected<std::vector<Count>> counts(const Filter& filter) override {
    const FilterSql f = filter_sql(filter, true);
    // at_local is RFC 3339 ("2026-11-30T07:00:00+01:00"): the hour is characters 12-13.
    const std::string sql =
        "SELECT kind, category, establishment, substr(at_local, 12, 2)::integer, kind = "
        "'released' AND detail LIKE '{\"release_at\"%', count(*) FROM audit" +
        f.where + " GROUP BY 1, 2, 3, 4, 5";
    std::vector<pg::Param> params{filter.from_seq, filter.from_ms, filter.to_ms};
    params.insert(params.end(), f.values.begin(), f.values.end());
    auto q = c_->exec(sql, params);
    if (!q)
      return std::unexpected("cannot read the audit trail: " + message(q.error()));
    std::vector<Count> out;
    for (int i = 0; i < q->size(); ++i) {
      Count c;
      c.kind = q->text(i, 0);
      c.category = q->text(i, 1);
      c.establishment = q->text(i, 2);
      c.hour = static_cast<int>(q->integer(i, 3));
      c.after_hold = q->integer(i, 4) != 0;
      c.n = q->integer(i, 5);
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  std::unique_ptr<pg::Connection> c_;
  int cursors_ = 0;
};

}  // namespace

Expected<std::unique_ptr<Trail>> Trail::open_postgresql(const std::string& url,
                                                        const std::string& password) {
  pg::ConnectOptions o;
  o.url = url;
  o.password = password;
  o.application_name = "treve-audit";
  o.statement_timeout = std::chrono::milliseconds{0};  // an auditor's long scan is not cut
  auto c = pg::Connection::open(o);
  if (!c)
    return std::unexpected(message(c.error()));
  if (auto b = (*c)->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !b)
    return std::unexpected(message(b.error()));
  auto probe = (*c)->exec("SELECT to_regclass('audit') IS NOT NULL");
  if (!probe)
    return std::unexpected(message(probe.error()));
  if (probe->integer(0, 0) == 0)
    return std::unexpected("the database is not a trêve store: it has no audit table");
  return std::unique_ptr<Trail>(std::make_unique<PgTrail>(std::move(*c), "PostgreSQL store"));
}

Expected<std::unique_ptr<Trail>> Trail::open_configured(const config::Config& config) {
  if (config.store.backend == config::StoreConfig::Backend::postgresql)
    return open_postgresql(config.store.url, config.store.password);
  return open(store::database_path(config.server.state_dir));
}

}  // namespace treve::audit
