// Channels end to end: the real daemon (`treve serve`, real SQLite) fanning released
// deliveries out to a webhook, Firebase Cloud Messaging, Web Push and e-mail at once, each
// against a real receiver:
//   - the webhook receiver (webhook_receiver.h), signatures checked by its own verifier;
//   - the FCM stand-in (tests/support/fcm_service.h, tests/channels/fcm_service.mjs): Google's
//     token endpoint and the FCM HTTP v1 API over TLS, the service account's assertion verified
//     with jose, every accepted message logged;
//   - the Web Push service stand-in (tests/channels/push_service.h, push_service.mjs): the
//     VAPID token verified with jose, each body decrypted with http_ece as the browser would;
//   - the SMTP relay (tests/support/smtp_receiver.h, Debian's python3-aiosmtpd), STARTTLS under
//     the tests' own CA and AUTH required; each message it saved read back by npm mailparser
//     (tests/support/mail_parser.h).
// The evidence: what each receiver got, GET /v1/events/{id}, the database (deliveries, the
// audit table and its hash chain) and `treve audit export`.
//
//   Channels.WindowEndFansOutToEveryChannelInOrder      nothing on any channel before a quiet
//       window's end, then every notification on each, in posting order per recipient and
//       channel (per device, subscription and e-mail address), each e-mail's Message-ID the
//       delivery id the other channels carry; GET shows one delivered copy per sink (four)
//   Channels.NoFcmAddressIsRecordedNotSent              no_address copies (FCM, Web Push,
//       e-mail), the webhook still delivered
//   Channels.MorningDigestIsOneMessagePerPushChannel    five held notifications of a parent:
//       one digest on FCM, on Web Push and by e-mail (its Message-ID the digest's id), five
//       webhooks, one audit "digest" record per sink but the webhook, all under one dig_ id
//   Channels.ADigestAnsweredDuringStopHasOneDigestRecord  a digest in flight at SIGTERM:
//       still one digest record covering its five copies (Web Push only)
//   Channels.SigkillDuringReleaseLosesNothingOnPushChannels  at least once on FCM, Web Push
//       and e-mail across a SIGKILL, duplicates under the same delivery id or Message-ID
//   Channels.AuditHoldsPseudonymsNeverAddresses         no device token, endpoint, key or e-mail
//       address in the audit table, its exports or the log; attempts carry "to": pseudonyms
//       of the tokens, endpoints and e-mail addresses
//
// Time. A window ends on a minute boundary: through the test hook `[testing] clock_start`
// (DaemonOptions::clock_offset), a daemon's clock starts kLead before the next minute boundary
// at least kLead away, so it runs less than a minute ahead of the real clock. The stand-ins
// check the daemon's tokens against the real clock, and such an offset is within what they
// accept: the VAPID token's exp is made 12 h ahead (the stand-in wants it in the future and at
// most 24 h ahead), the FCM assertion's exp is iat + 1 h (wanted in the future; jose compares
// iat with the time only under maxTokenAge, which the stand-in does not set). So the stand-ins
// keep their checks unchanged. The tests without a window's end decide everything "now" (a
// quiet window ten hours away).
//
// The stand-ins and the relay start once for the suite (about a second each, most of it key
// generation); each test has device tokens, subscriptions and e-mail addresses of its own
// ("fcm-t1-…", "wp-t1-…", "t1-…@famille.example") and reads only those from the stand-ins' logs
// and the relay's messages.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/channels/push_service.h"
#include "tests/integration/daemon_harness.h"
#include "tests/integration/webhook_receiver.h"
#include "tests/support/fcm_service.h"
#include "tests/support/mail_parser.h"
#include "tests/support/smtp_receiver.h"
#include "tests/support/test_ca.h"

namespace treve::itest {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using SysClock = std::chrono::system_clock;
using SysTime = SysClock::time_point;
using Steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::chrono::seconds kLead{5};  // from a daemon's start to its window's end
constexpr const char* kHookSink = "hooks";
constexpr const char* kFcmSink = "mobile";
constexpr const char* kPushSink = "browser";
constexpr const char* kMailSink = "mail";
// The e-mail sink's sender; its domain is the right part of every Message-ID.
constexpr const char* kMailFrom = "ENT <notifications@college.example>";
constexpr const char* kMailSender = "notifications@college.example";
constexpr const char* kMailDomain = "college.example";
constexpr const char* kRelayUser = "treve";
constexpr const char* kRelayPassword = "relais-s3cret";

// ---- the people of each test, with their addresses ------------------------------------------

struct Person {
  std::string id;
  std::string role = "student";
  std::string of;                  // a parent's student
  int tokens = 1;                  // FCM device tokens "fcm-<id>-<k>"
  int subscriptions = 1;           // push subscriptions "<sub_prefix><id>-<k>"
  std::string email;               // "<id>@famille.example" unless said otherwise; empty: none
  std::string sub_prefix = "wp-";  // "slow1500-wp-": the push stand-in answers 1.5 s late

  std::vector<std::string> fcm() const {
    std::vector<std::string> out;
    for (int k = 0; k < tokens; ++k)
      out.push_back("fcm-" + id + "-" + std::to_string(k));
    return out;
  }
  std::vector<std::string> subs() const {
    std::vector<std::string> out;
    for (int k = 0; k < subscriptions; ++k)
      out.push_back(sub_prefix + id + "-" + std::to_string(k));
    return out;
  }
};

Person person(std::string id, std::string role = "student", std::string of = "", int tokens = 1,
              int subscriptions = 1, std::optional<std::string> email = std::nullopt) {
  Person p;
  p.id = std::move(id);
  p.role = std::move(role);
  p.of = std::move(of);
  p.tokens = tokens;
  p.subscriptions = subscriptions;
  p.email = email.value_or(p.id + "@famille.example");
  return p;
}

std::vector<Person> fanout_people() {
  return {person("t1-s0"), person("t1-s1", "student", "", 2, 2), person("t1-p0", "parent", "t1-s0"),
          person("t1-t0", "staff")};
}

std::vector<Person> no_address_people() {
  return {person("t2-s0", "student", "", 0, 1),      // Web Push and e-mail only
          person("t2-s1", "student", "", 0, 0, ""),  // no address at all
          person("t2-s2")};
}

std::vector<Person> digest_people() {
  return {person("t3-p0", "parent", "t3-s0"), person("t3-s0")};
}

constexpr int kKillRecipients = 40;
constexpr int kKillEvents = 10;

std::vector<Person> kill_people() {
  std::vector<Person> out;
  for (int i = 0; i < kKillRecipients; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "t4-r%02d", i);
    out.push_back(person(id));
  }
  return out;
}

std::vector<Person> audit_people() {
  return {person("t5-p0", "parent", "t5-s0", 2, 2, "parent.t5@famille.example"),
          person("t5-s0", "student", "", 1, 1, "eleve.t5@college.example")};
}

// A parent whose browser's push service answers 1.5 s after it has read the message.
std::vector<Person> stop_people() {
  Person p = person("t6-p0", "parent", "t6-s0");
  p.sub_prefix = "slow1500-wp-";
  return {p};
}

// A parent sent five notifications in one batch during the day.
std::vector<Person> daytime_people() {
  return {person("t7-p0", "parent", "t7-s0")};
}

// ---- the stand-ins, shared by the suite -------------------------------------------------------

// A message the relay saved, with its envelope.
struct RelayedMail {
  std::string eml;        // its file, as saved
  std::string recipient;  // RCPT TO (the addresses, comma-separated, if several)
  std::string mail_from;
  bool tls = false;
  std::string login;
};

struct Stand {
  TempDir dir{"treve-channels"};
  std::unique_ptr<test::FcmService> fcm;
  test::TestCa push_ca;
  std::unique_ptr<test::PushService> push;
  std::unique_ptr<test::SmtpReceiver> relay;
  std::string credentials_file;
  std::string vapid_file;
  std::string relay_password_file;

