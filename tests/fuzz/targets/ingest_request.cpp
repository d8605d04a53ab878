// A whole HTTP request to the ingest listener, as bytes on the wire: read by Beast's parser
// with the listener's limits (header 8 KiB, the body limit and admission the API sets), then
// answered by the ingest API over a real store (a SQLite file in a temporary directory) and
// the commit queue's writer thread, as `treve serve` does. Every answer is a status the API
// documents; every refusal is an RFC 9457 problem; nothing is a 500.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>

#include "daemon/api/ingest_api.h"
#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "daemon/store/commit_queue.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/support/tokens.h"

namespace {

namespace bhttp = boost::beast::http;
using namespace treve;

// The connector "ent" (token "change-me") sends canonical events, "ce" (token "ce-token")
// CloudEvents.
constexpr const char* kConfig = R"([server]
state_dir = "/nonexistent"
[[connectors]]
name = "ent"
token_sha256 = ")" TREVE_TEST_CHANGE_ME_SHA256 R"("
max_recipients = 50
[[connectors]]
name = "ce"
format = "cloudevents"
token_sha256 = "e2a6e7b815abe4a856a09982ae95d53623003ba1035d9d4e944e4c174ec34203"
ce_source = "https://ent.example/timeline"
types = { "org.example.grade" = "grade" }
)";

struct Service {
  std::filesystem::path dir;
  core::FakeClock clock{*policy::parse_rfc3339("2026-11-27T21:14:03+01:00")};
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<store::CommitQueue> queue;
  std::unique_ptr<api::IngestApi> api;

  Service() {
    // In memory when the system has a tmpfs (/dev/shm): each accepted event is a commit, and
    // what is fuzzed is the request's reading and answer, not the disk's sync.
    char pattern[] = "/dev/shm/treve-fuzz-ingest-XXXXXX";
    char fallback[] = "/tmp/treve-fuzz-ingest-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (!made)
      made = ::mkdtemp(fallback);
    if (!made)
      std::abort();
    dir = made;
    auto c = config::parse_config(kConfig, "fuzz.toml");
    if (!c)
      std::abort();
    config = *c;
    store::SqliteOptions o;
    o.path = (dir / "treve.db").string();
    o.pseudonym_key.fill(7);
    auto s = store::SqliteStore::open(o);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      std::abort();
    }
    store = std::move(*s);
    queue = std::make_unique<store::CommitQueue>(*store, clock);
    api = std::make_unique<api::IngestApi>([this] { return config; }, *queue, *store, clock);
  }
  ~Service() {
    api.reset();
    queue.reset();
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

bool documented(int status) {
  switch (status) {
    case 200:
    case 202:
    case 204:
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 409:
    case 411:
    case 413:
    case 415:
    case 422:
    case 429:
    case 503:
      return true;
    default:
      return false;
  }
}

}  // namespace

TREVE_FUZZ_TARGET(ingest_request) {
  static Service service;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
  if (ec == bhttp::error::need_more || !parser.is_header_done())
    return;  // the listener waits for more, then times out: no answer to check
  if (ec)
    return;  // a malformed header: the listener answers 400 itself and closes
  const http::Request& header = parser.get();
  const std::size_t limit = service.api->body_limit(header);
  if (const auto length = parser.content_length(); length && *length > limit)
    return;  // 413 from the listener, before any of the body is read
  parser.body_limit(limit);
  auto held = service.api->admit_body(header, parser.content_length().value_or(limit));
  if (!held) {
    const int status = held.error().result_int();
    TREVE_FUZZ_CHECK(documented(status) && status >= 400, std::to_string(status));
    return;
  }
  input.remove_prefix(used);
  while (!parser.is_done() && !input.empty()) {
    used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
    input.remove_prefix(used);
    if (ec || used == 0)
      break;
  }
  if (!parser.is_done()) {
    // A chunked body may end with its last chunk and nothing after it.
    parser.put_eof(ec);
    if (ec || !parser.is_done())
      return;
  }
  http::Request req = parser.release();
  const auto method = req.method();
  std::promise<http::Response> answer;
  service.api->handle({"127.0.0.1:40000"}, std::move(req),
                      [&](http::Reply r) { answer.set_value(std::move(r.response)); });
  const http::Response res = answer.get_future().get();
  const int status = res.result_int();
  TREVE_FUZZ_CHECK(documented(status), std::to_string(status) + " " + res.body());
  TREVE_FUZZ_CHECK(status != 202 || method == bhttp::verb::post, "202 only to a POST");
  if (status >= 400) {
    TREVE_FUZZ_CHECK(res[bhttp::field::content_type] == "application/problem+json",
                     std::string(res[bhttp::field::content_type]));
    boost::system::error_code jec;
    const auto doc = boost::json::parse(res.body(), jec);
    TREVE_FUZZ_CHECK(!jec && doc.is_object(), res.body());
    const auto* s = doc.as_object().if_contains("status");
    TREVE_FUZZ_CHECK(s && s->is_int64() && s->as_int64() == status, res.body());
  }
}
