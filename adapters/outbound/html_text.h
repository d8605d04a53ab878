// Text written into HTML, the e-mail templates' and the council report's alike: & < > " ' as
// character references, so that a value can stand in an element or a quoted attribute.
#pragma once

#include <string>
#include <string_view>

namespace treve::adapters {

void append_html_escaped(std::string& out, std::string_view text);
std::string html_escaped(std::string_view text);

}  // namespace treve::adapters
