// libpq behind pg_connection.h.
#include "daemon/store/postgresql/pg_connection.h"

#include <poll.h>

#include <cerrno>

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace treve::store::pg {

namespace {

// SQLSTATE classes and codes that pass: retry later.
bool transient(std::string_view state) {
  if (state.size() != 5)
    return true;  // no state: the connection itself failed
  const std::string_view cls = state.substr(0, 2);
  return cls == "08"          // connection exception
         || cls == "53"       // insufficient resources (disk full, memory, connections)
         || cls == "40"       // serialisation failure, deadlock
         || state == "55P03"  // lock not available
         || state == "57014"  // statement timeout, cancelled
         || state == "57P01" || state == "57P02" || state == "57P03"  // shutdown, starting
         || state == "25006"   // read-only transaction (a standby)
         || state == "58030";  // I/O error
}

bool storage_failure(std::string_view state) {
  return state == "53100" || state == "58030";  // disk full, I/O error
}

std::string trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
    m.pop_back();
  return m;
}

}  // namespace

Result<std::vector<std::string>> Connection::notifications(std::chrono::milliseconds timeout) {
  std::vector<std::string> out;
  auto take = [&] {
    while (PGnotify* n = PQnotifies(conn_)) {
      out.emplace_back(n->extra ? n->extra : "");
      PQfreemem(n);
    }
  };
  auto lost = [this] {
    return std::unexpected(
        StoreError{StoreError::Kind::unavailable,
                   "the database connection was lost: " + std::string(PQerrorMessage(conn_))});
  };
  if (!ok())
    return lost();
  take();
  if (!out.empty())
    return out;
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (p.fd < 0)
    return lost();
  const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR)
    return lost();
  if (ready > 0 && PQconsumeInput(conn_) == 0)
    return lost();
  take();
  return out;
}

StoreError error_of(pg_conn* conn, const pg_result* r, std::string_view what) {
  StoreError e;
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view code = state ? state : "";
  const bool lost = !conn || PQstatus(conn) != CONNECTION_OK;
  e.kind = lost || transient(code) ? StoreError::Kind::unavailable : StoreError::Kind::internal;
  e.storage_failed = storage_failure(code);
  std::string message = r && PQresultErrorMessage(r) && *PQresultErrorMessage(r)
                            ? trimmed(PQresultErrorMessage(r))
                            : (conn ? trimmed(PQerrorMessage(conn)) : std::string("no connection"));
  if (message.empty())
    message = "PostgreSQL did not answer";
  e.message = std::string(what) + ": " + message;
  if (!code.empty())
    e.message += " (SQLSTATE " + std::string(code) + ")";
  return e;
}

Rows::Rows(pg_result* r) : r_(r) {}
Rows::~Rows() {
  if (r_)
    PQclear(r_);
}
Rows::Rows(Rows&& o) noexcept : r_(o.r_) {
  o.r_ = nullptr;
}
Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    if (r_)
      PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}
