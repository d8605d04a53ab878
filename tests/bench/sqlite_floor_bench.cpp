// The floor of SQLite alone for trêve's ingest write: how many events per second one SQLite
// writer stores, with nothing else in the way (no HTTP, no JSON parsing, no policy, no commit
// queue). Each run writes --events events on a fresh database, in transactions of K events
// committed with an fsync each (WAL, synchronous=FULL), the way SqliteStore::accept does: per
// event the lookup by (source, event_id), the events row, per recipient (1–3, 2 on average) a
// held delivery and its audit record, one `received` record, and the meta counter once per
// transaction. Layouts:
//   current  the schema after every migration of daemon/store/sqlite_schema.cpp, the rows
//            SqliteStore writes today (hex hashes with prev_hash, the stored response, reasons
//            as text, at_local);
//   lean     the same information in less room: hashes and body digest as 32-byte blobs, no
//            prev_hash (it is the previous record's hash), no stored response (rebuilt from
//            the deliveries), reasons as a code and short arguments, states as integers,
//            at_local replaced by the UTC offset in minutes it is rebuilt from;
//   lean1    lean with one audit record per event: the `received` record lists its held
//            deliveries instead of one `held` record each.
// The audit chain (canonical encoding + SHA-256, one EVP context reused) is computed in the
// timed loop, or not (`-nohash`: the same bytes stored, nothing computed). Row contents are
// built before each transaction and not timed; the pseudonyms are drawn, not computed. The
// background checkpointer is off during a run, so that the WAL's growth is what a run wrote.
// Also prints the disk's raw rate of 4 KB write + fdatasync in the same directory, and its rate
// of sequential writes ended by one fdatasync (what a large commit's WAL frames meet).
//
//   bench_sqlite_floor [--events N] [--reps R] [--k 1000,32] [--only NAME,...]
//                      [--ids random|ordered] [--dir BASE] [--keep] [--list]
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

#include "daemon/store/sqlite_store.h"

namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_sqlite_floor: %s\n", what.c_str());
  std::exit(1);
}

// Every SQLite call goes through here: anything but the expected code ends the program.
void check(sqlite3* db, int rc, int expected, const char* what) {
  if (rc != expected) {
    die(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + " (" +
        std::to_string(rc) + ")");
  }
}

void exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    die(std::string(sql) + ": " + text);
  }
}

// A statement prepared once and reused; values bound with SQLITE_STATIC (they must stay alive
// until the step).
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st_, nullptr), SQLITE_OK,
          sql);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& text(int i, std::string_view s) {
    // An empty view may have no data pointer, which SQLite would store as NULL.
    const char* p = s.data() ? s.data() : "";
    check(db_, sqlite3_bind_text(st_, i, p, static_cast<int>(s.size()), SQLITE_STATIC), SQLITE_OK,
          "bind text");
    return *this;
  }
  Stmt& blob(int i, std::span<const unsigned char> b) {
    check(db_, sqlite3_bind_blob(st_, i, b.data(), static_cast<int>(b.size()), SQLITE_STATIC),
          SQLITE_OK, "bind blob");
    return *this;
  }
  Stmt& integer(int i, std::int64_t v) {
    check(db_, sqlite3_bind_int64(st_, i, v), SQLITE_OK, "bind integer");
    return *this;
  }
  Stmt& null(int i) {
    check(db_, sqlite3_bind_null(st_, i), SQLITE_OK, "bind null");
    return *this;
  }
  // SQLITE_ROW or SQLITE_DONE; anything else ends the program.
  int step() {
    int rc = sqlite3_step(st_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      check(db_, rc, SQLITE_DONE, sqlite3_sql(st_));
    return rc;
  }
  void run() { check(db_, step(), SQLITE_DONE, sqlite3_sql(st_)); }
  void reset() { check(db_, sqlite3_reset(st_), SQLITE_OK, "reset"); }
  std::int64_t column_int(int c) const { return sqlite3_column_int64(st_, c); }
  std::string_view column_bytes(int c) const {
    const void* p = sqlite3_column_blob(st_, c);
    return p ? std::string_view(static_cast<const char*>(p),
                                static_cast<std::size_t>(sqlite3_column_bytes(st_, c)))
             : std::string_view();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

// ---- the schemas ----

// The current schema is the store's own (SqliteStore::migrations, after its meta table).

// The lean layout: the same tables and indexes, the same information, in fewer bytes.
constexpr const char* kLeanSchema[] = {
    R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  establishment TEXT NOT NULL,
  category TEXT NOT NULL,
  urgent INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  timezone TEXT NOT NULL,
  body TEXT,
  body_sha256 BLOB NOT NULL,
  UNIQUE (source, event_id)
);
CREATE INDEX events_with_body ON events (received_at) WHERE body IS NOT NULL;
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY,
  event INTEGER NOT NULL REFERENCES events(id),
  recipient TEXT NOT NULL,
  role TEXT NOT NULL,
  state INTEGER NOT NULL,
  release_at INTEGER NOT NULL,
  reason INTEGER NOT NULL,
  reason_args TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  updated_at INTEGER NOT NULL,
  ready_seq INTEGER,
  released_at INTEGER,
  first_attempt_at INTEGER,
  sink TEXT,
  last_error TEXT,
  digest TEXT
);
CREATE INDEX deliveries_by_state_release ON deliveries (state, release_at, seq);
CREATE INDEX deliveries_by_event ON deliveries (event);
CREATE INDEX deliveries_ready ON deliveries (ready_seq) WHERE ready_seq IS NOT NULL;
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  at_offset INTEGER NOT NULL,
  kind TEXT NOT NULL,
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  establishment TEXT NOT NULL,
  category TEXT NOT NULL,
  recipient TEXT NOT NULL,
  role TEXT NOT NULL,
  detail TEXT NOT NULL,
  hash BLOB NOT NULL
);
-- The tables no ingest writes (policy_versions, awaiting) are left out: they change nothing here.
INSERT INTO meta (key, value) VALUES ('ready_seq', '0'), ('events', '0'),
  ('schema_version', 'lean');
)sql",
};

