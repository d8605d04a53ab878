// The FCM HTTP v1 channel's pure parts: the service account (each malformed key refused with a
// reason that never quotes the key), its assertion, the token request and answer, the message
// a device is sent, and the reading of FCM's real error answers.
#include "adapters/outbound/fcm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/adapters/test_keys.h"
#include "tests/support/outbound.h"

namespace treve::adapters {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace json = boost::json;

// One RSA key for the whole file: generating one takes a while.
const std::string& rsa_pem() {
  static const std::string pem = [] {
    ossl::Pkey key = test::generate_rsa(2048);
    return test::pem_of(key.get(), test::PemForm::pkcs8);
  }();
  return pem;
}

// A key file as Google gives it, with `changes` applied to its members (a null value removes
// the member).
std::string key_file(const json::object& changes = {}) {
  json::object o{{"type", "service_account"},
                 {"project_id", "ent-push"},
                 {"private_key_id", "1f2e3d4c5b6a"},
                 {"private_key", rsa_pem()},
                 {"client_email", "treve@ent-push.iam.gserviceaccount.com"},
                 {"client_id", "1234567890"},
                 {"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
                 {"token_uri", "https://oauth2.googleapis.com/token"}};
  for (const auto& [k, v] : changes) {
    if (v.is_null())
      o.erase(k);
    else
      o[k] = v;
  }
  return json::serialize(o);
}

TEST(FcmServiceAccount, ReadsGooglesKeyFileAndSignsAnAssertionItsPublicKeyVerifies) {
  auto account = parse_service_account(key_file());
  ASSERT_TRUE(account) << account.error();
  EXPECT_EQ(account->client_email, "treve@ent-push.iam.gserviceaccount.com");
  EXPECT_EQ(account->private_key_id, "1f2e3d4c5b6a");
  EXPECT_EQ(account->token_uri, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(account->project_id, "ent-push");
  ASSERT_TRUE(account->signer);

  auto assertion = service_account_assertion(*account, 1'800'000'000);
  ASSERT_TRUE(assertion) << assertion.error();
  ossl::Pkey pub = test::public_half(account->signer->key());
  EXPECT_TRUE(test::verify_jws(*assertion, pub.get(), false));
  EXPECT_EQ(test::jws_part(*assertion, 0), R"({"typ":"JWT","alg":"RS256","kid":"1f2e3d4c5b6a"})");
  const auto claims = json::parse(test::jws_part(*assertion, 1)).as_object();
  EXPECT_EQ(claims.at("iss").as_string(), "treve@ent-push.iam.gserviceaccount.com");
  EXPECT_EQ(claims.at("scope").as_string(), "https://www.googleapis.com/auth/firebase.messaging");
  EXPECT_EQ(claims.at("aud").as_string(), "https://oauth2.googleapis.com/token");
  EXPECT_EQ(claims.at("iat").as_int64(), 1'800'000'000);
  EXPECT_EQ(claims.at("exp").as_int64(), 1'800'003'600);
}

TEST(FcmServiceAccount, TheAssertionIsForTheKeysOwnTokenEndpoint) {
  auto account = parse_service_account(
      key_file({{"token_uri", "https://127.0.0.1:8443/token"}, {"private_key_id", nullptr}}));
  ASSERT_TRUE(account) << account.error();
  auto assertion = service_account_assertion(*account, 1'800'000'000);
  ASSERT_TRUE(assertion);
  EXPECT_EQ(test::jws_part(*assertion, 0), R"({"typ":"JWT","alg":"RS256"})");
  EXPECT_EQ(json::parse(test::jws_part(*assertion, 1)).at("aud").as_string(),
            "https://127.0.0.1:8443/token");
}

TEST(FcmServiceAccount, GooglesTokenEndpointWhenTheKeyNamesNone) {
  auto account = parse_service_account(key_file({{"token_uri", nullptr}, {"type", nullptr}}));
  ASSERT_TRUE(account) << account.error();
  EXPECT_EQ(account->token_uri, "https://oauth2.googleapis.com/token");
}

TEST(FcmServiceAccount, EachMalformedKeyIsRefusedWithItsReasonAndNeverQuotesTheKey) {
  ossl::Pkey small = test::generate_rsa(1024);
  ossl::Pkey ec = test::generate_p256();
  ossl::Pkey rsa = test::generate_rsa(2048);
  const struct {
    std::string text;
    std::string reason;
  } cases[] = {
      {"", "not a JSON object"},
      {"{\"type\": \"service_account\",", "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {key_file({{"type", "authorized_user"}}), "\"type\" is not \"service_account\""},
      {key_file({{"client_email", nullptr}}), "\"client_email\" is missing"},
      {key_file({{"client_email", 42}}), "\"client_email\" is missing"},
      {key_file({{"client_email", "treve ent-push"}}), "\"client_email\" is not an e-mail"},
      {key_file({{"private_key", nullptr}}), "\"private_key\" is missing"},
      {key_file({{"private_key", ""}}), "\"private_key\" is missing"},
      {key_file(
           {{"private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}),
       "\"private_key\" cannot sign RS256: no private key"},
      {key_file({{"private_key", test::pem_of(small.get(), test::PemForm::pkcs8)}}),
       "\"private_key\" cannot sign RS256: RS256 needs an RSA key of 2048 bits or more"},
      {key_file({{"private_key", test::pem_of(ec.get(), test::PemForm::pkcs8)}}),
       "\"private_key\" cannot sign RS256: RS256 needs an RSA key"},
      {key_file({{"private_key", test::pem_of(rsa.get(), test::PemForm::encrypted)}}),
       "\"private_key\" cannot sign RS256"},
      {key_file({{"private_key_id", 7}}), "\"private_key_id\" is not a string"},
      {key_file({{"token_uri", "ftp://oauth2.googleapis.com/token"}}),
       "\"token_uri\" is not an http(s) URL"},
      {key_file({{"token_uri", "oauth2.googleapis.com/token"}}),
       "\"token_uri\" is not an http(s) URL"},
      {key_file({{"token_uri", true}}), "\"token_uri\" is not an http(s) URL"},
  };
  for (const auto& c : cases) {
    auto account = parse_service_account(c.text);
    ASSERT_FALSE(account) << c.text.substr(0, 200);
    EXPECT_THAT(account.error(), HasSubstr(c.reason)) << c.text.substr(0, 200);
    EXPECT_THAT(account.error(), Not(HasSubstr("BEGIN")));
    EXPECT_THAT(account.error(), Not(HasSubstr(rsa_pem().substr(40, 40))));
  }
}

TEST(FcmToken, TheRequestIsTheJwtBearerGrantOfRfc7523) {
  EXPECT_EQ(token_request_body("eyJh.eyJp.c2ln-_"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJh.eyJp."
            "c2ln-_");
  // Not a JWT's alphabet: encoded rather than sent as form syntax.
  EXPECT_EQ(token_request_body("a&b=c"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a%26b%3Dc");
}

TEST(FcmToken, ReadsTheTokenEndpointsAnswer) {
  auto token = parse_token_response(
      R"({"access_token":"ya29.c.b0AXv0zTM","expires_in":3599,"token_type":"Bearer"})");
  ASSERT_TRUE(token) << token.error();
  EXPECT_EQ(token->token, "ya29.c.b0AXv0zTM");
  EXPECT_EQ(token->expires_in, 3599);
  token = parse_token_response(R"({"access_token":"t","expires_in":"3600"})");
  ASSERT_TRUE(token) << token.error();
  EXPECT_EQ(token->expires_in, 3600);
}

TEST(FcmToken, RefusesAnAnswerItCannotUseWithoutQuotingIt) {
  const struct {
    std::string body;
    std::string reason;
  } cases[] = {
      {"<html>ya29.secret</html>", "not a JSON object"},
      {R"({"expires_in":3599,"token_type":"Bearer"})", "no \"access_token\""},
      {R"({"access_token":"","expires_in":3599})", "no \"access_token\""},
      {R"({"access_token":"ya29.secret\r\nX: y","expires_in":3599})", "not fit for a header"},
      {R"({"access_token":"ya29.secret"})", "no positive \"expires_in\""},
      {R"({"access_token":"ya29.secret","expires_in":0})", "no positive \"expires_in\""},
      {R"({"access_token":"ya29.secret","expires_in":-5})", "no positive \"expires_in\""},
      {R"({"access_token":"ya29.secret","expires_in":3599,"token_type":"MAC"})",
       "\"token_type\" is not Bearer"},
  };
  for (const auto& c : cases) {
    auto token = parse_token_response(c.body);
    ASSERT_FALSE(token) << c.body;
    EXPECT_THAT(token.error(), HasSubstr(c.reason)) << c.body;
    EXPECT_THAT(token.error(), Not(HasSubstr("secret")));
  }
}

TEST(FcmToken, AFailureSaysTheStatusAndOAuthErrorButNothingSecret) {
  EXPECT_EQ(
      token_failure(
          400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})", ""),
      "token endpoint: 400 invalid_grant (Invalid JWT Signature.)");
  EXPECT_EQ(token_failure(503, "upstream connect error", ""), "token endpoint: 503");
  EXPECT_EQ(token_failure(403, R"({"error":{"code":403,"status":"PERMISSION_DENIED"}})", ""),
            "token endpoint: 403 PERMISSION_DENIED");
  EXPECT_EQ(token_failure(0, "", "Could not resolve host: oauth2.googleapis.com"),
            "token endpoint: no answer (Could not resolve host: oauth2.googleapis.com)");
  // An answer echoing the assertion contributes only what reads as an OAuth error code.
  EXPECT_EQ(
      token_failure(400, R"({"error":"eyJhbGciOi.eyJpc3Mi.sig","assertion":"eyJhbGciOi"})", ""),
      "token endpoint: 400");
  EXPECT_EQ(token_failure(
                400, R"({"error":"invalid_grant","error_description":"bad eyJhbGciOi.x.y"})", ""),
            "token endpoint: 400 invalid_grant");
  EXPECT_THAT(token_failure(
                  400, R"({"error":"x","error_description":")" + std::string(500, 'd') + "\"}", "")
                  .size(),
              ::testing::Le(200u));
}

TEST(FcmMessage, TheSendUrlNamesTheProject) {
  EXPECT_EQ(fcm_send_url("https://fcm.googleapis.com", "ent-push"),
            "https://fcm.googleapis.com/v1/projects/ent-push/messages:send");
  EXPECT_EQ(fcm_send_url("https://127.0.0.1:8443/", "a b/c"),
            "https://127.0.0.1:8443/v1/projects/a%20b%2Fc/messages:send");
}

OutboundDelivery delivery(std::string_view body, std::string_view category = "grade",
                          bool urgent = false) {
  return treve::test::outbound_delivery("dlv_0123456789abcdef0123456789abcdef", "msg-8812",
                                        category, body, urgent);
}

std::string data_of(const FcmContent& c, std::string_view key) {
  for (const auto& [k, v] : c.data) {
    if (k == key)
      return v;
  }
  return "<absent>";
}

TEST(FcmMessage, TheEventsTitleAFrenchLineAndTheIdentifiersAsData) {
  const std::string body =
      R"({"id":"msg-8812","title":"Nouvelle note en mathématiques","payload":{"link":"https://ent.example.fr/notes/42","note":"18/20"}})";
  const FcmContent c = fcm_content(delivery(body));
  EXPECT_EQ(c.title, "Nouvelle note en mathématiques");
  EXPECT_EQ(c.body, "Notes · établissement 0250001R");
  EXPECT_FALSE(c.urgent);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"delivery_id", "dlv_0123456789abcdef0123456789abcdef"},
      {"source", "ent"},
      {"id", "msg-8812"},
      {"establishment", "0250001R"},
      {"category", "grade"},
      {"released_at", "2026-11-28T07:00:00+01:00"},
      {"link", "https://ent.example.fr/notes/42"}};
  EXPECT_EQ(c.data, expected);  // the payload's other members are not sent

  const json::value m = json::parse(fcm_message("fcm-token-1", c));
  const json::value expected_message = json::parse(R"({"message":{
      "token":"fcm-token-1",
      "notification":{"title":"Nouvelle note en mathématiques",
                      "body":"Notes · établissement 0250001R"},
      "data":{"delivery_id":"dlv_0123456789abcdef0123456789abcdef","source":"ent",
              "id":"msg-8812","establishment":"0250001R","category":"grade",
              "released_at":"2026-11-28T07:00:00+01:00",
              "link":"https://ent.example.fr/notes/42"},
      "android":{"priority":"normal"},
      "apns":{"headers":{"apns-priority":"5"}}}})");
  EXPECT_EQ(m, expected_message);
}

TEST(FcmMessage, AnUrgentEventIsHighPriorityOnBothPlatforms) {
  const FcmContent c = fcm_content(delivery(R"({"id":"a"})", "alert", true));
  const json::value m = json::parse(fcm_message("t", c));
  EXPECT_EQ(m.at_pointer("/message/android/priority"), "high");
  EXPECT_EQ(m.at_pointer("/message/apns/headers/apns-priority"), "10");
}

TEST(FcmMessage, AFrenchTitleByCategoryWhenTheEventHasNone) {
  EXPECT_EQ(fcm_content(delivery(R"({"id":"a"})", "grade")).title, "Nouvelle note");
  EXPECT_EQ(fcm_content(delivery(R"({"id":"a","title":""})", "message")).title, "Nouveau message");
  EXPECT_EQ(fcm_content(delivery(R"({"id":"a","title":12})", "homework")).title,
            "Nouveau travail à faire");
  EXPECT_EQ(fcm_content(delivery("", "absence")).title, "Absence ou retard signalé");
  EXPECT_EQ(fcm_content(delivery(R"({"id":"a"})", "message")).body,
            "Messagerie · établissement 0250001R");
  for (std::string_view category :
       {"message", "grade", "homework", "blog", "news", "schedule", "absence", "alert"}) {
    EXPECT_NE(fcm_fallback_title(category), fcm_fallback_title("no such category")) << category;
  }
  EXPECT_EQ(fcm_fallback_title("other"), "Nouvelle notification");
  EXPECT_EQ(fcm_section("unknown"), "ENT");
}

TEST(FcmMessage, ALongTitleIsCutAtACharacterBoundary) {
  std::string title;
  for (int i = 0; i < 200; ++i)
    title += "é";  // two bytes each
  const std::string body = json::serialize(json::object{{"title", title}});
  const FcmContent c = fcm_content(delivery(body));
  EXPECT_LE(c.title.size(), kFcmMaxTitle);
  EXPECT_TRUE(c.title.ends_with("é…")) << c.title;
  // Still valid UTF-8: Boost.JSON's parser checks it.
  EXPECT_NO_THROW(json::parse(fcm_message("t", c)));
}

TEST(FcmMessage, OnlyAPlainHttpLinkOfThePayloadIsForwarded) {
  const auto link = [](std::string_view payload) {
    return data_of(fcm_content(delivery(R"({"id":"a","payload":)" + std::string(payload) + "}")),
                   "link");
  };
  EXPECT_EQ(link(R"({"url":"https://ent.example.fr/x"})"), "https://ent.example.fr/x");
  EXPECT_EQ(link(R"({"link":"https://a.fr/1","url":"https://b.fr/2"})"), "https://a.fr/1");
  EXPECT_EQ(link(R"j({"link":"javascript:alert(1)"})j"), "<absent>");
  EXPECT_EQ(link(R"({"link":"https://a.fr/x y"})"), "<absent>");
  EXPECT_EQ(link(R"({"link":"https://a.fr/\nx"})"), "<absent>");
  EXPECT_EQ(link(R"({"link":{"href":"https://a.fr"}})"), "<absent>");
  EXPECT_EQ(link(R"(["https://a.fr"])"), "<absent>");
  EXPECT_EQ(link(R"("https://a.fr")"), "<absent>");
  EXPECT_EQ(link(R"({"link":"https://a.fr/)" + std::string(kFcmMaxLink, 'x') + "\"}"), "<absent>");
}

TEST(FcmMessage, TheDataStaysUnderFcmsLimitWhateverTheEvent) {
  // The longest identifiers ingest accepts (128 characters of four bytes each) and a link at
  // its limit.
  std::string id;
  for (int i = 0; i < 128; ++i)
    id += "\xF0\x9F\x98\x80";
  const std::string body = R"({"payload":{"link":"https://a.fr/)" +
                           std::string(kFcmMaxLink - 15, 'x') + R"("},"title":")" +
                           std::string(1024, 't') + "\"}";
  OutboundDelivery d = delivery(body);
  d.event_id = id;
  const FcmContent c = fcm_content(d);
  std::size_t size = 0;
  for (const auto& [k, v] : c.data)
    size += k.size() + v.size();
  EXPECT_LE(size, kFcmMaxData);
  EXPECT_NE(data_of(c, "link"), "<absent>");
  EXPECT_LE(fcm_message(std::string(4096, 'T'), c).size(), 4096u + 4096u);
}

TEST(FcmMessage, ADigestCarriesItsOwnIdAndText) {
  const std::string body = R"({"id":"a"})";
  OutboundDelivery a = delivery(body);
  OutboundDelivery b = delivery(body, "message");
  b.delivery_id = "dlv_ffff";
  b.released_at = "2026-11-28T07:00:05+01:00";
  const OutboundDelivery batch[] = {a, b};
  const FcmContent c = fcm_digest_content(batch, "dig_42", "2 notifications", "Notes, Messagerie");
  EXPECT_EQ(c.title, "2 notifications");
  EXPECT_EQ(c.body, "Notes, Messagerie");
  EXPECT_FALSE(c.urgent);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"delivery_id", "dig_42"},
      {"digest", "true"},
      {"count", "2"},
      {"establishment", "0250001R"},
      {"released_at", "2026-11-28T07:00:05+01:00"}};
  EXPECT_EQ(c.data, expected);
}

TEST(FcmMessage, TheTokenAndTextsAreEscaped) {
  FcmContent c;
  c.title = "\"quoted\"\n";
  c.body = "back\\slash";
  c.data = {{"k\"", "v\x01"}};
  const json::value m = json::parse(fcm_message("tok\"en", c));
  EXPECT_EQ(m.at_pointer("/message/token"), "tok\"en");
  EXPECT_EQ(m.at_pointer("/message/notification/title"), "\"quoted\"\n");
  EXPECT_EQ(m.at_pointer("/message/data/k\""), "v\x01");
}

// FCM's answers, as its documentation and its users' reports give them.
constexpr std::string_view kUnregistered =
    R"({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}})";
constexpr std::string_view kInvalidToken =
    R"({"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}})";
constexpr std::string_view kInvalidData =
    R"({"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.data[0].value","description":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12"}]}]}})";
constexpr std::string_view kTokenFieldViolation =
    R"({"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"},{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.token","description":"Invalid registration token"}]}]}})";
constexpr std::string_view kUnauthenticated =
    R"({"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","status":"UNAUTHENTICATED"}})";
constexpr std::string_view kSenderIdMismatch =
    R"({"error":{"code":403,"message":"SenderId mismatch","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"SENDER_ID_MISMATCH"}]}})";
