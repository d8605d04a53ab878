// Test harness for the real daemon: runs `treve serve` as a child process on loopback with a
// temporary configuration and state directory, talks to it over HTTP/1.1 (a small blocking
// Boost.Beast client with keep-alive), and reads its SQLite database directly (read-only).
//
// Also an independent implementation of the audit trail's canonical encoding and hash chain
// (from the format documented in daemon/store/audit_record.h), so that the tests check the
// daemon's chain without reusing its code.
//
// Header-only; everything is `inline` because several test files include it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tokens.h"

namespace treve::itest {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

inline const std::string& kBinary = test::kTreveBinary;
using test::kAlertToken;  // connector "alert", may_bypass = true
using test::kDpdToken;
using test::kDurandToken;
using test::kEntToken;  // connector "ent", may_bypass = false
using test::kRectoratToken;
using test::kUnknownToken;
inline const std::string kUai = "0750654D";  // a valid UAI (Paris)
inline const std::string kGenesis(64, '0');

// ---- small utilities -------------------------------------------------------------------------

inline std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0F];
  }
  return out;
}

inline std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return hex(digest, sizeof digest);
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Percent-encodes everything but RFC 3986 unreserved characters (for an id in a URL path).
inline std::string url_encode(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0x0F];
    }
  }
  return out;
}

// "2026-12-07T18:59:58.250Z".
inline std::string utc_rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const std::time_t secs = std::chrono::system_clock::to_time_t(ms);
  std::tm utc{};
  ::gmtime_r(&secs, &utc);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms.time_since_epoch().count() % 1000));
  return buf;
}

inline std::string event_path(std::string_view id) {
  return "/v1/events/" + url_encode(id);
}

using test::TempDir;

// ---- events ----------------------------------------------------------------------------------

struct Recipient {
  std::string id;
  std::string role = "student";
  std::string of;  // parents only; empty: none
};

struct EventSpec {
  std::string id;
  std::string category = "message";
  std::vector<Recipient> recipients;  // empty: one student "r-<id>"
  bool urgent = false;
  std::string title = "Nouveau message";
  json::value payload = json::object{{"n", 1}};
  std::string establishment = kUai;
};

inline json::object event_object(const EventSpec& spec) {
  json::array recipients;
  std::vector<Recipient> rs = spec.recipients;
  if (rs.empty())
    rs.push_back({"r-" + spec.id, "student", ""});
  for (const auto& r : rs) {
    json::object o{{"id", r.id}, {"role", r.role}};
    if (!r.of.empty())
      o["of"] = r.of;
    recipients.push_back(std::move(o));
  }
  return json::object{
      {"id", spec.id},
      {"establishment", spec.establishment},
      {"category", spec.category},
      {"recipients", std::move(recipients)},
      {"created_at", "2026-11-27T21:14:03+01:00"},
      {"urgent", spec.urgent},
      {"title", spec.title},
      {"payload", spec.payload},
  };
}

inline std::string event_body(const EventSpec& spec) {
  return json::serialize(event_object(spec));
}

inline std::string simple_event(const std::string& id, int recipients = 1) {
  EventSpec spec;
  spec.id = id;
  for (int i = 0; i < recipients; ++i)
    spec.recipients.push_back({id + "-r" + std::to_string(i), "student", ""});
  return event_body(spec);
}

// ---- HTTP client -----------------------------------------------------------------------------

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        return v;
      }
    }
    return std::nullopt;
  }
  json::value json() const { return json::parse(body); }
  json::object object() const { return json::parse(body).as_object(); }
};

