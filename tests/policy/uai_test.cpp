#include "policy/uai.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace treve::policy {
namespace {

// Builds a valid UAI from a 7-digit number by appending its control letter.
std::string valid_uai(std::string_view digits) {
  std::string code(digits);
  code += uai_control_letter(static_cast<std::uint32_t>(std::stoul(code)));
  return code;
}

TEST(Uai, ControlLetterIsTheNumberModulo23IntoTheLetterTable) {
  EXPECT_EQ(uai_control_letter(0), 'A');
  EXPECT_EQ(uai_control_letter(7), 'H');
  EXPECT_EQ(uai_control_letter(8), 'J');  // I is skipped
  EXPECT_EQ(uai_control_letter(12), 'N');
  EXPECT_EQ(uai_control_letter(13), 'P');  // O is skipped
  EXPECT_EQ(uai_control_letter(14), 'R');  // Q is skipped
  EXPECT_EQ(uai_control_letter(22), 'Z');
  EXPECT_EQ(uai_control_letter(23), 'A');
  EXPECT_EQ(uai_control_letter(750654), 'D');  // 750654 = 23 * 32637 + 3
}

TEST(Uai, AcceptsAValidCodeAndKeepsItVerbatim) {
  const auto uai = parse_uai("0750654D");
  ASSERT_TRUE(uai.has_value()) << uai.error();
  EXPECT_EQ(uai->code, "0750654D");
  EXPECT_EQ(uai->region, Region::metropole);
}

TEST(Uai, AcceptsOtherKnownValidCodes) {
  // 250001 = 23 * 10869 + 14 -> R; 0 -> A; 9999999 = 23 * 434782 + 13 -> P.
  for (const std::string_view code : {"0250001R", "0000000A", "9999999P"}) {
    const auto uai = parse_uai(code);
    ASSERT_TRUE(uai.has_value()) << code << ": " << uai.error();
    EXPECT_EQ(uai->code, code);
  }
}

TEST(Uai, RejectsWrongControlLetterAndSaysWhichWasExpected) {
  const auto uai = parse_uai("0750654A");
  ASSERT_FALSE(uai.has_value());
  EXPECT_EQ(uai.error(), "UAI 0750654A has control letter A, expected D");
}

TEST(Uai, RejectsLowerCaseControlLetterAndSaysUpperCaseIsExpected) {
  const auto uai = parse_uai("0750654d");
  ASSERT_FALSE(uai.has_value());
  EXPECT_NE(uai.error().find("upper-case"), std::string::npos) << uai.error();
  EXPECT_NE(uai.error().find("0750654d"), std::string::npos) << uai.error();
  EXPECT_NE(uai.error().find("expected D"), std::string::npos) << uai.error();
}

TEST(Uai, RejectsTooShortInputAndQuotesIt) {
  const auto uai = parse_uai("75");
  ASSERT_FALSE(uai.has_value());
  EXPECT_EQ(uai.error(), "UAI must be 7 digits followed by a control letter, got \"75\"");
}

TEST(Uai, RejectsWrongLengths) {
  for (const std::string_view text : {"", "0750654", "750654D", "00750654D", "0750654DD"}) {
    const auto uai = parse_uai(text);
    ASSERT_FALSE(uai.has_value()) << '"' << text << '"';
    EXPECT_NE(uai.error().find("7 digits followed by a control letter"), std::string::npos)
        << uai.error();
  }
}

TEST(Uai, RejectsNonDigitsInTheNumber) {
  for (const std::string_view text : {"075O654D", "A750654D", "075065 D", "07506-4D", " 750654D"}) {
    const auto uai = parse_uai(text);
    ASSERT_FALSE(uai.has_value()) << '"' << text << '"';
    EXPECT_NE(uai.error().find("7 digits followed by a control letter"), std::string::npos)
        << uai.error();
  }
}

TEST(Uai, RejectsANonLetterInTheControlPosition) {
  for (const std::string_view text : {"07506543", "0750654 ", "0750654-", "0750654\xC3"}) {
    const auto uai = parse_uai(text);
    ASSERT_FALSE(uai.has_value()) << '"' << text << '"';
  }
}

TEST(Uai, RejectsSurroundingWhitespace) {
  EXPECT_FALSE(parse_uai(" 0750654D").has_value());
  EXPECT_FALSE(parse_uai("0750654D ").has_value());
  EXPECT_FALSE(parse_uai("0750654D\n").has_value());
}

struct PrefixCase {
  std::string_view digits;
  Region region;
};

TEST(Uai, DerivesTheRegionFromEachSpecialPrefix) {
  const PrefixCase cases[] = {
      {"0570001", Region::alsace_moselle}, {"0670001", Region::alsace_moselle},
      {"0680001", Region::alsace_moselle}, {"9710001", Region::guadeloupe},
      {"9720001", Region::martinique},     {"9730001", Region::guyane},
      {"9740001", Region::reunion},        {"9750001", Region::saint_pierre},
      {"9760001", Region::mayotte},        {"9770001", Region::saint_barthelemy},
      {"9780001", Region::saint_martin},   {"9860001", Region::wallis_futuna},
      {"9870001", Region::polynesie},      {"9880001", Region::nouvelle_caledonie},
  };
  for (const auto& c : cases) {
    const std::string code = valid_uai(c.digits);
    const auto uai = parse_uai(code);
    ASSERT_TRUE(uai.has_value()) << code << ": " << uai.error();
    EXPECT_EQ(uai->region, c.region) << code;
  }
}

TEST(Uai, TreatsEveryOtherPrefixAsMetropole) {
  for (const std::string_view digits :
       {"0750654", "0130001", "0560001", "0580001", "0660001", "0690001", "0200001", "9700001",
        "9790001", "9850001", "9890001", "0000000"}) {
    const std::string code = valid_uai(digits);
    const auto uai = parse_uai(code);
    ASSERT_TRUE(uai.has_value()) << code << ": " << uai.error();
    EXPECT_EQ(uai->region, Region::metropole) << code;
  }
}

struct TimezoneCase {
  Region region;
  std::string_view timezone;
};

TEST(Uai, GivesEachRegionItsDefaultTimezone) {
  const TimezoneCase cases[] = {
      {Region::metropole, "Europe/Paris"},
      {Region::alsace_moselle, "Europe/Paris"},
      {Region::guadeloupe, "America/Guadeloupe"},
      {Region::martinique, "America/Martinique"},
      {Region::guyane, "America/Cayenne"},
      {Region::reunion, "Indian/Reunion"},
      {Region::saint_pierre, "America/Miquelon"},
      {Region::mayotte, "Indian/Mayotte"},
      {Region::saint_barthelemy, "America/St_Barthelemy"},
      {Region::saint_martin, "America/Marigot"},
      {Region::wallis_futuna, "Pacific/Wallis"},
      {Region::polynesie, "Pacific/Tahiti"},
      {Region::nouvelle_caledonie, "Pacific/Noumea"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(default_timezone(c.region), c.timezone) << region_name(c.region);
  }
}

TEST(Uai, NamesRegionsInFrench) {
  EXPECT_EQ(region_name(Region::metropole), "métropole");
  EXPECT_EQ(region_name(Region::alsace_moselle), "Alsace-Moselle");
  EXPECT_EQ(region_name(Region::guadeloupe), "Guadeloupe");
  EXPECT_EQ(region_name(Region::martinique), "Martinique");
  EXPECT_EQ(region_name(Region::guyane), "Guyane");
  EXPECT_EQ(region_name(Region::reunion), "La Réunion");
  EXPECT_EQ(region_name(Region::saint_pierre), "Saint-Pierre-et-Miquelon");
  EXPECT_EQ(region_name(Region::mayotte), "Mayotte");
  EXPECT_EQ(region_name(Region::saint_barthelemy), "Saint-Barthélemy");
  EXPECT_EQ(region_name(Region::saint_martin), "Saint-Martin");
  EXPECT_EQ(region_name(Region::wallis_futuna), "Wallis-et-Futuna");
  EXPECT_EQ(region_name(Region::polynesie), "Polynésie française");
  EXPECT_EQ(region_name(Region::nouvelle_caledonie), "Nouvelle-Calédonie");
}

}  // namespace
}  // namespace treve::policy
