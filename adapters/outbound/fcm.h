// Firebase Cloud Messaging HTTP v1, the parts without I/O: the service account and its OAuth 2.0
// assertion (RFC 7523, as Google's token endpoint takes it), the token request and answer, the
// message a device token is sent, and what FCM's answer means. The requests themselves are
// made by daemon/dispatch/fcm_channel.
//
//   POST <token_uri>   application/x-www-form-urlencoded
//     grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=<RS256 JWT>
//     -> {"access_token": "…", "expires_in": 3599, "token_type": "Bearer"}
//   POST <endpoint>/v1/projects/<project_id>/messages:send   Authorization: Bearer <token>
//     {"message": {"token": "<device token>", "notification": {"title", "body"},
//                  "data": {…strings…}, "android": {"priority": "high"|"normal"},
//                  "apns": {"headers": {"apns-priority": "10"|"5"}}}}
//
// Pure functions and immutable values, safe from any thread.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/outbound/jwt.h"
#include "adapters/outbound/sink.h"

namespace treve::adapters {

inline constexpr std::string_view kFcmScope = "https://www.googleapis.com/auth/firebase.messaging";
inline constexpr std::string_view kGoogleTokenUri = "https://oauth2.googleapis.com/token";
// FCM refuses a message whose data (keys and values) passes 4096 bytes; ours stay below this.
inline constexpr std::size_t kFcmMaxData = 3072;
// A notification's title is cut (at a character boundary, with "…") beyond this many bytes:
// a phone shows a line of it, and the whole message must stay small.
inline constexpr std::size_t kFcmMaxTitle = 256;
// A link from the event's payload is forwarded only up to this length.
inline constexpr std::size_t kFcmMaxLink = 1024;

// A Google service account, from its JSON key file.
struct ServiceAccount {
  std::string client_email;
  std::string private_key_id;  // the assertion's "kid"; empty: none
  std::string token_uri = std::string(kGoogleTokenUri);
  std::string project_id;             // the key file's; a sink's own project_id comes first
  std::optional<JwtSigner> signer{};  // RS256 with `private_key`; set by parse_service_account
};

// The service account in `json_text` (the key file Google gives: "type": "service_account",
// "client_email", "private_key", "private_key_id", "token_uri", "project_id"). Refused, with the
// reason, when it is not a JSON object, "type" is present but not "service_account",
// "client_email" is missing or not an address, "private_key" is missing or not an RSA key of
// 2048 bits or more usable for RS256, or "token_uri" (Google's by default) is not an http(s)
// URL. The reason never quotes the key.
std::expected<ServiceAccount, std::string> parse_service_account(std::string_view json_text);

// The signed assertion of `account` at `unix_seconds` (adapters::service_account_claims: iss,
// scope kFcmScope, aud = token_uri, iat, exp = iat + 3600; kid = private_key_id).
std::expected<std::string, std::string> service_account_assertion(const ServiceAccount& account,
                                                                  std::int64_t unix_seconds);

// The form POSTed to the token endpoint for `assertion`.
std::string token_request_body(std::string_view assertion);

struct AccessToken {
  std::string token;
  std::int64_t expires_in = 0;  // seconds, > 0
};

// The token endpoint's 200 answer. Refused when it is not JSON, "access_token" is not a
// non-empty string, "expires_in" is not a positive number, or "token_type" is present and not
// "Bearer". The reason never quotes the body.
std::expected<AccessToken, std::string> parse_token_response(std::string_view body);

// Why the token endpoint gave no token: its status and, from an OAuth error answer
// ({"error": "invalid_grant", "error_description": "…"}), the error code and description
// (printable ASCII, cut to 160 bytes); `transport_error` when there was no answer (status 0).
// Never the assertion nor a token.
std::string token_failure(int status, std::string_view body, std::string_view transport_error);

// "<endpoint>/v1/projects/<project_id>/messages:send" (a trailing "/" of `endpoint` dropped;
// `project_id` percent-encoded where it is not a URL path character).
std::string fcm_send_url(std::string_view endpoint, std::string_view project_id);

// What every device of the recipient is sent for one delivery (or one digest).
struct FcmContent {
  std::string title;
  std::string body;
  std::vector<std::pair<std::string, std::string>> data;  // all strings, as FCM wants
  bool urgent = false;  // android.priority "high" and apns-priority "10"; else normal and 5
};

// The content of one delivery:
//   title: the event's `title` (cut to kFcmMaxTitle), or, without one, a French title by
//          category (fcm_fallback_title: "Nouvelle note" for a grade);
//   body:  where it comes from, in French: the ENT's section for the category and the
//          establishment, "Notes · établissement 0250001R" (fcm_section); trêve knows no
//          school's name, and the app shows the content itself when opened;
//   data:  delivery_id (what the app deduplicates on), source, id (the event's), establishment,
//          category, released_at, and `link`: the payload's string member "link" (else "url")
//          when it is an http(s) URL of at most kFcmMaxLink bytes without spaces or control
//          characters. The payload itself is never sent (FCM's 4 KB), nor the recipient.
// The event body is the connector's JSON: anything in it that is not as expected is ignored.
FcmContent fcm_content(const OutboundDelivery& d);

// The content of a morning digest of `batch` (several deliveries of one recipient), with the
// title and body written for it: data {delivery_id: id, digest: "true", count, establishment
// (when all deliveries share one), released_at (the last's)}; normal priority.
FcmContent fcm_digest_content(std::span<const OutboundDelivery> batch, std::string_view id,
                              std::string_view title, std::string_view body);

// "Nouvelle note" for "grade", …; "Nouvelle notification" for a category it does not know.
std::string_view fcm_fallback_title(std::string_view category);
// "Notes" for "grade", "Messagerie" for "message", …; "ENT" for a category it does not know.
std::string_view fcm_section(std::string_view category);

// The messages:send body for `device_token`.
std::string fcm_message(std::string_view device_token, const FcmContent& content);

// What an answer to messages:send means for that device token.
enum class FcmOutcome {
  delivered,        // 2xx
  token_gone,       // the token is unregistered, invalid or of another project: never again
  unauthenticated,  // 401: the access token was refused (fetch another, send again once)
  retry,            // no answer, 408, 429, 5xx: later, honouring Retry-After
  refused,          // any other 4xx: the request itself is refused
};

struct FcmAnswer {
  FcmOutcome outcome = FcmOutcome::retry;
  // "404 NOT_FOUND UNREGISTERED": the status, FCM's error status and errorCode (never its
  // message, nor the token).
  std::string reason;
};

// Reads FCM's error answer {"error": {"code", "message", "status", "details": [{"@type":
// "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}, {"@type":
// "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.token"}]}]}}:
//   404 with errorCode UNREGISTERED or status NOT_FOUND, 400 INVALID_ARGUMENT about the
//   registration token (errorCode INVALID_ARGUMENT with a message about it, or a field violation
//   of message.token), 403 SENDER_ID_MISMATCH: token_gone; 401: unauthenticated; status 0, 408,
//   429 and 5xx: retry; other 4xx (and 3xx, 1xx): refused.
FcmAnswer classify_fcm_answer(int status, std::string_view body);

}  // namespace treve::adapters
