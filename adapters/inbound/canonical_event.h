// The canonical event format (DESIGN.md, "Ingest API"): bytes in, a validated notification or
// a Problem naming the offending field out. Strict: unknown fields are refused, so that a
// connector's typo ("urgnet") is reported instead of silently ignored.
#pragma once

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/inbound/problem.h"
#include "policy/instant.h"
#include "policy/notification.h"

namespace boost::json {
class object;
}

namespace treve::adapters {

// At most this many other establishments per recipient (`recipients[i].establishments`).
inline constexpr std::size_t kMaxRecipientEstablishments = 8;

struct EventLimits {
  std::size_t max_id_chars = 128;
  std::size_t max_recipients = 1000;
  std::size_t max_title_chars = 1024;
};

struct CanonicalEvent {
  policy::Notification notification;  // source left empty unless the input names it
  policy::Instant created_at;
  std::string title;
  std::string payload_json;  // the payload's text as the connector wrote it; "null" when absent
  // `treve simulate` input only: when trêve received it.
  std::optional<policy::Instant> received_at;
};

struct ParseMode {
  // Accept "received_at" (required) and "source" (optional), as `treve simulate` reads.
  bool simulation = false;
  // Keep the payload's text in CanonicalEvent::payload_json and refuse a field given twice
  // (off when nobody forwards the payload: re-planning, simulation).
  bool keep_payload = true;
  // An event before its directory answered (a CloudEvent whose recipients are user ids): no
  // establishment and no recipients, which are refused if given; every other field as usual.
  bool without_audience = false;
  EventLimits limits;
};

std::expected<CanonicalEvent, Problem> parse_canonical_event(std::string_view body,
                                                             const ParseMode& mode = {});

// Parses many events in a row, reusing its parser and memory between them: for readers of
// NDJSON streams. Not thread-safe; one per thread.
class CanonicalEventReader {
 public:
  explicit CanonicalEventReader(ParseMode mode);
  ~CanonicalEventReader();
  CanonicalEventReader(const CanonicalEventReader&) = delete;
  CanonicalEventReader& operator=(const CanonicalEventReader&) = delete;

  std::expected<CanonicalEvent, Problem> parse(std::string_view body);

 private:
  struct State;
  ParseMode mode_;
  std::unique_ptr<State> state_;
};
std::expected<CanonicalEvent, Problem> canonical_event_from_json(const boost::json::object& o,
                                                                 const ParseMode& mode = {});

// The problem with an identifier (an event's or recipient's id, a source) at `pointer`: empty,
// longer than `max_chars` characters, or holding a control character, line separator or
// bidirectional override (identifiers reach logs and the audit trail). Nothing when it is fine.
std::optional<Problem> identifier_problem(std::string_view s, const std::string& pointer,
                                          std::size_t max_chars);

}  // namespace treve::adapters
