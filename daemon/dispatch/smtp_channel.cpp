#include "daemon/dispatch/smtp_channel.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "adapters/outbound/addresses.h"
#include "adapters/outbound/digest_text.h"
#include "adapters/outbound/mail_message.h"
#include "adapters/outbound/mail_template.h"
#include "daemon/core/log_field.h"
#include "daemon/dispatch/http_client.h"

namespace treve::dispatch {

// What a send needs of the sink, read once per configuration.
struct SmtpChannel::Settings {
  std::string url;
  adapters::Mailbox from;
  adapters::Mailbox reply_to;  // none when its address is empty
  std::string username;
  std::string password;
  MailTls tls = MailTls::required;
  std::string ca_file;
  std::chrono::milliseconds timeout{10'000};
  adapters::MailTemplates templates;
  std::string unusable;  // why nothing can be sent with these settings; empty when all is well
};

namespace {

using adapters::Verdict;

// A template file larger than this is a mistake (the built-in ones are about 1 KB).

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
           return lower(a) == lower(b);
         });
}

// One address's outcome.
struct Attempt {
  Verdict verdict = Verdict::retry;
  int reply = 0;
  std::string error;
  bool cancelled = false;  // abandoned by HttpClient::cancel_all (the dispatcher stopping)
};

Attempt attempt_of(const MailResponse& response) {
  if (response.accepted)
    return {Verdict::delivered, response.reply, {}, false};
  if (response.reply == 0 && response.error == "cancelled")
    return {Verdict::retry, 0, response.error, true};
  const int kind = response.reply / 100;
  std::string error = response.error;
  if (kind == 4 || kind == 5)
    error = "SMTP " + std::to_string(response.reply) + ": " + error;
  // 4xx: the relay or the mailbox says later; 5xx: never. Anything else (no reply, a connection
  // or TLS failure after a 220 or 250) is the way there, not the message: later.
  return {kind == 5 ? Verdict::permanent : Verdict::retry, response.reply, std::move(error), false};
}

// `text` without any of `secrets` (an address, or the password, that a relay might echo).
std::string scrubbed(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.size() < 4)
      continue;  // too short to tell from ordinary words
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "…");
  }
  return text;
}

// One send under way: the outcome of each address, and the callback once all are known.
struct Pending {
  ChannelDone done;
  std::string message_id;
  std::vector<std::string> addresses;
  std::vector<Attempt> attempts;
  std::size_t remaining = 0;

  ChannelResult result() {
    ChannelResult r;
    r.id = message_id;
    r.addresses = addresses;
    const auto first = [&](Verdict v) {
      return std::find_if(attempts.begin(), attempts.end(),
                          [v](const Attempt& a) { return a.verdict == v; });
    };
    auto deciding = first(Verdict::delivered);
    if (deciding == attempts.end())
      deciding = first(Verdict::retry);
    if (deciding == attempts.end())
      deciding = first(Verdict::permanent);
    if (deciding == attempts.end())
      return r;  // no attempt: cannot happen with an address
    r.verdict = deciding->verdict;
    r.status = deciding->reply;
    if (r.verdict == Verdict::delivered)
      return r;
    // Not delivered anywhere, and cut short by the dispatcher's stop: not an attempt.
    r.cancelled =
        std::any_of(attempts.begin(), attempts.end(), [](const Attempt& a) { return a.cancelled; });
    // Every address's reason, by its position: never the address itself.
    for (std::size_t i = 0; i < attempts.size(); ++i) {
      if (!r.error.empty())
        r.error += "; ";
      if (attempts.size() > 1)
        r.error +=
            "address " + std::to_string(i + 1) + " of " + std::to_string(attempts.size()) + ": ";
      r.error += attempts[i].error;
    }
    return r;
  }
};

}  // namespace

std::shared_ptr<const SmtpChannel::Settings> SmtpChannel::read(const config::Sink& sink) {
  auto s = std::make_shared<SmtpChannel::Settings>();
  s->url = sink.url;
  s->username = sink.username;
  s->password = sink.password;
  s->tls = sink.starttls == config::Sink::StartTls::required        ? MailTls::required
           : sink.starttls == config::Sink::StartTls::opportunistic ? MailTls::opportunistic
                                                                    : MailTls::off;
  s->ca_file = sink.ca_file;
  s->timeout = sink.timeout;
  std::vector<std::string> problems;
  if (!istarts_with(sink.url, "smtp://") && !istarts_with(sink.url, "smtps://"))
    problems.emplace_back("url: must start with smtp:// or smtps://");
  if (auto from = adapters::parse_mailbox(sink.from))
    s->from = std::move(*from);
  else
    problems.push_back("from: " + from.error());
  if (!sink.reply_to.empty()) {
    if (auto reply_to = adapters::parse_mailbox(sink.reply_to))
      s->reply_to = std::move(*reply_to);
    else
      problems.push_back("reply_to: " + reply_to.error());
  }
  auto texts = config::read_mail_templates(sink.templates);
  auto templates =
      texts ? adapters::MailTemplates::with(*texts)
            : std::expected<adapters::MailTemplates, std::string>(std::unexpect, texts.error());
  if (templates)
    s->templates = std::move(*templates);
  else
    problems.push_back("templates: " + templates.error());
  for (const std::string& problem : problems) {
    if (!s->unusable.empty())
      s->unusable += "; ";
    s->unusable += problem;
  }
  if (!s->unusable.empty()) {
    spdlog::error("event=smtp.unusable sink={} error={}: nothing is sent until it is fixed",
                  core::quoted(sink.name), core::quoted(s->unusable));
  }
  return s;
}

