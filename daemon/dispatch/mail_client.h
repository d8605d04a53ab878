// E-mail through an SMTP relay on a thread of its own.
//
// libcurl's SMTP waits, blocking, for the relay's answer to the end of each message
// (HttpClient::send_mail): on the dispatcher's thread, a relay that takes 100 ms to answer would
// hold back every webhook and push request for as long. A MailClient runs an HttpClient on an
// io_context and a thread of its own (started at the first message), and hands each answer
// back to the io_context it was made on, the "home" one.
//
// Everything is called on the home io_context's thread; every `done` runs there, later, never
// from inside a call. Connections to the relay are kept and reused as HttpClient does.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "daemon/dispatch/http_client.h"

namespace boost::asio {
class io_context;
}

namespace treve::dispatch {

class MailClient {
 public:
  explicit MailClient(boost::asio::io_context& home);
  // Abandons what is under way without calling back, and ends the thread: at once when it is
  // idle, else once the wait it is in ends (at most the session's timeout).
  ~MailClient();
  MailClient(const MailClient&) = delete;
  MailClient& operator=(const MailClient&) = delete;

  // Sends `request` on the mail thread; `done` gets the answer on the home thread, unless the
  // client is destroyed or cancel_all() is called first.
  void send_mail(MailRequest request, std::function<void(MailResponse)> done);

  // Every send under way is answered at once, on the home thread before this returns, with
  // reply 0 and error "cancelled"; whatever the relay answers them later is dropped. (A message
  // the relay took meanwhile is sent again later under the same Message-ID.)
  void cancel_all();

  // Sends under way (not yet answered on the home thread).
  std::size_t in_flight() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::dispatch
