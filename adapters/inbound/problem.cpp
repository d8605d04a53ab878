#include "adapters/inbound/problem.h"

#include <boost/json.hpp>

#include "adapters/inbound/json_text.h"

namespace treve::adapters {

namespace {

// A problem may quote what a client sent (a header's name, a media type, a pointer into its
// document), which need not be UTF-8; the answer must be (RFC 8259 §8.1): every string in it,
// keys included, is made so.
boost::json::value as_utf8(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string:
      return boost::json::string(as_valid_utf8(v.get_string()));
    case boost::json::kind::array: {
      boost::json::array a;
      for (const auto& e : v.get_array())
        a.push_back(as_utf8(e));
      return a;
    }
    case boost::json::kind::object: {
      boost::json::object o;
      for (const auto& [key, e] : v.get_object())
        o[as_valid_utf8(key)] = as_utf8(e);
      return o;
    }
    default:
      return v;
  }
}

}  // namespace

std::string Problem::to_json() const {
  boost::json::object o;
  o["type"] = type;
  o["title"] = title;
  o["status"] = status;
  if (!detail.empty())
    o["detail"] = as_valid_utf8(detail);
  if (!pointer.empty() || type == "urn:treve:problem:invalid-field")
    o["pointer"] = as_valid_utf8(pointer);
  for (const auto& [key, value] : members) {
    if (!o.contains(key) && key != "detail" && key != "pointer")
      o[as_valid_utf8(key)] = as_utf8(value);
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
