// The directory lookup for addresses, end to end (docs/delivery.md "Addresses, and what trêve
// keeps of them"): the real daemon with an smtp sink whose `directory_url` points at a
// directory in this process (webhook_receiver.h's server, checking each request's Standard
// Webhooks signature), and a real SMTP relay (tests/support/smtp_receiver.h, aiosmtpd). The
// events carry no addresses: each e-mail goes where the directory said, a failed lookup is
// retried, a 404 ends the copy `no_address`, and the address is nowhere in the daemon's log,
// audit trail or database.
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"
#include "tests/support/smtp_receiver.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;

// The state of the only delivery of event `id`; empty until there is one.
std::string state_of(HttpClient& client, const std::string& id) {
  HttpResponse r = client.get_event(id);
  if (r.status != 200)
    return {};
  const json::object answer = r.object();
  const auto& ds = answer.at("deliveries").as_array();
  return ds.size() == 1 ? std::string(ds[0].as_object().at("state").as_string()) : std::string();
}

bool wait_for_state(HttpClient& client, const std::string& id, const std::string& state) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (state_of(client, id) == state)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool wait_for_messages(const test::SmtpReceiver& relay, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (relay.messages().size() >= n)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Every byte of the database, its write-ahead log included.
std::string database_bytes(const std::string& db) {
  return read_file(db) + read_file(db + "-wal");
}

TEST(DirectoryLookup, AddressesComeFromTheDirectoryAtEachAttemptAndAreKeptNowhere) {
  const std::string missing = test::smtp_receiver_missing();
  if (!missing.empty())
    GTEST_SKIP() << missing;
  test::SmtpReceiverOptions relay_options;
  relay_options.tls = false;
  test::SmtpReceiver relay(relay_options);

  const std::string secret = make_webhook_secret();
  const WebhookVerifier verifier(secret);
  // The directory: one address per recipient; "u-flaky" fails once with 503; "u-gone" is
  // not known.
  std::mutex mutex;
  std::map<std::string, int> asked;
  WebhookReceiver directory([&](const WebhookRequest& r, int) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !verifier.verify(r))
      return WebhookResponse{400, std::nullopt, {}, ""};
    const std::string recipient(v.as_object().at("recipient").as_string());
    int n = 0;
    {
      std::lock_guard lock(mutex);
      n = asked[recipient]++;
    }
    if (recipient == "u-ok")
      return WebhookResponse{200, std::nullopt, {}, R"({"email":"eleve.ok@example.fr"})"};
    if (recipient == "u-flaky") {
      if (n == 0)
        return WebhookResponse{503, std::string("0"), {}, "busy"};
      return WebhookResponse{200, std::nullopt, {}, R"({"email":["parent.flaky@example.fr"]})"};
    }
    return WebhookResponse{404, std::nullopt, {}, ""};
  });

  DaemonOptions o;
  o.quiet_start = utc_hhmm_ahead(std::chrono::hours(10));
  o.quiet_end = utc_hhmm_ahead(std::chrono::hours(12));
  o.extra_config =
      "\n[[sinks]]\nname = \"mail\"\ntype = \"smtp\"\ndefault = true\n"
      "url = \"" +
      relay.url() +
      "\"\nstarttls = \"opportunistic\"\n"
      "from = \"Collège Victor Hugo <ne-pas-repondre@clg.example>\"\n"
      "directory_url = \"" +
      directory.url("/annuaire") +
      "\"\nsecret_file = \"directory.secret\"\n"
      "retry_initial = \"100ms\"\n";
  Daemon daemon(o);
  const fs::path secret_path = fs::path(daemon.config_path()).parent_path() / "directory.secret";
  std::ofstream(secret_path, std::ios::binary) << secret << "\n";
  ::chmod(secret_path.c_str(), 0600);
  daemon.start();
  HttpClient client(daemon.port());

  auto post = [&](const std::string& id, const std::string& recipient, const std::string& role,
                  const std::string& of) {
    EventSpec spec;
    spec.id = id;
    spec.recipients = {{recipient, role, of}};
    HttpResponse r = client.post_event(event_body(spec));
    ASSERT_EQ(r.status, 202) << r.body;
  };

  // An event without addresses reaches the one the directory gives.
  post("d-1", "u-ok", "student", "");
  ASSERT_TRUE(wait_for_messages(relay, 1)) << daemon.stderr_log() << relay.log();
  ASSERT_TRUE(wait_for_state(client, "d-1", "delivered")) << client.get_event("d-1").body;
  auto envelope = test::SmtpReceiver::envelope(relay.messages()[0]);
  EXPECT_EQ(json::serialize(envelope.at("rcpt_tos")), R"(["eleve.ok@example.fr"])");

  // A lookup answered 503: the attempt is retried, and the e-mail goes out after.
  post("d-2", "u-flaky", "parent", "u-ok");
  ASSERT_TRUE(wait_for_messages(relay, 2)) << daemon.stderr_log();
  ASSERT_TRUE(wait_for_state(client, "d-2", "delivered"));
  envelope = test::SmtpReceiver::envelope(relay.messages()[1]);
  EXPECT_EQ(json::serialize(envelope.at("rcpt_tos")), R"(["parent.flaky@example.fr"])");
  EXPECT_THAT(daemon.stderr_log(), HasSubstr("directory lookup: HTTP 503"));

  // Unknown to the directory: no address, recorded as such.
  post("d-3", "u-gone", "student", "");
  ASSERT_TRUE(wait_for_state(client, "d-3", "no_address")) << state_of(client, "d-3");
  EXPECT_EQ(relay.messages().size(), 2u);

  // Every lookup was signed and said who and what for.
  const auto requests = directory.requests();
  ASSERT_EQ(requests.size(), 4u);  // u-ok, u-flaky twice, u-gone
  for (const WebhookRequest& r : requests) {
    EXPECT_EQ(r.status == 200 || r.status == 503 || r.status == 404, true) << r.body;
    EXPECT_EQ(r.target, "/annuaire");
    EXPECT_EQ(verifier.check(r), "") << r.body;
    EXPECT_TRUE(r.webhook_id.starts_with("lkp_")) << r.webhook_id;
    const json::object body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("type"), "treve.address_lookup");
    EXPECT_EQ(body.at("source"), "ent");
    EXPECT_EQ(body.at("channel"), "email");
    const std::string recipient(body.at("recipient").as_string());
    EXPECT_EQ(body.at("role"), recipient == "u-flaky" ? "parent" : "student") << r.body;
  }
  EXPECT_NE(requests[1].webhook_id, requests[2].webhook_id) << "one id per attempt";

  // The addresses were kept nowhere: not in the log, the audit trail or the database.
  Db db(daemon.db_path());
  EXPECT_GT(db.scalar("SELECT count(*) FROM audit"), 0);
  const std::string log = daemon.stderr_log();
  const std::string bytes = database_bytes(daemon.db_path());
  for (const char* address : {"eleve.ok@example.fr", "parent.flaky@example.fr"}) {
    EXPECT_EQ(log.find(address), std::string::npos) << address;
    EXPECT_EQ(bytes.find(address), std::string::npos) << address;
    for (const AuditRow& row : read_audit(db))
      EXPECT_EQ(canonical_audit(row).find(address), std::string::npos) << address;
  }
  daemon.stop();
  directory.stop();
}

}  // namespace
}  // namespace treve::itest
