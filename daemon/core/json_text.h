// JSON text written by hand where a document is built field by field on a hot path (the audit
// record's canonical encoding, answers to connectors): RFC 8259 string escaping, UTF-8 passed
// through, control characters as \u00XX. Pure functions, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace treve::core {

// Appends `s` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view s);

// `s` as a JSON string, quotes included.
std::string json_quote(std::string_view s);

}  // namespace treve::core
