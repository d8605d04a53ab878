#include "daemon/admin/admin_api.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <expected>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include "adapters/outbound/base64url.h"
#include "daemon/admin/assets.h"
#include "daemon/admin/french.h"
#include "daemon/admin/messages_fr.h"
#include "daemon/audit/council_report.h"
#include "daemon/audit/report.h"
#include "daemon/audit/trail.h"
#include "daemon/config/ics_calendar.h"
#include "daemon/core/digest.h"
#include "daemon/core/log_field.h"
#include "daemon/http/auth.h"
#include "daemon/http/problem.h"
#include "daemon/runtime/directory_events.h"
#include "daemon/store/audit_record.h"
#include "policy/decision.h"
#include "policy/quiet_window.h"
#include "policy/rfc3339.h"
#include "policy/strictest.h"
#include "policy/uai.h"

namespace treve::admin {
namespace {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr std::size_t kMaxWaiting = 64;
constexpr std::string_view kPrefix = "/v1/admin/";
constexpr std::string_view kMetricsPath = "/metrics";
// The lengths the page's fields allow (maxlength in daemon/admin/page/app.js), in characters.
constexpr std::size_t kMaxWindowName = 64;
constexpr std::size_t kMaxComment = 500;

// An answer, before it becomes an HTTP response.
struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  http::NextPiece next = {};  // set: the body is sent in pieces (an audit export), `body` is unused
  // Set: the answer comes later (a preview waiting for a directory); `later` is given the
  // function to call once with it, from any thread, and the other members are unused.
  std::function<void(std::function<void(Answer)>)> later = {};
};

// An audit query's answer produced piece by piece on the admin worker, each piece about
// kPieceBytes of CSV lines or JSON records, so that exporting a trail of millions of records
// holds one piece in memory. The trail is read in one read transaction: the export is the
// trail as it was when the query came, whatever the daemon writes meanwhile.
class AuditPieces {
 public:
  static constexpr std::size_t kPieceBytes = 64 * 1024;

  AuditPieces(std::unique_ptr<audit::Trail> trail, audit::Filter filter, bool csv)
      : trail_(std::move(trail)), filter_(std::move(filter)), csv_(csv) {}

  // Finds where the records to send begin (the newest ones asked for are found once, from the
  // end of the trail; the pieces then read forward from there).
  std::expected<void, std::string> start() {
    if (filter_.newest <= 0)
      return {};
    std::optional<std::int64_t> first;
    auto scanned = trail_->scan(filter_, [&](const store::AuditRecord& r) {
      first = r.seq;
      return false;
    });
    if (!scanned)
      return std::unexpected(scanned.error());
    filter_.newest = 0;
    if (first)
      filter_.from_seq = *first;
    else
      empty_ = true;
    return {};
  }

  http::Piece next() {
    http::Piece piece;
    std::ostringstream out;
    if (!started_) {
      started_ = true;
      if (csv_)
        out << audit::kCsvHeader << '\n';
      else
        out << '[';
    }
    bool full = false;
    std::int64_t last_seq = 0;
    if (!empty_) {
      auto scanned = trail_->scan(filter_, [&](const store::AuditRecord& r) {
        if (csv_) {
          audit::write_csv(out, r);
        } else {
          if (records_++ > 0)
            out << ',';
          out << json::serialize(audit::to_json(r));
        }
        last_seq = r.seq;
        full = static_cast<std::size_t>(out.tellp()) >= kPieceBytes;
        return !full;
      });
      if (!scanned) {
        spdlog::error("event=admin.audit_export_failed error={}", core::quoted(scanned.error()));
        piece.failed = true;
        return piece;
      }
    }
    if (full) {
      filter_.from_seq = last_seq + 1;
    } else {
      if (!csv_)
        out << ']';
      piece.last = true;
    }
    piece.data = std::move(out).str();
    return piece;
  }

 private:
  std::unique_ptr<audit::Trail> trail_;
  audit::Filter filter_;
  bool csv_;
  bool started_ = false;
  bool empty_ = false;
  std::size_t records_ = 0;
};

Answer json_answer(int status, const json::value& v) {
  return {status, "application/json", json::serialize(v), {}};
}

Answer problem(int status, std::string_view slug, std::string_view title, std::string detail,
               json::object extra = {}) {
  adapters::Problem p = adapters::make_problem(status, slug, std::string(title), std::move(detail));
  if (json::value* pointer = extra.if_contains("pointer"); pointer && pointer->is_string()) {
    p.pointer = pointer->as_string();
    extra.erase("pointer");
  }
  p.members = std::move(extra);
  return {status, "application/problem+json", p.to_json(),
          http::problem_headers(status, "treve-admin")};
}

// The JSON pointer (RFC 6901) of a key of the request's top-level object.
std::string pointer_to(std::string_view key) {
  std::string out = "/";
  for (const char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

// 400 for the first key of `o` that is not one of `known` (listed in the detail).
std::optional<Answer> unknown_key(const json::object& o, std::span<const std::string_view> known) {
  for (const auto& [k, v] : o) {
    if (std::find(known.begin(), known.end(), std::string_view(k)) != known.end())
      continue;
    std::string expected;
    for (const auto& name : known)
      expected += (expected.empty() ? "" : ", ") + std::string(name);
    return problem(400, "invalid-field", "Invalid field",
                   "unknown key \"" + std::string(k) + "\"; expected " + expected,
                   {{"pointer", pointer_to(k)}});
  }
  return std::nullopt;
}

// Characters (code points) of UTF-8 text, as a person counts them and the page limits them.
std::size_t characters(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// An entry of a problem's `errors`: the diagnostic's code, its French text for the page and its
// English one (check-config's words).
json::object error_entry(std::string pointer, const config::Diagnostic& d) {
  return json::object{{"pointer", std::move(pointer)},
                      {"code", config::code_id(d.code)},
                      {"detail", message_fr(d)},
                      {"detail_en", config::message_en(d)}};
}

// The errors of a policy document's window names longer than the page lets one type, as
// invalid-policy lists them (a name of the wrong type is the configuration's to report).
json::array too_long_names(const json::object& policy) {
  json::array errors;
  const json::value* quiet = policy.if_contains("quiet");
  if (!quiet || !quiet->is_array())
    return errors;
  const json::array& windows = quiet->as_array();
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const json::value* name =
        windows[i].is_object() ? windows[i].as_object().if_contains("name") : nullptr;
    if (!name || !name->is_string())
      continue;
    const std::size_t n = characters(name->as_string());
    if (n <= kMaxWindowName)
      continue;
    errors.push_back(error_entry(
        "/policy/quiet/" + std::to_string(i) + "/name",
        config::Diagnostic{.code = config::Code::window_name_too_long,
                           .args = {std::to_string(kMaxWindowName), std::to_string(n)}}));
  }
  return errors;
}

// 400 for a comment longer than the page lets one type, with the French detail for the page.
std::optional<Answer> too_long_comment(std::string_view comment) {
  const std::size_t n = characters(comment);
  if (n <= kMaxComment)
    return std::nullopt;
  const config::Diagnostic d{.code = config::Code::comment_too_long,
                             .args = {std::to_string(kMaxComment), std::to_string(n)}};
  json::array errors{error_entry("/comment", d)};
  return problem(400, "invalid-field", "Invalid field", config::message_en(d),
                 {{"pointer", "/comment"}, {"errors", std::move(errors)}});
}

Answer store_failed(const store::StoreError& e) {
  spdlog::error("event=admin.store_failed error={}", core::log_quote(e.message));
  return problem(503, "store-unavailable", "Store unavailable",
                 "the store could not be read or written; nothing was changed, retry later");
}

// "24h", "7d", "1h30m", "0": the configuration's own syntax.
std::string duration_text(std::chrono::minutes d) {
  const long long m = d.count();
  if (m == 0)
    return "0";
  if (m % 1440 == 0)
    return std::to_string(m / 1440) + "d";
  std::string out;
  if (m >= 60)
    out += std::to_string(m / 60) + "h";
  if (m % 60)
    out += std::to_string(m % 60) + "m";
  return out;
}

std::string hhmm(std::chrono::minutes m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(m.count() / 60),
                static_cast<int>(m.count() % 60));
  return buf;
}

std::string date_text(policy::LocalDate d) {
  return date::format("%F", d);
}

// The rules of an establishment with every key filled in, in the configuration's terms.
json::object effective_json(const policy::EstablishmentRules& r) {
  json::object o;
  o["timezone"] = r.zone ? r.zone->name() : "UTC";
  o["parent_grade_delay"] = duration_text(r.parent_grade_delay);
  o["homework_notice"] = duration_text(r.homework_notice);
  json::array urgent;
  for (int c = 0; c < policy::kCategoryCount; ++c) {
    if (r.is_urgent_category(static_cast<policy::Category>(c)))
      urgent.emplace_back(policy::to_string(static_cast<policy::Category>(c)));
  }
  o["urgent_categories"] = std::move(urgent);
  o["holidays"] = r.public_holidays ? json::array{"fr-public"} : json::array{};
  json::array quiet;
  for (const auto& w : r.windows) {
    json::object q;
    json::array days;
    for (unsigned i = 1; i <= 7; ++i) {  // Monday first
      const date::weekday wd{i % 7};
      if (w.starts_on(wd))
        days.emplace_back(policy::weekday_key(wd));
    }
    q["days"] = std::move(days);
    q["start"] = hhmm(w.start);
    q["end"] = hhmm(w.end);
    if (w.end_day)
      q["end_day"] = policy::weekday_key(*w.end_day);
    if (!w.name.empty())
      q["name"] = w.name;
    if (w.categories) {
      json::array categories;
      for (int c = 0; c < policy::kCategoryCount; ++c) {
        if ((w.categories >> c) & 1u)
          categories.emplace_back(policy::to_string(static_cast<policy::Category>(c)));
      }
      q["categories"] = std::move(categories);
    }
    quiet.push_back(std::move(q));
  }
  o["quiet"] = std::move(quiet);
  json::array closed;
  for (const auto& c : r.closed) {
    json::object entry;
    entry["range"] =
        c.first == c.last ? date_text(c.first) : date_text(c.first) + ".." + date_text(c.last);
    entry["label"] = c.label;
    closed.push_back(std::move(entry));
  }
  o["closed"] = std::move(closed);
  return o;
}

// Minutes of the local week (Monday 00:00 = 0) a set of windows keeps quiet.
std::vector<bool> week_minutes(const std::vector<policy::QuietWindow>& windows) {
  std::vector<bool> quiet(7 * 1440, false);
  for (const auto& w : windows) {
    for (unsigned wd = 0; wd < 7; ++wd) {
      const date::weekday day{wd};
      if (!w.starts_on(day))
        continue;
      const long long from = ((wd + 6) % 7) * 1440LL + w.start.count();
      const long long to = ((wd + 6) % 7) * 1440LL + w.span_days(day) * 1440LL + w.end.count();
      for (long long m = from; m < to; ++m)
        quiet[static_cast<std::size_t>(m % (7 * 1440))] = true;
    }
  }
  return quiet;
}

// Why a policy is weaker than the national default; empty when it is not.
std::vector<std::string> weaker_than_national(const policy::EstablishmentRules& r) {
  std::vector<std::string> out;
  const auto national = week_minutes(policy::default_quiet_windows());
  static constexpr std::array<const char*, 7> kDays = {"lundi",    "mardi",  "mercredi", "jeudi",
                                                       "vendredi", "samedi", "dimanche"};
  // The windows that apply to a category (bit), or to those without windows of their own (0).
  auto applying = [&](std::uint16_t bit) {
    std::vector<policy::QuietWindow> subset;
    for (const auto& w : r.windows) {
      if (bit ? (w.categories & bit) != 0 : w.categories == 0)
        subset.push_back(w);
    }
    return subset;
  };
  auto loosened = [&](const std::vector<policy::QuietWindow>& windows, const std::string& whose) {
    const auto mine = week_minutes(windows);
    const std::size_t week = national.size();
    auto opened = [&](std::size_t m) { return national[m % week] && !mine[m % week]; };
    long long open = 0;
    std::optional<std::size_t> first;  // where a run of such minutes starts
    for (std::size_t m = 0; m < week; ++m) {
      if (!opened(m))
        continue;
      ++open;
      if (!first && !opened(m + week - 1))
        first = m;
    }
    if (open > 0) {
      const std::size_t at = first.value_or(0);
      const std::string amount =
          open >= 60 ? std::to_string(open / 60) + " h" : std::to_string(open) + " min";
      out.push_back(whose + " laissent ouvertes " + amount +
                    " par semaine que le défaut national garde en trêve (à partir du " +
                    kDays[at / 1440] + " à " +
                    hhmm(std::chrono::minutes{static_cast<long long>(at % 1440)}) + ")");
    }
  };
  loosened(applying(0), "les fenêtres");
  for (int c = 0; c < policy::kCategoryCount; ++c) {
    const auto cat = static_cast<policy::Category>(c);
    if (r.has_own_windows(cat)) {
      loosened(applying(static_cast<std::uint16_t>(1u << c)),
               "les fenêtres de la catégorie " + std::string(policy::to_string(cat)));
    }
  }
  if (!r.public_holidays)
    out.push_back("les jours fériés ne sont pas en trêve");
  if (r.parent_grade_delay < std::chrono::hours{24})
    out.push_back("les parents reçoivent les notes moins de 24 h après l'élève");
  for (int c = 0; c < policy::kCategoryCount; ++c) {
    const auto cat = static_cast<policy::Category>(c);
    if (cat != policy::Category::alert && r.is_urgent_category(cat)) {
      out.push_back("l'urgence peut passer la trêve pour la catégorie " +
                    std::string(policy::to_string(cat)));
    }
  }
  return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < path.size()) {
    auto next = path.find('/', at);
    if (next == std::string_view::npos)
      next = path.size();
    if (next > at)
      out.emplace_back(path.substr(at, next - at));
    at = next + 1;
  }
  return out;
}

// A request's query parameters, percent-decoded as RFC 3986 says, with "+" as a space (as
// forms and the page's URLSearchParams send it).
class Query {
 public:
  // The parameters of `query` (what follows "?"); or why it is not a query string: a malformed
  // percent-escape, or a parameter given more than once.
  static std::expected<Query, std::string> parse(std::string_view query) {
    Query q;
    if (query.empty())
      return q;
    // A copy: Boost.URL 1.81's parse_query reads past the end of a view to the next NUL
    // (boostorg/url#757), and the request target is a view into the whole request header.
    const std::string text(query);
    if (!boost::urls::parse_query(text))
      return std::unexpected("the query string is not valid percent-encoded text");
    // Valid, as just checked: this constructor throws otherwise.
    for (auto param : boost::urls::params_view(text, boost::urls::encoding_opts(true))) {
      if (q.find(param.key))
        return std::unexpected(param.key + ": given more than once");
      q.params_.emplace_back(std::move(param.key), std::move(param.value));
    }
    return q;
  }

