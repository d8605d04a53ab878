// The e-mail of a delivery as bytes: an RFC 5322 message with a MIME multipart/alternative body
// (RFC 2045-2047), ready for SMTP. Pure functions; no I/O. What the message says (subject,
// plain text, HTML) comes from the templates (mail_template.h); this file only makes it a
// well-formed message that no value can break:
//
//   Date: Sat, 28 Nov 2026 06:00:00 +0000            (the attempt's instant, UTC)
//   From: "Collège Jean Moulin" <notifications@college.example.fr>
//   To: parent@example.fr                            (one address per message)
//   Reply-To: vie-scolaire@college.example.fr        (when configured)
//   Subject: =?UTF-8?B?…?=                          (RFC 2047 when not plain short ASCII)
//   Message-ID: <dlv_…@college.example.fr>           (the delivery id at the From's domain)
//   MIME-Version: 1.0
//   Auto-Submitted: auto-generated                   (RFC 3834: no automatic replies)
//   X-Auto-Response-Suppress: All
//   Content-Language: fr
//   Content-Type: multipart/alternative; boundary="=_treve_<id>"
//   then a text/plain and a text/html part, both UTF-8 and quoted-printable.
//
// Guarantees: CRLF line endings only (no bare CR or LF anywhere); header lines of at most 78
// characters (but an address, which cannot be folded); no value can add a header: the
// subject's control characters (CR and LF among them) become spaces, addresses and display
// names holding one are refused, and the id may hold only letters, digits, `.`, `_` and `-`.
// The Message-ID depends on the id and the From address only, so that an e-mail sent again
// after a crash is the same message for the receiver, who deduplicates on it.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "adapters/inbound/json_text.h"  // valid_utf8

namespace treve::adapters {

// An address with its optional display name: "Name <local@domain>", "\"Name\" <local@domain>"
// or "local@domain".
struct Mailbox {
  std::string name;     // UTF-8, may be empty
  std::string address;  // local@domain (plausible_email)
};

// Reads a mailbox as the configuration writes one (`from`, `reply_to`). Refuses an address
// that is not plausible_email and a name with a control character or invalid UTF-8.
std::expected<Mailbox, std::string> parse_mailbox(std::string_view text);

// What the e-mail says, as the templates rendered it (UTF-8; line breaks LF or CRLF).
struct MailContent {
  std::string subject;
  std::string text;
  std::string html;
};

struct MailHeaders {
  Mailbox from;
  Mailbox reply_to;  // none when its address is empty
  std::string to;    // the recipient's address (plausible_email)
  // The Message-ID's left part: the delivery id ("dlv_…"), or the digest's ("dig_…"). At most
  // 62 characters of [A-Za-z0-9._-].
  std::string id;
  std::int64_t unix_seconds = 0;  // the Date
};

struct MailMessage {
  std::string message_id;  // "<id@domain>", as in the header
  std::string text;        // the whole message, CRLF line endings
};

// The message, or why it cannot be made (an address or id that is not acceptable).
std::expected<MailMessage, std::string> build_mail(const MailHeaders& headers,
                                                   const MailContent& content);

// "<id@domain of from_address>".
std::string mail_message_id(std::string_view id, std::string_view from_address);

// RFC 5322 date-time in UTC: "Sat, 28 Nov 2026 06:00:00 +0000".
std::string rfc5322_date(std::int64_t unix_seconds);

// "Subject: …\r\n": `value` with control characters made spaces, as is when it is short
// printable ASCII, else as RFC 2047 encoded-words (UTF-8, base64) of whole characters, one
// per line, each line at most 78 characters.
std::string subject_header(std::string_view value);

// `text` (UTF-8, line breaks LF, CRLF or CR) in quoted-printable (RFC 2045 §6.7): line breaks
// become CRLF, encoded lines are at most 76 characters, `=` and every byte outside printable
// ASCII are encoded, as is a space or tab ending a line.
std::string quoted_printable(std::string_view text);

}  // namespace treve::adapters
