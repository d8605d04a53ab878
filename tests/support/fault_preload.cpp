// Faults injected into a running `treve serve`, from outside: LD_PRELOAD'ed into the daemon by
// tests/integration/daemon_faults_test.cpp, this library makes the fault VFS
// (tests/support/fault_vfs.h) SQLite's default VFS when the process starts, so every database
// file the daemon opens does its reads, writes and syncs through it, while the daemon's code is
// the one installed. The test arms it by writing the file named by $TREVE_FAULT_CONTROL
// (replaced whole, by a rename), read again whenever it changes:
//
//   off             nothing fails
//   fail N KINDS    the N-th call from now of KINDS (letters r, w, s: read, write, sync) fails
//   full            every write fails as on a full disk
//
// When the armed call fails, the file "$TREVE_FAULT_CONTROL.fired" is created, so that the
// test knows the fault happened during the operation it drove.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "tests/support/fault_vfs.h"

namespace {

using treve::test::FaultVfs;

struct Control {
  std::mutex mutex;
  std::string path;
  ino_t inode = 0;
  timespec modified{};
  off_t size = -1;
};

Control& control() {
  static Control c;
  return c;
}

// Reads the control file again if it was replaced since the last call.
void poll_control() {
  Control& c = control();
  std::lock_guard lock(c.mutex);
  struct stat st {};
  if (::stat(c.path.c_str(), &st) != 0)
    return;
  if (st.st_ino == c.inode && st.st_mtim.tv_sec == c.modified.tv_sec &&
      st.st_mtim.tv_nsec == c.modified.tv_nsec && st.st_size == c.size)
    return;
  c.inode = st.st_ino;
  c.modified = st.st_mtim;
  c.size = st.st_size;
  std::ifstream in(c.path);
  std::string word;
  in >> word;
  FaultVfs& vfs = FaultVfs::get();
  if (word == "fail") {
    unsigned long n = 0;
    std::string kinds;
    in >> n >> kinds;
    unsigned mask = 0;
    for (char k : kinds) {
      if (k == 'r')
        mask |= FaultVfs::read;
      else if (k == 'w')
        mask |= FaultVfs::write;
      else if (k == 's')
        mask |= FaultVfs::sync;
    }
    vfs.full_disk(false);
    vfs.fail_at(n, mask);
  } else if (word == "full") {
    vfs.fail_at(0);
    vfs.full_disk(true);
  } else {
    vfs.disarm();
  }
}

void mark_fired() {
  const std::string fired = control().path + ".fired";
  const int fd = ::open(fired.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0)
    ::close(fd);
}

__attribute__((constructor)) void install() {
  const char* path = std::getenv("TREVE_FAULT_CONTROL");
  if (!path || !*path)
    return;
  control().path = path;
  FaultVfs& vfs = FaultVfs::get(/*as_default=*/true);
  vfs.on_fired = &mark_fired;
  vfs.before_call = &poll_control;
}

}  // namespace
