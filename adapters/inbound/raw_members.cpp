#include "adapters/inbound/raw_members.h"
#include "adapters/inbound/json_text.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace treve::adapters {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class Scanner {
 public:
  explicit Scanner(std::string_view t) : t_(t) {}
  bool done() const { return i_ >= t_.size(); }
  char peek() const { return done() ? '\0' : t_[i_]; }
  void skip_space() {
    while (!done() && is_space(t_[i_]))
      ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (peek() != c)
      return false;
    ++i_;
    return true;
  }
  // A string token, quotes included; empty on malformed input.
  std::string_view string_token() {
    skip_space();
    const std::size_t start = i_;
    if (peek() != '"')
      return {};
    for (++i_; !done(); ++i_) {
      if (t_[i_] == '\\') {
        ++i_;
      } else if (t_[i_] == '"') {
        ++i_;
        return t_.substr(start, i_ - start);
      }
    }
    return {};
  }
  // One value of any kind; empty on malformed input.
  std::string_view value() {
    skip_space();
    const std::size_t start = i_;
    const char c = peek();
    if (c == '"')
      return string_token();
    if (c == '{' || c == '[') {
      int depth = 0;
      while (!done()) {
        const char d = t_[i_];
        if (d == '"') {
          if (string_token().empty())
            return {};
          continue;
        }
        ++i_;
        if (d == '{' || d == '[') {
          ++depth;
        } else if (d == '}' || d == ']') {
          if (--depth == 0)
            return t_.substr(start, i_ - start);
        }
      }
      return {};
    }
    while (!done() && !is_space(t_[i_]) && t_[i_] != ',' && t_[i_] != '}' && t_[i_] != ']')
      ++i_;
    return t_.substr(start, i_ - start);
  }

 private:
  std::string_view t_;
  std::size_t i_ = 0;
};

std::string unescape_key(std::string_view token) {
  const std::string_view inner = token.substr(1, token.size() - 2);
  if (inner.find('\\') == std::string_view::npos)
    return std::string(inner);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(token, ec);
  return !ec && v.is_string() ? std::string(v.get_string()) : std::string(inner);
}

}  // namespace

std::vector<RawMember> raw_members(std::string_view text) {
  std::vector<RawMember> out;
  Scanner s(text);
  if (!s.eat('{') || s.eat('}'))
    return out;
  do {
    const std::string_view key = s.string_token();
    if (key.empty() || !s.eat(':'))
      return {};
    const std::string_view value = s.value();
    if (value.empty())
      return {};
    out.push_back({unescape_key(key), value});
  } while (s.eat(','));
  if (!s.eat('}'))
    return {};
  return out;
}

std::string_view raw_member(std::string_view text, std::string_view key) {
  std::string_view found;
  for (const RawMember& m : raw_members(text)) {
    if (m.key == key)
      found = m.value;
  }
  return found;
}

std::vector<std::string_view> raw_elements(std::string_view text) {
  std::vector<std::string_view> out;
  Scanner s(text);
  if (!s.eat('[') || s.eat(']'))
    return out;
  do {
    const std::string_view value = s.value();
    if (value.empty())
      return {};
    out.push_back(value);
  } while (s.eat(','));
  if (!s.eat(']'))
    return {};
  return out;
}

std::optional<Problem> repeated_member(std::string_view text, const std::string& prefix) {
  return repeated_member(raw_members(text), prefix);
}

std::optional<Problem> repeated_member(const std::vector<RawMember>& members,
                                       const std::string& prefix) {
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (members[i].key == members[j].key)
        return invalid_field(prefix + "/" + pointer_token(members[i].key),
                             "field \"" + members[i].key + "\" is given twice");
    }
  }
  return std::nullopt;
}

}  // namespace treve::adapters