enum class Layout { current, lean, lean1 };

struct Config {
  std::string name;
  Layout layout = Layout::current;
  bool hash = true;
  int page_size = 4096;
  int cache_kib = 32768;  // what SqliteStore::open sets
};

std::vector<Config> all_configs() {
  return {
      {"current", Layout::current, true, 4096, 32768},
      {"current-nohash", Layout::current, false, 4096, 32768},
      {"current-p16k", Layout::current, true, 16384, 32768},
      {"lean", Layout::lean, true, 4096, 32768},
      {"lean-nohash", Layout::lean, false, 4096, 32768},
      {"lean1", Layout::lean1, true, 4096, 32768},
      {"lean1-nohash", Layout::lean1, false, 4096, 32768},
      {"lean1-p8k", Layout::lean1, true, 8192, 32768},
      {"lean1-p16k", Layout::lean1, true, 16384, 32768},
      {"lean1-c8m", Layout::lean1, true, 4096, 8192},
      {"current-c8m", Layout::current, true, 4096, 8192},
  };
}

// ---- the row contents ----

// Days since 1970-01-01 of a civil date, and back (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

void put_digits(std::string& out, long long v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 || n < width);
  while (n > 0)
    out += buf[--n];
}

constexpr std::int64_t kDayMs = 86'400'000;

