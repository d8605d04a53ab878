#include "adapters/outbound/mail_message.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

#include "adapters/outbound/addresses.h"

namespace treve::adapters {
namespace {

// RFC 5322 §2.1.1: lines SHOULD be at most 78 characters; RFC 2047 §2: an encoded-word at
// most 75.
constexpr std::size_t kMaxLine = 78;
constexpr std::size_t kMaxWord = 75;
constexpr std::string_view kWordStart = "=?UTF-8?B?";
constexpr std::string_view kWordEnd = "?=";
// quoted-printable lines, the soft break's `=` included (RFC 2045 §6.7 rule 5).
constexpr std::size_t kMaxQpLine = 76;
constexpr std::size_t kMaxId = 62;  // "=_treve_" + id is a boundary of at most 70 (RFC 2046)

constexpr std::string_view kHex = "0123456789ABCDEF";

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

// The longest prefix of `s` of at most `n` bytes that ends on a UTF-8 character boundary.
std::size_t utf8_prefix(std::string_view s, std::size_t n) {
  if (n >= s.size())
    return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  return n;
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

// One header field being written, folded before a token that would make its line longer than
// 78 characters.
class HeaderField {
 public:
  explicit HeaderField(std::string_view name) : out_(name) {
    out_ += ':';
    column_ = out_.size();
  }
  // Characters a token may take on the current line after its separating space.
  std::size_t room() const { return column_ + 1 >= kMaxLine ? 0 : kMaxLine - column_ - 1; }
  void fold() {
    out_ += "\r\n";
    column_ = 0;
    tokens_on_line_ = 0;
  }
  void add(std::string_view token) {
    out_ += ' ';
    out_ += token;
    column_ += 1 + token.size();
    ++tokens_on_line_;
  }
  // Folds first when the token does not fit and the line already holds one.
  void add_folding(std::string_view token) {
    if (token.size() > room() && tokens_on_line_ > 0)
      fold();
    add(token);
  }
  // `text` as encoded-words of whole UTF-8 characters, each as long as the line allows.
  void add_encoded(std::string_view text) {
    constexpr std::size_t kOverhead = kWordStart.size() + kWordEnd.size();
    while (!text.empty()) {
      std::size_t width = std::min(kMaxWord, room());
      if (width < kOverhead + 8) {
        fold();
        width = std::min(kMaxWord, room());
      }
      const std::size_t max_bytes = (width - kOverhead) / 4 * 3;
      std::size_t n = utf8_prefix(text, max_bytes);
      if (n == 0)
        n = std::min(text.size(), max_bytes);  // not UTF-8: cut anywhere rather than loop
      std::string word(kWordStart);
      word += base64(text.substr(0, n));
      word += kWordEnd;
      add(word);
      text.remove_prefix(n);
    }
  }
  void add_mailbox(const Mailbox& m) {
    const std::string angle = "<" + m.address + ">";
    if (m.name.empty()) {
      add_folding(m.address);
      return;
    }
    if (printable_ascii(m.name) && m.name.find("=?") == std::string::npos) {
      std::string quoted = "\"";
      for (char c : m.name) {
        if (c == '"' || c == '\\')
          quoted += '\\';
        quoted += c;
      }
      quoted += '"';
      if (quoted.size() + 1 + angle.size() <= room()) {
        add(quoted);
        add(angle);
        return;
      }
    }
    add_encoded(m.name);
    add_folding(angle);
  }
  std::string finish() && {
    out_ += "\r\n";
    return std::move(out_);
  }

 private:
  std::string out_;
  std::size_t column_ = 0;
  int tokens_on_line_ = 0;
};

std::string field(std::string_view name, std::string_view value) {
  HeaderField f(name);
  f.add(value);
  return std::move(f).finish();
}

std::string mailbox_field(std::string_view name, const Mailbox& m) {
  HeaderField f(name);
  f.add_mailbox(m);
  return std::move(f).finish();
}

// Control characters (CR, LF, tab…) become spaces; spaces at either end are dropped.
std::string one_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    out += is_control(static_cast<unsigned char>(c)) ? ' ' : c;
  const auto first = out.find_first_not_of(' ');
  if (first == std::string::npos)
    return {};
  return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

// `what` ("from: "), when not empty, starts the error.
std::expected<void, std::string> check_mailbox(const Mailbox& m, std::string_view what) {
  if (!plausible_email(m.address))
    return std::unexpected(std::string(what) + "not an e-mail address (local@domain)");
  if (!valid_utf8(m.name) || std::any_of(m.name.begin(), m.name.end(), [](char c) {
        return is_control(static_cast<unsigned char>(c));
      })) {
    return std::unexpected(std::string(what) +
                           "the name holds a control character or is not UTF-8");
  }
  return {};
}

bool acceptable_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxId || id.front() == '.' || id.back() == '.' ||
      id.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kBlank = " \t";
  const auto first = s.find_first_not_of(kBlank);
  if (first == std::string_view::npos)
    return {};
  return s.substr(first, s.find_last_not_of(kBlank) - first + 1);
}

// One part of the alternative: its headers and its text in quoted-printable.
void append_part(std::string& out, std::string_view boundary, std::string_view type,
                 std::string_view text) {
  out.append("--").append(boundary).append("\r\n");
  out.append("Content-Type: ").append(type).append("; charset=utf-8\r\n");
  out.append("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
  // The CRLF before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1): line
  // breaks ending the text would add blank lines.
  std::string_view body = text;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
    body.remove_suffix(1);
  out.append(quoted_printable(body)).append("\r\n");
}

}  // namespace

std::expected<Mailbox, std::string> parse_mailbox(std::string_view text) {
  text = trim(text);
  Mailbox m;
  const auto open = text.rfind('<');
  if (!text.empty() && text.back() == '>' && open != std::string_view::npos) {
    m.address = std::string(text.substr(open + 1, text.size() - open - 2));
    std::string_view name = trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size())
          ++i;
        m.name += name[i];
      }
    } else {
      m.name = std::string(name);
    }
  } else {
    m.address = std::string(text);
  }
  if (auto ok = check_mailbox(m, ""); !ok)
    return std::unexpected(ok.error());
  return m;
}

