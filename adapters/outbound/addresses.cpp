#include "adapters/outbound/addresses.h"

#include <algorithm>
#include <expected>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace treve::adapters {
namespace json = boost::json;

namespace {

std::string_view text(const json::value* v) {
  if (!v || !v->is_string())
    return {};
  const json::string& s = v->get_string();
  return {s.data(), s.size()};
}

bool base64url_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '=';
  });
}

std::optional<ChannelsError> check_subscription(const json::value& v, const std::string& at) {
  if (!v.is_object())
    return ChannelsError{at, "must be a push subscription object (PushSubscription.toJSON())"};
  const json::object& o = v.get_object();
  const std::string_view endpoint = text(o.if_contains("endpoint"));
  if (endpoint.empty() || !endpoint.starts_with("https://") || endpoint.size() > kMaxPushEndpoint) {
    return ChannelsError{at + "/endpoint", "must be an https:// URL of at most " +
                                               std::to_string(kMaxPushEndpoint) + " bytes"};
  }
  const json::value* keys = o.if_contains("keys");
  if (!keys || !keys->is_object())
    return ChannelsError{at + "/keys", "must be an object with \"p256dh\" and \"auth\""};
  for (const char* k : {"p256dh", "auth"}) {
    const std::string_view key = text(keys->get_object().if_contains(k));
    if (key.empty() || key.size() > 256 || !base64url_text(key))
      return ChannelsError{at + "/keys/" + k, "must be a base64url string"};
  }
  return std::nullopt;
}

}  // namespace

bool plausible_email(std::string_view a) {
  if (a.empty() || a.size() > kMaxEmailAddress)
    return false;
  const auto at = a.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size() ||
      a.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  return std::all_of(a.begin(), a.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '<' && c != '>' && c != '"' && c != '(' && c != ')' &&
           c != ',' && c != ';' && c != '\\' && c != '[' && c != ']';
  });
}

std::optional<ChannelsError> validate_channels(std::string_view channels_json) {
  boost::system::error_code ec;
  json::value v = json::parse(channels_json, ec);
  if (ec || !v.is_object())
    return ChannelsError{"", "must be an object with \"fcm\", \"webpush\" or \"email\""};
  auto list = [](const json::value& member,
                 const std::string& at) -> std::expected<const json::array*, ChannelsError> {
    if (!member.is_array())
      return std::unexpected(ChannelsError{at, "must be an array"});
    if (member.get_array().size() > kMaxAddressesPerChannel) {
      return std::unexpected(ChannelsError{
          at, "holds more than " + std::to_string(kMaxAddressesPerChannel) + " addresses"});
    }
    return &member.get_array();
  };
  for (const auto& [key, member] : v.get_object()) {
    const std::string at = "/" + std::string(key);
    if (key == "fcm") {
      auto tokens = list(member, at);
      if (!tokens)
        return tokens.error();
      for (std::size_t i = 0; i < (*tokens)->size(); ++i) {
        const std::string_view t = text(&(**tokens)[i]);
        if (t.empty() || t.size() > kMaxDeviceToken || !std::all_of(t.begin(), t.end(), [](char c) {
              return c > 0x20 && c < 0x7f && c != '"';
            })) {
          return ChannelsError{at + "/" + std::to_string(i),
                               "must be a device token (printable ASCII, at most " +
                                   std::to_string(kMaxDeviceToken) + " bytes)"};
        }
      }
    } else if (key == "webpush") {
      auto subs = list(member, at);
      if (!subs)
        return subs.error();
      for (std::size_t i = 0; i < (*subs)->size(); ++i) {
        if (auto e = check_subscription((**subs)[i], at + "/" + std::to_string(i)))
          return e;
      }
    } else if (key == "email") {
      if (member.is_string()) {
        if (!plausible_email(text(&member)))
          return ChannelsError{at, "must be an e-mail address (local@domain)"};
        continue;
      }
      auto addresses = list(member, at);
      if (!addresses)
        return ChannelsError{at, "must be an e-mail address or an array of them"};
      for (std::size_t i = 0; i < (*addresses)->size(); ++i) {
        if (!plausible_email(text(&(**addresses)[i])))
          return ChannelsError{at + "/" + std::to_string(i),
                               "must be an e-mail address (local@domain)"};
      }
    } else {
      return ChannelsError{at, "unknown channel; expected \"fcm\", \"webpush\" or \"email\""};
    }
  }
  return std::nullopt;
}

namespace {

RecipientChannels channels_of(const json::object& c) {
  RecipientChannels out;
  if (const json::value* fcm = c.if_contains("fcm"); fcm && fcm->is_array()) {
    for (const json::value& t : fcm->get_array()) {
      if (!text(&t).empty())
        out.fcm.emplace_back(text(&t));
    }
  }
  if (const json::value* wp = c.if_contains("webpush"); wp && wp->is_array()) {
    for (const json::value& s : wp->get_array()) {
      if (!s.is_object())
        continue;
      const json::value* keys = s.get_object().if_contains("keys");
      PushSubscription sub{std::string(text(s.get_object().if_contains("endpoint"))), {}, {}};
      if (keys && keys->is_object()) {
        sub.p256dh = text(keys->get_object().if_contains("p256dh"));
        sub.auth = text(keys->get_object().if_contains("auth"));
      }
      if (!sub.endpoint.empty())
        out.webpush.push_back(std::move(sub));
    }
  }
  if (const json::value* e = c.if_contains("email")) {
    if (e->is_string()) {
      out.email.emplace_back(text(e));
    } else if (e->is_array()) {
      for (const json::value& a : e->get_array()) {
        if (!text(&a).empty())
          out.email.emplace_back(text(&a));
      }
    }
  }
  return out;
}

}  // namespace

RecipientChannels recipient_channels(std::string_view event_body, std::string_view recipient,
                                     std::string_view role) {
  RecipientChannels out;
  boost::system::error_code ec;
  json::value v = json::parse(event_body, ec);
  if (ec || !v.is_object())
    return out;
  const json::value* rs = v.get_object().if_contains("recipients");
  if (!rs || !rs->is_array())
    return out;
  for (const json::value& r : rs->get_array()) {
    if (!r.is_object())
      continue;
    const json::object& o = r.get_object();
    if (text(o.if_contains("id")) != recipient || text(o.if_contains("role")) != role)
      continue;
    const json::value* channels = o.if_contains("channels");
    if (!channels || !channels->is_object())
      return out;
    return channels_of(channels->get_object());
  }
  return out;
}

std::optional<RecipientChannels> parse_channels(std::string_view channels_json) {
  boost::system::error_code ec;
  json::value v = json::parse(channels_json, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  return channels_of(v.get_object());
}

RecipientChannels addresses_of(const OutboundDelivery& d) {
  if (d.addresses)
    return *d.addresses;
  return recipient_channels(d.event_body, d.recipient, d.role);
}

}  // namespace treve::adapters