inline std::ostream& operator<<(std::ostream& os, const HttpResponse& r) {
  return os << "HTTP " << r.status << " " << r.body;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A blocking HTTP/1.1 client on one keep-alive connection (reconnects when the server closed
// it). Network errors are thrown as boost::system::system_error. Not thread-safe: one per thread.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::chrono::milliseconds timeout = 15s)
      : port_(port), timeout_(timeout) {}

  HttpResponse request(bhttp::verb method, const std::string& target, const std::string& body = "",
                       const Headers& headers = {}) {
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port_));
    req.set(bhttp::field::user_agent, "treve-integration-tests");
    for (const auto& [k, v] : headers)
      req.set(k, v);
    req.keep_alive(true);
    if (!body.empty() || method == bhttp::verb::post || method == bhttp::verb::put) {
      req.body() = body;
      req.prepare_payload();
    }
    if (!stream_)
      connect();
    stream_->expires_after(timeout_);
    try {
      bhttp::write(*stream_, req);
    } catch (const boost::system::system_error&) {
      // A kept-alive connection the server closed meanwhile: one fresh attempt.
      connect();
      stream_->expires_after(timeout_);
      bhttp::write(*stream_, req);
    }
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (method == bhttp::verb::head)
      parser.skip(true);
    try {
      stream_->expires_after(timeout_);
      bhttp::read(*stream_, buffer_, parser);
    } catch (...) {
      close();
      throw;
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res)
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    out.keep_alive = res.keep_alive();
    if (!out.keep_alive)
      close();
    return out;
  }

  HttpResponse post_event(const std::string& body, const std::string& token = kEntToken,
                          const std::string& content_type = "application/json") {
    Headers h{{"Content-Type", content_type}};
    if (!token.empty())
      h.emplace_back("Authorization", "Bearer " + token);
    return request(bhttp::verb::post, "/v1/events", body, h);
  }
  HttpResponse post_batch(const std::string& body, const std::string& token = kEntToken,
                          const std::string& content_type = "application/x-ndjson") {
    return request(bhttp::verb::post, "/v1/events:batch", body,
                   {{"Content-Type", content_type}, {"Authorization", "Bearer " + token}});
  }
  HttpResponse get_event(const std::string& id, const std::string& token = kEntToken) {
    return request(bhttp::verb::get, event_path(id), "", {{"Authorization", "Bearer " + token}});
  }
  HttpResponse delete_event(const std::string& id, const std::string& token = kEntToken) {
    return request(bhttp::verb::delete_, event_path(id), "",
                   {{"Authorization", "Bearer " + token}});
  }
  HttpResponse healthz() { return request(bhttp::verb::get, "/healthz"); }

  void close() {
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
      stream_->close();
    }
    stream_.reset();
    buffer_.clear();
  }

 private:
  void connect() {
    close();
    stream_.emplace(ioc_);
    stream_->expires_after(timeout_);
    stream_->connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    stream_->socket().set_option(net::ip::tcp::no_delay(true));
  }

  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

// One connection from a chosen loopback address, with plain blocking sockets and poll(2)
// timeouts, so that a connection the daemon leaves unanswered is seen as such.
class RawConnection {
 public:
  struct Answer {
    int status = 0;  // 0: nothing (or not all of it) within the timeout, or closed first
    std::string head;
    std::string body;
  };

  RawConnection(std::uint16_t port, const std::string& source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
                 ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  Answer read(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto end = buffer_.find("\r\n\r\n"); end != std::string::npos) {
        Answer a;
        a.head = buffer_.substr(0, end + 2);
        std::size_t length = 0;
        std::string lower = a.head;
        for (char& c : lower)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos)
          length = std::stoul(lower.substr(at + 17));
        if (buffer_.size() >= end + 4 + length) {
          a.status = std::stoi(a.head.substr(9, 3));
          a.body = buffer_.substr(end + 4, length);
          buffer_.erase(0, end + 4 + length);
          return a;
        }
      }
      if (!fill(deadline))
        return {};
    }
  }

  // True when the daemon closes the connection within `timeout` (what it sent is dropped).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    return closed_;
  }

 private:
  // Reads what is there, waiting until `deadline`; false on timeout or once closed.
  bool fill(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (closed_ || left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffer_;
};

// The JSON objects of a JSON Lines text (a command's --json or jsonl output), blank lines aside.
inline std::vector<json::object> json_lines(const std::string& text) {
  std::vector<json::object> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty())
      out.push_back(json::parse(line).as_object());
  }
  return out;
}

