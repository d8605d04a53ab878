#include "daemon/config/config.h"

#include "adapters/outbound/webhook_signature.h"

#include <grp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <expected>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include <libpq-fe.h>
#include <toml++/toml.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/fcm.h"
#include "adapters/outbound/mail_message.h"
#include "adapters/outbound/mail_template.h"
#include "adapters/outbound/vapid.h"
#include "adapters/outbound/webhook_signature.h"
#include "daemon/config/ics_calendar.h"
#include "daemon/config/tls_files.h"
#include "policy/rfc3339.h"
#include "policy/uai.h"
#include "policy/zone_time.h"

namespace treve::config {

bool Sink::takes(std::string_view source, policy::Category category, policy::Role role) const {
  if (!sources.empty() && std::find(sources.begin(), sources.end(), source) == sources.end()) {
    return false;
  }
  if (categories && !((categories >> static_cast<unsigned>(category)) & 1u))
    return false;
  if (roles && !((roles >> static_cast<unsigned>(role)) & 1u))
    return false;
  return true;
}

const Sink* Config::sink_for(std::string_view source, policy::Category category,
                             policy::Role role) const {
  const Sink* fallback = nullptr;
  for (const auto& s : sinks) {
    if (s.is_default) {
      fallback = fallback ? fallback : &s;
      continue;
    }
    if (s.takes(source, category, role))
      return &s;
  }
  return fallback;
}

std::vector<const Sink*> Config::sinks_for(std::string_view source, policy::Category category,
                                           policy::Role role) const {
  std::vector<const Sink*> out;
  const Sink* fallback = nullptr;
  for (const auto& s : sinks) {
    if (s.is_default)
      fallback = fallback ? fallback : &s;
    else if (s.takes(source, category, role))
      out.push_back(&s);
  }
  if (out.empty() && fallback)
    out.push_back(fallback);
  return out;
}

const Sink* Config::sink_named(std::string_view name) const {
  for (const auto& s : sinks) {
    if (s.name == name)
      return &s;
  }
  return nullptr;
}

Digest Config::digest_for(std::string_view uai) const {
  for (const auto& [u, d] : digests) {
    if (u == uai)
      return d;
  }
  return digest;
}

const Directory* Config::directory_named(std::string_view name) const {
  for (const auto& d : directories) {
    if (d.name == name)
      return &d;
  }
  return nullptr;
}

const Connector* Config::connector(std::string_view name) const {
  for (const auto& c : connectors) {
    if (c.name == name)
      return &c;
  }
  return nullptr;
}

namespace {

// A TOML integer's value; nullopt for any other node. toml++'s value<int64_t>() also converts
// floats, and a float beyond the range of int64_t (2.3e95) makes that conversion undefined
// behaviour (found by fuzzing the admin policy documents).
std::optional<std::int64_t> integer_value(const toml::node* n) {
  if (n == nullptr || !n->is_integer())
    return std::nullopt;
  return n->value<std::int64_t>();
}

using policy::EstablishmentRules;
using policy::QuietWindow;

// Collects errors while walking the document, so that all of them are reported at once.
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  void error(const toml::node* node, const std::string& key, Code code,
             std::vector<std::string> args = {}) {
    int line = node ? static_cast<int>(node->source().begin.line) : 0;
    error_at(line, key, code, std::move(args));
  }
  void error_at(int line, const std::string& key, Code code, std::vector<std::string> args = {}) {
    errors_.push_back({code, file_, line, key, std::move(args)});
  }
  // An error whose code and arguments come from elsewhere (an .ics calendar), placed here.
  void error(const toml::node* node, const std::string& key, Diagnostic d) {
    d.file = file_;
    d.line = node ? static_cast<int>(node->source().begin.line) : 0;
    d.key = key;
    errors_.push_back(std::move(d));
  }

  // Reports every key of `table` neither in `allowed` nor in `unlisted` (accepted, but not
  // suggested in the message).
  void only_keys(const toml::table& table, const std::string& prefix,
                 std::initializer_list<std::string_view> allowed,
                 std::initializer_list<std::string_view> unlisted = {}) {
    for (auto&& [k, v] : table) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end() ||
          std::find(unlisted.begin(), unlisted.end(), k.str()) != unlisted.end())
        continue;
      std::string expected;
      for (auto a : allowed) {
        if (!expected.empty())
          expected += ", ";
        expected += a;
      }
      error_at(static_cast<int>(k.source().begin.line), join(prefix, k.str()), Code::unknown_key,
               {expected});
    }
  }

  std::optional<std::string> string(const toml::node* node, const std::string& key) {
    if (!node)
      return std::nullopt;
    if (auto s = node->value<std::string>(); s && node->is_string())
      return *s;
    error(node, key, Code::must_be_string);
    return std::nullopt;
  }

  std::optional<bool> boolean(const toml::node* node, const std::string& key) {
    if (!node)
      return std::nullopt;
    if (node->is_boolean())
      return node->value<bool>();
    error(node, key, Code::must_be_bool);
    return std::nullopt;
  }

  // An array of strings; each bad element is reported.
  std::optional<std::vector<std::pair<std::string, const toml::node*>>> strings(
      const toml::node* node, const std::string& key) {
    if (!node)
      return std::nullopt;
    const toml::array* arr = node->as_array();
    if (!arr) {
      error(node, key, Code::must_be_string_array);
      return std::nullopt;
    }
    std::vector<std::pair<std::string, const toml::node*>> out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& el = *arr->get(i);
      if (!el.is_string()) {
        error(&el, key + "[" + std::to_string(i) + "]", Code::must_be_string);
        continue;
      }
      out.emplace_back(*el.value<std::string>(), &el);
    }
    return out;
  }

  static std::string join(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
  }

  bool ok() const { return errors_.empty(); }
  // The errors in the order of their lines (toml++ walks tables in key order).
  std::vector<ConfigError> take() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    return std::move(errors_);
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

std::optional<std::chrono::minutes> parse_hhmm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':')
    return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i])))
      return std::nullopt;
  }
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59)
    return std::nullopt;
  return std::chrono::minutes{h * 60 + m};
}

// "250ms", "10s", "1h", "2d", "1h30m", "0". Units: ms, s, m, h, d. At most `max_days`.
std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view s,
                                                           long long max_days = 366) {
  if (s == "0")
    return std::chrono::milliseconds{0};
  if (s.empty())
    return std::nullopt;
  long long total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t begin = i;
    long long n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = n * 10 + (s[i] - '0');
      if (n > 1'000'000'000)
        return std::nullopt;
      ++i;
    }
    if (i == begin || i == s.size())
      return std::nullopt;
    long long unit = 0;
    if (s.substr(i).starts_with("ms")) {
      unit = 1;
      ++i;
    } else {
      switch (s[i]) {
        case 's':
          unit = 1000;
          break;
        case 'm':
          unit = 60'000;
          break;
        case 'h':
          unit = 3'600'000;
          break;
        case 'd':
          unit = 86'400'000;
          break;
        default:
          return std::nullopt;
      }
    }
    ++i;
    total += n * unit;
    if (total > max_days * 86'400'000)
      return std::nullopt;
  }
  return std::chrono::milliseconds{total};
}

// A grade delay longer than a school year is a typo, not a policy.
constexpr long long kMaxDurationMinutes = 366LL * 1440;

// "24h", "72h", "7d", "90m", "1h30m", "0". Units: d, h, m. At most 366 days.
std::optional<std::chrono::minutes> parse_duration(std::string_view s) {
  if (s.find('s') != std::string_view::npos)
    return std::nullopt;  // seconds and milliseconds are not grade delays
  auto ms = parse_duration_ms(s);
  if (!ms || *ms > std::chrono::minutes{kMaxDurationMinutes})
    return std::nullopt;
  return std::chrono::duration_cast<std::chrono::minutes>(*ms);
}

std::optional<policy::LocalDate> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-')
    return std::nullopt;
  int y = 0, m = 0, d = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    if (i == 4 || i == 7)
      continue;
    if (!std::isdigit(static_cast<unsigned char>(s[i])))
      return std::nullopt;
  }
  y = std::stoi(std::string(s.substr(0, 4)));
  m = std::stoi(std::string(s.substr(5, 2)));
  d = std::stoi(std::string(s.substr(8, 2)));
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok())
    return std::nullopt;
  return policy::LocalDate{ymd};
}

std::string date_text(date::year_month_day ymd) {
  std::ostringstream os;
  os << ymd;
  return os.str();
}

// A zone of the system's tz database, its data read now: date/tz reads a zone's file the first
// time the zone is used, and that must not happen later on the request path, where descriptors
// may have run out. The error says whether the zone is unknown or its file unreadable.
struct ZoneError {
  bool unknown = true;
  std::string message;
};
std::expected<const date::time_zone*, ZoneError> find_zone(std::string_view name) {
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(name);
  } catch (const std::exception& e) {
    return std::unexpected(ZoneError{true, e.what()});
  }
  try {
    (void)zone->get_info(date::sys_seconds{});
  } catch (const std::exception& e) {
    return std::unexpected(ZoneError{false, e.what()});
  }
  // Its footer rule too (daylight saving after 2037), read from the same file.
  policy::zone_time::prepare(zone);
  return zone;
}

// The keys shared by [policy] and [establishments."UAI"].
struct PolicyOverrides {
  std::optional<const date::time_zone*> zone;
  std::optional<std::chrono::minutes> parent_grade_delay;
  std::optional<std::chrono::minutes> homework_notice;
  std::optional<std::uint16_t> urgent_categories;
  std::optional<bool> public_holidays;
  std::optional<std::vector<QuietWindow>> windows;
  std::vector<policy::ClosedDays> closed;
  std::optional<bool> digest_morning;  // delivery, not the decision: kept beside the rules
  std::optional<std::size_t> digest_min;

  // The digest setting over `base`.
  Digest digest_over(Digest base) const {
    if (digest_morning)
      base.morning = *digest_morning;
    if (digest_min)
      base.min = *digest_min;
    return base;
  }

  // Applies what is set over `rules` (the time zone is the caller's: it has a fallback chain);
  // closed days are added, never replaced.
  void apply_to(EstablishmentRules& rules) const {
    if (parent_grade_delay)
      rules.parent_grade_delay = *parent_grade_delay;
    if (homework_notice)
      rules.homework_notice = *homework_notice;
    if (urgent_categories)
      rules.urgent_categories = *urgent_categories;
    if (public_holidays)
      rules.public_holidays = *public_holidays;
    if (windows)
      rules.windows = *windows;
    rules.closed.insert(rules.closed.end(), closed.begin(), closed.end());
  }
};

