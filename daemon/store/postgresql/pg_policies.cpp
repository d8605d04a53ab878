// PgStore as a PolicyStore and a ReplanStore: the configuration's digest, the policies edited
// through the admin API and their versions, refusals, and re-planning held deliveries, as in
// the SQLite store, with the same records (admin_records.h, dispatch_records.h).
#include "daemon/store/admin_records.h"
#include "daemon/store/dispatch_records.h"
#include "daemon/store/ingest_records.h"
#include "daemon/store/postgresql/pg_store_impl.h"

namespace treve::store {

namespace {

constexpr std::string_view kSelectPolicy =
    "SELECT uai, version, at, author, comment, document, digest, weaker, rollback_of FROM "
    "policy_versions";

std::vector<PolicyVersion> read_policies(const pg::Rows& q) {
  std::vector<PolicyVersion> out;
  for (int i = 0; i < q.size(); ++i) {
    PolicyVersion v;
    v.uai = q.text(i, 0);
    v.version = q.integer(i, 1);
    v.at = ms_instant(q.integer(i, 2));
    v.author = q.text(i, 3);
    v.comment = q.text(i, 4);
    v.document = q.text(i, 5);
    v.digest = q.text(i, 6);
    v.weaker = strings_of(q.text(i, 7));
    v.rollback_of = q.is_null(i, 8) ? 0 : q.integer(i, 8);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

Result<bool> PgStore::record_config(const ConfigChange& change, policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    auto q = writer_->exec("SELECT value FROM meta WHERE key = 'config_digest'");
    if (!q)
      return std::unexpected(q.error());
    std::optional<std::string> before;
    if (!q->empty())
      before = q->text(0, 0);
    if (before == change.digest)
      return false;
    auto u = writer_->exec(
        "INSERT INTO meta (key, value) VALUES ('config_digest', $1) ON CONFLICT (key) DO UPDATE "
        "SET value = excluded.value",
        {change.digest});
    if (!u)
      return std::unexpected(u.error());
    append_audit(config_changed_record(change, before, now));
    return true;
  });
}

Result<SavePolicyResult> PgStore::save_policy(const PolicyVersion& v,
                                              std::optional<std::int64_t> expected_version,
                                              policy::Instant now) {
  return transaction<SavePolicyResult>([&]() -> Result<SavePolicyResult> {
    notify_policy_ = true;  // the other daemons put it in force
    SavePolicyResult out;
    auto q = writer_->exec(
        "SELECT version, digest FROM policy_versions WHERE uai = $1 ORDER BY version DESC LIMIT 1",
        {v.uai});
    if (!q)
      return std::unexpected(q.error());
    std::int64_t current = 0;
    std::optional<std::string> before;
    if (!q->empty()) {
      current = q->integer(0, 0);
      before = q->text(0, 1);
    }
    if (expected_version && *expected_version != current) {
      out.conflict = true;
      out.version = current;
      return out;
    }
    out.version = current + 1;
    const std::string weaker = json_strings(v.weaker);
    auto ins = writer_->exec(
        "INSERT INTO policy_versions (uai, version, at, author, comment, document, digest, "
        "weaker, rollback_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        {v.uai, out.version, instant_ms(now), v.author, v.comment, v.document, v.digest, weaker,
         v.rollback_of > 0 ? pg::Param(v.rollback_of) : pg::Param(std::nullopt)});
    if (!ins)
      return std::unexpected(ins.error());
    append_audit(policy_changed_record(v, out.version, before, now));
    return out;
  });
}

Result<void> PgStore::record_refusal(const AccessRefusal& refusal, policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    append_audit(access_refused_record(refusal, now));
    return {};
  });
}

Result<std::vector<PolicyVersion>> PgStore::current_policies() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(std::string(kSelectPolicy) +
                      " p WHERE version = (SELECT max(version) FROM policy_versions WHERE uai = "
                      "p.uai) ORDER BY uai");
  if (!q)
    return std::unexpected(q.error());
  return read_policies(*q);
}

Result<std::vector<PolicyVersion>> PgStore::policy_versions(std::string_view uai) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(std::string(kSelectPolicy) + " WHERE uai = $1 ORDER BY version DESC", {uai});
  if (!q)
    return std::unexpected(q.error());
  return read_policies(*q);
}

