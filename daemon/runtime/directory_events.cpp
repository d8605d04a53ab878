#include "daemon/runtime/directory_events.h"

#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "daemon/core/json_text.h"
#include "policy/rfc3339.h"

namespace treve::runtime {
namespace {

namespace json = boost::json;

// Structures a recipient may name beyond the event's establishment (the canonical event's
// limit for `recipients[].establishments`).
constexpr std::size_t kMaxOtherEstablishments = 8;

}  // namespace

PendingEvent pending_from_timeline(const adapters::TimelineEvent& t) {
  PendingEvent p;
  p.id = t.id;
  p.category = t.category;
  p.urgent = t.urgent;
  p.users = t.recipients;
  // The document without its layout: the same notification sent again, pretty-printed or not,
  // is a repeat.
  p.identity = core::json_without_layout(t.payload_json);
  std::string& b = p.body;
  b.reserve(128 + t.title.size() + t.payload_json.size());
  b += R"({"id":)";
  core::append_json_string(b, t.id);
  b += R"(,"category":)";
  core::append_json_string(b, policy::to_string(t.category));
  b += t.urgent ? R"(,"urgent":true)" : R"(,"urgent":false)";
  b += R"(,"title":)";
  core::append_json_string(b, t.title);
  b += R"(,"created_at":)";
  static const date::time_zone* const utc = date::locate_zone("UTC");
  core::append_json_string(b, policy::format_rfc3339(t.created_at, utc));
  b += R"(,"payload":)";
  b += t.payload_json;
  b += '}';
  return p;
}

PendingEvent pending_from_cloudevent(const adapters::InboundCloudEvent& ce) {
  PendingEvent p;
  p.id = ce.event.notification.id;
  p.category = ce.event.notification.category;
  p.urgent = ce.event.notification.urgent;
  p.body = ce.body;
  p.identity = ce.fingerprint;
  p.users = ce.users;
  return p;
}

std::expected<ResolvedRecipients, std::string> resolve_recipients(
    std::span<const std::string> users, std::span<const directory::UserAnswer> answers) {
  if (answers.size() != users.size())
    return std::unexpected("the directory gave " + std::to_string(answers.size()) +
                           " answers for " + std::to_string(users.size()) + " users");
  for (const auto& a : answers) {
    if (a.status == directory::UserAnswer::Status::failed)
      return std::unexpected(a.error.empty() ? std::string("the lookup failed") : a.error);
  }
  ResolvedRecipients out;
  // The establishment most recipients belong to; the first named wins a tie.
  std::vector<std::pair<std::string, std::size_t>> counts;
  for (const auto& a : answers) {
    if (a.status != directory::UserAnswer::Status::known || !a.user)
      continue;
    for (const std::string& uai : a.user->structures) {
      auto at =
          std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == uai; });
      if (at == counts.end())
        counts.emplace_back(uai, 1);
      else
        ++at->second;
    }
  }
  std::size_t best = 0;
  for (const auto& [uai, n] : counts) {
    if (n > best) {
      best = n;
      out.establishment = uai;
    }
  }
  for (std::size_t i = 0; i < users.size(); ++i) {
    const directory::UserAnswer& a = answers[i];
    if (a.status != directory::UserAnswer::Status::known || !a.user || a.user->structures.empty()) {
      out.unknown.push_back(users[i]);
      continue;
    }
    policy::Recipient r;
    r.id = users[i];
    r.role = a.user->role;
    for (const std::string& uai : a.user->structures) {
      if (uai != out.establishment && r.establishments.size() < kMaxOtherEstablishments)
        r.establishments.push_back(uai);
    }
    out.recipients.push_back(std::move(r));
  }
  // A parent's `of`: the first of their children who is a student recipient of this event.
  for (std::size_t i = 0; i < users.size(); ++i) {
    const directory::UserAnswer& a = answers[i];
    if (a.status != directory::UserAnswer::Status::known || !a.user ||
        a.user->role != policy::Role::parent)
      continue;
    auto me = std::find_if(out.recipients.begin(), out.recipients.end(),
                           [&](const policy::Recipient& r) { return r.id == users[i]; });
    if (me == out.recipients.end())
      continue;
    for (const std::string& child : a.user->children) {
      const bool student_here = std::any_of(
          out.recipients.begin(), out.recipients.end(),
          [&](const auto& r) { return r.id == child && r.role == policy::Role::student; });
      if (student_here) {
        me->of = child;
        break;
      }
    }
  }
  if (out.recipients.empty())
    out.establishment.clear();
  return out;
}

