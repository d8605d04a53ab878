// Values in log lines ("event=admin.refused path=\"…\""). Whatever a client sent goes through
// `log_quote`, so that it can neither end its field early nor start a line of its own: the
// journal and anyone reading the log see one field, as sent, escaped. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace treve::core {

// `s` between double quotes: `"` and `\` escaped with a backslash; control characters (C0,
// DEL and C1) and bytes that are not UTF-8 as \xNN; other UTF-8 kept as it is.
std::string log_quote(std::string_view s);

}  // namespace treve::core
