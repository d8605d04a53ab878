#include "daemon/store/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "daemon/core/log_field.h"

namespace treve::store {
namespace {

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Closes a descriptor when leaving scope.
struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0)
      ::close(fd);
  }
};

// Makes the state directory 0700 when it is a directory of its own; a symlink is followed for
// use but its target's mode is never changed (it may be anything: a directory an operator
// chose, or one planted to have its mode changed).
std::expected<void, std::string> secure_directory(std::string state_dir) {
  while (state_dir.size() > 1 && state_dir.back() == '/')
    state_dir.pop_back();  // "link/" would resolve the symlink
  struct stat link {};
  if (::lstat(state_dir.c_str(), &link) != 0)
    return std::unexpected("cannot examine " + state_dir + ": " + std::strerror(errno));
  if (S_ISLNK(link.st_mode)) {
    struct stat target {};
    std::error_code ec;
    const std::string resolved = std::filesystem::canonical(state_dir, ec).string();
    if (::stat(state_dir.c_str(), &target) != 0 || !S_ISDIR(target.st_mode))
      return std::unexpected(state_dir + " is a symlink to something that is not a directory");
    if (target.st_mode & 077) {
      spdlog::warn(
          "event=state.dir_is_symlink state_dir={} target={} mode={}: the target's mode is left "
          "as it is; make it 0700",
          core::quoted(state_dir), core::quoted(resolved), octal(target.st_mode));
    } else {
      spdlog::debug("event=state.dir_is_symlink state_dir={} target={} mode={}",
                    core::quoted(state_dir), core::quoted(resolved), octal(target.st_mode));
    }
    return {};
  }
  Descriptor dir{::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (dir.fd < 0)
    return std::unexpected("cannot open the state directory " + state_dir + ": " +
                           std::strerror(errno));
  struct stat st {};
  if (::fstat(dir.fd, &st) == 0 && (st.st_mode & 07777) != 0700 && ::fchmod(dir.fd, 0700) != 0) {
    spdlog::warn("event=state.dir_mode_unchanged state_dir={} mode={} error={}",
                 core::quoted(state_dir), octal(st.st_mode), core::quoted(std::strerror(errno)));
  }
  return {};
}

// Makes a file of the state directory 0600 if other users could read it (a file left by an
// older trêve started under umask 022). Missing: nothing to do. A symlink is left alone.
void make_private(const std::string& path) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (file.fd < 0) {
    if (errno == ELOOP)
      spdlog::warn("event=state.symlink_left file={}: a symlink; its target's mode is left",
                   core::quoted(path));
    return;
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) == 0)
    return;
  if (::fchmod(file.fd, 0600) != 0) {
    spdlog::warn("event=state.mode_unchanged file={} mode={} error={}", core::quoted(path),
                 octal(st.st_mode), core::quoted(std::strerror(errno)));
    return;
  }
  spdlog::warn("event=state.mode_tightened file={} was={} now=0600", core::quoted(path),
               octal(st.st_mode));
}

}  // namespace

std::string database_path(const std::string& state_dir) {
  return state_dir + "/treve.db";
}

std::string pseudonym_key_path(const config::Config& config) {
  return config.server.pseudonym_key.empty() ? config.server.state_dir + "/pseudonym.key"
                                             : config.server.pseudonym_key;
}

namespace {

std::expected<void, std::string> make_state_dir(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec)
    return std::unexpected("cannot create the state directory " + state_dir + ": " + ec.message());
  return secure_directory(state_dir);
}

}  // namespace

std::expected<std::array<unsigned char, 32>, std::string> open_state_key(
    const config::Config& config, bool may_create) {
  if (auto r = make_state_dir(config.server.state_dir); !r)
    return std::unexpected(r.error());
  const std::string key_path = pseudonym_key_path(config);
  if (config.server.pseudonym_key.empty())
    make_private(key_path);
  auto key = store::load_or_create_key(key_path, may_create);
  if (!key)
    return std::unexpected(key.error().message);
  return *key;
}

std::expected<std::unique_ptr<store::SqliteStore>, std::string> open_state(
    const config::Config& config) {
  const std::string& state_dir = config.server.state_dir;
  if (auto r = make_state_dir(state_dir); !r)
    return std::unexpected(r.error());
  const std::string db_path = database_path(state_dir);
  const bool own_key = config.server.pseudonym_key.empty();
  const std::string key_path = pseudonym_key_path(config);
  for (const char* suffix : {"", "-wal", "-shm"})
    make_private(db_path + suffix);
  if (own_key)
    make_private(key_path);
  auto key = store::load_or_create_key(key_path, !store::has_audit_records(db_path));
  if (!key)
    return std::unexpected(key.error().message);
  // Created here with its mode, whatever the umask: SQLite gives the WAL files the database's.
  if (int fd = ::open(db_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      fd >= 0) {
    ::fchmod(fd, 0600);  // the umask may have taken bits from the 0600 asked
    ::close(fd);
  } else if (errno != EEXIST) {
    return std::unexpected("cannot create " + db_path + ": " + std::strerror(errno));
  }
  store::SqliteOptions options;
  options.path = db_path;
  options.pseudonym_key = *key;
  options.max_page_count = config.testing.max_page_count;
  auto opened = store::SqliteStore::open(options);
  if (!opened)
    return std::unexpected(db_path + ": " + opened.error().message);
  return std::move(*opened);
}

std::string pid_file(const std::string& state_dir) {
  return state_dir + "/treve.pid";
}

std::expected<void, std::string> write_pid_file(const std::string& path) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // a leftover, or a symlink planted there: removed, not followed
  Descriptor file{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (file.fd < 0)
    return std::unexpected("cannot create " + tmp + ": " + std::strerror(errno));
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::fchmod(file.fd, 0600) != 0 ||
      ::write(file.fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected("cannot write " + tmp + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace treve::store
