// What is wrong (or worth a warning) in a configuration, a policy document or an .ics calendar,
// as a value: a stable code, where it is, and the arguments of its message.
//
// The text is rendered from the code, in English here (`render_en`: `treve check-config`, the
// logs) and in French by the admin API (daemon/admin/messages_fr.h), so that rewording one
// language never loses the other. docs/configuration.md lists the codes.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace treve::config {

// One code per distinct message. The values are not stable (the ids are): never store them.
enum class Code : std::uint16_t {
  // The file and its TOML.
  config_unreadable,  // {reason}
  toml_syntax,        // {description}
  // Keys and types.
  unknown_key,           // {the keys expected}
  missing_key,           // {key}
  must_be_string,        //
  must_be_bool,          //
  must_be_string_array,  //
  must_be_table,         //
  must_be_table_array,   // {key}
  must_not_be_empty,     //
  must_not_be_null,      //
  must_be_json_object,   //
  // Time zones.
  tz_data_missing,     // {zone}
  tz_data_unreadable,  // {zone, reason}
  unknown_zone,        // {zone}
  zone_unreadable,     // {zone, reason}
  // Establishments and policy keys.
  bad_uai,                  // {text, the English reason}
  bad_grade_delay,          // {text}
  bad_homework_notice,      // {text}
  unknown_category,         // {name}
  unknown_role,             // {name}
  unknown_holiday_set,      // {name}
  bad_closed_date,          // {text}
  closed_ics_not_accepted,  //
  // Quiet windows.
  no_window,           //
  windows_cover_week,  //
  no_general_window,   //
  no_day,              //
  unknown_day,         // {name}
  bad_time,            // {text}
  // [server].
  must_be_absolute_path,             //
  bytes_out_of_range,                // {lo, hi}
  bad_listen,                        // {text}
  bad_admin_listen,                  // {text}
  same_listeners,                    //
  tls_certificate_and_key,           //
  tls_client_ca_alone,               //
  tls_client_name_without_ca,        //
  admin_tls_client_name_without_ca,  //
  bad_tls_client_name,               //
  tls_on_unix_socket,                //
  bad_tls_file,                      // {path, the English reason}
  tls_certificate_expires,           // {path, date} (warning)
  tls_certificate_expired,           // {path, date} (warning)
  in_flight_below_request,           // {bytes}
  in_flight_below_connector,         // {total, per connector}
  // [audit], [events], [testing].
  bad_days,                     // {lo, hi, text}
  records_out_of_range,         //
  retention_outside_cnil,       // {days} (warning)
  pages_out_of_range,           //
  bad_clock_start,              // {why}
  purge_interval_out_of_range,  //
  no_test_hooks,                //
  test_hooks_in_use,            // (warning)
  // [[admins]], [[connectors]].
  bad_admin_name,                //
  duplicate_admin_name,          //
  bad_token_digest,              //
  duplicate_admin_token,         //
  bad_admin_role,                //
  missing_scope,                 //
  bad_scope,                     //
  bad_name,                      //
  duplicate_name,                // {kind: "connector" or "sink", name}
  unknown_connector_format,      // {format}
  format_needs_directory,        // {format}
  key_not_for_format,            // {format}
  bad_ce_source,                 //
  bad_json_pointer,              // {text}
  reserved_event_type,           // {type}
  unknown_directory,             // {name}
  establishment_from_directory,  // {directory}
  directory_not_for_format,      // {directory}
  bad_timeline_type,             // {key}
  bad_timeline_title,            //
  // [[directories]].
  directory_needs_credentials,  //
  directory_secret_and_token,   //
  bad_token_file,               // {path}
  // [[sinks]].
  unknown_sink_type,               // {type}
  key_not_for_sink_type,           // {type}
  missing_sink_key,                // {key, type}
  bad_http_url,                    //
  bad_smtp_url,                    //
  missing_secret_file,             //
  directory_needs_secret,          //
  second_default_sink,             // {line}
  secret_unreadable,               // {path}
  bad_secret,                      // {path, the English reason}
  bad_credential,                  // {"credential:NAME", the English reason}
  secret_readable_by_others,       // {path, mode} (warning)
  secret_readable_by_others_root,  // {path, mode} (warning; the file is root's)
  secret_readable_by_group,        // {path, group, mode} (warning)
  integer_out_of_range,            // {lo, hi}
  bad_rate,                        //
  bad_sink_duration,               // {text}
  bad_sink_duration_min,           // {least in ms, text}
  retry_max_below_initial,         //
  no_sink_for,                     // {category, role, connector}
  no_sinks,                        // (warning)
  bad_credentials,                 // {path, the English reason}
  bad_vapid_key,                   // {path, the English reason}
  bad_vapid_subject,               //
  bad_starttls,                    // {text}
  bad_email_address,               // {text}
  file_unreadable,                 // {path}
  starttls_off,                    // (warning)
  bad_digest,                      // {text}
  bad_templates,                   // {the English reason, naming the file}
  // The admin API's limits on a policy document.
  window_name_too_long,     // {limit, got}
  comment_too_long,         // {limit, got}
  api_policies_unreadable,  // {reason}
  // [store].
  unknown_store_backend,  // {backend}
  key_not_for_backend,    // {backend}
  postgresql_needs_url,   //
  password_in_url,        //
  bad_store_url,          // {libpq's reason}
  // .ics calendars. The first argument is the calendar's path (empty: none, or a warning); an
  // event's code has then {line ("0": unknown), position in the file, summary}, and its own.
  ics_unreadable,               // {path, reason} (the path is part of the message)
  ics_nul_bytes,                // {path}
  ics_no_parser,                // {path}
  ics_unbalanced,               // {path}
  ics_no_vcalendar,             // {path}
  ics_dtend_before_dtstart,     // {path, line, n, summary, end, start}
  ics_negative_duration,        // {path, line, n, summary, start}
  ics_timed_event,              // {path, line, n, summary} (warning)
  ics_damaged,                  // {path, line, n, summary, libical's reason} (warning)
  ics_no_dtstart,               // (warning) event
  ics_bad_dtstart,              // {…event, date} (warning)
  ics_after_32767,              // (warning) event
  ics_dtend_and_duration,       // (warning) event
  ics_dtend_with_time,          // (warning) event
  ics_bad_dtend,                // {…event, date} (warning)
  ics_dtend_equals_dtstart,     // (warning) event
  ics_duration_not_whole_days,  // (warning) event
  ics_zero_duration,            // (warning) event
  ics_rrule_unexpandable,       // (warning) event
  ics_too_many_occurrences,     // {…event, cap} (warning)
  ics_rdate_with_time,          // (warning) event
  ics_no_whole_day_event,       // {path} (warning)
};

