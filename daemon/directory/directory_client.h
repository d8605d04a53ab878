// The user directory client (docs/connectors.md, "The directory"): asks a `[[directories]]`
// entry who users are — their profile (mapped to a trêve role), the UAIs of their structures,
// a relative's children — and keeps the answers in a bounded cache.
//
// Used next by ingest: an `entcore-timeline` connector's events name users by id only, and
// their recipients are resolved through the connector's directory; while the directory fails,
// such events are held (fail closed), never dropped. Nothing calls it yet.
//
// Requests: `POST {url}` of {"type":"treve.user_lookup","source":…,"users":[…]}, at most
// adapters::kMaxUsersPerLookup users each (more: several requests at once), signed like a
// webhook (Standard Webhooks) or carrying a bearer token. Answers: 200 with the users it
// knows (one absent is unknown), 404 (every user asked is unknown); anything else, a timeout
// or a malformed answer is a failure, for every user of that request.
//
// The cache, one per directory (a directory's ids are one namespace, whichever connector
// asks): at most `cache_entries` users, the least recently used forgotten first; an answer is
// kept for `ttl` from its arrival, an unknown user for min(ttl, kUnknownTtl) (a new pupil is
// known within a minute); a failure is not kept. A user asked while a request about them is in
// flight waits for that request instead of sending another.
//
// Personal data: user ids, UAIs and children are never logged and never leave this object
// except through the callback. Log lines give the directory's name, counts, durations and
// errors that name no id (a malformed answer's pointer is written "/users/*/…").
//
// Threads: lookup() and cached_answers() may be called from any thread; the work, the HTTP requests
// and every callback run on the io_context's thread (one thread runs it). The destructor runs on
// that thread or after the io_context stopped; no callback is called once it has started.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "adapters/inbound/directory_answer.h"
#include "daemon/config/config.h"
#include "daemon/core/clock.h"
#include "policy/notification.h"

namespace treve::directory {

// How long an unknown user is remembered at most.
inline constexpr std::chrono::milliseconds kUnknownTtl{60'000};

// Who a user is, as the directory said.
struct UserEntry {
  adapters::Profile profile = adapters::Profile::guest;
  policy::Role role = policy::Role::staff;  // adapters::role_of(profile)
  std::vector<std::string> structures;      // UAIs
  std::vector<std::string> children;        // a parent's children's ids
};

struct UserAnswer {
  enum class Status : std::uint8_t {
    known,    // `user` says who they are
    unknown,  // the directory does not know them (or the id is not one: adapters::valid_user_id)
    failed,   // no answer: `error` says why; ask again later
  };
  Status status = Status::failed;
  std::shared_ptr<const UserEntry> user;  // known only; shared with the cache
  std::string error;                      // failed only; names no user id
};

class DirectoryClient {
 public:
  struct Options {
    // Users per request; tests lower it.
    std::size_t max_users_per_request = adapters::kMaxUsersPerLookup;
  };
  using Callback = std::function<void(std::vector<UserAnswer>)>;

  // `config` is copied; `ioc` and `clock` must outlive the client. Its ttl is measured in
  // `clock`'s steady time.
  DirectoryClient(boost::asio::io_context& ioc, const config::Directory& config,
                  const core::Clock& clock, Options options);
  DirectoryClient(boost::asio::io_context& ioc, const config::Directory& config,
                  const core::Clock& clock);
  ~DirectoryClient();
  DirectoryClient(const DirectoryClient&) = delete;
  DirectoryClient& operator=(const DirectoryClient&) = delete;

  // Who each of `ids` is, asked on behalf of connector `source`. `done` gets one answer per
  // id, in the order of `ids`, exactly once, later, on the io_context's thread (never from
  // inside lookup()), unless the client is destroyed first.
  void lookup(std::string source, std::vector<std::string> ids, Callback done);

  // The answers lookup() would give, at once on the calling thread, when every one of `ids` is
  // in the cache and fresh (an id that is not one counts as unknown); nothing when any must be
  // asked. Saves an ingest request the hop to the io thread. May be called from any thread.
  std::optional<std::vector<UserAnswer>> cached_answers(std::span<const std::string> ids) const;

  // Users in the cache (expired ones included until they are next looked up or evicted), and
  // requests sent so far. May be read from any thread.
  std::size_t cached() const;
  std::size_t requests_sent() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace treve::directory
