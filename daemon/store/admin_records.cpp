// The audit records of administrators' acts, the same for every backend (admin_records.h).
#include "daemon/store/admin_records.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "daemon/store/ingest_records.h"

namespace treve::store {

namespace {

// The names of the categories of a bit set, as a JSON array.
std::string category_names(std::uint16_t categories) {
  std::string out = "[";
  for (int c = 0; c < policy::kCategoryCount; ++c) {
    if (!((categories >> c) & 1u))
      continue;
    if (out.size() > 1)
      out += ',';
    core::append_json_string(out, policy::to_string(static_cast<policy::Category>(c)));
  }
  return out + "]";
}

AuditRecord crisis_record(std::string_view kind, std::string_view uai, policy::Instant now,
                          const date::time_zone* zone, std::string detail) {
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, zone ? zone : zone_or_utc("UTC"));
  r.kind = std::string(kind);
  r.establishment = std::string(uai);
  r.detail = std::move(detail);
  return r;
}

}  // namespace

AuditRecord config_changed_record(const ConfigChange& change,
                                  const std::optional<std::string>& before, policy::Instant now) {
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, zone_or_utc("UTC"));
  r.kind = "config_changed";
  Detail d;
  d.add("file", change.file).add("by", change.by);
  if (!change.on.empty())
    d.add("on", change.on);
  if (before)
    d.add("before", *before);
  else
    d.add_null("before");
  r.detail = d.add("after", change.digest).text();
  return r;
}

AuditRecord policy_changed_record(const PolicyVersion& v, std::int64_t version,
                                  const std::optional<std::string>& before, policy::Instant now) {
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, v.zone ? v.zone : zone_or_utc("UTC"));
  r.kind = "policy_changed";
  r.establishment = v.uai;
  Detail d;
  d.add("by", v.author).add("version", version).add("comment", v.comment);
  if (before)
    d.add("before", *before);
  else
    d.add_null("before");
  d.add("after", v.digest).add_raw("weaker", json_strings(v.weaker));
  if (v.rollback_of > 0)
    d.add("rollback_of", v.rollback_of);
  r.detail = d.text();
  return r;
}

AuditRecord access_refused_record(const AccessRefusal& refusal, policy::Instant now) {
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, refusal.zone ? refusal.zone : zone_or_utc("UTC"));
  r.kind = "access_refused";
  r.establishment = refusal.establishment;
  r.detail = Detail()
                 .add("admin", refusal.admin)
                 .add("role", refusal.role)
                 .add("method", refusal.method)
                 .add("path", refusal.path)
                 .add("reason", refusal.reason)
                 .text();
  return r;
}

std::string json_strings(const std::vector<std::string>& list) {
  std::string out = "[";
  for (const auto& s : list) {
    if (out.size() > 1)
      out += ',';
    core::append_json_string(out, s);
  }
  return out + "]";
}

std::vector<std::string> strings_of(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array())
    return out;
  for (const auto& s : v.as_array()) {
    if (s.is_string())
      out.emplace_back(s.as_string());
  }
  return out;
}

AuditRecord checkpoint_record(const PurgeResult& out, std::int64_t first,
                              const std::string& continues_from, const PurgeLimits& limits,
                              policy::Instant now) {
  const date::time_zone* utc = zone_or_utc("UTC");
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, utc);
  r.kind = "checkpoint";
  r.detail = Detail()
                 .add("purged_from", first)
                 .add("purged_through", out.purged_through)
                 .add("records", out.audit_records)
                 .add("continues_from", continues_from)
                 .add("before", policy::format_rfc3339(limits.audit_before, utc))
                 .text();
  return r;
}

AuditRecord purged_record(const PurgeResult& out, const PurgeLimits& limits, policy::Instant now) {
  const date::time_zone* utc = zone_or_utc("UTC");
  AuditRecord r;
  r.at_ms = instant_ms(now);
  r.at_local = policy::format_rfc3339(now, utc);
  r.kind = "purged";
  r.detail = Detail()
                 .add("bodies", out.bodies)
                 .add("bodies_before", policy::format_rfc3339(limits.events_before, utc))
                 .add("events", out.events)
                 .add("deliveries", out.deliveries)
                 .add("events_before", policy::format_rfc3339(limits.audit_before, utc))
                 .text();
  return r;
}

AuditRecord crisis_opened_record(const NewCrisis& c, std::int64_t id, policy::Instant now) {
  const date::time_zone* zone = c.zone ? c.zone : zone_or_utc("UTC");
  return crisis_record("crisis_opened", c.uai, now, zone,
                       Detail()
                           .add("crisis", id)
                           .add("reason", c.reason)
                           .add_raw("categories", category_names(c.categories))
                           .add_instant("until", c.until, zone)
                           .add_bool("release_held", c.release_held)
                           .add("by", c.by)
                           .text());
}

AuditRecord crisis_extended_record(std::string_view uai, std::int64_t id, policy::Instant until,
                                   policy::Instant previous, std::string_view by,
                                   const date::time_zone* zone, policy::Instant now) {
  const date::time_zone* z = zone ? zone : zone_or_utc("UTC");
  return crisis_record("crisis_extended", uai, now, z,
                       Detail()
                           .add("crisis", id)
                           .add_instant("until", until, z)
                           .add_instant("previous_until", previous, z)
                           .add("by", by)
                           .text());
}

AuditRecord crisis_closed_record(std::string_view uai, std::int64_t id, std::string_view by,
                                 const date::time_zone* zone, policy::Instant now) {
  return crisis_record("crisis_closed", uai, now, zone,
                       Detail().add("crisis", id).add("by", by).text());
}

}  // namespace treve::store
