// The e-mail channel (`[[sinks]] type = "smtp"`): a released delivery as an e-mail through an
// SMTP relay, one message per e-mail address of its recipient, sent by a MailClient of its own
// (libcurl's SMTP on a thread of its own, connections to the relay kept and reused from one
// message to the next).
//
// What it sends: adapters::build_mail of the templates' content (mail_template.h: the built-in
// French ones, or the sink's `templates` directory), From the sink's `from` (its address is the
// envelope sender and gives the Message-ID's domain), Reply-To its `reply_to`, To the address.
// The Message-ID is the delivery id (a digest's: digest_text's id) at the From's domain: the same
// on every attempt, the ChannelResult's id.
//
// The sink's keys: `url` (smtp:// or smtps://, implicit TLS), `starttls` (required: STARTTLS or
// no message; opportunistic; off), `username` and `password` (AUTH when a username is set),
// `from`, `reply_to`, `templates`, `ca_file` (PEM CAs trusted instead of the system's),
// `timeout` (one SMTP session, from connecting to the relay's answer to the message).
//
// The addresses are the recipient's `channels.email` in the event (the latest event of a
// digest that gives any), each once. What an answer means, per address: the message taken
// (250) delivered; a 4xx reply retried; a 5xx reply refused (permanent); no reply, a failed
// connection, TLS or a timeout retried. For the delivery: delivered if any address took it,
// else retried if any address may be retried, else refused; a recipient without an e-mail
// address is no_address. Errors never hold an address or the password.
//
// curl waits, blocking, for the relay's answer to the end of each message
// (HttpClient::send_mail): on the channel's own thread (mail_client.h), so that a slow relay
// delays only e-mails, never the other sinks.
//
// A sink whose keys cannot be used (a `from` that is no address, templates with a mistake, a
// URL of another scheme) gets a channel whose sends are retried with the reason as the error
// (and logged once), never sent half made. Lives on the dispatcher's thread, like every
// Channel.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "daemon/dispatch/channel.h"
#include "daemon/dispatch/mail_client.h"

namespace treve::dispatch {

class SmtpChannel final : public Channel {
 public:
  // Reads the sink's templates directory (if any) now, and again at each reconfigure().
  SmtpChannel(const config::Sink& sink, ChannelContext context);
  ~SmtpChannel() override;
  SmtpChannel(const SmtpChannel&) = delete;
  SmtpChannel& operator=(const SmtpChannel&) = delete;

  std::string_view type() const override { return "smtp"; }
  void send(std::span<const adapters::OutboundDelivery> batch, bool digest,
            ChannelDone done) override;
  // Sends under way finish with the settings they started with.
  void reconfigure(const config::Sink& sink) override;
  std::size_t in_flight() const override;
  void cancel_all() override;

 private:
  struct Settings;
  // The settings of `sink`; their `unusable` says why nothing can be sent (logged here).
  static std::shared_ptr<const Settings> read(const config::Sink& sink);

  ChannelContext context_;
  MailClient mail_;
  std::shared_ptr<const Settings> settings_;
  // Held weakly by the callbacks of sends under way: once the channel is gone they do nothing.
  std::shared_ptr<int> alive_;
};

}  // namespace treve::dispatch
