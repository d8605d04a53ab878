// The audit records of deliveries after their acceptance, the same for every backend
// (dispatch_records.h).
#include "daemon/store/dispatch_records.h"

#include "daemon/store/ingest_records.h"

namespace treve::store {

namespace {

AuditRecord record(const Pseudonymizer& pseudonyms, const DeliveryRef& ref, std::string_view kind,
                   policy::Instant now, std::string detail) {
  const date::time_zone* zone = zone_or_utc(ref.timezone);
  return delivery_record(ref, kind, now, policy::format_rfc3339(now, zone), std::move(detail),
                         pseudonyms.pseudonym(ref.source, ref.recipient));
}

// The reason of a follower held with `first`.
std::string behind(const DeliveryOutcome& first) {
  return "behind " + first.ref.event_id + ", held again: " + first.hold_reason;
}

}  // namespace

std::string_view outcome_state(DeliveryOutcome::Kind k) {
  switch (k) {
    case DeliveryOutcome::Kind::delivered:
      return "delivered";
    case DeliveryOutcome::Kind::retrying:
      return "retrying";
    case DeliveryOutcome::Kind::dead:
      return "dead";
    case DeliveryOutcome::Kind::no_address:
      return "no_address";
    case DeliveryOutcome::Kind::held_again:
      return "held";
  }
  return "dead";
}

std::string address_pseudonyms(const Pseudonymizer& pseudonyms, std::string_view source,
                               std::span<const std::string> addresses) {
  std::string out = "[";
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (i)
      out += ',';
    core::append_json_string(out, pseudonyms.pseudonym(source, addresses[i]));
  }
  out += ']';
  return out;
}

AuditRecord released_record(const Pseudonymizer& pseudonyms, const DeliveryRef& ref,
                            policy::Instant release_at, policy::Instant now) {
  const date::time_zone* zone = zone_or_utc(ref.timezone);
  return record(pseudonyms, ref, "released", now,
                Detail().add("release_at", policy::format_rfc3339(release_at, zone)).text());
}

AuditRecord outcome_record(const Pseudonymizer& pseudonyms, const DeliveryOutcome& o,
                           policy::Instant now) {
  const date::time_zone* zone = zone_or_utc(o.ref.timezone);
  DeliveryRef ref = o.ref;
  if (ref.sink.empty())
    ref.sink = o.sink;  // routed when sent: the sink it went to
  Detail detail;
  if (!o.channel.empty())
    detail.add("channel", o.channel);
  detail.add("attempt", std::int64_t{o.attempts});
  if (!o.addresses.empty())
    detail.add_raw("to", address_pseudonyms(pseudonyms, o.ref.source, o.addresses));
  if (!o.digest.empty())
    detail.add("digest", o.digest);
  if (o.status)
    detail.add("status", std::int64_t{o.status});
  if (!o.error.empty())
    detail.add("error", o.error);
  detail.add("webhook_id", o.webhook_id);
  // Sent in a batch, the request's id is the batch's: the delivery's own id (the one the
  // receiver deduplicates on) is recorded beside it.
  if (!o.delivery_id.empty() && o.delivery_id != o.webhook_id)
    detail.add("delivery_id", o.delivery_id);
  std::string_view kind = "dead_lettered";
  switch (o.kind) {
    case DeliveryOutcome::Kind::delivered:
      kind = "delivered";
      break;
    case DeliveryOutcome::Kind::retrying:
      kind = "retrying";
      detail.add_instant("next_attempt", o.next_attempt_at, zone);
      break;
    case DeliveryOutcome::Kind::dead:
      kind = "dead_lettered";
      break;
    case DeliveryOutcome::Kind::no_address:
      kind = "no_address";
      break;
    case DeliveryOutcome::Kind::held_again:
      break;  // held_again_record
  }
  return record(pseudonyms, ref, kind, now, detail.text());
}

