// The admin page in a real headless browser (Debian's chromium driven by playwright-core,
// both installed by scripts/install-browser-deps): the real daemon serves the page and the
// API; tests/browser/admin_page.test.mjs signs in as an admin, edits a window, sees the
// preview change, saves, checks the API's new version, then signs in as an auditor who
// cannot edit. It leaves a screenshot of the edit view (docs/admin-page.png when
// TREVE_UPDATE_SCREENSHOT is set).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

TEST(AdminPage, AnAdminEditsAWindowInTheBrowserAndAnAuditorCannot) {
  // TREVE_BROWSER_DIR: another copy of tests/browser (to try another playwright-core).
  const std::string browser_dir = std::getenv("TREVE_BROWSER_DIR")
                                      ? std::string(std::getenv("TREVE_BROWSER_DIR"))
                                      : std::string(TREVE_SOURCE_DIR) + "/tests/browser";
  const std::string script = browser_dir + "/admin_page.test.mjs";
  ASSERT_TRUE(fs::exists(script)) << script;
  ASSERT_TRUE(fs::exists(browser_dir + "/node_modules/playwright-core"))
      << "run scripts/install-browser-deps";
  ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "run scripts/install-browser-deps";

  DaemonOptions options;
  options.admin_listen = "127.0.0.1:0";
  options.timezone = "Europe/Paris";
  options.national_windows = true;
  std::ostringstream admins;
  admins << "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" << sha256_hex(kDurandToken)
         << "\"\nrole = \"admin\"\nscope = [\"" << kUai << "\"]\n"
         << "\n[[admins]]\nname = \"DPD\"\ntoken_sha256 = \"" << sha256_hex(kDpdToken)
         << "\"\nrole = \"auditor\"\nscope = [\"" << kUai << "\"]\n";
  options.extra_config = admins.str();
  Daemon daemon(options);
  daemon.start();

  TempDir dir("treve-browser");
  const std::string screenshot = std::getenv("TREVE_UPDATE_SCREENSHOT")
                                     ? std::string(TREVE_SOURCE_DIR) + "/docs/admin-page.png"
                                     : (dir.path() / "admin-page.png").string();
  const std::string command =
      "cd '" + std::string(TREVE_SOURCE_DIR) +
      "/tests/browser' && TREVE_ADMIN_URL=http://127.0.0.1:" + std::to_string(daemon.admin_port()) +
      " TREVE_ADMIN_TOKEN=" + kDurandToken + " TREVE_AUDITOR_TOKEN=" + kDpdToken +
      " TREVE_UAI=" + kUai + " TREVE_SCREENSHOT='" + screenshot + "' node admin_page.test.mjs > '" +
      (dir.path() / "out.log").string() + "' 2>&1";
  const int status = test::run_shell(command).status;
  const std::string log = read_file(dir.path() / "out.log");
  EXPECT_EQ(status, 0) << log << "\n--- daemon ---\n" << daemon.stderr_log().substr(0, 4000);
  EXPECT_TRUE(fs::exists(screenshot));
  // What the page saved is what the API and the store hold.
  Db db(daemon.db_path());
  auto rows = db.query("SELECT count(*) FROM policy_versions WHERE uai = '" + kUai + "'");
  ASSERT_FALSE(rows.empty());
  EXPECT_GE(std::stoi(*rows[0][0]), 1);
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
