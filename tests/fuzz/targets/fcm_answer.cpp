// What FCM and its token endpoint answer (the dispatcher reads them), and a service account's
// key file (`credentials_file`). The first two bytes are the HTTP status, the rest the body.
#include "adapters/outbound/fcm.h"
#include "tests/fuzz/fuzz_target.h"

TREVE_FUZZ_TARGET(fcm_answer) {
  using namespace treve;
  if (input.size() < 2)
    return;
  const int status =
      (static_cast<unsigned char>(input[0]) << 8 | static_cast<unsigned char>(input[1])) % 600;
  input.remove_prefix(2);
  const adapters::FcmAnswer a = adapters::classify_fcm_answer(status, input);
  if (status == 401)
    TREVE_FUZZ_CHECK(a.outcome == adapters::FcmOutcome::unauthenticated, a.reason);
  if (status == 429 || status >= 500 || status == 0)
    TREVE_FUZZ_CHECK(a.outcome == adapters::FcmOutcome::retry, a.reason);
  // The reason is logged and audited: it never carries the body's free text.
  TREVE_FUZZ_CHECK(a.reason.size() <= 256, a.reason);
  if (auto t = adapters::parse_token_response(input))
    TREVE_FUZZ_CHECK(!t->token.empty() && t->expires_in > 0, "a usable token");
  if (auto account = adapters::parse_service_account(input))
    TREVE_FUZZ_CHECK(account->signer.has_value(), account->client_email);
  (void)adapters::token_failure(status, input, "");
}
