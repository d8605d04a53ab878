// A fresh directory under the system's temporary directory, removed with everything in it when
// the object goes. The one temporary directory of trêve's tests and benchmarks.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace treve::test {

class TempDir {
 public:
  // "<base>/<prefix>-<pid>-<n>-<random>" (base: the system's temporary directory), so that
  // parallel test processes never share one.
  explicit TempDir(std::string_view prefix = "treve-test",
                   const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    std::random_device rd;
    path_ = base / (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter()++) + "-" + std::to_string(rd()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    if (!kept_)
      std::filesystem::remove_all(path_, ec);
  }
  // Leaves the directory in place at the end (a benchmark's --keep).
  void keep() { kept_ = true; }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Where a test's SQLite store usually lives: "<dir>/treve.db".
  std::string db() const { return file("treve.db"); }
  // Writes `text` to `name` (created or truncated, with the directories it is in); its path.
  std::string write(const std::string& name, std::string_view text) const {
    const std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    return p.string();
  }

 private:
  static std::atomic<unsigned>& counter() {
    static std::atomic<unsigned> n{0};
    return n;
  }
  std::filesystem::path path_;
  bool kept_ = false;
};

}  // namespace treve::test