  Stand() {
    fcm = std::make_unique<test::FcmService>();
    credentials_file = dir.write("account.json", fcm->credentials());
    push_ca = test::make_test_ca(dir);
    // The server's key made by the web-push library (generateVAPIDKeys, as ENT vendors make
    // theirs), written in PEM: the unit tests use openssl's "EC PRIVATE KEY" form.
    vapid_file = test::web_push_vapid_key(TREVE_SOURCE_DIR, dir, "vapid.pem");
    test::PushService::Options options;
    for (const auto& people : {fanout_people(), no_address_people(), digest_people(), kill_people(),
                               audit_people(), stop_people(), daytime_people()}) {
      for (const Person& p : people) {
        for (const std::string& s : p.subs())
          options.ids.push_back(s);
      }
    }
    options.application_server_key = vapid_file;
    push = std::make_unique<test::PushService>(TREVE_SOURCE_DIR, dir, push_ca, options);
    test::SmtpReceiverOptions relay_options;
    relay_options.tls = true;
    relay_options.username = kRelayUser;
    relay_options.password = kRelayPassword;
    relay = std::make_unique<test::SmtpReceiver>(relay_options);
    relay_password_file = dir.write("relay.password", std::string(kRelayPassword) + "\n");
    fs::permissions(relay_password_file, fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
  }
  std::string push_log() const { return dir.file("received.jsonl"); }

  // The relay's messages so far, in arrival order, each envelope read once. A message whose
  // envelope is not written yet (the relay writes it just after the message) ends the list
  // until a later call: the relay numbers its messages, so none after it is complete either.
  const std::vector<RelayedMail>& relayed() const {
    const std::vector<std::string> files = relay->messages();
    for (std::size_t i = relayed_.size(); i < files.size(); ++i) {
      const json::value envelope = test::SmtpReceiver::envelope(files[i]);
      if (!envelope.is_object())
        break;
      RelayedMail m;
      m.eml = files[i];
      for (const json::value& to : envelope.at("rcpt_tos").as_array())
        m.recipient += (m.recipient.empty() ? "" : ",") + std::string(to.as_string());
      m.mail_from = test::json_text(envelope, "mail_from");
      m.tls = envelope.at("tls").as_bool();
      m.login = test::json_text(envelope, "login");
      relayed_.push_back(std::move(m));
    }
    return relayed_;
  }

 private:
  mutable std::vector<RelayedMail> relayed_;
};

// ---- what the receivers got -------------------------------------------------------------------

// The complete lines of a JSONL file being appended to, parsed (a line still being written is
// left for the next read).
std::vector<json::object> jsonl(const std::string& path) {
  const std::string text = test::read_whole_file(path);
  std::vector<json::object> out;
  std::size_t at = 0;
  for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    if (nl > at)
      out.push_back(json::parse(std::string_view(text).substr(at, nl - at)).as_object());
  }
  return out;
}

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool starts_with_any(const std::string& s, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return s.starts_with(p); });
}

// One message the FCM stand-in accepted.
struct FcmMessage {
  std::string token;
  json::object data;
  std::string delivery_id() const { return str(data, "delivery_id"); }
  std::string id() const { return str(data, "id"); }
};

// The FCM messages to the tokens that start with one of `prefixes`, in acceptance order.
std::vector<FcmMessage> fcm_messages(const Stand& st, const std::vector<std::string>& prefixes) {
  std::vector<FcmMessage> out;
  for (auto& m : jsonl(st.fcm->log_path())) {
    std::string token = str(m, "token");
    if (!starts_with_any(token, prefixes))
      continue;
    out.push_back({std::move(token), m.at("data").as_object()});
  }
  return out;
}

// One request the push stand-in received, verified and decrypted (or refused: error).
struct PushMessage {
  std::string subscription;
  int status = 0;
  std::string error;
  json::object plain;  // the decrypted message
  std::string delivery_id() const { return str(plain, "delivery_id"); }
  std::string id() const { return str(plain, "id"); }
};

std::vector<PushMessage> push_messages(const Stand& st, const std::vector<std::string>& prefixes) {
  std::vector<PushMessage> out;
  for (auto& r : jsonl(st.push_log())) {
    PushMessage m;
    m.subscription = str(r, "id");
    if (!starts_with_any(m.subscription, prefixes))
      continue;
    m.status = static_cast<int>(r.at("status").to_number<std::int64_t>());
    m.error = str(r, "error");
    if (const std::string text = str(r, "plaintext"); !text.empty())
      m.plain = json::parse(text).as_object();
    out.push_back(std::move(m));
  }
  return out;
}

// How many e-mails the relay took for the addresses that start with one of `prefixes`.
std::size_t mail_count(const Stand& st, const std::vector<std::string>& prefixes) {
  const auto& all = st.relayed();
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const RelayedMail& m) {
    return starts_with_any(m.recipient, prefixes);
  }));
}

// One e-mail the relay took, read back by mailparser.
struct MailMessage {
  std::string recipient;  // the envelope's
  std::size_t order = 0;  // its place among all the relay's messages
  std::string mail_from, login;
  bool tls = false;
  std::string to, message_id, subject, text, date;  // as mailparser read them
  // The events it tells of, by their titles ("Titre <id>", the Scenario's): the subject of a
  // notification's e-mail; the items of a digest's ("* Titre <id>" lines), in order.
  std::vector<std::string> events;
};

std::vector<std::string> titled_events(const std::string& subject, const std::string& text) {
  constexpr std::string_view kTitle = "Titre ";
  if (subject.starts_with(kTitle))
    return {subject.substr(kTitle.size())};
  constexpr std::string_view kItem = "* Titre ";
  std::vector<std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.starts_with(kItem))
      out.push_back(line.substr(kItem.size()));
  }
  return out;
}

// The e-mails to the addresses that start with one of `prefixes`, in arrival order, parsed
// independently (npm mailparser).
std::vector<MailMessage> mail_messages(const Stand& st, const std::vector<std::string>& prefixes) {
  std::vector<MailMessage> out;
  std::vector<std::string> files;
  const auto& all = st.relayed();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (!starts_with_any(all[i].recipient, prefixes))
      continue;
    MailMessage m;
    m.recipient = all[i].recipient;
    m.order = i;
    m.mail_from = all[i].mail_from;
    m.login = all[i].login;
    m.tls = all[i].tls;
    out.push_back(std::move(m));
    files.push_back(all[i].eml);
  }
  if (files.empty())
    return out;
  auto parsed = test::parse_mail_files(files);
  if (!parsed)
    throw std::runtime_error(parsed.error());
  if (parsed->size() != out.size())
    throw std::runtime_error("mailparser read " + std::to_string(parsed->size()) + " of " +
                             std::to_string(out.size()) + " messages");
  for (std::size_t k = 0; k < out.size(); ++k) {
    const json::value& mail = (*parsed)[k];
    MailMessage& m = out[k];
    if (const json::value* to = mail.as_object().if_contains("to");
        to && to->is_array() && !to->as_array().empty())
      m.to = test::json_text(to->as_array()[0], "address");
    m.message_id = test::json_text(mail, "messageId");
    m.subject = test::json_text(mail, "subject");
    m.text = test::json_text(mail, "text");
    m.date = test::json_text(mail, "date");
    m.events = titled_events(m.subject, m.text);
  }
  return out;
}

// "<id@college.example>": the Message-ID of the e-mail of a delivery ("dlv_…") or digest.
std::string message_id_for(const std::string& id) {
  return "<" + id + "@" + kMailDomain + ">";
}

// "28/11/2026 à 06:00": the minute `t` in UTC (the daemons' zone) as the e-mail says it.
std::string french_minute(SysTime t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02u/%02u/%04d \xC3\xA0 ", static_cast<unsigned>(ymd.day()),
                static_cast<unsigned>(ymd.month()), static_cast<int>(ymd.year()));
  const auto in_day = floor<minutes>(t) - day;
  char hm[16];
  std::snprintf(hm, sizeof hm, "%02d:%02d", static_cast<int>(in_day.count() / 60),
                static_cast<int>(in_day.count() % 60));
  return std::string(buf) + hm;
}

// "dlv_" + 32 hex digits of SHA-256 over the length-prefixed source, event id, recipient and
// role (docs/delivery.md), computed independently: the id every channel carries.
std::string expected_delivery_id(const std::string& id, const Person& p) {
  std::string data;
  const std::string source = "ent";
  for (const std::string* part : {&source, &id, &p.id, &p.role})
    data += std::to_string(part->size()) + ":" + *part;
  return "dlv_" + sha256_hex(data).substr(0, 32);
}

// ---- a daemon with the four sinks -------------------------------------------------------------

// A window's end `kLead` ahead of a daemon started now: the next minute boundary at least that
// far, and how far ahead of the real clock the daemon's must run for it.
struct Seam {
  SysTime end;
  milliseconds offset{0};
};

Seam seam_ahead() {
  const SysTime real = SysClock::now();
  const SysTime end = std::chrono::ceil<std::chrono::minutes>(real + kLead);
  return {end, duration_cast<milliseconds>(end - (real + kLead))};
}

// "HH:MM" in UTC (the daemons' zone).
std::string utc_hhmm(SysTime t) {
  using namespace std::chrono;
  const auto m = floor<minutes>(t);
  const auto in_day = m - floor<days>(m);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(in_day.count() / 60),
                static_cast<int>(in_day.count() % 60));
  return buf;
}