class Loader {
 public:
  Loader(std::string path, policy::Horizon horizon)
      : check_(path), path_(std::move(path)), horizon_(horizon) {}

  LoadResult load(std::string_view text, const std::vector<ApiPolicy>& api = {},
                  std::vector<policy::Crisis> crises = {}) {
    toml::table doc;
    try {
      doc = toml::parse(text, path_);
    } catch (const toml::parse_error& e) {
      check_.error_at(static_cast<int>(e.source().begin.line), "", Code::toml_syntax,
                      {std::string(e.description())});
      return std::unexpected(check_.take());
    }
    auto config = std::make_shared<Config>();
    config->path = path_;
    config->text = std::string(text);
    if (const toml::table* t = doc.get_as<toml::table>("establishments")) {
      for (auto&& [k, v] : *t)
        config->file_establishments.emplace_back(k.str());
    }
    add_api_policies(doc, api, *config);
    check_.only_keys(doc, "",
                     {"server", "store", "audit", "events", "policy", "establishments",
                      "connectors", "directories", "sinks", "admins"},
                     {"testing"});
    server(doc, *config);
    store(doc, *config);
    retention(doc, *config);
    testing(doc, *config);

    PolicyOverrides defaults;
    if (auto* t = table_at(doc, "policy"))
      defaults = overrides(*t, "policy");
    config->digest = defaults.digest_over(Digest{});

    std::array<const date::time_zone*, policy::kRegionCount> region_zones{};
    for (std::size_t r = 0; r < policy::kRegionCount; ++r) {
      auto name = policy::default_timezone(static_cast<policy::Region>(r));
      auto zone = find_zone(name);
      if (zone) {
        region_zones[r] = *zone;
      } else if (zone.error().unknown) {
        check_.error_at(0, "", Code::tz_data_missing, {std::string(name)});
      } else {
        check_.error_at(0, "", Code::tz_data_unreadable, {std::string(name), zone.error().message});
      }
    }
    // The zone of audit records' local times and of the log, read now like the others.
    if (auto utc = find_zone("UTC"); !utc && !utc.error().unknown) {
      check_.error_at(0, "", Code::tz_data_unreadable, {"UTC", utc.error().message});
    }

    EstablishmentRules base;
    if (defaults.zone)
      base.zone = *defaults.zone;
    defaults.apply_to(base);

    std::vector<EstablishmentRules> establishments;
    if (auto* t = table_at(doc, "establishments")) {
      for (auto&& [k, v] : *t) {
        std::string key = "establishments." + std::string(k.str());
        int line = static_cast<int>(k.source().begin.line);
        auto uai = policy::parse_uai(k.str());
        if (!uai) {
          check_.error_at(line, key, Code::bad_uai, {std::string(k.str()), uai.error()});
          continue;
        }
        const toml::table* et = v.as_table();
        if (!et) {
          check_.error(&v, key, Code::must_be_table);
          continue;
        }
        PolicyOverrides o = overrides(*et, key);
        EstablishmentRules rules = base;
        rules.uai = uai->code;
        rules.region = uai->region;
        rules.zone =
            o.zone ? *o.zone
                   : (base.zone ? base.zone : region_zones[static_cast<std::size_t>(uai->region)]);
        o.apply_to(rules);
        if (o.digest_morning || o.digest_min)
          config->digests.emplace_back(uai->code, o.digest_over(config->digest));
        establishments.push_back(std::move(rules));
      }
    }

    directories(doc, *config);
    connectors(doc, *config);
    sinks(doc, *config);
    routing(doc, *config);
    admins(doc, *config);

    if (!check_.ok())
      return std::unexpected(check_.take());
    config->warnings = std::move(warnings_);
    config->referenced_files = std::move(referenced_);
    config->crises = crises;
    config->policy = std::make_shared<policy::PolicySet>(std::move(base), std::move(establishments),
                                                         region_zones, horizon_, std::move(crises));
    return config;
  }

 private:
  const toml::table* table_at(const toml::table& parent, std::string_view key,
                              const std::string& prefix = "") {
    const toml::node* n = parent.get(key);
    if (!n)
      return nullptr;
    if (const toml::table* t = n->as_table())
      return t;
    check_.error(n, Checker::join(prefix, key), Code::must_be_table);
    return nullptr;
  }

