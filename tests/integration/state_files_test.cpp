// What `treve serve` writes under `state_dir`, as a file system sees it: the store, its WAL
// files, the pid file and the pseudonym key are 0600 whatever the umask it was started with; a
// symlink planted at `treve.pid` is replaced, never written through; and a `state_dir` that
// is a symlink has its target's mode left as it is.
#include <sys/stat.h>
#include <sys/types.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

// The permission bits of `path` itself (a symlink is not followed); -1 when it is missing.
int mode_of(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return -1;
  return static_cast<int>(st.st_mode & 07777);
}

bool is_a_symlink(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Sets the process umask for the life of the object (the daemon inherits it when spawned).
class Umask {
 public:
  explicit Umask(mode_t mask) : saved_(::umask(mask)) {}
  ~Umask() { ::umask(saved_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t saved_;
};

TEST(StateFiles, UnderUmask022TheStoreItsWalFilesThePidFileAndTheKeyAre0600) {
  Umask loose(022);
  Daemon daemon;
  daemon.start();
  HttpClient client(daemon.port());
  ASSERT_EQ(client.post_event(simple_event("mode-1", 2)).status, 202);

  const fs::path state(daemon.state_dir());
  EXPECT_EQ(mode_of(state), 0700);
  // The -wal and -shm files exist while the daemon runs (WAL mode).
  for (const char* name :
       {"treve.db", "treve.db-wal", "treve.db-shm", "treve.pid", "pseudonym.key"}) {
    EXPECT_EQ(mode_of(state / name), 0600) << name << " (-1: missing)";
  }
  EXPECT_EQ(daemon.stop(), 0);
  EXPECT_EQ(mode_of(state / "treve.db"), 0600);
}

TEST(StateFiles, AnExistingStoreReadableByOthersIsMade0600AtStart) {
  Umask loose(022);
  Daemon daemon;
  daemon.start();
  EXPECT_EQ(daemon.stop(), 0);
  const fs::path state(daemon.state_dir());
  fs::permissions(state / "treve.db", fs::perms(0644));
  fs::permissions(state / "pseudonym.key", fs::perms(0644));
  daemon.start();
  EXPECT_EQ(mode_of(state / "treve.db"), 0600);
  EXPECT_EQ(mode_of(state / "pseudonym.key"), 0600);
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=state.mode_tightened"));
  EXPECT_EQ(daemon.stop(), 0);
}

TEST(StateFiles, ASymlinkAtThePidFileIsReplacedAndItsTargetLeftUntouched) {
  TempDir dir("treve-it-pid");
  const fs::path state = dir.path() / "state";
  fs::create_directories(state);
  fs::permissions(state, fs::perms::owner_all);
  const fs::path victim = dir.path() / "victim";
  std::ofstream(victim) << "precious\n";
  fs::permissions(victim, fs::perms(0644));
  fs::create_symlink(victim, state / "treve.pid");

  DaemonOptions options;
  options.state_dir = state.string();
  Daemon daemon(options);
  daemon.start();
  EXPECT_EQ(read_file(victim), "precious\n");
  EXPECT_EQ(mode_of(victim), 0644);
  EXPECT_FALSE(is_a_symlink(state / "treve.pid"));
  EXPECT_EQ(read_file(state / "treve.pid"), std::to_string(daemon.pid()) + "\n");
  EXPECT_EQ(mode_of(state / "treve.pid"), 0600);

  // `treve reload` finds the daemon through the file written.
  auto reload = run_treve({"reload", "--config", daemon.config_path()});
  EXPECT_EQ(reload.status, 0) << reload;
  EXPECT_TRUE(daemon.wait_for_log("event=config.reloaded", 10s)) << daemon.stderr_log();
  EXPECT_EQ(daemon.stop(), 0);
  EXPECT_EQ(read_file(victim), "precious\n");
}

TEST(StateFiles, AStalePidFileIsReplacedWithThisDaemonsPid) {
  TempDir dir("treve-it-pid");
  const fs::path state = dir.path() / "state";
  fs::create_directories(state);
  std::ofstream(state / "treve.pid") << "999999\nleftover\n";
  fs::permissions(state / "treve.pid", fs::perms(0666));

  DaemonOptions options;
  options.state_dir = state.string();
  Daemon daemon(options);
  daemon.start();
  EXPECT_EQ(read_file(state / "treve.pid"), std::to_string(daemon.pid()) + "\n");
  EXPECT_EQ(mode_of(state / "treve.pid"), 0600);
  EXPECT_EQ(daemon.stop(), 0);
  EXPECT_FALSE(fs::exists(state / "treve.pid"));
}

TEST(StateFiles, ASymlinkedStateDirectoryIsUsedAndItsTargetsModeIsLeftAsItIs) {
  TempDir dir("treve-it-statelink");
  const fs::path target = dir.path() / "elsewhere";
  fs::create_directories(target);
  fs::permissions(target, fs::perms(0755));
  const fs::path link = dir.path() / "state";
  fs::create_symlink(target, link);

  DaemonOptions options;
  options.state_dir = link.string();
  Daemon daemon(options);
  daemon.start();
  HttpClient client(daemon.port());
  ASSERT_EQ(client.post_event(simple_event("through-a-link")).status, 202);
  EXPECT_EQ(mode_of(target), 0755);
  EXPECT_TRUE(is_a_symlink(link));
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("event=state.dir_is_symlink"));
  EXPECT_EQ(mode_of(target / "treve.db"), 0600);
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
