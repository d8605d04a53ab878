#include "adapters/outbound/fcm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace treve::adapters {
namespace json = boost::json;

namespace {

std::string_view text_of(const json::value* v) {
  if (v == nullptr || !v->is_string())
    return {};
  const json::string& s = v->get_string();
  return {s.data(), s.size()};
}

void append_json_string(std::string& out, std::string_view s) {
  out += json::serialize(json::string_view(s.data(), s.size()));
}

bool http_url(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://");
}

// The length of the longest prefix of `s` of at most `max` bytes that ends at a character
// boundary (never inside a UTF-8 sequence).
std::size_t utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max)
    return s.size();
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  return n;
}

std::string cut_title(std::string_view title) {
  if (title.size() <= kFcmMaxTitle)
    return std::string(title);
  constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // …
  std::string out(title.substr(0, utf8_prefix(title, kFcmMaxTitle - kEllipsis.size())));
  out += kEllipsis;
  return out;
}

// A link the app may open: http(s), bounded, no white space nor control character.
bool acceptable_link(std::string_view link) {
  return http_url(link) && link.size() <= kFcmMaxLink &&
         std::none_of(link.begin(), link.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u <= 0x20 || u == 0x7F;
         });
}

std::size_t data_size(const std::vector<std::pair<std::string, std::string>>& data) {
  std::size_t n = 0;
  for (const auto& [k, v] : data)
    n += k.size() + v.size();
  return n;
}

// An error code as OAuth (invalid_grant) and Google's APIs (NOT_FOUND, UNREGISTERED) write
// them: letters and '_' only, at most 40; anything else contributes nothing to a reason.
std::string code_text(std::string_view s) {
  const bool code = !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  });
  return code ? std::string(s) : std::string();
}

// Printable ASCII, at most `max` bytes: a description quoted from an answer.
std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max)
      break;
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return out;
}

struct Category {
  std::string_view name;
  std::string_view title;
  std::string_view section;
};

// The French a parent reads on the lock screen: a title when the connector sent none, and the
// ENT's section the notification comes from.
constexpr std::array<Category, 9> kCategories{{
    {"message", "Nouveau message", "Messagerie"},
    {"grade", "Nouvelle note", "Notes"},
    {"homework", "Nouveau travail à faire", "Cahier de textes"},
    {"blog", "Nouveau billet de blog", "Blog"},
    {"news", "Nouvelle actualité", "Actualités"},
    {"schedule", "Emploi du temps modifié", "Emploi du temps"},
    {"absence", "Absence ou retard signalé", "Vie scolaire"},
    {"alert", "Alerte de l'établissement", "Alerte"},
    {"other", "Nouvelle notification", "ENT"},
}};

const Category* category_of(std::string_view name) {
  for (const Category& c : kCategories) {
    if (c.name == name)
      return &c;
  }
  return nullptr;
}

}  // namespace

std::expected<ServiceAccount, std::string> parse_service_account(std::string_view json_text) {
  boost::system::error_code ec;
  const json::value v = json::parse(json_text, ec);
  if (ec || !v.is_object())
    return std::unexpected(std::string("the service account key is not a JSON object"));
  const json::object& o = v.get_object();
  if (const json::value* type = o.if_contains("type");
      type != nullptr && text_of(type) != "service_account") {
    return std::unexpected(
        std::string("\"type\" is not \"service_account\" (a key of another kind of account)"));
  }
  ServiceAccount account;
  const std::string_view email = text_of(o.if_contains("client_email"));
  if (email.empty())
    return std::unexpected(std::string("\"client_email\" is missing or not a string"));
  if (email.find('@') == std::string_view::npos || email.size() > 320 ||
      std::any_of(email.begin(), email.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; })) {
    return std::unexpected(std::string("\"client_email\" is not an e-mail address"));
  }
  account.client_email = std::string(email);

  const json::value* key = o.if_contains("private_key");
  if (key == nullptr || !key->is_string() || key->get_string().empty())
    return std::unexpected(std::string("\"private_key\" is missing or not a string"));
  auto signer = JwtSigner::from_pem(JwtAlgorithm::rs256, text_of(key));
  if (!signer)
    return std::unexpected("\"private_key\" cannot sign RS256: " + signer.error());
  account.signer = std::move(*signer);

  if (const json::value* id = o.if_contains("private_key_id"); id != nullptr) {
    if (!id->is_string())
      return std::unexpected(std::string("\"private_key_id\" is not a string"));
    account.private_key_id = std::string(text_of(id));
  }
  if (const json::value* uri = o.if_contains("token_uri"); uri != nullptr) {
    const std::string_view u = text_of(uri);
    if (!http_url(u) || u.size() <= 8 || u.size() > 2048)
      return std::unexpected(std::string("\"token_uri\" is not an http(s) URL"));
    account.token_uri = std::string(u);
  }
  if (const json::value* project = o.if_contains("project_id"); project != nullptr)
    account.project_id = std::string(text_of(project));
  return account;
}

