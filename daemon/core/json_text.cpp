#include "daemon/core/json_text.h"

#include <algorithm>

namespace treve::core {
namespace {

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t run = 0;  // start of the characters that need no escaping, appended together
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (u) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[u >> 4];
        out += kHex[u & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

std::string json_without_layout(std::string_view text) {
  auto white = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::string out;
  out.reserve(text.size());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Outside strings: a run up to the next white space or string.
    std::size_t j = i;
    while (j < n && text[j] != '"' && !white(text[j]))
      ++j;
    out.append(text, i, j - i);
    if (j == n)
      break;
    if (white(text[j])) {
      i = j + 1;
      continue;
    }
    // A string, whole, through its closing quote; an escaped character is skipped over.
    std::size_t k = j + 1;
    while (k < n && text[k] != '"')
      k += text[k] == '\\' ? 2 : 1;
    k = std::min(k + 1, n);
    out.append(text, j, k - j);
    i = k;
  }
  return out;
}

}  // namespace treve::core