// A request as bytes, for RawConnection.
inline std::string raw_request(const std::string& method, const std::string& target,
                               const std::string& body = "", const std::string& token = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty())
    r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST") {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

// ---- SQLite ----------------------------------------------------------------------------------

// A read-only connection to the daemon's database, for counting and reading rows.
class Db {
 public:
  using Row = std::vector<std::optional<std::string>>;

  explicit Db(const std::string& path, bool read_only = true) {
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw std::runtime_error("cannot open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one statement with text parameters; every column comes back as text (or nullopt).
  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {}) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot prepare: " + std::string(sqlite3_errmsg(db_)) + " in " +
                               sql);
    for (std::size_t i = 0; i < params.size(); ++i) {
      sqlite3_bind_text(stmt, static_cast<int>(i + 1), params[i].data(),
                        static_cast<int>(params[i].size()), SQLITE_TRANSIENT);
    }
    std::vector<Row> rows;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      Row row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
          row.emplace_back(std::nullopt);
        } else {
          auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
          row.emplace_back(std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    std::string err = sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      throw std::runtime_error("query failed: " + err + " in " + sql);
    return rows;
  }

  std::int64_t scalar(const std::string& sql, const std::vector<std::string>& params = {}) {
    auto rows = query(sql, params);
    if (rows.empty() || rows[0].empty() || !rows[0][0])
      return 0;
    return std::stoll(*rows[0][0]);
  }

  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// ---- the audit chain, implemented independently ----------------------------------------------

struct AuditRow {
  std::int64_t seq = 0;
  std::int64_t at = 0;
  std::string at_local, kind, source, event_id, establishment, category, recipient, role, detail,
      prev_hash, hash;
};

inline std::vector<AuditRow> read_audit(Db& db) {
  std::vector<AuditRow> out;
  for (auto& r : db.query("SELECT seq, at, at_local, kind, source, event_id, establishment, "
                          "category, recipient, role, detail, prev_hash, hash FROM audit "
                          "ORDER BY seq")) {
    AuditRow a;
    a.seq = std::stoll(r[0].value_or("0"));
    a.at = std::stoll(r[1].value_or("0"));
    a.at_local = r[2].value_or("");
    a.kind = r[3].value_or("");
    a.source = r[4].value_or("");
    a.event_id = r[5].value_or("");
    a.establishment = r[6].value_or("");
    a.category = r[7].value_or("");
    a.recipient = r[8].value_or("");
    a.role = r[9].value_or("");
    a.detail = r[10].value_or("");
    a.prev_hash = r[11].value_or("");
    a.hash = r[12].value_or("");
    out.push_back(std::move(a));
  }
  return out;
}

// A JSON string per RFC 8259: '"' and '\' escaped, the five control characters that have a
// short form written so, every other character below U+0020 as \u00xx (lower-case hex), all
// else (including UTF-8 sequences) as is.
inline std::string canonical_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20) {
      out += static_cast<char>(c);
    } else {
      static const std::map<unsigned char, char> kShort{
          {'\b', 'b'}, {'\f', 'f'}, {'\n', 'n'}, {'\r', 'r'}, {'\t', 't'}};
      if (auto it = kShort.find(c); it != kShort.end()) {
        out += '\\';
        out += it->second;
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      }
    }
  }
  out += '"';
  return out;
}

// [seq, at_ms, at_local, kind, source, event_id, establishment, category, recipient, role,
//  detail]: compact, integers as numbers, everything else as strings.
inline std::string canonical_audit(const AuditRow& r) {
  std::ostringstream s;
  s << '[' << r.seq << ',' << r.at;
  for (const std::string* f : {&r.at_local, &r.kind, &r.source, &r.event_id, &r.establishment,
                               &r.category, &r.recipient, &r.role, &r.detail}) {
    s << ',' << canonical_string(*f);
  }
  s << ']';
  return s.str();
}