struct ScenarioOptions {
  bool webhook = true;
  bool fcm = true;
  bool webpush = true;
  bool smtp = true;
  std::optional<Seam> seam;  // none: a quiet window ten hours away (everything due at once)
  std::string policy;        // lines added to [policy]
};

ScenarioOptions window_setup(const Seam& seam) {
  ScenarioOptions s;
  s.seam = seam;
  return s;
}

// `setup` with Web Push as the only sink, and the morning digest on.
ScenarioOptions web_push_digest(ScenarioOptions setup) {
  setup.webhook = false;
  setup.fcm = false;
  setup.smtp = false;
  setup.policy = "digest = \"morning\"\n";
  return setup;
}

class Scenario {
 public:
  Scenario(const Stand& st, const ScenarioOptions& setup) : st_(st), setup_(setup) {
    if (setup.seam)
      offset_ = setup.seam->offset;
    DaemonOptions o;
    o.timezone = "UTC";
    o.parent_grade_delay = "0";
    o.policy_config = setup.policy;
    const SysTime now = SysClock::now() + offset_;
    if (setup.seam) {
      o.quiet_start = utc_hhmm(setup.seam->end - std::chrono::hours(2));
      o.quiet_end = utc_hhmm(setup.seam->end);
      o.clock_offset = offset_;
    } else {
      o.quiet_start = utc_hhmm(now + std::chrono::hours(10));
      o.quiet_end = utc_hhmm(now + std::chrono::hours(12));
    }
    std::ostringstream c;
    const char* fast_retries =
        "retry_initial = \"100ms\"\nretry_max_interval = \"1s\"\ntimeout = \"10s\"\n";
    if (setup.webhook) {
      hook_ = std::make_unique<WebhookReceiver>();
      c << "\n[[sinks]]\nname = \"" << kHookSink << "\"\ntype = \"webhook\"\n"
        << "url = \"" << hook_->url() << "\"\n"
        << "secret_file = \"" << dir_.write("hook.secret", secret_ + "\n") << "\"\n"
        << fast_retries;
    }
    if (setup.fcm) {
      c << "\n[[sinks]]\nname = \"" << kFcmSink << "\"\ntype = \"fcm\"\n"
        << "project_id = \"" << test::FcmService::kProject << "\"\n"
        << "credentials_file = \"" << st.credentials_file << "\"\n"
        << "endpoint = \"" << st.fcm->endpoint() << "\"\n"
        << "ca_file = \"" << st.fcm->ca_file() << "\"\n"
        << fast_retries;
    }
    if (setup.webpush) {
      c << "\n[[sinks]]\nname = \"" << kPushSink << "\"\ntype = \"webpush\"\n"
        << "vapid_key_file = \"" << st.vapid_file << "\"\n"
        << "subject = \"mailto:dpo@ent.example\"\n"
        << "ttl = \"1h\"\n"
        << "ca_file = \"" << st.push_ca.ca_file << "\"\n"
        << fast_retries;
    }
    if (setup.smtp) {
      c << "\n[[sinks]]\nname = \"" << kMailSink << "\"\ntype = \"smtp\"\n"
        << "url = \"" << st.relay->url() << "\"\n"
        << "starttls = \"required\"\n"
        << "username = \"" << kRelayUser << "\"\n"
        << "password_file = \"" << st.relay_password_file << "\"\n"
        << "from = \"" << kMailFrom << "\"\n"
        << "ca_file = \"" << st.relay->ca_file() << "\"\n"
        << fast_retries;
    }
    o.extra_config = c.str();
    daemon_ = std::make_unique<Daemon>(o);
    daemon_->start();
  }

  Daemon& daemon() { return *daemon_; }
  WebhookReceiver& hook() { return *hook_; }
  const std::string& secret() const { return secret_; }
  // The daemon's wall time, as far as this process can tell.
  SysTime now() const { return SysClock::now() + offset_; }
  milliseconds offset() const { return offset_; }
  std::vector<std::string> sinks() const {
    std::vector<std::string> out;
    if (setup_.webhook)
      out.push_back(kHookSink);
    if (setup_.fcm)
      out.push_back(kFcmSink);
    if (setup_.webpush)
      out.push_back(kPushSink);
    if (setup_.smtp)
      out.push_back(kMailSink);
    return out;
  }

  // The canonical event `id` to `to`, each recipient with its addresses in `channels`.
  std::string event(const std::string& id, const std::string& category,
                    const std::vector<const Person*>& to) const {
    EventSpec spec;
    spec.id = id;
    spec.category = category;
    spec.title = "Titre " + id;
    spec.payload = json::object{{"event", id}, {"texte", "élève"}};
    for (const Person* p : to)
      spec.recipients.push_back({p->id, p->role, p->of});
    json::object o = event_object(spec);
    json::array& rs = o["recipients"].as_array();
    for (std::size_t i = 0; i < to.size(); ++i) {
      const Person& p = *to[i];
      json::object channels;
      if (p.tokens > 0) {
        json::array a;
        for (const auto& t : p.fcm())
          a.emplace_back(t);
        channels["fcm"] = std::move(a);
      }
      if (p.subscriptions > 0) {
        json::array a;
        for (const auto& s : p.subs())
          a.emplace_back(st_.push->subscription(s));
        channels["webpush"] = std::move(a);
      }
      if (!p.email.empty())
        channels["email"] = p.email;
      if (!channels.empty())
        rs[i].as_object()["channels"] = std::move(channels);
    }
    return json::serialize(o);
  }

  // Posts the event; its answer, or a failure.
  json::object post(HttpClient& client, const std::string& id, const std::string& category,
                    const std::vector<const Person*>& to) {
    HttpResponse r = client.post_event(event(id, category, to));
    if (r.status != 202)
      throw std::runtime_error("POST " + id + ": " + std::to_string(r.status) + " " + r.body);
    return r.object();
  }

