#include "adapters/outbound/mail_template.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "adapters/outbound/html_text.h"

namespace treve::adapters {
namespace {

// ---- The built-in French templates ----------------------------------------------------------

constexpr std::string_view kNotificationSubject = "{{#urgent}}[Urgent] {{/urgent}}{{title}}\n";

constexpr std::string_view kNotificationText =
    R"(Bonjour,

Une nouvelle notification vous attend dans l'ENT{{#urgent}} (urgente){{/urgent}} :

{{title}}

Catégorie : {{category}}
Établissement : {{establishment}}
Envoyée le {{released_at}}

{{#link}}
Pour la consulter : {{link}}
{{/link}}
{{^link}}
Pour la consulter, connectez-vous à l'ENT.
{{/link}}

)"
    "-- \n"  // the signature separator ends with a space
    R"(Ce message est envoyé automatiquement. Les notifications reçues
pendant les heures de repos de l'établissement vous sont remises
ensuite.
)";

constexpr std::string_view kNotificationHtml = R"(<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>{{title}}</title>
</head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222;">
<p>Bonjour,</p>
<p>Une nouvelle notification vous attend dans l'ENT{{#urgent}} (<strong>urgente</strong>){{/urgent}} :</p>
<h1 style="font-size: 1.25em;">{{title}}</h1>
<p>Catégorie : {{category}}<br>
Établissement : {{establishment}}<br>
Envoyée le {{released_at}}</p>
{{#link}}
<p><a href="{{link}}">Consulter la notification</a></p>
{{/link}}
{{^link}}
<p>Pour la consulter, connectez-vous à l'ENT.</p>
{{/link}}
<p style="color: #666; font-size: 0.9em;">Ce message est envoyé automatiquement. Les
notifications reçues pendant les heures de repos de l'établissement vous sont remises
ensuite.</p>
</body>
</html>
)";

constexpr std::string_view kDigestSubject = "{{title}} : {{summary}}\n";

constexpr std::string_view kDigestText =
    R"(Bonjour,

Voici les notifications retenues pendant les heures de repos de
l'établissement ({{summary}}) :

{{#items}}
* {{title}}{{#urgent}} (urgente){{/urgent}}
  {{category}}, {{establishment}}, envoyée le {{released_at}}
{{#link}}
  {{link}}
{{/link}}

{{/items}}
Pour les consulter, connectez-vous à l'ENT.

)"
    "-- \n"
    R"(Ce message est envoyé automatiquement. Les notifications reçues
pendant les heures de repos de l'établissement vous sont remises
ensuite, réunies en un seul message.
)";

constexpr std::string_view kDigestHtml = R"(<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>{{title}}</title>
</head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222;">
<p>Bonjour,</p>
<p>Voici les notifications retenues pendant les heures de repos de l'établissement :</p>
<ul>
{{#counts}}
<li>{{label}}</li>
{{/counts}}
</ul>
<ol>
{{#items}}
<li><strong>{{title}}</strong>{{#urgent}} (urgente){{/urgent}}<br>
{{category}}, {{establishment}}, envoyée le {{released_at}}{{#link}}<br>
<a href="{{link}}">Consulter</a>{{/link}}</li>
{{/items}}
</ol>
<p>Pour les consulter, connectez-vous à l'ENT.</p>
<p style="color: #666; font-size: 0.9em;">Ce message est envoyé automatiquement. Les
notifications reçues pendant les heures de repos de l'établissement vous sont remises
ensuite, réunies en un seul message.</p>
</body>
</html>
)";

// ---- What each template may name -----------------------------------------------------------

struct Vars {
  std::vector<std::string_view> text;
  std::vector<std::pair<std::string_view, const Vars*>> lists;
};

const Vars kItemVars{{"title", "category", "establishment", "released_at", "link", "urgent"}, {}};
const Vars kCountVars{{"label", "category"}, {}};
const Vars kNotificationVars = kItemVars;
const Vars kDigestVars{{"title", "summary", "count", "released_at"},
                       {{"items", &kItemVars}, {"counts", &kCountVars}}};

// ---- Parsing -------------------------------------------------------------------------------

struct Node {
  enum class Kind : std::uint8_t { text, value, section, inverted };
  Kind kind = Kind::text;
  std::string text;  // the literal text, or the variable's name
  std::vector<Node> children;
};

using Nodes = std::vector<Node>;

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::size_t line_of(std::string_view text, std::size_t pos) {
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
}

class Parser {
 public:
  Parser(std::string_view file, std::string_view text) : file_(file), text_(text) {}

  std::expected<Nodes, std::string> parse(const Vars& vars) {
    if (!valid_utf8(text_))
      return std::unexpected(std::string(file_) + ": not UTF-8");
    Nodes root;
    struct Frame {
      Nodes* nodes;
      std::string name;
      std::vector<const Vars*> scopes;
      std::size_t line;
    };
    std::vector<Frame> stack{{&root, "", {&vars}, 0}};
    std::size_t literal = 0;  // start of the text not yet in a node
    std::size_t pos = 0;
    for (;;) {
      const std::size_t open = text_.find("{{", pos);
      if (open == std::string_view::npos)
        break;
      const std::size_t close = text_.find("}}", open + 2);
      if (close == std::string_view::npos)
        return error(open, "'{{' without '}}'");
      std::string_view tag = trim(text_.substr(open + 2, close - open - 2));
      std::size_t end = close + 2;
      const char sigil = tag.empty() ? '\0' : tag.front();
      const bool is_section = sigil == '#' || sigil == '^' || sigil == '/';
      if (is_section)
        tag = trim(tag.substr(1));
      if (tag.empty())
        return error(open, "empty tag");

      // A section tag alone on its line: the line goes with it.
      std::size_t literal_end = open;
      if (is_section) {
        const std::size_t line_start =
            text_.rfind('\n', open) == std::string_view::npos ? 0 : text_.rfind('\n', open) + 1;
        std::size_t line_end = text_.find('\n', end);
        const bool last_line = line_end == std::string_view::npos;
        if (last_line)
          line_end = text_.size();
        if (line_start >= literal && blank(text_.substr(line_start, open - line_start)) &&
            blank(text_.substr(end, line_end - end))) {
          literal_end = line_start;
          end = last_line ? line_end : line_end + 1;
        }
      }
      add_text(*stack.back().nodes, literal, literal_end);
      literal = end;
      pos = end;

      Frame& top = stack.back();
      if (sigil == '/') {
        if (stack.size() == 1 || top.name != tag)
          return error(open, "{{/" + std::string(tag) + "}} closes no open section");
        stack.pop_back();
        continue;
      }
      const Vars* list = nullptr;
      bool known = false;
      for (auto scope = top.scopes.rbegin(); scope != top.scopes.rend() && !known; ++scope) {
        known =
            std::find((*scope)->text.begin(), (*scope)->text.end(), tag) != (*scope)->text.end();
        for (const auto& [name, inner] : (*scope)->lists) {
          if (name == tag) {
            known = true;
            list = inner;
          }
        }
      }
      if (!known)
        return error(open, "unknown variable {{" + std::string(tag) + "}}");
      Node node;
      node.text = std::string(tag);
      if (!is_section) {
        if (list != nullptr)
          return error(open, "{{" + std::string(tag) + "}} is a list: use {{#" + std::string(tag) +
                                 "}}…{{/" + std::string(tag) + "}}");
        node.kind = Node::Kind::value;
        top.nodes->push_back(std::move(node));
        continue;
      }
      node.kind = sigil == '#' ? Node::Kind::section : Node::Kind::inverted;
      top.nodes->push_back(std::move(node));
      Frame inner{&top.nodes->back().children, std::string(tag), top.scopes, line_of(text_, open)};
      if (list != nullptr && sigil == '#')
        inner.scopes.push_back(list);
      stack.push_back(std::move(inner));
    }
    if (stack.size() > 1) {
      return std::unexpected(std::string(file_) + ":" + std::to_string(stack.back().line) +
                             ": {{#" + stack.back().name + "}} is not closed");
    }
    add_text(root, literal, text_.size());
    return root;
  }

 private:
  void add_text(Nodes& nodes, std::size_t from, std::size_t to) const {
    if (to <= from)
      return;
    Node node;
    node.text = std::string(text_.substr(from, to - from));
    nodes.push_back(std::move(node));
  }

  std::unexpected<std::string> error(std::size_t pos, const std::string& message) const {
    return std::unexpected(std::string(file_) + ":" + std::to_string(line_of(text_, pos)) + ": " +
                           message);
  }

  std::string_view file_;
  std::string_view text_;
};

// ---- Rendering -----------------------------------------------------------------------------

struct Values {
  std::vector<std::pair<std::string_view, std::string>> text;
  std::vector<std::pair<std::string_view, std::vector<Values>>> lists;
};

class Renderer {
 public:
  explicit Renderer(bool html) : html_(html) {}

  void render(const Nodes& nodes, std::vector<const Values*>& scopes, std::string& out) const {
    for (const Node& node : nodes) {
      switch (node.kind) {
        case Node::Kind::text:
          out += node.text;
          break;
        case Node::Kind::value:
          if (const std::string* value = text(scopes, node.text)) {
            if (html_)
              append_html_escaped(out, *value);
            else
              out += *value;
          }
          break;
        case Node::Kind::section:
        case Node::Kind::inverted: {
          const bool wanted = node.kind == Node::Kind::section;
          if (const std::vector<Values>* elements = list(scopes, node.text)) {
            if (!wanted) {
              if (elements->empty())
                render(node.children, scopes, out);
              break;
            }
            for (const Values& element : *elements) {
              scopes.push_back(&element);
              render(node.children, scopes, out);
              scopes.pop_back();
            }
            break;
          }
          const std::string* value = text(scopes, node.text);
          const bool present = value != nullptr && !value->empty();
          if (present == wanted)
            render(node.children, scopes, out);
          break;
        }
      }
    }
  }

 private:
  static const std::string* text(const std::vector<const Values*>& scopes, std::string_view name) {
    for (auto scope = scopes.rbegin(); scope != scopes.rend(); ++scope) {
      for (const auto& [key, value] : (*scope)->text) {
        if (key == name)
          return &value;
      }
    }
    return nullptr;
  }
  static const std::vector<Values>* list(const std::vector<const Values*>& scopes,
                                         std::string_view name) {
    for (auto scope = scopes.rbegin(); scope != scopes.rend(); ++scope) {
      for (const auto& [key, value] : (*scope)->lists) {
        if (key == name)
          return &value;
      }
    }
    return nullptr;
  }

  bool html_;
};

std::string render(const Nodes& nodes, const Values& values, bool html) {
  std::string out;
  std::vector<const Values*> scopes{&values};
  Renderer(html).render(nodes, scopes, out);
  return out;
}

// "2026-11-28T07:00:00+01:00" -> "28/11/2026 à 07:00" (the establishment's time, as written).
std::string french_time(std::string_view rfc3339) {
  const auto digits = [&](std::size_t from, std::size_t n) {
    return std::all_of(rfc3339.begin() + from, rfc3339.begin() + from + n,
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  if (rfc3339.size() < 16 || !digits(0, 4) || rfc3339[4] != '-' || !digits(5, 2) ||
      rfc3339[7] != '-' || !digits(8, 2) || (rfc3339[10] != 'T' && rfc3339[10] != 't') ||
      !digits(11, 2) || rfc3339[13] != ':' || !digits(14, 2)) {
    return std::string(rfc3339.substr(0, 64));
  }
  std::string out;
  out.append(rfc3339.substr(8, 2)).append("/").append(rfc3339.substr(5, 2)).append("/");
  out.append(rfc3339.substr(0, 4)).append(" \xC3\xA0 ").append(rfc3339.substr(11, 5));
  return out;
}

// A subject is one line: control characters (line breaks) become spaces, runs of spaces one,
// and none at either end.
std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const char d = u < 0x20 || u == 0x7f ? ' ' : c;
    if (d == ' ' && (out.empty() || out.back() == ' '))
      continue;
    out += d;
  }
  if (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

Values item_values(const OutboundDelivery& d, std::string title, std::string link) {
  Values v;
  v.text = {{"title", std::move(title)},
            {"category", std::string(category_fr(d.category))},
            {"establishment", std::string(d.establishment)},
            {"released_at", french_time(d.released_at)},
            {"link", std::move(link)},
            {"urgent", d.urgent ? "urgent" : ""}};
  return v;
}

}  // namespace

struct MailTemplates::Compiled {
  // In the order of kMailTemplateNames.
  std::array<Nodes, kMailTemplateNames.size()> nodes;
};

std::string_view builtin_mail_template(std::string_view name) {
  static constexpr std::array<std::string_view, kMailTemplateNames.size()> kTexts = {
      kNotificationSubject, kNotificationText, kNotificationHtml,
      kDigestSubject,       kDigestText,       kDigestHtml};
  for (std::size_t i = 0; i < kMailTemplateNames.size(); ++i) {
    if (kMailTemplateNames[i] == name)
      return kTexts[i];
  }
  return {};
}

MailTemplates::MailTemplates() {
  static const std::shared_ptr<const Compiled> builtin = [] {
    auto made = with({});
    // The built-in templates are compiled by the tests; they cannot fail here.
    return made ? made->compiled_ : std::make_shared<const Compiled>();
  }();
  compiled_ = builtin;
}

MailTemplates::MailTemplates(std::shared_ptr<const Compiled> compiled)
    : compiled_(std::move(compiled)) {}

std::expected<MailTemplates, std::string> MailTemplates::with(
    std::span<const std::pair<std::string, std::string>> replacements) {
  for (const auto& [name, text] : replacements) {
    if (builtin_mail_template(name).empty()) {
      return std::unexpected(name +
                             ": not a template (expected one of notification.subject.txt, "
                             "notification.txt, notification.html, digest.subject.txt, "
                             "digest.txt, digest.html)");
    }
  }
  auto compiled = std::make_shared<Compiled>();
  for (std::size_t i = 0; i < kMailTemplateNames.size(); ++i) {
    const std::string_view name = kMailTemplateNames[i];
    std::string_view text = builtin_mail_template(name);
    for (const auto& [replaced, replacement] : replacements) {
      if (replaced == name)
        text = replacement;
    }
    const Vars& vars = name.starts_with("digest") ? kDigestVars : kNotificationVars;
    auto nodes = Parser(name, text).parse(vars);
    if (!nodes)
      return std::unexpected(nodes.error());
    compiled->nodes[i] = std::move(*nodes);
  }
  return MailTemplates(std::move(compiled));
}

MailContent MailTemplates::notification(const OutboundDelivery& d) const {
  std::string title = event_title(d.event_body);
  if (title.empty())
    title = std::string(category_fr(d.category));
  const Values values = item_values(d, std::move(title), event_link(d.event_body));
  const auto& n = compiled_->nodes;
  return {one_line(render(n[0], values, false)), render(n[1], values, false),
          render(n[2], values, true)};
}

MailContent MailTemplates::digest(std::span<const OutboundDelivery> batch,
                                  const DigestText& text) const {
  Values values;
  values.text = {
      {"title", text.title},
      {"summary", text.body},
      {"count", std::to_string(batch.size())},
      {"released_at", batch.empty() ? std::string() : french_time(batch[0].released_at)}};
  std::vector<Values> items;
  for (std::size_t i = 0; i < text.items.size() && i < batch.size(); ++i) {
    items.push_back(item_values(batch[i], text.items[i].title, text.items[i].link));
  }
  std::vector<Values> counts;
  for (const DigestText::Count& c : text.counts) {
    Values count;
    count.text = {{"label", c.label_fr}, {"category", std::string(category_fr(c.category))}};
    counts.push_back(std::move(count));
  }
  values.lists = {{"items", std::move(items)}, {"counts", std::move(counts)}};
  const auto& n = compiled_->nodes;
  return {one_line(render(n[3], values, false)), render(n[4], values, false),
          render(n[5], values, true)};
}

}  // namespace treve::adapters
