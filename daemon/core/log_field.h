// Values as they go into a log line. trêve's log lines are `event=name key=value …`, read by
// operators with grep and by `treve audit verify --heads`. Any value that does not come from
// trêve itself (a request's path or query, a name from a file, an error text that may quote
// either) is written through `quoted`: in double quotes, with `"`, `\` and every control
// character escaped (log_text.h: `\x0a`, `\x1b`…), so that one log line stays one line and no
// value can pose as another field or as a line the daemon writes. `quoted(s)` formats as
// `log_quote(s)` does, without building the string first at the call. Numbers and
// trêve's own constants need not be quoted.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "daemon/core/log_text.h"

namespace treve::core {

// The daemon's lines on standard error (outside systemd): `2026-11-29T00:37:03.235 info event=…`.
// `treve audit verify --heads` recognises this prefix.
inline constexpr const char* kStderrLogPattern = "%Y-%m-%dT%H:%M:%S.%e %l %v";

struct QuotedLogValue {
  std::string_view text;
};

// `s` for a log line: `"…"`, escaped. Use as an argument of spdlog's format.
inline QuotedLogValue quoted(std::string_view s) {
  return {s};
}

}  // namespace treve::core

template <>
struct fmt::formatter<treve::core::QuotedLogValue> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const treve::core::QuotedLogValue& v, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(treve::core::log_quote(v.text), ctx);
  }
};