AuditRecord held_again_record(const Pseudonymizer& pseudonyms, const DeliveryOutcome& o,
                              policy::Instant now) {
  const date::time_zone* zone = zone_or_utc(o.ref.timezone);
  DeliveryRef ref = o.ref;
  if (ref.sink.empty())
    ref.sink = o.sink;
  Detail detail;
  detail.add_instant("until", o.held_until, zone);  // null: held until the policy is corrected
  detail.add("reason", o.hold_reason).add("attempts", std::int64_t{o.attempts});
  return record(pseudonyms, ref, "held_again", now, detail.text());
}

bool opens_digest(std::span<const DeliveryOutcome> outcomes, std::size_t i) {
  // A digest's id is made from its deliveries' ids, which are the same for every sink: the
  // FCM and Web Push digests of one recipient share it. A new sink is a new digest.
  const DeliveryOutcome& o = outcomes[i];
  return !o.digest.empty() &&
         (i == 0 || outcomes[i - 1].digest != o.digest || outcomes[i - 1].sink != o.sink);
}

AuditRecord digest_record(const Pseudonymizer& pseudonyms, std::span<const DeliveryOutcome> from,
                          policy::Instant now) {
  const DeliveryOutcome& first = from.front();
  std::string covers = "[";
  std::size_t n = 0;
  for (const DeliveryOutcome& o : from) {
    if (o.digest != first.digest || o.sink != first.sink)
      break;
    if (n++)
      covers += ',';
    core::append_json_string(covers, o.ref.event_id);
  }
  covers += ']';
  DeliveryRef ref = first.ref;
  if (ref.sink.empty())
    ref.sink = first.sink;
  ref.event_id = first.digest;
  Detail detail;
  if (!first.channel.empty())
    detail.add("channel", first.channel);
  detail.add("id", first.digest).add("outcome", outcome_state(first.kind));
  detail.add("notifications", static_cast<std::int64_t>(n)).add_raw("covers", covers);
  return record(pseudonyms, ref, "digest", now, detail.text());
}

AuditRecord replanned_record(const Pseudonymizer& pseudonyms, const Replan& c,
                             policy::Instant now) {
  const date::time_zone* zone = zone_or_utc(c.ref.timezone);
  return record(pseudonyms, c.ref, "replanned", now,
                Detail()
                    .add_instant("was_until", c.was, zone)
                    .add_instant("until", c.release_at, zone)
                    .add("reason", c.reason)
                    .text());
}

AuditRecord replayed_record(const Pseudonymizer& pseudonyms, const DeliveryRef& ref,
                            policy::Instant now) {
  return record(pseudonyms, ref, "replayed", now, "{}");
}

void remember_held_again(HeldAgain& held, const DeliveryOutcome& o) {
  auto [it, first] = held.try_emplace({o.ref.source, o.ref.recipient, o.ref.sink}, &o);
  if (!first && o.ref.seq < it->second->ref.seq)
    it->second = &o;
}

const DeliveryOutcome* followed(const HeldAgain& held, const DeliveryRef& ref, bool urgent) {
  const auto it = held.find({ref.source, ref.recipient, ref.sink});
  if (urgent || it == held.end() || ref.seq <= it->second->ref.seq)
    return nullptr;
  return it->second;
}

DeliveryOutcome follower_held_again(const DeliveryOutcome& first, DeliveryRef ref) {
  DeliveryOutcome o;
  o.kind = DeliveryOutcome::Kind::held_again;
  o.ref = std::move(ref);
  o.sink = first.sink;
  o.held_until = first.held_until;
  o.hold_reason = behind(first);
  return o;
}

std::optional<Replan> follower_moved(const DeliveryOutcome& first, DeliveryRef ref,
                                     policy::Instant was) {
  if (was >= first.held_until)
    return std::nullopt;
  Replan m;
  m.ref = std::move(ref);
  m.was = was;
  m.release_at = first.held_until;
  m.reason = behind(first);
  return m;
}

}  // namespace treve::store
