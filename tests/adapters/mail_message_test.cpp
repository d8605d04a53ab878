// The e-mail of a delivery as bytes (adapters/outbound/mail_message.h): its structure checked
// here line by line, and its meaning read back by an independent parser, npm `mailparser`
// (tests/channels/parse_mail.mjs), which decodes the RFC 2047 subject, the quoted-printable
// parts and the multipart body on its own.
#include "adapters/outbound/mail_message.h"

#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "adapters/outbound/mail_template.h"
#include "tests/support/mail_parser.h"
#include "tests/support/temp_dir.h"

namespace treve::adapters {
namespace {

using test::json_text;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kSaturday0600Utc = 1795845600;  // 2026-11-28T06:00:00Z

MailHeaders headers() {
  MailHeaders h;
  h.from = {"Collège Jean Moulin", "notifications@college.example.fr"};
  h.reply_to = {"", "vie-scolaire@college.example.fr"};
  h.to = "parent@example.fr";
  h.id = "dlv_4fd441f32eb35c96d3518c7dcffeee92";
  h.unix_seconds = kSaturday0600Utc;
  return h;
}

MailContent content(std::string subject) {
  return {std::move(subject), "Bonjour,\nUne note est arrivée.\n",
          "<p>Bonjour,</p>\n<p>Une note est arriv\xC3\xA9"
          "e.</p>\n"};
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find("\r\n", start);
    if (end == std::string_view::npos) {
      lines.emplace_back(text.substr(start));
      return lines;
    }
    lines.emplace_back(text.substr(start, end - start));
    start = end + 2;
  }
}

std::string head_of(std::string_view message) {
  return std::string(message.substr(0, message.find("\r\n\r\n") + 2));
}

// Every line break is CRLF, and no header line is longer than 78 characters.
void expect_well_formed(const std::string& message) {
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') {
      ASSERT_TRUE(i > 0 && message[i - 1] == '\r') << "bare LF at " << i;
    }
    if (message[i] == '\r') {
      ASSERT_TRUE(i + 1 < message.size() && message[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (const std::string& line : split_lines(head_of(message)))
    EXPECT_LE(line.size(), 78u) << line;
  for (const std::string& line : split_lines(message))
    EXPECT_LE(line.size(), 78u) << line;
}

// The message as mailparser reads it.
boost::json::value parsed(const std::string& message) {
  test::TempDir dir("treve-mail");
  const std::string file = dir.write("message.eml", message);
  auto result = test::parse_mail_files({file});
  if (!result) {
    ADD_FAILURE() << result.error();
    return {};
  }
  EXPECT_EQ(result->size(), 1u);
  return result->empty() ? boost::json::value() : (*result)[0];
}

TEST(MailMessage, HasEveryHeaderAndTwoQuotedPrintableParts) {
  auto m = build_mail(headers(), content("Nouvelle note en mathématiques"));
  ASSERT_TRUE(m) << m.error();
  expect_well_formed(m->text);
  const std::string head = head_of(m->text);
  EXPECT_THAT(head, HasSubstr("Date: Sat, 28 Nov 2026 06:00:00 +0000\r\n"));
  EXPECT_THAT(head, HasSubstr("To: parent@example.fr\r\n"));
  EXPECT_THAT(head, HasSubstr("Reply-To: vie-scolaire@college.example.fr\r\n"));
  EXPECT_THAT(head, HasSubstr("Message-ID: <dlv_4fd441f32eb35c96d3518c7dcffeee92@"
                              "college.example.fr>\r\n"));
  EXPECT_THAT(head, HasSubstr("MIME-Version: 1.0\r\n"));
  EXPECT_THAT(head, HasSubstr("Auto-Submitted: auto-generated\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Type: multipart/alternative;\r\n boundary=\"=_treve_dlv_"));
  EXPECT_EQ(m->message_id, "<dlv_4fd441f32eb35c96d3518c7dcffeee92@college.example.fr>");
  const std::string boundary = "--=_treve_dlv_4fd441f32eb35c96d3518c7dcffeee92";
  EXPECT_THAT(m->text, HasSubstr(boundary +
                                 "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                                 "Bonjour,\r\nUne note est arriv=C3=A9e.\r\n" +
                                 boundary + "\r\n"));
  EXPECT_THAT(m->text, HasSubstr("Content-Type: text/html; charset=utf-8\r\n"));
  EXPECT_TRUE(m->text.ends_with(boundary + "--\r\n"));

  const boost::json::value mail = parsed(m->text);
  EXPECT_EQ(json_text(mail, "subject"), "Nouvelle note en mathématiques");
  EXPECT_EQ(json_text(mail, "text"), "Bonjour,\nUne note est arrivée.");
  EXPECT_THAT(json_text(mail, "html"), HasSubstr("<p>Une note est arrivée.</p>"));
  EXPECT_EQ(json_text(mail, "messageId"),
            "<dlv_4fd441f32eb35c96d3518c7dcffeee92@college.example.fr>");
  EXPECT_EQ(json_text(mail, "date"), "2026-11-28T06:00:00.000Z");
  EXPECT_EQ(json_text(mail.at("from"), "address"), "notifications@college.example.fr");
  EXPECT_EQ(json_text(mail.at("from"), "name"), "Collège Jean Moulin");
  EXPECT_EQ(json_text(mail.at("to").at(0), "address"), "parent@example.fr");
  EXPECT_EQ(json_text(mail.at("replyTo"), "address"), "vie-scolaire@college.example.fr");
  EXPECT_EQ(json_text(mail.at("headers"), "auto-submitted"), "auto-generated");
  EXPECT_EQ(json_text(mail.at("headers"), "mime-version"), "1.0");
  EXPECT_EQ(mail.at("attachments").as_int64(), 0);
}

TEST(MailMessage, AShortAsciiSubjectStaysPlainAndAnAccentedOneIsEncoded) {
  EXPECT_EQ(subject_header("Nouvelle note"), "Subject: Nouvelle note\r\n");
  EXPECT_EQ(subject_header("Note"), "Subject: Note\r\n");
  // "é" is C3 A9: base64 of "Accès" is "QWNjw6hz".
  EXPECT_EQ(subject_header("Accès"), "Subject: =?UTF-8?B?QWNjw6hz?=\r\n");
  // Text that looks like an encoded-word is encoded itself, so that it reads as written.
  EXPECT_EQ(subject_header("=?UTF-8?B?QQ==?="),
            "Subject: =?UTF-8?B?PT9VVEYtOD9CP1FRPT0/PQ==?=\r\n");
}

TEST(MailMessage, ALongFrenchSubjectIsFoldedIntoWholeCharactersAndReadsBackWhole) {
  // 200 characters, most of them two bytes long, and a four-byte one in the middle.
  std::string title;
  while (title.size() < 150)
    title += "Réunion élèves ";
  title += "\xF0\x9F\x93\x9A";  // 📚
  while (title.size() < 330)
    title += "éàç ";
  title.resize(330);
  while ((static_cast<unsigned char>(title.back()) & 0xC0) == 0x80 ||
         static_cast<unsigned char>(title.back()) >= 0xC0)
    title.pop_back();
  title += "!";
  const std::string header = subject_header(title);
  const auto lines = split_lines(header.substr(0, header.size() - 2));
  EXPECT_GE(lines.size(), 5u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 78u) << lines[i];
    EXPECT_THAT(lines[i], HasSubstr("=?UTF-8?B?"));
    if (i > 0) {
      EXPECT_EQ(lines[i].front(), ' ');
    }
  }
  auto m = build_mail(headers(), content(title));
  ASSERT_TRUE(m) << m.error();
  expect_well_formed(m->text);
  EXPECT_EQ(json_text(parsed(m->text), "subject"), title);
}

TEST(MailMessage, NoValueCanAddAHeader) {
  // The subject: CR and LF become spaces.
  auto m = build_mail(headers(), content("Note\r\nBcc: everyone@example.org\nX-Evil: 1"));
  ASSERT_TRUE(m) << m.error();
  expect_well_formed(m->text);
  EXPECT_THAT(m->text, Not(HasSubstr("\r\nBcc:")));
  EXPECT_THAT(m->text, Not(HasSubstr("\r\nX-Evil:")));
  EXPECT_EQ(json_text(parsed(m->text), "subject"), "Note  Bcc: everyone@example.org X-Evil: 1");

  // The recipient's address, a display name, the reply-to and the id: refused.
  MailHeaders to = headers();
  to.to = "parent@example.fr\r\nBcc: everyone@example.org";
  auto refused = build_mail(to, content("Note"));
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error(), Not(HasSubstr("parent@")));  // no address in an error
  MailHeaders from = headers();
  from.from.name = "Collège\r\nBcc: everyone@example.org";
  EXPECT_FALSE(build_mail(from, content("Note")));
  MailHeaders reply = headers();
  reply.reply_to.address = "a@b.fr\nBcc: c@d.fr";
  EXPECT_FALSE(build_mail(reply, content("Note")));
  MailHeaders id = headers();
  id.id = "dlv_1\r\nBcc: everyone@example.org";
  EXPECT_FALSE(build_mail(id, content("Note")));
  id.id = "dlv_1>";
  EXPECT_FALSE(build_mail(id, content("Note")));
  id.id = std::string(63, 'a');
  EXPECT_FALSE(build_mail(id, content("Note")));
  EXPECT_FALSE(parse_mailbox("Vie scolaire <a@b.fr>\r\nBcc: c@d.fr"));
  EXPECT_FALSE(parse_mailbox("\"Vie\r\nscolaire\" <a@b.fr>"));

  // A body line that reads like a header or a boundary stays in its part.
  MailContent body = content("Note");
  body.text =
      "\r\n\r\nBcc: everyone@example.org\r\n--=_treve_dlv_4fd441f32eb35c96d3518c7dcffeee92--";
  auto in_body = build_mail(headers(), body);
  ASSERT_TRUE(in_body) << in_body.error();
  const boost::json::value mail = parsed(in_body->text);
  EXPECT_THAT(json_text(mail, "text"), HasSubstr("Bcc: everyone@example.org"));
  EXPECT_THAT(json_text(mail, "html"), HasSubstr("arrivée"));
  EXPECT_EQ(mail.at("to").as_array().size(), 1u);
}

TEST(MailMessage, DisplayNamesAreQuotedOrEncoded) {
  MailHeaders h = headers();
  h.from = {"Vie \"scolaire\"", "vs@college.example.fr"};
  auto m = build_mail(h, content("Note"));
  ASSERT_TRUE(m) << m.error();
  EXPECT_THAT(m->text, HasSubstr("From: \"Vie \\\"scolaire\\\"\" <vs@college.example.fr>\r\n"));
  EXPECT_EQ(json_text(parsed(m->text).at("from"), "name"), "Vie \"scolaire\"");

  h.from = {std::string(30, 'x') + " Établissement régional d'enseignement adapté Jean Moulin",
            "notifications@college.example.fr"};
  m = build_mail(h, content("Note"));
  ASSERT_TRUE(m) << m.error();
  expect_well_formed(m->text);
  EXPECT_EQ(json_text(parsed(m->text).at("from"), "name"), h.from.name);

  auto mailbox = parse_mailbox(" \"Collège Jean Moulin\" <notifications@college.example.fr> ");
  ASSERT_TRUE(mailbox) << mailbox.error();
  EXPECT_EQ(mailbox->name, "Collège Jean Moulin");
  EXPECT_EQ(mailbox->address, "notifications@college.example.fr");
  mailbox = parse_mailbox("Vie scolaire <vs@college.example.fr>");
  ASSERT_TRUE(mailbox);
  EXPECT_EQ(mailbox->name, "Vie scolaire");
  mailbox = parse_mailbox("vs@college.example.fr");
  ASSERT_TRUE(mailbox);
  EXPECT_EQ(mailbox->name, "");
  EXPECT_EQ(mailbox->address, "vs@college.example.fr");
  EXPECT_FALSE(parse_mailbox("Vie scolaire"));
  EXPECT_FALSE(parse_mailbox("<not an address>"));
}

TEST(MailMessage, TheMessageIdDependsOnTheDeliveryAndTheSenderOnly) {
  MailHeaders later = headers();
  later.unix_seconds += 3600;
  later.to = "other@example.fr";
  auto first = build_mail(headers(), content("Note"));
  auto again = build_mail(later, content("Autre sujet"));
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first->message_id, again->message_id);
  EXPECT_THAT(again->text, HasSubstr("Date: Sat, 28 Nov 2026 07:00:00 +0000\r\n"));
  MailHeaders other = headers();
  other.id = "dlv_00000000000000000000000000000000";
  EXPECT_NE(build_mail(other, content("Note"))->message_id, first->message_id);
  EXPECT_EQ(mail_message_id("dig_1", "a@lycee.example.fr"), "<dig_1@lycee.example.fr>");
}

