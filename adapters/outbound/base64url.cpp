#include "adapters/outbound/base64url.h"

#include <array>
#include <cstdint>

namespace treve::adapters {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of each character, or -1.
constexpr std::array<std::int8_t, 256> make_values() {
  std::array<std::int8_t, 256> values{};
  values.fill(-1);
  for (int i = 0; i < 64; ++i)
    values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return values;
}
constexpr std::array<std::int8_t, 256> kValues = make_values();

}  // namespace

std::string base64url_encode(std::span<const unsigned char> data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                                std::uint32_t{data[i + 2]};
    out += kAlphabet[(group >> 18) & 0x3F];
    out += kAlphabet[(group >> 12) & 0x3F];
    out += kAlphabet[(group >> 6) & 0x3F];
    out += kAlphabet[group & 0x3F];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t group = std::uint32_t{data[i]} << 16;
    out += kAlphabet[(group >> 18) & 0x3F];
    out += kAlphabet[(group >> 12) & 0x3F];
  } else if (rest == 2) {
    const std::uint32_t group = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(group >> 18) & 0x3F];
    out += kAlphabet[(group >> 12) & 0x3F];
    out += kAlphabet[(group >> 6) & 0x3F];
  }
  return out;
}

std::string base64url_encode(std::string_view data) {
  return base64url_encode(
      std::span(reinterpret_cast<const unsigned char*>(data.data()), data.size()));
}

std::expected<std::vector<unsigned char>, std::string> base64url_decode(std::string_view text) {
  // Padding: only the `=`s that complete the last group of four.
  std::size_t padding = 0;
  while (padding < text.size() && text[text.size() - 1 - padding] == '=')
    ++padding;
  if (padding > 0) {
    text.remove_suffix(padding);
    if (padding > 2 || (text.size() + padding) % 4 != 0 || (text.size() % 4) + padding != 4)
      return std::unexpected(std::string("not base64url: wrong padding"));
  }
  if (text.size() % 4 == 1)
    return std::unexpected("not base64url: " + std::to_string(text.size()) +
                           " characters is no encoding's length");
  std::vector<unsigned char> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;  // bits held
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::int8_t v = kValues[static_cast<unsigned char>(text[i])];
    if (v < 0)
      return std::unexpected("not base64url: invalid character at offset " + std::to_string(i));
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<unsigned char>((bits >> count) & 0xFF));
    }
  }
  if (count > 0 && (bits & ((1u << count) - 1)) != 0)
    return std::unexpected(std::string("not base64url: the last character has stray bits"));
  return out;
}

}  // namespace treve::adapters