// An instant as trêve's audit records write it (policy::format_rfc3339): local time in the
// establishment's zone, milliseconds when not zero, the offset.
void append_local(std::string& out, std::int64_t at_ms, int offset_min) {
  const std::int64_t local = at_ms + std::int64_t{offset_min} * 60'000;
  const std::int64_t day = local >= 0 ? local / kDayMs : (local - kDayMs + 1) / kDayMs;
  const std::int64_t in_day = local - day * kDayMs;
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(day, y, m, d);
  put_digits(out, y, 4);
  out += '-';
  put_digits(out, m, 2);
  out += '-';
  put_digits(out, d, 2);
  out += 'T';
  put_digits(out, in_day / 3'600'000, 2);
  out += ':';
  put_digits(out, in_day / 60'000 % 60, 2);
  out += ':';
  put_digits(out, in_day / 1000 % 60, 2);
  if (in_day % 1000 != 0) {
    out += '.';
    put_digits(out, in_day % 1000, 3);
  }
  const int a = offset_min < 0 ? -offset_min : offset_min;
  out += offset_min < 0 ? '-' : '+';
  put_digits(out, a / 60, 2);
  out += ':';
  put_digits(out, a % 60, 2);
}

// A JSON string (RFC 8259 escaping) appended to `out`.
void append_json(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_hex(std::string& out, std::span<const unsigned char> bytes) {
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
}

struct Establishment {
  const char* uai;
  const char* zone;
  int offset_min;  // in September 2026
};
constexpr Establishment kEstablishments[] = {{"0750654D", "Europe/Paris", 120},
                                             {"0250001R", "Europe/Paris", 120},
                                             {"0570001S", "Europe/Paris", 120},
                                             {"9740001H", "Indian/Reunion", 240},
                                             {"9870001M", "Pacific/Tahiti", -600}};
constexpr const char* kCategories[] = {"message", "grade", "homework", "blog", "news", "alert"};
// Reasons as SqliteStore stores them today (~60 bytes), and as a code with short arguments.
struct Reason {
  const char* text;
  int code;
  const char* args;
};
constexpr Reason kReasons[] = {
    {"quiet window \"soir\" Mon-Thu 20:00-07:00 (strictest of 2 policies)", 3, "soir"},
    {"quiet window \"week-end\" Fri 20:00-Mon 07:00, establishment 0750654D", 3, "week-end"},
    {"quiet window Mon-Fri 19:30-07:00 for parents (policy 0570001S v4)", 3, "w2"},
};
constexpr int kHeld = 0;  // DeliveryState::held as the lean layout's integer

struct User {
  std::string id;         // entcore user ids are UUIDs
  std::string pseudonym;  // 32 hex, as Pseudonymizer writes them
};

struct Recipient {
  const User* user = nullptr;
  const char* role = "student";
  std::int64_t release_ms = 0;
  const Reason* reason = nullptr;
  std::string held_detail;       // current: {"until":"…","reason":"…"}
  std::string lean_held_detail;  // lean: {"until":ms,"reason":code,"args":"…"}
};

struct Event {
  std::string source = "ent";
  std::string event_id;
  const Establishment* est = nullptr;
  const char* category = nullptr;
  std::int64_t received_ms = 0;
  std::string at_local;
  std::string body;
  std::array<unsigned char, 32> body_sha{};
  std::string body_sha_hex;
  std::string response;                   // current only
  std::string received_detail;            // current and lean
  std::string lean1_received_detail;      // lean1: the deliveries listed
  std::array<Recipient, 3> recipients{};  // the first `count`
  int count = 0;
};

std::string random_hex(std::mt19937_64& rng, int n) {
  std::string s;
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < n; ++i)
    s += kHex[rng() & 15];
  return s;
}

// Deterministic events: every run of every layout stores the same ones.
class Generator {
 public:
  Generator(bool ordered_ids) : ordered_ids_(ordered_ids), rng_(20260901) {
    for (int i = 0; i < 20'000; ++i) {
      std::string h = random_hex(rng_, 32);
      users_.push_back({h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-' +
                            h.substr(16, 4) + '-' + h.substr(20, 12),
                        random_hex(rng_, 32)});
    }
    at_ms_ = days_from_civil(2026, 9, 1) * kDayMs + 16 * 3'600'000LL;
    md_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ctx_ = EVP_MD_CTX_new();
    if (!md_ || !ctx_)
      die("no SHA-256");
  }
  ~Generator() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  void next(Event& e) {
    ++n_;
    at_ms_ += 1 + static_cast<std::int64_t>(rng_() % 5);
    // Ids: MongoDB ObjectIds (24 hex) as entcore's timeline stores them; in order of time, or
    // random (the derived `etl_…` ids and several sources interleaved are nearer to that).
    e.event_id.clear();
    if (ordered_ids_) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%08llx%016llx",
                    static_cast<unsigned long long>(at_ms_ / 1000),
                    static_cast<unsigned long long>(n_));
      e.event_id = buf;
    } else {
      e.event_id = random_hex(rng_, 24);
    }
    e.est = &kEstablishments[rng_() % 5];
    e.category = kCategories[rng_() % 6];
    e.received_ms = at_ms_;
    e.at_local.clear();
    append_local(e.at_local, at_ms_, e.est->offset_min);
    e.count = 1 + static_cast<int>(rng_() % 3);
    const std::int64_t off_ms = std::int64_t{e.est->offset_min} * 60'000;
    const std::int64_t local_day = (at_ms_ + off_ms) / kDayMs;
    for (int i = 0; i < e.count; ++i) {
      Recipient& r = e.recipients[static_cast<std::size_t>(i)];
      r.user = &users_[rng_() % users_.size()];
      r.role = i == 0 ? "student" : "parent";
      r.release_ms = (local_day + 1) * kDayMs + 7 * 3'600'000LL - off_ms;
      r.reason = &kReasons[rng_() % 3];
      r.held_detail = "{\"until\":";
      std::string until;
      append_local(until, r.release_ms, e.est->offset_min);
      append_json(r.held_detail, until);
      r.held_detail += ",\"reason\":";
      append_json(r.held_detail, r.reason->text);
      r.held_detail += '}';
      r.lean_held_detail = "{\"until\":" + std::to_string(r.release_ms) +
                           ",\"reason\":" + std::to_string(r.reason->code) + ",\"args\":";
      append_json(r.lean_held_detail, r.reason->args);
      r.lean_held_detail += '}';
    }
    // The canonical event as a connector posts it (~600 bytes).
    e.body = "{\"id\":";
    append_json(e.body, e.event_id);
    e.body += ",\"establishment\":";
    append_json(e.body, e.est->uai);
    e.body += ",\"category\":";
    append_json(e.body, e.category);
    e.body += ",\"recipients\":[";
    for (int i = 0; i < e.count; ++i) {
      const Recipient& r = e.recipients[static_cast<std::size_t>(i)];
      e.body += i ? ",{\"id\":" : "{\"id\":";
      append_json(e.body, r.user->id);
      e.body += ",\"role\":";
      append_json(e.body, r.role);
      e.body += '}';
    }
    e.body += "],\"created_at\":";
    append_json(e.body, e.at_local);
    e.body += ",\"title\":\"Nouvelle note en mathématiques\",\"payload\":{\"text\":";
    std::string text = "Le devoir surveillé n°" + std::to_string(n_ % 9 + 1) +
                       " a été corrigé. Moyenne de la classe : 11,4 ; ";
    while (e.body.size() + text.size() < 560)
      text += "appréciation à lire sur l'ENT, rubrique Notes. ";
    append_json(e.body, text);
    e.body += ",\"url\":\"/competences#/releve\"}}";
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, e.body.data(), e.body.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, e.body_sha.data(), &len) != 1)
      die("SHA-256");
    e.body_sha_hex.clear();
    append_hex(e.body_sha_hex, e.body_sha);
    // The answer to the POST, stored for repeats (runtime::accepted_answer).
    e.response = "{\"source\":\"ent\",\"id\":";
    append_json(e.response, e.event_id);
    e.response += ",\"deliveries\":[";
    for (int i = 0; i < e.count; ++i) {
      const Recipient& r = e.recipients[static_cast<std::size_t>(i)];
      e.response += i ? ",{\"recipient\":" : "{\"recipient\":";
      append_json(e.response, r.user->id);
      e.response += ",\"role\":";
      append_json(e.response, r.role);
      e.response += ",\"held\":true,\"release_at\":";
      std::string until;
      append_local(until, r.release_ms, e.est->offset_min);
      append_json(e.response, until);
      e.response += ",\"reason\":";
      append_json(e.response, r.reason->text);
      e.response += '}';
    }
    e.response += "]}";
    e.received_detail = "{\"deliveries\":" + std::to_string(e.count) + ",\"urgent\":false}";
    e.lean1_received_detail = "{\"urgent\":false,\"deliveries\":[";
    for (int i = 0; i < e.count; ++i) {
      const Recipient& r = e.recipients[static_cast<std::size_t>(i)];
      e.lean1_received_detail += i ? ",[" : "[";
      append_json(e.lean1_received_detail, r.user->pseudonym);
      e.lean1_received_detail += ',';
      append_json(e.lean1_received_detail, r.role);
      e.lean1_received_detail +=
          ',' + std::to_string(r.release_ms) + ',' + std::to_string(r.reason->code) + ',';
      append_json(e.lean1_received_detail, r.reason->args);
      e.lean1_received_detail += ']';
    }
    e.lean1_received_detail += "]}";
  }

 private:
  bool ordered_ids_;
  std::mt19937_64 rng_;
  std::vector<User> users_;
  std::int64_t at_ms_ = 0;
  std::int64_t n_ = 0;
  EVP_MD* md_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;
};

