// The audit records of an accepted event, the same for every backend (ingest_records.h).
#include "daemon/store/ingest_records.h"

#include <boost/json.hpp>

namespace treve::store {

namespace json = boost::json;

std::string_view first_record_kind(const NewDelivery& d) {
  if (d.bypassed)
    return "bypassed";
  return d.state == DeliveryState::held ? "held" : "released";
}

std::string first_record_detail(std::string_view source, const NewDelivery& d,
                                const date::time_zone* zone) {
  Detail detail;
  if (d.bypassed && d.crisis) {
    detail.add("crisis", d.crisis).add("reason", d.reason);
  } else if (d.bypassed) {
    detail.add("connector", source).add("reason", d.reason);
  } else if (d.state == DeliveryState::held) {
    detail.add_instant("until", d.release_at, zone).add("reason", d.reason);
  } else {
    detail.add("reason", d.reason);
  }
  if (d.late_homework)
    detail.add_bool("late_homework", true);
  return detail.text();
}

std::string behind_release_detail(std::string_view source, const NewDelivery& d,
                                  const date::time_zone* zone) {
  NewDelivery held = d;
  held.state = DeliveryState::held;
  held.reason = "behind the release under way (" + d.reason + ")";
  return first_record_detail(source, held, zone);
}

std::vector<AuditRecord> event_records(const NewEvent& e, const std::string& at_local) {
  std::vector<AuditRecord> out;
  AuditRecord r;
  r.at_ms = instant_ms(e.received_at);
  r.at_local = at_local;
  r.source = e.source;
  r.event_id = e.id;
  r.establishment = e.establishment;
  r.category = policy::to_string(e.category);
  r.kind = "received";
  r.detail = Detail()
                 .add("deliveries", static_cast<std::int64_t>(e.deliveries.size()))
                 .add_bool("urgent", e.urgent)
                 .text();
  out.push_back(r);
  if (!e.urgent_refusal.empty()) {
    r.kind = "bypass_refused";
    r.detail = Detail().add("connector", e.source).add("reason", e.urgent_refusal).text();
    out.push_back(r);
  }
  if (e.awaiting) {
    r.kind = "awaiting_directory";
    r.detail = Detail()
                   .add("directory", e.awaiting->directory)
                   .add("users", static_cast<std::int64_t>(e.awaiting->users.size()))
                   .add("error", e.awaiting->error)
                   .text();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<AuditRecord> resolved_records(const Resolution& r, int attempts, policy::Instant now,
                                          const date::time_zone* zone) {
  std::vector<AuditRecord> out;
  AuditRecord rec;
  rec.at_ms = instant_ms(now);
  rec.at_local = policy::format_rfc3339(now, zone);
  rec.source = r.source;
  rec.event_id = r.id;
  rec.establishment = r.establishment;
  rec.category = policy::to_string(r.category);
  rec.kind = "resolved";
  rec.detail = Detail()
                   .add("directory", r.directory)
                   .add("deliveries", static_cast<std::int64_t>(r.deliveries.size()))
                   .add("unknown", static_cast<std::int64_t>(r.unknown))
                   .add("attempts", static_cast<std::int64_t>(attempts))
                   .text();
  out.push_back(rec);
  if (!r.urgent_refusal.empty()) {
    rec.kind = "bypass_refused";
    rec.detail = Detail().add("connector", r.source).add("reason", r.urgent_refusal).text();
    out.push_back(std::move(rec));
  }
  return out;
}

AuditRecord preference_record(std::string_view kind, std::string_view source,
                              std::string_view pseudonym, policy::Instant now, std::string detail) {
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, zone_or_utc("UTC"));
  r.kind = std::string(kind);
  r.source = std::string(source);
  r.recipient = std::string(pseudonym);
  r.detail = std::move(detail);
  return r;
}

AuditRecord delivery_record(const DeliveryRef& d, std::string_view kind, policy::Instant at,
                            std::string at_local, std::string detail, std::string pseudonym) {
  AuditRecord r;
  r.at_ms = instant_ms(at);
  r.at_local = std::move(at_local);
  r.kind = kind;
  r.source = d.source;
  r.event_id = d.event_id;
  r.establishment = d.establishment;
  r.category = policy::to_string(d.category);
  r.recipient = std::move(pseudonym);
  r.role = policy::to_string(d.role);
  // The copy's sink leads the detail of every record about it: with fan-out, the records of
  // one recipient's copies differ by it.
  if (!d.sink.empty() && detail.starts_with('{')) {
    std::string with = "{\"sink\":";
    core::append_json_string(with, d.sink);
    if (detail != "{}")
      with += ',';
    with.append(detail, 1);
    detail = std::move(with);
  }
  r.detail = std::move(detail);
  return r;
}

void prepare_events(std::span<NewEvent> events, const Pseudonymizer& pseudonyms,
                    std::mutex& mutex) {
  for (NewEvent& e : events) {
    if (!e.zone)
      continue;
    e.at_local = policy::format_rfc3339(e.received_at, e.zone);
    for (NewDelivery& d : e.deliveries) {
      d.audit_detail = first_record_detail(e.source, d, e.zone);
      std::lock_guard lock(mutex);
      d.pseudonym = pseudonyms.pseudonym(e.source, d.recipient);
    }
  }
}

std::string users_text(std::span<const std::string> users) {
  json::array a;
  for (const std::string& u : users)
    a.emplace_back(u);
  return json::serialize(a);
}

std::vector<std::string> users_of(std::string_view text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array())
    return out;
  for (const json::value& u : v.get_array()) {
    if (u.is_string())
      out.emplace_back(u.get_string());
  }
  return out;
}

}  // namespace treve::store
