// SqliteStore as a PolicyStore and a ReplanStore: the configuration's digest, the policies
// edited through the admin API and their versions, refusals, and re-planning held deliveries.
#include "daemon/store/admin_records.h"
#include "daemon/store/dispatch_records.h"
#include "daemon/store/sqlite_store_impl.h"

namespace treve::store {

Result<bool> SqliteStore::record_config(const ConfigChange& change, policy::Instant now) {
  return transaction<bool>([&]() -> Result<bool> {
    std::optional<std::string> before;
    {
      Statement q(writer_, "SELECT value FROM meta WHERE key = 'config_digest'");
      int rc = q.step();
      if (rc == SQLITE_ROW)
        before = q.text(0);
      else if (rc != SQLITE_DONE)
        return std::unexpected(error_of(writer_, rc, "cannot read the configuration digest"));
    }
    if (before == change.digest)
      return false;
    Statement u(writer_,
                "INSERT INTO meta (key, value) VALUES ('config_digest', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    u.bind(1, change.digest);
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot record the configuration digest"));
    AuditRecord r = config_changed_record(change, before, now);
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return true;
  });
}

Result<std::vector<std::int64_t>> SqliteStore::held_event_rows() {
  std::lock_guard lock(reader_mutex_);
  Statement& q = st_->held_rows;
  Resetter reset{q};
  std::vector<std::int64_t> rows;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    rows.push_back(q.integer(0));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return rows;
}

Result<std::vector<HeldEvent>> SqliteStore::held_events(std::span<const std::int64_t> rows) {
  std::lock_guard lock(reader_mutex_);
  // One read transaction: an event and its held deliveries as of the same instant.
  if (auto r = exec(reader_, "BEGIN"); !r)
    return std::unexpected(r.error());
  struct End {
    sqlite3* db;
    ~End() { exec(db, "COMMIT"); }
  } end{reader_};
  std::vector<HeldEvent> out;
  out.reserve(rows.size());
  for (std::int64_t row : rows) {
    HeldEvent e;
    e.row = row;
    {
      Statement& q = st_->held_of_event;
      Resetter reset{q};
      q.bind(1, row);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        HeldEvent::Held h;
        h.ref.seq = q.integer(0);
        h.ref.recipient = q.text(1);
        h.ref.role = policy::parse_role(q.text(2)).value_or(policy::Role::student);
        h.release_at = ms_instant(q.integer(3));
        h.ref.sink = q.text(4);
        e.held.push_back(std::move(h));
      }
      if (rc != SQLITE_DONE)
        return std::unexpected(error_of(reader_, rc, "read"));
    }
    if (e.held.empty())
      continue;
    Statement& q = st_->held_event;
    Resetter reset{q};
    q.bind(1, row);
    int rc = q.step();
    if (rc == SQLITE_DONE)
      continue;
    if (rc != SQLITE_ROW)
      return std::unexpected(error_of(reader_, rc, "read"));
    e.source = q.text(0);
    e.id = q.text(1);
    e.establishment = q.text(2);
    e.category = policy::parse_category(q.text(3)).value_or(policy::Category::other);
    e.received_at = ms_instant(q.integer(4));
    e.timezone = q.text(5);
    if (!q.is_null(6))
      e.body = q.text(6);
    for (HeldEvent::Held& h : e.held) {
      h.ref.source = e.source;
      h.ref.event_id = e.id;
      h.ref.establishment = e.establishment;
      h.ref.category = e.category;
      h.ref.timezone = e.timezone;
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::size_t> SqliteStore::replan(std::span<const Replan> changes, policy::Instant now) {
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

// One held delivery to another release instant, with its `replanned` record; false when it was
// no longer held at `c.was` (released, retracted or re-planned meanwhile).
Result<bool> SqliteStore::move_held(const Replan& c, policy::Instant now) {
  Statement& u = st_->replan_one;
  {
    Resetter reset{u};
    u.bind(1, instant_ms(c.release_at))
        .bind(2, c.reason)
        .bind(3, instant_ms(now))
        .bind(4, c.ref.seq)
        .bind(5, instant_ms(c.was));
    if (int rc = u.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot re-plan"));
  }
  if (sqlite3_changes(writer_) == 0)
    return false;
  AuditRecord r = replanned_record(pseudonyms_, c, now);
  if (auto a = append_audit(r); !a)
    return std::unexpected(a.error());
  return true;
}

namespace {

constexpr const char* kPolicyColumns =
    "uai, version, at, author, comment, document, digest, weaker, rollback_of";

PolicyVersion read_policy(Statement& q) {
  PolicyVersion v;
  v.uai = q.text(0);
  v.version = q.integer(1);
  v.at = ms_instant(q.integer(2));
  v.author = q.text(3);
  v.comment = q.text(4);
  v.document = q.text(5);
  v.digest = q.text(6);
  v.weaker = strings_of(q.text(7));
  v.rollback_of = q.is_null(8) ? 0 : q.integer(8);
  return v;
}

}  // namespace

Result<SavePolicyResult> SqliteStore::save_policy(const PolicyVersion& v,
                                                  std::optional<std::int64_t> expected_version,
                                                  policy::Instant now) {
  return transaction<SavePolicyResult>([&]() -> Result<SavePolicyResult> {
    SavePolicyResult out;
    std::int64_t current = 0;
    std::optional<std::string> before;
    {
      Statement q(writer_,
                  "SELECT version, digest FROM policy_versions WHERE uai = ? "
                  "ORDER BY version DESC LIMIT 1");
      q.bind(1, v.uai);
      int rc = q.step();
      if (rc == SQLITE_ROW) {
        current = q.integer(0);
        before = q.text(1);
      } else if (rc != SQLITE_DONE) {
        return std::unexpected(error_of(writer_, rc, "cannot read the policy's version"));
      }
    }
    if (expected_version && *expected_version != current) {
      out.conflict = true;
      out.version = current;
      return out;
    }
    out.version = current + 1;
    const std::string sql = std::string("INSERT INTO policy_versions (") + kPolicyColumns +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const std::string weaker = json_strings(v.weaker);  // bound without a copy: kept alive
    Statement ins(writer_, sql.c_str());
    ins.bind(1, v.uai)
        .bind(2, out.version)
        .bind(3, instant_ms(now))
        .bind(4, v.author)
        .bind(5, v.comment)
        .bind(6, v.document)
        .bind(7, v.digest)
        .bind(8, weaker);
    if (v.rollback_of > 0)
      ins.bind(9, v.rollback_of);
    if (int rc = ins.step(); rc != SQLITE_DONE)
      return std::unexpected(error_of(writer_, rc, "cannot save the policy"));
    AuditRecord r = policy_changed_record(v, out.version, before, now);
    if (auto a = append_audit(r); !a)
      return std::unexpected(a.error());
    return out;
  });
}

Result<void> SqliteStore::record_refusal(const AccessRefusal& refusal, policy::Instant now) {
  return transaction<void>([&]() -> Result<void> {
    AuditRecord r = access_refused_record(refusal, now);
    return append_audit(r);
  });
}

Result<std::vector<PolicyVersion>> select_current_policies(sqlite3* db) {
  const std::string sql = std::string("SELECT ") + kPolicyColumns +
                          " FROM policy_versions p WHERE version = (SELECT max(version) FROM "
                          "policy_versions WHERE uai = p.uai) ORDER BY uai";
  Statement q(db, sql.c_str());
  std::vector<PolicyVersion> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_policy(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(db, rc, "read"));
  return out;
}

Result<std::vector<PolicyVersion>> SqliteStore::current_policies() {
  std::lock_guard lock(reader_mutex_);
  return select_current_policies(reader_);
}

Result<std::vector<PolicyVersion>> SqliteStore::policy_versions(std::string_view uai) {
  std::lock_guard lock(reader_mutex_);
  const std::string sql = std::string("SELECT ") + kPolicyColumns +
                          " FROM policy_versions WHERE uai = ? ORDER BY version DESC";
  Statement q(reader_, sql.c_str());
  q.bind(1, uai);
  std::vector<PolicyVersion> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(read_policy(q));
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::vector<std::pair<policy::Category, std::uint64_t>>> SqliteStore::held_by_category(
    std::string_view uai) {
  std::lock_guard lock(reader_mutex_);
  Statement q(reader_,
              "SELECT e.category, count(*) FROM deliveries d JOIN events e ON e.id = d.event "
              "WHERE d.state = 'held' AND e.establishment = ? GROUP BY e.category "
              "ORDER BY e.category");
  q.bind(1, uai);
  std::vector<std::pair<policy::Category, std::uint64_t>> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    out.emplace_back(policy::parse_category(q.text(0)).value_or(policy::Category::other),
                     static_cast<std::uint64_t>(q.integer(1)));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(error_of(reader_, rc, "read"));
  return out;
}

Result<std::optional<policy::Instant>> SqliteStore::next_release_of(std::string_view uai) {
  std::lock_guard lock(reader_mutex_);
  Statement q(reader_,
              "SELECT min(d.release_at) FROM deliveries d JOIN events e ON e.id = d.event "
              "WHERE d.state = 'held' AND e.establishment = ?");
  q.bind(1, uai);
  return optional_instant(q, reader_);
}

}  // namespace treve::store