// ---- the audit chain ----

// hash = SHA-256(prev + "\n" + canonical), one EVP context reused. The current layout chains
// the hex of the previous hash (audit_record.h); the lean one the 32 bytes.
class Chain {
 public:
  Chain() {
    md_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ctx_ = EVP_MD_CTX_new();
    if (!md_ || !ctx_)
      die("no SHA-256");
  }
  ~Chain() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  void digest(std::string_view prev, std::string_view canonical, unsigned char* out) {
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, prev.data(), prev.size()) != 1 ||
        EVP_DigestUpdate(ctx_, "\n", 1) != 1 ||
        EVP_DigestUpdate(ctx_, canonical.data(), canonical.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, out, &len) != 1 || len != 32)
      die("SHA-256");
  }

 private:
  EVP_MD* md_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;
};

// One audit record's fields, as views into the event being stored.
struct Record {
  std::int64_t at_ms = 0;
  std::string_view at_local;  // current
  int at_offset = 0;          // lean
  std::string_view kind, source, event_id, establishment, category, recipient, role, detail;
};

// [seq, at_ms, at_local (or at_offset), kind, source, event_id, establishment, category,
//  recipient, role, detail]: the canonical encoding of audit_record.h.
void canonical(std::string& out, std::int64_t seq, const Record& r, bool lean) {
  out.clear();
  out += '[';
  out += std::to_string(seq);
  out += ',';
  out += std::to_string(r.at_ms);
  out += ',';
  if (lean)
    out += std::to_string(r.at_offset);
  else
    append_json(out, r.at_local);
  for (std::string_view s :
       {r.kind, r.source, r.event_id, r.establishment, r.category, r.recipient, r.role, r.detail}) {
    out += ',';
    append_json(out, s);
  }
  out += ']';
}

// ---- one run ----

struct Counts {
  std::int64_t events = 0, deliveries = 0, audits = 0, transactions = 0;
};