  void server(const toml::table& doc, Config& config) {
    const toml::table* t = table_at(doc, "server");
    if (!t)
      return;
    check_.only_keys(
        *t, "server",
        {"listen", "admin_listen", "state_dir", "max_body_bytes", "max_batch_body_bytes",
         "max_bytes_in_flight_per_connector", "max_bytes_in_flight", "pseudonym_key",
         "max_connections_per_address", "tls_certificate", "tls_key", "tls_client_ca",
         "admin_tls_certificate", "admin_tls_key", "admin_tls_client_ca"});
    if (auto s = check_.string(t->get("pseudonym_key"), "server.pseudonym_key")) {
      if (s->empty() || s->front() != '/') {
        check_.error(t->get("pseudonym_key"), "server.pseudonym_key", Code::must_be_absolute_path);
      }
      config.server.pseudonym_key = *s;
    }
    for (auto [key, target] : {std::pair{"max_body_bytes", &config.server.max_body_bytes},
                               {"max_batch_body_bytes", &config.server.max_batch_body_bytes}}) {
      const toml::node* n = t->get(key);
      if (!n)
        continue;
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 1024 || *v > (1LL << 30)) {
        check_.error(n, std::string("server.") + key, Code::bytes_out_of_range,
                     {"1024", "1073741824"});
        continue;
      }
      *target = static_cast<std::size_t>(*v);
    }
    in_flight(*t, config.server);
    if (const toml::node* n = t->get("max_connections_per_address")) {
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 1 || *v > 65536) {
        check_.error(n, "server.max_connections_per_address", Code::integer_out_of_range,
                     {"1", "65536"});
      } else {
        config.server.max_connections_per_address = static_cast<std::size_t>(*v);
      }
    }
    if (auto s = check_.string(t->get("listen"), "server.listen")) {
      if (!valid_listen(*s, false)) {
        check_.error(t->get("listen"), "server.listen", Code::bad_listen, {*s});
      }
      config.server.listen = *s;
    }
    if (auto s = check_.string(t->get("admin_listen"), "server.admin_listen")) {
      if (!valid_listen(*s, true)) {
        check_.error(t->get("admin_listen"), "server.admin_listen", Code::bad_admin_listen, {*s});
      }
      config.server.admin_listen = *s;
    }
    if (auto s = check_.string(t->get("state_dir"), "server.state_dir")) {
      if (s->empty())
        check_.error(t->get("state_dir"), "server.state_dir", Code::must_not_be_empty);
      config.server.state_dir = *s;
    }
    if (config.server.listen == config.server.admin_listen) {
      const toml::node* at = t->get("admin_listen") ? t->get("admin_listen") : t->get("listen");
      check_.error(at, "server.admin_listen", Code::same_listeners);
    }
    config.server.tls = tls(*t, "", false);
    config.server.admin_tls = tls(*t, "admin_", config.server.admin_listen.starts_with("unix:"));
  }

  // A listener's TLS: `PREFIXtls_certificate` and `PREFIXtls_key` together, and
  // `PREFIXtls_client_ca` to ask clients for a certificate signed by one of its authorities.
  // Files are relative to the configuration's directory, or "credential:NAME".
  TlsFiles tls(const toml::table& t, const std::string& prefix, bool unix_listener) {
    TlsFiles out;
    const std::string cert_key = prefix + "tls_certificate";
    const std::string key_key = prefix + "tls_key";
    const std::string ca_key = prefix + "tls_client_ca";
    const toml::node* cert_node = t.get(cert_key);
    const toml::node* key_node = t.get(key_key);
    const toml::node* ca_node = t.get(ca_key);
    if (!cert_node && !key_node && !ca_node)
      return out;
    if (unix_listener) {
      const toml::node* at = cert_node ? cert_node : key_node ? key_node : ca_node;
      check_.error(at,
                   "server." + (cert_node  ? cert_key
                                : key_node ? key_key
                                           : ca_key),
                   Code::tls_on_unix_socket);
      return out;
    }
    if (!cert_node || !key_node) {
      if (cert_node || key_node) {
        check_.error(cert_node ? cert_node : key_node, "server." + (cert_node ? cert_key : key_key),
                     Code::tls_certificate_and_key);
      } else {
        check_.error(ca_node, "server." + ca_key, Code::tls_client_ca_alone);
      }
      return out;
    }
    constexpr std::size_t kCertificatesMost = 1024 * 1024;
    auto cert_file = check_.string(cert_node, "server." + cert_key);
    auto key_file = check_.string(key_node, "server." + key_key);
    auto ca_file = ca_node ? check_.string(ca_node, "server." + ca_key) : std::nullopt;
    if (!cert_file || !key_file || (ca_node && !ca_file))
      return out;
    auto chain =
        read_whole_file(cert_node, "server." + cert_key, *cert_file, kCertificatesMost, false);
    auto key = read_key_file(key_node, "server." + key_key, *key_file);
    std::optional<std::string> ca;
    if (ca_file)
      ca = read_whole_file(ca_node, "server." + ca_key, *ca_file, kCertificatesMost, false);
    if (!chain || !key || (ca_file && !ca))
      return out;
    const std::string cert_path = relative_to_config(*cert_file).string();
    auto identity = check_tls_identity(*chain, *key);
    if (!identity) {
      const bool about_key = identity.error().starts_with("the key");
      check_.error(
          about_key ? key_node : cert_node, "server." + (about_key ? key_key : cert_key),
          Code::bad_tls_file,
          {about_key ? relative_to_config(*key_file).string() : cert_path, identity.error()});
      return out;
    }
    if (ca) {
      if (auto bundle = check_certificate_bundle(*ca); !bundle) {
        check_.error(ca_node, "server." + ca_key, Code::bad_tls_file,
                     {relative_to_config(*ca_file).string(), bundle.error()});
        return out;
      }
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (identity->not_after != 0 && identity->not_after - now < 30 * 86'400) {
      // The instant in UTC, as the certificate states it.
      const auto day =
          date::floor<date::days>(date::sys_seconds{std::chrono::seconds{identity->not_after}});
      warn(cert_node, "server." + cert_key,
           identity->not_after <= now ? Code::tls_certificate_expired
                                      : Code::tls_certificate_expires,
           {cert_path, date::format("%F", day)});
    }
    out.certificate_file = *cert_file;
    out.certificate_pem = std::move(*chain);
    out.key_pem = std::move(*key);
    out.client_ca_pem = ca ? std::move(*ca) : std::string();
    out.not_after = identity->not_after;
    return out;
  }

  // [testing]: hooks for trêve's own tests, refused by a build without TREVE_TESTING.
  // [store]: the backend, and how to reach a PostgreSQL one.
  void store(const toml::table& doc, Config& config) {
    const toml::table* t = table_at(doc, "store");
    if (!t)
      return;
    check_.only_keys(
        *t, "store",
        {"backend", "url", "password_file", "pool_size", "statement_timeout", "lease"});
    StoreConfig& s = config.store;
    if (auto v = check_.string(t->get("backend"), "store.backend")) {
      if (*v == "postgresql") {
        s.backend = StoreConfig::Backend::postgresql;
      } else if (*v != "sqlite") {
        check_.error(t->get("backend"), "store.backend", Code::unknown_store_backend, {*v});
        return;
      }
    }
    if (s.backend == StoreConfig::Backend::sqlite) {
      for (const char* key : {"url", "password_file", "pool_size", "statement_timeout", "lease"}) {
        if (const toml::node* n = t->get(key))
          check_.error(n, std::string("store.") + key, Code::key_not_for_backend, {"sqlite"});
      }
      return;
    }
    if (auto v = check_.string(t->get("url"), "store.url")) {
      const auto gives = url_gives_password(*v);
      if (!gives && !mentions_password(*v)) {
        check_.error(t->get("url"), "store.url", Code::bad_store_url, {gives.error()});
      } else if (!gives || *gives) {
        check_.error(t->get("url"), "store.url", Code::password_in_url);
      }
      s.url = *v;
    } else if (!t->get("url")) {
      check_.error(t, "store", Code::postgresql_needs_url);
    }
    if (auto v = check_.string(t->get("password_file"), "store.password_file")) {
      s.password_file = *v;
      if (auto text = read_key_file(t->get("password_file"), "store.password_file", *v))
        s.password = first_line(*text);
    }
    if (const toml::node* n = t->get("pool_size")) {
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 2 || *v > 64) {
        check_.error(n, "store.pool_size", Code::integer_out_of_range, {"2", "64"});
      } else {
        s.pool_size = static_cast<std::size_t>(*v);
      }
    }
    for (auto [key, least, target] :
         {std::tuple{"statement_timeout", std::chrono::milliseconds{100}, &s.statement_timeout},
          {"lease", std::chrono::milliseconds{2'000}, &s.lease}}) {
      auto str = check_.string(t->get(key), std::string("store.") + key);
      if (!str)
        continue;
      auto ms = parse_duration_ms(*str);
      if (!ms || *ms < least) {
        check_.error(t->get(key), std::string("store.") + key, Code::bad_sink_duration_min,
                     {std::to_string(least.count()), *str});
        continue;
      }
      *target = *ms;
    }
  }

  // Whether a libpq connection string (keywords, or a postgresql:// URI) gives a secret, as
  // libpq itself reads it: a percent-encoded key (`?%70assword=`), a tab before `=`, a quoted
  // value are all seen as libpq sees them. The secrets are the options libpq marks as such
  // (`password`, `sslpassword`, and any a later libpq adds). When libpq cannot read the string,
  // its reason, without the text it quotes unless that is an option's name.
  static std::expected<bool, std::string> url_gives_password(const std::string& url) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
    if (options == nullptr) {
      std::string reason = error != nullptr ? error : "out of memory";
      PQfreemem(error);
      return std::unexpected(redact_libpq_reason(reason));
    }
    bool gives = false;
    // Only the options the string sets have a value: none comes from the environment here.
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && o->dispchar != nullptr && o->dispchar[0] == '*')
        gives = true;
    }
    PQconninfoFree(options);
    return gives;
  }

  // A string libpq could not read may still hold a password (a stray space inside it, a bad
  // percent-encoding): what makes it likely, as text.
  static bool mentions_password(std::string_view url) {
    std::string lower(url);
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("password") != std::string::npos ||
        lower.find("%70assword") != std::string::npos ||
        lower.find("%50assword") != std::string::npos)
      return true;
    if (lower.starts_with("postgresql://") || lower.starts_with("postgres://")) {
      std::string_view rest = std::string_view(lower).substr(lower.find("//") + 2);
      rest = rest.substr(0, rest.find_first_of("/?"));
      const auto at = rest.rfind('@');
      return at != std::string_view::npos && rest.substr(0, at).find(':') != std::string_view::npos;
    }
    return false;
  }

  // libpq's reason with each quoted text replaced by "…", unless it is an option's name or a
  // punctuation mark ("missing "=" after "dbname"" stays; "hunter%zz" does not).
  static std::string redact_libpq_reason(std::string reason) {
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' '))
      reason.pop_back();
    std::set<std::string, std::less<>> names;
    // Every option, none set: unlike PQconndefaults, reads no environment nor service file.
    if (PQconninfoOption* all = PQconninfoParse("", nullptr)) {
      for (const PQconninfoOption* o = all; o->keyword != nullptr; ++o)
        names.insert(o->keyword);
      PQconninfoFree(all);
    }
    std::string out;
    std::size_t pos = 0;
    for (;;) {
      const std::size_t open = reason.find('"', pos);
      const std::size_t close = open == std::string::npos ? open : reason.find('"', open + 1);
      if (close == std::string::npos) {
        out += reason.substr(pos);
        return out;
      }
      const std::string_view quoted = std::string_view(reason).substr(open + 1, close - open - 1);
      out += reason.substr(pos, open + 1 - pos);
      out += (quoted.size() == 1 && std::ispunct(static_cast<unsigned char>(quoted[0]))) ||
                     names.contains(quoted)
                 ? std::string(quoted)
                 : "…";
      out += '"';
      pos = close + 1;
    }
  }

  // The first line of a password file, without its end of line or trailing spaces.
  static std::string first_line(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    return line;
  }

  void testing(const toml::table& doc, Config& config) {
    const toml::table* t = table_at(doc, "testing");
    if (!t)
      return;
#if TREVE_TESTING
    check_.only_keys(*t, "testing", {"max_page_count", "clock_start", "purge_interval_minutes"});
    if (const toml::node* n = t->get("max_page_count")) {
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 1 || *v > 1'000'000'000) {
        check_.error(n, "testing.max_page_count", Code::pages_out_of_range);
      } else {
        config.testing.max_page_count = *v;
      }
    }
    if (const toml::node* n = t->get("clock_start")) {
      auto text = n->value<std::string>();
      auto instant =
          text && n->is_string()
              ? policy::parse_rfc3339(*text)
              : std::expected<policy::Instant, std::string>(std::unexpected("not a string"));
      if (!instant) {
        check_.error(n, "testing.clock_start", Code::bad_clock_start, {instant.error()});
      } else {
        config.testing.clock_start = *instant;
      }
    }
    if (const toml::node* n = t->get("purge_interval_minutes")) {
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 1 || *v > 1440) {
        check_.error(n, "testing.purge_interval_minutes", Code::purge_interval_out_of_range);
      } else {
        config.testing.purge_interval_minutes = static_cast<int>(*v);
      }
    }
    warn(t, "testing", Code::test_hooks_in_use);
#else
    (void)config;
    check_.error(t, "testing", Code::no_test_hooks);
