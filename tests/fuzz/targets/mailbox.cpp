// An e-mail address as a recipient's `channels` or an smtp sink's `from` and `reply_to` give it.
#include "adapters/outbound/mail_message.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(mailbox) {
  using namespace treve;
  auto m = adapters::parse_mailbox(input);
  if (!m) {
    TREVE_FUZZ_CHECK(!m.error().empty(), std::string(input));
    return;
  }
  // What goes into a header is one line: no CR, LF or NUL can reach the message.
  for (const std::string* part : {&m->address, &m->name})
    TREVE_FUZZ_CHECK(part->find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
                     *part);
}
