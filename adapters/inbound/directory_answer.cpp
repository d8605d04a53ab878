#include "adapters/inbound/directory_answer.h"
#include "adapters/inbound/json_text.h"

#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "policy/uai.h"

namespace treve::adapters {
namespace {

namespace json = boost::json;

constexpr std::pair<std::string_view, Profile> kProfiles[] = {
    {"Student", Profile::student}, {"Relative", Profile::relative},
    {"Teacher", Profile::teacher}, {"Personnel", Profile::personnel},
    {"Guest", Profile::guest},
};

// An error at "/users/<id><below>".
DirectoryAnswerError user_error(std::string_view id, const std::string& below,
                                std::string message) {
  return {"/users/" + pointer_token(id) + below, "/users/*" + below, std::move(message)};
}

// A list of strings at `below` of user `id` (`what`, each `one`), each checked by `valid`, at
// most `max`, repeats dropped.
std::expected<std::vector<std::string>, DirectoryAnswerError> strings(
    const json::value& v, std::string_view id, const std::string& below, std::size_t max,
    const char* what, const char* one, bool (*valid)(std::string_view)) {
  if (!v.is_array())
    return std::unexpected(user_error(
        id, below, "must be an array of " + std::string(what) + ", got " + json_type(v)));
  const json::array& a = v.get_array();
  if (a.size() > max)
    return std::unexpected(user_error(
        id, below,
        "more than " + std::to_string(max) + " " + what + " (" + std::to_string(a.size()) + ")"));
  std::vector<std::string> out;
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string at = below + "/" + std::to_string(i);
    if (!a[i].is_string())
      return std::unexpected(user_error(id, at, "must be a string, got " + json_type(a[i])));
    const std::string_view s = a[i].get_string();
    if (!valid(s))
      return std::unexpected(user_error(id, at, std::string("is not a valid ") + one));
    if (std::find(out.begin(), out.end(), s) == out.end())
      out.emplace_back(s);
  }
  return out;
}

bool valid_uai(std::string_view s) {
  auto uai = policy::parse_uai(s);
  return uai && uai->code == s;
}

}  // namespace

std::optional<Profile> parse_profile(std::string_view text) {
  for (const auto& [name, p] : kProfiles) {
    if (name == text)
      return p;
  }
  return std::nullopt;
}

std::string_view to_string(Profile p) {
  for (const auto& [name, q] : kProfiles) {
    if (q == p)
      return name;
  }
  return "Guest";
}

policy::Role role_of(Profile p) {
  switch (p) {
    case Profile::student:
      return policy::Role::student;
    case Profile::relative:
      return policy::Role::parent;
    case Profile::teacher:
    case Profile::personnel:
    case Profile::guest:
      break;
  }
  return policy::Role::staff;
}

bool valid_user_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxUserIdBytes)
    return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const auto b = static_cast<unsigned char>(id[i]);
    if (b < 0x20 || b == 0x7F)
      return false;
    // C1 controls, U+0080..U+009F: 0xC2 0x80..0x9F in UTF-8.
    if (b == 0xC2 && i + 1 < id.size()) {
      const auto n = static_cast<unsigned char>(id[i + 1]);
      if (n >= 0x80 && n <= 0x9F)
        return false;
    }
  }
  return true;
}

std::string user_lookup_body(std::string_view source, std::span<const std::string> ids) {
  json::object o;
  o["type"] = kUserLookupType;
  o["source"] = source;
  json::array users;
  users.reserve(ids.size());
  for (const auto& id : ids)
    users.emplace_back(id);
  o["users"] = std::move(users);
  return json::serialize(o);
}

std::expected<std::vector<std::pair<std::string, DirectoryUser>>, DirectoryAnswerError>
parse_user_lookup_answer(std::string_view body, std::span<const std::string> asked) {
  auto whole = [](std::string pointer, std::string message) {
    DirectoryAnswerError e{pointer, pointer, std::move(message)};
    return std::unexpected(std::move(e));
  };
  if (body.size() > kMaxUserLookupAnswer)
    return whole("", "larger than " + std::to_string(kMaxUserLookupAnswer) + " bytes");
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 8;
  const json::value v = json::parse(body, ec, {}, options);
  if (ec)
    return whole("", "not JSON (" + ec.message() + ")");
  if (!v.is_object())
    return whole("", "must be an object, got " + json_type(v));
  const json::value* users = v.get_object().if_contains("users");
  if (!users)
    return whole("/users", "missing required member \"users\"");
  if (!users->is_object())
    return whole("/users", "must be an object, got " + json_type(*users));
  const json::object& answered = users->get_object();

  std::vector<std::pair<std::string, DirectoryUser>> out;
  for (const auto& id : asked) {
    const json::value* u = answered.if_contains(id);
    if (!u)
      continue;
    if (std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == id; }))
      continue;  // asked twice
    if (!u->is_object())
      return std::unexpected(user_error(id, "", "must be an object, got " + json_type(*u)));
    const json::object& o = u->get_object();
    DirectoryUser user;
    const json::value* profile = o.if_contains("profile");
    if (!profile)
      return std::unexpected(user_error(id, "/profile", "missing required member \"profile\""));
    std::optional<Profile> p;
    if (profile->is_string())
      p = parse_profile(profile->get_string());
    if (!p)
      return std::unexpected(
          user_error(id, "/profile",
                     "must be one of \"Student\", \"Relative\", \"Teacher\", \"Personnel\", "
                     "\"Guest\""));
    user.profile = *p;
    const json::value* structures = o.if_contains("structures");
    if (!structures)
      return std::unexpected(
          user_error(id, "/structures", "missing required member \"structures\""));
    auto uais = strings(*structures, id, "/structures", kMaxStructures, "UAIs", "UAI", valid_uai);
    if (!uais)
      return std::unexpected(std::move(uais.error()));
    user.structures = std::move(*uais);
    if (const json::value* children = o.if_contains("children")) {
      auto ids =
          strings(*children, id, "/children", kMaxChildren, "children", "user id", valid_user_id);
      if (!ids)
        return std::unexpected(std::move(ids.error()));
      if (!ids->empty() && user.profile != Profile::relative)
        return std::unexpected(
            user_error(id, "/children", "only a \"Relative\" may have children"));
      user.children = std::move(*ids);
    }
    out.emplace_back(id, std::move(user));
  }
  return out;
}

}  // namespace treve::adapters
