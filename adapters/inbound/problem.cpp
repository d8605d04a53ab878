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
  for (const auto& [key, value] : members) {
    if (!o.contains(key) && key != "detail" && key != "pointer")
      o[key] = value;
  }
  return boost::json::serialize(o);
}

Problem make_problem(int status, std::string_view slug, std::string title, std::string detail,
                     std::string pointer) {
  return {status, "urn:treve:problem:" + std::string(slug), std::move(title), std::move(detail),
          std::move(pointer)};
}

Problem invalid_field(std::string pointer, std::string detail) {
  return {400, "urn:treve:problem:invalid-field", "Invalid field", std::move(detail),
          std::move(pointer)};
}

Problem malformed_json(std::string detail) {
  return {400, "urn:treve:problem:malformed-json", "Malformed JSON", std::move(detail), ""};
}

}  // namespace treve::adapters