Result<std::vector<std::pair<policy::Category, std::uint64_t>>> PgStore::held_by_category(
    std::string_view uai) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(
      "SELECT e.category, count(*) FROM deliveries d JOIN events e ON e.id = d.event WHERE "
      "d.state = 'held' AND e.establishment = $1 GROUP BY e.category ORDER BY e.category",
      {uai});
  if (!q)
    return std::unexpected(q.error());
  std::vector<std::pair<policy::Category, std::uint64_t>> out;
  for (int i = 0; i < q->size(); ++i) {
    out.emplace_back(policy::parse_category(q->text(i, 0)).value_or(policy::Category::other),
                     static_cast<std::uint64_t>(q->integer(i, 1)));
  }
  return out;
}

Result<std::optional<policy::Instant>> PgStore::next_release_of(std::string_view uai) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec(
      "SELECT min(d.release_at) FROM deliveries d JOIN events e ON e.id = d.event WHERE d.state "
      "= 'held' AND e.establishment = $1",
      {uai});
  if (!q)
    return std::unexpected(q.error());
  if (q->is_null(0, 0))
    return std::optional<policy::Instant>{};
  return std::optional{ms_instant(q->integer(0, 0))};
}

Result<std::vector<std::int64_t>> PgStore::held_event_rows() {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  auto q = (*c)->exec("SELECT DISTINCT event FROM deliveries WHERE state = 'held' ORDER BY event");
  if (!q)
    return std::unexpected(q.error());
  std::vector<std::int64_t> rows;
  for (int i = 0; i < q->size(); ++i)
    rows.push_back(q->integer(i, 0));
  return rows;
}

Result<std::vector<HeldEvent>> PgStore::held_events(std::span<const std::int64_t> rows) {
  auto c = reader();
  if (!c)
    return std::unexpected(c.error());
  pg::Connection& db = **c;
  // One snapshot: an event and its held deliveries as of the same instant.
  if (auto b = db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !b)
    return std::unexpected(b.error());
  struct End {
    pg::Connection& db;
    ~End() { (void)db.exec("COMMIT"); }
  } end{db};
  std::vector<HeldEvent> out;
  out.reserve(rows.size());
  for (std::int64_t row : rows) {
    HeldEvent e;
    e.row = row;
    auto h = db.exec(
        "SELECT seq, recipient, role, release_at, sink FROM deliveries WHERE event = $1 AND state "
        "= 'held' ORDER BY seq",
        {row});
    if (!h)
      return std::unexpected(h.error());
    for (int i = 0; i < h->size(); ++i) {
      HeldEvent::Held held;
      held.ref.seq = h->integer(i, 0);
      held.ref.recipient = h->text(i, 1);
      held.ref.role = policy::parse_role(h->text(i, 2)).value_or(policy::Role::student);
      held.release_at = ms_instant(h->integer(i, 3));
      held.ref.sink = h->text(i, 4);
      e.held.push_back(std::move(held));
    }
    if (e.held.empty())
      continue;
    auto q = db.exec(
        "SELECT source, event_id, establishment, category, received_at, timezone, body FROM "
        "events WHERE id = $1",
        {row});
    if (!q)
      return std::unexpected(q.error());
    if (q->empty())
      continue;
    e.source = q->text(0, 0);
    e.id = q->text(0, 1);
    e.establishment = q->text(0, 2);
    e.category = policy::parse_category(q->text(0, 3)).value_or(policy::Category::other);
    e.received_at = ms_instant(q->integer(0, 4));
    e.timezone = q->text(0, 5);
    if (!q->is_null(0, 6))
      e.body = q->text(0, 6);
    for (HeldEvent::Held& held : e.held) {
      held.ref.source = e.source;
      held.ref.event_id = e.id;
      held.ref.establishment = e.establishment;
      held.ref.category = e.category;
      held.ref.timezone = e.timezone;
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::size_t> PgStore::replan(std::span<const Replan> changes, policy::Instant now) {
  return transaction<std::size_t>([&]() -> Result<std::size_t> {
    std::size_t moved = 0;
    for (const Replan& c : changes) {
      auto m = move_held(c, now);
      if (!m)
        return std::unexpected(m.error());
      moved += *m;
    }
    return moved;
  });
}

}  // namespace treve::store
