// The auditor's tools on a large trail. Writes a store of --records audit records (events of
// 9 recipients: one `received` and nine `held` records each) through SqliteStore, then times
// audit::verify in process, `treve audit verify` as a process (what an auditor runs), a CSV
// export of everything and the statistics. Prints one figure per line.
//
//   bench_audit [--records N] [--dir DIR] [--keep]
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "daemon/audit/trail.h"
#include "daemon/audit/verify.h"
#include "daemon/core/digest.h"
#include "daemon/store/sqlite_store.h"
#include "policy/rfc3339.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace treve;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs a shell command, its output thrown away; the exit status.
int run(const std::string& command) {
  int rc = std::system((command + " > /dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t records = 1'000'000;
  std::string dir = "/tmp/treve-bench-audit";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--records" && i + 1 < argc)
      records = std::stoll(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--keep")
      keep = true;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/treve.db";

  constexpr int kRecipients = 9;
  const std::int64_t events = records / (kRecipients + 1);
  {
    store::SqliteOptions o;
    o.path = db;
    o.pseudonym_key.fill(9);
    auto s = store::SqliteStore::open(o);
    if (!s) {
      std::cerr << s.error().message << '\n';
      return 1;
    }
    const auto t0 = Clock::now();
    const policy::Instant base = *policy::parse_rfc3339("2026-11-27T21:00:00+01:00");
    const date::time_zone* paris = date::locate_zone("Europe/Paris");
    std::vector<store::NewEvent> batch;
    for (std::int64_t i = 0; i < events; ++i) {
      store::NewEvent e;
      e.source = "ent";
      e.id = "evt-" + std::to_string(i);
      e.establishment = "0750654D";
      e.category = static_cast<policy::Category>(i % 9);
      e.received_at = base + std::chrono::milliseconds{i * 50};
      e.zone = paris;
      e.body = R"({"title":"t"})";
      e.body_sha256 = core::sha256_hex(e.id);
      e.response = "{}";
      for (int r = 0; r < kRecipients; ++r) {
        store::NewDelivery d;
        d.recipient = "user-" + std::to_string((i * kRecipients + r) % 100'000);
        d.role = static_cast<policy::Role>(r % 3);
        d.release_at = base + std::chrono::hours{10};
        d.reason = "quiet window Fri 20:00-Mon 07:00";
        e.deliveries.push_back(std::move(d));
      }
      batch.push_back(std::move(e));
      if (batch.size() == 1000 || i + 1 == events) {
        if (auto r = (*s)->accept(batch, batch.back().received_at); !r) {
          std::cerr << r.error().message << '\n';
          return 1;
        }
        batch.clear();
      }
    }
    std::printf("records written: %lld in %.2f s\n",
                static_cast<long long>((*s)->next_audit_seq() - 1), seconds_since(t0));
  }
  std::printf("database: %.1f MB\n",
              static_cast<double>(std::filesystem::file_size(db)) / (1024.0 * 1024.0));

  {
    const auto t0 = Clock::now();
    auto trail = audit::Trail::open(db);
    if (!trail) {
      std::cerr << trail.error() << '\n';
      return 1;
    }
    auto report = audit::verify(**trail, {});
    const double s = seconds_since(t0);
    if (!report || report->problem) {
      std::cerr << "verify failed\n";
      return 1;
    }
    std::printf("verify (in process): %lld records in %.2f s (%.0f records/s)\n",
                static_cast<long long>(report->records), s,
                static_cast<double>(report->records) / s);
  }
  const std::string treve = TREVE_BINARY;
  for (auto [label, args] :
       {std::pair{"treve audit verify", std::string("verify --db ") + db},
        {"treve audit export (csv, everything)",
         "export --db " + db + " --from 2026-01-01 --to 2027-12-31 --format csv"},
        {"treve audit stats", "stats --db " + db + " --from 2026-01-01 --to 2027-12-31"}}) {
    const auto t0 = Clock::now();
    int rc = run("'" + treve + "' audit " + args);
    std::printf("%s: %.2f s (exit %d)\n", label, seconds_since(t0), rc);
  }
  if (!keep)
    std::filesystem::remove_all(dir);
  return 0;
}
