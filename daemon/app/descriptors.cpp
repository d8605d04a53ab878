#include "daemon/app/descriptors.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace treve::app {
namespace {

constexpr std::size_t kAdminFloor = 4;
constexpr std::size_t kIngestFloor = 8;

}  // namespace

DescriptorLimit raise_descriptor_limit() {
  DescriptorLimit out;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.found = out.soft = limit.rlim_cur;
  out.hard = limit.rlim_max;
  if (limit.rlim_cur >= limit.rlim_max) {
    return out;
  }
  limit.rlim_cur = limit.rlim_max;
  // glibc's setrlimit is the prlimit64 system call, which the unit's @system-service allows.
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.soft = limit.rlim_cur;
  return out;
}

ConnectionCaps connection_caps(std::uint64_t limit, std::uint64_t reserved,
                               std::size_t ingest_wanted, std::size_t admin_wanted) {
  const std::uint64_t available = limit > reserved ? limit - reserved : 0;
  ConnectionCaps caps;
  caps.admin = static_cast<std::size_t>(
      std::min<std::uint64_t>(admin_wanted, std::max<std::uint64_t>(kAdminFloor, available / 8)));
  const std::uint64_t left = available > caps.admin ? available - caps.admin : 0;
  caps.ingest = static_cast<std::size_t>(
      std::min<std::uint64_t>(ingest_wanted, std::max<std::uint64_t>(kIngestFloor, left)));
  return caps;
}

}  // namespace treve::app
