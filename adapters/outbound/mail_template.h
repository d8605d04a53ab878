// What an e-mail of the smtp channel says: its subject, plain text and HTML, made from
// templates. trêve has French ones built in; an administrator replaces any of them with a file
// of the same name in the sink's `templates` directory (the others stay built in). Pure: the
// templates come in as text (the channel reads the directory). Immutable once made; safe to use
// from any thread.
//
// The template files, their syntax (a small subset of Mustache) and the variables of each are
// documented for administrators in docs/delivery.md, "E-mail"; keep the two in step.
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