std::expected<ExplainedRecipient, ExplainRefusal> explain_recipient(
    const directory::UserAnswer& answer, std::string_view requested) {
  using Kind = ExplainRefusal::Kind;
  switch (answer.status) {
    case directory::UserAnswer::Status::failed:
      return std::unexpected(ExplainRefusal{
          Kind::failed, answer.error.empty() ? std::string("the lookup failed") : answer.error});
    case directory::UserAnswer::Status::unknown:
      return std::unexpected(ExplainRefusal{Kind::unknown, "the directory does not know the user"});
    case directory::UserAnswer::Status::known:
      break;
  }
  if (!answer.user)
    return std::unexpected(ExplainRefusal{Kind::unknown, "the directory does not know the user"});
  const directory::UserEntry& u = *answer.user;
  if (u.structures.empty()) {
    return std::unexpected(
        ExplainRefusal{Kind::no_establishment, "the directory knows the user in no establishment"});
  }
  ExplainedRecipient out;
  out.role = u.role;
  if (requested.empty()) {
    out.establishment = u.structures.front();
  } else if (std::find(u.structures.begin(), u.structures.end(), requested) != u.structures.end()) {
    out.establishment = std::string(requested);
  } else {
    return std::unexpected(
        ExplainRefusal{Kind::not_in_establishment,
                       "the user is not in " + std::string(requested) + " per the directory"});
  }
  for (const std::string& uai : u.structures) {
    if (uai != out.establishment && out.also.size() < kMaxOtherEstablishments)
      out.also.push_back(uai);
  }
  return out;
}

std::string canonical_body(std::string_view pending_body, const ResolvedRecipients& r) {
  std::string b;
  b.reserve(pending_body.size() + 64 + 64 * r.recipients.size());
  b += R"({"establishment":)";
  core::append_json_string(b, r.establishment);
  b += R"(,"recipients":[)";
  for (std::size_t i = 0; i < r.recipients.size(); ++i) {
    const policy::Recipient& p = r.recipients[i];
    if (i)
      b += ',';
    b += R"({"id":)";
    core::append_json_string(b, p.id);
    b += R"(,"role":)";
    core::append_json_string(b, policy::to_string(p.role));
    if (p.of) {
      b += R"(,"of":)";
      core::append_json_string(b, *p.of);
    }
    if (!p.establishments.empty()) {
      b += R"(,"establishments":[)";
      for (std::size_t j = 0; j < p.establishments.size(); ++j) {
        if (j)
          b += ',';
        core::append_json_string(b, p.establishments[j]);
      }
      b += ']';
    }
    b += '}';
  }
  b += "],";
  // pending_body is "{…}" with at least its id.
  b += pending_body.substr(1);
  return b;
}

std::string timeline_user_pointer(std::string_view document, std::string_view user) {
  boost::system::error_code ec;
  json::value v = json::parse(document, ec);
  if (ec || !v.is_object())
    return "/recipients";
  const json::object& o = v.get_object();
  if (const json::value* r = o.if_contains("recipients"); r && r->is_array()) {
    const json::array& a = r->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const json::value* id = a[i].is_object() ? a[i].get_object().if_contains("userId") : nullptr;
      if (id && id->is_string() && id->get_string() == user)
        return "/recipients/" + std::to_string(i) + "/userId";
    }
  }
  if (const json::value* r = o.if_contains("recipientsIds"); r && r->is_array()) {
    const json::array& a = r->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].is_string() && a[i].get_string() == user)
        return "/recipientsIds/" + std::to_string(i);
    }
  }
  return "/recipients";
}

}  // namespace treve::runtime
