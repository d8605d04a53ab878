// The e-mail channel against a real SMTP relay: tests/channels/smtp_receiver.py (Debian's
// python3-aiosmtpd) on loopback, with STARTTLS under the tests' own CA and AUTH required, started
// by tests/support/smtp_receiver.h. SmtpChannel sends on a thread of its own (MailClient) and
// answers on a real io_context run by the test's thread; what arrived is read back by an
// independent parser, npm mailparser (tests/channels/parse_mail.mjs).
#include "daemon/dispatch/smtp_channel.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/core/clock.h"
#include "daemon/dispatch/http_client.h"
#include "tests/support/mail_parser.h"
#include "tests/support/outbound.h"
#include "tests/support/smtp_receiver.h"
#include "tests/support/temp_dir.h"

namespace treve::dispatch {
namespace {

using namespace std::chrono_literals;
using adapters::Verdict;
using test::json_text;
using test::SmtpReceiver;
using test::SmtpReceiverOptions;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kUsername = "treve";
constexpr std::string_view kPassword = "s3cret-relay-pass";
// 2026-11-28T06:00:00Z, 07:00 in Paris: the morning release.
const policy::Instant kMorning{std::chrono::milliseconds{1795845600000}};

// A delivery and the strings its views point into.
struct Delivery {
  std::string delivery_id = "dlv_4fd441f32eb35c96d3518c7dcffeee92";
  std::string event_id = "msg-8812";
  std::string category = "grade";
  std::string body;

  adapters::OutboundDelivery view() const {
    return test::outbound_delivery(delivery_id, event_id, category, body, false, "u-99c1");
  }
};

// An event for the parent u-99c1 with these e-mail addresses.
Delivery delivery(const std::vector<std::string>& emails,
                  std::string title = "Nouvelle note en mathématiques : 15/20",
                  std::string link = "https://ent.example.fr/notes/8812") {
  Delivery d;
  std::string list;
  for (const std::string& e : emails)
    list += (list.empty() ? "\"" : ",\"") + e + "\"";
  d.body = R"({"id":"msg-8812","establishment":"0250001R","category":"grade",)"
           R"("recipients":[{"id":"u-7f3a","role":"student"},{"id":"u-99c1","role":"parent",)"
           R"("of":"u-7f3a","channels":{"email":[)" +
           list + R"(]}}],"created_at":"2026-11-27T21:14:03+01:00","title":")" + title +
           R"(","payload":{"link":")" + link + R"("}})";
  return d;
}

class SmtpChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string missing = test::smtp_receiver_missing(); !missing.empty())
      FAIL() << missing;
    if (const std::string missing = test::mail_parser_missing(); !missing.empty())
      FAIL() << missing;
  }

  std::unique_ptr<SmtpReceiver> start(SmtpReceiverOptions options = {}) {
    if (options.username.empty() && options.tls) {
      options.username = kUsername;
      options.password = kPassword;
    }
    return std::make_unique<SmtpReceiver>(options);
  }

  // A relay that answers RCPT TO addresses starting with a prefix of `temp` 451, of `perm` 550.
  static SmtpReceiverOptions refusing(std::vector<std::string> temp,
                                      std::vector<std::string> perm) {
    SmtpReceiverOptions o;
    o.temp_fail = std::move(temp);
    o.perm_fail = std::move(perm);
    return o;
  }

  config::Sink sink(const SmtpReceiver& relay) const {
    config::Sink s;
    s.name = "mail";
    s.type = "smtp";
    s.url = relay.url();
    s.starttls = config::Sink::StartTls::required;
    s.username = kUsername;
    s.password = kPassword;
    s.from = "Collège Jean Moulin <notifications@college.example.fr>";
    s.reply_to = "Vie scolaire <vie-scolaire@college.example.fr>";
    s.ca_file = relay.ca_file();
    s.timeout = 10s;
    return s;
  }

  ChannelContext context() { return {ioc_, http_, clock_}; }

  // Runs the io_context until `done` holds (or `limit` has passed).
  template <class Done>
  void run_until(Done done, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (ioc_.stopped())
        ioc_.restart();
      ioc_.run_one_for(50ms);
    }
  }

  ChannelResult send(Channel& channel, const std::vector<Delivery>& deliveries,
                     bool digest = false) {
    std::vector<adapters::OutboundDelivery> batch;
    for (const Delivery& d : deliveries)
      batch.push_back(d.view());
    std::optional<ChannelResult> result;
    int calls = 0;
    channel.send(batch, digest, [&](ChannelResult r) {
      ++calls;
      result = std::move(r);
    });
    EXPECT_FALSE(result) << "answered from inside send()";
    run_until([&] { return result.has_value(); });
    EXPECT_EQ(calls, 1);
    return result.value_or(ChannelResult{});
  }

  static boost::json::array parse(const std::vector<std::string>& files) {
    auto parsed = test::parse_mail_files(files);
    EXPECT_TRUE(parsed) << parsed.error();
    return parsed ? *parsed : boost::json::array();
  }

  boost::asio::io_context ioc_;
  HttpClient http_{ioc_, HttpClient::Options{}};
  core::FakeClock clock_{kMorning};
};