std::string mail_message_id(std::string_view id, std::string_view from_address) {
  const auto at = from_address.rfind('@');
  const std::string_view domain =
      at == std::string_view::npos ? std::string_view("treve") : from_address.substr(at + 1);
  std::string out = "<";
  out.append(id).append("@").append(domain).append(">");
  return out;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_seconds t{seconds{unix_seconds}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%s, %02u %s %04d %02d:%02d:%02d +0000",
                kDays[weekday{day}.c_encoding()], static_cast<unsigned>(ymd.day()),
                kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buffer.data();
}

std::string subject_header(std::string_view value) {
  const std::string subject = one_line(value);
  HeaderField f("Subject");
  if (printable_ascii(subject) && subject.find("=?") == std::string::npos &&
      subject.size() <= f.room()) {
    if (!subject.empty())
      f.add(subject);
  } else {
    f.add_encoded(subject);
  }
  return std::move(f).finish();
}

std::string quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t column = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      out += "\r\n";
      column = 0;
      continue;
    }
    const bool line_end = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
    const bool literal =
        (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end);
    const std::size_t width = literal ? 1 : 3;
    // The last character of a line may use the 76th column; any other leaves it for a `=`.
    if (column + width > (line_end ? kMaxQpLine : kMaxQpLine - 1)) {
      out += "=\r\n";
      column = 0;
    }
    if (literal) {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
    column += width;
  }
  return out;
}

std::expected<MailMessage, std::string> build_mail(const MailHeaders& headers,
                                                   const MailContent& content) {
  if (auto ok = check_mailbox(headers.from, "from: "); !ok)
    return std::unexpected(ok.error());
  if (!headers.reply_to.address.empty()) {
    if (auto ok = check_mailbox(headers.reply_to, "reply_to: "); !ok)
      return std::unexpected(ok.error());
  }
  // Never the address itself in the error: it is personal data.
  if (!plausible_email(headers.to))
    return std::unexpected(std::string("the recipient's address is not an e-mail address"));
  if (!acceptable_id(headers.id)) {
    return std::unexpected(
        std::string("the message id must be 1 to 62 characters of letters, digits, '.', '_', "
                    "'-'"));
  }
  MailMessage m;
  m.message_id = mail_message_id(headers.id, headers.from.address);
  const std::string boundary = "=_treve_" + headers.id;

  std::string& out = m.text;
  out.reserve(content.text.size() + content.html.size() * 11 / 10 + 2048);
  out += field("Date", rfc5322_date(headers.unix_seconds));
  out += mailbox_field("From", headers.from);
  out += field("To", headers.to);
  if (!headers.reply_to.address.empty())
    out += mailbox_field("Reply-To", headers.reply_to);
  out += subject_header(content.subject);
  out += field("Message-ID", m.message_id);
  out += "MIME-Version: 1.0\r\n";
  out += "Auto-Submitted: auto-generated\r\n";
  out += "X-Auto-Response-Suppress: All\r\n";
  out += "Content-Language: fr\r\n";
  out += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n";
  out += "\r\n";
  append_part(out, boundary, "text/plain", content.text);
  append_part(out, boundary, "text/html", content.html);
  out.append("--").append(boundary).append("--\r\n");
  return m;
}

}  // namespace treve::adapters
