#include "adapters/outbound/digest_text.h"

#include <array>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "adapters/outbound/webhook_body.h"

namespace treve::adapters {
namespace json = boost::json;

namespace {

struct Names {
  std::string_view category, one, singular, plural;
};
// In policy::Category's order.
constexpr std::array<Names, 9> kNames = {{
    {"message", "Message", "message", "messages"},
    {"grade", "Note", "note", "notes"},
    {"homework", "Devoir", "devoir", "devoirs"},
    {"blog", "Billet de blog", "billet de blog", "billets de blog"},
    {"news", "Actualité", "actualité", "actualités"},
    {"schedule", "Emploi du temps", "changement d'emploi du temps",
     "changements d'emploi du temps"},
    {"absence", "Absence", "absence", "absences"},
    {"alert", "Alerte", "alerte", "alertes"},
    {"other", "Notification", "notification", "notifications"},
}};

const Names& names(std::string_view category) {
  for (const auto& n : kNames) {
    if (n.category == category)
      return n;
  }
  return kNames.back();
}

// Printable text of at most `limit` bytes, cut at a UTF-8 character boundary with "…";
// control characters (line breaks included) become spaces.
std::string clean(std::string_view s, std::size_t limit) {
  std::string out;
  out.reserve(std::min(s.size(), limit + 3));
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  if (out.size() <= limit)
    return out;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80)
    --cut;
  out.resize(cut);
  out += "\xE2\x80\xA6";  // …
  return out;
}

std::optional<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  return std::move(v.get_object());
}

std::string_view string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string())
    return {};
  return {v->get_string().data(), v->get_string().size()};
}

std::string title_of(const json::object& event) {
  return clean(string_member(event, "title"), 200);
}

std::string link_of(const json::object& event) {
  const json::value* p = event.if_contains("payload");
  if (!p || !p->is_object())
    return {};
  for (const char* key : {"link", "url"}) {
    const std::string_view v = string_member(p->get_object(), key);
    if ((v.starts_with("https://") || v.starts_with("http://")) && v.size() <= 2048 &&
        v.find_first_of(" \t\r\n\"<>") == std::string_view::npos) {
      return std::string(v);
    }
  }
  return {};
}

}  // namespace

std::string_view category_fr(std::string_view category) {
  return names(category).one;
}

std::string category_count_fr(std::string_view category, std::size_t n) {
  const Names& c = names(category);
  return std::to_string(n) + " " + std::string(n > 1 ? c.plural : c.singular);
}

std::string event_title(std::string_view event_body) {
  auto event = parse_object(event_body);
  return event ? title_of(*event) : std::string();
}

std::string event_link(std::string_view event_body) {
  auto event = parse_object(event_body);
  return event ? link_of(*event) : std::string();
}

std::string digest_id(std::span<const std::string> delivery_ids) {
  return "dig_" + webhook_batch_id(delivery_ids).substr(4);
}

DigestText digest_text(std::span<const OutboundDelivery> batch) {
  DigestText d;
  std::vector<std::string> ids;
  std::array<std::size_t, kNames.size()> per{};
  for (const OutboundDelivery& del : batch) {
    ids.emplace_back(del.delivery_id);
    DigestText::Item item;
    item.delivery_id = del.delivery_id;
    item.event_id = del.event_id;
    item.category = del.category;
    item.category_fr = category_fr(del.category);
    if (auto event = parse_object(del.event_body)) {
      item.title = title_of(*event);
      item.link = link_of(*event);
    }
    if (item.title.empty())
      item.title = item.category_fr;
    d.items.push_back(std::move(item));
    for (std::size_t i = 0; i < kNames.size(); ++i) {
      if (&names(del.category) == &kNames[i])
        ++per[i];
    }
  }
  d.id = digest_id(ids);
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (!per[i])
      continue;
    d.counts.push_back(
        {std::string(kNames[i].category), category_count_fr(kNames[i].category, per[i]), per[i]});
  }
  d.title = batch.size() == 1 ? std::string("1 nouvelle notification")
                              : std::to_string(batch.size()) + " nouvelles notifications";
  for (std::size_t i = 0; i < d.counts.size(); ++i) {
    if (i)
      d.body += i + 1 == d.counts.size() ? " et " : ", ";
    d.body += d.counts[i].label_fr;
  }
  return d;
}

}  // namespace treve::adapters
