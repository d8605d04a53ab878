// base64url (RFC 4648 §5): the URL- and filename-safe alphabet (`-` and `_` for `+` and `/`),
// written without padding, as JWTs (RFC 7515 §2), Web Push subscriptions (RFC 8291) and
// VAPID keys (RFC 8292) use it. Pure functions.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace treve::adapters {

// Never padded.
std::string base64url_encode(std::span<const unsigned char> data);
std::string base64url_encode(std::string_view data);

// Accepts the text with or without its `=` padding (if present, exactly the padding that
// completes the last group of four). Refuses any character outside the alphabet (the `+` and
// `/` of plain base64 included), white space, a length that no encoding has (4n+1), and a
// last character whose unused low bits are not zero (RFC 4648 §3.5: such text is not the
// encoding of anything, and accepting it would give one value several spellings).
std::expected<std::vector<unsigned char>, std::string> base64url_decode(std::string_view text);

}  // namespace treve::adapters
