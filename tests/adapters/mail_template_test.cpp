// What the e-mails say (adapters/outbound/mail_template.h): the built-in French templates, an
// administrator's replacements, the template syntax and its errors, and HTML escaping of the
// connector's text.
#include "adapters/outbound/mail_template.h"
#include "tests/support/outbound.h"

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace treve::adapters {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using Replacements = std::vector<std::pair<std::string, std::string>>;

struct Event {
  std::string body;
  std::string id = "msg-1";
  std::string category = "grade";
  std::string delivery_id = "dlv_4fd441f32eb35c96d3518c7dcffeee92";
  bool urgent = false;

  OutboundDelivery delivery() const {
    return treve::test::outbound_delivery(delivery_id, id, category, body, urgent);
  }
};

Event event(std::string title, std::string link = "") {
  Event e;
  e.body =
      R"({"id":"msg-1","establishment":"0250001R","category":"grade","recipients":[{"id":"u-7f3a","role":"parent"}],"created_at":"2026-11-27T21:14:03+01:00")";
  if (!title.empty())
    e.body += ",\"title\":\"" + title + "\"";
  if (!link.empty())
    e.body += ",\"payload\":{\"link\":\"" + link + "\"}";
  e.body += "}";
  return e;
}

TEST(MailTemplate, TheBuiltInNotificationIsInFrenchWithTheEventsTitleAndLink) {
  const Event e = event("Nouvelle note en mathématiques", "https://ent.example.fr/notes?id=1&x=2");
  const MailContent c = MailTemplates().notification(e.delivery());
  EXPECT_EQ(c.subject, "Nouvelle note en mathématiques");
  EXPECT_THAT(c.text, StartsWith("Bonjour,\n"));
  EXPECT_THAT(c.text, HasSubstr("\nNouvelle note en mathématiques\n"));
  EXPECT_THAT(c.text, HasSubstr("Catégorie : Note\n"));
  EXPECT_THAT(c.text, HasSubstr("Établissement : 0250001R\n"));
  EXPECT_THAT(c.text, HasSubstr("Envoyée le 28/11/2026 à 07:00\n"));
  EXPECT_THAT(c.text, HasSubstr("Pour la consulter : https://ent.example.fr/notes?id=1&x=2\n"));
  EXPECT_THAT(c.text, Not(HasSubstr("connectez-vous")));
  EXPECT_THAT(c.text, Not(HasSubstr("{{")));
  // Section tags alone on their lines leave no blank line behind.
  EXPECT_THAT(c.text, Not(HasSubstr("\n\n\n")));
  EXPECT_THAT(c.html, HasSubstr("<html lang=\"fr\">"));
  EXPECT_THAT(c.html,
              HasSubstr("<h1 style=\"font-size: 1.25em;\">Nouvelle note en mathématiques</h1>"));
  EXPECT_THAT(c.html, HasSubstr("<a href=\"https://ent.example.fr/notes?id=1&amp;x=2\">"));
}

TEST(MailTemplate, WithoutTitleOrLinkTheCategoryNamesItAndTheEntIsSuggested) {
  Event e = event("");
  e.category = "homework";
  e.urgent = true;
  const MailContent c = MailTemplates().notification(e.delivery());
  EXPECT_EQ(c.subject, "[Urgent] Devoir");
  EXPECT_THAT(c.text, HasSubstr("connectez-vous à l'ENT"));
  EXPECT_THAT(c.text, HasSubstr("(urgente)"));
  EXPECT_THAT(c.html, Not(HasSubstr("<a href")));
  // A link that is not http(s) is no link.
  const MailContent js =
      MailTemplates().notification(event("Note", "javascript:alert(1)").delivery());
  EXPECT_THAT(js.html, Not(HasSubstr("javascript")));
}

TEST(MailTemplate, TheConnectorsTextIsEscapedInHtmlAndKeptAsIsInText) {
  const Event e = event(R"(<script>alert('x')</script> & \"co\")");
  const MailContent c = MailTemplates().notification(e.delivery());
  EXPECT_THAT(c.html,
              HasSubstr("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"));
  EXPECT_THAT(c.html, Not(HasSubstr("<script>")));
  EXPECT_THAT(c.text, HasSubstr(R"(<script>alert('x')</script> & "co")"));
  EXPECT_EQ(c.subject, R"(<script>alert('x')</script> & "co")");
}

TEST(MailTemplate, TheDigestListsTheNotificationsWithCountsPerCategory) {
  Event a = event("Contrôle de français", "https://ent.example.fr/a");
  Event b = event("Devoir <maths>");
  b.category = "homework";
  b.delivery_id = "dlv_2";
  Event c = event("Note d'anglais");
  c.delivery_id = "dlv_3";
  const std::vector<OutboundDelivery> batch = {a.delivery(), b.delivery(), c.delivery()};
  const MailContent m = MailTemplates().digest(batch, digest_text(batch));
  EXPECT_EQ(m.subject, "3 nouvelles notifications : 2 notes et 1 devoir");
  EXPECT_THAT(m.text, HasSubstr("* Contrôle de français\n  Note, 0250001R, envoyée le "
                                "28/11/2026 à 07:00\n  https://ent.example.fr/a\n"));
  EXPECT_THAT(m.text, HasSubstr("* Devoir <maths>\n"));
  EXPECT_THAT(m.text, HasSubstr("(2 notes et 1 devoir)"));
  EXPECT_THAT(m.html, HasSubstr("<li>2 notes</li>\n<li>1 devoir</li>"));
  EXPECT_THAT(m.html, HasSubstr("<strong>Devoir &lt;maths&gt;</strong>"));
  EXPECT_THAT(m.html, HasSubstr("<a href=\"https://ent.example.fr/a\">Consulter</a>"));
}

TEST(MailTemplate, AnAdministratorReplacesSomeTemplatesAndKeepsTheOthers) {
  const Replacements replaced = {
      {"notification.subject.txt", "[{{establishment}}] {{title}}"},
      {"notification.html",
       "<p>{{title}}</p>\n<ul>\n{{#link}}\n<li><a href=\"{{link}}\">lien</a></li>\n{{/link}}\n"
       "{{^link}}\n<li>pas de lien</li>\n{{/link}}\n</ul>\n"}};
  auto templates = MailTemplates::with(replaced);
  ASSERT_TRUE(templates) << templates.error();
  const MailContent c = templates->notification(event("Note <b>").delivery());
  EXPECT_EQ(c.subject, "[0250001R] Note <b>");
  EXPECT_EQ(c.html, "<p>Note &lt;b&gt;</p>\n<ul>\n<li>pas de lien</li>\n</ul>\n");
  EXPECT_THAT(c.text, StartsWith("Bonjour,"));  // built in
}

TEST(MailTemplate, MistakesInATemplateAreNamedWithTheirLine) {
  const auto error = [](std::string name, std::string text) {
    auto made = MailTemplates::with(Replacements{{std::move(name), std::move(text)}});
    return made ? std::string("no error") : made.error();
  };
  EXPECT_EQ(error("notification.txt", "a\n{{titel}}"),
            "notification.txt:2: unknown variable {{titel}}");
  EXPECT_EQ(error("notification.txt", "{{#link}}\nx\n"),
            "notification.txt:1: {{#link}} is not closed");
  EXPECT_EQ(error("notification.txt", "x {{/link}}"),
            "notification.txt:1: {{/link}} closes no open section");
  EXPECT_EQ(error("notification.txt", "{{#link}}{{/urgent}}"),
            "notification.txt:1: {{/urgent}} closes no open section");
  EXPECT_EQ(error("notification.txt", "{{title"), "notification.txt:1: '{{' without '}}'");
  EXPECT_EQ(error("notification.txt", "{{ }}"), "notification.txt:1: empty tag");
  EXPECT_EQ(error("notification.txt", "{{summary}}"),
            "notification.txt:1: unknown variable {{summary}}");
  EXPECT_EQ(error("digest.txt", "{{items}}"),
            "digest.txt:1: {{items}} is a list: use {{#items}}…{{/items}}");
  EXPECT_EQ(error("digest.txt", "{{label}}"), "digest.txt:1: unknown variable {{label}}");
  EXPECT_EQ(error("digest.txt", "{{#counts}}{{link}}{{/counts}}"),
            "digest.txt:1: unknown variable {{link}}");
  EXPECT_EQ(error("notification.html", "\xC3("), "notification.html: not UTF-8");
  EXPECT_THAT(error("welcome.txt", "x"), StartsWith("welcome.txt: not a template"));
  // Inside a list, the outer variables are still there.
  EXPECT_EQ(error("digest.txt", "{{#items}}{{title}} {{summary}}{{/items}}"), "no error");
  EXPECT_EQ(error("digest.txt", "{{ #items }}{{ title }}{{ /items }}"), "no error");
}

TEST(MailTemplate, EveryBuiltInTemplateIsThere) {
  for (std::string_view name : kMailTemplateNames)
    EXPECT_FALSE(builtin_mail_template(name).empty()) << name;
  Replacements all;
  for (std::string_view name : kMailTemplateNames)
    all.emplace_back(std::string(name), std::string(builtin_mail_template(name)));
  EXPECT_TRUE(MailTemplates::with(all));
}

}  // namespace
}  // namespace treve::adapters
