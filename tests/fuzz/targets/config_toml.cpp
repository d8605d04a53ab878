// The TOML configuration (docs/configuration.md), as `check-config`, start and reload read it.
// Every refusal is a diagnostic naming the file (file:line: key: message).
#include "daemon/config/config.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(config_toml) {
  using namespace treve;
  // Files named by the configuration are read as it says: not the devices and pseudo-files a
  // read could wait on for ever (a FIFO, /dev/stdin), which an operator would not name.
  for (std::string_view blocked : {"/dev", "/proc", "/sys", "credential:"}) {
    if (input.find(blocked) != std::string_view::npos)
      return;
  }
  auto c = config::parse_config(input, "fuzz.toml", policy::Horizon{2026, 2027});
  if (c)
    return;
  TREVE_FUZZ_CHECK(!c.error().empty(), "a refusal says why");
  for (const auto& e : c.error()) {
    const std::string text = e.to_string();
    TREVE_FUZZ_CHECK(!e.message().empty(), text);
    TREVE_FUZZ_CHECK(e.file.empty() || text.starts_with(e.file + ":"), text);
    TREVE_FUZZ_CHECK(e.line >= 0, text);
  }
}
