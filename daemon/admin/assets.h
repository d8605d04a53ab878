// The admin page's files (daemon/admin/page), built into the binary: the page needs nothing
// from outside the admin listener.
#pragma once

#include <string_view>

namespace treve::admin {

struct Asset {
  std::string_view path;          // "/" for index.html, "/assets/NAME" for the others
  std::string_view content_type;  // with charset for text
  std::string_view body;
};

// The file served at `path`, or null.
const Asset* find_asset(std::string_view path);

}  // namespace treve::admin
