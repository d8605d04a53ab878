// What an e-mail of the smtp channel says: its subject, plain text and HTML, made from
// templates. trêve has French ones built in; an administrator replaces any of them with a file
// of the same name in the sink's `templates` directory (the others stay built in). Pure: the
// templates come in as text (the channel reads the directory). Immutable once made; safe to use
// from any thread.
//
// ---- Templates (for docs/delivery.md) -----------------------------------------------------
//
// Files, in the `templates` directory (UTF-8; any missing one is the built-in one):
//
//   notification.subject.txt   subject of the e-mail of one notification
//   notification.txt           its text/plain part
//   notification.html          its text/html part
//   digest.subject.txt         subject of a digest (several notifications in one e-mail)
//   digest.txt                 its text/plain part
//   digest.html                its text/html part
//
// Syntax (a small subset of Mustache):
//
//   {{name}}                the value of `name`; in the .html templates HTML-escaped (& < > " ')
//   {{#name}}…{{/name}}     a list (items, counts): the inside once per element, with the
//                           element's variables; a text: the inside when it is not empty
//   {{^name}}…{{/name}}     the inside when `name` is empty (no link, not urgent, empty list)
//
// A section tag alone on its line takes the whole line with it. `{{` always opens a tag; a name
// the template does not have, a section left open or closed twice, or text that is not UTF-8
// is an error naming the file and line (nothing is sent with such a template). A subject is one
// line: line breaks in it become spaces, and runs of spaces one. Values are the connector's text:
// never markup, always escaped in HTML, and links are http(s) URLs only.
//
// Variables of the notification templates:
//
//   title          the event's title, or, without one, the category's French name ("Note")
//   category       the category's French name: Message, Note, Devoir, Billet de blog,
//                  Actualité, Emploi du temps, Absence, Alerte, Notification
//   establishment  the establishment's UAI ("0250001R")
//   released_at    when trêve released it, in the establishment's time: "28/11/2026 à 07:00"
//   link           the payload's `link` or `url` when an http(s) URL; else empty
//   urgent         "urgent" for an urgent event; else empty
//
// Variables of the digest templates:
//
//   title          "5 nouvelles notifications"
//   summary        the counts per category: "2 notes, 1 message et 2 devoirs"
//   count          the number of notifications ("5")
//   released_at    when the first was released ("28/11/2026 à 07:00")
//   items          the notifications, in order; each has title, category, establishment,
//                  released_at, link and urgent as above
//   counts         one per category present, in a fixed order; each has label ("2 notes") and
//                  category ("Note")
// --------------------------------------------------------------------------------------------
#pragma once

#include <array>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "adapters/outbound/digest_text.h"
#include "adapters/outbound/mail_message.h"
#include "adapters/outbound/sink.h"

namespace treve::adapters {

inline constexpr std::array<std::string_view, 6> kMailTemplateNames = {
    "notification.subject.txt", "notification.txt", "notification.html",
    "digest.subject.txt",       "digest.txt",       "digest.html"};

// The built-in French text of the template `name` (one of kMailTemplateNames); empty for
// another name.
std::string_view builtin_mail_template(std::string_view name);

class MailTemplates {
 public:
  // The built-in French templates.
  MailTemplates();

  // The built-in templates with some replaced: each pair is a name of kMailTemplateNames and
  // its text. An error names the template and the line at fault.
  static std::expected<MailTemplates, std::string> with(
      std::span<const std::pair<std::string, std::string>> replacements);

  // The e-mail of one delivery.
  MailContent notification(const OutboundDelivery& d) const;
  // The e-mail of several deliveries of one recipient (in order); `text` is digest_text(batch).
  MailContent digest(std::span<const OutboundDelivery> batch, const DigestText& text) const;

 private:
  struct Compiled;
  explicit MailTemplates(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace treve::adapters
