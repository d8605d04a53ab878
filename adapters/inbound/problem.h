// An RFC 9457 problem: what went wrong with a request, whose fault it is (the status), and
// where (a JSON pointer to the offending field). Inbound adapters and both APIs return these;
// `to_json` is the one place a problem+json document is written, and `http/problem.h` the one
// place it becomes an answer (with its WWW-Authenticate and Retry-After headers).
#pragma once

#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace treve::adapters {

struct Problem {
  int status = 400;
  std::string type;     // "urn:treve:problem:invalid-field"
  std::string title;    // short, stable per type
  std::string detail;   // this occurrence, in words
  std::string pointer;  // RFC 6901 pointer into the request body; empty when not about a field
  // Extension members (RFC 9457 §3.2): the errors of a policy, the deliveries left as they
  // were, the version in force. They cannot replace the members above.
  boost::json::object members = {};

  // The problem+json document.
  std::string to_json() const;
};

// "urn:treve:problem:" + slug: the type of every problem trêve answers.
Problem make_problem(int status, std::string_view slug, std::string title, std::string detail,
                     std::string pointer = {});
Problem invalid_field(std::string pointer, std::string detail);
Problem malformed_json(std::string detail);

}  // namespace treve::adapters