constexpr std::string_view kPermissionDenied =
    R"({"error":{"code":403,"message":"Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/ent-push' (or it may not exist).","status":"PERMISSION_DENIED"}})";
constexpr std::string_view kQuotaExceeded =
    R"({"error":{"code":429,"message":"Quota exceeded for quota metric 'Send requests'.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}})";
constexpr std::string_view kUnavailable =
    R"({"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNAVAILABLE"}]}})";
constexpr std::string_view kInternal =
    R"({"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INTERNAL"}]}})";

TEST(FcmAnswer, ReadsFcmsRealErrorAnswers) {
  const struct {
    int status;
    std::string_view body;
    FcmOutcome outcome;
    std::string reason;
  } cases[] = {
      {200, R"({"name":"projects/ent-push/messages/0:1500415314455276%31bd1c9631bd1c96"})",
       FcmOutcome::delivered, "200"},
      {404, kUnregistered, FcmOutcome::token_gone, "404 NOT_FOUND UNREGISTERED"},
      {400, kInvalidToken, FcmOutcome::token_gone, "400 INVALID_ARGUMENT"},
      {400, kTokenFieldViolation, FcmOutcome::token_gone, "400 INVALID_ARGUMENT"},
      {400, kInvalidData, FcmOutcome::refused, "400 INVALID_ARGUMENT"},
      {401, kUnauthenticated, FcmOutcome::unauthenticated, "401 UNAUTHENTICATED"},
      {403, kSenderIdMismatch, FcmOutcome::token_gone, "403 PERMISSION_DENIED SENDER_ID_MISMATCH"},
      {403, kPermissionDenied, FcmOutcome::refused, "403 PERMISSION_DENIED"},
      {429, kQuotaExceeded, FcmOutcome::retry, "429 RESOURCE_EXHAUSTED QUOTA_EXCEEDED"},
      {503, kUnavailable, FcmOutcome::retry, "503 UNAVAILABLE"},
      {500, kInternal, FcmOutcome::retry, "500 INTERNAL"},
      {502, "<html>Bad Gateway</html>", FcmOutcome::retry, "502"},
      {408, "", FcmOutcome::retry, "408"},
      {0, "", FcmOutcome::retry, "no answer"},
      {404, "", FcmOutcome::refused, "404"},
      {413, "", FcmOutcome::refused, "413"},
      {302, "", FcmOutcome::refused, "302"},
  };
  for (const auto& c : cases) {
    const FcmAnswer a = classify_fcm_answer(c.status, c.body);
    EXPECT_EQ(a.outcome, c.outcome) << c.status << " " << c.body;
    EXPECT_EQ(a.reason, c.reason) << c.status << " " << c.body;
  }
}

TEST(FcmAnswer, TheReasonNeverQuotesTheAnswersMessage) {
  const FcmAnswer a = classify_fcm_answer(
      400,
      R"({"error":{"code":400,"message":"The registration token 'fcm-secret' is not a valid FCM registration token","status":"INVALID_ARGUMENT fcm-secret","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}})");
  EXPECT_EQ(a.outcome, FcmOutcome::token_gone);
  EXPECT_EQ(a.reason, "400 INVALID_ARGUMENT");
}

}  // namespace
}  // namespace treve::adapters