struct Diagnostic {
  Code code = Code::toml_syntax;
  std::string file{};  // empty: the message stands alone (an .ics file's own diagnostics)
  int line = 0;        // in `file`; 0 when no line applies
  std::string key{};   // e.g. "policy.quiet[1].end"; may be empty
  std::vector<std::string> args{};

  // The i-th argument; empty when there are fewer (a renderer never reads past them).
  const std::string& arg(std::size_t i) const;
  std::string message() const;    // the English message, without file, line and key
  std::string to_string() const;  // render_en(*this)
};

// "FILE:LINE: key: message" (the file and line when there is a file, the key when there is one).
std::string render_en(const Diagnostic& d);
// The English message alone.
std::string message_en(const Diagnostic& d);
// "FILE:LINE: key: " (or less), the same in every language.
std::string location(const Diagnostic& d);
std::ostream& operator<<(std::ostream& out, const Diagnostic& d);

// Every code, for documentation and tests.
struct CodeInfo {
  Code code;
  std::string_view id;    // stable: "config.unknown_key", "ics.timed_event", "policy.…"
  std::size_t arguments;  // how many args its message takes
  bool ics_event;         // args[1..3] are an .ics event's line, position and summary
  bool ics_path;          // args[0] is a calendar's path, written before the message when set
};
std::span<const CodeInfo> all_codes();
const CodeInfo& info(Code code);
std::string_view code_id(Code code);

// Replaces {0}, {1}, … in `pattern` by the arguments (a missing one by nothing).
std::string fill(std::string_view pattern, const std::vector<std::string>& args);

using ConfigError = Diagnostic;

}  // namespace treve::config
