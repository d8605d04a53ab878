#include "adapters/inbound/problem.h"

#include <boost/json.hpp>

namespace treve::adapters {

std::string Problem::to_json() const {
  boost::json::object o;
  o["type"] = type;
  o["title"] = title;
  o["status"] = status;
  if (!detail.empty())
    o["detail"] = detail;
  if (!pointer.empty() || type == "urn:treve:problem:invalid-field")
    o["pointer"] = pointer;
  return boost::json::serialize(o);
}

Problem invalid_field(std::string pointer, std::string detail) {
  return {400, "urn:treve:problem:invalid-field", "Invalid field", std::move(detail),
          std::move(pointer)};
}

Problem malformed_json(std::string detail) {
  return {400, "urn:treve:problem:malformed-json", "Malformed JSON", std::move(detail), ""};
}

}  // namespace treve::adapters
