#include "daemon/config/diagnostic.h"

#include <array>
#include <ostream>

namespace treve::config {
namespace {

struct Entry {
  CodeInfo info;
  std::string_view en;  // the message's pattern: {0}, {1}, … are the arguments
};

constexpr bool kEvent = true;
constexpr bool kPath = true;

// In the order of `Code`: checked below.
constexpr std::array kEntries = {
    Entry{{Code::config_unreadable, "config.unreadable", 1, false, false},
          "cannot read the configuration file: {0}"},
    Entry{{Code::toml_syntax, "config.toml_syntax", 1, false, false}, "TOML syntax error: {0}"},
    Entry{{Code::unknown_key, "config.unknown_key", 1, false, false},
          "unknown key; expected one of: {0}"},
    Entry{{Code::missing_key, "config.missing_key", 1, false, false}, "missing key \"{0}\""},
    Entry{{Code::must_be_string, "config.must_be_string", 0, false, false}, "must be a string"},
    Entry{{Code::must_be_bool, "config.must_be_bool", 0, false, false}, "must be true or false"},
    Entry{{Code::must_be_string_array, "config.must_be_string_array", 0, false, false},
          "must be an array of strings"},
    Entry{{Code::must_be_table, "config.must_be_table", 0, false, false}, "must be a table"},
    Entry{{Code::must_be_table_array, "config.must_be_table_array", 1, false, false},
          "must be an array of tables ([[{0}]])"},
    Entry{{Code::must_not_be_empty, "config.must_not_be_empty", 0, false, false},
          "must not be empty"},
    Entry{{Code::must_not_be_null, "config.must_not_be_null", 0, false, false}, "must not be null"},
    Entry{{Code::must_be_json_object, "config.must_be_json_object", 0, false, false},
          "must be a JSON object"},
    Entry{{Code::tz_data_missing, "config.tz_data_missing", 1, false, false},
          "time zone {0} is missing from the system's tz database (install tzdata)"},
    Entry{{Code::tz_data_unreadable, "config.tz_data_unreadable", 2, false, false},
          "time zone {0}: {1}"},
    Entry{{Code::unknown_zone, "config.unknown_zone", 1, false, false},
          "unknown time zone \"{0}\" (expected an IANA name such as \"Europe/Paris\")"},
    Entry{{Code::zone_unreadable, "config.zone_unreadable", 2, false, false},
          "time zone \"{0}\": {1}"},
    Entry{{Code::bad_uai, "config.bad_uai", 2, false, false}, "{1}"},
    Entry{{Code::bad_grade_delay, "config.bad_grade_delay", 1, false, false},
          "expected a duration of at most 366d such as \"0\", \"24h\", \"72h\" or \"7d\", got "
          "\"{0}\""},
    Entry{{Code::bad_homework_notice, "config.bad_homework_notice", 1, false, false},
          "expected a duration of at most 366d such as \"24h\" or \"2d\", got \"{0}\""},
    Entry{{Code::unknown_category, "config.unknown_category", 1, false, false},
          "unknown category \"{0}\"; expected one of: message, grade, homework, blog, news, "
          "schedule, absence, alert, other"},
    Entry{{Code::unknown_role, "config.unknown_role", 1, false, false},
          "unknown role \"{0}\"; expected student, parent or staff"},
    Entry{{Code::unknown_holiday_set, "config.unknown_holiday_set", 1, false, false},
          "unknown holiday set \"{0}\"; the built-in set is \"fr-public\""},
    Entry{{Code::bad_closed_date, "config.bad_closed_date", 1, false, false},
          "expected a date \"YYYY-MM-DD\" or a range \"YYYY-MM-DD..YYYY-MM-DD\" (first <= last), "
          "got \"{0}\""},
    Entry{{Code::closed_ics_not_accepted, "config.closed_ics_not_accepted", 0, false, false},
          "not accepted here: import the calendar's days into \"closed\""},
    Entry{{Code::no_window, "config.no_window", 0, false, false},
          "must hold at least one window (an establishment without quiet windows would never "
          "protect anyone)"},
    Entry{{Code::windows_cover_week, "config.windows_cover_week", 0, false, false},
          "the windows cover the whole week: nothing would ever be released"},
    Entry{{Code::no_general_window, "config.no_general_window", 0, false, false},
          "every window names categories: at least one must apply to all the others (no "
          "\"categories\" key)"},
    Entry{{Code::no_day, "config.no_day", 0, false, false}, "must name at least one day"},
    Entry{{Code::unknown_day, "config.unknown_day", 1, false, false},
          "unknown day \"{0}\"; expected mon, tue, wed, thu, fri, sat or sun"},
    Entry{{Code::bad_time, "config.bad_time", 1, false, false},
          "expected a time \"HH:MM\" (00:00 to 23:59), got \"{0}\""},
    Entry{{Code::must_be_absolute_path, "config.must_be_absolute_path", 0, false, false},
          "must be an absolute path"},
    Entry{{Code::bytes_out_of_range, "config.bytes_out_of_range", 2, false, false},
          "must be a whole number of bytes between {0} and {1}"},
    Entry{{Code::bad_listen, "config.bad_listen", 1, false, false},
          "expected HOST:PORT such as \"127.0.0.1:2007\", got \"{0}\""},
    Entry{{Code::bad_admin_listen, "config.bad_admin_listen", 1, false, false},
          "expected HOST:PORT or \"unix:/path/to/socket\", got \"{0}\""},
    Entry{{Code::same_listeners, "config.same_listeners", 0, false, false},
          "must differ from server.listen: the admin API never shares the ingest listener"},
    Entry{{Code::tls_certificate_and_key, "config.tls_certificate_and_key", 0, false, false},
          "a TLS certificate and its key go together: give both or neither"},
    Entry{{Code::tls_client_ca_alone, "config.tls_client_ca_alone", 0, false, false},
          "client certificates are asked for only over TLS: give the listener's certificate and "
          "key too"},
    Entry{{Code::tls_client_name_without_ca, "config.tls_client_name_without_ca", 0, false, false},
          "names the client certificate the connector must show: the ingest listener asks for "
          "one only with server.tls_client_ca"},
    Entry{{Code::admin_tls_client_name_without_ca, "config.admin_tls_client_name_without_ca", 0,
           false, false},
          "names the client certificate the administrator must show: the admin listener asks "
          "for one only with server.admin_tls_client_ca"},
    Entry{{Code::bad_tls_client_name, "config.bad_tls_client_name", 0, false, false},
          "expected the name its client certificate gives (a common name or a DNS name): not "
          "empty, at most 255 bytes, no control character"},
    Entry{{Code::tls_on_unix_socket, "config.tls_on_unix_socket", 0, false, false},
          "TLS is for a TCP listener: a unix socket is reached only by local users, through its "
          "file permissions"},
    Entry{{Code::bad_tls_file, "config.bad_tls_file", 2, false, false}, "{0}: {1}"},
    Entry{{Code::tls_certificate_expires, "config.tls_certificate_expires", 2, false, false},
          "the certificate in {0} expires on {1}, in less than 30 days: renew it, then reload"},
    Entry{{Code::tls_certificate_expired, "config.tls_certificate_expired", 2, false, false},
          "the certificate in {0} expired on {1}: clients will refuse it; renew it, then reload"},
    Entry{{Code::in_flight_below_request, "config.in_flight_below_request", 1, false, false},
          "must be at least {0} (the larger of server.max_body_bytes and "
          "server.max_batch_body_bytes): a request that large could never be accepted"},
    Entry{{Code::in_flight_below_connector, "config.in_flight_below_connector", 2, false, false},
          "server.max_bytes_in_flight ({0}) must be at least "
          "server.max_bytes_in_flight_per_connector ({1})"},
    Entry{{Code::bad_days, "config.bad_days", 3, false, false},
          "expected a whole number of days between {0}d and {1}d such as \"365d\", got \"{2}\""},
    Entry{{Code::records_out_of_range, "config.records_out_of_range", 0, false, false},
          "must be a whole number of records between 0 (never) and 100000000"},
    Entry{{Code::retention_outside_cnil, "config.retention_outside_cnil", 1, false, false},
          "{0} days is outside the six months to one year the CNIL recommends for logs "
          "(délibération 2021-122)"},
    Entry{{Code::pages_out_of_range, "config.pages_out_of_range", 0, false, false},
          "must be a whole number of pages between 1 and 1000000000"},
    Entry{{Code::bad_clock_start, "config.bad_clock_start", 1, false, false},
          "must be an RFC 3339 instant with its offset, such as \"2026-12-07T19:59:58+01:00\" "
          "({0})"},
    Entry{
        {Code::purge_interval_out_of_range, "config.purge_interval_out_of_range", 0, false, false},
        "must be a whole number of minutes between 1 and 1440"},
    Entry{{Code::no_test_hooks, "config.no_test_hooks", 0, false, false},
          "this trêve was built without test hooks (CMake option TREVE_TESTING): the [testing] "
          "table is for trêve's own tests"},
    Entry{{Code::test_hooks_in_use, "config.test_hooks_in_use", 0, false, false},
          "test hooks are in use; never in production"},
    Entry{{Code::bad_admin_name, "config.bad_admin_name", 0, false, false},
          "must be 1 to 200 characters"},
    Entry{{Code::duplicate_admin_name, "config.duplicate_admin_name", 0, false, false},
          "another admin has this name"},
    Entry{{Code::bad_token_digest, "config.bad_token_digest", 0, false, false},
          "must be the SHA-256 of the token as 64 lower-case hex digits (never the token itself)"},
    Entry{{Code::duplicate_admin_token, "config.duplicate_admin_token", 0, false, false},
          "another admin has this token"},
    Entry{{Code::bad_admin_role, "config.bad_admin_role", 0, false, false},
          "must be \"admin\" (may edit policy) or \"auditor\" (may only read)"},
    Entry{{Code::missing_scope, "config.missing_scope", 0, false, false},
          "missing key \"scope\" (a list of UAIs, or \"*\")"},
    Entry{{Code::bad_scope, "config.bad_scope", 0, false, false},
          "must be a list of UAIs, or \"*\""},
    Entry{{Code::bad_name, "config.bad_name", 0, false, false},
          "must be 1 to 64 characters among a-z, 0-9, '-' and '_'"},
    Entry{{Code::duplicate_name, "config.duplicate_name", 2, false, false},
          "duplicate {0} name \"{1}\""},
    Entry{{Code::unknown_connector_format, "config.unknown_connector_format", 1, false, false},
          "unknown connector format \"{0}\"; expected canonical, cloudevents or entcore-timeline"},
    Entry{{Code::format_needs_directory, "config.format_needs_directory", 1, false, false},
          "a connector with format = \"{0}\" needs a directory (key \"directory\", naming a "
          "[[directories]] entry): its events name users by id only"},
    Entry{{Code::key_not_for_format, "config.key_not_for_format", 1, false, false},
          "applies only to a connector with format = \"{0}\""},
    Entry{{Code::bad_ce_source, "config.bad_ce_source", 0, false, false},
          "must be a CloudEvents source of 1 to 256 characters"},
    Entry{{Code::bad_json_pointer, "config.bad_json_pointer", 1, false, false},
          "must be a JSON pointer (RFC 6901) to a member of data, such as \"/title\"; got "
          "\"{0}\""},
    Entry{{Code::reserved_event_type, "config.reserved_event_type", 1, false, false},
          "\"{0}\" carries a canonical event, whose category is its own: it cannot be mapped"},
    Entry{{Code::unknown_directory, "config.unknown_directory", 1, false, false},
          "no [[directories]] is named \"{0}\""},
    Entry{{Code::establishment_from_directory, "config.establishment_from_directory", 1, false,
           false},
          "this connector's events get their establishment from the directory \"{0}\" (key "
          "\"directory\"): establishment_pointer would do nothing"},
    Entry{{Code::directory_not_for_format, "config.directory_not_for_format", 1, false, false},
          "a canonical connector's events name their establishment and roles themselves: the "
          "directory \"{0}\" would do nothing (it serves format = \"entcore-timeline\" or "
          "\"cloudevents\")"},
    Entry{{Code::bad_timeline_type, "config.bad_timeline_type", 1, false, false},
          "\"{0}\" is not a timeline type: a type such as \"MESSAGERIE\", or a type, a dot and "
          "an event-type such as \"BLOG.PUBLISH-POST\" (letters, digits, '-' and '_')"},
    Entry{{Code::bad_timeline_title, "config.bad_timeline_title", 0, false, false},
          "a translation key and its text must each be 1 to 200 characters"},
    Entry{
        {Code::directory_needs_credentials, "config.directory_needs_credentials", 0, false, false},
        "missing key \"secret_file\" or \"token_file\": directory requests are always "
        "authenticated (a file holding a Standard Webhooks secret \"whsec_<base64>\" to sign "
        "them, or one holding a bearer token)"},
    Entry{{Code::directory_secret_and_token, "config.directory_secret_and_token", 0, false, false},
          "give secret_file (signed requests) or token_file (a bearer token), not both"},
    Entry{{Code::bad_token_file, "config.bad_token_file", 1, false, false},
          "{0} must hold a bearer token on its first line (printable ASCII without spaces)"},
    Entry{{Code::unknown_sink_type, "config.unknown_sink_type", 1, false, false},
          "unknown sink type \"{0}\"; expected webhook, fcm, webpush or smtp"},
    Entry{{Code::key_not_for_sink_type, "config.key_not_for_sink_type", 1, false, false},
          "does not apply to a {0} sink"},
    Entry{{Code::missing_sink_key, "config.missing_sink_key", 2, false, false},
          "missing key \"{0}\": a {1} sink needs it"},
    Entry{{Code::bad_http_url, "config.bad_http_url", 0, false, false},
          "must be an http:// or https:// URL"},
    Entry{{Code::bad_smtp_url, "config.bad_smtp_url", 0, false, false},
          "must be an smtp:// or smtps:// URL"},
    Entry{{Code::missing_secret_file, "config.missing_secret_file", 0, false, false},
          "missing key \"secret_file\": webhook requests are always signed (a file holding a "
          "Standard Webhooks secret \"whsec_<base64>\")"},
    Entry{{Code::directory_needs_secret, "config.directory_needs_secret", 0, false, false},
          "missing key \"secret_file\": directory lookups are always signed (a file holding a "
          "Standard Webhooks secret \"whsec_<base64>\")"},
    Entry{{Code::second_default_sink, "config.second_default_sink", 1, false, false},
          "only one sink may be the default (another is at line {0})"},
    Entry{{Code::secret_unreadable, "config.secret_unreadable", 1, false, false},
          "cannot read the secret file {0}"},
    Entry{{Code::bad_secret, "config.bad_secret", 2, false, false}, "{0}: {1}"},
    Entry{{Code::bad_credential, "config.bad_credential", 2, false, false}, "\"{0}\": {1}"},
    Entry{{Code::secret_readable_by_others, "config.secret_readable_by_others", 2, false, false},
          "{0} is readable by others (mode {1}); chmod 600 it"},
    Entry{{Code::secret_readable_by_others_root, "config.secret_readable_by_others_root", 2, false,
           false},
          "{0} is readable by others (mode {1}); chmod 600 it (or 640 with the service's group, "
          "owned by root)"},
    Entry{{Code::secret_readable_by_group, "config.secret_readable_by_group", 3, false, false},
          "{0} is readable by its group {1} (mode {2}); chmod 600 it"},
    Entry{{Code::integer_out_of_range, "config.integer_out_of_range", 2, false, false},
          "must be a whole number between {0} and {1}"},
    Entry{{Code::bad_rate, "config.bad_rate", 0, false, false},
          "must be 0 (no limit) or a number per second between 0.01 and 1000000 (a sink's "
          "deliveries, a connector's requests)"},
    Entry{{Code::bad_sink_duration, "config.bad_sink_duration", 1, false, false},
          "expected a duration of at most 366d such as \"500ms\", \"10s\", \"1h\" or \"2d\", got "
          "\"{0}\""},
    Entry{{Code::bad_sink_duration_min, "config.bad_sink_duration_min", 2, false, false},
          "expected a duration of at least {0}ms and at most 366d such as \"500ms\", \"10s\", "
          "\"1h\" or \"2d\", got \"{1}\""},
    Entry{{Code::retry_max_below_initial, "config.retry_max_below_initial", 0, false, false},
          "must not be shorter than retry_initial"},
    Entry{{Code::no_sink_for, "config.no_sink_for", 3, false, false},
          "no sink takes {0} for {1} from connector {2}; give one sink `default = true` or widen "
          "the filters"},
    Entry{{Code::no_sinks, "config.no_sinks", 0, false, false},
          "no [[sinks]]: released notifications will wait in the due state"},
    Entry{{Code::bad_credentials, "config.bad_credentials", 2, false, false},
          "{0}: not a usable Google service-account key: {1}"},
    Entry{{Code::bad_vapid_key, "config.bad_vapid_key", 2, false, false},
          "{0}: not a usable VAPID key (a P-256 private key in PEM): {1}"},
    Entry{{Code::bad_vapid_subject, "config.bad_vapid_subject", 0, false, false},
          "must be a mailto: or https: URL where the push services can reach the operator"},
    Entry{{Code::bad_starttls, "config.bad_starttls", 1, false, false},
          "expected \"required\", \"opportunistic\" or \"off\", got \"{0}\""},
    Entry{{Code::bad_email_address, "config.bad_email_address", 1, false, false},
          "\"{0}\" is not an e-mail address (local@domain, optionally \"Name <local@domain>\")"},
    Entry{{Code::file_unreadable, "config.file_unreadable", 1, false, false}, "cannot read {0}"},
    Entry{{Code::starttls_off, "config.starttls_off", 0, false, false},
          "starttls = \"off\": e-mails and the relay password go over the network in clear"},
    Entry{{Code::bad_digest, "config.bad_digest", 1, false, false},
          "expected \"morning\" or \"off\", got \"{0}\""},
    Entry{{Code::bad_templates, "config.bad_templates", 1, false, false}, "e-mail templates: {0}"},
    Entry{{Code::window_name_too_long, "policy.window_name_too_long", 2, false, false},
          "a window's name must be at most {0} characters, got {1}"},
    Entry{{Code::comment_too_long, "policy.comment_too_long", 2, false, false},
          "\"comment\" must be at most {0} characters, got {1}"},
    Entry{{Code::api_policies_unreadable, "config.api_policies_unreadable", 1, false, false},
          "cannot read the admin API's policies: {0}"},
    Entry{{Code::unknown_store_backend, "config.unknown_store_backend", 1, false, false},
          "unknown store backend \"{0}\"; expected sqlite or postgresql"},
    Entry{{Code::key_not_for_backend, "config.key_not_for_backend", 1, false, false},
          "does not apply to the {0} backend"},
    Entry{{Code::postgresql_needs_url, "config.postgresql_needs_url", 0, false, false},
          "missing key \"url\": the postgresql backend needs a libpq connection string"},
    Entry{{Code::password_in_url, "config.password_in_url", 0, false, false},
          "must not hold a password (it would be in the configuration's audited text): give "
          "password_file, or a PGPASSFILE in the service's environment"},
    Entry{{Code::bad_store_url, "config.bad_store_url", 1, false, false},
          "not a connection string libpq can read: {0}"},
    Entry{{Code::ics_unreadable, "ics.unreadable", 2, false, false}, "cannot read {0}: {1}"},
    Entry{{Code::ics_nul_bytes, "ics.nul_bytes", 1, false, kPath},
          "not an iCalendar file (it contains NUL bytes; UTF-16 files are not supported)"},
    Entry{{Code::ics_no_parser, "ics.no_parser", 1, false, kPath},
          "libical could not create a parser"},
    Entry{{Code::ics_unbalanced, "ics.unbalanced", 1, false, kPath},
          "malformed iCalendar file: a BEGIN line has no matching END line (truncated file?)"},
    Entry{{Code::ics_no_vcalendar, "ics.no_vcalendar", 1, false, kPath},
          "not an iCalendar file (no VCALENDAR)"},
    Entry{{Code::ics_dtend_before_dtstart, "ics.dtend_before_dtstart", 6, kEvent, kPath},
          ": DTEND {4} is before DTSTART {5}"},
    Entry{{Code::ics_negative_duration, "ics.negative_duration", 5, kEvent, kPath},
          ": negative DURATION, DTEND would be before DTSTART {4}"},
    Entry{{Code::ics_timed_event, "ics.timed_event", 4, kEvent, kPath},
          " has a time, not a whole day: ignored"},
    Entry{{Code::ics_damaged, "ics.damaged", 5, kEvent, kPath}, " is damaged: {4}"},
    Entry{{Code::ics_no_dtstart, "ics.no_dtstart", 4, kEvent, kPath},
          " has no valid DTSTART: ignored"},
    Entry{{Code::ics_bad_dtstart, "ics.bad_dtstart", 5, kEvent, kPath},
          " has an invalid DTSTART date {4}: ignored"},
    Entry{{Code::ics_after_32767, "ics.after_32767", 4, kEvent, kPath},
          " ends after the year 32767: ignored"},
    Entry{{Code::ics_dtend_and_duration, "ics.dtend_and_duration", 4, kEvent, kPath},
          " has both DTEND and DURATION: DURATION ignored"},
    Entry{{Code::ics_dtend_with_time, "ics.dtend_with_time", 4, kEvent, kPath},
          " has a whole-day DTSTART but a DTEND with a time: ignored"},
    Entry{{Code::ics_bad_dtend, "ics.bad_dtend", 5, kEvent, kPath},
          " has an invalid DTEND date {4}: ignored"},
    Entry{{Code::ics_dtend_equals_dtstart, "ics.dtend_equals_dtstart", 4, kEvent, kPath},
          " has DTEND equal to DTSTART (DTEND is exclusive): taken as one day"},
    Entry{{Code::ics_duration_not_whole_days, "ics.duration_not_whole_days", 4, kEvent, kPath},
          " has a DURATION that is not a whole number of days: ignored"},
    Entry{{Code::ics_zero_duration, "ics.zero_duration", 4, kEvent, kPath},
          " has a zero DURATION: taken as one day"},
    Entry{{Code::ics_rrule_unexpandable, "ics.rrule_unexpandable", 4, kEvent, kPath},
          " has an RRULE that libical cannot expand: only its first occurrence kept"},
    Entry{{Code::ics_too_many_occurrences, "ics.too_many_occurrences", 5, kEvent, kPath},
          " recurs more than {4} times: only the first {4} occurrences kept"},
    Entry{{Code::ics_rdate_with_time, "ics.rdate_with_time", 4, kEvent, kPath},
          " has an RDATE that is not a whole day: that RDATE ignored"},
    Entry{{Code::ics_no_whole_day_event, "ics.no_whole_day_event", 1, false, kPath},
          "no whole-day event found: no closed day"},
};

constexpr bool in_code_order() {
  for (std::size_t i = 0; i < kEntries.size(); ++i) {
    if (static_cast<std::size_t>(kEntries[i].info.code) != i)
      return false;
  }
  return static_cast<std::size_t>(Code::ics_no_whole_day_event) + 1 == kEntries.size();
}
static_assert(in_code_order(), "kEntries must list every Code, in the enum's order");

constexpr std::array<CodeInfo, kEntries.size()> infos() {
  std::array<CodeInfo, kEntries.size()> out{};
  for (std::size_t i = 0; i < kEntries.size(); ++i)
    out[i] = kEntries[i].info;
  return out;
}
constexpr std::array kInfos = infos();

const Entry& entry(Code code) {
  const auto i = static_cast<std::size_t>(code);
  return kEntries[i < kEntries.size() ? i : 0];
}

// "line 12: event \"Réunion\"" or "event 3: untitled event".
std::string ics_event_en(const Diagnostic& d) {
  const std::string& line = d.arg(1);
  std::string out = !line.empty() && line != "0" ? "line " + line : "event " + d.arg(2);
  const std::string& summary = d.arg(3);
  return out + ": " +
         (summary.empty() ? std::string("untitled event") : "event \"" + summary + "\"");
}

}  // namespace

std::string fill(std::string_view pattern, const std::vector<std::string>& args) {
  std::string out;
  out.reserve(pattern.size());
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      const auto close = pattern.find('}', i);
      const std::string_view digits = close == std::string_view::npos
                                          ? std::string_view{}
                                          : pattern.substr(i + 1, close - i - 1);
      if (!digits.empty() && digits.size() <= 2 &&
          digits.find_first_not_of("0123456789") == std::string_view::npos) {
        const auto n = static_cast<std::size_t>(std::stoi(std::string(digits)));
        if (n < args.size())
          out += args[n];
        i = close;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

std::span<const CodeInfo> all_codes() {
  return kInfos;
}

const CodeInfo& info(Code code) {
  return entry(code).info;
}

std::string_view code_id(Code code) {
  return entry(code).info.id;
}

std::string message_en(const Diagnostic& d) {
  const Entry& e = entry(d.code);
  std::string out;
  if (e.info.ics_path && !d.arg(0).empty())
    out = d.arg(0) + ": ";
  if (e.info.ics_event)
    out += ics_event_en(d);
  return out + fill(e.en, d.args);
}

std::string location(const Diagnostic& d) {
  std::string out;
  if (!d.file.empty())
    out = d.file + ":" + std::to_string(d.line) + ": ";
  if (!d.key.empty())
    out += d.key + ": ";
  return out;
}

std::string render_en(const Diagnostic& d) {
  return location(d) + message_en(d);
}

const std::string& Diagnostic::arg(std::size_t i) const {
  static const std::string kNone;
  return i < args.size() ? args[i] : kNone;
}

std::string Diagnostic::message() const {
  return message_en(*this);
}

std::string Diagnostic::to_string() const {
  return render_en(*this);
}

std::ostream& operator<<(std::ostream& out, const Diagnostic& d) {
  return out << render_en(d);
}

}  // namespace treve::config
