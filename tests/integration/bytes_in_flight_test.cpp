// Large batches on the real daemon: the bytes of request bodies in flight are bounded per
// connector (429 beyond) and in all (503 beyond), both with Retry-After, decided from the
// header before any of the body is read; meanwhile small requests are answered at once, and
// batches are parsed off the I/O threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_harness.h"

namespace treve::itest {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBatchBytes = 4 * 1024 * 1024;

// Events with ids `prefix`-0, -1, … filling exactly `bytes` (blank lines, which a batch skips,
// make up the rest); how many events in `count`.
std::string batch_of(const std::string& prefix, std::size_t bytes, std::size_t& count) {
  std::string body;
  count = 0;
  for (;;) {
    const std::string line = simple_event(prefix + "-" + std::to_string(count)) + "\n";
    if (body.size() + line.size() > bytes)
      break;
    body += line;
    ++count;
  }
  body.append(bytes - body.size(), '\n');
  return body;
}

std::string batch_header(const std::string& token, std::size_t length, bool expect_continue) {
  return "POST /v1/events:batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/x-ndjson\r\nContent-Length: " + std::to_string(length) +
         "\r\n" + (expect_continue ? "Expect: 100-continue\r\n" : "") + "\r\n";
}

TEST(BytesInFlight, BatchesOverTheBoundsAreRefusedWithRetryAfterWhileASmallPostIsAnswered) {
  DaemonOptions options;
  options.max_batch_body_bytes = kBatchBytes;
  options.server_config =
      "max_bytes_in_flight_per_connector = " + std::to_string(2 * kBatchBytes) +
      "\nmax_bytes_in_flight = " + std::to_string(2 * kBatchBytes + kBatchBytes / 2) + "\n";
  options.admin_listen = "127.0.0.1:0";
  Daemon daemon(options);
  daemon.start();
  std::size_t events_a = 0;
  std::size_t events_b = 0;
  const std::string body_a = batch_of("a", kBatchBytes, events_a);
  const std::string body_b = batch_of("b", kBatchBytes, events_b);

  // Two batches of the connector "ent" admitted (100 Continue): its bound is reached.
  RawConnection first(daemon.port());
  RawConnection second(daemon.port());
  for (RawConnection* c : {&first, &second}) {
    ASSERT_TRUE(c->send(batch_header(kEntToken, kBatchBytes, true)));
    ASSERT_EQ(c->read(3s).status, 100);
  }

  // A third from "ent": 429 before its body is sent, or after it when it did not ask.
  {
    RawConnection asking(daemon.port());
    ASSERT_TRUE(asking.send(batch_header(kEntToken, kBatchBytes, true)));
    const auto refused = asking.read(3s);
    EXPECT_EQ(refused.status, 429) << refused.head;
    EXPECT_THAT(refused.head, HasSubstr("Retry-After: 2\r\n"));
    EXPECT_THAT(refused.body, HasSubstr("urn:treve:problem:connector-busy"));
    EXPECT_TRUE(asking.closed_within(2s));
  }
  {
    RawConnection sending(daemon.port());
    ASSERT_TRUE(sending.send(batch_header(kEntToken, kBatchBytes, false) + body_a));
    const auto refused = sending.read(10s);
    EXPECT_EQ(refused.status, 429) << refused.head;
    EXPECT_THAT(refused.head, HasSubstr("Retry-After: 2\r\n"));
  }
  // A batch from "alert" would pass the server's bound: 503.
  {
    RawConnection other(daemon.port());
    ASSERT_TRUE(other.send(batch_header(kAlertToken, kBatchBytes, true)));
    const auto refused = other.read(3s);
    EXPECT_EQ(refused.status, 503) << refused.head;
    EXPECT_THAT(refused.head, HasSubstr("Retry-After: 2\r\n"));
    EXPECT_THAT(refused.body, HasSubstr("urn:treve:problem:server-busy"));
  }
  // A small event still fits, and is answered at once.
  HttpClient small(daemon.port());
  auto start = Clock::now();
  const auto posted = small.post_event(simple_event("small-1"), kAlertToken);
  EXPECT_EQ(posted.status, 202) << posted;
  EXPECT_LT(Clock::now() - start, 1s);

  // The admitted bodies arrive: while they are parsed and stored, the listeners still answer
  // at once (the parsing is not on their threads).
  start = Clock::now();
  ASSERT_TRUE(first.send(body_a));
  ASSERT_TRUE(second.send(body_b));
  const auto sent = Clock::now();
  HttpClient admin(daemon.admin_port());
  EXPECT_EQ(admin.request(bhttp::verb::get, "/favicon.ico").status, 204);
  EXPECT_EQ(small.healthz().status, 200);
  const auto small_latency = Clock::now() - sent;
  const auto answer_a = first.read(120s);
  const auto answer_b = second.read(120s);
  const auto batches_took = Clock::now() - start;
  ASSERT_EQ(answer_a.status, 200) << answer_a.head;
  ASSERT_EQ(answer_b.status, 200) << answer_b.head;
  EXPECT_EQ(static_cast<std::size_t>(std::count(answer_a.body.begin(), answer_a.body.end(), '\n')),
            events_a);
  EXPECT_EQ(static_cast<std::size_t>(std::count(answer_b.body.begin(), answer_b.body.end(), '\n')),
            events_b);
  EXPECT_LT(small_latency, batches_took / 4)
      << "small requests waited "
      << std::chrono::duration_cast<std::chrono::milliseconds>(small_latency).count()
      << " ms for batches that took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(batches_took).count() << " ms";

  // Their bytes are given back with their answers.
  const auto again = small.post_batch(simple_event("after-1") + "\n");
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(daemon.log_count("event=ingest.body_refused connector=ent bound=connector"), 1u)
      << daemon.stderr_log();
  EXPECT_EQ(daemon.log_count("event=ingest.body_refused connector=alert bound=total"), 1u);
}

}  // namespace
}  // namespace treve::itest