  // The parameter's value; empty when absent.
  std::string get(std::string_view key) const {
    const auto* v = find(key);
    return v ? *v : std::string();
  }

 private:
  const std::string* find(std::string_view key) const {
    for (const auto& [k, v] : params_) {
      if (k == key)
        return &v;
    }
    return nullptr;
  }
  std::vector<std::pair<std::string, std::string>> params_;
};

// Whether `segments` (of the path under /v1/admin/) are `pattern`'s, "{uai}" matching any one
// segment, which is then `uai`, and "{id}" any one segment (the handler reads it).
bool matches(std::string_view pattern, const std::vector<std::string_view>& segments,
             std::string_view& uai) {
  const auto parts = split_path(pattern);
  if (parts.size() != segments.size())
    return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{uai}")
      uai = segments[i];
    else if (parts[i] != "{id}" && parts[i] != segments[i])
      return false;
  }
  return true;
}

// The CSP source that allows the report's stylesheet: 'sha256-<base64 of its digest>'.
const std::string& report_style_source() {
  static const std::string source = [] {
    const std::string hex = core::sha256_hex(audit::council_report_css());
    std::vector<unsigned char> bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
      bytes.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    std::string b64 = adapters::base64url_encode(std::span<const unsigned char>(bytes));
    for (char& c : b64) {
      if (c == '-')
        c = '+';
      else if (c == '_')
        c = '/';
    }
    while (b64.size() % 4 != 0)
      b64 += '=';
    return "'sha256-" + b64 + "'";
  }();
  return source;
}

}  // namespace

