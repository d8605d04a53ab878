#include "daemon/config/diagnostic.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/admin/messages_fr.h"
#include "daemon/config/config.h"
#include "daemon/config/ics_calendar.h"

namespace treve::config {
namespace {

using admin::message_fr;
using admin::render_fr;
using ::testing::ElementsAre;

// A diagnostic of `code` with as many arguments as its message takes, each telling which it is.
Diagnostic sample(const CodeInfo& info) {
  Diagnostic d{.code = info.code, .file = "treve.toml", .line = 7, .key = "policy.x"};
  for (std::size_t i = 0; i < info.arguments; ++i)
    d.args.push_back("a" + std::to_string(i));
  if (info.ics_event) {
    d.args[1] = "12";
    d.args[3] = "Réunion";
  }
  return d;
}

TEST(Diagnostic, EveryCodeHasAStableIdAnEnglishAndADifferentFrenchMessage) {
  std::set<std::string_view> ids;
  ASSERT_GT(all_codes().size(), 60u);
  for (const CodeInfo& info : all_codes()) {
    SCOPED_TRACE(std::string(info.id));
    EXPECT_TRUE(ids.insert(info.id).second) << "duplicate id";
    EXPECT_TRUE(info.id.starts_with("config.") || info.id.starts_with("ics.") ||
                info.id.starts_with("policy."));
    EXPECT_EQ(code_id(info.code), info.id);
    const Diagnostic d = sample(info);
    const std::string en = message_en(d);
    const std::string fr = message_fr(d);
    EXPECT_FALSE(en.empty());
    EXPECT_FALSE(fr.empty());
    EXPECT_NE(fr, en);
    EXPECT_EQ(render_en(d), "treve.toml:7: policy.x: " + en);
    EXPECT_EQ(render_fr(d), "treve.toml:7: policy.x: " + fr);
    // Every argument shows in both languages, but for bad_uai's: its English gives the reason
    // alone, its French the UAI and what a UAI is.
    for (std::size_t i = 0; i < d.args.size(); ++i) {
      if (info.ics_event && i >= 1 && i <= 3)
        continue;
      if (!(info.code == Code::bad_uai && i == 0)) {
        EXPECT_THAT(en, ::testing::HasSubstr(d.args[i])) << "argument " << i;
      }
      if (info.code != Code::missing_key && !(info.code == Code::bad_uai && i == 1)) {
        EXPECT_THAT(fr, ::testing::HasSubstr(d.args[i])) << "argument " << i;
      }
    }
  }
}

TEST(Diagnostic, EnglishIsCheckConfigsText) {
  EXPECT_EQ(render_en({Code::bad_time, "/etc/treve/treve.toml", 12, "policy.quiet[0].end", {"7h"}}),
            "/etc/treve/treve.toml:12: policy.quiet[0].end: expected a time \"HH:MM\" (00:00 to "
            "23:59), got \"7h\"");
  EXPECT_EQ(render_en({Code::toml_syntax, "t.toml", 3, "", {"expected '='"}}),
            "t.toml:3: TOML syntax error: expected '='");
  EXPECT_EQ(render_en({.code = Code::no_sinks}),
            "no [[sinks]]: released notifications will wait in the due state");
  EXPECT_EQ(render_en({.code = Code::ics_timed_event, .args = {"", "27", "2", "Réunion"}}),
            "line 27: event \"Réunion\" has a time, not a whole day: ignored");
  EXPECT_EQ(render_en({.code = Code::ics_no_vcalendar, .args = {"/x/zone-a.ics"}}),
            "/x/zone-a.ics: not an iCalendar file (no VCALENDAR)");
  EXPECT_EQ(render_en({.code = Code::ics_dtend_before_dtstart,
                       .args = {"", "0", "3", "", "2026-10-17", "2026-11-02"}}),
            "event 3: untitled event: DTEND 2026-10-17 is before DTSTART 2026-11-02");
  std::ostringstream os;
  os << Diagnostic{Code::must_be_string, "t.toml", 1, "server.listen", {}};
  EXPECT_EQ(os.str(), "t.toml:1: server.listen: must be a string");
}

TEST(Diagnostic, SomeFrenchTexts) {
  EXPECT_EQ(message_fr({.code = Code::bad_time, .args = {"7h"}}),
            "heure attendue au format HH:MM (de 00:00 à 23:59), reçu « 7h »");
  EXPECT_EQ(message_fr({.code = Code::missing_key, .args = {"start"}}), "heure de début manquante");
  EXPECT_EQ(message_fr({.code = Code::missing_key, .args = {"days"}}), "cochez au moins un jour");
  EXPECT_EQ(message_fr({.code = Code::unknown_key, .args = {"days, start, end, end_day, name"}}),
            "clé inconnue ; clés possibles : days, start, end, end_day, name");
  EXPECT_EQ(message_fr({.code = Code::unknown_zone, .args = {"Europe/Pariss"}}),
            "fuseau horaire inconnu « Europe/Pariss » (par exemple Europe/Paris)");
  EXPECT_EQ(message_fr({.code = Code::window_name_too_long, .args = {"64", "65"}}),
            "le nom ne peut dépasser 64 caractères (65 reçus)");
  EXPECT_EQ(message_fr({.code = Code::must_be_table_array, .args = {"establishments.X.quiet"}}),
            "doit être une liste de fenêtres");
  EXPECT_EQ(message_fr({.code = Code::ics_timed_event, .args = {"", "27", "2", "Réunion"}}),
            "ligne 27 : l'événement « Réunion » a une heure, ce n'est pas une journée entière : "
            "ignoré");
  EXPECT_EQ(message_fr({.code = Code::ics_no_vcalendar, .args = {""}}),
            "ce n'est pas un fichier iCalendar (pas de VCALENDAR)");
}

// The loader gives each error its code and arguments; the text is today's.
TEST(Diagnostic, ConfigurationErrorsCarryTheirCode) {
  auto loaded = parse_config(
      "[policy]\ntimezone = \"Mars/Olympus\"\n[[policy.quiet]]\ndays = [\"lun\"]\n"
      "start = \"20:00\"\nend = \"7h\"\n",
      "t.toml");
  ASSERT_FALSE(loaded.has_value());
  std::vector<std::string> ids, texts;
  for (const Diagnostic& e : loaded.error()) {
    ids.emplace_back(code_id(e.code));
    texts.push_back(e.to_string());
  }
  EXPECT_THAT(ids, ElementsAre("config.unknown_zone", "config.unknown_day", "config.bad_time"));
  EXPECT_EQ(texts[2],
            "t.toml:6: policy.quiet[0].end: expected a time \"HH:MM\" (00:00 to 23:59), "
            "got \"7h\"");
  EXPECT_THAT(loaded.error()[1].args, ElementsAre("lun"));
}

TEST(Diagnostic, IcsWarningsCarryTheirCode) {
  auto imported = parse_ics_closed_days(
      "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20261112T180000Z\r\n"
      "SUMMARY:Réunion\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
  ASSERT_TRUE(imported.has_value()) << imported.error();
  ASSERT_EQ(imported->warnings.size(), 2u);
  EXPECT_EQ(imported->warnings[0].code, Code::ics_timed_event);
  EXPECT_EQ(message_fr(imported->warnings[0]),
            "ligne 3 : l'événement « Réunion » a une heure, ce n'est pas une journée entière : "
            "ignoré");
  EXPECT_EQ(imported->warnings[1].code, Code::ics_no_whole_day_event);
}

// docs/configuration.md lists every code.
TEST(Diagnostic, EveryCodeIsDocumented) {
  std::ifstream in(std::string(TREVE_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  for (const CodeInfo& info : all_codes()) {
    EXPECT_NE(text.str().find("| `" + std::string(info.id) + "` |"), std::string::npos)
        << info.id << " is not in docs/configuration.md's table of codes";
  }
}

}  // namespace
}  // namespace treve::config