std::expected<std::string, std::string> service_account_assertion(const ServiceAccount& account,
                                                                  std::int64_t unix_seconds) {
  if (!account.signer)
    return std::unexpected(std::string("the service account has no usable private key"));
  return account.signer->sign(
      service_account_claims(account.client_email, unix_seconds, kFcmScope, account.token_uri),
      account.private_key_id);
}

std::string token_request_body(std::string_view assertion) {
  std::string body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
  // A JWT is base64url and dots: nothing to encode, but a stray character would be.
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : assertion) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.') {
      body += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      body += '%';
      body += kHex[u >> 4];
      body += kHex[u & 0xF];
    }
  }
  return body;
}

std::expected<AccessToken, std::string> parse_token_response(std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return std::unexpected(std::string("the token endpoint's answer is not a JSON object"));
  const json::object& o = v.get_object();
  AccessToken token;
  token.token = std::string(text_of(o.if_contains("access_token")));
  if (token.token.empty())
    return std::unexpected(std::string("the token endpoint's answer has no \"access_token\""));
  if (std::any_of(token.token.begin(), token.token.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; })) {
    return std::unexpected(
        std::string("the token endpoint's \"access_token\" is not fit for a header"));
  }
  const json::value* expires = o.if_contains("expires_in");
  double seconds = 0;
  if (expires != nullptr && expires->is_number())
    seconds = expires->to_number<double>();
  else if (expires != nullptr && expires->is_string())  // some servers quote it
    seconds = std::atof(std::string(text_of(expires)).c_str());
  if (!(seconds >= 1) || !std::isfinite(seconds)) {
    return std::unexpected(
        std::string("the token endpoint's answer has no positive \"expires_in\""));
  }
  token.expires_in = static_cast<std::int64_t>(std::min(seconds, 366.0 * 86'400));
  if (const json::value* type = o.if_contains("token_type"); type != nullptr) {
    const std::string_view t = text_of(type);
    const bool bearer =
        t.size() == 6 && std::equal(t.begin(), t.end(), "bearer", [](char a, char b) {
          return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b;
        });
    if (!bearer)
      return std::unexpected(std::string("the token endpoint's \"token_type\" is not Bearer"));
  }
  return token;
}

std::string token_failure(int status, std::string_view body, std::string_view transport_error) {
  if (status == 0)
    return "token endpoint: no answer (" + printable(transport_error, 160) + ")";
  std::string out = "token endpoint: " + std::to_string(status);
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const json::object& o = v.get_object();
    // OAuth 2.0's {"error": "invalid_grant", …}; Google's APIs' {"error": {"status": …}}.
    std::string code = code_text(text_of(o.if_contains("error")));
    if (const json::value* e = o.if_contains("error"); e != nullptr && e->is_object())
      code = code_text(text_of(e->get_object().if_contains("status")));
    if (!code.empty())
      out += " " + code;
    // A description that quotes a JWT (base64url of '{"') is not repeated.
    if (const std::string_view d = text_of(o.if_contains("error_description"));
        !d.empty() && d.find("eyJ") == std::string_view::npos) {
      out += " (" + printable(d, 160) + ")";
    }
  }
  return out;
}

std::string fcm_send_url(std::string_view endpoint, std::string_view project_id) {
  while (endpoint.ends_with('/'))
    endpoint.remove_suffix(1);
  std::string url(endpoint);
  url += "/v1/projects/";
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : project_id) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      url += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      url += '%';
      url += kHex[u >> 4];
      url += kHex[u & 0xF];
    }
  }
  url += "/messages:send";
  return url;
}

std::string_view fcm_fallback_title(std::string_view category) {
  const Category* c = category_of(category);
  return c != nullptr ? c->title : category_of("other")->title;
}

std::string_view fcm_section(std::string_view category) {
  const Category* c = category_of(category);
  return c != nullptr ? c->section : category_of("other")->section;
}

FcmContent fcm_content(const OutboundDelivery& d) {
  std::string_view title;
  std::string_view link;
  boost::system::error_code ec;
  const json::value event = json::parse(d.event_body, ec);
  if (!ec && event.is_object()) {
    const json::object& o = event.get_object();
    title = text_of(o.if_contains("title"));
    if (const json::value* payload = o.if_contains("payload");
        payload != nullptr && payload->is_object()) {
      const json::object& p = payload->get_object();
      for (const char* name : {"link", "url"}) {
        const std::string_view candidate = text_of(p.if_contains(name));
        if (!candidate.empty()) {
          link = candidate;
          break;
        }
      }
    }
  }
  FcmContent content;
  content.urgent = d.urgent;
  content.title = title.empty() ? std::string(fcm_fallback_title(d.category)) : cut_title(title);
  content.body = std::string(fcm_section(d.category));
  content.body += " · établissement ";
  content.body += d.establishment;
  content.data = {{"delivery_id", std::string(d.delivery_id)},
                  {"source", std::string(d.source)},
                  {"id", std::string(d.event_id)},
                  {"establishment", std::string(d.establishment)},
                  {"category", std::string(d.category)},
                  {"released_at", std::string(d.released_at)}};
  if (acceptable_link(link) && data_size(content.data) + 4 + link.size() <= kFcmMaxData)
    content.data.emplace_back("link", std::string(link));
  return content;
}