struct AdminApi::Impl {
  explicit Impl(Deps d) : deps(std::move(d)), worker([this] { run(); }) {}
  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_one();
    worker.join();
  }

  Deps deps;
  // Establishments with a treve_crises_open series (the metrics route runs on the API thread).
  std::set<std::string> crisis_series_;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  std::thread worker;

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [this] { return stopping || !jobs.empty(); });
      if (jobs.empty())
        return;
      auto job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  bool submit(std::function<void()> job) {
    {
      std::lock_guard lock(mutex);
      if (stopping || jobs.size() >= kMaxWaiting)
        return false;
      jobs.push_back(std::move(job));
    }
    wake.notify_one();
    return true;
  }

  // What a route's handler is given: the request, its admin (authenticated, role and scope
  // checked), the configuration in force, the decoded query, and the establishment the route
  // names, a valid UAI in the admin's scope (null when it names none).
  struct Call {
    const http::Request& req;
    const config::Admin& admin;
    const config::Config& config;
    const Query& query;
    const policy::Uai* uai;
  };

  // --- access -----------------------------------------------------------------------------

  // Writes a refusal's access_refused record before anything is answered: waits up to
  // refusal_patience for a place in the writer's queue, then for the commit. Nullopt once it
  // is committed; otherwise the 503 to answer instead, which says nothing of the refusal (what
  // was refused is never answered without its record).
  std::optional<Answer> audit_refusal(const config::Admin& admin, const http::Request& req,
                                      std::string_view uai, const std::string& reason) {
    store::AccessRefusal r;
    r.admin = admin.name;
    r.role = std::string(config::to_string(admin.role));
    r.method = std::string(req.method_string());
    r.path = std::string(req.target().substr(0, req.target().find('?')));
    r.establishment = std::string(uai);
    r.reason = reason;
    if (auto parsed = policy::parse_uai(uai); parsed)
      r.zone = deps.holder.get()->policy->find(*parsed).zone();
    const auto now = deps.clock.now();
    auto written = deps.queue.write_and_wait(
        [r, now](store::Store& s) { return s.record_refusal(r, now); }, deps.refusal_patience);
    if (!written || !*written) {
      spdlog::error(
          "event=admin.refusal_not_audited admin={} method={} path={} establishment={} "
          "error={}",
          core::log_quote(admin.name), core::log_quote(r.method), core::log_quote(r.path),
          core::log_quote(uai),
          core::log_quote(written ? written->error().message : "the writer's queue stayed full"));
      if (!written)
        return problem(503, "overloaded", "Overloaded", "too many writes are waiting; retry later");
      return store_failed(written->error());
    }
    spdlog::warn("event=admin.refused admin={} method={} path={} establishment={} reason={}",
                 core::log_quote(admin.name), core::log_quote(r.method), core::log_quote(r.path),
                 core::log_quote(uai), core::log_quote(reason));
    return std::nullopt;
  }

  // 403, once audited.
  Answer refuse(const config::Admin& admin, const http::Request& req, std::string_view uai,
                std::string reason) {
    if (auto failed = audit_refusal(admin, req, uai, reason))
      return *failed;
    return problem(403, "forbidden", "Forbidden", std::move(reason));
  }

  // --- the policy ---------------------------------------------------------------------------

  std::optional<store::PolicyVersion> current_version(const std::string& uai,
                                                      std::optional<Answer>& failed) {
    auto versions = deps.policies.policy_versions(uai);
    if (!versions) {
      failed = store_failed(versions.error());
      return std::nullopt;
    }
    if (versions->empty())
      return std::nullopt;
    return versions->front();
  }

  Answer get_policy(const Call& call) {
    const config::Admin& admin = call.admin;
    const std::string& uai = call.uai->code;
    auto config = deps.holder.get();
    const bool by_file = config->managed_by_file(uai);
    std::optional<Answer> failed;
    auto current = current_version(uai, failed);
    if (failed)
      return *failed;
    json::object o;
    o["uai"] = uai;
    o["managed_by"] = by_file ? "file" : (current ? "api" : "defaults");
    o["editable"] = !by_file && admin.role == config::Admin::Role::admin;
    o["version"] = current && !by_file ? json::value(current->version) : json::value(nullptr);
    json::value own = json::object{};
    if (current && !by_file) {
      boost::system::error_code ec;
      own = json::parse(current->document, ec);
    }
    o["policy"] = own;
    const auto& rules = config->policy->find(*call.uai).rules();
    o["effective"] = effective_json(rules);
    o["weaker"] = json::value_from(weaker_than_national(rules));
    return json_answer(200, o);
  }

  // The configuration with `policy` as `uai`'s API policy, or the answer saying why not: the
  // configuration's errors and names longer than the page allows, each with its pointer.
  std::expected<std::shared_ptr<const config::Config>, Answer> candidate(
      const config::Config& running, const std::string& uai, const json::object& policy) {
    const std::string document = json::serialize(policy);
    // The other schools' policies as they are in force (one left out at start or reload for
    // no longer validating stays out: it must not block this school's change).
    std::vector<config::ApiPolicy> policies;
    for (const auto& p : running.api_policies) {
      if (p.uai != uai)
        policies.push_back(p);
    }
    policies.push_back({uai, document});
    auto built = runtime::build_in_force(running, policies);
    json::array errors;
    if (!built) {
      for (const auto& e : built.error()) {
        const std::string pointer = config::policy_pointer(e.key, uai);
        if (pointer.empty())
          continue;
        errors.push_back(error_entry(pointer, e));
      }
      if (errors.empty()) {
        spdlog::error("event=admin.configuration_invalid error={}",
                      core::log_quote(built.error().front().to_string()));
        return std::unexpected(problem(500, "configuration-invalid", "Configuration invalid",
                                       "the configuration in force no longer validates; the "
                                       "operator has the details in the log"));
      }
    }
    for (auto& e : too_long_names(policy))
      errors.push_back(std::move(e));
    if (errors.empty())
      return *built;
    const std::string detail = errors.size() == 1
                                   ? std::string(errors[0].as_object().at("detail").as_string())
                                   : std::to_string(errors.size()) + " errors in the policy";
    return std::unexpected(
        problem(400, "invalid-policy", "Invalid policy", detail, {{"errors", errors}}));
  }

  struct Body {
    json::object object;
    std::optional<Answer> error;
  };
  static Body body_of(const http::Request& req) {
    Body b;
    boost::system::error_code ec;
    auto v = json::parse(req.body(), ec);
    if (ec || !v.is_object()) {
      b.error =
          problem(400, "malformed-json", "Malformed JSON",
                  "the body must be a JSON object" + (ec ? ": " + ec.message() : std::string()));
      return b;
    }
    b.object = std::move(v.as_object());
    return b;
  }

  // PUT (a document) and rollback (an earlier version's document).
  Answer save(const config::Admin& admin, const policy::Uai& establishment,
              const json::object& policy, const std::string& comment, bool confirm_weaker,
              std::optional<std::int64_t> expected_version, std::int64_t rollback_of) {
    const std::string& uai = establishment.code;
    auto running = deps.holder.get();
    if (running->managed_by_file(uai)) {
      return problem(409, "managed-by-file", "Managed by the configuration file",
                     "establishment " + uai +
                         " is configured in the configuration file: edit it there, then reload");
    }
    const std::string document = json::serialize(policy);
    std::optional<Answer> refused;
    std::int64_t saved = 0;
    std::vector<std::string> weaker;
    auto change = deps.change_policy(
        [&]() -> std::shared_ptr<const config::Config> {
          auto next = candidate(*deps.holder.get(), uai, policy);
          if (!next) {
            refused = next.error();
            return nullptr;
          }
          if (expected_version) {
            // A stale edit is said to be one before anything else is asked of the admin.
            auto versions = deps.policies.policy_versions(uai);
            const std::int64_t current =
                versions && !versions->empty() ? versions->front().version : 0;
            if (versions && current != *expected_version) {
              refused = problem(409, "version-conflict", "Version conflict",
                                "the policy was changed meanwhile (now version " +
                                    std::to_string(current) + "); reload it and edit again",
                                {{"version", current}});
              return nullptr;
            }
          }
          weaker = weaker_than_national((*next)->policy->find(establishment).rules());
          if (!weaker.empty() && !confirm_weaker) {
            refused = problem(409, "weaker-policy", "Weaker than the national default",
                              "this policy protects less than the national default; send it "
                              "again with \"confirm_weaker\": true to save it",
                              {{"weaker", json::value_from(weaker)}});
            return nullptr;
          }
          store::PolicyVersion v;
          v.uai = uai;
          v.author = admin.name;
          v.comment = comment;
          v.document = document;
          v.digest = core::sha256_hex(document);
          v.weaker = weaker;
          v.rollback_of = rollback_of;
          v.zone = (*next)->policy->find(establishment).zone();
          const auto now = deps.clock.now();
          auto saved_now = deps.queue.write_and_wait([v, expected_version, now](store::Store& s) {
            return s.save_policy(v, expected_version, now);
          });
          if (!saved_now) {
            refused = problem(503, "overloaded", "Overloaded", "too many writes are waiting");
            return nullptr;
          }
          auto& r = *saved_now;
          if (!r) {
            refused = store_failed(r.error());
            return nullptr;
          }
          if (r->conflict) {
            refused = problem(409, "version-conflict", "Version conflict",
                              "the policy was changed meanwhile (now version " +
                                  std::to_string(r->version) + "); reload it and edit again",
                              {{"version", r->version}});
            return nullptr;
          }
          saved = r->version;
          return *next;
        },
        {uai});
    if (refused)
      return *refused;
    if (!change.applied)
      return problem(503, "unavailable", "Unavailable", "the change could not be applied");
    spdlog::info(
        "event=admin.policy_changed admin={} establishment={} version={} weaker={} replanned={}",
        core::log_quote(admin.name), uai, saved, !weaker.empty(), change.replan.moved);
    json::object o;
    o["uai"] = uai;
    o["version"] = saved;
    o["weaker"] = json::value_from(weaker);
    o["replanned"] = change.replan.moved;
    return json_answer(200, o);
  }

  Answer put_policy(const Call& call) {
    auto body = body_of(call.req);
    if (body.error)
      return *body.error;
    const auto& o = body.object;
    static constexpr std::array<std::string_view, 4> kKeys = {"policy", "comment", "confirm_weaker",
                                                              "expected_version"};
    if (auto unknown = unknown_key(o, kKeys))
      return *unknown;
    const json::value* policy = o.if_contains("policy");
    if (!policy || !policy->is_object()) {
      return problem(400, "invalid-field", "Invalid field", "\"policy\" must be an object",
                     {{"pointer", "/policy"}});
    }
    const json::value* comment = o.if_contains("comment");
    if (!comment || !comment->is_string() || comment->as_string().empty()) {
      return problem(400, "invalid-field", "Invalid field",
                     "\"comment\" must say why the policy changes", {{"pointer", "/comment"}});
    }
    if (auto long_comment = too_long_comment(comment->as_string()))
      return *long_comment;
    bool confirm = false;
    if (const json::value* c = o.if_contains("confirm_weaker"); c && !c->is_null()) {
      if (!c->is_bool()) {
        return problem(400, "invalid-field", "Invalid field", "must be true or false",
                       {{"pointer", "/confirm_weaker"}});
      }
      confirm = c->as_bool();
    }
    std::optional<std::int64_t> expected;
    if (const json::value* e = o.if_contains("expected_version"); e && !e->is_null()) {
      if (!e->is_int64()) {
        return problem(400, "invalid-field", "Invalid field", "must be a version number",
                       {{"pointer", "/expected_version"}});
      }
      expected = e->as_int64();
    }
    return save(call.admin, *call.uai, policy->as_object(), std::string(comment->as_string()),
                confirm, expected, 0);
  }

  Answer rollback(const Call& call) {
    const std::string& uai = call.uai->code;
    auto body = body_of(call.req);
    if (body.error)
      return *body.error;
    static constexpr std::array<std::string_view, 3> kKeys = {"version", "comment",
                                                              "confirm_weaker"};
    if (auto unknown = unknown_key(body.object, kKeys))
      return *unknown;
    const json::value* version = body.object.if_contains("version");
    const json::value* comment = body.object.if_contains("comment");
    if (!version || !version->is_int64()) {
      return problem(400, "invalid-field", "Invalid field", "\"version\" must be a number",
                     {{"pointer", "/version"}});
    }
    if (!comment || !comment->is_string() || comment->as_string().empty()) {
      return problem(400, "invalid-field", "Invalid field",
                     "\"comment\" must say why the policy goes back", {{"pointer", "/comment"}});
    }
    if (auto long_comment = too_long_comment(comment->as_string()))
      return *long_comment;
    bool confirm = false;
    if (const json::value* c = body.object.if_contains("confirm_weaker"); c && !c->is_null()) {
      if (!c->is_bool()) {
        return problem(400, "invalid-field", "Invalid field", "must be true or false",
                       {{"pointer", "/confirm_weaker"}});
      }
      confirm = c->as_bool();
    }
    auto versions = deps.policies.policy_versions(uai);
    if (!versions)
      return store_failed(versions.error());
    for (const auto& v : *versions) {
      if (v.version != version->as_int64())
        continue;
      boost::system::error_code ec;
      auto doc = json::parse(v.document, ec);
      if (ec || !doc.is_object())
        return problem(500, "internal-error", "Internal error", "the stored version is damaged");
      const std::optional<std::int64_t> expected =
          versions->empty() ? std::optional<std::int64_t>{} : versions->front().version;
      return save(call.admin, *call.uai, doc.as_object(), std::string(comment->as_string()),
                  confirm, expected, v.version);
    }
    return problem(
        404, "not-found", "Not found",
        "establishment " + uai + " has no version " + std::to_string(version->as_int64()));
  }

  Answer versions(const Call& call) {
    auto versions = deps.policies.policy_versions(call.uai->code);
    if (!versions)
      return store_failed(versions.error());
    const date::time_zone* zone = deps.holder.get()->policy->find(*call.uai).zone();
    json::array out;
    for (const auto& v : *versions) {
      json::object o;
      o["version"] = v.version;
      o["author"] = v.author;
      o["at"] = policy::format_rfc3339(v.at, zone);
      o["comment"] = v.comment;
      o["weaker"] = json::value_from(v.weaker);
      o["rollback_of"] = v.rollback_of ? json::value(v.rollback_of) : json::value(nullptr);
      o["digest"] = v.digest;
      out.push_back(std::move(o));
    }
    return json_answer(200, out);
  }

  Answer preview(const Call& call) {
    const std::string& uai = call.uai->code;
    json::object o;
    if (!call.req.body().empty()) {
      auto body = body_of(call.req);
      if (body.error)
        return *body.error;
      o = std::move(body.object);
    }
    static constexpr std::array<std::string_view, 6> kKeys = {"policy", "at",   "category",
                                                              "role",   "user", "connector"};
    if (auto unknown = unknown_key(o, kKeys))
      return *unknown;
    // Each text is a string or null (absent).
    for (const char* key : {"at", "category", "role", "user", "connector"}) {
      const json::value* v = o.if_contains(key);
      if (v && !v->is_null() && !v->is_string()) {
        return problem(400, "invalid-field", "Invalid field", "must be a string",
                       {{"pointer", pointer_to(key)}});
      }
    }
    auto text_of = [&](const char* key, const char* fallback) {
      const json::value* v = o.if_contains(key);
      return v && v->is_string() ? std::string(v->as_string()) : std::string(fallback);
    };
    auto given = [&](const char* key) {
      const json::value* v = o.if_contains(key);
      return v && v->is_string();
    };
    // A user: their role and other establishments come from the directory of `connector`.
    const bool by_user = given("user");
    const std::string user = text_of("user", "");
    const std::string connector_name = text_of("connector", "");
    const config::Directory* directory = nullptr;
    if (by_user) {
      if (user.empty()) {
        return problem(400, "invalid-field", "Invalid field", "\"user\" must not be empty",
                       {{"pointer", "/user"}});
      }
      if (given("role")) {
        return problem(400, "invalid-field", "Invalid field",
                       "with \"user\", the role comes from the directory: leave \"role\" out",
                       {{"pointer", "/role"}});
      }
      if (!given("connector")) {
        return problem(400, "invalid-field", "Invalid field",
                       "\"connector\" is required with \"user\": the connector whose directory "
                       "knows the user",
                       {{"pointer", "/connector"}});
      }
      const config::Connector* c = call.config.connector(connector_name);
      if (!c) {
        return problem(400, "invalid-field", "Invalid field",
                       "no connector named \"" + connector_name + "\"",
                       {{"pointer", "/connector"}});
      }
      directory = c->directory.empty() ? nullptr : call.config.directory_named(c->directory);
      if (!directory) {
        return problem(400, "invalid-field", "Invalid field",
                       "connector \"" + connector_name +
                           "\" has no directory: a user is looked up through a connector's "
                           "directory",
                       {{"pointer", "/connector"}});
      }
    } else if (given("connector")) {
      return problem(400, "invalid-field", "Invalid field",
                     "\"connector\" goes with \"user\": the connector whose directory knows "
                     "the user",
                     {{"pointer", "/connector"}});
    }
    std::shared_ptr<const config::Config> config = deps.holder.get();
    if (const json::value* draft = o.if_contains("policy"); draft && !draft->is_null()) {
      if (!draft->is_object()) {
        return problem(400, "invalid-field", "Invalid field", "\"policy\" must be an object",
                       {{"pointer", "/policy"}});
      }
      if (config->managed_by_file(uai)) {
        return problem(409, "managed-by-file", "Managed by the configuration file",
                       "establishment " + uai +
                           " is configured in the configuration file: a draft cannot apply");
      }
      auto next = candidate(*config, uai, draft->as_object());
      if (!next)
        return next.error();
      config = *next;
    }
    const policy::Instant now = deps.clock.now();
    policy::Instant at = now;
    if (const json::value* a = o.if_contains("at"); a && a->is_string()) {
      auto parsed = policy::parse_rfc3339(std::string(a->as_string()));
      if (!parsed) {
        return problem(400, "invalid-field", "Invalid field", parsed.error(), {{"pointer", "/at"}});
      }
      at = *parsed;
    }
    auto category = policy::parse_category(text_of("category", "message"));
    if (!category)
      return problem(400, "invalid-field", "Invalid field", "unknown category",
                     {{"pointer", "/category"}});
    if (!by_user) {
      auto role = policy::parse_role(text_of("role", "student"));
      if (!role)
        return problem(400, "invalid-field", "Invalid field", "unknown role",
                       {{"pointer", "/role"}});
      return preview_answer(*config, *call.uai, at, now, *category, *role, {});
    }
    if (!deps.directories) {
      return problem(503, "directory-unavailable", "Directory unavailable",
                     "this daemon has no directory client; retry later");
    }
    // The lookup runs on the directories' thread, never on this one; its answer is decided
    // here, a job like any other request.
    Answer a;
    a.later = [this, config, establishment = *call.uai, at, now, category = *category, user,
               connector_name, directory_name = directory->name](std::function<void(Answer)> done) {
      deps.directories->lookup(
          directory_name, connector_name, {user},
          [this, config, establishment, at, now, category, directory_name,
           done](std::vector<directory::UserAnswer> answers) {
            auto job = [config, establishment, at, now, category, directory_name, done,
                        answers = std::move(answers)] {
              Answer out;
              try {
                out = preview_of_user(*config, establishment, at, now, category, directory_name,
                                      answers.empty() ? directory::UserAnswer{} : answers.front());
              } catch (const std::exception& e) {
                spdlog::error("event=admin.failed error={}", core::log_quote(e.what()));
                out = problem(500, "internal-error", "Internal error",
                              "the operator has the details in the log");
              }
              done(std::move(out));
            };
            if (!submit(job)) {
              done(problem(503, "overloaded", "Overloaded", "too many admin requests are waiting"));
            }
          });
    };
    return a;
  }

  // The preview of a user, once their directory answered.
  static Answer preview_of_user(const config::Config& config, const policy::Uai& establishment,
                                policy::Instant at, policy::Instant now, policy::Category category,
                                const std::string& directory_name,
                                const directory::UserAnswer& answer) {
    auto who = runtime::explain_recipient(answer, establishment.code);
    if (!who) {
      using Kind = runtime::ExplainRefusal::Kind;
      switch (who.error().kind) {
        case Kind::failed:
          return problem(503, "directory-unavailable", "Directory unavailable",
                         "the directory \"" + directory_name +
                             "\" did not answer: " + who.error().detail + "; retry later");
        case Kind::unknown:
          return problem(422, "unknown-user", "Unknown user",
                         "the directory \"" + directory_name + "\" does not know the user",
                         {{"pointer", "/user"}});
        case Kind::no_establishment:
        case Kind::not_in_establishment:
          return problem(422, "not-in-establishment", "Not in the establishment",
                         "the user is not in " + establishment.code + " per the directory \"" +
                             directory_name + "\"",
                         {{"pointer", "/user"}});
      }
    }
    return preview_answer(config, establishment, at, now, category, who->role, who->also);
  }

  // A preview's answer: a notification of `category` for a recipient of `role` in
  // `establishment` (and in `also`, held under the strictest), received at `at`.
  static Answer preview_answer(const config::Config& config, const policy::Uai& establishment,
                               policy::Instant at, policy::Instant now, policy::Category category,
                               policy::Role role, std::vector<std::string> also) {
    const policy::EstablishmentPolicy& p = config.policy->find(establishment);
    policy::Notification n;
    n.establishment = establishment.code;
    n.category = category;
    n.recipients.push_back({"preview", role, std::nullopt, std::move(also), nullptr});
    const auto decisions = policy::decide_in(*config.policy, p, n, at, false);
    const auto& d = decisions.front();
    json::object out;
    out["at"] = policy::format_rfc3339(at, p.zone());
    out["held"] = d.held;
    out["release_at"] = d.evaluated ? json::value(policy::format_rfc3339(d.release_at, p.zone()))
                                    : json::value(nullptr);
    out["reason"] = policy::describe_in(*config.policy, p, d);
    out["summary"] = french_summary(p, d, category, at, now);
    // The next two weeks' quiet intervals of the category previewed, and of each category
    // with windows of its own.
    auto intervals = [&](const policy::Schedule& schedule) {
      json::array quiet;
      for (const auto& [from, to] :
           schedule.quiet_intervals(at, at + std::chrono::hours{24 * 14})) {
        json::object q;
        q["start"] = policy::format_rfc3339(from, p.zone());
        q["end"] = policy::format_rfc3339(to, p.zone());
        // What makes it quiet, in French: the page shows it beside the interval.
        const policy::Release open = schedule.next_open(from);
        std::string cause = french_causes(p.rules(), open.chain);
        q["label"] = cause.empty() ? "temps de repos" : std::move(cause);
        quiet.push_back(std::move(q));
      }
      return quiet;
    };
    out["quiet"] = intervals(p.schedule(category));
    json::object by_category;
    for (int c = 0; c < policy::kCategoryCount; ++c) {
      const auto cat = static_cast<policy::Category>(c);
      if (p.rules().has_own_windows(cat))
        by_category[policy::to_string(cat)] = intervals(p.schedule(cat));
    }
    out["categories"] = std::move(by_category);
    return json_answer(200, out);
  }

  Answer ics(const Call& call) {
    auto imported = config::parse_ics_closed_days(call.req.body());
    if (!imported) {
      const config::Diagnostic& e = imported.error();
      return problem(400, "invalid-calendar", "Invalid calendar", config::message_en(e),
                     {{"pointer", ""},
                      {"code", config::code_id(e.code)},
                      {"errors", json::array{error_entry("", e)}}});
    }
    json::array closed;
    for (const auto& r : imported->ranges) {
      const std::string first = date::format("%F", r.first);
      const std::string last = date::format("%F", r.last);
      closed.emplace_back(first == last ? first : first + ".." + last);
    }
    json::object o;
    o["closed"] = std::move(closed);
    o["ignored"] = imported->warnings.size();
    json::array warnings;
    json::array details;
    for (const auto& w : imported->warnings) {
      warnings.emplace_back(config::message_en(w));
      details.push_back(json::object{{"code", config::code_id(w.code)},
                                     {"detail", message_fr(w)},
                                     {"detail_en", config::message_en(w)}});
    }
    o["warnings"] = std::move(warnings);
    o["warning_details"] = std::move(details);
    return json_answer(200, o);
  }

  // --- the queue and dead letters ---------------------------------------------------------

  Answer queue(const Call& call) {
    const std::string& uai = call.uai->code;
    auto counts = deps.policies.held_by_category(uai);
    if (!counts)
      return store_failed(counts.error());
    json::object by;
    std::uint64_t total = 0;
    for (const auto& [c, n] : *counts) {
      by[policy::to_string(c)] = n;
      total += n;
    }
    auto next = deps.policies.next_release_of(uai);
    if (!next)
      return store_failed(next.error());
    const date::time_zone* zone = deps.holder.get()->policy->find(*call.uai).zone();
    json::object o;
    o["establishment"] = uai;
    o["held"] = total;
    o["by_category"] = std::move(by);
    o["next_release"] = *next && **next != policy::Instant::max()
                            ? json::value(policy::format_rfc3339(**next, zone))
                            : json::value(nullptr);
    return json_answer(200, o);
  }

  // Every dead letter, in receipt order, read a page at a time.
  store::Result<std::vector<store::DeliveryRow>> all_dead() {
    std::vector<store::DeliveryRow> out;
    std::int64_t after = 0;
    for (;;) {
      auto page = deps.deliveries.list(store::DeliveryState::dead, after, 1000);
      if (!page)
        return std::unexpected(page.error());
      if (!page->empty())
        after = page->back().ref.seq;
      const bool last = page->size() < 1000;
      out.insert(out.end(), std::make_move_iterator(page->begin()),
                 std::make_move_iterator(page->end()));
      if (last)
        return out;
    }
  }

  Answer dead_letters(const Call& call) {
    const config::Admin& admin = call.admin;
    const std::string uai = call.uai ? call.uai->code : std::string();
    json::array out;
    auto dead = all_dead();
    if (!dead)
      return store_failed(dead.error());
    {
      for (const auto& d : *dead) {
        if ((!uai.empty() && d.ref.establishment != uai) || !admin.in_scope(d.ref.establishment))
          continue;
        json::object o;
        o["seq"] = d.ref.seq;
        o["source"] = d.ref.source;
        o["event_id"] = d.ref.event_id;
        o["establishment"] = d.ref.establishment;
        o["category"] = policy::to_string(d.ref.category);
        o["role"] = policy::to_string(d.ref.role);
        o["attempts"] = d.attempts;
        o["sink"] = d.sink;
        o["last_error"] = d.last_error;
        o["updated_at"] = policy::format_rfc3339(d.updated_at, store::zone_or_utc(d.ref.timezone));
        out.push_back(std::move(o));
      }
    }
    return json_answer(200, out);
  }

  Answer replay(const Call& call) {
    const config::Admin& admin = call.admin;
    auto body = body_of(call.req);
    if (body.error)
      return *body.error;
    const json::value* seqs = body.object.if_contains("seqs");
    if (!seqs || !seqs->is_array() || seqs->as_array().empty()) {
      return problem(400, "invalid-field", "Invalid field",
                     "\"seqs\" must list the dead letters to send again", {{"pointer", "/seqs"}});
    }
    auto rows = all_dead();
    if (!rows)
      return store_failed(rows.error());
    std::map<std::int64_t, std::string> dead;  // seq -> establishment
    for (const auto& d : *rows)
      dead[d.ref.seq] = d.ref.establishment;
    std::vector<std::int64_t> wanted;
    const auto& list = seqs->as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string pointer = "/seqs/" + std::to_string(i);
      if (!list[i].is_int64())
        return problem(400, "invalid-field", "Invalid field", "must be a number",
                       {{"pointer", pointer}});
      // Another school's dead letter is answered as one that does not exist (the refusal is
      // audited all the same): the answer tells nothing of which school it belongs to.
      auto it = dead.find(list[i].as_int64());
      const bool in_scope = it != dead.end() && admin.in_scope(it->second);
      if (it != dead.end() && !in_scope) {
        if (auto failed = audit_refusal(admin, call.req, it->second,
                                        "establishment " + it->second + " is not in scope"))
          return *failed;
      }
      if (!in_scope) {
        return problem(404, "not-found", "Not found",
                       "no dead letter " + std::to_string(list[i].as_int64()),
                       {{"pointer", pointer}});
      }
      wanted.push_back(it->first);
    }
    const auto now = deps.clock.now();
    auto replayed =
        deps.queue.write_and_wait([wanted, now](store::Store& s) { return s.replay(wanted, now); });
    if (!replayed)
      return problem(503, "overloaded", "Overloaded", "too many writes are waiting");
    auto& r = *replayed;
    if (!r)
      return store_failed(r.error());
    return json_answer(200, json::object{{"replayed", *r}});
  }

  // --- one notification ------------------------------------------------------------------

  // An event and each of its copies (one per recipient and sink), read as the ingest API's
  // GET /v1/events/{id} reads it. Recipients as the audit trail names them (pseudonyms); no
  // address, title or payload. An event of an establishment out of scope is answered as one
  // that does not exist, and the attempt is audited (as a replay of another school's dead
  // letter is).
  Answer event(const Call& call) {
    const config::Admin& admin = call.admin;
    const std::string source = call.query.get("source");
    const std::string id = call.query.get("id");
    if (source.empty())
      return problem(400, "invalid-query", "Invalid query", "source=CONNECTOR is required");
    if (id.empty())
      return problem(400, "invalid-query", "Invalid query", "id=EVENT_ID is required");
    auto found = deps.events.find(source, id);
    if (!found)
      return store_failed(found.error());
    auto not_found = [] {
      return problem(404, "not-found", "Not found", "no event with this id from this connector");
    };
    if (!*found)
      return not_found();
    const store::EventView& v = **found;
    if (!admin.in_scope(v.establishment)) {
      if (auto failed = audit_refusal(admin, call.req, v.establishment,
                                      "establishment " + v.establishment + " is not in scope"))
        return *failed;
      return not_found();
    }
    const date::time_zone* zone = store::zone_or_utc(v.timezone);
    auto instant = [zone](policy::Instant t) -> json::value {
      if (t == policy::Instant::max())
        return nullptr;
      return json::value(policy::format_rfc3339(t, zone));
    };
    auto text_or_null = [](const std::string& t) -> json::value {
      if (t.empty())
        return nullptr;
      return json::value(t);
    };
    json::object o;
    o["source"] = v.source;
    o["id"] = v.id;
    o["establishment"] = v.establishment;
    o["category"] = policy::to_string(v.category);
    o["received_at"] = policy::format_rfc3339(v.received_at, zone);
    json::array deliveries;
    for (const auto& d : v.deliveries) {
      json::object c;
      c["seq"] = d.seq;
      c["recipient"] = d.recipient_pseudonym;
      c["role"] = policy::to_string(d.role);
      c["sink"] = text_or_null(d.sink);
      c["state"] = store::to_string(d.state);
      c["attempts"] = d.attempts;
      c["release_at"] = instant(d.release_at);
      c["released_at"] = d.released_at ? instant(*d.released_at) : json::value(nullptr);
      c["reason"] = d.reason;
      c["last_error"] = text_or_null(d.last_error);
      c["digest"] = text_or_null(d.digest);
      c["updated_at"] = instant(d.updated_at);
      deliveries.push_back(std::move(c));
    }
    o["deliveries"] = std::move(deliveries);
    return json_answer(200, o);
  }

  // --- audit ------------------------------------------------------------------------------

  Answer audit_records(const Call& call) { return audit(call, false); }
  Answer audit_stats(const Call& call) { return audit(call, true); }

  Answer audit(const Call& call, bool stats) {
    const config::Admin& admin = call.admin;
    const Query& q = call.query;
    std::vector<std::string> establishments;
    if (call.uai) {  // in scope: checked by dispatch
      establishments.push_back(call.uai->code);
    } else if (!admin.every_establishment) {
      establishments = admin.scope;
      if (establishments.empty())
        return json_answer(200, json::array{});
    }
    audit::Period period;
    period.from = q.get("from");
    period.to = q.get("to");
    const std::string format = q.get("format").empty() ? "json" : q.get("format");
    if (format != "json" && format != "csv")
      return problem(400, "invalid-query", "Invalid query", "format: expected json or csv");
    auto trail = deps.open_trail();
    if (!trail)
      return problem(503, "store-unavailable", "Store unavailable", trail.error());
    if (stats) {
      auto counted = audit::compute_stats(**trail, period, establishments);
      if (!counted)
        return problem(400, "invalid-query", "Invalid query", counted.error());
      if (format == "json")
        return json_answer(200, audit::to_json(*counted));
      std::ostringstream out;
      audit::write_csv(out, *counted);
      return csv_answer(out.str(), "treve-stats.csv");
    }
    audit::Filter filter;
    filter.establishments = establishments;
    if (auto k = q.get("kind"); !k.empty())
      filter.kinds.push_back(k);
    if (format == "json") {
      if (auto c = q.get("category"); !c.empty())
        filter.categories.push_back(c);
      filter.newest = 1000;
      if (auto l = q.get("limit"); !l.empty()) {
        std::int64_t n = 0;
        auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), n);
        if (ec != std::errc{} || end != l.data() + l.size() || n < 1 || n > 100'000)
          return problem(400, "invalid-query", "Invalid query",
                         "limit: expected a whole number from 1 to 100000");
        filter.newest = n;
      }
    }
    auto valid = audit::apply_period(period, filter);
    if (valid)
      valid = audit::check_kinds(filter.kinds);
    if (!valid)
      return problem(400, "invalid-query", "Invalid query", valid.error());
    auto pieces =
        std::make_shared<AuditPieces>(std::move(*trail), std::move(filter), format == "csv");
    if (auto started = pieces->start(); !started)
      return problem(503, "store-unavailable", "Store unavailable", started.error());
    Answer a = format == "csv" ? csv_answer({}, "treve-audit.csv") : json_answer(200, nullptr);
    a.body.clear();
    // Each piece is made on the worker, between other admin requests, never on an I/O thread.
    a.next = [this, pieces](http::PutPiece put) {
      auto job = [pieces, put] { put(pieces->next()); };
      if (!submit(job))
        put(http::Piece{.data = {}, .last = false, .failed = true});
    };
    return a;
  }

  // The report to the conseil d'administration, as HTML (the same document as `treve report`).
  // PDF is left to the browser's printing: the daemon runs no browser.
  Answer report(const Call& call) {
    const Query& q = call.query;
    audit::CouncilRequest asked;
    asked.establishment = call.uai->code;  // required and in scope: checked by dispatch
    asked.from = q.get("from");
    asked.to = q.get("to");
    for (auto [name, value] : {std::pair{"from", &asked.from}, {"to", &asked.to}}) {
      if (value->empty())
        return problem(400, "invalid-query", "Invalid query",
                       std::string(name) + "=YYYY-MM-DD is required");
    }
    asked.zone = call.config.policy->find(*call.uai).zone();
    auto scope = audit::council_scope(asked);
    if (!scope) {
      // The command line's words ("--from: …", "--to must come after --from") with the
      // parameters' names.
      std::string detail = scope.error();
      for (std::string_view option : {"--from", "--to"}) {
        for (auto at = detail.find(option); at != std::string::npos; at = detail.find(option, at))
          detail.erase(at, 2);
      }
      return problem(400, "invalid-query", "Invalid query", std::move(detail));
    }
    auto trail = deps.open_trail();
    if (!trail)
      return problem(503, "store-unavailable", "Store unavailable", trail.error());
    auto figures = audit::compute_council_figures(**trail, *scope);
    if (!figures)
      return problem(503, "store-unavailable", "Store unavailable", figures.error());
    Answer a{
        200,
        "text/html; charset=utf-8",
        audit::council_report_html(*figures, asked, deps.clock.now().time_since_epoch().count()),
        {}};
    a.headers.emplace_back("Content-Security-Policy", "default-src 'none'; style-src " +
                                                          report_style_source() +
                                                          "; base-uri 'none'; form-action 'none'");
    a.headers.emplace_back("Content-Disposition", "inline; filename=\"rapport-ca-" +
                                                      asked.establishment + "-" + asked.from + "-" +
                                                      asked.to + ".html\"");
    return a;
  }

  static Answer csv_answer(std::string body, std::string_view filename) {
    Answer a{200, "text/csv; charset=utf-8", std::move(body), {}};
    a.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"" + std::string(filename) + "\"");
    return a;
  }

  // --- crisis mode ------------------------------------------------------------------------

  static json::object crisis_json(const store::CrisisRecord& r, const date::time_zone* zone) {
    const policy::Crisis& c = r.crisis;
    json::array categories;
    for (int i = 0; i < policy::kCategoryCount; ++i) {
      if (c.covers(static_cast<policy::Category>(i)))
        categories.emplace_back(policy::to_string(static_cast<policy::Category>(i)));
    }
    json::object o;
    o["id"] = c.id;
    o["uai"] = c.uai;
    o["reason"] = c.reason;
    o["categories"] = std::move(categories);
    o["release_held"] = c.release_held;
    o["opened_at"] = policy::format_rfc3339(c.opened, zone);
    o["opened_by"] = c.by;
    o["until"] = policy::format_rfc3339(c.until, zone);
    o["open"] = r.open();
    o["closed_at"] =
        r.closed_at ? json::value(policy::format_rfc3339(*r.closed_at, zone)) : json::value();
    o["closed_by"] = r.open() ? json::value() : json::value(r.closed_by);
    return o;
  }

  // The crisis id of a path …/crises/{id}/…; 0 when it is not a positive number.
  static std::int64_t crisis_id(const http::Request& req) {
    const std::string_view target(req.target().data(), req.target().size());
    const auto segments = split_path(target.substr(0, target.find('?')));
    std::int64_t id = 0;
    if (segments.size() < 2)
      return 0;
    const std::string_view text = segments[segments.size() - 2];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    return ec == std::errc{} && end == text.data() + text.size() && id > 0 ? id : 0;
  }

  // A crisis's end: an RFC 3339 instant after now and at most 72 h ahead; the 400 otherwise.
  static std::expected<policy::Instant, Answer> crisis_until(const json::object& o,
                                                             policy::Instant now) {
    const json::value* v = o.if_contains("until");
    if (!v || !v->is_string()) {
      return std::unexpected(problem(400, "invalid-field", "Invalid field",
                                     "\"until\" must be the crisis's end, an RFC 3339 instant",
                                     {{"pointer", "/until"}}));
    }
    auto until = policy::parse_rfc3339(std::string(v->as_string()));
    if (!until) {
      return std::unexpected(
          problem(400, "invalid-field", "Invalid field", until.error(), {{"pointer", "/until"}}));
    }
    if (*until <= now) {
      return std::unexpected(problem(400, "invalid-field", "Invalid field",
                                     "\"until\" must be in the future", {{"pointer", "/until"}}));
    }
    if (*until > now + runtime::kMaxCrisisAhead) {
      return std::unexpected(problem(400, "invalid-field", "Invalid field",
                                     "a crisis ends at most 72 hours ahead; extend it later if "
                                     "needed",
                                     {{"pointer", "/until"}}));
    }
    return *until;
  }

  std::optional<Answer> no_crises() {
    if (deps.crises)
      return std::nullopt;
    return problem(503, "unavailable", "Unavailable", "crisis mode is not available here");
  }

  // The crisis `id` of the call's establishment as it is now (after a change), as answered.
  Answer crisis_answer(const Call& call, std::int64_t id, int status, json::object extra = {}) {
    auto list = deps.crises->list(call.uai->code);
    if (!list)
      return store_failed(list.error());
    const date::time_zone* zone = deps.holder.get()->policy->find(*call.uai).zone();
    for (const auto& r : *list) {
      if (r.crisis.id != id)
        continue;
      json::object o = crisis_json(r, zone);
      for (auto& [k, v] : extra)
        o[k] = v;
      return json_answer(status, o);
    }
    return problem(404, "not-found", "Not found", "no such crisis");
  }

  Answer crisis_failed(const runtime::Crises::Outcome& out, const std::string& uai,
                       std::int64_t id) {
    using S = runtime::Crises::Outcome::Status;
    switch (out.status) {
      case S::done:
        break;
      case S::already_open:
        return problem(409, "crisis-open", "A crisis is open",
                       "establishment " + uai + " already has an open crisis (" +
                           std::to_string(out.id) + "): extend or close it",
                       {{"crisis", out.id}});
      case S::unknown:
        return problem(404, "not-found", "Not found",
                       "establishment " + uai + " has no crisis " + std::to_string(id));
      case S::closed:
        return problem(409, "crisis-closed", "The crisis is closed",
                       "crisis " + std::to_string(id) + " is closed already", {{"crisis", id}});
      case S::not_later:
        return problem(400, "invalid-field", "Invalid field",
                       "\"until\" must be later than the crisis's current end",
                       {{"pointer", "/until"}});
      case S::unavailable:
        break;
    }
    return problem(503, "unavailable", "Unavailable",
                   "the change could not be written or applied; retry later");
  }

  Answer crises(const Call& call) {
    if (auto none = no_crises())
      return *none;
    auto list = deps.crises->list(call.uai->code);
    if (!list)
      return store_failed(list.error());
    const date::time_zone* zone = deps.holder.get()->policy->find(*call.uai).zone();
    json::array out;
    for (const auto& r : *list)
      out.push_back(crisis_json(r, zone));
    return json_answer(200, out);
  }

  Answer open_crisis(const Call& call) {
    if (auto none = no_crises())
      return *none;
    auto body = body_of(call.req);
    if (body.error)
      return *body.error;
    const json::object& o = body.object;
    static constexpr std::array<std::string_view, 4> kKeys = {"reason", "categories", "until",
                                                              "release_held"};
    if (auto unknown = unknown_key(o, kKeys))
      return *unknown;
    store::NewCrisis c;
    c.uai = call.uai->code;
    c.by = call.admin.name;
    const json::value* reason = o.if_contains("reason");
    if (!reason || !reason->is_string() ||
        std::string_view(reason->as_string()).find_first_not_of(" \t\r\n") ==
            std::string_view::npos) {
      return problem(400, "invalid-field", "Invalid field",
                     "\"reason\" must say why the crisis is opened", {{"pointer", "/reason"}});
    }
    if (characters(reason->as_string()) > kMaxComment) {
      return problem(400, "invalid-field", "Invalid field",
                     "\"reason\" is at most " + std::to_string(kMaxComment) + " characters",
                     {{"pointer", "/reason"}});
    }
    c.reason = std::string(reason->as_string());
    c.categories = static_cast<std::uint16_t>((1u << policy::kCategoryCount) - 1);
    if (const json::value* cats = o.if_contains("categories"); cats && !cats->is_null()) {
      if (!cats->is_array() || cats->as_array().empty()) {
        return problem(400, "invalid-field", "Invalid field",
                       "\"categories\" must be a non-empty array of categories (absent: all)",
                       {{"pointer", "/categories"}});
      }
      c.categories = 0;
      const json::array& list = cats->as_array();
      for (std::size_t i = 0; i < list.size(); ++i) {
        auto cat = list[i].is_string() ? policy::parse_category(list[i].as_string())
                                       : std::optional<policy::Category>{};
        if (!cat) {
          return problem(400, "invalid-field", "Invalid field", "unknown category",
                         {{"pointer", "/categories/" + std::to_string(i)}});
        }
        c.categories |= static_cast<std::uint16_t>(1u << static_cast<unsigned>(*cat));
      }
    }
    if (const json::value* r = o.if_contains("release_held"); r && !r->is_null()) {
      if (!r->is_bool()) {
        return problem(400, "invalid-field", "Invalid field", "must be true or false",
                       {{"pointer", "/release_held"}});
      }
      c.release_held = r->as_bool();
    }
    auto until = crisis_until(o, deps.clock.now());
    if (!until)
      return until.error();
    c.until = *until;
    const auto out = deps.crises->open(c);
    if (out.status != runtime::Crises::Outcome::Status::done)
      return crisis_failed(out, call.uai->code, 0);
    return crisis_answer(call, out.id, 201, {{"replanned", out.replanned}});
  }

  Answer extend_crisis(const Call& call) {
    if (auto none = no_crises())
      return *none;
    const std::int64_t id = crisis_id(call.req);
    if (!id)
      return problem(404, "not-found", "Not found", "no such crisis");
    auto body = body_of(call.req);
    if (body.error)
      return *body.error;
    static constexpr std::array<std::string_view, 1> kKeys = {"until"};
    if (auto unknown = unknown_key(body.object, kKeys))
      return *unknown;
    auto until = crisis_until(body.object, deps.clock.now());
    if (!until)
      return until.error();
    const auto out = deps.crises->extend(call.uai->code, id, *until, call.admin.name);
    if (out.status != runtime::Crises::Outcome::Status::done)
      return crisis_failed(out, call.uai->code, id);
    return crisis_answer(call, id, 200);
  }

  Answer close_crisis(const Call& call) {
    if (auto none = no_crises())
      return *none;
    const std::int64_t id = crisis_id(call.req);
    if (!id)
      return problem(404, "not-found", "Not found", "no such crisis");
    if (!call.req.body().empty()) {
      auto body = body_of(call.req);
      if (body.error)
        return *body.error;
      if (auto unknown = unknown_key(body.object, {}))
        return *unknown;
    }
    const auto out = deps.crises->close(call.uai->code, id, call.admin.name);
    if (out.status != runtime::Crises::Outcome::Status::done)
      return crisis_failed(out, call.uai->code, id);
    return crisis_answer(call, id, 200);
  }

  // --- routing ----------------------------------------------------------------------------

  // Where a route's establishment comes from.
  enum class Establishment {
    none,
    in_path,           // the {uai} segment
    in_query,          // ?establishment=UAI, optional
    required_in_query  // ?establishment=UAI
  };

  struct Route {
    bhttp::verb method;
    std::string_view pattern;  // the path under /v1/admin/; {uai} is an establishment
    Establishment establishment;
    bool admin_only;  // auditors are refused, with `refusal` as the reason
    std::string_view refusal;
    Answer (Impl::*handler)(const Call&);
  };

  // Every endpoint of the API (docs/admin-api.md), in the order of the Allow header.
  static std::span<const Route> routes() {
    using E = Establishment;
    using V = bhttp::verb;
    static constexpr std::string_view kMayNotChange = "an auditor may not change a policy";
    static constexpr std::string_view kMayNotSeeDead =
        "an auditor may not see or replay dead letters";
    static constexpr std::string_view kMayNotCrisis = "an auditor may not open or close a crisis";
    static const std::array<Route, 18> kRoutes = {{
        {V::get, "me", E::none, false, {}, &Impl::me},
        {V::get, "establishments/{uai}/policy", E::in_path, false, {}, &Impl::get_policy},
        {V::put, "establishments/{uai}/policy", E::in_path, true, kMayNotChange, &Impl::put_policy},
        {V::get, "establishments/{uai}/versions", E::in_path, false, {}, &Impl::versions},
        {V::post, "establishments/{uai}/rollback", E::in_path, true, kMayNotChange,
         &Impl::rollback},
        {V::post, "establishments/{uai}/preview", E::in_path, false, {}, &Impl::preview},
        {V::post, "establishments/{uai}/ics", E::in_path, true, kMayNotChange, &Impl::ics},
        {V::get, "establishments/{uai}/crises", E::in_path, false, {}, &Impl::crises},
        {V::post, "establishments/{uai}/crises", E::in_path, true, kMayNotCrisis,
         &Impl::open_crisis},
        {V::post, "establishments/{uai}/crises/{id}/extend", E::in_path, true, kMayNotCrisis,
         &Impl::extend_crisis},
        {V::post, "establishments/{uai}/crises/{id}/close", E::in_path, true, kMayNotCrisis,
         &Impl::close_crisis},
        {V::get, "queue", E::required_in_query, false, {}, &Impl::queue},
        {V::get, "dead-letters", E::in_query, true, kMayNotSeeDead, &Impl::dead_letters},
        {V::post, "dead-letters/replay", E::none, true, kMayNotSeeDead, &Impl::replay},
        {V::get, "events", E::none, false, {}, &Impl::event},
        {V::get, "audit", E::in_query, false, {}, &Impl::audit_records},
        {V::get, "stats", E::in_query, false, {}, &Impl::audit_stats},
        {V::get, "report", E::required_in_query, false, {}, &Impl::report},
    }};
    return kRoutes;
  }

  // The admin or auditor whose token `req` carries, or the 401 to answer (logged as
  // `admin.unauthorized`): the same for /v1/admin/ and /metrics.
  std::expected<const config::Admin*, Answer> sign_in(const http::Client& client,
                                                      const http::Request& req,
                                                      const config::Config& config,
                                                      std::string_view path) {
    const auto login =
        http::find_bearer(req, config.admins, "the token matches no [[admins]] entry",
                          "the token matches no [[admins]] entry");
    if (!login.holder) {
      spdlog::warn("event=admin.unauthorized client={} method={} path={} reason={}",
                   core::log_quote(client.address), core::log_quote(req.method_string()),
                   core::log_quote(path), core::log_quote(login.failure));
      return std::unexpected(
          problem(401, "unauthorized", "Unauthorized", std::string(login.detail)));
    }
    const config::Admin& admin = *login.holder;
    // Bound to a client certificate: the token alone is not enough. Refused like any access
    // beyond an admin's rights: audited (access_refused) before the answer.
    if (!admin.tls_client_name.empty() && !client.certificate_gives(admin.tls_client_name)) {
      const bool none = client.certificate_names.empty();
      spdlog::warn(
          "event=admin.certificate_refused client={} admin={} method={} path={} certificate={}",
          core::log_quote(client.address), core::log_quote(admin.name),
          core::log_quote(req.method_string()), core::log_quote(path), none ? "none" : "another");
      const std::string reason = "\"" + admin.name +
                                 "\" signs in only over TLS with a client certificate naming \"" +
                                 admin.tls_client_name + "\"; this connection's " +
                                 (none ? "has no client certificate" : "names another");
      if (auto failed = audit_refusal(admin, req, "", reason))
        return std::unexpected(std::move(*failed));
      return std::unexpected(problem(403, "certificate-refused", "Forbidden", reason));
    }
    return login.holder;
  }

  // The checks, in this order, each answering at once: the token (401); the path (404); the
  // path's UAI (404) and scope (403); the method (405); the query (400), its UAI (400); the
  // role (403); the query's UAI's scope (403). Then the route's handler.
  Answer dispatch(const http::Client& client, const http::Request& req) {
    const std::string_view target(req.target().data(), req.target().size());
    const std::size_t mark = target.find('?');
    const std::string_view path = target.substr(0, mark);
    if (path == kMetricsPath)
      return metrics(client, req);
    if (!path.starts_with(kPrefix))
      return page(req, path);
    auto config = deps.holder.get();
    auto signed_in = sign_in(client, req, *config, path);
    if (!signed_in)
      return std::move(signed_in.error());
    const config::Admin& admin = **signed_in;

    const auto segments = split_path(path.substr(kPrefix.size()));
    std::vector<const Route*> matching;
    std::string_view uai_segment;
    for (const Route& r : routes()) {
      if (matches(r.pattern, segments, uai_segment))
        matching.push_back(&r);
    }
    if (matching.empty())
      return problem(404, "not-found", "Not found", "no such resource under /v1/admin/");

    std::optional<policy::Uai> uai;
    if (matching.front()->establishment == Establishment::in_path) {
      auto parsed = policy::parse_uai(uai_segment);
      if (!parsed)
        return problem(404, "not-found", "Not found", "not an establishment: " + parsed.error());
      if (!admin.in_scope(parsed->code))
        return refuse(admin, req, parsed->code,
                      "establishment " + parsed->code + " is not in scope");
      uai = std::move(*parsed);
    }

    const auto route = std::find_if(matching.begin(), matching.end(),
                                    [&](const Route* r) { return r->method == req.method(); });
    if (route == matching.end()) {
      std::string allow;
      for (const Route* r : matching)
        allow += (allow.empty() ? "" : ", ") + std::string(bhttp::to_string(r->method));
      Answer a = problem(405, "method-not-allowed", "Method not allowed", "allowed: " + allow);
      a.headers.emplace_back("Allow", allow);
      return a;
    }
    const Route& r = **route;

    auto query = Query::parse(mark == std::string_view::npos ? "" : target.substr(mark + 1));
    if (!query)
      return problem(400, "invalid-query", "Invalid query", query.error());
    const bool from_query = r.establishment == Establishment::in_query ||
                            r.establishment == Establishment::required_in_query;
    if (from_query) {
      const std::string e = query->get("establishment");
      if (e.empty() && r.establishment == Establishment::required_in_query)
        return problem(400, "invalid-query", "Invalid query", "establishment=UAI is required");
      if (!e.empty()) {
        auto parsed = policy::parse_uai(e);
        if (!parsed)
          return problem(400, "invalid-query", "Invalid query", "establishment: " + parsed.error());
        uai = std::move(*parsed);
      }
    }

    if (r.admin_only && admin.role != config::Admin::Role::admin)
      return refuse(admin, req, uai ? uai->code : std::string(), std::string(r.refusal));
    if (from_query && uai && !admin.in_scope(uai->code))
      return refuse(admin, req, uai->code, "establishment " + uai->code + " is not in scope");
    return (this->*r.handler)(Call{req, admin, *config, *query, uai ? &*uai : nullptr});
  }

  // GET /metrics: any admin's or auditor's token (as under /v1/admin/); the series of an
  // establishment out of the admin's scope are left out, those of no establishment shown.
  Answer metrics(const http::Client& client, const http::Request& req) {
    if (!deps.metrics)
      return problem(404, "not-found", "Not found", "no metrics in this daemon");
    auto config = deps.holder.get();
    auto signed_in = sign_in(client, req, *config, kMetricsPath);
    if (!signed_in)
      return std::move(signed_in.error());
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      Answer a = problem(405, "method-not-allowed", "Method not allowed", "allowed: GET");
      a.headers.emplace_back("Allow", "GET");
      return a;
    }
    const config::Admin& admin = **signed_in;
    // Open crises, from the configuration in force (an establishment seen once stays, at 0).
    {
      const policy::Instant now = deps.clock.now();
      std::map<std::string, double> open;
      for (const auto& uai : crisis_series_)
        open[uai] = 0;
      for (const policy::Crisis& c : config->policy->crises()) {
        if (c.open_at(now))
          open[c.uai] += 1;
      }
      for (const auto& [uai, n] : open) {
        deps.metrics->crises_open.with({uai}).set(n);
        crisis_series_.insert(uai);
      }
    }
    core::metrics::LabelFilter filter;
    if (!admin.every_establishment) {
      filter = [&admin](std::string_view label, std::string_view value) {
        return label != "establishment" || admin.in_scope(value);
      };
    }
    return {
        200, "text/plain; version=0.0.4; charset=utf-8", deps.metrics->registry.render(filter), {}};
  }

  // The page's files, outside /v1/admin/: no token.
  static Answer page(const http::Request& req, std::string_view path) {
    const auto method = req.method();
    if (method != bhttp::verb::get && method != bhttp::verb::head)
      return problem(405, "method-not-allowed", "Method not allowed", "use GET");
    if (path == "/favicon.ico")  // browsers ask; the page declares none
      return {204, "image/x-icon", {}, {}};
    const Asset* asset = find_asset(path);
    if (!asset)
      return problem(404, "not-found", "Not found", "no such page");
    Answer a{200, std::string(asset->content_type), std::string(asset->body), {}};
    // The report to the CA is opened from the page as a document of its own (a blob: URL that
    // inherits this policy): its one <style> element is allowed by its hash.
    a.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; style-src 'self' " + report_style_source() +
                               "; frame-ancestors 'none'; base-uri 'none'");
    return a;
  }

  Answer me(const Call& call) {
    const config::Admin& admin = call.admin;
    const config::Config& config = call.config;
    json::object o;
    o["name"] = admin.name;
    o["role"] = config::to_string(admin.role);
    o["scope"] = admin.every_establishment ? json::value("*") : json::value_from(admin.scope);
    json::array list;
    std::vector<std::pair<std::string, std::string>> known;
    for (const auto& uai : config.file_establishments)
      known.emplace_back(uai, "file");
    for (const auto& p : config.api_policies)
      known.emplace_back(p.uai, "api");
    for (const auto& uai : admin.scope) {
      if (std::none_of(known.begin(), known.end(), [&](const auto& k) { return k.first == uai; }))
        known.emplace_back(uai, "defaults");
    }
    std::sort(known.begin(), known.end());
    for (const auto& [uai, by] : known) {
      if (admin.in_scope(uai))
        list.push_back(json::object{{"uai", uai}, {"managed_by", by}});
    }
    o["establishments"] = std::move(list);
    return json_answer(200, o);
  }
};

