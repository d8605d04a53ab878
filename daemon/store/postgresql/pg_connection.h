// One connection to PostgreSQL through libpq: statements with parameters sent as text (never
// spliced into SQL), their rows, and errors as StoreError values. The session is set up for
// trêve on every (re)connection: `synchronous_commit = on` (a commit is durable before trêve
// answers, whatever the cluster's default), the statement timeout, UTC.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/store/store_types.h"

struct pg_conn;
struct pg_result;

namespace treve::store::pg {

// What a connection is opened with.
struct ConnectOptions {
  std::string url;       // a libpq connection string or URI
  std::string password;  // empty: from the URL, PGPASSFILE or ~/.pgpass
  std::chrono::milliseconds statement_timeout{30000};
  std::string application_name = "treve";
  int connect_timeout_s = 10;  // libpq's connect_timeout, unless the URL gives one
  // Set: a server that stops acknowledging what is sent is given up after this (TCP
  // keepalives and tcp_user_timeout), instead of after the system's minutes. Not for a unix
  // socket, where libpq ignores them.
  std::chrono::milliseconds tcp_user_timeout{0};
};

// One parameter of a statement, sent as text: a view of the caller's string (which must
// outlive the call), a number, a boolean, or null.
class Param {
 public:
  Param(std::string_view text) : view_(text) {}    // NOLINT: implicit by design
  Param(const std::string& text) : view_(text) {}  // NOLINT
  Param(const char* text) : view_(text) {}         // NOLINT
  Param(std::int64_t n) : number_(std::to_string(n)), is_number_(true) {}  // NOLINT
  Param(int n) : Param(static_cast<std::int64_t>(n)) {}                    // NOLINT
  Param(bool b) : view_(b ? "t" : "f") {}                                  // NOLINT
  Param(std::nullopt_t) : null_(true) {}                                   // NOLINT
  bool null() const { return null_; }
  std::string_view text() const { return is_number_ ? std::string_view(number_) : view_; }

 private:
  std::string_view view_;
  std::string number_;
  bool is_number_ = false;
  bool null_ = false;
};

// The rows a statement answered. Moves only.
class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* r);
  ~Rows();
  Rows(Rows&& o) noexcept;
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const;
  bool empty() const { return size() == 0; }
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;      // "" for null
  std::int64_t integer(int row, int col) const;  // 0 for null or not a number
  std::int64_t affected() const;                 // rows changed by INSERT/UPDATE/DELETE

 private:
  pg_result* r_ = nullptr;
};

class Connection {
 public:
  // Connects and sets the session up; an unavailable error when the server does not answer.
  static Result<std::unique_ptr<Connection>> open(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with `params` ($1, $2, …).
  Result<Rows> exec(std::string_view sql, std::initializer_list<Param> params = {});
  Result<Rows> exec(std::string_view sql, const std::vector<Param>& params);
  // Runs a script of several statements without parameters (migrations).
  Result<void> script(std::string_view sql);
  // Whether the connection is up as far as libpq knows; a lost one is opened again by
  // reconnect().
  bool ok() const;
  Result<void> reconnect();
  // Whether a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;
  // The payloads of the notifications received on the channels this connection LISTENs to,
  // waiting at most `timeout` for the first; an unavailable error when the connection is lost.
  Result<std::vector<std::string>> notifications(std::chrono::milliseconds timeout);

 private:
  explicit Connection(ConnectOptions options) : options_(std::move(options)) {}
  Result<void> connect();
  Result<Rows> run(std::string_view sql, const Param* params, std::size_t n);

  ConnectOptions options_;
  pg_conn* conn_ = nullptr;
};

// One INSERT of many rows, built row by row and sent as one statement whose parameters are one
// array per column: "<head> SELECT * FROM unnest($1::<type>[], …) <tail>". A fixed, short
// statement whatever the number of rows: PostgreSQL parses a few arrays instead of a
// parameter per value, which costs it several times more. Rows go in in the order added.
class MultiRow {
 public:
  // `fixed`: parameters before the arrays ($1…), which `head` and `tail` may use; the arrays
  // are numbered after them.
  MultiRow(std::string head, std::vector<std::string> types, std::string tail = {},
           std::vector<std::string> fixed = {});
  void add(std::initializer_list<Param> row) {
    add(std::span<const Param>(row.begin(), row.size()));
  }
  void add(std::span<const Param> row);
  std::size_t rows() const { return rows_; }
  // Runs the statement (nothing when no row was added); its answer.
  Result<Rows> exec(Connection& c) const;

 private:
  std::string sql_;
  std::vector<std::string> fixed_;
  std::vector<std::string> arrays_;  // each column's array literal, without its closing brace
  std::size_t rows_ = 0;
};

// A PostgreSQL array literal of integers, "{1,2,3}": a parameter for `= ANY($1::bigint[])`.
std::string int_array(const std::vector<std::int64_t>& v);

// The error of a failed statement or connection: unavailable for what passes (the server
// gone, restarting, out of connections, a timeout, a lock or serialisation conflict, a full
// disk, which also sets storage_failed), internal for the rest (a bug or a damaged schema).
StoreError error_of(pg_conn* conn, const pg_result* r, std::string_view what);

}  // namespace treve::store::pg
