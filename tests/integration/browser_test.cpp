// The admin page in a real headless browser (Debian's chromium driven by playwright-core,
// both installed by scripts/install-browser-deps): the real daemon serves the page and the
// API; tests/browser/admin_page.test.mjs signs in as an admin, edits a window, sees the
// preview change, saves, checks the API's new version, then signs in as an auditor who
// cannot edit and follows a notification sent to two webhook sinks, one row per copy. The admin
// also opens and closes a crisis from the page (« Mode crise »). It leaves
// a screenshot of the edit view (docs/admin-page.png when TREVE_UPDATE_SCREENSHOT is set).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"

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

  TempDir dir("treve-browser");
  // Two sinks, both accepting: every copy to "ent-push", the parents' also to "mail-parents".
  WebhookReceiver hooks;
  const std::string secret = dir.write("hook.secret", make_webhook_secret() + "\n");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  DaemonOptions options;
  options.admin_listen = "127.0.0.1:0";
  options.timezone = "Europe/Paris";
  options.national_windows = true;
  std::ostringstream admins;
  admins << "\n[[admins]]\nname = \"Mme Durand\"\ntoken_sha256 = \"" << sha256_hex(kDurandToken)
         << "\"\nrole = \"admin\"\nscope = [\"" << kUai << "\"]\n"
         << "\n[[admins]]\nname = \"DPD\"\ntoken_sha256 = \"" << sha256_hex(kDpdToken)
         << "\"\nrole = \"auditor\"\nscope = [\"" << kUai << "\"]\n";
  for (const std::string sink : {"ent-push", "mail-parents"}) {
    admins << "\n[[sinks]]\nname = \"" << sink << "\"\ntype = \"webhook\"\nurl = \""
           << hooks.url("/" + sink) << "\"\nsecret_file = \"" << secret << "\"\n"
           << (sink == "mail-parents" ? "roles = [\"parent\"]\n" : "");
  }
  options.extra_config = admins.str();
  Daemon daemon(options);
  daemon.start();
  // The notification the auditor follows: a student and a parent, three copies.
  EventSpec event;
  event.id = "note-88";
  event.category = "grade";
  event.recipients = {{"eleve-4521", "student", ""}, {"parent-77", "parent", "eleve-4521"}};
  ASSERT_EQ(HttpClient(daemon.port()).post_event(event_body(event)).status, 202);

  const std::string screenshot = std::getenv("TREVE_UPDATE_SCREENSHOT")
                                     ? std::string(TREVE_SOURCE_DIR) + "/docs/admin-page.png"
                                     : (dir.path() / "admin-page.png").string();
  const std::string command =
      "cd '" + std::string(TREVE_SOURCE_DIR) +
      "/tests/browser' && TREVE_ADMIN_URL=http://127.0.0.1:" + std::to_string(daemon.admin_port()) +
      " TREVE_ADMIN_TOKEN=" + kDurandToken + " TREVE_AUDITOR_TOKEN=" + kDpdToken +
      " TREVE_UAI=" + kUai + " TREVE_EVENT_SOURCE=ent TREVE_EVENT_ID=" + event.id +
      " TREVE_EVENT_RECIPIENTS=eleve-4521,parent-77 TREVE_SCREENSHOT='" + screenshot +
      "' node admin_page.test.mjs > '" + (dir.path() / "out.log").string() + "' 2>&1";
  const int status = test::run_shell(command).status;
  const std::string log = read_file(dir.path() / "out.log");
  EXPECT_EQ(status, 0) << log << "\n--- daemon ---\n" << daemon.stderr_log().substr(0, 4000);
  EXPECT_TRUE(fs::exists(screenshot));
  // What the page saved is what the API and the store hold.
  Db db(daemon.db_path());
  auto rows = db.query("SELECT count(*) FROM policy_versions WHERE uai = '" + kUai + "'");
  ASSERT_FALSE(rows.empty());
  EXPECT_GE(std::stoi(*rows[0][0]), 1);
  // The crisis opened and closed from the page: in the store, each step with its record.
  rows = db.query("SELECT count(*) FROM crises WHERE uai = '" + kUai +
                  "' AND closed_by = 'Mme Durand'");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(*rows[0][0], "1");
  for (const std::string kind : {"crisis_opened", "crisis_closed"}) {
    rows = db.query("SELECT count(*) FROM audit WHERE kind = '" + kind + "' AND establishment = '" +
                    kUai + "'");
    EXPECT_EQ(*rows[0][0], "1") << kind;
  }
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace treve::itest
