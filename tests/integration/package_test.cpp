// The Debian package as `cpack -G DEB` builds it from this build tree: what it installs, what
// it depends on, its conffiles, and maintainer scripts that start nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string shell(const std::string& command, int& status) {
  test::ProcessResult r = test::run_shell(command);
  status = r.status;
  return r.out;
}

TEST(DebianPackage, HoldsTheBinaryTheUnitAndTheConfigurationAndStartsNothing) {
  TempDir dir("treve-deb");
  const std::string out = dir.path().string();
  int status = 0;
  const std::string log =
      shell("cd '" + out + "' && cpack -G DEB --config '" + std::string(TREVE_BUILD_DIR) +
                "/CPackConfig.cmake' -B '" + out + "'",
            status);
  ASSERT_EQ(status, 0) << log;
  std::string deb;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().extension() == ".deb")
      deb = e.path().string();
  }
  ASSERT_FALSE(deb.empty()) << log;
  EXPECT_THAT(fs::path(deb).filename().string(),
              ::testing::MatchesRegex("treve_[0-9.]+_[a-z0-9]+\\.deb"));

  const std::string contents = shell("dpkg --contents '" + deb + "'", status);
  ASSERT_EQ(status, 0) << contents;
  for (const char* path : {"./usr/bin/treve", "./usr/lib/systemd/system/treve.service",
                           "./usr/lib/sysusers.d/treve.conf", "./etc/treve/treve.toml"}) {
    EXPECT_THAT(contents, HasSubstr(path));
  }
  EXPECT_THAT(contents, Not(HasSubstr(".secret"))) << "a secret is never shipped";

  const std::string depends = shell("dpkg-deb -f '" + deb + "' Depends", status);
  EXPECT_THAT(depends, HasSubstr("libsqlite3-0"));
  EXPECT_THAT(depends, HasSubstr("libsystemd0"));

  const std::string control = (dir.path() / "control").string();
  shell("dpkg-deb -e '" + deb + "' '" + control + "'", status);
  ASSERT_EQ(status, 0);
  EXPECT_THAT(read_file(control + "/conffiles"), HasSubstr("/etc/treve/treve.toml"));
  // What postinst runs (its comments tell the administrator how to start the service).
  std::string postinst;
  std::istringstream lines(read_file(control + "/postinst"));
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(' ') != std::string::npos &&
        line[line.find_first_not_of(' ')] != '#')
      postinst += line + "\n";
  }
  EXPECT_THAT(postinst, HasSubstr("systemd-sysusers treve.conf"));
  EXPECT_THAT(postinst, HasSubstr("daemon-reload"));
  EXPECT_THAT(postinst, Not(HasSubstr("systemctl start")));
  EXPECT_THAT(postinst, Not(HasSubstr("--now")));
}

}  // namespace
}  // namespace treve::itest