int Rows::size() const {
  return r_ ? PQntuples(r_) : 0;
}
bool Rows::is_null(int row, int col) const {
  return !r_ || PQgetisnull(r_, row, col);
}
std::string Rows::text(int row, int col) const {
  if (is_null(row, col))
    return {};
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}
std::int64_t Rows::integer(int row, int col) const {
  if (is_null(row, col))
    return 0;
  const char* v = PQgetvalue(r_, row, col);
  if (std::strcmp(v, "t") == 0)
    return 1;
  if (std::strcmp(v, "f") == 0)
    return 0;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  return end && *end == '\0' ? n : 0;
}
std::int64_t Rows::affected() const {
  if (!r_)
    return 0;
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

Result<std::unique_ptr<Connection>> Connection::open(const ConnectOptions& options) {
  std::unique_ptr<Connection> c(new Connection(options));
  if (auto r = c->connect(); !r)
    return std::unexpected(r.error());
  return c;
}

Connection::~Connection() {
  if (conn_)
    PQfinish(conn_);
}

Result<void> Connection::connect() {
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  // The URL is expanded as a connection string; the password, given apart, overrides it.
  // Defaults first, then the URL (expanded in place of "dbname"), whose keywords override
  // them; the application name and the password, after it, override the URL.
  const std::string connect_timeout = std::to_string(options_.connect_timeout_s);
  const std::string user_timeout = std::to_string(options_.tcp_user_timeout.count());
  const std::string keepalive_s =
      std::to_string(std::max<long long>(1, options_.tcp_user_timeout.count() / 3000));
  std::vector<const char*> keys{"connect_timeout"};
  std::vector<const char*> values{connect_timeout.c_str()};
  if (options_.tcp_user_timeout.count() > 0) {
    for (auto [k, v] : {std::pair{"tcp_user_timeout", user_timeout.c_str()},
                        {"keepalives_idle", keepalive_s.c_str()},
                        {"keepalives_interval", keepalive_s.c_str()},
                        {"keepalives_count", "2"}}) {
      keys.push_back(k);
      values.push_back(v);
    }
  }
  keys.push_back("dbname");
  values.push_back(options_.url.c_str());
  keys.push_back("application_name");
  values.push_back(options_.application_name.c_str());
  if (!options_.password.empty()) {
    keys.push_back("password");
    values.push_back(options_.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    StoreError e{StoreError::Kind::unavailable,
                 "cannot connect to PostgreSQL: " +
                     (conn_ ? trimmed(PQerrorMessage(conn_)) : std::string("out of memory")),
                 false};
    if (conn_) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
    return std::unexpected(e);
  }
  const std::string setup =
      "SET synchronous_commit = on; SET TIME ZONE 'UTC'; SET statement_timeout = " +
      std::to_string(options_.statement_timeout.count()) + ";";
  return script(setup);
}

bool Connection::ok() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK;
}

Result<void> Connection::reconnect() {
  return connect();
}

bool Connection::in_transaction() const {
  return conn_ && PQtransactionStatus(conn_) != PQTRANS_IDLE &&
         PQtransactionStatus(conn_) != PQTRANS_UNKNOWN;
}

Result<Rows> Connection::exec(std::string_view sql, std::initializer_list<Param> params) {
  return run(sql, params.begin(), params.size());
}

Result<Rows> Connection::exec(std::string_view sql, const std::vector<Param>& params) {
  return run(sql, params.data(), params.size());
}

Result<Rows> Connection::run(std::string_view sql, const Param* params, std::size_t n) {
  if (!conn_)
    return std::unexpected(
        StoreError{StoreError::Kind::unavailable, "no connection to PostgreSQL"});
  // libpq takes parameters as C strings: a value with a NUL byte would be cut short there, and
  // PostgreSQL's text cannot hold one anyway. Refused whole rather than stored truncated.
  std::vector<std::string> copies;
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  copies.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (params[i].null()) {
      values[i] = nullptr;
      continue;
    }
    const std::string_view t = params[i].text();
    if (t.find('\0') != std::string_view::npos) {
      return std::unexpected(StoreError{StoreError::Kind::internal,
                                        "parameter " + std::to_string(i + 1) +
                                            " holds a NUL byte, which PostgreSQL cannot store"});
    }
    copies.emplace_back(t);
    values[i] = copies.back().c_str();
    lengths[i] = static_cast<int>(t.size());
  }
  const std::string text(sql);
  pg_result* r = PQexecParams(conn_, text.c_str(), static_cast<int>(n), nullptr, values.data(),
                              lengths.data(), nullptr, 0);
  Rows rows(r);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return std::unexpected(error_of(conn_, r, "PostgreSQL"));
  return rows;
}

MultiRow::MultiRow(std::string head, std::vector<std::string> types, std::string tail,
                   std::vector<std::string> fixed)
    : fixed_(std::move(fixed)), arrays_(types.size(), "{") {
  sql_ = std::move(head) + " SELECT * FROM unnest(";
  for (std::size_t i = 0; i < types.size(); ++i) {
    sql_ += (i ? ", $" : "$") + std::to_string(fixed_.size() + i + 1) + "::" + types[i] + "[]";
  }
  sql_ += ") " + tail;
}

void MultiRow::add(std::span<const Param> row) {
  std::size_t col = 0;
  for (const Param& p : row) {
    if (col >= arrays_.size())
      break;
    std::string& a = arrays_[col++];
    if (rows_ > 0)
      a += ',';
    if (p.null()) {
      a += "NULL";
      continue;
    }
    // An array element in double quotes, with its quotes and backslashes escaped: any text
    // (braces, commas, the word NULL) reads back as itself.
    a += '"';
    for (char ch : p.text()) {
      if (ch == '"' || ch == '\\')
        a += '\\';
      a += ch;
    }
    a += '"';
  }
  ++rows_;
}

Result<Rows> MultiRow::exec(Connection& c) const {
  if (rows_ == 0)
    return Rows();
  std::vector<std::string> closed;
  closed.reserve(arrays_.size());
  for (const std::string& a : arrays_)
    closed.push_back(a + "}");
  std::vector<Param> params(fixed_.begin(), fixed_.end());
  params.insert(params.end(), closed.begin(), closed.end());
  return c.exec(sql_, params);
}

std::string int_array(const std::vector<std::int64_t>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i)
      out += ',';
    out += std::to_string(v[i]);
  }
  return out + "}";
}

Result<void> Connection::script(std::string_view sql) {
  if (!conn_)
    return std::unexpected(
        StoreError{StoreError::Kind::unavailable, "no connection to PostgreSQL"});
  const std::string text(sql);
  // PQexec answers the last statement's result; a failure stops the script where it is.
  pg_result* r = PQexec(conn_, text.c_str());
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  Result<void> out;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    out = std::unexpected(error_of(conn_, r, "PostgreSQL"));
  if (r)
    PQclear(r);
  return out;
}

}  // namespace treve::store::pg