FcmContent fcm_digest_content(std::span<const OutboundDelivery> batch, std::string_view id,
                              std::string_view title, std::string_view body) {
  FcmContent content;
  content.title = cut_title(title);
  content.body = cut_title(body);
  content.data = {{"delivery_id", std::string(id)},
                  {"digest", "true"},
                  {"count", std::to_string(batch.size())}};
  if (!batch.empty()) {
    const bool one_school = std::all_of(batch.begin(), batch.end(), [&](const OutboundDelivery& d) {
      return d.establishment == batch.front().establishment;
    });
    if (one_school)
      content.data.emplace_back("establishment", std::string(batch.front().establishment));
    content.data.emplace_back("released_at", std::string(batch.back().released_at));
  }
  return content;
}

std::string fcm_message(std::string_view device_token, const FcmContent& content) {
  std::string out;
  out.reserve(256 + device_token.size() + content.title.size() + content.body.size() +
              data_size(content.data) + 8 * content.data.size());
  out += R"({"message":{"token":)";
  append_json_string(out, device_token);
  out += R"(,"notification":{"title":)";
  append_json_string(out, content.title);
  out += R"(,"body":)";
  append_json_string(out, content.body);
  out += R"(},"data":{)";
  bool first = true;
  for (const auto& [key, value] : content.data) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  }
  out += content.urgent
             ? R"(},"android":{"priority":"high"},"apns":{"headers":{"apns-priority":"10"}}}})"
             : R"(},"android":{"priority":"normal"},"apns":{"headers":{"apns-priority":"5"}}}})";
  return out;
}

FcmAnswer classify_fcm_answer(int status, std::string_view body) {
  FcmAnswer answer;
  if (status >= 200 && status < 300) {
    answer.outcome = FcmOutcome::delivered;
    answer.reason = std::to_string(status);
    return answer;
  }
  if (status == 0) {
    answer.outcome = FcmOutcome::retry;
    answer.reason = "no answer";
    return answer;
  }
  // {"error": {"code", "message", "status", "details": […]}}
  std::string error_status;
  std::string error_code;
  bool about_token = false;
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const json::value* e = v.get_object().if_contains("error");
        e != nullptr && e->is_object()) {
      const json::object& error = e->get_object();
      error_status = code_text(text_of(error.if_contains("status")));
      const std::string_view message = text_of(error.if_contains("message"));
      const json::value* details = error.if_contains("details");
      if (details != nullptr && details->is_array()) {
        for (const json::value& detail : details->get_array()) {
          if (!detail.is_object())
            continue;
          const json::object& d = detail.get_object();
          const std::string_view type = text_of(d.if_contains("@type"));
          if (type.ends_with("google.firebase.fcm.v1.FcmError") && error_code.empty()) {
            error_code = code_text(text_of(d.if_contains("errorCode")));
            if (error_code == "INVALID_ARGUMENT" &&
                message.find("registration token") != std::string_view::npos) {
              about_token = true;
            }
          } else if (type.ends_with("google.rpc.BadRequest")) {
            const json::value* violations = d.if_contains("fieldViolations");
            if (violations != nullptr && violations->is_array()) {
              for (const json::value& violation : violations->get_array()) {
                if (violation.is_object() &&
                    text_of(violation.get_object().if_contains("field")) == "message.token") {
                  about_token = true;
                }
              }
            }
          }
        }
      }
    }
  }
  answer.reason = std::to_string(status);
  if (!error_status.empty())
    answer.reason += " " + error_status;
  if (!error_code.empty() && error_code != error_status)
    answer.reason += " " + error_code;

  if (status == 401) {
    answer.outcome = FcmOutcome::unauthenticated;
  } else if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
    answer.outcome = FcmOutcome::retry;
  } else if ((status == 404 && (error_code == "UNREGISTERED" || error_status == "NOT_FOUND")) ||
             (status == 400 && about_token) ||
             (status == 403 && error_code == "SENDER_ID_MISMATCH")) {
    answer.outcome = FcmOutcome::token_gone;
  } else {
    answer.outcome = FcmOutcome::refused;
  }
  return answer;
}

}  // namespace treve::adapters
