// An RFC 9457 problem: what went wrong with a request, whose fault it is (the status), and
// where (a JSON pointer to the offending field). Inbound adapters return these; the HTTP layer
// renders them as application/problem+json.
#pragma once

#include <string>

namespace treve::adapters {

struct Problem {
  int status = 400;
  std::string type;     // "urn:treve:problem:invalid-field"
  std::string title;    // short, stable per type
  std::string detail;   // this occurrence, in words
  std::string pointer;  // RFC 6901 pointer into the request body; empty when not about a field

  // The problem+json document.
  std::string to_json() const;
};

Problem invalid_field(std::string pointer, std::string detail);
Problem malformed_json(std::string detail);

}  // namespace treve::adapters
