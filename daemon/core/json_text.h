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

// A valid JSON text without the white space between its tokens: the same document, laid out
// otherwise, gives the same result. Strings are kept byte for byte (escapes as written).
std::string json_without_layout(std::string_view text);

}  // namespace treve::core