SmtpChannel::SmtpChannel(const config::Sink& sink, ChannelContext context)
    : context_(context),
      mail_(context.ioc),
      settings_(read(sink)),
      alive_(std::make_shared<int>(0)) {}

SmtpChannel::~SmtpChannel() = default;

void SmtpChannel::reconfigure(const config::Sink& sink) {
  settings_ = read(sink);
}

std::size_t SmtpChannel::in_flight() const {
  return mail_.in_flight();
}

void SmtpChannel::cancel_all() {
  mail_.cancel_all();
}

void SmtpChannel::send(std::span<const adapters::OutboundDelivery> batch, bool digest,
                       ChannelDone done) {
  const std::shared_ptr<const Settings> settings = settings_;
  std::weak_ptr<int> alive = alive_;
  // Every outcome is given from the io_context, never from inside send().
  const auto answer_later = [this, alive](ChannelDone done, ChannelResult result) {
    boost::asio::post(context_.ioc,
                      [alive, done = std::move(done), result = std::move(result)]() mutable {
                        if (alive.lock())
                          done(std::move(result));
                      });
  };
  if (batch.empty()) {
    ChannelResult r;
    r.error = "no delivery to send";
    return answer_later(std::move(done), std::move(r));
  }
  // The Message-ID's left part: the delivery's id, or the digest's.
  std::optional<adapters::DigestText> digest_text;
  if (digest)
    digest_text = adapters::digest_text(batch);
  const std::string id = digest ? digest_text->id : std::string(batch.front().delivery_id);
  const std::string message_id = adapters::mail_message_id(id, settings->from.address);
  const auto fail = [&](std::string error) {
    ChannelResult r;
    r.verdict = Verdict::retry;
    r.error = std::move(error);
    r.id = message_id;
    answer_later(std::move(done), std::move(r));
  };
  if (!settings->unusable.empty())
    return fail(settings->unusable);
  if (batch.size() > 1 && !digest)
    return fail("an e-mail carries one delivery, or one recipient's digest");

  // The addresses: those of the latest event of the batch that gives any, each once.
  std::vector<std::string> addresses;
  for (auto d = batch.rbegin(); d != batch.rend() && addresses.empty(); ++d) {
    for (std::string& a : adapters::addresses_of(*d).email) {
      if (std::find(addresses.begin(), addresses.end(), a) == addresses.end())
        addresses.push_back(std::move(a));
    }
  }
  if (addresses.empty()) {
    ChannelResult r;
    r.verdict = Verdict::no_address;
    r.error = "the recipient has no e-mail address";
    r.id = message_id;
    return answer_later(std::move(done), std::move(r));
  }

  adapters::MailHeaders headers;
  headers.from = settings->from;
  headers.reply_to = settings->reply_to;
  headers.unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(context_.clock.now().time_since_epoch())
          .count();
  headers.id = id;
  const adapters::MailContent content = digest ? settings->templates.digest(batch, *digest_text)
                                               : settings->templates.notification(batch.front());

  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  pending->message_id = message_id;
  pending->addresses = addresses;
  pending->attempts.resize(addresses.size());
  pending->remaining = addresses.size();
  const auto finish = [alive](const std::shared_ptr<Pending>& p) {
    if (alive.lock() && p->done)
      p->done(p->result());
  };

  std::vector<std::pair<std::size_t, MailRequest>> requests;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    headers.to = addresses[i];
    auto message = adapters::build_mail(headers, content);
    if (!message) {
      pending->attempts[i] = {Verdict::permanent, 0, message.error(), false};
      --pending->remaining;
      continue;
    }
    MailRequest request;
    request.url = settings->url;
    request.mail_from = settings->from.address;
    request.recipients = {addresses[i]};
    request.message = std::move(message->text);
    request.username = settings->username;
    request.password = settings->password;
    request.tls = settings->tls;
    request.ca_file = settings->ca_file;
    // curl's connection phase for SMTP holds the greeting, EHLO, STARTTLS and AUTH: as long as
    // the whole session may take.
    request.timeout = settings->timeout;
    request.connect_timeout = settings->timeout;
    requests.emplace_back(i, std::move(request));
  }
  if (requests.empty()) {
    boost::asio::post(context_.ioc, [pending, finish] { finish(pending); });
    return;
  }
  for (auto& [i, request] : requests) {
    mail_.send_mail(std::move(request), [pending, finish, settings, i = i](MailResponse response) {
      Attempt attempt = attempt_of(response);
      attempt.error =
          scrubbed(std::move(attempt.error), {pending->addresses[i], settings->password});
      pending->attempts[i] = std::move(attempt);
      if (--pending->remaining == 0)
        finish(pending);
    });
  }
}

}  // namespace treve::dispatch
