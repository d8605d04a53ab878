// The UAI (Unité Administrative Immatriculée) names a French establishment: seven digits and a
// control letter. The seven-digit number modulo 23 indexes "ABCDEFGHJKLMNPRSTUVWXYZ".
// The first three digits give the département, which decides the default time zone and which
// regional public holidays apply (Alsace-Moselle, each overseas territory's own days).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace treve::policy {

// Where an establishment is, as far as time zones and public holidays are concerned.
enum class Region : std::uint8_t {
  metropole,           // everything not listed below
  alsace_moselle,      // 057 Moselle, 067 Bas-Rhin, 068 Haut-Rhin
  guadeloupe,          // 971
  martinique,          // 972
  guyane,              // 973
  reunion,             // 974
  saint_pierre,        // 975 Saint-Pierre-et-Miquelon
  mayotte,             // 976
  saint_barthelemy,    // 977
  saint_martin,        // 978
  wallis_futuna,       // 986
  polynesie,           // 987
  nouvelle_caledonie,  // 988
};

struct Uai {
  std::string code;  // e.g. "0750654D"
  Region region = Region::metropole;
};

// Validates a UAI. The error is a sentence for a human, e.g.
// "UAI 0750654A has control letter A, expected D" or
// "UAI must be 7 digits followed by a control letter, got \"75\"".
std::expected<Uai, std::string> parse_uai(std::string_view text);

// The control letter a 7-digit UAI number must carry.
char uai_control_letter(std::uint32_t number);

// The IANA time zone of a region (DESIGN.md's prefix table): metropole and Alsace-Moselle
// "Europe/Paris", 971 "America/Guadeloupe", ... 988 "Pacific/Noumea".
std::string_view default_timezone(Region region);

// A short human name for the region ("Alsace-Moselle", "Guadeloupe", "métropole").
std::string_view region_name(Region region);

}  // namespace treve::policy
