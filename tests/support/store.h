// A test's SQLite store: opened (created) in a TempDir, with a fixed pseudonym key, optionally
// capped at a number of pages (a full disk). The one way trêve's tests open a fresh store.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "daemon/store/sqlite_store.h"
#include "tests/support/temp_dir.h"

namespace treve::test {

// The options of a test store at `path`: every byte of the pseudonym key `key_byte`, at most
// `max_pages` pages (0: no cap).
inline store::SqliteOptions store_options(const std::string& path, unsigned char key_byte = 0,
                                          long long max_pages = 0) {
  store::SqliteOptions o;
  o.path = path;
  o.pseudonym_key.fill(key_byte);
  o.max_page_count = max_pages;
  return o;
}

// Opens the store of `options`; a test failure (and nullptr) when it cannot.
inline std::unique_ptr<store::SqliteStore> open_store(const store::SqliteOptions& options) {
  auto s = store::SqliteStore::open(options);
  EXPECT_TRUE(s.has_value()) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

// A fresh store in a directory of its own, both gone at the end of the test.
class FreshStore {
 public:
  explicit FreshStore(unsigned char key_byte = 0, long long max_pages = 0)
      : store_(open_store(store_options(dir_.db(), key_byte, max_pages))) {}
  const TempDir& dir() const { return dir_; }
  store::SqliteStore& operator*() const { return *store_; }
  store::SqliteStore* operator->() const { return store_.get(); }
  std::unique_ptr<store::SqliteStore>& ptr() { return store_; }

 private:
  TempDir dir_{"treve-store"};
  std::unique_ptr<store::SqliteStore> store_;
};

}  // namespace treve::test