  // Waits until `copies` copies are out of held/due/retrying; false on timeout.
  bool wait_settled(std::int64_t copies, milliseconds timeout) const {
    Db db(daemon_->db_path());
    const auto deadline = Steady::now() + timeout;
    for (;;) {
      if (db.scalar("SELECT count(*) FROM deliveries WHERE state NOT IN "
                    "('held', 'due', 'retrying')") == copies)
        return true;
      if (Steady::now() > deadline)
        return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  // "delivered=12 no_address=3 "
  std::string state_counts() const {
    Db db(daemon_->db_path());
    std::string out;
    for (auto& row :
         db.query("SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state"))
      out += row[0].value_or("?") + "=" + row[1].value_or("?") + " ";
    return out;
  }

  // `treve audit export` of everything, as JSONL records.
  std::vector<json::object> export_audit() const {
    const ProcessResult r =
        run_treve({"audit", "export", "--state-dir", daemon_->state_dir(), "--format", "jsonl",
                   "--from", "2000-01-01", "--to", "2100-12-31"});
    if (r.status != 0)
      throw std::runtime_error("treve audit export failed: " + r.err);
    return json_lines(r.out);
  }
  ProcessResult export_text(const std::string& format) const {
    return run_treve({"audit", "export", "--state-dir", daemon_->state_dir(), "--format", format,
                      "--from", "2000-01-01", "--to", "2100-12-31"});
  }

  std::string pseudonym(const std::string& value) const {
    return expected_pseudonym(read_file(daemon_->key_path()), "ent", value);
  }

 private:
  const Stand& st_;
  ScenarioOptions setup_;
  TempDir dir_{"treve-channels-scenario"};
  std::string secret_ = make_webhook_secret();
  milliseconds offset_{0};
  std::unique_ptr<WebhookReceiver> hook_;
  std::unique_ptr<Daemon> daemon_;
};

// Every address of `people` and its parts that identify a person: device tokens, endpoints
// (and their paths), subscription keys, e-mail addresses.
std::vector<std::string> addresses_of(const Stand& st, const std::vector<Person>& people) {
  std::vector<std::string> out;
  for (const Person& p : people) {
    for (const auto& t : p.fcm())
      out.push_back(t);
    for (const auto& id : p.subs()) {
      const json::object s = st.push->subscription(id);
      const std::string endpoint = str(s, "endpoint");
      out.push_back(endpoint);
      out.push_back(endpoint.substr(endpoint.find("/push/")));
      out.push_back(str(s.at("keys").as_object(), "p256dh"));
      out.push_back(str(s.at("keys").as_object(), "auth"));
    }
    if (!p.email.empty())
      out.push_back(p.email);
  }
  return out;
}

// The audit table, every column of every record, as one text.
std::string audit_table_text(Db& db) {
  std::string out;
  for (auto& row : db.query("SELECT * FROM audit ORDER BY seq")) {
    for (auto& col : row)
      out += col.value_or("") + "\t";
    out += "\n";
  }
  return out;
}

// No address of `people` in the audit table nor the daemon's log; the chain verifies.
void expect_audit_clean(Scenario& s, const Stand& st, const std::vector<Person>& people) {
  Db db(s.daemon().db_path());
  const std::string table = audit_table_text(db);
  const std::string log = s.daemon().stderr_log();
  for (const std::string& a : addresses_of(st, people)) {
    EXPECT_THAT(table, Not(HasSubstr(a))) << "an address in the audit table";
    EXPECT_THAT(log, Not(HasSubstr(a))) << "an address in the daemon's log";
  }
  EXPECT_EQ(verify_chain(read_audit(db)), "");
}

// The audit records of one copy (event, person, sink), in order.
std::vector<AuditRow> audit_of_copy(Scenario& s, const std::string& event_id, const Person& p,
                                    const std::string& sink) {
  Db db(s.daemon().db_path());
  return audit_of(db, read_file(s.daemon().key_path()), "ent", event_id, p.id, sink);
}

// GET /v1/events/{id}: per recipient, sink -> state.
std::map<std::string, std::map<std::string, std::string>> copies_of(HttpClient& client,
                                                                    const std::string& id) {
  HttpResponse r = client.get_event(id);
  if (r.status != 200)
    throw std::runtime_error("GET " + id + ": " + std::to_string(r.status) + " " + r.body);
  std::map<std::string, std::map<std::string, std::string>> out;
  const json::object answer = r.object();
  for (const auto& d : answer.at("deliveries").as_array()) {
    const json::object& o = d.as_object();
    auto& per_sink = out[str(o, "recipient")];
    if (per_sink.contains(str(o, "sink")))
      per_sink[str(o, "sink")] += ",again";
    else
      per_sink[str(o, "sink")] = str(o, "state");
  }
  return out;
}

// The webhook deliveries, parsed, with the request's checks: signature, one delivery per
// request, webhook-id the delivery id.
struct HookDelivery {
  std::string id, recipient, delivery_id;
  SysTime arrived;  // real time
};
std::vector<HookDelivery> hook_deliveries(Scenario& s) {
  std::vector<HookDelivery> out;
  const WebhookVerifier verifier(s.secret());
  for (const auto& r : s.hook().requests()) {
    EXPECT_EQ(verifier.check(r), "") << r.body;
    const json::object o = json::parse(r.body).as_object();
    HookDelivery d{str(o, "id"), str(o, "recipient"), str(o, "delivery_id"), r.arrived};
    EXPECT_EQ(r.webhook_id, d.delivery_id);
    out.push_back(std::move(d));
  }
  return out;
}

// Per key, the event ids of the first arrival of each, in arrival order; and how many arrived
// more than once.
struct Arrivals {
  std::map<std::string, std::vector<std::string>> first;
  std::map<std::string, std::map<std::string, int>> count;
  int duplicates = 0;
  void add(const std::string& key, const std::string& id) {
    if (++count[key][id] == 1)
      first[key].push_back(id);
    else
      ++duplicates;
  }
};

// ---- the suite ---------------------------------------------------------------------------------

class Channels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (auto why = test::FcmService::missing()) {
      error() = *why;
      return;
    }
    if (auto why = test::push_service_missing(TREVE_SOURCE_DIR)) {
      error() = *why;
      return;
    }
    if (std::string why = test::smtp_receiver_missing(); !why.empty()) {
      error() = why;
      return;
    }
    if (std::string why = test::mail_parser_missing(); !why.empty()) {
      error() = why;
      return;
    }
    try {
      stand() = std::make_unique<Stand>();
    } catch (const std::exception& e) {
      error() = e.what();
    }
  }
  static void TearDownTestSuite() { stand().reset(); }

  void SetUp() override {
    if (!error().empty())
      FAIL() << "the channel stand-ins cannot run: " << error();
  }
  // A test of a window's end needs the daemon's clock set ahead (else it would wait for a
  // real minute boundary, up to a minute).
  static bool has_test_clock() { return TREVE_TESTING; }

  static const Stand& st() { return *stand(); }

  // Fails unless each delivery of `answer` is held until `end`.
  static void expect_held_until(const json::object& answer, SysTime end) {
    for (const auto& d : answer.at("deliveries").as_array()) {
      const json::object& o = d.as_object();
      ASSERT_TRUE(o.at("held").as_bool()) << json::serialize(o);
      ASSERT_EQ(parse_instant(str(o, "release_at")), std::optional<SysTime>(end))
          << json::serialize(o);
    }
  }

  // Polls the receivers until the daemon's clock is `margin` before `end`: nothing of
  // `token_prefixes` / `sub_prefixes` / `mail_prefixes` may arrive meanwhile.
  static void expect_nothing_until(Scenario& s, SysTime end, milliseconds margin,
                                   const std::vector<std::string>& token_prefixes,
                                   const std::vector<std::string>& sub_prefixes,
                                   const std::vector<std::string>& mail_prefixes) {
    do {
      ASSERT_EQ(fcm_messages(st(), token_prefixes).size(), 0u)
          << "an FCM message before the window's end";
      ASSERT_EQ(push_messages(st(), sub_prefixes).size(), 0u)
          << "a push message before the window's end";
      ASSERT_EQ(mail_count(st(), mail_prefixes), 0u) << "an e-mail before the window's end";
      if (s.sinks().front() == kHookSink) {
        ASSERT_EQ(s.hook().count(), 0u) << "a webhook before the window's end";
      }
      std::this_thread::sleep_for(milliseconds(25));
    } while (s.now() < end - margin);
  }

 private:
  static std::unique_ptr<Stand>& stand() {
    static std::unique_ptr<Stand> s;
    return s;
  }
  static std::string& error() {
    static std::string e;
    return e;
  }
};

