#include "daemon/core/log_field.h"

#include "daemon/core/json_text.h"

namespace treve::core {

// JSON's string escaping: quotes, backslashes and every control character, line breaks
// included, are escaped; a reader can unescape a value as a JSON string.
std::string escape_log_value(std::string_view s) {
  return json_quote(s);
}

}  // namespace treve::core
