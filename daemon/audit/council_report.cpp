#include "daemon/audit/council_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <sstream>

#include "adapters/outbound/html_text.h"
#include "daemon/audit/report.h"
#include "policy/rfc3339.h"
#include "policy/zone_time.h"

namespace treve::audit {
namespace {

constexpr std::string_view kCss =
    "body{font-family:\"DejaVu Sans\",Arial,sans-serif;color:#1a1a1a;max-width:190mm;"
    "margin:1.5em auto;padding:0 1em;line-height:1.4;font-size:11pt}"
    "h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.4em 0 .4em;"
    "border-bottom:2px solid #1f4e79;color:#1f4e79}"
    ".meta{margin:0 0 1em;color:#333}.meta dt{font-weight:bold;float:left;clear:left;"
    "width:13em}.meta dd{margin:0 0 .2em 13em}"
    "table{border-collapse:collapse;margin:.4em 0 .8em;font-size:.95em}"
    "th,td{border:1px solid #999;padding:.2em .5em;text-align:left}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "caption{text-align:left;font-weight:bold;padding:.2em 0}"
    "figure{margin:.5em 0;display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}"
    "figure svg{max-width:100%;height:auto}figcaption{width:100%;font-style:italic}"
    ".def{font-size:.9em;color:#333;background:#f3f6f9;padding:.4em .6em;"
    "border-left:3px solid #1f4e79}"
    ".legend{font-size:.9em}"
    "@page{size:A4;margin:15mm}"
    "@media print{body{margin:0;max-width:none;font-size:10pt}section{break-inside:avoid}"
    "h2{break-after:avoid}}";

constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kCategories = {{
    {"message", "Messages"},
    {"grade", "Notes"},
    {"homework", "Devoirs"},
    {"blog", "Blog"},
    {"news", "Actualités"},
    {"schedule", "Emploi du temps"},
    {"absence", "Absences"},
    {"alert", "Alertes"},
    {"other", "Autres"},
}};

constexpr std::array<std::string_view, 12> kMonths = {
    "janvier", "février", "mars",      "avril",   "mai",      "juin",
    "juillet", "août",    "septembre", "octobre", "novembre", "décembre"};

constexpr std::string_view kHeldColour = "#c05621";
constexpr std::string_view kReceivedColour = "#1f4e79";

std::string category_name(std::string_view category) {
  for (const auto& [code, name] : kCategories) {
    if (code == category)
      return std::string(name);
  }
  return std::string(category);
}

// The categories in the order the policy lists them, then any other the records name.
std::vector<std::string> categories_of(const CouncilFigures& f) {
  std::vector<std::string> out;
  for (const auto& [code, name] : kCategories) {
    if (f.deliveries_by_category.contains(std::string(code)))
      out.emplace_back(code);
  }
  for (const auto& [code, n] : f.deliveries_by_category) {
    if (std::find(out.begin(), out.end(), code) == out.end())
      out.push_back(code);
  }
  return out;
}

std::string number(std::int64_t n) {
  // Thousands separated by a narrow no-break space, as French typography writes them.
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += "\u202F";
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// "12,5 %", or "—" when there is nothing to divide.
std::string percent(std::int64_t part, std::int64_t whole) {
  if (whole <= 0)
    return "—";
  const double share = 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  const long tenths = std::lround(share * 10.0);
  return std::to_string(tenths / 10) + "," + std::to_string(tenths % 10) + "\u202F%";
}

std::string two_digits(long n) {
  return (n < 10 ? "0" : "") + std::to_string(n);
}

// The instant in the zone: "6 décembre 2026 à 19 h 45".
std::string french_instant(std::int64_t ms, const date::time_zone* zone) {
  const std::chrono::sys_time<std::chrono::milliseconds> t{std::chrono::milliseconds{ms}};
  const auto local = zone ? policy::zone_time::to_local(zone, t)
                          : date::local_time<std::chrono::milliseconds>{t.time_since_epoch()};
  const auto day = date::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss hms{std::chrono::floor<std::chrono::minutes>(local - day)};
  std::ostringstream d;
  d << static_cast<int>(ymd.year()) << '-' << two_digits(static_cast<unsigned>(ymd.month())) << '-'
    << two_digits(static_cast<unsigned>(ymd.day()));
  return french_date(d.str()) + " à " + std::to_string(hms.hours().count()) + " h " +
         two_digits(hms.minutes().count());
}

// A horizontal bar chart: one bar per row, labelled, with its value at the end.
void bar_chart(std::ostream& out, std::string_view id, std::string_view title,
               const std::vector<std::pair<std::string, std::int64_t>>& rows,
               std::string_view colour) {
  constexpr int kLabel = 150, kBar = 360, kRow = 26, kWidth = kLabel + kBar + 70;
  std::int64_t max = 1;
  for (const auto& [label, n] : rows)
    max = std::max(max, n);
  const int height = static_cast<int>(rows.size()) * kRow + 10;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"" << id
      << "-t\" width=\"" << kWidth << "\" height=\"" << height << "\" viewBox=\"0 0 " << kWidth
      << ' ' << height << "\"><title id=\"" << id << "-t\">" << adapters::html_escaped(title)
      << "</title>";
  int y = 5;
  for (const auto& [label, n] : rows) {
    const int w = static_cast<int>(static_cast<double>(kBar) * static_cast<double>(n) /
                                   static_cast<double>(max));
    out << "<text x=\"" << kLabel - 6 << "\" y=\"" << y + 17
        << "\" text-anchor=\"end\" font-size=\"13\">" << adapters::html_escaped(label) << "</text>"
        << "<rect x=\"" << kLabel << "\" y=\"" << y + 3 << "\" width=\"" << w
        << "\" height=\"18\" fill=\"" << colour << "\"/>"
        << "<text x=\"" << kLabel + w + 5 << "\" y=\"" << y + 17 << "\" font-size=\"13\">"
        << number(n) << "</text>";
    y += kRow;
  }
  out << "</svg>";
}

// Events received and deliveries held by local hour: two bars per hour.
void hour_chart(std::ostream& out, const CouncilFigures& f) {
  constexpr int kLeft = 40, kTop = 10, kPlot = 200, kSlot = 26;
  constexpr int kWidth = kLeft + 24 * kSlot + 10, kHeight = kTop + kPlot + 40;
  std::int64_t max = 1;
  for (std::size_t h = 0; h < 24; ++h)
    max = std::max({max, f.events_by_hour[h], f.held_by_hour[h]});
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"hours-t\" "
         "width=\""
      << kWidth << "\" height=\"" << kHeight << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight
      << "\"><title id=\"hours-t\">Événements reçus et remises tenues selon l'heure locale de "
         "réception</title>";
  out << "<line x1=\"" << kLeft << "\" y1=\"" << kTop + kPlot << "\" x2=\"" << kWidth - 10
      << "\" y2=\"" << kTop + kPlot << "\" stroke=\"#333\"/>";
  out << "<text x=\"" << kLeft - 4 << "\" y=\"" << kTop + 10
      << "\" text-anchor=\"end\" font-size=\"11\">" << number(max) << "</text>";
  for (std::size_t h = 0; h < 24; ++h) {
    const int x = kLeft + static_cast<int>(h) * kSlot;
    int bar = 0;
    for (auto [value, colour] : {std::pair{f.events_by_hour[h], kReceivedColour},
                                 std::pair{f.held_by_hour[h], kHeldColour}}) {
      const int height = static_cast<int>(static_cast<double>(kPlot) * static_cast<double>(value) /
                                          static_cast<double>(max));
      out << "<rect x=\"" << x + 2 + bar * 11 << "\" y=\"" << kTop + kPlot - height
          << "\" width=\"10\" height=\"" << height << "\" fill=\"" << colour << "\"/>";
      ++bar;
    }
    if (h % 2 == 0) {
      out << "<text x=\"" << x + 12 << "\" y=\"" << kTop + kPlot + 15
          << "\" text-anchor=\"middle\" font-size=\"11\">" << two_digits(static_cast<long>(h))
          << " h</text>";
    }
  }
  const int legend = kTop + kPlot + 32;
  out << "<rect x=\"" << kLeft << "\" y=\"" << legend - 9 << "\" width=\"10\" height=\"10\" fill=\""
      << kReceivedColour << "\"/><text x=\"" << kLeft + 14 << "\" y=\"" << legend
      << "\" font-size=\"12\">événements reçus</text>"
      << "<rect x=\"" << kLeft + 160 << "\" y=\"" << legend - 9
      << "\" width=\"10\" height=\"10\" fill=\"" << kHeldColour << "\"/><text x=\"" << kLeft + 174
      << "\" y=\"" << legend << "\" font-size=\"12\">remises tenues</text>";
  out << "</svg>";
}

// A table row: a label, a value, and, in a table with a share column, the share (empty: none).
void row(std::ostream& out, std::string_view label, const std::string& value,
         const std::optional<std::string>& share = std::nullopt) {
  out << "<tr><th scope=\"row\">" << adapters::html_escaped(label) << "</th><td class=\"n\">"
      << value << "</td>";
  if (share)
    out << "<td class=\"n\">" << *share << "</td>";
  out << "</tr>";
}

std::string optional_duration(const std::optional<std::int64_t>& ms) {
  return ms ? french_duration(*ms) : std::string("—");
}

}  // namespace

std::string_view council_report_css() {
  return kCss;
}

std::string french_duration(std::int64_t ms) {
  // To the nearest minute: a hold that began a few milliseconds after 21:00 and ended at 07:00
  // lasted 10 h.
  if (ms < 30'000)
    return "moins d'une minute";
  const std::int64_t minutes = (ms + 30'000) / 60'000;
  const std::int64_t days = minutes / (24 * 60);
  const std::int64_t hours = minutes / 60 % 24;
  const std::int64_t rest = minutes % 60;
  std::string out;
  auto part = [&](std::int64_t n, std::string_view unit) {
    if (n == 0)
      return;
    if (!out.empty())
      out += ' ';
    out += std::to_string(n) + " " + std::string(unit);
  };
  part(days, "j");
  part(hours, "h");
  part(rest, "min");
  return out;
}

std::string french_date(std::string_view text) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-')
    return std::string(text);
  try {
    y = std::stoi(std::string(text.substr(0, 4)));
    m = static_cast<unsigned>(std::stoi(std::string(text.substr(5, 2))));
    d = static_cast<unsigned>(std::stoi(std::string(text.substr(8, 2))));
  } catch (const std::exception&) {
    return std::string(text);
  }
  if (!date::year_month_day{date::year{y}, date::month{m}, date::day{d}}.ok())
    return std::string(text);
  return (d == 1 ? std::string("1er") : std::to_string(d)) + " " + std::string(kMonths[m - 1]) +
         " " + std::to_string(y);
}

Expected<CouncilScope> council_scope(const CouncilRequest& request) {
  for (auto [name, value] : {std::pair{"--from", &request.from}, {"--to", &request.to}}) {
    if (value->size() != 10)
      return std::unexpected(std::string(name) + ": \"" + *value +
                             "\" is not a date (expected YYYY-MM-DD)");
  }
  Period period{request.from, request.to, request.zone ? std::string(request.zone->name()) : "UTC"};
  Filter filter;
  if (auto p = apply_period(period, filter); !p)
    return std::unexpected(p.error());
  CouncilScope scope;
  scope.establishment = request.establishment;
  scope.zone = request.zone;
  scope.from_ms = filter.from_ms;
  scope.to_ms = filter.to_ms;
  return scope;
}

Expected<CouncilFigures> compute_council_figures(Trail& trail, const CouncilScope& scope) {
  Filter filter;
  filter.establishments = {scope.establishment};
  filter.from_ms = scope.from_ms;
  CouncilTally tally(scope);
  auto scanned = trail.scan(filter, [&](const store::AuditRecord& r) {
    tally.add(r);
    return true;
  });
  if (!scanned)
    return std::unexpected(scanned.error());
  return tally.figures();
}

std::string council_report_html(const CouncilFigures& f, const CouncilRequest& request,
                                std::int64_t generated_ms) {
  const std::string uai = adapters::html_escaped(request.establishment);
  const std::string zone = adapters::html_escaped(request.zone ? request.zone->name() : "UTC");
  const std::string from = adapters::html_escaped(french_date(request.from));
  const std::string to = adapters::html_escaped(french_date(request.to));
  std::ostringstream out;
  out << "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      << "<title>Rapport au conseil d'administration — " << uai << " — du " << from << " au " << to
      << "</title><style>" << kCss << "</style></head><body>\n";

  out << "<header><h1>Rapport au conseil d'administration</h1>"
      << "<p>Temps de repos des notifications (trêve) : ce que l'établissement a retenu pendant "
         "les soirées, les week-ends et les jours fermés, et comment ces notifications ont été "
         "remises ensuite.</p>"
      << "<dl class=\"meta\"><dt>Établissement (UAI)</dt><dd>" << uai << "</dd>"
      << "<dt>Période</dt><dd>du " << from << " au " << to << " inclus</dd>"
      << "<dt>Fuseau horaire</dt><dd>" << zone << " (heures locales de l'établissement)</dd>"
      << "<dt>Rapport établi le</dt><dd>"
      << adapters::html_escaped(french_instant(generated_ms, request.zone)) << "</dd></dl>"
      << "<p class=\"def\">Ce rapport ne contient aucune donnée personnelle : il est calculé à "
         "partir du journal d'audit, où les destinataires n'apparaissent que sous un pseudonyme, "
         "et ne présente que des nombres et des durées — ni nom, ni pseudonyme, ni identifiant "
         "ou titre de notification.</p></header>\n";

  // Summary.
  out << "<section aria-labelledby=\"s-summary\"><h2 id=\"s-summary\">Synthèse</h2>"
      << "<table><caption>Chiffres clés de la période</caption><thead><tr><th "
         "scope=\"col\">Indicateur</th><th scope=\"col\" class=\"n\">Nombre</th><th "
         "scope=\"col\" class=\"n\">Part</th></tr></thead><tbody>";
  row(out, "Notifications reçues des logiciels (événements)", number(f.events), "");
  row(out, "Remises décidées (une par destinataire)", number(f.deliveries), "");
  row(out, "Remises tenues pendant un temps de repos", number(f.held),
      percent(f.held, f.deliveries));
  row(out, "Remises urgentes envoyées immédiatement", number(f.bypassed),
      percent(f.bypassed, f.deliveries));
  row(out, "Événements reçus le soir", number(f.events_evening),
      percent(f.events_evening, f.events));
  row(out, "Événements reçus le week-end", number(f.events_weekend),
      percent(f.events_weekend, f.events));
  out << "</tbody></table></section>\n";

  // By category.
  std::vector<std::pair<std::string, std::int64_t>> held_rows;
  const auto categories = categories_of(f);
  for (const std::string& c : categories) {
    auto it = f.held_by_category.find(c);
    held_rows.emplace_back(category_name(c), it == f.held_by_category.end() ? 0 : it->second);
  }
  out << "<section aria-labelledby=\"s-category\"><h2 id=\"s-category\">Notifications tenues "
         "par catégorie</h2>";
  if (categories.empty()) {
    out << "<p>Aucune notification reçue pendant la période.</p>";
  } else {
    out << "<figure>";
    bar_chart(out, "categories", "Remises tenues par catégorie", held_rows, kHeldColour);
    out << "<table><caption>Remises par catégorie</caption><thead><tr><th "
           "scope=\"col\">Catégorie</th><th scope=\"col\" class=\"n\">Décidées</th><th "
           "scope=\"col\" class=\"n\">Tenues</th><th scope=\"col\" class=\"n\">Part "
           "tenue</th></tr></thead><tbody>";
    for (std::size_t i = 0; i < categories.size(); ++i) {
      const std::int64_t decided = f.deliveries_by_category.at(categories[i]);
      out << "<tr><th scope=\"row\">" << adapters::html_escaped(held_rows[i].first)
          << "</th><td class=\"n\">" << number(decided) << "</td><td class=\"n\">"
          << number(held_rows[i].second) << "</td><td class=\"n\">"
          << percent(held_rows[i].second, decided) << "</td></tr>";
    }
    out << "</tbody></table><figcaption>Une notification adressée à un élève et à deux parents "
           "compte pour trois remises.</figcaption></figure>";
  }
  out << "</section>\n";

  // By hour.
  out << "<section aria-labelledby=\"s-hour\"><h2 id=\"s-hour\">Heure de réception</h2><figure>";
  hour_chart(out, f);
  out << "<table><caption>Par heure locale de réception</caption><thead><tr><th "
         "scope=\"col\">Heure</th><th scope=\"col\" class=\"n\">Événements reçus</th><th "
         "scope=\"col\" class=\"n\">Remises tenues</th></tr></thead><tbody>";
  for (std::size_t h = 0; h < 24; ++h) {
    out << "<tr><th scope=\"row\">" << two_digits(static_cast<long>(h)) << " h – "
        << two_digits(static_cast<long>((h + 1) % 24)) << " h</th><td class=\"n\">"
        << number(f.events_by_hour[h]) << "</td><td class=\"n\">" << number(f.held_by_hour[h])
        << "</td></tr>";
  }
  out << "</tbody></table></figure></section>\n";

  // Evening and weekend.
  out << "<section aria-labelledby=\"s-evening\"><h2 id=\"s-evening\">Envois le soir et le "
         "week-end</h2><table><caption>Événements selon le moment de leur "
         "réception</caption><thead><tr><th scope=\"col\">Moment</th><th scope=\"col\" "
         "class=\"n\">Événements</th><th scope=\"col\" class=\"n\">Part</th></tr></thead><tbody>";
  row(out, "Le soir", number(f.events_evening), percent(f.events_evening, f.events));
  row(out, "Le week-end", number(f.events_weekend), percent(f.events_weekend, f.events));
  const std::int64_t day = f.events - f.events_evening - f.events_weekend;
  row(out, "En journée", number(day), percent(day, f.events));
  out << "</tbody></table><p class=\"def\">Heure locale de réception par trêve. <strong>Le "
         "week-end</strong> : du vendredi 20 h au lundi 7 h. <strong>Le soir</strong> : de 20 h "
         "à 7 h le lendemain, les autres nuits (du lundi soir au vendredi matin). Les deux "
         "moments ne se recouvrent pas ; ce sont les temps de repos par défaut.</p></section>\n";

  // Holds.
  out << "<section aria-labelledby=\"s-hold\"><h2 id=\"s-hold\">Durée des mises en "
         "attente</h2><table><caption>Remises tenues</caption><tbody>";
  row(out, "Remises tenues dont la durée est connue", number(f.holds_measured));
  row(out, "Durée médiane", optional_duration(f.median_hold_ms));
  row(out, "Durée la plus longue", optional_duration(f.longest_hold_ms));
  row(out, "Retirées par l'expéditeur pendant l'attente", number(f.retracted));
  out << "</tbody></table><p class=\"def\">Durée d'une mise en attente : de la réception de la "
         "notification à sa libération (l'instant de libération enregistré, ou celui prévu si "
         "elle est encore tenue). Les remises retirées avant leur libération ne sont pas "
         "mesurées.</p></section>\n";

  // Delivery.
  const std::int64_t copies = f.copies();
  out << "<section aria-labelledby=\"s-delivery\"><h2 id=\"s-delivery\">Acheminement</h2>";
  if (copies > 0) {
    out << "<figure>";
    bar_chart(out, "delivery", "Envois aux services de diffusion selon leur issue",
              {{"Transmis", f.copies_delivered},
               {"En cours d'essai", f.copies_retrying},
               {"Échec définitif", f.copies_dead},
               {"Sans adresse", f.copies_no_address}},
              kReceivedColour);
  }
  out << "<table><caption>Envois aux services de diffusion</caption><thead><tr><th "
         "scope=\"col\">Issue</th><th scope=\"col\" class=\"n\">Envois</th><th scope=\"col\" "
         "class=\"n\">Part</th></tr></thead><tbody>";
  row(out, "Transmis", number(f.copies_delivered), percent(f.copies_delivered, copies));
  row(out, "En cours d'essai", number(f.copies_retrying), percent(f.copies_retrying, copies));
  row(out, "Échec définitif", number(f.copies_dead), percent(f.copies_dead, copies));
  row(out, "Sans adresse (rien envoyé)", number(f.copies_no_address),
      percent(f.copies_no_address, copies));
  out << "</tbody></table>";
  if (copies > 0)
    out << "</figure>";
  out << "<p class=\"def\">Un envoi est une remise transmise à un service de diffusion "
         "(application, notification push, courriel) ; son issue est la dernière "
         "enregistrée.</p></section>\n";

  // Grades.
  out << "<section aria-labelledby=\"s-grades\"><h2 id=\"s-grades\">Notes : les élèves "
         "d'abord</h2><table><caption>Notes adressées aux parents</caption><tbody>";
  row(out, "Notes remises aux parents après l'élève (tenues)", number(f.parent_grades_held));
  row(out, "Délai médian après la remise à l'élève",
      optional_duration(f.median_parent_grade_delay_ms));
  out << "</tbody></table><p class=\"def\">Une note destinée à un parent est libérée au plus "
         "tôt après la remise de la même note à l'élève, augmentée du délai fixé par "
         "l'établissement. Le délai est mesuré entre ces deux libérations.</p></section>\n";

  // Homework.
  out << "<section aria-labelledby=\"s-homework\"><h2 id=\"s-homework\">Devoirs publiés "
         "tardivement</h2><table><caption>Devoirs</caption><thead><tr><th "
         "scope=\"col\">Indicateur</th><th scope=\"col\" class=\"n\">Nombre</th><th "
         "scope=\"col\" class=\"n\">Part</th></tr></thead><tbody>";
  row(out, "Devoirs reçus", number(f.homework_events), "");
  row(out, "dont signalés tardifs", number(f.late_homework_events),
      percent(f.late_homework_events, f.homework_events));
  out << "</tbody></table><p class=\"def\">Un devoir est signalé tardif quand trêve l'a reçu "
         "trop peu de temps avant son échéance.</p></section>\n";

  // Crises.
  out << "<section aria-labelledby=\"s-crises\"><h2 id=\"s-crises\">Crises</h2>"
      << "<table><caption>Crises ouvertes pendant la période</caption><tbody>";
  row(out, "Crises", number(static_cast<std::int64_t>(f.crises.size())));
  row(out, "Durée totale",
      f.crises.empty() ? std::string("—")
                       : adapters::html_escaped(french_duration(f.crisis_total_ms())));
  row(out, "Remises envoyées immédiatement pendant une crise", number(f.crisis_bypasses));
  out << "</tbody></table>";
  if (!f.crises.empty()) {
    out << "<table><caption>Détail des crises</caption><thead><tr><th "
           "scope=\"col\">Ouverture</th><th scope=\"col\" class=\"n\">Durée</th><th "
           "scope=\"col\">Catégories</th><th scope=\"col\">Fin</th></tr></thead><tbody>";
    for (const CrisisFigure& c : f.crises) {
      std::string cats;
      for (const std::string& cat : c.categories)
        cats += (cats.empty() ? "" : ", ") + category_name(cat);
      std::string end = c.ongoing     ? "en cours (fin prévue)"
                        : c.by_expiry ? "à l'échéance prévue"
                                      : "close par un administrateur";
      if (c.extensions > 0)
        end += ", prolongée " + std::to_string(c.extensions) + " fois";
      out << "<tr><td>" << adapters::html_escaped(french_instant(c.opened_ms, request.zone))
          << "</td><td class=\"n\">" << adapters::html_escaped(french_duration(c.duration_ms()))
          << "</td><td>" << adapters::html_escaped(cats.empty() ? "toutes" : cats) << "</td><td>"
          << adapters::html_escaped(end) << "</td></tr>";
    }
    out << "</tbody></table>";
  }
  out << "<p class=\"def\">Une crise, ouverte par un administrateur, fait envoyer immédiatement "
         "les notifications de certaines catégories. Sa durée va de son ouverture à sa clôture "
         "(ou à sa fin prévue si elle est en cours). Le motif saisi n'est pas repris : il peut "
         "nommer des personnes.</p></section>\n";

  out << "<footer><p class=\"def\">Les chiffres comptent les notifications reçues pendant la "
         "période, quelle que soit la date de leur libération ou de leur envoi. Calculés par "
         "trêve à partir de son journal d'audit.</p></footer>\n</body></html>\n";
  return out.str();
}

}  // namespace treve::audit
