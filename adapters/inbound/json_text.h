// Small helpers the inbound adapters share to describe what a connector sent: a JSON value's
// kind in words, a key as a JSON pointer token, a text's length in characters.
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

}  // namespace treve::adapters