#endif
  }

  // A warning at `node`'s line, in English (Config::warnings are for the log and check-config).
  void warn(const toml::node* node, const std::string& key, Code code,
            std::vector<std::string> args = {}) {
    warnings_.push_back(
        render_en(Diagnostic{code, path_, node ? static_cast<int>(node->source().begin.line) : 0,
                             key, std::move(args)}));
  }

  // A file the configuration read, for its digest: absolute, each once.
  void referenced(const std::filesystem::path& p) {
    std::string file = std::filesystem::absolute(p).lexically_normal().string();
    if (std::find(referenced_.begin(), referenced_.end(), file) == referenced_.end())
      referenced_.push_back(std::move(file));
  }

  // The bounds on request bodies in flight (after the body limits, which they depend on): a
  // connector's must take its largest request, and the total a connector's.
  void in_flight(const toml::table& t, ServerConfig& server) {
    const auto read = [&](const char* key) -> std::optional<std::size_t> {
      const toml::node* n = t.get(key);
      if (!n)
        return std::nullopt;
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 1024 || *v > (1LL << 36)) {
        check_.error(n, std::string("server.") + key, Code::bytes_out_of_range,
                     {"1024", "68719476736"});
        return 0;  // reported here: the checks below are skipped
      }
      return static_cast<std::size_t>(*v);
    };
    const auto per_connector = read("max_bytes_in_flight_per_connector");
    const auto total = read("max_bytes_in_flight");
    if ((per_connector && *per_connector == 0) || (total && *total == 0))
      return;
    const std::size_t largest = std::max(server.max_body_bytes, server.max_batch_body_bytes);
    server.max_bytes_in_flight_per_connector =
        per_connector ? *per_connector
                      : std::max(largest, std::min(2 * server.max_batch_body_bytes,
                                                   total.value_or(SIZE_MAX)));
    server.max_bytes_in_flight =
        total ? *total
              : std::max(4 * server.max_batch_body_bytes, server.max_bytes_in_flight_per_connector);
    if (server.max_bytes_in_flight_per_connector < largest) {
      check_.error(
          per_connector ? t.get("max_bytes_in_flight_per_connector") : t.get("max_bytes_in_flight"),
          per_connector ? "server.max_bytes_in_flight_per_connector" : "server.max_bytes_in_flight",
          Code::in_flight_below_request, {std::to_string(largest)});
    } else if (server.max_bytes_in_flight < server.max_bytes_in_flight_per_connector) {
      check_.error(
          total ? t.get("max_bytes_in_flight") : t.get("max_bytes_in_flight_per_connector"),
          total ? "server.max_bytes_in_flight" : "server.max_bytes_in_flight_per_connector",
          Code::in_flight_below_connector,
          {std::to_string(server.max_bytes_in_flight),
           std::to_string(server.max_bytes_in_flight_per_connector)});
    }
  }

  // [audit] and [events]: how long records and event bodies are kept.
  void retention(const toml::table& doc, Config& config) {
    auto days = [&](const toml::table& t, const std::string& key, long long min_days,
                    long long max_days, std::chrono::milliseconds& target) {
      const toml::node* n = t.get(key.substr(key.find('.') + 1));
      auto str = check_.string(n, key);
      if (!str)
        return;
      auto d = parse_duration_ms(*str, max_days);
      if (!d || *d < std::chrono::hours{24 * min_days} || d->count() % 86'400'000 != 0) {
        check_.error(n, key, Code::bad_days,
                     {std::to_string(min_days), std::to_string(max_days), *str});
        return;
      }
      target = *d;
    };
    if (const toml::table* t = table_at(doc, "audit")) {
      check_.only_keys(*t, "audit", {"retention", "head_log_every"});
      days(*t, "audit.retention", 1, 3650, config.audit.retention);
      if (const toml::node* n = t->get("head_log_every")) {
        auto v = integer_value(n);
        if (!n->is_integer() || !v || *v < 0 || *v > 100'000'000) {
          check_.error(n, "audit.head_log_every", Code::records_out_of_range);
        } else {
          config.audit.head_log_every = *v;
        }
      }
      constexpr long long kDay = 86'400'000;
      const long long retention_days = config.audit.retention.count() / kDay;
      if (const toml::node* n = t->get("retention");
          n && (retention_days < 183 || retention_days > 366)) {
        warn(n, "audit.retention", Code::retention_outside_cnil, {std::to_string(retention_days)});
      }
    }
    if (const toml::table* t = table_at(doc, "events")) {
      check_.only_keys(*t, "events", {"retention"});
      days(*t, "events.retention", 1, 366, config.events.retention);
    }
  }

  static bool valid_listen(const std::string& s, bool allow_unix) {
    if (allow_unix && s.starts_with("unix:"))
      return s.size() > 6 && s[5] == '/';
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
      return false;
    std::string port = s.substr(colon + 1);
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit))
      return false;
    int p = std::stoi(port);
    return p >= 0 && p <= 65535;  // 0: any free port (logged at start)
  }

  // A list of category names as a bit set (bit = Category); each unknown name is reported.
  std::optional<std::uint16_t> category_mask(const toml::node* node, const std::string& key) {
    auto list = check_.strings(node, key);
    if (!list)
      return std::nullopt;
    std::uint16_t mask = 0;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto& [name, el] = (*list)[i];
      if (auto c = policy::parse_category(name)) {
        mask |= static_cast<std::uint16_t>(1u << static_cast<unsigned>(*c));
      } else {
        check_.error(el, key + "[" + std::to_string(i) + "]", Code::unknown_category, {name});
      }
    }
    return mask;
  }

  // A list of role names as a bit set (bit = Role).
  std::optional<std::uint8_t> role_mask(const toml::node* node, const std::string& key) {
    auto list = check_.strings(node, key);
    if (!list)
      return std::nullopt;
    std::uint8_t mask = 0;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto& [name, el] = (*list)[i];
      if (auto r = policy::parse_role(name)) {
        mask |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(*r));
      } else {
        check_.error(el, key + "[" + std::to_string(i) + "]", Code::unknown_role, {name});
      }
    }
    return mask;
  }

  PolicyOverrides overrides(const toml::table& t, const std::string& prefix) {
    PolicyOverrides o;
    check_.only_keys(t, prefix,
                     {"timezone", "parent_grade_delay", "homework_notice", "urgent_categories",
                      "holidays", "quiet", "closed", "closed_ics", "digest", "digest_min"});
    if (auto v = check_.string(t.get("digest"), prefix + ".digest")) {
      if (*v == "morning" || *v == "off")
        o.digest_morning = *v == "morning";
      else
        check_.error(t.get("digest"), prefix + ".digest", Code::bad_digest, {*v});
    }
    if (const toml::node* n = t.get("digest_min")) {
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < 1 || *v > 100) {
        check_.error(n, prefix + ".digest_min", Code::integer_out_of_range, {"1", "100"});
      } else {
        o.digest_min = static_cast<std::size_t>(*v);
      }
    }
    if (auto s = check_.string(t.get("timezone"), prefix + ".timezone")) {
      auto z = find_zone(*s);
      if (z) {
        o.zone = *z;
      } else if (z.error().unknown) {
        check_.error(t.get("timezone"), prefix + ".timezone", Code::unknown_zone, {*s});
      } else {
        check_.error(t.get("timezone"), prefix + ".timezone", Code::zone_unreadable,
                     {*s, z.error().message});
      }
    }
    if (auto s = check_.string(t.get("parent_grade_delay"), prefix + ".parent_grade_delay")) {
      if (auto d = parse_duration(*s)) {
        o.parent_grade_delay = *d;
      } else {
        check_.error(t.get("parent_grade_delay"), prefix + ".parent_grade_delay",
                     Code::bad_grade_delay, {*s});
      }
    }
    if (auto s = check_.string(t.get("homework_notice"), prefix + ".homework_notice")) {
      if (auto d = parse_duration(*s)) {
        o.homework_notice = *d;
      } else {
        check_.error(t.get("homework_notice"), prefix + ".homework_notice",
                     Code::bad_homework_notice, {*s});
      }
    }
    if (auto mask = category_mask(t.get("urgent_categories"), prefix + ".urgent_categories")) {
      o.urgent_categories = *mask;
    }
    std::string hkey = prefix + ".holidays";
    if (auto list = check_.strings(t.get("holidays"), hkey)) {
      o.public_holidays = false;
      for (std::size_t i = 0; i < list->size(); ++i) {
        const auto& [name, node] = (*list)[i];
        if (name == "fr-public") {
          o.public_holidays = true;
        } else {
          check_.error(node, hkey + "[" + std::to_string(i) + "]", Code::unknown_holiday_set,
                       {name});
        }
      }
    }
    if (const toml::node* q = t.get("quiet"))
      o.windows = windows(*q, prefix + ".quiet");
    std::string ckey = prefix + ".closed";
    if (auto list = check_.strings(t.get("closed"), ckey)) {
      for (std::size_t i = 0; i < list->size(); ++i) {
        const auto& [text, node] = (*list)[i];
        if (auto c = closed_entry(text)) {
          o.closed.push_back(*c);
        } else {
          check_.error(node, ckey + "[" + std::to_string(i) + "]", Code::bad_closed_date, {text});
        }
      }
    }
    if (auto s = check_.string(t.get("closed_ics"), prefix + ".closed_ics")) {
      std::filesystem::path p(*s);
      if (p.is_relative())
        p = std::filesystem::path(path_).parent_path() / p;
      auto imported = read_ics_closed_days(p.string());
      if (!imported) {
        check_.error(t.get("closed_ics"), prefix + ".closed_ics", imported.error());
      } else {
        referenced(p);
        for (const auto& r : imported->ranges) {
          std::string range = date_text(r.first);
          if (r.last != r.first)
            range += ".." + date_text(r.last);
          o.closed.push_back({policy::LocalDate{r.first}, policy::LocalDate{r.last},
                              r.label + " (" + range + ")"});
        }
        for (const auto& w : imported->warnings)
          warnings_.push_back(p.string() + ": " + render_en(w));
      }
    }
    return o;
  }

  std::optional<policy::ClosedDays> closed_entry(const std::string& text) {
    auto dots = text.find("..");
    if (dots == std::string::npos) {
      auto d = parse_date(text);
      if (!d)
        return std::nullopt;
      return policy::ClosedDays{*d, *d, text};
    }
    auto a = parse_date(std::string_view(text).substr(0, dots));
    auto b = parse_date(std::string_view(text).substr(dots + 2));
    if (!a || !b || *b < *a)
      return std::nullopt;
    return policy::ClosedDays{*a, *b, text};
  }

  std::optional<std::vector<QuietWindow>> windows(const toml::node& node, const std::string& key) {
    const toml::array* arr = node.as_array();
    if (!arr || (!arr->empty() && !arr->is_array_of_tables())) {
      check_.error(&node, key, Code::must_be_table_array, {key});
      return std::nullopt;
    }
    std::vector<QuietWindow> out;
    bool ok = true;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::table& w = *arr->get(i)->as_table();
      std::string wkey = key + "[" + std::to_string(i) + "]";
      check_.only_keys(w, wkey, {"days", "start", "end", "end_day", "name", "categories"});
      QuietWindow window;
      bool window_ok = true;
      if (auto list = check_.strings(w.get("days"), wkey + ".days")) {
        if (list->empty()) {
          check_.error(w.get("days"), wkey + ".days", Code::no_day);
          window_ok = false;
        }
        for (std::size_t d = 0; d < list->size(); ++d) {
          const auto& [name, dn] = (*list)[d];
          auto wd = policy::parse_weekday_key(name);
          if (!wd) {
            check_.error(dn, wkey + ".days[" + std::to_string(d) + "]", Code::unknown_day, {name});
            window_ok = false;
            continue;
          }
          window.days |= static_cast<std::uint8_t>(1u << wd->c_encoding());
        }
      } else {
        if (!w.get("days"))
          check_.error(&w, wkey, Code::missing_key, {"days"});
        window_ok = false;
      }
      for (auto [field, target] : {std::pair{"start", &window.start}, {"end", &window.end}}) {
        if (auto s = check_.string(w.get(field), wkey + "." + field)) {
          if (auto m = parse_hhmm(*s)) {
            *target = *m;
          } else {
            check_.error(w.get(field), wkey + "." + field, Code::bad_time, {*s});
            window_ok = false;
          }
        } else {
          if (!w.get(field))
            check_.error(&w, wkey, Code::missing_key, {field});
          window_ok = false;
        }
      }
      if (auto s = check_.string(w.get("end_day"), wkey + ".end_day")) {
        if (auto wd = policy::parse_weekday_key(*s)) {
          window.end_day = *wd;
        } else {
          check_.error(w.get("end_day"), wkey + ".end_day", Code::unknown_day, {*s});
          window_ok = false;
        }
      }
      if (auto s = check_.string(w.get("name"), wkey + ".name"))
        window.name = *s;
      if (const toml::node* c = w.get("categories")) {
        auto mask = category_mask(c, wkey + ".categories");
        if (mask && *mask == 0) {
          check_.error(c, wkey + ".categories", Code::must_not_be_empty);
          window_ok = false;
        } else if (mask) {
          window.categories = *mask;
        } else {
          window_ok = false;
        }
      }
      if (window_ok)
        out.push_back(window);
      ok = ok && window_ok;
    }
    if (!ok)
      return std::nullopt;
    if (out.empty()) {
      check_.error(&node, key, Code::no_window);
      return std::nullopt;
    }
    // What applies to each category (its own windows, or else those naming none) must leave
    // some time open, and something must apply to the categories without windows of their own.
    auto applying = [&](std::uint16_t bit) {
      std::vector<QuietWindow> subset;
      for (const auto& w : out) {
        if (bit ? (w.categories & bit) != 0 : w.categories == 0)
          subset.push_back(w);
      }
      return subset;
    };
    if (applying(0).empty()) {
      check_.error(&node, key, Code::no_general_window);
      return std::nullopt;
    }
    for (unsigned c = 0; c <= static_cast<unsigned>(policy::kCategoryCount); ++c) {
      const auto bit = c == 0 ? std::uint16_t{0} : static_cast<std::uint16_t>(1u << (c - 1));
      auto subset = applying(bit);
      if (!subset.empty() && policy::windows_cover_whole_week(subset)) {
        check_.error(&node, key, Code::windows_cover_week);
        return std::nullopt;
      }
    }
    return out;
  }

  // The tables of an array of tables (`[[name]]`); empty when absent or wrong.
  std::vector<const toml::table*> table_array(const toml::table& doc, std::string_view name) {
    std::vector<const toml::table*> out;
    const toml::node* n = doc.get(name);
    if (!n)
      return out;
    const toml::array* arr = n->as_array();
    if (!arr || (!arr->empty() && !arr->is_array_of_tables())) {
      check_.error(n, std::string(name), Code::must_be_table_array, {std::string(name)});
      return out;
    }
    for (std::size_t i = 0; i < arr->size(); ++i)
      out.push_back(arr->get(i)->as_table());
    return out;
  }

  // A required string key; reports it when missing.
  std::optional<std::string> required(const toml::table& t, const std::string& prefix,
                                      std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) {
      check_.error(&t, prefix, Code::missing_key, {std::string(key)});
      return std::nullopt;
    }
    return check_.string(n, prefix + "." + std::string(key));
  }

  // The `name` of a connector or sink: required, well-formed and unique among its kind.
  std::string unique_name(const toml::table& t, const std::string& prefix, std::string_view kind,
                          std::set<std::string>& names) {
    auto s = required(t, prefix, "name");
    if (!s)
      return {};
    if (!valid_name(*s)) {
      check_.error(t.get("name"), prefix + ".name", Code::bad_name);
    } else if (!names.insert(*s).second) {
      check_.error(t.get("name"), prefix + ".name", Code::duplicate_name, {std::string(kind), *s});
    }
    return *s;
  }

  // The admin API's policies, as tables of establishments the file does not configure. Their
  // keys are checked like the file's; closed_ics (a path on the daemon's machine) is refused.
  void add_api_policies(toml::table& doc, const std::vector<ApiPolicy>& api, Config& config) {
    for (const ApiPolicy& p : api) {
      const std::string key = "establishments." + p.uai;
      if (config.managed_by_file(p.uai)) {
        continue;  // managed by the file
      }
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(p.json, ec);
      if (ec || !v.is_object()) {
        check_.error_at(0, key, Code::must_be_json_object);
        continue;
      }
      if (v.as_object().contains("closed_ics")) {
        check_.error_at(0, key + ".closed_ics", Code::closed_ics_not_accepted);
        continue;
      }
      auto table = json_to_toml(v.as_object(), key);
      if (!doc.contains("establishments"))
        doc.insert("establishments", toml::table{});
      if (toml::table* t = doc.get_as<toml::table>("establishments")) {
        t->insert_or_assign(p.uai, std::move(table));
        config.api_policies.push_back(p);
      }
    }
  }

  toml::table json_to_toml(const boost::json::object& o, const std::string& key) {
    toml::table t;
    for (const auto& [k, v] : o) {
      if (v.is_null())
        continue;  // unset
      const std::string name(k);
      put_json(v, key + "." + name,
               [&](auto&& x) { t.insert_or_assign(name, std::forward<decltype(x)>(x)); });
    }
    return t;
  }

  toml::array json_array(const boost::json::array& a, const std::string& key) {
    toml::array out;
    for (std::size_t i = 0; i < a.size(); ++i)
      put_json(a[i], key + "[" + std::to_string(i) + "]",
               [&](auto&& x) { out.push_back(std::forward<decltype(x)>(x)); });
    return out;
  }

  // Hands `put` the TOML value a JSON value stands for; reports a null inside an array.
  template <typename Put>
  void put_json(const boost::json::value& v, const std::string& key, Put&& put) {
    if (v.is_object())
      put(json_to_toml(v.as_object(), key));
    else if (v.is_array())
      put(json_array(v.as_array(), key));
    else if (v.is_string())
      put(std::string(v.as_string()));
    else if (v.is_bool())
      put(v.as_bool());
    else if (v.is_int64())
      put(v.as_int64());
    else if (v.is_uint64())
      put(static_cast<std::int64_t>(v.as_uint64()));
    else if (v.is_double())
      put(v.as_double());
    else
      check_.error_at(0, key, Code::must_not_be_null);
  }

  void admins(const toml::table& doc, Config& config) {
    std::set<std::string> names, tokens;
    auto tables = table_array(doc, "admins");
    for (std::size_t i = 0; i < tables.size(); ++i) {
      const toml::table& t = *tables[i];
      std::string key = "admins[" + std::to_string(i) + "]";
      check_.only_keys(t, key, {"name", "token_sha256", "role", "scope", "tls_client_name"});
      Admin a;
      if (auto s = required(t, key, "name")) {
        if (s->empty() || s->size() > 200) {
          check_.error(t.get("name"), key + ".name", Code::bad_admin_name);
        } else if (!names.insert(*s).second) {
          check_.error(t.get("name"), key + ".name", Code::duplicate_admin_name);
        }
        a.name = *s;
      }
      if (auto s = required(t, key, "token_sha256")) {
        if (s->size() != 64 || !std::all_of(s->begin(), s->end(), [](char ch) {
              return std::isdigit(static_cast<unsigned char>(ch)) || (ch >= 'a' && ch <= 'f');
            })) {
          check_.error(t.get("token_sha256"), key + ".token_sha256", Code::bad_token_digest);
        } else if (!tokens.insert(*s).second) {
          check_.error(t.get("token_sha256"), key + ".token_sha256", Code::duplicate_admin_token);
        }
        a.token_sha256 = *s;
      }
      if (auto s = required(t, key, "role")) {
        if (*s == "admin") {
          a.role = Admin::Role::admin;
        } else if (*s == "auditor") {
          a.role = Admin::Role::auditor;
        } else {
          check_.error(t.get("role"), key + ".role", Code::bad_admin_role);
        }
      }
      const toml::node* scope = t.get("scope");
      if (!scope) {
        check_.error(&t, key, Code::missing_scope);
      } else if (scope->is_string()) {
        if (scope->value<std::string>() == "*")
          a.every_establishment = true;
        else
          check_.error(scope, key + ".scope", Code::bad_scope);
      } else if (auto list = check_.strings(scope, key + ".scope")) {
        for (std::size_t j = 0; j < list->size(); ++j) {
          auto uai = policy::parse_uai((*list)[j].first);
          if (!uai) {
            check_.error((*list)[j].second, key + ".scope[" + std::to_string(j) + "]",
                         Code::bad_uai, {(*list)[j].first, uai.error()});
            continue;
          }
          a.scope.push_back(uai->code);
        }
      }
      tls_client_name(doc, t, key, "admin_tls_client_ca", Code::admin_tls_client_name_without_ca,
                      a.tls_client_name);
      config.admins.push_back(std::move(a));
    }
  }

  // `tls_client_name` of a connector or an admin: the name its client certificate must give,
  // on a listener that asks for client certificates (`server.<ca_key>`).
  void tls_client_name(const toml::table& doc, const toml::table& t, const std::string& key,
                       std::string_view ca_key, Code without_ca, std::string& target) {
    const toml::node* n = t.get("tls_client_name");
    if (!n)
      return;
    auto name = check_.string(n, key + ".tls_client_name");
    if (!name)
      return;
    const toml::table* server = doc.get_as<toml::table>("server");
    if (name->empty() || name->size() > 255 || std::any_of(name->begin(), name->end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        })) {
      check_.error(n, key + ".tls_client_name", Code::bad_tls_client_name);
    } else if (!server || !server->get(ca_key)) {
      check_.error(n, key + ".tls_client_name", without_ca);
    }
    target = *name;
  }

  // `rate`: 0 (no limit) or 0.01 to 1,000,000 per second (a sink's deliveries, a connector's
  // requests).
  void rate(const toml::table& t, const std::string& key, double& target) {
    const toml::node* n = t.get("rate");
    if (!n)
      return;
    auto v = n->value<double>();
    if (!(n->is_integer() || n->is_floating_point()) || !v || *v < 0 || *v > 1e6 ||
        (*v > 0 && *v < 0.01)) {
      check_.error(n, key + ".rate", Code::bad_rate);
    } else {
      target = *v;
    }
  }

  void connectors(const toml::table& doc, Config& config) {
    std::set<std::string> names;
    auto tables = table_array(doc, "connectors");
    for (std::size_t i = 0; i < tables.size(); ++i) {
      const toml::table& t = *tables[i];
      std::string key = "connectors[" + std::to_string(i) + "]";
      check_.only_keys(t, key,
                       {"name", "token_sha256", "may_bypass", "format", "ce_source", "types",
                        "establishment_pointer", "recipients_pointer", "title_pointer",
                        "urgent_pointer", "directory", "timeline_types", "timeline_titles", "rate",
                        "max_recipients", "tls_client_name"});
      Connector c;
      c.name = unique_name(t, key, "connector", names);
      if (auto s = required(t, key, "token_sha256")) {
        if (s->size() != 64 || !std::all_of(s->begin(), s->end(), [](char ch) {
              return std::isdigit(static_cast<unsigned char>(ch)) || (ch >= 'a' && ch <= 'f');
            })) {
          check_.error(t.get("token_sha256"), key + ".token_sha256", Code::bad_token_digest);
        }
        c.token_sha256 = *s;
      }
      if (auto b = check_.boolean(t.get("may_bypass"), key + ".may_bypass"))
        c.may_bypass = *b;
      rate(t, key, c.rate);
      if (const toml::node* n = t.get("max_recipients")) {
        auto v = integer_value(n);
        if (!n->is_integer() || !v || *v < 1 ||
            *v > static_cast<std::int64_t>(adapters::EventLimits{}.max_recipients)) {
          check_.error(n, key + ".max_recipients", Code::integer_out_of_range,
                       {"1", std::to_string(adapters::EventLimits{}.max_recipients)});
        } else {
          c.max_recipients = static_cast<std::size_t>(*v);
        }
      }
      tls_client_name(doc, t, key, "tls_client_ca", Code::tls_client_name_without_ca,
                      c.tls_client_name);
      connector_format(t, key, c);
      if (auto d = check_.string(t.get("directory"), key + ".directory")) {
        if (!config.directory_named(*d))
          check_.error(t.get("directory"), key + ".directory", Code::unknown_directory, {*d});
        c.directory = *d;
        if (c.format == Connector::Format::canonical) {
          check_.error(t.get("directory"), key + ".directory", Code::directory_not_for_format,
                       {*d});
        } else if (c.format == Connector::Format::cloudevents) {
          // Its mapped events name users by id; the directory says where they are.
          c.cloudevents.recipients_from_directory = true;
          if (const toml::node* n = t.get("establishment_pointer")) {
            check_.error(n, key + ".establishment_pointer", Code::establishment_from_directory,
                         {*d});
          }
        }
      } else if (c.format == Connector::Format::entcore_timeline && !t.get("directory")) {
        check_.error(t.get("format"), key + ".format", Code::format_needs_directory,
                     {"entcore-timeline"});
      }
      config.connectors.push_back(std::move(c));
    }
  }

  // [[directories]] (docs/configuration.md): before the connectors, which name them.
  void directories(const toml::table& doc, Config& config) {
    std::set<std::string> names;
    auto tables = table_array(doc, "directories");
    for (std::size_t i = 0; i < tables.size(); ++i) {
      const toml::table& t = *tables[i];
      std::string key = "directories[" + std::to_string(i) + "]";
      check_.only_keys(t, key,
                       {"name", "url", "secret_file", "token_file", "ttl", "timeout",
                        "cache_entries", "ca_file"});
      Directory d;
      d.name = unique_name(t, key, "directory", names);
      if (auto v = required(t, key, "url")) {
        if (!v->starts_with("http://") && !v->starts_with("https://"))
          check_.error(t.get("url"), key + ".url", Code::bad_http_url);
        d.url = *v;
      }
      const toml::node* secret = t.get("secret_file");
      const toml::node* token = t.get("token_file");
      if (secret && token) {
        check_.error(token, key + ".token_file", Code::directory_secret_and_token);
      } else if (!secret && !token) {
        check_.error(&t, key, Code::directory_needs_credentials);
      } else if (auto v = check_.string(secret, key + ".secret_file")) {
        d.secret_file = *v;
        d.secret = read_secret(secret, key + ".secret_file", *v);
      } else if (auto w = check_.string(token, key + ".token_file")) {
        d.token_file = *w;
        if (auto text = read_key_file(token, key + ".token_file", *w)) {
          std::string line = text->substr(0, text->find('\n'));
          while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
            line.pop_back();
          const bool printable =
              std::all_of(line.begin(), line.end(), [](char c) { return c > ' ' && c < 0x7F; });
          if (line.empty() || !printable) {
            check_.error(token, key + ".token_file", Code::bad_token_file,
                         {relative_to_config(*w).string()});
          } else {
            d.token = std::move(line);
          }
        }
      }
      auto duration = [&](const char* name, std::chrono::milliseconds lo,
                          std::chrono::milliseconds& target) {
        auto str = check_.string(t.get(name), key + "." + name);
        if (!str)
          return;
        auto ms = parse_duration_ms(*str);
        if (!ms || *ms < lo) {
          check_.error(t.get(name), key + "." + name, Code::bad_sink_duration_min,
                       {std::to_string(lo.count()), *str});
          return;
        }
        target = *ms;
      };
      duration("ttl", std::chrono::milliseconds{1'000}, d.ttl);
      duration("timeout", std::chrono::milliseconds{100}, d.timeout);
      if (const toml::node* n = t.get("cache_entries")) {
        auto v = integer_value(n);
        if (!n->is_integer() || !v || *v < 1 || *v > 10'000'000) {
          check_.error(n, key + ".cache_entries", Code::integer_out_of_range, {"1", "10000000"});
        } else {
          d.cache_entries = static_cast<std::size_t>(*v);
        }
      }
      if (auto v = check_.string(t.get("ca_file"), key + ".ca_file")) {
        std::filesystem::path p = relative_to_config(*v);
        if (!std::ifstream(p)) {
          check_.error(t.get("ca_file"), key + ".ca_file", Code::file_unreadable, {p.string()});
        } else {
          referenced(p);
          d.ca_file = p.string();
        }
      }
      config.directories.push_back(std::move(d));
    }
  }

  // `format` and the keys of a CloudEvents connector (docs/connectors.md).
  void connector_format(const toml::table& t, const std::string& key, Connector& c) {
    if (auto f = check_.string(t.get("format"), key + ".format")) {
      if (*f == "cloudevents") {
        c.format = Connector::Format::cloudevents;
      } else if (*f == "entcore-timeline") {
        c.format = Connector::Format::entcore_timeline;
      } else if (*f != "canonical") {
        check_.error(t.get("format"), key + ".format", Code::unknown_connector_format, {*f});
      }
    }
    // Keys of another format would do nothing: a mistake worth saying.
    const toml::node* f = t.get("format");
    const std::string format = f ? f->value<std::string>().value_or("") : "canonical";
    if (format != "cloudevents") {
      for (std::string_view k : {"ce_source", "types", "establishment_pointer",
                                 "recipients_pointer", "title_pointer", "urgent_pointer"}) {
        if (const toml::node* n = t.get(k))
          check_.error(n, key + "." + std::string(k), Code::key_not_for_format, {"cloudevents"});
      }
    }
    if (format != "entcore-timeline") {
      for (std::string_view k : {"timeline_types", "timeline_titles"}) {
        if (const toml::node* n = t.get(k)) {
          check_.error(n, key + "." + std::string(k), Code::key_not_for_format,
                       {"entcore-timeline"});
        }
      }
    }
    timeline_keys(t, key, c.timeline);
    adapters::CloudEventMapping& m = c.cloudevents;
    if (auto s = check_.string(t.get("ce_source"), key + ".ce_source")) {
      if (s->empty() || s->size() > adapters::kMaxCloudEventSourceChars)
        check_.error(t.get("ce_source"), key + ".ce_source", Code::bad_ce_source);
      m.ce_source = *s;
    }
    auto pointer = [&](std::string_view name, std::string& into) {
      const std::string where = key + "." + std::string(name);
      if (auto s = check_.string(t.get(name), where)) {
        if (!adapters::valid_member_pointer(*s))
          check_.error(t.get(name), where, Code::bad_json_pointer, {*s});
        into = *s;
      }
    };
    pointer("establishment_pointer", m.establishment_pointer);
    pointer("recipients_pointer", m.recipients_pointer);
    pointer("title_pointer", m.title_pointer);
    pointer("urgent_pointer", m.urgent_pointer);
    if (const toml::node* types = t.get("types")) {
      const toml::table* table = types->as_table();
      if (!table) {
        check_.error(types, key + ".types", Code::must_be_table);
        return;
      }
      for (auto&& [type, value] : *table) {
        const std::string where = key + ".types.\"" + std::string(type.str()) + "\"";
        if (type.str() == adapters::kNotificationType) {
          check_.error(&value, where, Code::reserved_event_type, {std::string(type.str())});
          continue;
        }
        if (auto category = category_value(value, where))
          m.types.emplace_back(std::string(type.str()), *category);
      }
    }
  }

  // A category named by a table's value (`types`, `timeline_types`); nullopt, reported, when
  // it is not one.
  std::optional<policy::Category> category_value(const toml::node& value,
                                                 const std::string& where) {
    auto name = check_.string(&value, where);
    if (!name)
      return std::nullopt;
    auto category = policy::parse_category(*name);
    if (!category)
      check_.error(&value, where, Code::unknown_category, {*name});
    return category;
  }

  // `timeline_types` and `timeline_titles` of an entcore-timeline connector.
  void timeline_keys(const toml::table& t, const std::string& key, adapters::TimelineMapping& m) {
    if (const toml::node* types = t.get("timeline_types")) {
      if (const toml::table* table = types->as_table()) {
        for (auto&& [type, value] : *table) {
          const std::string where = key + ".timeline_types.\"" + std::string(type.str()) + "\"";
          if (!adapters::valid_timeline_type_key(type.str())) {
            check_.error(&value, where, Code::bad_timeline_type, {std::string(type.str())});
            continue;
          }
          if (auto category = category_value(value, where))
            m.types.emplace_back(std::string(type.str()), *category);
        }
      } else {
        check_.error(types, key + ".timeline_types", Code::must_be_table);
      }
    }
    if (const toml::node* titles = t.get("timeline_titles")) {
      if (const toml::table* table = titles->as_table()) {
        for (auto&& [name, value] : *table) {
          const std::string where = key + ".timeline_titles.\"" + std::string(name.str()) + "\"";
          auto text = check_.string(&value, where);
          if (!text)
            continue;
          if (name.str().empty() || name.str().size() > 200 || text->empty() ||
              text->size() > 200) {
            check_.error(&value, where, Code::bad_timeline_title);
            continue;
          }
          m.titles.emplace_back(std::string(name.str()), *text);
        }
      } else {
        check_.error(titles, key + ".timeline_titles", Code::must_be_table);
      }
    }
  }

  void sinks(const toml::table& doc, Config& config) {
    std::set<std::string> names;
    int default_line = 0;
    auto tables = table_array(doc, "sinks");
    for (std::size_t i = 0; i < tables.size(); ++i) {
      const toml::table& t = *tables[i];
      std::string key = "sinks[" + std::to_string(i) + "]";
      check_.only_keys(t, key, {"name",          "type",
                                "url",           "secret_file",
                                "sources",       "categories",
                                "roles",         "default",
                                "batch_max",     "max_in_flight",
                                "rate",          "timeout",
                                "retry_initial", "retry_max_interval",
                                "retry_for",     "ca_file",
                                "project_id",    "credentials_file",
                                "endpoint",      "vapid_key_file",
                                "subject",       "ttl",
                                "starttls",      "username",
                                "password_file", "from",
                                "reply_to",      "templates",
                                "directory_url"});
      Sink s;
      s.name = unique_name(t, key, "sink", names);
      if (auto v = required(t, key, "type")) {
        if (*v != "webhook" && *v != "fcm" && *v != "webpush" && *v != "smtp")
          check_.error(t.get("type"), key + ".type", Code::unknown_sink_type, {*v});
        s.type = *v;
      }
      channel_keys(t, key, s);
      sending(t, key, s);
      if (auto list = check_.strings(t.get("sources"), key + ".sources")) {
        for (const auto& [name, el] : *list)
          s.sources.push_back(name);
      }
      if (auto mask = category_mask(t.get("categories"), key + ".categories"))
        s.categories = *mask;
      if (auto mask = role_mask(t.get("roles"), key + ".roles"))
        s.roles = *mask;
      if (auto b = check_.boolean(t.get("default"), key + ".default")) {
        if (*b && default_line) {
          check_.error(t.get("default"), key + ".default", Code::second_default_sink,
                       {std::to_string(default_line)});
        }
        if (*b)
          default_line = static_cast<int>(t.get("default")->source().begin.line);
        s.is_default = *b;
      }
      config.sinks.push_back(std::move(s));
    }
  }

  // The keys of each sink type (docs/configuration.md "[[sinks]]"). A key of another type is
  // an error rather than ignored: `batch_max` on an e-mail sink would not do what it says.
  void channel_keys(const toml::table& t, const std::string& key, Sink& s) {
    struct Own {
      const char* key;
      const char* types;  // space-separated
    };
    static constexpr Own kOwn[] = {
        {"url", "webhook smtp"},
        {"secret_file", "webhook fcm webpush smtp"},
        {"directory_url", "fcm webpush smtp"},
        {"batch_max", "webhook"},
        {"project_id", "fcm"},
        {"credentials_file", "fcm"},
        {"endpoint", "fcm"},
        {"vapid_key_file", "webpush"},
        {"subject", "webpush"},
        {"ttl", "webpush"},
        {"starttls", "smtp"},
        {"username", "smtp"},
        {"password_file", "smtp"},
        {"from", "smtp"},
        {"reply_to", "smtp"},
        {"templates", "smtp"},
    };
    const bool known =
        s.type == "webhook" || s.type == "fcm" || s.type == "webpush" || s.type == "smtp";
    if (!known)
      return;
    for (const Own& own : kOwn) {
      const toml::node* n = t.get(own.key);
      if (!n)
        continue;
      std::string_view types = own.types;
      bool applies = false;
      for (std::size_t at = 0; at < types.size();) {
        std::size_t end = types.find(' ', at);
        if (end == std::string_view::npos)
          end = types.size();
        applies = applies || types.substr(at, end - at) == s.type;
        at = end + 1;
      }
      if (!applies)
        check_.error(n, key + "." + own.key, Code::key_not_for_sink_type, {s.type});
    }
    auto needed = [&](const char* name) -> std::optional<std::string> {
      if (!t.get(name)) {
        check_.error(&t, key, Code::missing_sink_key, {name, s.type});
        return std::nullopt;
      }
      return check_.string(t.get(name), key + "." + name);
    };
    if (auto v = check_.string(t.get("ca_file"), key + ".ca_file")) {
      std::filesystem::path p = relative_to_config(*v);
      if (!std::ifstream(p)) {
        check_.error(t.get("ca_file"), key + ".ca_file", Code::file_unreadable, {p.string()});
      } else {
        referenced(p);
        s.ca_file = p.string();
      }
    }
    if (s.type != "webhook") {
      if (auto v = check_.string(t.get("directory_url"), key + ".directory_url")) {
        if (!v->starts_with("http://") && !v->starts_with("https://"))
          check_.error(t.get("directory_url"), key + ".directory_url", Code::bad_http_url);
        s.directory_url = *v;
        if (auto f = check_.string(t.get("secret_file"), key + ".secret_file")) {
          s.secret_file = *f;
          s.secret = read_secret(t.get("secret_file"), key + ".secret_file", *f);
        } else if (!t.get("secret_file")) {
          check_.error(&t, key, Code::directory_needs_secret);
        }
      } else if (t.get("secret_file") && !t.get("directory_url")) {
        check_.error(t.get("secret_file"), key + ".secret_file", Code::key_not_for_sink_type,
                     {s.type});
      }
    }
    if (s.type == "webhook") {
      if (auto v = needed("url")) {
        if (!v->starts_with("http://") && !v->starts_with("https://"))
          check_.error(t.get("url"), key + ".url", Code::bad_http_url);
        s.url = *v;
      }
      if (auto v = check_.string(t.get("secret_file"), key + ".secret_file")) {
        s.secret_file = *v;
        s.secret = read_secret(t.get("secret_file"), key + ".secret_file", *v);
      } else if (!t.get("secret_file")) {
        check_.error(&t, key, Code::missing_secret_file);
      }
    } else if (s.type == "fcm") {
      if (auto v = needed("project_id")) {
        if (!valid_project_id(*v))
          check_.error(t.get("project_id"), key + ".project_id", Code::bad_name);
        s.project_id = *v;
      }
      if (auto v = needed("credentials_file")) {
        s.credentials_file = *v;
        if (auto text = read_key_file(t.get("credentials_file"), key + ".credentials_file", *v)) {
          if (auto a = adapters::parse_service_account(*text); !a) {
            check_.error(t.get("credentials_file"), key + ".credentials_file",
                         Code::bad_credentials, {relative_to_config(*v).string(), a.error()});
          } else {
            s.credentials = std::move(*text);
          }
        }
      }
      if (auto v = check_.string(t.get("endpoint"), key + ".endpoint")) {
        if (!v->starts_with("http://") && !v->starts_with("https://"))
          check_.error(t.get("endpoint"), key + ".endpoint", Code::bad_http_url);
        s.endpoint = *v;
        while (s.endpoint.ends_with('/'))
          s.endpoint.pop_back();
      }
    } else if (s.type == "webpush") {
      if (auto v = needed("vapid_key_file")) {
        s.vapid_key_file = *v;
        if (auto text = read_key_file(t.get("vapid_key_file"), key + ".vapid_key_file", *v)) {
          if (auto k = adapters::VapidKey::from_pem(*text); !k) {
            check_.error(t.get("vapid_key_file"), key + ".vapid_key_file", Code::bad_vapid_key,
                         {relative_to_config(*v).string(), k.error()});
          } else {
            s.vapid_key = std::move(*text);
          }
        }
      }
      if (auto v = needed("subject")) {
        const bool mailto = v->starts_with("mailto:") && v->size() > 7 &&
                            adapters::plausible_email(std::string_view(*v).substr(7));
        const bool https = v->starts_with("https://") && v->size() > 8;
        if (!mailto && !https)
          check_.error(t.get("subject"), key + ".subject", Code::bad_vapid_subject);
        s.subject = *v;
      }
      if (auto str = check_.string(t.get("ttl"), key + ".ttl")) {
        auto d = parse_duration_ms(*str);
        if (!d || *d > std::chrono::hours(24 * 28)) {
          check_.error(t.get("ttl"), key + ".ttl", Code::bad_sink_duration, {*str});
        } else {
          s.ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
        }
      }
    } else if (s.type == "smtp") {
      if (auto v = needed("url")) {
        if (!v->starts_with("smtp://") && !v->starts_with("smtps://"))
          check_.error(t.get("url"), key + ".url", Code::bad_smtp_url);
        s.url = *v;
      }
      if (auto v = check_.string(t.get("starttls"), key + ".starttls")) {
        if (*v == "required") {
          s.starttls = Sink::StartTls::required;
        } else if (*v == "opportunistic") {
          s.starttls = Sink::StartTls::opportunistic;
        } else if (*v == "off") {
          s.starttls = Sink::StartTls::off;
          if (s.url.starts_with("smtp://"))
            warn(t.get("starttls"), key + ".starttls", Code::starttls_off, {});
        } else {
          check_.error(t.get("starttls"), key + ".starttls", Code::bad_starttls, {*v});
        }
      }
      if (auto v = check_.string(t.get("username"), key + ".username"))
        s.username = *v;
      if (auto v = check_.string(t.get("password_file"), key + ".password_file")) {
        s.password_file = *v;
        if (auto text = read_key_file(t.get("password_file"), key + ".password_file", *v))
          s.password = first_line(*text);
      }
      for (const char* name : {"from", "reply_to"}) {
        std::optional<std::string> v = std::string_view(name) == "from"
                                           ? needed(name)
                                           : check_.string(t.get(name), key + "." + name);
        if (!v)
          continue;
        auto mailbox = adapters::parse_mailbox(*v);
        if (!mailbox || !adapters::plausible_email(mailbox->address))
          check_.error(t.get(name), key + "." + name, Code::bad_email_address, {*v});
        (std::string_view(name) == "from" ? s.from : s.reply_to) = *v;
      }
      if (auto v = check_.string(t.get("templates"), key + ".templates")) {
        std::filesystem::path p = relative_to_config(*v);
        if (auto loaded = read_mail_templates(p.string()); !loaded) {
          check_.error(t.get("templates"), key + ".templates", Code::bad_templates,
                       {loaded.error()});
        } else {
          s.templates = p.string();
          for (const auto& [name, text] : *loaded)
            referenced(p / name);
        }
      }
    }
    if (s.type != "webhook")
      s.batch_max = 1;  // push and e-mail: one message per delivery (or per digest)
  }

  // A Firebase project id: lower-case letters, digits and hyphens (6–30 in the console; the
  // stand-ins of tests and sovereign gateways may use shorter).
  static bool valid_project_id(const std::string& v) {
    return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
  }

  // A secret's file: "credential:NAME" is NAME in the directory of the service's systemd
  // credentials (LoadCredential=, $CREDENTIALS_DIRECTORY); any other relative path is relative
  // to the configuration's directory.
  static constexpr std::string_view kCredential = "credential:";
  std::filesystem::path relative_to_config(const std::string& file) const {
    if (file.starts_with(kCredential)) {
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      return std::filesystem::path(dir && *dir ? dir : "$CREDENTIALS_DIRECTORY") /
             file.substr(kCredential.size());
    }
    std::filesystem::path p(file);
    if (p.is_relative())
      p = std::filesystem::path(path_).parent_path() / p;
    return p;
  }

  // Whether "credential:NAME" can name a credential here: NAME a plain file name, and systemd
  // having given the credentials' directory. True for any other file.
  bool credential_usable(const toml::node* n, const std::string& key, const std::string& file) {
    if (!file.starts_with(kCredential))
      return true;
    const std::string name = file.substr(kCredential.size());
    std::string why;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      why = "a credential's name is a plain file name, as in LoadCredential=NAME:PATH";
    else if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); !dir || !*dir)
      why = "$CREDENTIALS_DIRECTORY is not set: run under systemd with LoadCredential=" + name +
            ":PATH (or name the file itself)";
    if (why.empty())
      return true;
    check_.error(n, key, Code::bad_credential, {file, why});
    return false;
  }

  // The whole of a key or password file (at most 64 KiB), with the same warnings as a webhook
  // secret when others may read it. Errors name the file, never its content.
  std::optional<std::string> read_key_file(const toml::node* n, const std::string& key,
                                           const std::string& file) {
    return read_whole_file(n, key, file, 64 * 1024, true);
  }

  // The whole of `file`, at most `most` bytes, not empty. A `secret` one is warned about when
  // others may read it, and named as a secret when it cannot be read.
  std::optional<std::string> read_whole_file(const toml::node* n, const std::string& key,
                                             const std::string& file, std::size_t most,
                                             bool secret) {
    if (!credential_usable(n, key, file))
      return std::nullopt;
    const std::filesystem::path p = relative_to_config(file);
    std::ifstream in(p, std::ios::binary);
    std::string text;
    if (in) {
      text.resize(most + 1);
      in.read(text.data(), static_cast<std::streamsize>(text.size()));
      text.resize(static_cast<std::size_t>(in.gcount()));
    }
    if (!in.eof() || text.empty() || text.size() > most) {
      check_.error(n, key, secret ? Code::secret_unreadable : Code::file_unreadable, {p.string()});
      return std::nullopt;
    }
    referenced(p);
    if (secret) {
      if (auto w = secret_mode_warning(p))
        warn(n, key, w->first, std::move(w->second));
    }
    return text;
  }

  // The secrets in `file` (relative to the configuration's directory, or "credential:NAME"):
  // "whsec_<base64>", one per line that is not blank (two during a rotation, the new one
  // first). Errors name the file, never a secret.
  std::string read_secret(const toml::node* n, const std::string& key, const std::string& file) {
    if (!credential_usable(n, key, file))
      return {};
    const std::filesystem::path p = relative_to_config(file);
    std::ifstream in(p);
    // Every line that is not blank is a secret: two during a rotation, the new one first.
    std::string line;
    std::string secrets;
    while (in && secrets.size() <= 4096 && std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
      if (!line.empty())
        secrets += (secrets.empty() ? "" : "\n") + line;
    }
    if (!in.eof() || secrets.empty()) {
      check_.error(n, key, Code::secret_unreadable, {p.string()});
      return {};
    }
    line = std::move(secrets);
    if (auto signer = adapters::WebhookSigner::from_secret(line); !signer) {
      check_.error(n, key, Code::bad_secret, {p.string(), signer.error()});
      return {};
    }
    referenced(p);
    if (auto w = secret_mode_warning(p))
      warn(n, key, w->first, std::move(w->second));
    return line;
  }

  // Why other users than the service could read the secret in `p`, if they can. Readable by
  // others: always said. Readable by its group: said unless root owns the file, since a
  // root-owned file readable by the service's group (root:treve 0640) is how the service reads
  // a secret it may not change (docs/operations.md).
  static std::optional<std::pair<Code, std::vector<std::string>>> secret_mode_warning(
      const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0)
      return std::nullopt;
    const unsigned mode = st.st_mode & 07777;
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    if (mode & S_IROTH) {
      return std::pair{
          st.st_uid == 0 ? Code::secret_readable_by_others_root : Code::secret_readable_by_others,
          std::vector<std::string>{p.string(), octal}};
    }
    if ((mode & S_IRGRP) && st.st_uid != 0) {
      const group* g = ::getgrgid(st.st_gid);
      const std::string name = g ? g->gr_name : std::to_string(st.st_gid);
      return std::pair{Code::secret_readable_by_group,
                       std::vector<std::string>{p.string(), name, octal}};
    }
    return std::nullopt;
  }

  // How a sink sends: batching, concurrency, rate, timeout and retries.
  void sending(const toml::table& t, const std::string& key, Sink& s) {
    auto whole = [&](const char* name, long long lo, long long hi, std::size_t& target) {
      const toml::node* n = t.get(name);
      if (!n)
        return;
      auto v = integer_value(n);
      if (!n->is_integer() || !v || *v < lo || *v > hi) {
        check_.error(n, key + "." + name, Code::integer_out_of_range,
                     {std::to_string(lo), std::to_string(hi)});
        return;
      }
      target = static_cast<std::size_t>(*v);
    };
    whole("batch_max", 1, 1000, s.batch_max);
    whole("max_in_flight", 1, 1024, s.max_in_flight);
    rate(t, key, s.rate);
    auto duration = [&](const char* name, std::chrono::milliseconds lo,
                        std::chrono::milliseconds& target) {
      auto str = check_.string(t.get(name), key + "." + name);
      if (!str)
        return;
      auto d = parse_duration_ms(*str);
      if (!d || *d < lo) {
        if (lo.count()) {
          check_.error(t.get(name), key + "." + name, Code::bad_sink_duration_min,
                       {std::to_string(lo.count()), *str});
        } else {
          check_.error(t.get(name), key + "." + name, Code::bad_sink_duration, {*str});
        }
        return;
      }
      target = *d;
    };
    using std::chrono::milliseconds;
    duration("timeout", milliseconds{100}, s.timeout);
    duration("retry_initial", milliseconds{10}, s.retry_initial);
    duration("retry_max_interval", milliseconds{10}, s.retry_max_interval);
    duration("retry_for", milliseconds{0}, s.retry_for);
    if (s.retry_max_interval < s.retry_initial) {
      check_.error(t.get("retry_max_interval"), key + ".retry_max_interval",
                   Code::retry_max_below_initial);
    }
  }

  // Every delivery a connector can send must reach a sink: checked here, not at 07:00.
  void routing(const toml::table& doc, const Config& config) {
    if (config.sinks.empty()) {
      warnings_.push_back(render_en(Diagnostic{.code = Code::no_sinks}));
      return;
    }
    for (const auto& c : config.connectors) {
      for (int cat = 0; cat < policy::kCategoryCount; ++cat) {
        for (auto role : {policy::Role::student, policy::Role::parent, policy::Role::staff}) {
          auto category = static_cast<policy::Category>(cat);
          if (config.sink_for(c.name, category, role))
            continue;
          check_.error(doc.get("sinks"), "sinks", Code::no_sink_for,
                       {std::string(policy::to_string(category)),
                        std::string(policy::to_string(role)), c.name});
          return;  // one example is enough to say what is missing
        }
      }
    }
  }

  static bool valid_name(const std::string& s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
  }

  Checker check_;
  std::string path_;
  policy::Horizon horizon_;
  std::vector<std::string> warnings_;
  std::vector<std::string> referenced_;
};

}  // namespace

