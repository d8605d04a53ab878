// Logging to journald with structured fields when the daemon runs under systemd: each line
// "event=serve.ready listen=… state_dir=…" becomes a journal entry whose MESSAGE is the line
// and whose fields are TREVE_EVENT=serve.ready, TREVE_LISTEN=…, TREVE_STATE_DIR=…, so that
// `journalctl -u treve TREVE_EVENT=retention.purged` or `TREVE_SOURCE=ent` select entries.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/sinks/sink.h>

namespace treve::runtime {

// Whether standard error is the journal stream systemd connected (JOURNAL_STREAM names its
// device and inode): then entries go to journald directly, with their fields.
bool stderr_is_journal();

// The journal fields of a log line: each key=value (value possibly "quoted") as
// TREVE_<KEY> (upper case, dots and dashes as underscores).
std::vector<std::pair<std::string, std::string>> journal_fields(std::string_view line);

// A spdlog sink writing to journald (sd_journal_sendv) with the fields above, the priority
// of the level, and SYSLOG_IDENTIFIER=treve.
std::shared_ptr<spdlog::sinks::sink> make_journal_sink();

}  // namespace treve::runtime
