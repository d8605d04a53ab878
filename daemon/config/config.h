// trêve's configuration: the TOML file read at start, by `check-config` and on reload.
//
// Loading is all-or-nothing: either every key is valid and a complete, immutable `Config`
// comes back, or every error found is returned as a `Diagnostic` (a code and its arguments;
// `to_string()` gives `FILE:LINE: key.path: message`). Unknown keys are errors, so that a typo
// never silently weakens a quiet window.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/inbound/cloudevents.h"
#include "adapters/inbound/entcore_timeline.h"
#include "daemon/config/diagnostic.h"
#include "policy/policy_set.h"

namespace treve::config {

// A listener's TLS (docs/configuration.md, "TLS"): the PEM text of the files the
// configuration names, read and checked when it is loaded, so that a reload that rotates a
// certificate puts the new one in force with the rest, or not at all.
struct TlsFiles {
  std::string certificate_file;  // as written in the file: for logs
  std::string certificate_pem;   // the chain, the listener's own certificate first
  std::string key_pem;           // its private key
  std::string client_ca_pem;     // empty: no client certificate asked
  std::int64_t not_after = 0;    // the listener's certificate expires then (Unix seconds)
  bool enabled() const { return !certificate_pem.empty(); }
  bool operator==(const TlsFiles&) const = default;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:2007";
  std::string admin_listen = "127.0.0.1:2008";
  std::string state_dir = "/var/lib/treve";
  std::size_t max_body_bytes = 256 * 1024;              // one event
  std::size_t max_batch_body_bytes = 16 * 1024 * 1024;  // POST /v1/events:batch
  // Bytes of request bodies being read or processed at once: one connector's (beyond: 429) and
  // everyone's (beyond: 503). Unset in the file: twice and four times max_batch_body_bytes.
  std::size_t max_bytes_in_flight_per_connector = 32 * 1024 * 1024;
  std::size_t max_bytes_in_flight = 64 * 1024 * 1024;
  // The key of recipient pseudonyms in the audit trail; empty: state_dir/pseudonym.key.
  std::string pseudonym_key;
  // Connections one client address may hold open at once on the ingest listener (beyond: 503
  // with Retry-After, closed). An ENT behind one NAT address with many workers needs more.
  std::size_t max_connections_per_address = 64;
  // TLS on the ingest listener (`tls_certificate`, `tls_key`, `tls_client_ca`) and on the
  // admin listener (`admin_tls_…`); off when not set.
  TlsFiles tls;
  TlsFiles admin_tls;
};

// The audit trail's retention and anchors (docs/audit.md).
struct AuditConfig {
  std::chrono::milliseconds retention{365LL * 86'400'000};  // records older are purged daily
  std::int64_t head_log_every = 10'000;  // the chain head goes to the log every N records
};

// Where the store is (docs/configuration.md, `[store]`): the embedded SQLite file in
// server.state_dir, or a PostgreSQL database that several daemons share
// (docs/design/postgresql.md).
struct StoreConfig {
  enum class Backend : std::uint8_t { sqlite, postgresql };
  Backend backend = Backend::sqlite;
  std::string url;            // libpq connection string or URI, without a password
  std::string password_file;  // as written ("credential:NAME" or a path); empty: none
  std::string password;       // its first line; empty: libpq's own (PGPASSFILE, ~/.pgpass)
  std::size_t pool_size = 4;  // connections per daemon: one writes, the others read
  std::chrono::milliseconds statement_timeout{30'000};
  // Deliveries are sent by one daemon at a time, the holder of the dispatch lease; another
  // takes it over when it lapses (not renewed for this long).
  std::chrono::milliseconds lease{15'000};
};
std::string_view to_string(StoreConfig::Backend backend);

// What is kept of events themselves.
struct EventsConfig {
  // Bodies (title, payload) of events with nothing left to send are removed after this.
  std::chrono::milliseconds retention{30LL * 86'400'000};
};

struct Connector {
  std::string name;          // the `source` of its events
  std::string token_sha256;  // lower-case hex SHA-256 of the bearer token
  bool may_bypass = false;
  // What its requests carry (docs/connectors.md): trêve's canonical event, CloudEvents
  // (structured, binary or batched) translated through `cloudevents`, or Open ENT NG timeline
  // notifications translated through `timeline`, their users resolved by `directory`.
  enum class Format { canonical, cloudevents, entcore_timeline };
  Format format = Format::canonical;
  adapters::CloudEventMapping cloudevents;  // format = "cloudevents" only
  adapters::TimelineMapping timeline;       // format = "entcore-timeline" only
  // The [[directories]] entry asked who its events' users are (empty: none). Checked to name
  // one; several connectors may share one.
  std::string directory;
  // Requests per second it may send (a token bucket holding one second's worth, at least one
  // request); more are answered 429 with Retry-After. 0: no limit.
  double rate = 0;
  // Recipients per event at most (1 to the parsers' 1,000); more are answered 400.
  std::size_t max_recipients = 1000;
  // Set: its requests are taken only over a TLS connection whose client certificate (verified
  // against [server] tls_client_ca) gives this name, as a subject common name or a DNS name;
  // its token alone is answered 403. Empty: any certificate the client CA signed will do.
  std::string tls_client_name;
};

// A user directory (`[[directories]]`, docs/connectors.md "The directory"): the ENT's own
// answer to "who is this user": profile, structures, children. Asked by daemon/directory/.
struct Directory {
  std::string name;
  std::string url;  // http:// or https://, POSTed to
  // Exactly one of the two: requests signed with a Standard Webhooks secret, or carrying a
  // bearer token.
  std::string secret_file;
  std::string secret;  // "whsec_…", read from secret_file; never logged or shown
  std::string token_file;
  std::string token;  // read from token_file (its first line); never logged or shown
  std::chrono::milliseconds ttl{3'600'000};  // how long an answer is kept
  std::chrono::milliseconds timeout{5'000};  // one request, connection included
  std::size_t cache_entries = 50'000;        // users remembered at most
  std::string ca_file;                       // https: as a sink's
};

struct Sink {
  std::string name;
  std::string type;  // webhook | fcm | webpush | smtp
  std::string url;
  std::string secret_file;
  // Which deliveries it takes; empty/zero: any. A default sink takes what no other takes.
  std::vector<std::string> sources;
  std::uint16_t categories = 0;  // bit = policy::Category
  std::uint8_t roles = 0;        // bit = policy::Role
  bool is_default = false;

  // Sending (webhook).
  std::string secret;              // "whsec_…", read from secret_file; never logged or shown
  std::size_t batch_max = 1;       // deliveries per request; above 1, a JSON array
  std::size_t max_in_flight = 32;  // requests at once
  double rate = 0;                 // deliveries per second (token bucket); 0: no limit
  std::chrono::milliseconds timeout{10'000};  // one request, connection included
  // Retries: the first after retry_initial, doubling up to retry_max_interval (with jitter),
  // until retry_for after the first attempt; then the delivery is dead-lettered.
  std::chrono::milliseconds retry_initial{1'000};
  std::chrono::milliseconds retry_max_interval{3'600'000};
  std::chrono::milliseconds retry_for{48LL * 3'600'000};
  // https: a PEM file of certificate authorities trusted instead of the system's (a private
  // relay or gateway, the tests' own CA). Empty: the system's.
  std::string ca_file;
  // Addresses: read from the event's recipients (`channels`), or, when set, asked of this
  // URL at release time in a request signed with `secret` (docs/delivery.md).
  std::string directory_url;

  // fcm: Firebase Cloud Messaging HTTP v1.
  std::string project_id;
  std::string credentials_file;
  std::string credentials;  // the service account's JSON key, read from credentials_file
  std::string endpoint = "https://fcm.googleapis.com";

  // webpush: RFC 8030/8291/8292.
  std::string vapid_key_file;
  std::string vapid_key;  // PEM, read from vapid_key_file; never logged or shown
  std::string subject;    // VAPID contact: mailto:… or https:…
  std::chrono::seconds ttl{86'400};

  // smtp (url is smtp:// or smtps://).
  enum class StartTls : std::uint8_t { required, opportunistic, off };
  StartTls starttls = StartTls::required;
  std::string username;
  std::string password_file;
  std::string password;  // read from password_file; never logged or shown
  std::string from;      // the From address ("Name <addr>" or addr)
  std::string reply_to;
  std::string templates;  // a directory of replacement templates; empty: the built-in French

  bool takes(std::string_view source, policy::Category category, policy::Role role) const;
};

// The morning digest (`[policy] digest`, per establishment too): see docs/delivery.md.
struct Digest {
  bool morning = false;  // "morning": on; "off" (the default): every notification on its own
  std::size_t min = 3;   // a digest when more than this many are released at once
};

// Test hooks, the `[testing]` table: accepted only by a build with the CMake option
// TREVE_TESTING (on in the presets, off in a packager's plain build, whose check-config
// refuses the table). docs/development.md says what each is for.
struct TestingConfig {
  long long max_page_count = 0;  // caps the store at this many pages (0: no cap): a full disk
  // `serve`'s wall clock starts at this instant and runs at real speed (none: the system's).
  std::optional<policy::Instant> clock_start;
  // The retention purge runs at start and then every this many minutes (0: every 24 hours, as
  // without the hook), so that a long test sees purges while it runs.
  int purge_interval_minutes = 0;
};

// Who may use the admin API (docs/admin-api.md).
struct Admin {
  enum class Role : std::uint8_t { admin, auditor };
  std::string name;          // shown in the audit trail as the author of a change
  std::string token_sha256;  // lower-case hex SHA-256 of the bearer token
  Role role = Role::auditor;
  bool every_establishment = false;  // scope = "*"
  std::vector<std::string> scope;    // UAIs otherwise
  // The name its TLS client certificate must give (subject CN or DNS name); empty: any
  // connection (with a certificate when server.admin_tls_client_ca asks for one).
  std::string tls_client_name;

  bool in_scope(std::string_view uai) const;
};
std::string_view to_string(Admin::Role role);

// An establishment's policy edited through the admin API and kept in the store: a JSON object
// with the keys of an [establishments."UAI"] table (closed_ics excepted).
struct ApiPolicy {
  std::string uai;
  std::string json;
  std::int64_t version = 0;  // its version in the store (1, 2, …), for `explain` to name
};

struct Config {
  std::string path;
  std::string text;  // the file's bytes, as parsed
  ServerConfig server;
  AuditConfig audit;
  EventsConfig events;
  StoreConfig store;
  std::vector<Connector> connectors;
  std::vector<Directory> directories;
  std::vector<Sink> sinks;
  std::vector<Admin> admins;
  std::vector<std::string> file_establishments;  // UAIs configured in the file
  std::vector<ApiPolicy> api_policies;           // those in force from the admin API
  // The open crises (from the store), in the PolicySet: the configuration in force carries
  // them so that any change of it (a reload, a policy edit) keeps them.
  std::vector<policy::Crisis> crises;
  // The version in force of `uai`'s policy saved through the admin API; 0 when the file (or the
  // [policy] defaults) decide for it.
  std::int64_t api_policy_version(std::string_view uai) const;
  std::shared_ptr<const policy::PolicySet> policy;
  // In English, as rendered from their Diagnostic (codes in docs/configuration.md); e.g. the
  // ignored timed events of an .ics file.
  std::vector<std::string> warnings;
  // The other files read: .ics calendars, then sinks' secret files, each once, as absolute
  // paths in the order of the configuration. Part of the configuration's audited digest.
  std::vector<std::string> referenced_files;
  TestingConfig testing;

  const Connector* connector(std::string_view name) const;
  // Whether the file configures `uai` (its policy is then the file's, read-only elsewhere).
  bool managed_by_file(std::string_view uai) const;
  // The sink for a delivery: the first non-default sink (in file order) whose filters take
  // it, else the default sink, else null.
  const Sink* sink_for(std::string_view source, policy::Category category, policy::Role role) const;
  // Every sink that takes such a delivery (fan-out): each non-default sink whose filters take
  // it, or the default sink when none does. In configuration order.
  std::vector<const Sink*> sinks_for(std::string_view source, policy::Category category,
                                     policy::Role role) const;
  const Sink* sink_named(std::string_view name) const;
  const Directory* directory_named(std::string_view name) const;
  // The digest setting of `uai`: its establishment's, else [policy]'s.
  Digest digest_for(std::string_view uai) const;
  Digest digest;                                        // [policy]
  std::vector<std::pair<std::string, Digest>> digests;  // [establishments."UAI"] that set one
};

using LoadResult = std::expected<std::shared_ptr<const Config>, std::vector<ConfigError>>;

// Reads and validates a configuration file. Relative paths inside it (closed_ics) are taken
// relative to the file's directory.
LoadResult load_config(const std::string& path, policy::Horizon horizon = {});

// An smtp sink's `templates` directory: the (name, text) of each file of
// adapters::kMailTemplateNames found there (each at most 256 KiB), checked by compiling them
// over the built-in French ones. Empty `dir`: none. The error names the file (and the line of
// a template's mistake).
std::expected<std::vector<std::pair<std::string, std::string>>, std::string> read_mail_templates(
    const std::string& dir);

// The same from text already in memory; `path` names it in errors.
LoadResult parse_config(std::string_view text, const std::string& path,
                        policy::Horizon horizon = {});

// The file's `text` with the admin API's policies added, each as the [establishments."UAI"]
// table of an establishment the file does not configure (one the file configures keeps the
// file's: it is managed by the file). Validated whole, by the same code as a file; an error in
// an API policy has the key "establishments.UAI.…" (see policy_pointer). `crises`: the open
// crises, put into their establishments' rules (Config::crises).
LoadResult parse_config_with(std::string_view text, const std::string& path,
                             const std::vector<ApiPolicy>& api, policy::Horizon horizon = {},
                             std::vector<policy::Crisis> crises = {});
LoadResult load_config_with(const std::string& path, const std::vector<ApiPolicy>& api,
                            policy::Horizon horizon = {}, std::vector<policy::Crisis> crises = {});

// The JSON pointer, inside {"policy": …}, of a configuration key about `uai`'s API policy:
// "establishments.0750654D.quiet[1].end" gives "/policy/quiet/1/end"; empty for other keys.
std::string policy_pointer(std::string_view key, std::string_view uai);

}  // namespace treve::config