TEST_F(SmtpChannelTest, AFrenchNotificationArrivesOverStartTlsWithAuth) {
  auto relay = start();
  SmtpChannel channel(sink(*relay), context());
  EXPECT_EQ(channel.type(), "smtp");
  const ChannelResult r = send(channel, {delivery({"parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error << "\n" << relay->log();
  EXPECT_EQ(r.status, 250);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.id, "<dlv_4fd441f32eb35c96d3518c7dcffeee92@college.example.fr>");
  EXPECT_EQ(r.addresses, std::vector<std::string>{"parent@example.fr"});

  const auto files = relay->messages();
  ASSERT_EQ(files.size(), 1u);
  const boost::json::value envelope = SmtpReceiver::envelope(files[0]);
  EXPECT_EQ(json_text(envelope, "mail_from"), "notifications@college.example.fr");
  EXPECT_EQ(envelope.at("rcpt_tos").at(0).as_string(), "parent@example.fr");
  EXPECT_TRUE(envelope.at("tls").as_bool());
  EXPECT_EQ(json_text(envelope, "login"), kUsername);

  const boost::json::array mails = parse(files);
  ASSERT_EQ(mails.size(), 1u);
  const boost::json::value& mail = mails[0];
  EXPECT_EQ(json_text(mail, "subject"), "Nouvelle note en mathématiques : 15/20");
  EXPECT_EQ(json_text(mail, "messageId"), r.id);
  EXPECT_EQ(json_text(mail, "date"), "2026-11-28T06:00:00.000Z");
  EXPECT_EQ(json_text(mail.at("from"), "name"), "Collège Jean Moulin");
  EXPECT_EQ(json_text(mail.at("from"), "address"), "notifications@college.example.fr");
  EXPECT_EQ(json_text(mail.at("replyTo"), "address"), "vie-scolaire@college.example.fr");
  EXPECT_EQ(json_text(mail.at("to").at(0), "address"), "parent@example.fr");
  EXPECT_EQ(json_text(mail.at("headers"), "auto-submitted"), "auto-generated");
  const std::string text = json_text(mail, "text");
  EXPECT_THAT(text, StartsWith("Bonjour,\n"));
  EXPECT_THAT(text, HasSubstr("Nouvelle note en mathématiques : 15/20"));
  EXPECT_THAT(text, HasSubstr("Catégorie : Note"));
  EXPECT_THAT(text, HasSubstr("Établissement : 0250001R"));
  EXPECT_THAT(text, HasSubstr("Envoyée le 28/11/2026 à 07:00"));
  EXPECT_THAT(text, HasSubstr("Pour la consulter : https://ent.example.fr/notes/8812"));
  const std::string html = json_text(mail, "html");
  EXPECT_THAT(html, HasSubstr("<h1 style=\"font-size: 1.25em;\">Nouvelle note en mathématiques : "
                              "15/20</h1>"));
  EXPECT_THAT(html, HasSubstr("<a href=\"https://ent.example.fr/notes/8812\">"));
}

TEST_F(SmtpChannelTest, AnSmtpsUrlIsTlsFromTheFirstByte) {
  SmtpReceiverOptions implicit;
  implicit.implicit_tls = true;
  auto relay = start(implicit);
  config::Sink s = sink(*relay);
  EXPECT_THAT(s.url, StartsWith("smtps://"));
  s.starttls = config::Sink::StartTls::off;  // has no say over smtps://
  SmtpChannel channel(s, context());
  const ChannelResult r = send(channel, {delivery({"parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error << "\n" << relay->log();
  const auto files = relay->messages();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(SmtpReceiver::envelope(files[0]).at("tls").as_bool());
  EXPECT_EQ(json_text(SmtpReceiver::envelope(files[0]), "login"), kUsername);
}

TEST_F(SmtpChannelTest, EveryAddressGetsOneMessageOfItsOwnWithTheSameMessageId) {
  auto relay = start();
  SmtpChannel channel(sink(*relay), context());
  const ChannelResult r =
      send(channel, {delivery({"mere@example.fr", "pere@example.org", "mere@example.fr"},
                              "Réunion <parents> & profs")});
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  EXPECT_EQ(r.addresses, (std::vector<std::string>{"mere@example.fr", "pere@example.org"}));
  const boost::json::array mails = parse(relay->messages());
  ASSERT_EQ(mails.size(), 2u);
  std::vector<std::string> to;
  for (const auto& mail : mails) {
    ASSERT_EQ(mail.at("to").as_array().size(), 1u);
    to.push_back(json_text(mail.at("to").at(0), "address"));
    EXPECT_EQ(json_text(mail, "messageId"), r.id);
    EXPECT_EQ(json_text(mail, "subject"), "Réunion <parents> & profs");
    EXPECT_THAT(json_text(mail, "html"), HasSubstr("Réunion &lt;parents&gt; &amp; profs"));
  }
  std::sort(to.begin(), to.end());
  EXPECT_EQ(to, (std::vector<std::string>{"mere@example.fr", "pere@example.org"}));
}

TEST_F(SmtpChannelTest, ATemporaryRefusalIsRetriedAndAPermanentOneIsNot) {
  auto relay = start(refusing({"busy"}, {"gone"}));
  SmtpChannel channel(sink(*relay), context());
  const ChannelResult later = send(channel, {delivery({"busy@example.fr"})});
  EXPECT_EQ(later.verdict, Verdict::retry);
  EXPECT_EQ(later.status, 451);
  EXPECT_THAT(later.error, HasSubstr("451"));
  EXPECT_THAT(later.error, Not(HasSubstr("busy@")));

  const ChannelResult never = send(channel, {delivery({"gone@example.fr"})});
  EXPECT_EQ(never.verdict, Verdict::permanent);
  EXPECT_EQ(never.status, 550);
  EXPECT_THAT(never.error, HasSubstr("550"));
  EXPECT_THAT(never.error, Not(HasSubstr("gone@")));

  // Retried rather than refused when any address may take it later.
  const ChannelResult mixed = send(channel, {delivery({"gone@example.fr", "busy@example.fr"})});
  EXPECT_EQ(mixed.verdict, Verdict::retry);
  EXPECT_EQ(mixed.status, 451);
  EXPECT_THAT(mixed.error, HasSubstr("address 1 of 2: SMTP 550"));
  EXPECT_THAT(mixed.error, HasSubstr("address 2 of 2: SMTP 451"));
  EXPECT_TRUE(relay->messages().empty());
}

TEST_F(SmtpChannelTest, OneAddressRefusedOfTwoIsStillDelivered) {
  auto relay = start(refusing({}, {"gone"}));
  SmtpChannel channel(sink(*relay), context());
  const ChannelResult r = send(channel, {delivery({"gone@example.fr", "parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  EXPECT_EQ(r.status, 250);
  const auto files = relay->messages();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(SmtpReceiver::envelope(files[0]).at("rcpt_tos").at(0).as_string(), "parent@example.fr");
}

TEST_F(SmtpChannelTest, ARecipientWithoutAnAddressIsNoAddressAndNothingIsSent) {
  auto relay = start();
  SmtpChannel channel(sink(*relay), context());
  const ChannelResult r = send(channel, {delivery({})});
  EXPECT_EQ(r.verdict, Verdict::no_address);
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_EQ(relay->connections(), 0);
}

TEST_F(SmtpChannelTest, RequiredStartTlsAgainstARelayWithoutItIsRetriedWithAClearError) {
  SmtpReceiverOptions without_tls;
  without_tls.tls = false;
  auto relay = start(without_tls);
  test::TempDir dir("treve-ca");
  config::Sink s = sink(*relay);
  s.ca_file = test::make_test_ca(dir).ca_file;
  SmtpChannel channel(s, context());
  const ChannelResult r = send(channel, {delivery({"parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_THAT(r.error, HasSubstr("STARTTLS"));
  EXPECT_EQ(relay->connections(), 1);
  EXPECT_TRUE(relay->messages().empty());
}

TEST_F(SmtpChannelTest, OpportunisticStartTlsUsesTlsWhenOfferedAndGoesInClearOtherwise) {
  auto with_tls = start();
  config::Sink s = sink(*with_tls);
  s.starttls = config::Sink::StartTls::opportunistic;
  SmtpChannel encrypted(s, context());
  EXPECT_EQ(send(encrypted, {delivery({"parent@example.fr"})}).verdict, Verdict::delivered);
  ASSERT_EQ(with_tls->messages().size(), 1u);
  EXPECT_TRUE(SmtpReceiver::envelope(with_tls->messages()[0]).at("tls").as_bool());

  SmtpReceiverOptions without_tls;
  without_tls.tls = false;
  auto in_clear = start(without_tls);
  s = sink(*in_clear);
  s.starttls = config::Sink::StartTls::opportunistic;
  s.username.clear();  // the relay offers no AUTH either
  SmtpChannel clear(s, context());
  const ChannelResult r = send(clear, {delivery({"parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  ASSERT_EQ(in_clear->messages().size(), 1u);
  EXPECT_FALSE(SmtpReceiver::envelope(in_clear->messages()[0]).at("tls").as_bool());
}

TEST_F(SmtpChannelTest, AWrongPasswordIsRefusedWithoutShowingIt) {
  auto relay = start();
  config::Sink s = sink(*relay);
  s.password = "not-the-relay-password";
  SmtpChannel channel(s, context());
  const ChannelResult r = send(channel, {delivery({"parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::permanent) << r.error;
  EXPECT_EQ(r.status / 100, 5);
  EXPECT_THAT(r.error, Not(HasSubstr("not-the-relay-password")));
  EXPECT_TRUE(relay->messages().empty());
}

TEST_F(SmtpChannelTest, FiftyMessagesShareAFewConnections) {
  auto relay = start();
  SmtpChannel channel(sink(*relay), context());
  std::vector<Delivery> deliveries;
  for (int i = 0; i < 50; ++i) {
    Delivery d = delivery({"parent" + std::to_string(i) + "@example.fr"});
    d.delivery_id = "dlv_" + std::to_string(1000 + i);
    deliveries.push_back(std::move(d));
  }
  // Four at a time, as a dispatcher with max_in_flight = 4 sends them.
  constexpr std::size_t kInFlight = 4;
  std::size_t next = 0, delivered = 0, finished = 0;
  std::function<void()> send_next = [&] {
    const adapters::OutboundDelivery d = deliveries[next++].view();
    channel.send(std::span(&d, 1), false, [&](ChannelResult r) {
      ++finished;
      delivered += r.verdict == Verdict::delivered ? 1 : 0;
      EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
      if (next < deliveries.size())
        send_next();
    });
  };
  for (std::size_t i = 0; i < kInFlight; ++i)
    send_next();
  run_until([&] { return finished == deliveries.size(); });
  EXPECT_EQ(delivered, 50u);
  EXPECT_EQ(relay->messages().size(), 50u);
  EXPECT_LE(relay->connections(), static_cast<int>(kInFlight)) << "connections are not reused";
  EXPECT_GE(relay->connections(), 1);
}

TEST_F(SmtpChannelTest, ADigestIsOneMessageListingTheNotifications) {
  auto relay = start();
  SmtpChannel channel(sink(*relay), context());
  Delivery a = delivery({"parent@example.fr"}, "Contrôle de français");
  Delivery b = delivery({"parent@example.fr"}, "Sortie au musée", "https://ent.example.fr/sortie");
  b.delivery_id = "dlv_2";
  b.category = "news";
  Delivery c = delivery({"parent@example.fr"}, "Note d'anglais");
  c.delivery_id = "dlv_3";
  const ChannelResult r = send(channel, {a, b, c}, true);
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  EXPECT_THAT(r.id, StartsWith("<dig_"));
  const boost::json::array mails = parse(relay->messages());
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(json_text(mails[0], "subject"), "3 nouvelles notifications : 2 notes et 1 actualité");
  EXPECT_EQ(json_text(mails[0], "messageId"), r.id);
  const std::string text = json_text(mails[0], "text");
  EXPECT_THAT(text, HasSubstr("* Contrôle de français\n"));
  EXPECT_THAT(text, HasSubstr("* Sortie au musée\n  Actualité, 0250001R"));
  EXPECT_THAT(text, HasSubstr("https://ent.example.fr/sortie"));
  EXPECT_THAT(json_text(mails[0], "html"), HasSubstr("<li>2 notes</li>"));
  // The same digest sent again is the same message.
  EXPECT_EQ(send(channel, {a, b, c}, true).id, r.id);
}

TEST_F(SmtpChannelTest, AnAdministratorsTemplatesReplaceTheBuiltInOnes) {
  auto relay = start();
  test::TempDir templates("treve-templates");
  templates.write("notification.subject.txt", "[{{establishment}}] {{category}} : {{title}}\n");
  templates.write("notification.txt", "{{title}}\n{{#link}}{{link}}{{/link}}\n");
  config::Sink s = sink(*relay);
  s.templates = templates.str();
  SmtpChannel channel(s, context());
  const ChannelResult r = send(channel, {delivery({"parent@example.fr"}, "Bulletin")});
  EXPECT_EQ(r.verdict, Verdict::delivered) << r.error;
  const boost::json::array mails = parse(relay->messages());
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(json_text(mails[0], "subject"), "[0250001R] Note : Bulletin");
  EXPECT_EQ(json_text(mails[0], "text"), "Bulletin\nhttps://ent.example.fr/notes/8812");
  EXPECT_THAT(json_text(mails[0], "html"), HasSubstr("<html lang=\"fr\">"));  // built in

  // A template with a mistake: nothing is sent, and the reason is the error.
  templates.write("digest.html", "{{#items}}{{titre}}{{/items}}");
  channel.reconfigure(s);
  const ChannelResult broken = send(channel, {delivery({"parent@example.fr"})});
  EXPECT_EQ(broken.verdict, Verdict::retry);
  EXPECT_THAT(broken.error, HasSubstr("digest.html:1: unknown variable {{titre}}"));
  EXPECT_EQ(relay->messages().size(), 1u);
}

TEST_F(SmtpChannelTest, UnusableSettingsAreRetriedWithTheReason) {
  auto relay = start();
  config::Sink s = sink(*relay);
  s.from = "nobody";
  s.url = "http://127.0.0.1:1";
  SmtpChannel channel(s, context());
  const ChannelResult r = send(channel, {delivery({"parent@example.fr"})});
  EXPECT_EQ(r.verdict, Verdict::retry);
  EXPECT_THAT(r.error, HasSubstr("url: must start with smtp:// or smtps://"));
  EXPECT_THAT(r.error, HasSubstr("from: "));
  EXPECT_EQ(relay->connections(), 0);
}

TEST_F(SmtpChannelTest, ASendCutShortByCancelAllIsCancelledNotAnAttempt) {
  // A relay that never greets: the kernel accepts the connection, nobody answers.
  boost::asio::ip::tcp::acceptor silent(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0});
  config::Sink s;
  s.name = "mail";
  s.type = "smtp";
  s.url = "smtp://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  s.starttls = config::Sink::StartTls::off;
  s.from = "notifications@college.example.fr";
  SmtpChannel channel(s, context());
  const Delivery d = delivery({"parent@example.fr", "other@example.fr"});
  const adapters::OutboundDelivery view = d.view();
  std::optional<ChannelResult> result;
  channel.send(std::span(&view, 1), false, [&](ChannelResult r) { result = std::move(r); });
  run_until([&] { return false; }, 200ms);
  ASSERT_FALSE(result);
  EXPECT_EQ(channel.in_flight(), 2u);
  const auto start = std::chrono::steady_clock::now();
  channel.cancel_all();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->cancelled);
  EXPECT_EQ(result->verdict, Verdict::retry);
  EXPECT_EQ(result->id, "<dlv_4fd441f32eb35c96d3518c7dcffeee92@college.example.fr>");
}

// curl waits, blocking, for the relay's answer to the final dot: on the channel's own thread,
// so that the caller's (the dispatcher's, with every other sink's requests) keeps running.
TEST_F(SmtpChannelTest, ASlowRelayDoesNotHoldTheCallersThreadBack) {
  SmtpReceiverOptions o;
  o.slow = {{"slow", 800}};
  auto relay = start(o);
  SmtpChannel channel(sink(*relay), context());
  const Delivery d = delivery({"slow.parent@example.fr"});
  const adapters::OutboundDelivery view = d.view();
  std::optional<ChannelResult> result;
  channel.send(std::span(&view, 1), false, [&](ChannelResult r) { result = std::move(r); });
  EXPECT_EQ(channel.in_flight(), 1u);

  // A timer every 10 ms on the caller's io_context, as the dispatcher's own work would be.
  boost::asio::steady_timer tick(ioc_);
  auto last = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration longest{};
  int ticks = 0;
  std::function<void()> arm = [&] {
    tick.expires_after(10ms);
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (ec)
        return;
      const auto now = std::chrono::steady_clock::now();
      longest = std::max(longest, now - last);
      last = now;
      ++ticks;
      arm();
    });
  };
  arm();
  const auto start_at = std::chrono::steady_clock::now();
  run_until([&] { return result.has_value(); });
  const auto took = std::chrono::steady_clock::now() - start_at;
  tick.cancel();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->verdict, Verdict::delivered) << result->error;
  EXPECT_EQ(channel.in_flight(), 0u);
  EXPECT_GE(took, 800ms) << "the relay did not keep its answer back";
  EXPECT_GT(ticks, 40);
  EXPECT_LT(longest, 200ms) << "the caller's thread was held while the relay took its time";
  EXPECT_EQ(relay->messages().size(), 1u);
}

TEST_F(SmtpChannelTest, NoCallbackRunsOnceTheChannelIsGone) {
  auto relay = start();
  auto channel = std::make_unique<SmtpChannel>(sink(*relay), context());
  bool called = false;
  const Delivery d = delivery({"parent@example.fr"});
  const adapters::OutboundDelivery view = d.view();
  channel->send(std::span(&view, 1), false, [&](ChannelResult) { called = true; });
  channel.reset();  // ends the channel's mail thread
  run_until([&] { return false; }, 300ms);
  ioc_.restart();
  ioc_.poll();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace treve::dispatch