// Empty when the whole chain verifies from genesis; otherwise names the first bad record.
inline std::string verify_chain(const std::vector<AuditRow>& rows) {
  std::string prev = kGenesis;
  std::int64_t expected_seq = 1;
  for (const auto& r : rows) {
    const std::string at = "audit record seq=" + std::to_string(r.seq) + ": ";
    if (r.seq != expected_seq)
      return at + "expected seq " + std::to_string(expected_seq);
    if (r.prev_hash != prev)
      return at + "prev_hash " + r.prev_hash + " does not match the previous hash " + prev;
    const std::string computed = sha256_hex(prev + "\n" + canonical_audit(r));
    if (computed != r.hash)
      return at + "hash " + r.hash + " but recomputed " + computed + " over " + canonical_audit(r);
    prev = r.hash;
    ++expected_seq;
  }
  return {};
}

// hex(HMAC-SHA-256(key, source + "\n" + recipient))[0:32], as audit_record.h documents.
inline std::string expected_pseudonym(const std::string& key, const std::string& source,
                                      const std::string& recipient) {
  std::string input = source + "\n" + recipient;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &len);
  return hex(digest, 16);
}

// The audit records about one delivery (source, event id, recipient), in order; with `sink`,
// only those whose detail names that sink: one copy of the delivery.
inline std::vector<AuditRow> audit_of(Db& db, const std::string& key, const std::string& source,
                                      const std::string& event_id, const std::string& recipient,
                                      const std::string& sink = "") {
  const std::string pseudonym = expected_pseudonym(key, source, recipient);
  std::vector<AuditRow> out;
  for (auto& r : read_audit(db)) {
    if (r.source != source || r.event_id != event_id || r.recipient != pseudonym)
      continue;
    if (!sink.empty()) {
      boost::system::error_code ec;
      const json::value detail = json::parse(r.detail, ec);
      const json::value* named =
          !ec && detail.is_object() ? detail.as_object().if_contains("sink") : nullptr;
      if (named == nullptr || !named->is_string() || named->as_string() != sink)
        continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

// The kinds of `rows`, in order: {"released", "delivered"}.
inline std::vector<std::string> kinds_of(const std::vector<AuditRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back(r.kind);
  return out;
}

// "HH:MM" of an instant, in UTC.
inline std::string utc_hhmm(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", utc.tm_hour, utc.tm_min);
  return buf;
}

// "HH:MM" in UTC, `ahead` from now: a quiet window from utc_hhmm_ahead(10h) to
// utc_hhmm_ahead(12h) leaves now open.
inline std::string utc_hhmm_ahead(std::chrono::hours ahead) {
  return utc_hhmm(std::chrono::system_clock::now() + ahead);
}

// ---- the daemon ------------------------------------------------------------------------------

struct DaemonOptions {
  std::optional<std::size_t> max_body_bytes;
  std::optional<std::size_t> max_batch_body_bytes;
  // Extra environment for the child, e.g. {"TZ", "Europe/Paris"}.
  std::vector<std::pair<std::string, std::string>> env;
  // Empty: a fresh directory inside the daemon's temporary directory.
  std::string state_dir;
  // TOML appended to the configuration, such as "[audit]\nhead_log_every = 10\n".
  std::string extra_config;
  // The policy, for every day. Empty quiet_start/quiet_end: quiet but for one minute twelve
  // hours away (everything non-urgent is held). Empty timezone: each UAI's own zone.
  std::string quiet_start;
  std::string quiet_end;
  std::string parent_grade_delay = "24h";
  std::string timezone = "UTC";
  // Empty: a unix socket in the daemon's directory. "127.0.0.1:0": TCP, see admin_port().
  std::string admin_listen;
  // The national default windows instead of the all-but-one-minute one above.
  bool national_windows = false;
  // TOML lines added to [server], such as "max_bytes_in_flight = 1048576\n".
  std::string server_config;
  // TOML lines added to [policy], such as "digest = \"morning\"\n".
  std::string policy_config;
  // Set: the daemon runs under this soft and hard RLIMIT_NOFILE (through prlimit(1)), as under
  // a unit's LimitNOFILE=; the hard one may be set apart.
  std::optional<unsigned> open_file_limit;
  std::optional<unsigned> open_file_hard_limit;
  // Set (a build with TREVE_TESTING only): the daemon's wall clock runs this far ahead of the
  // real one, through the test hook `[testing] clock_start`, written at every start as the
  // real time plus this offset.
  std::optional<std::chrono::milliseconds> clock_offset;
};

// A daemon with its admin API on loopback TCP and one administrator of every establishment,
// "Rectorat", whose token is kRectoratToken.
inline DaemonOptions with_rectorat_admin(DaemonOptions o = {}) {
  o.admin_listen = "127.0.0.1:0";
  o.extra_config += "\n[[admins]]\nname = \"Rectorat\"\ntoken_sha256 = \"" +
                    sha256_hex(test::kRectoratToken) + "\"\nrole = \"admin\"\nscope = \"*\"\n";
  return o;
}

using test::ProcessResult;

// Runs `treve args…` to completion with `input` on its standard input.
inline ProcessResult run_treve(const std::vector<std::string>& args,
                               const std::string& input = "") {
  return test::run(test::command(kBinary, args), input);
}

// Port 0 in `server.listen`: tried first; when the configuration refuses it (see the report in
// ingest_api_test.cpp, ServeHarness.ListenOnPortZeroIsAccepted) a free port is picked instead.
inline std::uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The daemon `treve serve` in a child process.
//
// Policy: every establishment in UTC, one quiet window on every day covering all but one
// minute, [H:00, H:01) UTC with H twelve hours away from the time the Daemon object is made;
// so every non-urgent event is held (until the next H:00) for as long as a test can run, and
// the release instants are the same across restarts of the same Daemon.
class Daemon {
 public:
  explicit Daemon(DaemonOptions options = {}) : options_(std::move(options)), dir_("treve-it") {
    state_dir_ = options_.state_dir.empty() ? (dir_.path() / "state").string() : options_.state_dir;
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    gap_hour_ = (utc.tm_hour + 12) % 24;
  }
  ~Daemon() {
    if (pid() > 0)
      kill();
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The clock offset of the next starts (DaemonOptions::clock_offset): the daemon's time jumps.
  void set_clock_offset(std::optional<std::chrono::milliseconds> offset) {
    options_.clock_offset = offset;
  }

  // Starts the daemon and waits for `event=serve.ready`; throws with its stderr on failure.
  void start() {
    if (pid() > 0)
      throw std::runtime_error("the daemon is already running");
    for (int attempt = 0; attempt < 5; ++attempt) {
      const bool zero = port_zero_works();
      const std::uint16_t wanted = zero ? 0 : free_loopback_port();
      write_config(wanted);
      const std::size_t offset = log_size();
      spawn();
      std::string why;
      if (wait_ready(offset, why))
        return;
      const std::string log = stderr_log().substr(offset);
      if (zero && log.find("server.listen") != std::string::npos &&
          log.find("serve.ready") == std::string::npos) {
        port_zero_works() = false;  // the configuration refuses port 0: use a free port
        continue;
      }
      if (log.find("listen_failed") != std::string::npos)
        continue;  // the free port was taken meanwhile
      throw std::runtime_error("treve serve did not become ready (" + why + "):\n" + log);
    }
    throw std::runtime_error("treve serve could not listen:\n" + stderr_log());
  }

  // SIGTERM; the exit status (128 + signal when killed by one; -2 if it had to be killed after
  // `timeout`).
  int stop(std::chrono::milliseconds timeout = 10s) {
    if (pid() <= 0)
      return last_status_;
    process_->signal(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (reap(false))
        return last_status_;
      if (std::chrono::steady_clock::now() > deadline) {
        kill();
        last_status_ = -2;
        return last_status_;
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  // SIGKILL, then reaps the child.
  void kill() {
    if (pid() <= 0)
      return;
    process_->signal(SIGKILL);
    reap(true);
  }

  void restart() {
    stop();
    start();
  }

  // Waits for a child that is dying anyway (SIGKILLed by the test); its exit status.
  int wait_exit() {
    reap(true);
    return last_status_;
  }

  bool running() { return pid() > 0 && !reap(false); }

  std::uint16_t port() const { return port_; }
  // The admin listener's port when DaemonOptions::admin_listen is TCP.
  std::uint16_t admin_port() const { return admin_port_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  const std::string& state_dir() const { return state_dir_; }
  std::string db_path() const { return state_dir_ + "/treve.db"; }
  std::string key_path() const { return state_dir_ + "/pseudonym.key"; }
  std::string config_path() const { return (dir_.path() / "treve.toml").string(); }
  std::string stderr_path() const { return (dir_.path() / "stderr.log").string(); }
  std::string stderr_log() const { return read_file(stderr_path()); }
  int gap_hour() const { return gap_hour_; }

  // Rewrites the configuration file of the running daemon (same listener and state), with
  // `change` applied to the options: for reloads.
  void rewrite_config(const std::function<void(DaemonOptions&)>& change) {
    change(options_);
    write_config(written_port_);
  }

  // Counts the occurrences of `needle` in the daemon's log.
  std::size_t log_count(std::string_view needle) const {
    const std::string log = stderr_log();
    std::size_t n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
      ++n;
    return n;
  }

  // Waits for `needle` in the daemon's log; false after `timeout`.
  bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stderr_log().find(needle) != std::string::npos)
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

 private:
  static bool& port_zero_works() {
    static bool works = true;
    return works;
  }

  void write_config(std::uint16_t port) {
    written_port_ = port;
    char gap_start[8], gap_end[8];
    std::snprintf(gap_end, sizeof gap_end, "%02d:00", gap_hour_);
    std::snprintf(gap_start, sizeof gap_start, "%02d:01", gap_hour_);
    const std::string start = options_.quiet_start.empty() ? gap_start : options_.quiet_start;
    const std::string end = options_.quiet_end.empty() ? gap_end : options_.quiet_end;
    std::ostringstream c;
    c << "[server]\n"
      << "listen = \"127.0.0.1:" << port << "\"\n"
      << "admin_listen = \""
      << (options_.admin_listen.empty() ? "unix:" + (dir_.path() / "admin.sock").string()
                                        : options_.admin_listen)
      << "\"\n"
      << "state_dir = \"" << state_dir_ << "\"\n";
    if (options_.max_body_bytes)
      c << "max_body_bytes = " << *options_.max_body_bytes << "\n";
    if (options_.max_batch_body_bytes)
      c << "max_batch_body_bytes = " << *options_.max_batch_body_bytes << "\n";
    c << options_.server_config;
    c << "\n[policy]\n";
    if (!options_.timezone.empty())
      c << "timezone = \"" << options_.timezone << "\"\n";
    c << "parent_grade_delay = \"" << options_.parent_grade_delay << "\"\n"
      << "urgent_categories = [\"alert\"]\n"
      << "holidays = []\n";
    c << options_.policy_config;
    if (!options_.national_windows) {
      c << "\n[[policy.quiet]]\n"
        << "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
        << "start = \"" << start << "\"\n"
        << "end = \"" << end << "\"\n";
    }
    c << "\n[[connectors]]\nname = \"ent\"\n"
      << "token_sha256 = \"" << sha256_hex(kEntToken) << "\"\nmay_bypass = false\n"
      << "\n[[connectors]]\nname = \"alert\"\n"
      << "token_sha256 = \"" << sha256_hex(kAlertToken) << "\"\nmay_bypass = true\n"
      << options_.extra_config;
    if (options_.clock_offset)
      c << "\n[testing]\nclock_start = \""
        << utc_rfc3339(std::chrono::system_clock::now() + *options_.clock_offset) << "\"\n";
    std::ofstream(config_path(), std::ios::binary | std::ios::trunc) << c.str();
  }

  std::size_t log_size() const {
    std::error_code ec;
    auto n = fs::file_size(stderr_path(), ec);
    return ec ? 0 : static_cast<std::size_t>(n);
  }

  void spawn() {
    test::Command c;
    c.program = kBinary;
    c.args = {"serve", "--config", config_path()};
    if (options_.open_file_limit) {
      // prlimit executes the daemon in its own process: the pid is the daemon's.
      c.program = "/usr/bin/prlimit";
      const std::string soft = std::to_string(*options_.open_file_limit);
      const std::string hard =
          std::to_string(options_.open_file_hard_limit.value_or(*options_.open_file_limit));
      c.args.insert(c.args.begin(), {"--nofile=" + soft + ":" + hard, "--", kBinary});
    }
    // The environment: ours, with the extras in place of ours.
    c.env = options_.env;
    c.stdout_path = (dir_.path() / "stdout.log").string();
    c.stderr_path = stderr_path();
    c.append = true;
    // The child starts with default signal dispositions and an empty mask.
    c.default_signals = true;
    process_.emplace(c);
  }

  bool wait_ready(std::size_t offset, std::string& why) {
    static constexpr std::string_view kReady = "event=serve.ready listen=";
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string log = stderr_log();
      if (log.size() > offset) {
        auto at = log.find(kReady, offset);
        if (at != std::string::npos) {
          auto begin = at + kReady.size();
          auto end = log.find_first_of(" \n", begin);
          if (end != std::string::npos) {
            std::string endpoint = log.substr(begin, end - begin);
            auto colon = endpoint.rfind(':');
            port_ = static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1)));
            auto admin = log.find(" admin=", at);
            auto line_end = log.find('\n', at);
            if (admin != std::string::npos && admin < line_end) {
              auto from = admin + 7;
              std::string where = log.substr(from, log.find(' ', from) - from);
              auto c = where.rfind(':');
              if (!where.starts_with("unix:") && c != std::string::npos)
                admin_port_ = static_cast<std::uint16_t>(std::stoi(where.substr(c + 1)));
            }
            return true;
          }
        }
      }
      if (reap(false)) {
        why = "exited with status " + std::to_string(last_status_);
        return false;
      }
      std::this_thread::sleep_for(2ms);
    }
    kill();
    why = "timed out";
    return false;
  }

  // True once the child has exited (and was reaped).
  bool reap(bool block) {
    if (pid() <= 0)
      return true;
    if (!process_->reap(block))
      return false;
    last_status_ = process_->status();
    return true;
  }

  DaemonOptions options_;
  TempDir dir_;
  std::string state_dir_;
  int gap_hour_ = 0;
  std::optional<test::Process> process_;
  int last_status_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t written_port_ = 0;
  std::uint16_t admin_port_ = 0;  // in the configuration file (0: the system picks)
};

// An RFC 3339 instant as the daemon writes it ("2026-11-28T19:31:00+01:00",
// "2026-11-28T19:31:00.250Z"), read independently of the daemon's own parser: nullopt when
// malformed.
inline std::optional<std::chrono::system_clock::time_point> parse_instant(const std::string& s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 ||
      std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
    return std::nullopt;
  std::size_t pos = 19;
  long long frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 3)
        frac_ms = frac_ms * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    for (; digits < 3; ++digits)
      frac_ms *= 10;
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = std::stoi(s.substr(pos + 1, 2));
    int om = std::stoi(s.substr(pos + 4, 2));
    offset = std::chrono::minutes(oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  using namespace std::chrono;
  const sys_days day = year(y) / month(static_cast<unsigned>(mo)) / d;
  return std::chrono::system_clock::time_point(day + hours(h) + minutes(mi) + seconds(sec) +
                                               milliseconds(frac_ms) - offset);
}

}  // namespace treve::itest
