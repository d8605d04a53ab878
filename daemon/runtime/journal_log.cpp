#include "daemon/runtime/journal_log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/base_sink.h>

namespace treve::runtime {
namespace {

int priority_of(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return LOG_CRIT;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::info:
      return LOG_INFO;
    default:
      return LOG_DEBUG;
  }
}

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view line(msg.payload.data(), msg.payload.size());
    std::vector<std::string> entries;
    entries.push_back("MESSAGE=" + std::string(line));
    entries.push_back("PRIORITY=" + std::to_string(priority_of(msg.level)));
    entries.push_back("SYSLOG_IDENTIFIER=treve");
    for (auto& [k, v] : journal_fields(line))
      entries.push_back(k + "=" + v);
    std::vector<iovec> iov;
    iov.reserve(entries.size());
    for (std::string& e : entries)
      iov.push_back(iovec{e.data(), e.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
  void flush_() override {}
};

}  // namespace

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream)
    return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2)
    return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0)
    return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

std::vector<std::pair<std::string, std::string>> journal_fields(std::string_view line) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ')
      ++i;
    std::size_t key_begin = i;
    while (i < line.size() && (std::islower(static_cast<unsigned char>(line[i])) ||
                               std::isdigit(static_cast<unsigned char>(line[i])) ||
                               line[i] == '_' || line[i] == '.' || line[i] == '-'))
      ++i;
    if (i == key_begin || i >= line.size() || line[i] != '=') {
      while (i < line.size() && line[i] != ' ')  // not key=value: skip the word
        ++i;
      continue;
    }
    std::string key = "TREVE_";
    for (char c : line.substr(key_begin, i - key_begin))
      key += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(c));
    ++i;  // '='
    std::string value;
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size())
          ++i;
        value += line[i++];
      }
      ++i;  // closing quote
    } else {
      while (i < line.size() && line[i] != ' ')
        value += line[i++];
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::shared_ptr<spdlog::sinks::sink> make_journal_sink() {
  return std::make_shared<JournalSink>();
}

}  // namespace treve::runtime
