// What the store's tests share: a temporary directory for real SQLite files (the support's),
// instants written as RFC 3339, the events and crisis they store, a delivery's outcome.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/digest.h"

#include "daemon/store/store.h"
#include "policy/rfc3339.h"
#include "tests/support/temp_dir.h"

namespace treve::store::testing {

inline policy::Instant at(std::string_view s) {
  return *policy::parse_rfc3339(s);
}

// The tests' one temporary directory (tests/support/temp_dir.h).
using ::treve::test::TempDir;

// An event of "ent" for 0750654D received Friday 27 November 2026 21:00 in Paris, with
// `recipients` deliveries ("pupil-0"…) in `state`, held until Monday 07:00: its title and
// payload are what the audit trail must never hold.
inline NewEvent event_for_pupils(std::string id, int recipients = 2,
                                 DeliveryState state = DeliveryState::held) {
  NewEvent e;
  e.source = "ent";
  e.id = std::move(id);
  e.establishment = "0750654D";
  e.category = policy::Category::message;
  e.received_at = at("2026-11-27T21:00:00+01:00");
  e.zone = date::locate_zone("Europe/Paris");
  e.body = R"({"title":"Réunion secrète","payload":{"note":"confidential-payload"}})";
  e.body_sha256 = core::sha256_hex(e.body);
  e.response = R"({"answer":")" + e.id + R"("})";
  for (int i = 0; i < recipients; ++i) {
    NewDelivery d;
    d.recipient = "pupil-" + std::to_string(i);
    d.role = policy::Role::student;
    d.state = state;
    d.release_at = at("2026-11-30T07:00:00+01:00");
    d.reason = "quiet window Fri 20:00-Mon 07:00";
    e.deliveries.push_back(d);
  }
  return e;
}

// The same for the named `recipients`: due deliveries are due at reception, held ones until
// `release`.
inline NewEvent event_for(const std::string& id, std::vector<std::string> recipients,
                          DeliveryState state,
                          policy::Instant release = at("2026-11-30T07:00:00+01:00")) {
  NewEvent e;
  e.source = "ent";
  e.id = id;
  e.establishment = "0750654D";
  e.category = policy::Category::message;
  e.received_at = at("2026-11-27T21:00:00+01:00");
  e.zone = date::locate_zone("Europe/Paris");
  e.body = R"({"title":"secret title","payload":{"p":"secret payload"}})";
  e.body_sha256 = core::sha256_hex(e.body + id);
  e.response = "{}";
  for (auto& r : recipients) {
    NewDelivery d;
    d.recipient = r;
    d.state = state;
    d.release_at = state == DeliveryState::due ? e.received_at : release;
    d.reason = "test";
    e.deliveries.push_back(d);
  }
  return e;
}

// A crisis for 0750654D: a storm, messages and news released, until Sunday 18:00.
inline NewCrisis storm() {
  NewCrisis c;
  c.uai = "0750654D";
  c.reason = "Tempête : établissement fermé";
  c.categories = (1u << static_cast<unsigned>(policy::Category::message)) |
                 (1u << static_cast<unsigned>(policy::Category::news));
  c.release_held = true;
  c.until = at("2026-11-29T18:00:00+01:00");
  c.by = "Mme Durand";
  c.zone = date::locate_zone("Europe/Paris");
  return c;
}

// One integer answered by `sql` on the SQLite file `path`, read with a connection of its own
// as an auditor would (-1 when it answers no row).
inline long long sqlite_query_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  long long v = -1;
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// What the dispatcher reports of one attempt at `d`: delivered (200), or failed (503) with
// the next attempt two seconds later.
inline DeliveryOutcome outcome_for(const DispatchItem& d, DeliveryOutcome::Kind kind,
                                   policy::Instant attempted_at) {
  DeliveryOutcome o;
  o.kind = kind;
  o.ref = d.ref;
  o.sink = "push";
  o.webhook_id = "dlv_x";
  o.attempts = d.attempts + 1;
  o.status = kind == DeliveryOutcome::Kind::delivered ? 200 : 503;
  o.error = kind == DeliveryOutcome::Kind::delivered ? "" : "HTTP 503";
  o.first_attempt_at = attempted_at;
  o.next_attempt_at = attempted_at + std::chrono::seconds{2};
  return o;
}

}  // namespace treve::store::testing