class Writer {
 public:
  Writer(const Config& c, const std::string& path) : c_(c) {
    check(
        nullptr,
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr),
        SQLITE_OK, "open");
    check(db_, sqlite3_extended_result_codes(db_, 1), SQLITE_OK, "extended codes");
    // No checkpoint when the connection closes: the WAL is thrown away with the directory.
    check(db_, sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr), SQLITE_OK,
          "no checkpoint on close");
    const std::string page = "PRAGMA page_size = " + std::to_string(c.page_size);
    exec(db_, page.c_str());
    {
      Stmt wal(db_, "PRAGMA journal_mode = WAL");
      if (wal.step() != SQLITE_ROW || wal.column_bytes(0) != "wal")
        die("the database is not in WAL mode");
    }
    const std::string cache = "PRAGMA cache_size = -" + std::to_string(c.cache_kib);
    for (const char* pragma : {"PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
                               "PRAGMA wal_autocheckpoint = 0", cache.c_str()})
      exec(db_, pragma);
    exec(db_, "BEGIN IMMEDIATE");
    if (c.layout == Layout::current) {
      exec(db_, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)");
      for (const char* sql : treve::store::SqliteStore::migrations())
        exec(db_, sql);
    } else {
      for (const char* sql : kLeanSchema)
        exec(db_, sql);
    }
    exec(db_, "COMMIT");
    {
      Stmt p(db_, "PRAGMA page_size");
      if (p.step() != SQLITE_ROW || p.column_int(0) != c.page_size)
        die("page_size not applied");
    }
    const bool cur = c.layout == Layout::current;
    find_ = std::make_unique<Stmt>(
        db_, cur ? "SELECT body_sha256, response FROM events WHERE source = ? AND event_id = ?"
                 : "SELECT body_sha256 FROM events WHERE source = ? AND event_id = ?");
    insert_event_ = std::make_unique<Stmt>(
        db_, cur ? "INSERT INTO events (source, event_id, establishment, category, urgent, "
                   "received_at, timezone, body, body_sha256, response) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                 : "INSERT INTO events (source, event_id, establishment, category, urgent, "
                   "received_at, timezone, body, body_sha256) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert_delivery_ = std::make_unique<Stmt>(
        db_, cur ? "INSERT INTO deliveries (event, recipient, role, state, release_at, reason, "
                   "updated_at, ready_seq, released_at, sink) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                 : "INSERT INTO deliveries (event, recipient, role, state, release_at, reason, "
                   "reason_args, updated_at, ready_seq, released_at, sink) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert_audit_ = std::make_unique<Stmt>(
        db_, cur ? "INSERT INTO audit (seq, at, at_local, kind, source, event_id, "
                   "establishment, category, recipient, role, detail, prev_hash, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                 : "INSERT INTO audit (seq, at, at_offset, kind, source, event_id, "
                   "establishment, category, recipient, role, detail, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    audit_head_ =
        std::make_unique<Stmt>(db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    ready_counter_ = std::make_unique<Stmt>(db_, "SELECT value FROM meta WHERE key = 'ready_seq'");
    add_events_ = std::make_unique<Stmt>(
        db_, "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'events'");
    head_hex_.assign(64, '0');
    prev_hex_.assign(64, '0');
    head_.fill(0);
    prev_.fill(0);
  }
  ~Writer() {
    find_.reset();
    insert_event_.reset();
    insert_delivery_.reset();
    insert_audit_.reset();
    audit_head_.reset();
    ready_counter_.reset();
    add_events_.reset();
    if (sqlite3_close(db_) != SQLITE_OK)
      std::fprintf(stderr, "close: %s\n", sqlite3_errmsg(db_));
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // One transaction storing `events`, as SqliteStore::transaction and accept do. The time of
  // the COMMIT alone (the WAL write and its fsync) is added to commit_seconds.
  void store(std::span<const Event> events, Counts& n, double& commit_seconds) {
    exec(db_, "BEGIN IMMEDIATE");
    // What every write transaction reads first: the audit head and the ready counter.
    {
      Stmt& h = *audit_head_;
      if (h.step() == SQLITE_ROW) {
        next_seq_ = h.column_int(0) + 1;
        const std::string_view hash = h.column_bytes(1);
        if (c_.layout == Layout::current)
          head_hex_.assign(hash);
        else
          std::memcpy(head_.data(), hash.data(), std::min(hash.size(), head_.size()));
      }
      h.reset();
      Stmt& r = *ready_counter_;
      if (r.step() != SQLITE_ROW)
        die("no ready counter");
      r.reset();
    }
    const bool cur = c_.layout == Layout::current;
    for (const Event& e : events) {
      {
        Stmt& f = *find_;
        f.text(1, e.source).text(2, e.event_id);
        if (f.step() != SQLITE_DONE)
          die("event already stored: " + e.event_id);
        f.reset();
      }
      Stmt& s = *insert_event_;
      s.text(1, e.source).text(2, e.event_id).text(3, e.est->uai).text(4, e.category);
      s.integer(5, 0).integer(6, e.received_ms).text(7, e.est->zone).text(8, e.body);
      if (cur)
        s.text(9, e.body_sha_hex).text(10, e.response);
      else
        s.blob(9, e.body_sha);
      s.run();
      s.reset();
      const std::int64_t row = sqlite3_last_insert_rowid(db_);
      ++n.events;

      Record r;
      r.at_ms = e.received_ms;
      r.at_local = e.at_local;
      r.at_offset = e.est->offset_min;
      r.source = e.source;
      r.event_id = e.event_id;
      r.establishment = e.est->uai;
      r.category = e.category;
      r.kind = "received";
      r.detail = c_.layout == Layout::lean1 ? e.lean1_received_detail : e.received_detail;
      append(r, n);
      for (int i = 0; i < e.count; ++i) {
        const Recipient& d = e.recipients[static_cast<std::size_t>(i)];
        Stmt& q = *insert_delivery_;
        q.integer(1, row).text(2, d.user->id).text(3, d.role);
        if (cur) {
          q.text(4, "held").integer(5, d.release_ms).text(6, d.reason->text);
          q.integer(7, e.received_ms).null(8).null(9).null(10);
        } else {
          q.integer(4, kHeld).integer(5, d.release_ms).integer(6, d.reason->code);
          q.text(7, d.reason->args).integer(8, e.received_ms).null(9).null(10).null(11);
        }
        q.run();
        q.reset();
        ++n.deliveries;
        if (c_.layout == Layout::lean1)
          continue;
        Record h = r;
        h.kind = "held";
        h.recipient = d.user->pseudonym;
        h.role = d.role;
        h.detail = cur ? std::string_view(d.held_detail) : std::string_view(d.lean_held_detail);
        append(h, n);
      }
    }
    {
      Stmt& u = *add_events_;
      u.integer(1, static_cast<std::int64_t>(events.size()));
      u.run();
      u.reset();
    }
    const auto t0 = Steady::now();
    exec(db_, "COMMIT");
    commit_seconds += std::chrono::duration<double>(Steady::now() - t0).count();
    ++n.transactions;
  }

  // The rows actually in the tables: what the run stored, checked against what it counted.
  Counts stored() {
    Counts c;
    for (auto [sql, out] : {std::pair{"SELECT count(*) FROM events", &c.events},
                            {"SELECT count(*) FROM deliveries", &c.deliveries},
                            {"SELECT count(*) FROM audit", &c.audits}}) {
      Stmt q(db_, sql);
      if (q.step() != SQLITE_ROW)
        die(sql);
      *out = q.column_int(0);
    }
    return c;
  }

 private:
  void append(const Record& r, Counts& n) {
    const bool cur = c_.layout == Layout::current;
    const std::int64_t seq = next_seq_;
    if (c_.hash) {
      canonical(canonical_, seq, r, !cur);
      if (cur) {
        std::array<unsigned char, 32> d{};
        chain_.digest(head_hex_, canonical_, d.data());
        prev_hex_.swap(head_hex_);
        head_hex_.clear();
        append_hex(head_hex_, d);
      } else {
        prev_ = head_;
        chain_.digest({reinterpret_cast<const char*>(prev_.data()), prev_.size()}, canonical_,
                      head_.data());
      }
    }
    Stmt& s = *insert_audit_;
    s.integer(1, seq).integer(2, r.at_ms);
    if (cur)
      s.text(3, r.at_local);
    else
      s.integer(3, r.at_offset);
    s.text(4, r.kind).text(5, r.source).text(6, r.event_id).text(7, r.establishment);
    s.text(8, r.category).text(9, r.recipient).text(10, r.role).text(11, r.detail);
    if (cur)
      s.text(12, prev_hex_).text(13, head_hex_);
    else
      s.blob(12, head_);
    s.run();
    s.reset();
    ++next_seq_;
    ++n.audits;
  }

  Config c_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<Stmt> find_, insert_event_, insert_delivery_, insert_audit_, audit_head_,
      ready_counter_, add_events_;
  Chain chain_;
  std::string canonical_;
  std::int64_t next_seq_ = 1;
  std::string head_hex_, prev_hex_;
  std::array<unsigned char, 32> head_{}, prev_{};
};

double thread_cpu_seconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    die("clock_gettime");
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::int64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

struct RunResult {
  double seconds = 0;         // BEGIN to COMMIT, summed over the transactions
  double cpu_seconds = 0;     // the writer thread's CPU time over the same spans
  double commit_seconds = 0;  // the COMMITs alone
  std::int64_t wal_bytes = 0;
  Counts n;
};

RunResult run_once(const Config& c, int k, std::int64_t events, bool ordered_ids,
                   const std::string& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/treve.db";
  RunResult out;
  {
    Writer w(c, path);
    Generator gen(ordered_ids);
    std::vector<Event> batch(static_cast<std::size_t>(k));
    const std::int64_t wal_before = file_size(path + "-wal");
    for (std::int64_t done = 0; done < events;) {
      const auto size = static_cast<std::size_t>(std::min<std::int64_t>(k, events - done));
      for (std::size_t i = 0; i < size; ++i)
        gen.next(batch[i]);
      const double cpu0 = thread_cpu_seconds();
      const auto t0 = Steady::now();
      w.store({batch.data(), size}, out.n, out.commit_seconds);
      out.seconds += std::chrono::duration<double>(Steady::now() - t0).count();
      out.cpu_seconds += thread_cpu_seconds() - cpu0;
      done += static_cast<std::int64_t>(size);
    }
    out.wal_bytes = file_size(path + "-wal") - wal_before;
    const Counts s = w.stored();
    if (s.events != out.n.events || s.deliveries != out.n.deliveries || s.audits != out.n.audits)
      die("the tables do not hold what the run stored");
  }
  return out;
}

// ---- the disk ----

// 4 KB write + fdatasync per round for `seconds`: in place (the same block) or appended (the
// file grows, as a WAL does between checkpoints). Rounds per second.
double fsync_rate(const std::string& dir, bool append, double seconds) {
  const std::string path = dir + "/fsync-probe";
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    die("cannot create " + path);
  std::array<char, 4096> block{};
  block.fill('x');
  std::int64_t rounds = 0;
  const auto t0 = Steady::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    const off_t at = append ? static_cast<off_t>(rounds) * 4096 : 0;
    if (::pwrite(fd, block.data(), block.size(), at) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0)
      die("write or fdatasync failed on " + path);
    ++rounds;
    elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  }
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(rounds) / elapsed;
}

// Sequential writes as a large commit makes them: `megabytes` in 4 KB writes appended, then one
// fdatasync, three times. Megabytes per second.
double write_rate(const std::string& dir, int megabytes) {
  const std::string path = dir + "/write-probe";
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    die("cannot create " + path);
  std::array<char, 4096> block{};
  block.fill('y');
  const auto t0 = Steady::now();
  off_t at = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < megabytes * 256; ++i, at += 4096) {
      if (::pwrite(fd, block.data(), block.size(), at) != static_cast<ssize_t>(block.size()))
        die("write failed on " + path);
    }
    if (::fdatasync(fd) != 0)
      die("fdatasync failed on " + path);
  }
  const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  ::close(fd);
  ::unlink(path.c_str());
  return 3.0 * megabytes / elapsed;
}

std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f)
    return "?";
  char buf[128] = "";
  if (!std::fgets(buf, sizeof buf, f))
    buf[0] = 0;
  std::fclose(f);
  std::string s = buf;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos)
      comma = s.size();
    if (comma > start)
      out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

