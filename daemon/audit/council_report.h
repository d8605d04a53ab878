// The report to the conseil d'administration (CA), in French, as one self-contained HTML
// document: inline CSS and SVG charts, each chart beside a table of the same figures, nothing
// loaded from elsewhere, printable on A4. `treve report` writes it (or prints it to PDF through
// chromium) and the admin API's GET /v1/admin/report answers it, so both show the same report.
// Pure functions, safe from any thread; the figures come from council_figures.h and hold no
// personal data, and every text written is HTML-escaped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/audit/council_figures.h"
#include "daemon/audit/trail.h"

namespace treve::audit {

// What the report is asked for: an establishment and a period of whole local days.
struct CouncilRequest {
  std::string establishment;  // a valid UAI
  std::string from;           // YYYY-MM-DD, first day
  std::string to;             // YYYY-MM-DD, last day, included
  const date::time_zone* zone = nullptr;
};

// Turns the request into a scope (the period's instants in the establishment's time zone).
// The error names the bad argument as the command line spells it ("--from: …").
Expected<CouncilScope> council_scope(const CouncilRequest& request);

// Reads the establishment's records from the period's start to the end of the trail.
Expected<CouncilFigures> compute_council_figures(Trail& trail, const CouncilScope& scope);

// The report. `generated_ms` is the instant written as its generation instant.
std::string council_report_html(const CouncilFigures& figures, const CouncilRequest& request,
                                std::int64_t generated_ms);

// The exact text of the report's one <style> element, so that a Content-Security-Policy can
// allow it by its hash rather than allowing every inline style.
std::string_view council_report_css();

// A duration in French words, to the nearest minute: "2 j 3 h 15 min", "45 min", "moins d'une
// minute" (under 30 s).
std::string french_duration(std::int64_t ms);
// "1er décembre 2026" for 2026-12-01 (the text as given if it is not a date).
std::string french_date(std::string_view yyyy_mm_dd);

}  // namespace treve::audit