// 1. A quiet window ends during the test; four sinks take the same deliveries.
TEST_F(Channels, WindowEndFansOutToEveryChannelInOrder) {
  if (!has_test_clock())
    GTEST_SKIP() << "needs the test hook [testing] clock_start (TREVE_TESTING)";
  const std::vector<Person> people = fanout_people();
  const Seam seam = seam_ahead();
  Scenario s(st(), window_setup(seam));
  HttpClient client(s.daemon().port());

  // Eight events, each to three of the four people, posted while the window holds them.
  const std::vector<std::string> categories = {"message",  "homework", "news",  "absence",
                                               "schedule", "blog",     "other", "message"};
  std::map<std::string, std::vector<std::string>> order;  // person -> event ids, as posted
  std::map<std::string, std::vector<std::string>> recipients_of;
  std::size_t copies = 0;
  for (int k = 0; k < 8; ++k) {
    const std::string id = "t1-e" + std::to_string(k);
    std::vector<const Person*> to;
    for (std::size_t i = 0; i < people.size(); ++i) {
      if ((i + static_cast<std::size_t>(k)) % 4 != 3)
        to.push_back(&people[i]);
    }
    const json::object answer = s.post(client, id, categories[static_cast<std::size_t>(k)], to);
    ASSERT_NO_FATAL_FAILURE(expect_held_until(answer, seam.end));
    for (const Person* p : to) {
      order[p->id].push_back(id);
      recipients_of[id].push_back(p->id);
      copies += 4;
    }
  }
  ASSERT_LT(s.now(), seam.end - milliseconds(500)) << "posting took too long";

  // Nothing on any channel until the window's end.
  ASSERT_NO_FATAL_FAILURE(
      expect_nothing_until(s, seam.end, milliseconds(150), {"fcm-t1-"}, {"wp-t1-"}, {"t1-"}));

  // Then every copy.
  ASSERT_TRUE(s.wait_settled(static_cast<std::int64_t>(copies), milliseconds(20'000)))
      << s.state_counts() << "\n"
      << s.daemon().stderr_log();
  EXPECT_EQ(s.state_counts(), "delivered=" + std::to_string(copies) + " ");

  std::map<std::string, const Person*> by_id;
  for (const Person& p : people)
    by_id[p.id] = &p;

  // The webhook: each notification once, in order per recipient, none before the end.
  Arrivals hooks;
  for (const HookDelivery& d : hook_deliveries(s)) {
    hooks.add(d.recipient, d.id);
    EXPECT_GE(d.arrived + s.offset(), seam.end) << d.id << " " << d.recipient;
    ASSERT_TRUE(by_id.contains(d.recipient)) << d.recipient;
    EXPECT_EQ(d.delivery_id, expected_delivery_id(d.id, *by_id[d.recipient]));
  }
  EXPECT_EQ(hooks.duplicates, 0);
  for (const Person& p : people)
    EXPECT_THAT(hooks.first[p.id], ElementsAreArray(order[p.id])) << "webhook, " << p.id;

  // FCM: on each device token of each recipient, each notification once, in order.
  std::map<std::string, const Person*> by_token;
  for (const Person& p : people) {
    for (const auto& t : p.fcm())
      by_token[t] = &p;
  }
  Arrivals fcm;
  for (const FcmMessage& m : fcm_messages(st(), {"fcm-t1-"})) {
    ASSERT_TRUE(by_token.contains(m.token)) << m.token;
    const Person& p = *by_token[m.token];
    fcm.add(m.token, m.id());
    EXPECT_EQ(m.delivery_id(), expected_delivery_id(m.id(), p)) << m.token;
    EXPECT_EQ(str(m.data, "source"), "ent");
    const auto released = parse_instant(str(m.data, "released_at"));
    ASSERT_TRUE(released) << str(m.data, "released_at");
    EXPECT_GE(*released, seam.end);
  }
  EXPECT_EQ(fcm.duplicates, 0);
  for (const auto& [token, p] : by_token)
    EXPECT_THAT(fcm.first[token], ElementsAreArray(order[p->id])) << "FCM, " << token;

  // Web Push: on each subscription, each notification once, decrypted, in order.
  std::map<std::string, const Person*> by_sub;
  for (const Person& p : people) {
    for (const auto& id : p.subs())
      by_sub[id] = &p;
  }
  Arrivals push;
  for (const PushMessage& m : push_messages(st(), {"wp-t1-"})) {
    ASSERT_EQ(m.error, "") << m.subscription;
    EXPECT_EQ(m.status, 201);
    ASSERT_TRUE(by_sub.contains(m.subscription)) << m.subscription;
    const Person& p = *by_sub[m.subscription];
    push.add(m.subscription, m.id());
    EXPECT_EQ(str(m.plain, "recipient"), p.id);
    EXPECT_EQ(m.delivery_id(), expected_delivery_id(m.id(), p));
    EXPECT_EQ(str(m.plain, "title"), "Titre " + m.id());
    const auto released = parse_instant(str(m.plain, "released_at"));
    ASSERT_TRUE(released) << str(m.plain, "released_at");
    EXPECT_GE(*released, seam.end);
  }
  EXPECT_EQ(push.duplicates, 0);
  for (const auto& [sub, p] : by_sub)
    EXPECT_THAT(push.first[sub], ElementsAreArray(order[p->id])) << "Web Push, " << sub;

  // E-mail: to each address, each notification once, in order, through STARTTLS and AUTH; its
  // Message-ID the delivery id the other channels carry, its text UTF-8 French.
  std::map<std::string, const Person*> by_email;
  for (const Person& p : people)
    by_email[p.email] = &p;
  Arrivals mail;
  for (const MailMessage& m : mail_messages(st(), {"t1-"})) {
    ASSERT_TRUE(by_email.contains(m.recipient)) << m.recipient;
    const Person& p = *by_email[m.recipient];
    ASSERT_EQ(m.events.size(), 1u) << m.subject;
    const std::string& id = m.events[0];
    mail.add(m.recipient, id);
    EXPECT_EQ(m.message_id, message_id_for(expected_delivery_id(id, p))) << m.recipient;
    EXPECT_EQ(m.to, p.email);
    EXPECT_EQ(m.mail_from, kMailSender);
    EXPECT_TRUE(m.tls) << m.recipient;
    EXPECT_EQ(m.login, kRelayUser);
    EXPECT_EQ(m.subject, "Titre " + id);
    EXPECT_THAT(m.text, StartsWith("Bonjour,\n"));
    EXPECT_THAT(m.text, HasSubstr("\nTitre " + id + "\n"));
    EXPECT_THAT(m.text, HasSubstr("Établissement : " + kUai));
    EXPECT_THAT(m.text, HasSubstr("Envoyée le " + french_minute(seam.end)));
    const auto date = parse_instant(m.date);
    ASSERT_TRUE(date) << m.date;
    EXPECT_GE(*date, seam.end);
  }
  EXPECT_EQ(mail.duplicates, 0);
  for (const auto& [email, p] : by_email)
    EXPECT_THAT(mail.first[email], ElementsAreArray(order[p->id])) << "e-mail, " << email;

  // GET: one entry per copy, with its sink, delivered.
  const std::map<std::string, std::string> all_delivered = {{kHookSink, "delivered"},
                                                            {kFcmSink, "delivered"},
                                                            {kPushSink, "delivered"},
                                                            {kMailSink, "delivered"}};
  for (const auto& [id, rs] : recipients_of) {
    const auto copies_by_recipient = copies_of(client, id);
    EXPECT_EQ(copies_by_recipient.size(), rs.size()) << id;
    for (const std::string& r : rs) {
      ASSERT_TRUE(copies_by_recipient.contains(r)) << id << " " << r;
      EXPECT_EQ(copies_by_recipient.at(r), all_delivered) << id << " " << r;
    }
  }
  expect_audit_clean(s, st(), people);
}

// 2. A recipient without an FCM address: its FCM copy ends `no_address`; the webhook delivers.
TEST_F(Channels, NoFcmAddressIsRecordedNotSent) {
  const std::vector<Person> people = no_address_people();
  Scenario s(st(), {});
  HttpClient client(s.daemon().port());
  std::vector<const Person*> everyone;
  for (const Person& p : people)
    everyone.push_back(&p);
  for (const char* id : {"t2-e0", "t2-e1"}) {
    const json::object answer = s.post(client, id, "message", everyone);
    for (const auto& d : answer.at("deliveries").as_array())
      ASSERT_FALSE(d.as_object().at("held").as_bool()) << json::serialize(d);
  }
  const std::int64_t copies = 2 * 3 * 4;
  ASSERT_TRUE(s.wait_settled(copies, milliseconds(20'000))) << s.state_counts() << "\n"
                                                            << s.daemon().stderr_log();
  // t2-s0: FCM no_address; t2-s1: FCM, Web Push and e-mail no_address; the rest delivered.
  EXPECT_EQ(s.state_counts(), "delivered=16 no_address=8 ");

  const std::map<std::string, std::map<std::string, std::string>> expected = {
      {"t2-s0",
       {{kHookSink, "delivered"},
        {kFcmSink, "no_address"},
        {kPushSink, "delivered"},
        {kMailSink, "delivered"}}},
      {"t2-s1",
       {{kHookSink, "delivered"},
        {kFcmSink, "no_address"},
        {kPushSink, "no_address"},
        {kMailSink, "no_address"}}},
      {"t2-s2",
       {{kHookSink, "delivered"},
        {kFcmSink, "delivered"},
        {kPushSink, "delivered"},
        {kMailSink, "delivered"}}}};
  for (const char* id : {"t2-e0", "t2-e1"})
    EXPECT_EQ(copies_of(client, id), expected) << id;

  // The audit: the FCM copy of t2-s0 is released and recorded no_address, never attempted.
  for (const char* id : {"t2-e0", "t2-e1"}) {
    const auto fcm_rows = audit_of_copy(s, id, people[0], kFcmSink);
    EXPECT_THAT(kinds_of(fcm_rows), ElementsAreArray({"released", "no_address"})) << id;
    if (!fcm_rows.empty()) {
      const json::object detail = json::parse(fcm_rows.back().detail).as_object();
      EXPECT_THAT(str(detail, "error"), HasSubstr("no fcm address")) << fcm_rows.back().detail;
      EXPECT_EQ(str(detail, "channel"), "fcm") << fcm_rows.back().detail;
      EXPECT_FALSE(detail.contains("to")) << fcm_rows.back().detail;
    }
    EXPECT_EQ(kinds_of(audit_of_copy(s, id, people[0], kHookSink)).back(), "delivered") << id;
    EXPECT_EQ(kinds_of(audit_of_copy(s, id, people[0], kPushSink)).back(), "delivered") << id;
    EXPECT_EQ(kinds_of(audit_of_copy(s, id, people[0], kMailSink)).back(), "delivered") << id;
    EXPECT_EQ(kinds_of(audit_of_copy(s, id, people[1], kPushSink)).back(), "no_address") << id;
    // t2-s1's e-mail copy: no address either, nothing sent.
    const auto mail_rows = audit_of_copy(s, id, people[1], kMailSink);
    EXPECT_THAT(kinds_of(mail_rows), ElementsAreArray({"released", "no_address"})) << id;
    if (!mail_rows.empty()) {
      const json::object detail = json::parse(mail_rows.back().detail).as_object();
      EXPECT_THAT(str(detail, "error"), HasSubstr("no smtp address")) << mail_rows.back().detail;
      EXPECT_FALSE(detail.contains("to")) << mail_rows.back().detail;
    }
  }

  // Nothing went to FCM for them; the webhook got all six, the others their own.
  EXPECT_EQ(fcm_messages(st(), {"fcm-t2-s0", "fcm-t2-s1"}).size(), 0u);
  EXPECT_EQ(fcm_messages(st(), {"fcm-t2-s2"}).size(), 2u);
  EXPECT_EQ(push_messages(st(), {"wp-t2-"}).size(), 4u);
  EXPECT_EQ(mail_count(st(), {"t2-s1"}), 0u);
  EXPECT_EQ(mail_count(st(), {"t2-"}), 4u);
  Arrivals hooks;
  for (const HookDelivery& d : hook_deliveries(s))
    hooks.add(d.recipient, d.id);
  for (const Person& p : people)
    EXPECT_THAT(hooks.first[p.id], ElementsAreArray({"t2-e0", "t2-e1"})) << p.id;
  EXPECT_EQ(s.daemon().log_count("event=dispatch.attempt_failed"), 0u) << s.daemon().stderr_log();
  expect_audit_clean(s, st(), people);
}

// 3. The morning digest: five held notifications of a parent, released at once.
TEST_F(Channels, MorningDigestIsOneMessagePerPushChannel) {
  if (!has_test_clock())
    GTEST_SKIP() << "needs the test hook [testing] clock_start (TREVE_TESTING)";
  const std::vector<Person> people = digest_people();
  const Person& parent = people[0];
  const Person& student = people[1];
  const Seam seam = seam_ahead();
  ScenarioOptions setup = window_setup(seam);
  setup.policy = "digest = \"morning\"\n";  // digest_min: 3
  Scenario s(st(), setup);
  HttpClient client(s.daemon().port());

  // Five for the parent; the first three for the student too (three is not more than
  // digest_min: sent one by one).
  const std::vector<std::string> categories = {"message", "homework", "news", "message", "blog"};
  std::vector<std::string> ids;
  for (int k = 0; k < 5; ++k) {
    const std::string id = "t3-e" + std::to_string(k);
    std::vector<const Person*> to = {&parent};
    if (k < 3)
      to.push_back(&student);
    const json::object answer = s.post(client, id, categories[static_cast<std::size_t>(k)], to);
    ASSERT_NO_FATAL_FAILURE(expect_held_until(answer, seam.end));
    ids.push_back(id);
  }
  ASSERT_LT(s.now(), seam.end - milliseconds(500)) << "posting took too long";
  ASSERT_NO_FATAL_FAILURE(
      expect_nothing_until(s, seam.end, milliseconds(150), {"fcm-t3-"}, {"wp-t3-"}, {"t3-"}));
  const std::int64_t copies = (5 + 3) * 4;
  ASSERT_TRUE(s.wait_settled(copies, milliseconds(20'000))) << s.state_counts() << "\n"
                                                            << s.daemon().stderr_log();
  EXPECT_EQ(s.state_counts(), "delivered=" + std::to_string(copies) + " ");
  const std::vector<std::string> student_ids(ids.begin(), ids.begin() + 3);

  // FCM: one digest message to the parent's device, three messages to the student's.
  const auto parent_fcm = fcm_messages(st(), {parent.fcm()[0]});
  ASSERT_EQ(parent_fcm.size(), 1u);
  const std::string digest_id = parent_fcm[0].delivery_id();
  EXPECT_TRUE(digest_id.starts_with("dig_")) << digest_id;
  EXPECT_EQ(str(parent_fcm[0].data, "digest"), "true");
  EXPECT_EQ(str(parent_fcm[0].data, "count"), "5");
  std::vector<std::string> got;
  for (const auto& m : fcm_messages(st(), {student.fcm()[0]})) {
    EXPECT_FALSE(m.data.contains("digest"));
    EXPECT_EQ(m.delivery_id(), expected_delivery_id(m.id(), student));
    got.push_back(m.id());
  }
  EXPECT_THAT(got, ElementsAreArray(student_ids));

  // Web Push: one digest to the parent's browser naming the five, in order, under the same id.
  const auto parent_push = push_messages(st(), {parent.subs()[0]});
  ASSERT_EQ(parent_push.size(), 1u);
  ASSERT_EQ(parent_push[0].error, "");
  const json::object& digest = parent_push[0].plain;
  EXPECT_EQ(digest.if_contains("digest") ? *digest.if_contains("digest") : json::value(),
            json::value(true))
      << json::serialize(digest);
  EXPECT_EQ(parent_push[0].delivery_id(), digest_id);
  ASSERT_TRUE(digest.contains("notifications")) << json::serialize(digest);
  const json::array& entries = digest.at("notifications").as_array();
  ASSERT_EQ(entries.size(), 5u) << json::serialize(digest);
  for (std::size_t k = 0; k < entries.size(); ++k) {
    EXPECT_EQ(str(entries[k].as_object(), "id"), ids[k]);
    EXPECT_EQ(str(entries[k].as_object(), "delivery_id"), expected_delivery_id(ids[k], parent));
  }
  EXPECT_FALSE(digest.contains("more"));
  got.clear();
  for (const auto& m : push_messages(st(), {student.subs()[0]})) {
    EXPECT_FALSE(m.plain.contains("digest"));
    got.push_back(m.id());
  }
  EXPECT_THAT(got, ElementsAreArray(student_ids));

  // E-mail: one digest to the parent's address naming the five, in order. Its Message-ID is the
  // digest's id, the one FCM and Web Push got: the id is computed from the batch's delivery
  // ids (digest_text), the same deliveries on every sink. Three e-mails to the student.
  const auto parent_mail = mail_messages(st(), {parent.email});
  ASSERT_EQ(parent_mail.size(), 1u);
  EXPECT_EQ(parent_mail[0].message_id, message_id_for(digest_id));
  EXPECT_EQ(parent_mail[0].to, parent.email);
  EXPECT_THAT(parent_mail[0].subject, StartsWith("5 nouvelles notifications : "));
  EXPECT_THAT(parent_mail[0].events, ElementsAreArray(ids)) << parent_mail[0].text;
  EXPECT_THAT(parent_mail[0].text, HasSubstr("retenues pendant les heures de repos"));
  got.clear();
  for (const auto& m : mail_messages(st(), {student.email})) {
    ASSERT_EQ(m.events.size(), 1u) << m.subject;
    EXPECT_EQ(m.message_id, message_id_for(expected_delivery_id(m.events[0], student)));
    got.push_back(m.events[0]);
  }
  EXPECT_THAT(got, ElementsAreArray(student_ids));

  // The webhook: every notification on its own.
  Arrivals hooks;
  for (const HookDelivery& d : hook_deliveries(s))
    hooks.add(d.recipient, d.id);
  EXPECT_THAT(hooks.first[parent.id], ElementsAreArray(ids));
  EXPECT_THAT(hooks.first[student.id], ElementsAreArray(student_ids));
  EXPECT_EQ(hooks.duplicates, 0);

  // The audit, as `treve audit export` gives it: per push or e-mail sink one "digest" record
  // covering the five, then the five copies delivered under the digest's id; the webhook's
  // copies delivered alone.
  const std::vector<json::object> records = s.export_audit();
  const std::string parent_pseudonym = s.pseudonym(parent.id);
  for (const char* sink : {kFcmSink, kPushSink, kMailSink}) {
    std::vector<const json::object*> digests;
    std::map<std::string, std::vector<std::int64_t>> delivered_seqs;  // event id -> seqs
    for (const json::object& r : records) {
      const json::object detail = json::parse(str(r, "detail")).as_object();
      if (str(detail, "sink") != sink)
        continue;
      if (str(r, "kind") == "digest") {
        digests.push_back(&r);
        EXPECT_EQ(str(detail, "id"), digest_id);
        EXPECT_EQ(str(detail, "outcome"), "delivered");
        EXPECT_EQ(detail.at("notifications"), json::value(5));
        json::array covers;
        for (const auto& id : ids)
          covers.emplace_back(id);
        EXPECT_EQ(detail.at("covers"), json::value(covers)) << str(r, "detail");
        EXPECT_EQ(str(r, "recipient"), parent_pseudonym);
        EXPECT_EQ(str(r, "event_id"), digest_id);
      } else if (str(r, "kind") == "delivered" && str(r, "recipient") == parent_pseudonym) {
        EXPECT_EQ(str(detail, "digest"), digest_id) << str(r, "detail");
        // The channel's id, what its receiver deduplicates on: the e-mail's Message-ID.
        EXPECT_EQ(str(detail, "webhook_id"),
                  std::string_view(sink) == kMailSink ? message_id_for(digest_id) : digest_id)
            << str(r, "detail");
        delivered_seqs[str(r, "event_id")].push_back(r.at("seq").to_number<std::int64_t>());
      } else if (str(r, "kind") == "delivered") {
        EXPECT_FALSE(detail.contains("digest")) << str(r, "detail");
      }
    }
    ASSERT_EQ(digests.size(), 1u) << sink;
    const std::int64_t digest_seq = digests[0]->at("seq").to_number<std::int64_t>();
    for (const auto& id : ids) {
      ASSERT_EQ(delivered_seqs[id].size(), 1u) << sink << " " << id;
      EXPECT_GT(delivered_seqs[id][0], digest_seq) << sink << " " << id;
    }
  }
  std::size_t hook_delivered = 0;
  for (const json::object& r : records) {
    const json::object detail = json::parse(str(r, "detail")).as_object();
    if (str(r, "kind") == "digest") {
      EXPECT_NE(str(detail, "sink"), kHookSink);
    }
    if (str(r, "kind") == "delivered" && str(detail, "sink") == kHookSink) {
      EXPECT_FALSE(detail.contains("digest"));
      ++hook_delivered;
    }
  }
  EXPECT_EQ(hook_delivered, 8u);
  expect_audit_clean(s, st(), people);
}

// 3a. The digest is for notifications held and released together: five sent at once in one
// batch during the day (so released at the same instant) go one by one.
TEST_F(Channels, NotificationsDueAtOnceAreNeverADigest) {
  const std::vector<Person> people = daytime_people();
  const Person& parent = people[0];
  // The quiet window is hours away: everything is due when received.
  const ScenarioOptions setup = web_push_digest({});
  Scenario s(st(), setup);
  HttpClient client(s.daemon().port());
  std::string batch;
  std::vector<std::string> ids;
  for (int k = 0; k < 5; ++k) {
    ids.push_back("t7-e" + std::to_string(k));
    batch += s.event(ids.back(), "message", {&parent}) + "\n";
  }
  const HttpResponse r = client.post_batch(batch);
  ASSERT_EQ(r.status, 200) << r.body;  // each line answered 202 in the body
  for (const json::object& line : json_lines(r.body)) {
    ASSERT_EQ(line.at("status").to_number<int>(), 202) << r.body;
    ASSERT_FALSE(line.at("deliveries").as_array()[0].as_object().at("held").as_bool()) << r.body;
  }
  ASSERT_TRUE(s.wait_settled(5, milliseconds(20'000))) << s.state_counts() << "\n"
                                                       << s.daemon().stderr_log();
  EXPECT_EQ(s.state_counts(), "delivered=5 ");
  std::vector<std::string> got;
  for (const auto& m : push_messages(st(), {parent.subs()[0]})) {
    EXPECT_EQ(m.error, "");
    EXPECT_FALSE(m.plain.contains("digest")) << json::serialize(m.plain);
    got.push_back(m.id());
  }
  EXPECT_THAT(got, ElementsAreArray(ids));
  for (const json::object& rec : s.export_audit())
    EXPECT_NE(str(rec, "kind"), "digest") << json::serialize(rec);
}

// 3b. A digest still in flight when the daemon is told to stop (SIGTERM): its answer comes
// during the stop's grace, and its outcome is committed with ONE digest record covering the
// five copies (at stop, outcomes used to be committed one by one: a record for the first copy,
// another for the other four).
TEST_F(Channels, ADigestAnsweredDuringStopHasOneDigestRecord) {
  if (!has_test_clock())
    GTEST_SKIP() << "needs the test hook [testing] clock_start (TREVE_TESTING)";
  const std::vector<Person> people = stop_people();
  const Person& parent = people[0];
  const Seam seam = seam_ahead();
  const ScenarioOptions setup = web_push_digest(window_setup(seam));
  Scenario s(st(), setup);
  HttpClient client(s.daemon().port());
  std::vector<std::string> ids;
  for (int k = 0; k < 5; ++k) {
    const std::string id = "t6-e" + std::to_string(k);
    const json::object answer = s.post(client, id, "message", {&parent});
    ASSERT_NO_FATAL_FAILURE(expect_held_until(answer, seam.end));
    ids.push_back(id);
  }
  // The digest reached the push service, which keeps its answer back for 1.5 s: stop now.
  const auto deadline = Steady::now() + kLead + std::chrono::seconds(15);
  while (push_messages(st(), {parent.subs()[0]}).empty()) {
    ASSERT_LT(Steady::now(), deadline) << s.state_counts() << "\n" << s.daemon().stderr_log();
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(s.daemon().stop(), 0) << s.daemon().stderr_log();
  const auto received = push_messages(st(), {parent.subs()[0]});
  ASSERT_EQ(received.size(), 1u);
  ASSERT_EQ(received[0].error, "");
  const std::string digest_id = received[0].delivery_id();
  EXPECT_TRUE(digest_id.starts_with("dig_")) << digest_id;
  EXPECT_EQ(s.state_counts(), "delivered=5 ");

  Db db(s.daemon().db_path());
  std::vector<AuditRow> digests, delivered;
  for (auto& r : read_audit(db)) {
    if (r.kind == "digest")
      digests.push_back(r);
    if (r.kind == "delivered")
      delivered.push_back(r);
  }
  ASSERT_EQ(digests.size(), 1u);
  const json::object detail = json::parse(digests[0].detail).as_object();
  EXPECT_EQ(str(detail, "id"), digest_id);
  EXPECT_EQ(detail.at("notifications"), json::value(5)) << digests[0].detail;
  json::array covers;
  for (const auto& id : ids)
    covers.emplace_back(id);
  EXPECT_EQ(detail.at("covers"), json::value(covers)) << digests[0].detail;
  ASSERT_EQ(delivered.size(), 5u);
  for (const AuditRow& r : delivered) {
    EXPECT_GT(r.seq, digests[0].seq);
    EXPECT_EQ(str(json::parse(r.detail).as_object(), "digest"), digest_id) << r.detail;
  }
  EXPECT_EQ(verify_chain(read_audit(db)), "");
}

// 4. SIGKILL while a release goes out to FCM, Web Push and e-mail, then a restart on the same
// state.
TEST_F(Channels, SigkillDuringReleaseLosesNothingOnPushChannels) {
  if (!has_test_clock())
    GTEST_SKIP() << "needs the test hook [testing] clock_start (TREVE_TESTING)";
  const std::vector<Person> people = kill_people();
  const Seam seam = seam_ahead();
  ScenarioOptions setup = window_setup(seam);
  setup.webhook = false;
  Scenario s(st(), setup);
  std::vector<const Person*> everyone;
  for (const Person& p : people)
    everyone.push_back(&p);
  std::vector<std::string> ids;
  {
    HttpClient client(s.daemon().port());
    for (int k = 0; k < kKillEvents; ++k) {
      const std::string id = "t4-e" + std::to_string(k);
      const json::object answer = s.post(client, id, k % 2 ? "homework" : "message", everyone);
      ASSERT_NO_FATAL_FAILURE(expect_held_until(answer, seam.end));
      ids.push_back(id);
    }
  }
  ASSERT_LT(s.now(), seam.end) << "posting took too long";
  const std::size_t per_channel = people.size() * ids.size();
  constexpr std::size_t kChannels = 3;
  const std::int64_t copies = static_cast<std::int64_t>(kChannels * per_channel);

  // SIGKILL once a fifth of the messages went out, and something on each channel: the e-mails
  // start a little later than the push messages (TLS and AUTH on each new connection to the
  // relay, up to max_in_flight of them), and a kill before the first would not be one during
  // the e-mails' release.
  const auto deadline = Steady::now() + kLead + std::chrono::seconds(20);
  std::size_t fcm_at_kill = 0, push_at_kill = 0, mail_at_kill = 0;
  for (;;) {
    fcm_at_kill = fcm_messages(st(), {"fcm-t4-"}).size();
    push_at_kill = push_messages(st(), {"wp-t4-"}).size();
    mail_at_kill = mail_count(st(), {"t4-"});
    if (fcm_at_kill + push_at_kill + mail_at_kill >= kChannels * per_channel / 5 &&
        std::min({fcm_at_kill, push_at_kill, mail_at_kill}) > 0) {
      s.daemon().kill();
      break;
    }
    ASSERT_LT(Steady::now(), deadline) << "the release did not start: " << s.state_counts() << "\n"
                                       << s.daemon().stderr_log();
    std::this_thread::sleep_for(milliseconds(2));
  }
  const std::string at_kill = s.state_counts();
  {
    Db db(s.daemon().db_path());
    const std::int64_t delivered =
        db.scalar("SELECT count(*) FROM deliveries WHERE state = 'delivered'");
    ASSERT_LT(delivered, copies) << "everything was delivered before the kill: " << at_kill;
  }

  s.daemon().start();
  ASSERT_TRUE(s.wait_settled(copies, milliseconds(30'000)))
      << "at the kill: " << at_kill << "; now: " << s.state_counts() << "\n"
      << s.daemon().stderr_log();
  EXPECT_EQ(s.state_counts(), "delivered=" + std::to_string(copies) + " ");

  std::map<std::string, const Person*> by_token, by_sub, by_email;
  for (const Person& p : people) {
    by_token[p.fcm()[0]] = &p;
    by_sub[p.subs()[0]] = &p;
    by_email[p.email] = &p;
  }
  // FCM: every message at least once per device; a message sent twice has the same delivery
  // id both times (the one computed from the delivery); first arrivals in posting order.
  Arrivals fcm;
  std::map<std::string, std::set<std::string>> fcm_ids;  // token \n event -> delivery ids
  for (const FcmMessage& m : fcm_messages(st(), {"fcm-t4-"})) {
    ASSERT_TRUE(by_token.contains(m.token)) << m.token;
    fcm.add(m.token, m.id());
    fcm_ids[m.token + "\n" + m.id()].insert(m.delivery_id());
    EXPECT_EQ(m.delivery_id(), expected_delivery_id(m.id(), *by_token[m.token]));
  }
  Arrivals push;
  std::map<std::string, std::set<std::string>> push_ids;
  for (const PushMessage& m : push_messages(st(), {"wp-t4-"})) {
    ASSERT_EQ(m.error, "") << m.subscription;
    ASSERT_TRUE(by_sub.contains(m.subscription)) << m.subscription;
    push.add(m.subscription, m.id());
    push_ids[m.subscription + "\n" + m.id()].insert(m.delivery_id());
    EXPECT_EQ(m.delivery_id(), expected_delivery_id(m.id(), *by_sub[m.subscription]));
  }
  // E-mail: likewise per address, a message sent twice under the same Message-ID.
  Arrivals mail;
  std::map<std::string, std::set<std::string>> mail_ids;
  for (const MailMessage& m : mail_messages(st(), {"t4-"})) {
    ASSERT_TRUE(by_email.contains(m.recipient)) << m.recipient;
    ASSERT_EQ(m.events.size(), 1u) << m.subject;
    mail.add(m.recipient, m.events[0]);
    mail_ids[m.recipient + "\n" + m.events[0]].insert(m.message_id);
    EXPECT_EQ(m.message_id,
              message_id_for(expected_delivery_id(m.events[0], *by_email[m.recipient])));
  }
  for (const auto& [key, set] : fcm_ids)
    EXPECT_EQ(set.size(), 1u) << "FCM duplicates under different ids: " << key;
  for (const auto& [key, set] : push_ids)
    EXPECT_EQ(set.size(), 1u) << "Web Push duplicates under different ids: " << key;
  for (const auto& [key, set] : mail_ids)
    EXPECT_EQ(set.size(), 1u) << "e-mail duplicates under different Message-IDs: " << key;
  for (const auto& [token, p] : by_token)
    EXPECT_THAT(fcm.first[token], ElementsAreArray(ids)) << "FCM, " << token;
  for (const auto& [sub, p] : by_sub)
    EXPECT_THAT(push.first[sub], ElementsAreArray(ids)) << "Web Push, " << sub;
  for (const auto& [email, p] : by_email)
    EXPECT_THAT(mail.first[email], ElementsAreArray(ids)) << "e-mail, " << email;
  RecordProperty("fcm_at_kill", static_cast<int>(fcm_at_kill));
  RecordProperty("push_at_kill", static_cast<int>(push_at_kill));
  RecordProperty("mail_at_kill", static_cast<int>(mail_at_kill));
  RecordProperty("fcm_duplicates", fcm.duplicates);
  RecordProperty("push_duplicates", push.duplicates);
  RecordProperty("mail_duplicates", mail.duplicates);
  expect_audit_clean(s, st(), people);
}

// 5. Addresses are personal data: the audit has pseudonyms of them, never them.
TEST_F(Channels, AuditHoldsPseudonymsNeverAddresses) {
  const std::vector<Person> people = audit_people();
  Scenario s(st(), {});
  HttpClient client(s.daemon().port());
  const std::vector<const Person*> both = {&people[0], &people[1]};
  s.post(client, "t5-e0", "message", both);
  s.post(client, "t5-e1", "news", both);
  const std::int64_t copies = 2 * 2 * 4;
  ASSERT_TRUE(s.wait_settled(copies, milliseconds(20'000))) << s.state_counts() << "\n"
                                                            << s.daemon().stderr_log();
  EXPECT_EQ(s.state_counts(), "delivered=" + std::to_string(copies) + " ");
  // Two devices and two browsers of the parent got both.
  EXPECT_EQ(fcm_messages(st(), {"fcm-t5-p0-"}).size(), 4u);
  EXPECT_EQ(push_messages(st(), {"wp-t5-p0-"}).size(), 4u);
  // Each address got both e-mails.
  for (const Person& p : people)
    EXPECT_EQ(mail_count(st(), {p.email}), 2u) << p.email;

  const std::vector<std::string> addresses = addresses_of(st(), people);
  {
    Db db(s.daemon().db_path());
    const std::string table = audit_table_text(db);
    ASSERT_THAT(table, HasSubstr("t5-e1"));  // the records are there
    for (const std::string& a : addresses)
      EXPECT_THAT(table, Not(HasSubstr(a))) << "in the audit table";
  }
  for (const char* format : {"jsonl", "csv"}) {
    const ProcessResult r = s.export_text(format);
    ASSERT_EQ(r.status, 0) << r;
    ASSERT_THAT(r.out, HasSubstr("t5-e1"));
    for (const std::string& a : addresses) {
      EXPECT_THAT(r.out, Not(HasSubstr(a))) << format << " export";
      EXPECT_THAT(r.err, Not(HasSubstr(a))) << format << " export";
    }
  }
  const std::string log = s.daemon().stderr_log();
  for (const std::string& a : addresses)
    EXPECT_THAT(log, Not(HasSubstr(a))) << "in the daemon's log";
  EXPECT_THAT(log, Not(HasSubstr(kRelayPassword))) << "the relay's password in the daemon's log";

  // Each attempt record names where it went by keyed pseudonyms, in the order of the
  // recipient's addresses: one per device token, one per subscription endpoint, one per e-mail
  // address.
  for (const Person& p : people) {
    json::array tokens, endpoints, emails;
    for (const auto& t : p.fcm())
      tokens.emplace_back(s.pseudonym(t));
    for (const auto& id : p.subs())
      endpoints.emplace_back(s.pseudonym(str(st().push->subscription(id), "endpoint")));
    emails.emplace_back(s.pseudonym(p.email));
    for (const char* id : {"t5-e0", "t5-e1"}) {
      for (const auto& [sink, to] : {std::pair{kFcmSink, tokens}, std::pair{kPushSink, endpoints},
                                     std::pair{kMailSink, emails}}) {
        const auto rows = audit_of_copy(s, id, p, sink);
        ASSERT_FALSE(rows.empty()) << id << " " << p.id << " " << sink;
        EXPECT_EQ(rows.back().kind, "delivered");
        const json::object detail = json::parse(rows.back().detail).as_object();
        // The channel is named: an auditor needs no configuration to read where it went.
        const std::string channel = std::string_view(sink) == kFcmSink    ? "fcm"
                                    : std::string_view(sink) == kPushSink ? "webpush"
                                                                          : "smtp";
        EXPECT_EQ(str(detail, "channel"), channel) << rows.back().detail;
        ASSERT_TRUE(detail.contains("to")) << rows.back().detail;
        EXPECT_EQ(detail.at("to"), json::value(to)) << rows.back().detail;
      }
    }
  }
  EXPECT_EQ(verify_chain([&] {
              Db db(s.daemon().db_path());
              return read_audit(db);
            }()),
            "");
}

}  // namespace
}  // namespace treve::itest