LoadResult parse_config(std::string_view text, const std::string& path, policy::Horizon horizon) {
  return Loader(path, horizon).load(text);
}

LoadResult parse_config_with(std::string_view text, const std::string& path,
                             const std::vector<ApiPolicy>& api, policy::Horizon horizon,
                             std::vector<policy::Crisis> crises) {
  return Loader(path, horizon).load(text, api, std::move(crises));
}

LoadResult load_config_with(const std::string& path, const std::vector<ApiPolicy>& api,
                            policy::Horizon horizon, std::vector<policy::Crisis> crises) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(
        std::vector<ConfigError>{{Code::config_unreadable,
                                  path,
                                  0,
                                  "",
                                  {std::error_code(errno, std::generic_category()).message()}}});
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_config_with(buf.str(), path, api, horizon, std::move(crises));
}

std::string policy_pointer(std::string_view key, std::string_view uai) {
  const std::string prefix = "establishments." + std::string(uai);
  if (!key.starts_with(prefix))
    return {};
  std::string_view rest = key.substr(prefix.size());
  if (!rest.empty() && rest.front() != '.')
    return {};
  std::string out = "/policy";
  for (char c : rest) {
    if (c == '.' || c == '[')
      out += '/';
    else if (c != ']')
      out += c;
  }
  return out;
}