struct Summary {
  std::string name;
  int k = 0;
  double us = 0, us_min = 0, us_max = 0, per_second = 0, cpu_us = 0, commit_ms = 0, wal = 0,
         rows = 0, entries = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::int64_t events = 200'000;
  int reps = 3;
  std::vector<int> ks = {1000, 32};
  std::vector<std::string> only;
  bool ordered_ids = false;
  std::string base = "/tmp/treve-bench-sqlite-floor";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--events" && more) {
      events = std::stoll(argv[++i]);
    } else if (a == "--reps" && more) {
      reps = std::stoi(argv[++i]);
    } else if (a == "--k" && more) {
      ks.clear();
      for (const std::string& k : split(argv[++i]))
        ks.push_back(std::stoi(k));
    } else if (a == "--only" && more) {
      only = split(argv[++i]);
    } else if (a == "--ids" && more) {
      const std::string v = argv[++i];
      if (v != "random" && v != "ordered")
        die("--ids random|ordered");
      ordered_ids = v == "ordered";
    } else if (a == "--dir" && more) {
      base = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--list") {
      for (const Config& c : all_configs())
        std::printf("%s\n", c.name.c_str());
      return 0;
    } else {
      die("usage: bench_sqlite_floor [--events N] [--reps R] [--k 1000,32] [--only NAME,...] "
          "[--ids random|ordered] [--dir BASE] [--keep] [--list]");
    }
  }
  if (events <= 0 || reps <= 0 || ks.empty() ||
      std::any_of(ks.begin(), ks.end(), [](int k) { return k <= 0; }))
    die("--events, --reps and every K must be positive");
  std::vector<Config> configs;
  for (const Config& c : all_configs()) {
    if (only.empty() || std::find(only.begin(), only.end(), c.name) != only.end())
      configs.push_back(c);
  }
  if (configs.empty())
    die("no configuration by those names (--list)");
  fs::create_directories(base);

  std::printf("SQLite %s, %ld cores, %lld events per run, %d runs each, ids %s, in %s\n",
              sqlite3_libversion(), sysconf(_SC_NPROCESSORS_ONLN), static_cast<long long>(events),
              reps, ordered_ids ? "ordered" : "random", base.c_str());
  std::printf("load average: %s\n", load_average().c_str());
  std::printf("disk: 4 KB write + fdatasync: %.0f/s in place, %.0f/s appended\n",
              fsync_rate(base, false, 2.0), fsync_rate(base, true, 2.0));
  std::printf("disk: 16 MB appended in 4 KB writes + fdatasync: %.0f MB/s\n", write_rate(base, 16));
  {
    Generator g(ordered_ids);
    Event e;
    double body = 0, response = 0, held = 0, lean_held = 0, lean1 = 0, recipients = 0;
    const int n = 10'000;
    for (int i = 0; i < n; ++i) {
      g.next(e);
      body += static_cast<double>(e.body.size());
      response += static_cast<double>(e.response.size());
      lean1 += static_cast<double>(e.lean1_received_detail.size());
      recipients += e.count;
      for (int r = 0; r < e.count; ++r) {
        held += static_cast<double>(e.recipients[static_cast<std::size_t>(r)].held_detail.size());
        lean_held +=
            static_cast<double>(e.recipients[static_cast<std::size_t>(r)].lean_held_detail.size());
      }
    }
    std::printf(
        "rows' contents (mean bytes): body %.0f, response %.0f, held detail %.0f (lean %.0f), "
        "lean1 received detail %.0f; %.2f recipients per event\n",
        body / n, response / n, held / recipients, lean_held / recipients, lean1 / n,
        recipients / n);
  }
  std::fflush(stdout);

  // Repetitions outermost: a change in the machine's load (other work shares the two cores and
  // the disk) falls on every variant rather than on one.
  struct Series {
    const Config* config = nullptr;
    int k = 0;
    std::vector<double> us, cpu, commit, wal;
    Counts last;
  };
  std::vector<Series> series;
  for (const Config& c : configs) {
    for (int k : ks)
      series.push_back({&c, k, {}, {}, {}, {}, {}});
  }
  for (int rep = 0; rep < reps; ++rep) {
    for (Series& x : series) {
      const Config& c = *x.config;
      const std::string dir = base + "/" + c.name + "-k" + std::to_string(x.k);
      RunResult r = run_once(c, x.k, events, ordered_ids, dir);
      const auto ev = static_cast<double>(r.n.events);
      x.us.push_back(r.seconds / ev * 1e6);
      x.cpu.push_back(r.cpu_seconds / ev * 1e6);
      x.commit.push_back(r.commit_seconds / static_cast<double>(r.n.transactions) * 1e3);
      x.wal.push_back(static_cast<double>(r.wal_bytes) / ev);
      x.last = r.n;
      std::printf(
          "  %-15s K=%-5d run %d: %7.2f µs/event (cpu %6.2f), commit %6.2f ms, "
          "WAL %6.0f B/event\n",
          c.name.c_str(), x.k, rep + 1, x.us.back(), x.cpu.back(), x.commit.back(), x.wal.back());
      std::fflush(stdout);
      if (!keep)
        fs::remove_all(dir);
    }
  }
  std::vector<Summary> table;
  for (const Series& x : series) {
    Summary s;
    s.name = x.config->name;
    s.k = x.k;
    s.us = median(x.us);
    s.us_min = *std::min_element(x.us.begin(), x.us.end());
    s.us_max = *std::max_element(x.us.begin(), x.us.end());
    s.per_second = 1e6 / s.us;
    s.cpu_us = median(x.cpu);
    s.commit_ms = median(x.commit);
    s.wal = median(x.wal);
    const auto ev = static_cast<double>(x.last.events);
    s.rows = static_cast<double>(x.last.events + x.last.deliveries + x.last.audits) / ev;
    // B-tree entries: events (table, unique (source, event_id), events_with_body); each
    // delivery (table, by state and release, by event; deliveries_ready skips held ones);
    // each audit record (table).
    s.entries = static_cast<double>(3 * x.last.events + 3 * x.last.deliveries + x.last.audits) / ev;
    table.push_back(s);
  }
  std::printf("load average: %s\n", load_average().c_str());
  std::printf("disk afterwards: 4 KB write + fdatasync: %.0f/s in place, %.0f/s appended\n\n",
              fsync_rate(base, false, 2.0), fsync_rate(base, true, 2.0));
  std::printf(
      "| variant | page | cache | K | µs/event (median, min–max) | events/s | "
      "CPU µs/event | commit ms | WAL B/event | rows/event | b-tree entries/event |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Summary& s : table) {
    const Config& c = *std::find_if(configs.begin(), configs.end(),
                                    [&](const Config& x) { return x.name == s.name; });
    std::printf(
        "| %s | %d | %d MB | %d | %.2f (%.2f–%.2f) | %.0f | %.2f | %.2f | %.0f | %.2f | "
        "%.2f |\n",
        s.name.c_str(), c.page_size, c.cache_kib / 1024, s.k, s.us, s.us_min, s.us_max,
        s.per_second, s.cpu_us, s.commit_ms, s.wal, s.rows, s.entries);
  }
  if (!keep)
    fs::remove_all(base);
  return 0;
}