AdminApi::AdminApi(Deps deps) : impl_(std::make_unique<Impl>(std::move(deps))) {}

AdminApi::~AdminApi() = default;

void AdminApi::handle(const http::Client& client, http::Request&& req, http::Respond respond) {
  const unsigned version = req.version();
  auto shared_req = std::make_shared<http::Request>(std::move(req));
  auto shared_respond = std::make_shared<http::Respond>(std::move(respond));
  // (For HEAD the server sends the headers of this answer, Content-Length included, without
  // its body.)
  auto to_response = [version](Answer a) -> http::Reply {
    http::Response res{static_cast<bhttp::status>(a.status), version};
    res.set(bhttp::field::content_type, a.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : a.headers)
      res.set(k, v);
    if (a.next)
      return http::Reply(std::move(res), std::move(a.next));
    res.body() = std::move(a.body);
    res.prepare_payload();
    return res;
  };
  Impl* impl = impl_.get();
  const bool queued = impl->submit([impl, client, shared_req, shared_respond, to_response] {
    Answer a;
    try {
      a = impl->dispatch(client, *shared_req);
    } catch (const std::exception& e) {
      spdlog::error("event=admin.failed error={}", core::log_quote(e.what()));
      a = problem(500, "internal-error", "Internal error",
                  "the operator has the details in the log");
    }
    if (a.later) {
      a.later([shared_respond, to_response](Answer later) {
        (*shared_respond)(to_response(std::move(later)));
      });
      return;
    }
    (*shared_respond)(to_response(std::move(a)));
  });
  if (!queued) {
    (*shared_respond)(to_response(
        problem(503, "overloaded", "Overloaded", "too many admin requests are waiting")));
  }
}

}  // namespace treve::admin