TEST(MailMessage, DatesAreRfc5322InUtc) {
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(kSaturday0600Utc + 3 * 86400 + 3661), "Tue, 01 Dec 2026 07:01:01 +0000");
}

TEST(MailMessage, QuotedPrintableKeepsLinesShortAndEncodesWhatItMust) {
  EXPECT_EQ(quoted_printable("a=b\nc \nd\te"), "a=3Db\r\nc=20\r\nd\te");
  EXPECT_EQ(quoted_printable("x\r\ny\rz"), "x\r\ny\r\nz");
  const std::string long_line(200, 'a');
  const std::string encoded = quoted_printable(long_line + "\n" + std::string(100, '\xE9'));
  for (const std::string& line : split_lines(encoded))
    EXPECT_LE(line.size(), 76u) << line;
  // An encoded triplet is never cut by a soft break.
  for (const std::string& line : split_lines(encoded)) {
    const auto eq = line.rfind('=');
    if (eq != std::string::npos) {
      EXPECT_TRUE(eq + 1 == line.size() || eq + 3 <= line.size()) << line;
    }
  }
  // Decoded by mailparser: the very text.
  MailContent c = content("Note");
  c.text = long_line + " \n" + std::string(30, ' ') + "é=à\tfin\t\n.\nFrom here";
  auto m = build_mail(headers(), c);
  ASSERT_TRUE(m);
  expect_well_formed(m->text);
  EXPECT_EQ(json_text(parsed(m->text), "text"), c.text.substr(0, c.text.size()));
}

TEST(MailMessage, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(valid_utf8("Élève 📚"));
  EXPECT_FALSE(valid_utf8("\xC3"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xE2\x82"));
}

}  // namespace
}  // namespace treve::adapters
