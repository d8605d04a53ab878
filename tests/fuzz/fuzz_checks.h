// What every answer of a parser of outside input must be, checked by the fuzz targets.
#pragma once

#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "adapters/inbound/problem.h"
#include "tests/fuzz/fuzz_target.h"

namespace treve::fuzz {

// An RFC 9457 problem a client can read: a 4xx status, a type, a title and a detail, and a
// problem+json document that is a JSON object carrying them.
inline void check_problem(const adapters::Problem& p) {
  TREVE_FUZZ_CHECK(p.status >= 400 && p.status < 500, std::to_string(p.status));
  TREVE_FUZZ_CHECK(p.type.starts_with("urn:treve:problem:"), p.type);
  TREVE_FUZZ_CHECK(!p.title.empty(), p.type);
  TREVE_FUZZ_CHECK(!p.detail.empty(), p.type);
  TREVE_FUZZ_CHECK(p.pointer.empty() || p.pointer.front() == '/', p.pointer);
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(p.to_json(), ec);
  TREVE_FUZZ_CHECK(!ec && doc.is_object(), p.to_json());
  TREVE_FUZZ_CHECK(doc.as_object().contains("detail"), p.to_json());
}

}  // namespace treve::fuzz
