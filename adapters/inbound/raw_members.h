// The top-level members of a JSON object exactly as they were written. A connector's payload is
// forwarded byte for byte, not parsed and serialised again: a number such as 1e999, a big
// integer or 0.1 reaches the sink as the connector wrote it, and keys keep their order.
// Pure functions; for text already validated as a JSON object (by Boost.JSON's parser).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/inbound/problem.h"

namespace treve::adapters {

struct RawMember {
  std::string key;         // unescaped
  std::string_view value;  // the value's text as written, without surrounding white space
};

// The members of the object `text`, in order; empty when `text` is not an object.
std::vector<RawMember> raw_members(std::string_view text);

// The value's text of the last member named `key`, or empty when there is none.
std::string_view raw_member(std::string_view text, std::string_view key);

// The elements of the array `text`, each its text as written; empty when `text` is not an
// array (or is an empty one).
std::vector<std::string_view> raw_elements(std::string_view text);

// The problem when a member of the object `text` is given twice (which of the two a connector
// meant, and which one the sinks would read, is not something to guess), its pointer `prefix`
// then "/key"; none when each is given once.
std::optional<Problem> repeated_member(std::string_view text, const std::string& prefix = "");
// The same for members already read with raw_members.
std::optional<Problem> repeated_member(const std::vector<RawMember>& members,
                                       const std::string& prefix = "");

}  // namespace treve::adapters
