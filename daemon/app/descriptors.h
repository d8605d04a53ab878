// File descriptors for `serve`: every connection is one, and so are the store's files, the
// log and the sinks' connections. At start the soft RLIMIT_NOFILE is raised to the hard limit
// (systemd's default soft limit, 1024, is below the ingest listener's 1024 connections), and
// each listener's connection cap is derived from what the limit leaves, so that the listeners
// refuse a connection with an answer before the process runs out of descriptors. Plain
// functions; called once from `serve`, before the I/O threads start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace treve::app {

struct DescriptorLimit {
  std::uint64_t found = 0;  // the soft limit at start
  std::uint64_t soft = 0;   // the soft limit in force now
  std::uint64_t hard = 0;
  std::string error;  // why raising failed; empty when it worked or was not needed
};

// Raises the soft limit on open files to the hard limit.
DescriptorLimit raise_descriptor_limit();

// Descriptors kept aside for everything but the listeners' connections: the store (database,
// WAL, shared memory, the admin API's audit reads), the log, the event loop's own, the
// listeners' spares, with a margin; the sinks' connections come on top.
inline constexpr std::uint64_t kReservedDescriptors = 64;

struct ConnectionCaps {
  std::size_t ingest = 0;
  std::size_t admin = 0;
};

// Splits the descriptors `limit` leaves after `reserved` between the listeners, the admin one
// taking an eighth (it needs few, but must never be starved), each at most what it wants and
// at least a handful (then more than the limit allows: the caller warns).
ConnectionCaps connection_caps(std::uint64_t limit, std::uint64_t reserved,
                               std::size_t ingest_wanted, std::size_t admin_wanted);

}  // namespace treve::app
