// Small helpers the inbound adapters share to describe what a connector sent: a JSON value's
// kind in words, a key as a JSON pointer token, a text's length in characters, UTF-8 checks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace boost::json {
class value;
}

namespace treve::adapters {

// "a string", "a number", "an object", "null"…: for "… must be a string, not a number".
std::string json_type(const boost::json::value& v);

// `key` as one token of an RFC 6901 JSON pointer ('~' and '/' escaped as "~0" and "~1").
std::string pointer_token(std::string_view key);

// The number of UTF-8 characters in `s` (bytes that do not continue a character).
std::size_t utf8_chars(std::string_view s);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or values above U+10FFFF).
bool valid_utf8(std::string_view text);

// `text` with every byte that does not begin a well-formed UTF-8 character replaced by U+FFFD:
// for echoing what a client sent (a header's name, a media type) inside a JSON answer, which
// must be UTF-8 (RFC 8259 §8.1).
std::string as_valid_utf8(std::string_view text);

}  // namespace treve::adapters
