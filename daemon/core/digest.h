// Digests used across the daemon: SHA-256 of tokens, bodies, documents and audit records, and
// lower-case hex. Pure functions, safe from any thread.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace treve::core {

// Lower-case hexadecimal of `bytes`.
std::string hex(std::span<const unsigned char> bytes);

// Lower-case hex of SHA-256(data): 64 characters.
std::string sha256_hex(std::string_view data);

// Lower-case hex of SHA-256 of the parts one after the other, without joining them first
// (a context kept per thread: no allocation per call).
std::string sha256_hex_of(std::initializer_list<std::string_view> parts);

// Whether two digests are equal, in a time that depends on their length only (CRYPTO_memcmp):
// how a token's digest is compared with the configured ones.
bool same_digest(std::string_view a, std::string_view b);

}  // namespace treve::core
