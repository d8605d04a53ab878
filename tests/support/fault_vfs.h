// A SQLite VFS that passes everything to the default one, counting the reads, writes and syncs
// of the files it opens, and failing the N-th of those it is armed for, or every write as a
// full disk would. Registered once per process under the name "treve-faults"; a store opened
// with SqliteOptions::vfs = kFaultVfs has its writer's I/O go through it. Not for production:
// the store only knows the VFS's name. tests/support/fault_preload.cpp makes it the default
// VFS of a daemon process, armed from outside.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace treve::test {

inline constexpr const char* kFaultVfs = "treve-faults";

class FaultVfs {
 public:
  enum Kind : unsigned { read = 1, write = 2, sync = 4 };

  // The process's one instance, registered with SQLite on first use (as the default VFS, for
  // every database the process opens, when `as_default` on that first use).
  static FaultVfs& get(bool as_default = false) {
    static FaultVfs vfs(as_default);
    return vfs;
  }

  // Called before each read, write and sync is counted (to arm or disarm from outside), and
  // when the armed call fails. From any thread.
  void (*before_call)() = nullptr;
  void (*on_fired)() = nullptr;

  // From now on, the `n`-th call (from 1) of the kinds in `kinds` fails; 0 disarms.
  void fail_at(unsigned long n, unsigned kinds = read | write | sync) {
    calls_ = 0;
    fired_ = false;
    kinds_ = kinds;
    fail_at_ = n;
  }
  // Every write fails with SQLITE_FULL while on.
  void full_disk(bool on) { full_ = on; }
  void disarm() {
    fail_at_ = 0;
    full_ = false;
  }
  // Calls of the armed kinds since fail_at, and whether the armed one happened.
  unsigned long calls() const { return calls_; }
  bool fired() const { return fired_; }

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;  // right after this struct, szOsFile of the default VFS
  };

  explicit FaultVfs(bool as_default) {
    sqlite3_initialize();
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = kFaultVfs;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.pAppData = this;
    vfs_.pNext = nullptr;
    vfs_.xOpen = &FaultVfs::open;
    sqlite3_vfs_register(&vfs_, as_default ? 1 : 0);
  }

  // Whether the call of `kind` now must fail (and counts it).
  bool should_fail(Kind kind) {
    if (before_call)
      before_call();
    if (fail_at_ == 0 || !(kinds_ & kind))
      return false;
    if (++calls_ != fail_at_)
      return false;
    fired_ = true;
    if (on_fired)
      on_fired();
    return true;
  }

  static FaultVfs& of(sqlite3_file* f) {
    (void)f;
    return get();
  }
  static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
                  int* out_flags) {
    auto* self = static_cast<FaultVfs*>(vfs->pAppData);
    auto* f = reinterpret_cast<File*>(file);
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + sizeof(File));
    std::memset(f->real, 0, static_cast<std::size_t>(self->real_->szOsFile));
    const int rc = self->real_->xOpen(self->real_, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || !f->real->pMethods) {
      f->base.pMethods = nullptr;
      return rc;
    }
    self->methods_for(f->real->pMethods);
    f->base.pMethods = &self->methods_;
    return SQLITE_OK;
  }

  void methods_for(const sqlite3_io_methods* table) {
    std::lock_guard lock(mutex_);
    if (real_methods_)
      return;  // the default VFS uses one table for every file it opens
    real_methods_ = table;
    methods_ = *table;
    methods_.xClose = [](sqlite3_file* f) {
      sqlite3_file* r = real(f);
      const int rc = r->pMethods->xClose(r);
      f->pMethods = nullptr;
      return rc;
    };
    methods_.xRead = [](sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
      if (of(f).should_fail(read))
        return SQLITE_IOERR_READ;
      return real(f)->pMethods->xRead(real(f), buf, n, off);
    };
    methods_.xWrite = [](sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
      if (of(f).should_fail(write))
        return SQLITE_IOERR_WRITE;
      if (of(f).full_)
        return SQLITE_FULL;
      return real(f)->pMethods->xWrite(real(f), buf, n, off);
    };
    methods_.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) {
      return real(f)->pMethods->xTruncate(real(f), size);
    };
    methods_.xSync = [](sqlite3_file* f, int flags) {
      if (of(f).should_fail(sync))
        return SQLITE_IOERR_FSYNC;
      return real(f)->pMethods->xSync(real(f), flags);
    };
    methods_.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
      return real(f)->pMethods->xFileSize(real(f), size);
    };
    methods_.xLock = [](sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); };
    methods_.xUnlock = [](sqlite3_file* f, int l) {
      return real(f)->pMethods->xUnlock(real(f), l);
    };
    methods_.xCheckReservedLock = [](sqlite3_file* f, int* out) {
      return real(f)->pMethods->xCheckReservedLock(real(f), out);
    };
    methods_.xFileControl = [](sqlite3_file* f, int op, void* arg) {
      return real(f)->pMethods->xFileControl(real(f), op, arg);
    };
    methods_.xSectorSize = [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); };
    methods_.xDeviceCharacteristics = [](sqlite3_file* f) {
      return real(f)->pMethods->xDeviceCharacteristics(real(f));
    };
    if (table->iVersion >= 2) {
      methods_.xShmMap = [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
        return real(f)->pMethods->xShmMap(real(f), page, size, extend, out);
      };
      methods_.xShmLock = [](sqlite3_file* f, int offset, int n, int flags) {
        return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
      };
      methods_.xShmBarrier = [](sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); };
      methods_.xShmUnmap = [](sqlite3_file* f, int del) {
        return real(f)->pMethods->xShmUnmap(real(f), del);
      };
    }
    if (table->iVersion >= 3) {
      // No memory-mapped reads: every read goes through xRead, where faults are injected.
      methods_.xFetch = [](sqlite3_file*, sqlite3_int64, int, void** out) {
        *out = nullptr;
        return SQLITE_OK;
      };
      methods_.xUnfetch = [](sqlite3_file* f, sqlite3_int64 off, void* p) {
        return p ? real(f)->pMethods->xUnfetch(real(f), off, p) : SQLITE_OK;
      };
    }
  }

  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs vfs_{};
  std::mutex mutex_;
  const sqlite3_io_methods* real_methods_ = nullptr;
  sqlite3_io_methods methods_{};
  std::atomic<unsigned long> fail_at_{0};
  std::atomic<unsigned long> calls_{0};
  std::atomic<unsigned> kinds_{0};
  std::atomic<bool> fired_{false};
  std::atomic<bool> full_{false};
};

}  // namespace treve::test
