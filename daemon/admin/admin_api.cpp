#include "daemon/admin/admin_api.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "daemon/admin/assets.h"
#include "daemon/admin/french.h"
#include "daemon/audit/report.h"
#include "daemon/audit/trail.h"
#include "daemon/config/ics_calendar.h"
#include "daemon/core/digest.h"
#include "daemon/core/log_text.h"
#include "daemon/http/auth.h"
#include "daemon/store/audit_record.h"
#include "policy/decision.h"
#include "policy/quiet_window.h"
#include "policy/rfc3339.h"
#include "policy/uai.h"

namespace treve::admin {
namespace {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr std::size_t kMaxWaiting = 64;
constexpr std::string_view kPrefix = "/v1/admin/";

// An answer, before it becomes an HTTP response.
struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

Answer json_answer(int status, const json::value& v) {
  return {status, "application/json", json::serialize(v), {}};
}

Answer problem(int status, std::string_view slug, std::string_view title, std::string detail,
               json::object extra = {}) {
  json::object o;
  o["type"] = "urn:treve:problem:" + std::string(slug);
  o["title"] = title;
  o["status"] = status;
  o["detail"] = detail;
  for (auto& [k, v] : extra)
    o[k] = v;
  Answer a{status, "application/problem+json", json::serialize(o), {}};
  if (status == 401)
    a.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"treve-admin\"");
  return a;
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
  const auto mine = week_minutes(r.windows);
  static constexpr std::array<const char*, 7> kDays = {"lundi",    "mardi",  "mercredi", "jeudi",
                                                       "vendredi", "samedi", "dimanche"};
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
    out.push_back("les fenêtres laissent ouvertes " + amount +
                  " par semaine que le défaut national garde en trêve (à partir du " +
                  kDays[at / 1440] + " à " +
                  hhmm(std::chrono::minutes{static_cast<long long>(at % 1440)}) + ")");
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

// The admin whose token this is, its digest compared in constant time with every admin's;
// otherwise why not, for the log, and the 401's detail.
struct Login {
  const config::Admin* admin = nullptr;
  std::string_view failure;
  std::string_view detail;
};

Login authenticate(const config::Config& config, const http::Request& req) {
  auto token = http::bearer_token(req);
  if (!token) {
    return {nullptr, http::to_string(token.error()),
            token.error() == http::AuthFailure::missing
                ? "missing \"Authorization: Bearer <token>\" header"
                : "expected \"Authorization: Bearer <token>\""};
  }
  const std::string digest = core::sha256_hex(*token);
  const config::Admin* found = nullptr;
  for (const auto& a : config.admins) {
    if (core::same_digest(a.token_sha256, digest))
      found = &a;
  }
  if (!found)
    return {nullptr, "the token matches no [[admins]] entry",
            "the token matches no [[admins]] entry"};
  return {found, {}, {}};
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
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

// The query string's parameters (no percent-decoding beyond '+' and %XX).
std::vector<std::pair<std::string, std::string>> query_of(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return out;
  auto decode = [](std::string_view s) {
    std::string r;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        r += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        r += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        r += s[i];
      }
    }
    return r;
  };
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto item = rest.substr(0, amp);
    auto eq = item.find('=');
    try {
      out.emplace_back(decode(item.substr(0, eq)),
                       eq == std::string_view::npos ? "" : decode(item.substr(eq + 1)));
    } catch (const std::exception&) {
    }
    if (amp == std::string_view::npos)
      break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

std::string param(const std::vector<std::pair<std::string, std::string>>& q, std::string_view key) {
  for (const auto& [k, v] : q) {
    if (k == key)
      return v;
  }
  return {};
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

  // --- access -----------------------------------------------------------------------------

  Answer refuse(const config::Admin& admin, const http::Request& req, std::string_view uai,
                std::string reason) {
    store::AccessRefusal r;
    r.admin = admin.name;
    r.role = std::string(config::to_string(admin.role));
    r.method = std::string(req.method_string());
    r.path = std::string(req.target().substr(0, req.target().find('?')));
    r.establishment = std::string(uai);
    r.reason = reason;
    const auto now = deps.clock.now();
    auto written =
        deps.queue.write_and_wait([r, now](store::Store& s) { return s.record_refusal(r, now); });
    if (!written || !*written) {
      spdlog::error(
          "event=admin.refusal_not_audited error={}",
          core::log_quote(written ? written->error().message : "the writer's queue is full"));
    }
    spdlog::warn("event=admin.refused admin={} method={} path={} establishment={} reason={}",
                 core::log_quote(admin.name), core::log_quote(r.method), core::log_quote(r.path),
                 core::log_quote(uai), core::log_quote(reason));
    return problem(403, "forbidden", "Forbidden", std::move(reason));
  }

  // --- the policy ---------------------------------------------------------------------------

  std::optional<store::PolicyVersion> current_version(const std::string& uai,
                                                      std::optional<Answer>& failed) {
    auto versions = deps.store.policy_versions(uai);
    if (!versions) {
      failed = store_failed(versions.error());
      return std::nullopt;
    }
    if (versions->empty())
      return std::nullopt;
    return versions->front();
  }

  Answer get_policy(const config::Admin& admin, const std::string& uai) {
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
    const auto& rules = config->policy->find(*policy::parse_uai(uai)).rules();
    o["effective"] = effective_json(rules);
    o["weaker"] = json::value_from(weaker_than_national(rules));
    return json_answer(200, o);
  }

  // The configuration with `document` as `uai`'s API policy, or the answer saying why not.
  std::expected<std::shared_ptr<const config::Config>, Answer> candidate(
      const config::Config& running, const std::string& uai, const std::string& document) {
    // The other schools' policies as they are in force (one left out at start or reload for
    // no longer validating stays out: it must not block this school's change).
    std::vector<config::ApiPolicy> policies;
    for (const auto& p : running.api_policies) {
      if (p.uai != uai)
        policies.push_back(p);
    }
    policies.push_back({uai, document});
    auto built = runtime::build_in_force(running, policies);
    if (built)
      return *built;
    json::array errors;
    for (const auto& e : built.error()) {
      const std::string pointer = config::policy_pointer(e.key, uai);
      if (pointer.empty())
        continue;
      errors.push_back(json::object{
          {"pointer", pointer}, {"detail", french_error(e.message)}, {"detail_en", e.message}});
    }
    if (errors.empty()) {
      spdlog::error("event=admin.configuration_invalid error={}",
                    core::log_quote(built.error().front().to_string()));
      return std::unexpected(problem(500, "configuration-invalid", "Configuration invalid",
                                     "the configuration in force no longer validates; the "
                                     "operator has the details in the log"));
    }
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
  Answer save(const config::Admin& admin, const std::string& uai, const json::object& policy,
              const std::string& comment, bool confirm_weaker,
              std::optional<std::int64_t> expected_version, std::int64_t rollback_of) {
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
          auto next = candidate(*deps.holder.get(), uai, document);
          if (!next) {
            refused = next.error();
            return nullptr;
          }
          if (expected_version) {
            // A stale edit is said to be one before anything else is asked of the admin.
            auto versions = deps.store.policy_versions(uai);
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
          weaker = weaker_than_national((*next)->policy->find(*policy::parse_uai(uai)).rules());
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

  Answer put_policy(const config::Admin& admin, const std::string& uai, const http::Request& req) {
    auto body = body_of(req);
    if (body.error)
      return *body.error;
    const auto& o = body.object;
    for (const auto& [k, v] : o) {
      if (k != "policy" && k != "comment" && k != "confirm_weaker" && k != "expected_version") {
        return problem(400, "invalid-field", "Invalid field",
                       "unknown key \"" + std::string(k) +
                           "\"; expected policy, comment, confirm_weaker, expected_version",
                       {{"pointer", "/" + std::string(k)}});
      }
    }
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
    return save(admin, uai, policy->as_object(), std::string(comment->as_string()), confirm,
                expected, 0);
  }

  Answer rollback(const config::Admin& admin, const std::string& uai, const http::Request& req) {
    auto body = body_of(req);
    if (body.error)
      return *body.error;
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
    const json::value* c = body.object.if_contains("confirm_weaker");
    const bool confirm = c && c->is_bool() && c->as_bool();
    auto versions = deps.store.policy_versions(uai);
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
      return save(admin, uai, doc.as_object(), std::string(comment->as_string()), confirm, expected,
                  v.version);
    }
    return problem(
        404, "not-found", "Not found",
        "establishment " + uai + " has no version " + std::to_string(version->as_int64()));
  }

  Answer versions(const std::string& uai) {
    auto versions = deps.store.policy_versions(uai);
    if (!versions)
      return store_failed(versions.error());
    const date::time_zone* zone = deps.holder.get()->policy->find(*policy::parse_uai(uai)).zone();
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

  Answer preview(const std::string& uai, const http::Request& req) {
    json::object o;
    if (!req.body().empty()) {
      auto body = body_of(req);
      if (body.error)
        return *body.error;
      o = std::move(body.object);
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
      auto next = candidate(*config, uai, json::serialize(*draft));
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
    auto text_of = [&](const char* key, const char* fallback) {
      const json::value* v = o.if_contains(key);
      return v && v->is_string() ? std::string(v->as_string()) : std::string(fallback);
    };
    auto category = policy::parse_category(text_of("category", "message"));
    auto role = policy::parse_role(text_of("role", "student"));
    if (!category)
      return problem(400, "invalid-field", "Invalid field", "unknown category",
                     {{"pointer", "/category"}});
    if (!role)
      return problem(400, "invalid-field", "Invalid field", "unknown role", {{"pointer", "/role"}});
    const policy::EstablishmentPolicy& p = config->policy->find(*policy::parse_uai(uai));
    policy::Notification n;
    n.establishment = uai;
    n.category = *category;
    n.recipients.push_back({"preview", *role, std::nullopt});
    const auto decisions = policy::decide(p, n, at, false);
    const auto& d = decisions.front();
    json::object out;
    out["at"] = policy::format_rfc3339(at, p.zone());
    out["held"] = d.held;
    out["release_at"] = d.evaluated ? json::value(policy::format_rfc3339(d.release_at, p.zone()))
                                    : json::value(nullptr);
    out["reason"] = policy::describe(p, d);
    out["summary"] = french_summary(p, d, *category, at, now);
    json::array quiet;
    for (const auto& [from, to] :
         p.schedule().quiet_intervals(at, at + std::chrono::hours{24 * 14})) {
      json::object q;
      q["start"] = policy::format_rfc3339(from, p.zone());
      q["end"] = policy::format_rfc3339(to, p.zone());
      q["label"] = french_instant(from, p.zone(), now) + " → " + french_instant(to, p.zone(), now);
      quiet.push_back(std::move(q));
    }
    out["quiet"] = std::move(quiet);
    return json_answer(200, out);
  }

  Answer ics(const http::Request& req) {
    auto imported = config::parse_ics_closed_days(req.body());
    if (!imported) {
      return problem(400, "invalid-calendar", "Invalid calendar", imported.error(),
                     {{"pointer", ""}});
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
    o["warnings"] = json::value_from(imported->warnings);
    return json_answer(200, o);
  }

  // --- the queue and dead letters ---------------------------------------------------------

  Answer queue(const std::string& uai) {
    auto counts = deps.store.held_by_category(uai);
    if (!counts)
      return store_failed(counts.error());
    json::object by;
    std::uint64_t total = 0;
    for (const auto& [c, n] : *counts) {
      by[policy::to_string(c)] = n;
      total += n;
    }
    auto next = deps.store.next_release_of(uai);
    if (!next)
      return store_failed(next.error());
    const date::time_zone* zone = deps.holder.get()->policy->find(*policy::parse_uai(uai)).zone();
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
      auto page = deps.store.list(store::DeliveryState::dead, after, 1000);
      if (!page)
        return std::unexpected(page.error());
      if (!page->empty())
        after = page->back().seq;
      const bool last = page->size() < 1000;
      out.insert(out.end(), std::make_move_iterator(page->begin()),
                 std::make_move_iterator(page->end()));
      if (last)
        return out;
    }
  }

  Answer dead_letters(const config::Admin& admin, const std::string& uai) {
    json::array out;
    auto dead = all_dead();
    if (!dead)
      return store_failed(dead.error());
    {
      for (const auto& d : *dead) {
        if ((!uai.empty() && d.establishment != uai) || !admin.in_scope(d.establishment))
          continue;
        json::object o;
        o["seq"] = d.seq;
        o["source"] = d.source;
        o["event_id"] = d.event_id;
        o["establishment"] = d.establishment;
        o["category"] = policy::to_string(d.category);
        o["role"] = policy::to_string(d.role);
        o["attempts"] = d.attempts;
        o["sink"] = d.sink;
        o["last_error"] = d.last_error;
        o["updated_at"] = policy::format_rfc3339(d.updated_at, store::zone_or_utc(d.timezone));
        out.push_back(std::move(o));
      }
    }
    return json_answer(200, out);
  }

  Answer replay(const config::Admin& admin, const http::Request& req) {
    auto body = body_of(req);
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
      dead[d.seq] = d.establishment;
    std::vector<std::int64_t> wanted;
    const auto& list = seqs->as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string pointer = "/seqs/" + std::to_string(i);
      if (!list[i].is_int64())
        return problem(400, "invalid-field", "Invalid field", "must be a number",
                       {{"pointer", pointer}});
      auto it = dead.find(list[i].as_int64());
      if (it == dead.end()) {
        return problem(404, "not-found", "Not found",
                       "no dead letter " + std::to_string(list[i].as_int64()),
                       {{"pointer", pointer}});
      }
      if (!admin.in_scope(it->second))
        return refuse(admin, req, it->second, "establishment " + it->second + " is not in scope");
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

  // --- audit ------------------------------------------------------------------------------

  Answer audit(const config::Admin& admin, const std::string& target, bool stats) {
    const auto q = query_of(target);
    std::vector<std::string> establishments;
    if (auto e = param(q, "establishment"); !e.empty()) {
      if (!admin.in_scope(e))
        return problem(403, "forbidden", "Forbidden", "establishment " + e + " is not in scope");
      establishments.push_back(e);
    } else if (!admin.every_establishment) {
      establishments = admin.scope;
      if (establishments.empty())
        return json_answer(200, json::array{});
    }
    audit::Period period;
    period.from = param(q, "from");
    period.to = param(q, "to");
    const std::string format = param(q, "format").empty() ? "json" : param(q, "format");
    if (format != "json" && format != "csv")
      return problem(400, "invalid-query", "Invalid query", "format: expected json or csv");
    auto trail = audit::Trail::open(deps.db_path);
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
    if (auto k = param(q, "kind"); !k.empty())
      filter.kinds.push_back(k);
    if (format == "json") {
      if (auto c = param(q, "category"); !c.empty())
        filter.categories.push_back(c);
      filter.newest = 1000;
      if (auto l = param(q, "limit"); !l.empty()) {
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
    std::ostringstream out;
    json::array records;
    if (format == "csv")
      out << audit::kCsvHeader << '\n';
    auto scanned = (*trail)->scan(filter, [&](const store::AuditRecord& r) {
      if (format == "csv")
        audit::write_csv(out, r);
      else
        records.push_back(audit::to_json(r));
      return true;
    });
    if (!scanned)
      return problem(503, "store-unavailable", "Store unavailable", scanned.error());
    if (format == "csv")
      return csv_answer(out.str(), "treve-audit.csv");
    return json_answer(200, records);
  }

  static Answer csv_answer(std::string body, std::string_view filename) {
    Answer a{200, "text/csv; charset=utf-8", std::move(body), {}};
    a.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"" + std::string(filename) + "\"");
    return a;
  }

  // --- routing ----------------------------------------------------------------------------

  Answer process(const http::Client& client, const http::Request& req) {
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    const auto method = req.method();
    if (!path.starts_with(kPrefix)) {
      if (method != bhttp::verb::get && method != bhttp::verb::head)
        return problem(405, "method-not-allowed", "Method not allowed", "use GET");
      if (path == "/favicon.ico")  // browsers ask; the page declares none
        return {204, "image/x-icon", {}, {}};
      const Asset* asset = find_asset(path);
      if (!asset)
        return problem(404, "not-found", "Not found", "no such page");
      Answer a{200, std::string(asset->content_type), std::string(asset->body), {}};
      a.headers.emplace_back("Content-Security-Policy",
                             "default-src 'self'; frame-ancestors 'none'; base-uri 'none'");
      return a;
    }
    auto config = deps.holder.get();
    const Login login = authenticate(*config, req);
    if (!login.admin) {
      spdlog::warn("event=admin.unauthorized client={} method={} path={} reason={}",
                   core::log_quote(client.address), core::log_quote(req.method_string()),
                   core::log_quote(path), core::log_quote(login.failure));
      return problem(401, "unauthorized", "Unauthorized", std::string(login.detail));
    }
    const config::Admin* admin = login.admin;
    const auto parts = split_path(std::string_view(path).substr(kPrefix.size()));
    const bool is_admin = admin->role == config::Admin::Role::admin;
    auto only = [&](bhttp::verb v) { return method == v; };
    auto not_allowed = [&](const char* allow) {
      Answer a = problem(405, "method-not-allowed", "Method not allowed",
                         std::string("allowed: ") + allow);
      a.headers.emplace_back("Allow", allow);
      return a;
    };

    if (parts.size() == 1 && parts[0] == "me") {
      if (!only(bhttp::verb::get))
        return not_allowed("GET");
      return me(*admin, *config);
    }
    if (parts.size() >= 3 && parts[0] == "establishments") {
      auto uai = policy::parse_uai(parts[1]);
      if (!uai) {
        return problem(404, "not-found", "Not found", "not an establishment: " + uai.error());
      }
      const std::string code = uai->code;
      if (!admin->in_scope(code))
        return refuse(*admin, req, code, "establishment " + code + " is not in scope");
      const std::string& what = parts[2];
      if (parts.size() == 3 && what == "policy") {
        if (only(bhttp::verb::get))
          return get_policy(*admin, code);
        if (only(bhttp::verb::put)) {
          if (!is_admin)
            return refuse(*admin, req, code, "an auditor may not change a policy");
          return put_policy(*admin, code, req);
        }
        return not_allowed("GET, PUT");
      }
      if (parts.size() == 3 && what == "versions") {
        if (!only(bhttp::verb::get))
          return not_allowed("GET");
        return versions(code);
      }
      if (parts.size() == 3 && what == "rollback") {
        if (!only(bhttp::verb::post))
          return not_allowed("POST");
        if (!is_admin)
          return refuse(*admin, req, code, "an auditor may not change a policy");
        return rollback(*admin, code, req);
      }
      if (parts.size() == 3 && what == "preview") {
        if (!only(bhttp::verb::post))
          return not_allowed("POST");
        return preview(code, req);
      }
      if (parts.size() == 3 && what == "ics") {
        if (!only(bhttp::verb::post))
          return not_allowed("POST");
        if (!is_admin)
          return refuse(*admin, req, code, "an auditor may not change a policy");
        return ics(req);
      }
    }
    if (parts.size() == 1 && parts[0] == "queue") {
      if (!only(bhttp::verb::get))
        return not_allowed("GET");
      const std::string uai = param(query_of(target), "establishment");
      if (uai.empty()) {
        return problem(400, "invalid-query", "Invalid query", "establishment=UAI is required");
      }
      if (!admin->in_scope(uai))
        return refuse(*admin, req, uai, "establishment " + uai + " is not in scope");
      return queue(uai);
    }
    if (parts.size() >= 1 && parts[0] == "dead-letters") {
      const std::string uai = param(query_of(target), "establishment");
      if (!is_admin)
        return refuse(*admin, req, uai, "an auditor may not see or replay dead letters");
      if (parts.size() == 1) {
        if (!only(bhttp::verb::get))
          return not_allowed("GET");
        if (!uai.empty() && !admin->in_scope(uai))
          return refuse(*admin, req, uai, "establishment " + uai + " is not in scope");
        return dead_letters(*admin, uai);
      }
      if (parts.size() == 2 && parts[1] == "replay") {
        if (!only(bhttp::verb::post))
          return not_allowed("POST");
        return replay(*admin, req);
      }
    }
    if (parts.size() == 1 && (parts[0] == "audit" || parts[0] == "stats")) {
      if (!only(bhttp::verb::get))
        return not_allowed("GET");
      const std::string uai = param(query_of(target), "establishment");
      if (!uai.empty() && !admin->in_scope(uai))
        return refuse(*admin, req, uai, "establishment " + uai + " is not in scope");
      return audit(*admin, target, parts[0] == "stats");
    }
    return problem(404, "not-found", "Not found", "no such resource under /v1/admin/");
  }

  Answer me(const config::Admin& admin, const config::Config& config) {
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
  auto to_response = [version](Answer a) {
    http::Response res{static_cast<bhttp::status>(a.status), version};
    res.set(bhttp::field::content_type, a.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : a.headers)
      res.set(k, v);
    res.body() = std::move(a.body);
    res.prepare_payload();
    return res;
  };
  Impl* impl = impl_.get();
  const bool queued = impl->submit([impl, client, shared_req, shared_respond, to_response] {
    Answer a;
    try {
      a = impl->process(client, *shared_req);
    } catch (const std::exception& e) {
      spdlog::error("event=admin.failed error={}", core::log_quote(e.what()));
      a = problem(500, "internal-error", "Internal error",
                  "the operator has the details in the log");
    }
    (*shared_respond)(to_response(std::move(a)));
  });
  if (!queued) {
    (*shared_respond)(to_response(
        problem(503, "overloaded", "Overloaded", "too many admin requests are waiting")));
  }
}

}  // namespace treve::admin