std::int64_t Config::api_policy_version(std::string_view uai) const {
  for (const ApiPolicy& p : api_policies) {
    if (p.uai == uai)
      return p.version;
  }
  return 0;
}

bool Config::managed_by_file(std::string_view uai) const {
  return std::find(file_establishments.begin(), file_establishments.end(), uai) !=
         file_establishments.end();
}

bool Admin::in_scope(std::string_view uai) const {
  return every_establishment || std::find(scope.begin(), scope.end(), uai) != scope.end();
}

std::string_view to_string(StoreConfig::Backend backend) {
  return backend == StoreConfig::Backend::postgresql ? "postgresql" : "sqlite";
}

std::string_view to_string(Admin::Role role) {
  return role == Admin::Role::admin ? "admin" : "auditor";
}

std::expected<std::vector<std::pair<std::string, std::string>>, std::string> read_mail_templates(
    const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> replacements;
  if (dir.empty())
    return replacements;
  namespace fs = std::filesystem;
  constexpr std::uintmax_t kMaxTemplateBytes = 256 * 1024;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return std::unexpected(dir + " is not a directory");
  for (std::string_view name : adapters::kMailTemplateNames) {
    const fs::path path = fs::path(dir) / name;
    if (!fs::exists(path, ec))
      continue;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec || size > kMaxTemplateBytes)
      return std::unexpected(path.string() + " is not a readable file of at most 256 KiB");
    std::ifstream in(path, std::ios::binary);
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (!in.is_open() || in.bad())
      return std::unexpected("cannot read " + path.string());
    replacements.emplace_back(std::string(name), std::move(text));
  }
  if (auto templates = adapters::MailTemplates::with(replacements); !templates)
    return std::unexpected(dir + "/" + templates.error());
  return replacements;
}

LoadResult load_config(const std::string& path, policy::Horizon horizon) {
  return load_config_with(path, {}, horizon);
}

}  // namespace treve::config
