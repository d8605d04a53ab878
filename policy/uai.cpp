#include "policy/uai.h"

#include <array>
#include <utility>

namespace treve::policy {
namespace {

// The 23 control letters: the alphabet without I, O and Q.
constexpr std::string_view kControlLetters = "ABCDEFGHJKLMNPRSTUVWXYZ";
static_assert(kControlLetters.size() == 23);

constexpr std::size_t kDigitCount = 7;
constexpr std::size_t kUaiLength = kDigitCount + 1;

struct PrefixRegion {
  std::string_view prefix;
  Region region;
};

// Three-digit département prefixes that are not plain métropole.
constexpr std::array<PrefixRegion, 14> kPrefixRegions = {{
    {"057", Region::alsace_moselle},
    {"067", Region::alsace_moselle},
    {"068", Region::alsace_moselle},
    {"971", Region::guadeloupe},
    {"972", Region::martinique},
    {"973", Region::guyane},
    {"974", Region::reunion},
    {"975", Region::saint_pierre},
    {"976", Region::mayotte},
    {"977", Region::saint_barthelemy},
    {"978", Region::saint_martin},
    {"986", Region::wallis_futuna},
    {"987", Region::polynesie},
    {"988", Region::nouvelle_caledonie},
}};

struct RegionInfo {
  std::string_view timezone;
  std::string_view name;
};

// Indexed by Region; keep in the enum's order.
constexpr std::array<RegionInfo, 13> kRegionInfo = {{
    {"Europe/Paris", "métropole"},
    {"Europe/Paris", "Alsace-Moselle"},
    {"America/Guadeloupe", "Guadeloupe"},
    {"America/Martinique", "Martinique"},
    {"America/Cayenne", "Guyane"},
    {"Indian/Reunion", "La Réunion"},
    {"America/Miquelon", "Saint-Pierre-et-Miquelon"},
    {"Indian/Mayotte", "Mayotte"},
    {"America/St_Barthelemy", "Saint-Barthélemy"},
    {"America/Marigot", "Saint-Martin"},
    {"Pacific/Wallis", "Wallis-et-Futuna"},
    {"Pacific/Tahiti", "Polynésie française"},
    {"Pacific/Noumea", "Nouvelle-Calédonie"},
}};
static_assert(static_cast<std::size_t>(Region::nouvelle_caledonie) + 1 == kRegionInfo.size());

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
constexpr bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}

Region region_of(std::string_view digits) {
  const std::string_view prefix = digits.substr(0, 3);
  for (const auto& entry : kPrefixRegions) {
    if (entry.prefix == prefix)
      return entry.region;
  }
  return Region::metropole;
}

std::string shape_error(std::string_view text) {
  std::string message = "UAI must be 7 digits followed by a control letter, got \"";
  message += text;
  message += '"';
  return message;
}

const RegionInfo& info(Region region) {
  const auto index = static_cast<std::size_t>(region);
  return index < kRegionInfo.size() ? kRegionInfo[index] : kRegionInfo[0];
}

}  // namespace

char uai_control_letter(std::uint32_t number) {
  return kControlLetters[number % 23];
}

std::expected<Uai, std::string> parse_uai(std::string_view text) {
  if (text.size() != kUaiLength)
    return std::unexpected(shape_error(text));

  const std::string_view digits = text.substr(0, kDigitCount);
  std::uint32_t number = 0;
  for (const char c : digits) {
    if (!is_digit(c))
      return std::unexpected(shape_error(text));
    number = number * 10 + static_cast<std::uint32_t>(c - '0');
  }

  const char letter = text[kDigitCount];
  const char expected = uai_control_letter(number);
  if (is_lower(letter)) {
    std::string message = "UAI ";
    message += text;
    message += " has a lower-case control letter ";
    message += letter;
    message += "; the control letter must be upper-case (expected ";
    message += expected;
    message += ')';
    return std::unexpected(std::move(message));
  }
  if (!is_upper(letter))
    return std::unexpected(shape_error(text));
  if (letter != expected) {
    std::string message = "UAI ";
    message += text;
    message += " has control letter ";
    message += letter;
    message += ", expected ";
    message += expected;
    return std::unexpected(std::move(message));
  }

  return Uai{.code = std::string(text), .region = region_of(digits)};
}

std::string_view default_timezone(Region region) {
  return info(region).timezone;
}

std::string_view region_name(Region region) {
  return info(region).name;
}

}  // namespace treve::policy
