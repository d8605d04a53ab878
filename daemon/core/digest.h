// Digests used across the daemon: SHA-256 of tokens, bodies, documents and audit records, and
// lower-case hex. Pure functions, safe from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace treve::core {

// Lower-case hexadecimal of `bytes`.
std::string hex(std::span<const unsigned char> bytes);

// Lower-case hex of SHA-256(data): 64 characters.
std::string sha256_hex(std::string_view data);

}  // namespace treve::core
