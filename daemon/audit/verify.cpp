#include "daemon/audit/verify.h"

#include <algorithm>
#include <future>
#include <istream>
#include <map>
#include <regex>

namespace treve::audit {
namespace {

std::string seq_range(std::int64_t from, std::int64_t to) {
  return from == to ? "record " + std::to_string(from)
                    : "records " + std::to_string(from) + " to " + std::to_string(to);
}

// The record just checked, kept to diagnose the next one.
struct Previous {
  std::int64_t seq = 0;
  std::string hash;
  std::string prev_hash;
};

class Checker {
 public:
  Checker(Trail& trail, const VerifyOptions& options, VerifyReport& report)
      : trail_(trail), report_(report) {
    for (const LoggedHead& h : options.heads)
      heads_[h.seq].push_back(h);
  }

  // The first record is checked against `anchor_hash`.
  void anchor(std::string hash, std::string description) {
    expected_prev_ = std::move(hash);
    report_.anchor = std::move(description);
  }

  // Checks one record; false once a problem is found.
  // `consistent`: whether the record's fields give its hash (computed by the caller).
  Expected<bool> check(const store::AuditRecord& r, bool consistent) {
    auto problem = diagnose(r, consistent);
    if (!problem)
      return std::unexpected(problem.error());
    if (*problem) {
      report_.problem = std::move(**problem);
      return false;
    }
    if (auto h = heads_.find(r.seq); h != heads_.end()) {
      // The same record may be logged several times (at a stop and at the next start): each
      // line must match.
      for (const LoggedHead& logged : h->second) {
        if (logged.hash == r.hash)
          continue;
        report_.problem =
            Problem{Problem::Kind::rewritten, r.seq,
                    "the daemon logged hash " + logged.hash + " for this record (log line " +
                        std::to_string(logged.line) + "), the trail now holds " + r.hash +
                        ": the chain was recomputed after " + last_matched_head()};
        return false;
      }
      ++report_.heads_matched;
      last_head_seq_ = r.seq;
      heads_.erase(h);
    }
    if (report_.records == 0) {
      report_.first_seq = r.seq;
      report_.first_at_ms = r.at_ms;
    }
    ++report_.records;
    report_.last_seq = r.seq;
    report_.last_at_ms = r.at_ms;
    report_.head = r.hash;
    prev_.seq = r.seq;  // assigned field by field: the strings keep their buffers
    prev_.hash = r.hash;
    prev_.prev_hash = r.prev_hash;
    expected_prev_ = r.hash;
    return true;
  }

  // After the last record: logged heads beyond it mean records were cut off the end.
  void finish(std::int64_t first_seq) {
    if (report_.problem)
      return;
    for (const auto& [seq, logged] : heads_) {
      const LoggedHead& h = logged.front();
      if (seq < first_seq) {
        ++report_.heads_before;
        continue;
      }
      if (seq > report_.last_seq) {
        const std::int64_t from = report_.last_seq + 1;
        report_.problem =
            Problem{Problem::Kind::truncated, from,
                    "the daemon logged record " + std::to_string(seq) + " (hash " + h.hash +
                        ", log line " + std::to_string(h.line) + ") but the trail ends at record " +
                        std::to_string(report_.last_seq) + ": at least " + seq_range(from, seq) +
                        " removed"};
        return;
      }
    }
  }

 private:
  std::string last_matched_head() const {
    return last_head_seq_
               ? "record " + std::to_string(last_head_seq_) +
                     " (the last logged head that still matches)"
               : "record " + std::to_string(report_.first_seq) + " (where verification started)";
  }

  // A problem with `r`, if any, named as precisely as the trail allows.
  Expected<std::optional<Problem>> diagnose(const store::AuditRecord& r, bool consistent) {
    const bool has_prev = prev_.seq != 0;
    const bool linked = r.prev_hash == expected_prev_;
    const bool gap = has_prev && r.seq != prev_.seq + 1;
    if (linked && consistent && !gap)
      return std::nullopt;
    using K = Problem::Kind;
    if (gap && !linked) {
      return Problem{K::missing, r.seq,
                     seq_range(prev_.seq + 1, r.seq - 1) + " missing: record " +
                         std::to_string(r.seq) + " does not follow record " +
                         std::to_string(prev_.seq)};
    }
    if (linked) {
      return Problem{K::edited, r.seq,
                     "its fields no longer give its hash (the record was changed after it was "
                     "written)"};
    }
    if (!has_prev) {
      return Problem{K::unanchored, r.seq,
                     "the first record does not continue from " + report_.anchor +
                         " (expected prev_hash " + expected_prev_ + ", found " + r.prev_hash + ")"};
    }
    // Not linked to the record before it.
    if (r.prev_hash == prev_.prev_hash) {
      return Problem{K::inserted, prev_.seq,
                     "record " + std::to_string(prev_.seq) + " and record " +
                         std::to_string(r.seq) + " both claim to follow record " +
                         std::to_string(prev_.seq - 1) + ": record " + std::to_string(prev_.seq) +
                         " was inserted"};
    }
    auto linked_to = trail_.seq_of_hash(r.prev_hash);
    if (!linked_to)
      return std::unexpected(linked_to.error());
    if (*linked_to && **linked_to > r.seq) {
      return Problem{K::reordered, r.seq,
                     "it was chained after record " + std::to_string(**linked_to) +
                         ", which now comes later: records were swapped or moved"};
    }
    if (*linked_to) {
      return Problem{K::missing, r.seq,
                     "it was chained after record " + std::to_string(**linked_to) +
                         ": the records between were removed and the rest renumbered"};
    }
    if (consistent) {
      return Problem{K::edited, prev_.seq,
                     "record " + std::to_string(prev_.seq) +
                         " was changed and its hash recomputed: record " + std::to_string(r.seq) +
                         " still follows its former hash " + r.prev_hash};
    }
    // Renumbered after a removal: the record's hash is right for a later number.
    store::AuditRecord moved = r;
    for (std::int64_t d = 1; d <= 64; ++d) {
      moved.seq = r.seq + d;
      if (store::compute_hash(moved) == r.hash) {
        return Problem{K::missing, r.seq,
                       "it was written as record " + std::to_string(moved.seq) + ": " +
                           std::to_string(d) + " record(s) before it were removed and the rest " +
                           "renumbered"};
      }
    }
    return Problem{K::edited, r.seq,
                   "it does not follow record " + std::to_string(prev_.seq) +
                       " and its fields no longer give its hash"};
  }

  Trail& trail_;
  VerifyReport& report_;
  std::map<std::int64_t, std::vector<LoggedHead>> heads_;  // by record
  std::int64_t last_head_seq_ = 0;
  std::string expected_prev_;
  Previous prev_;
};

}  // namespace

std::string_view to_string(Problem::Kind kind) {
  switch (kind) {
    case Problem::Kind::edited:
      return "edited";
    case Problem::Kind::missing:
      return "missing";
    case Problem::Kind::inserted:
      return "inserted";
    case Problem::Kind::reordered:
      return "reordered";
    case Problem::Kind::truncated:
      return "truncated";
    case Problem::Kind::rewritten:
      return "rewritten";
    case Problem::Kind::unanchored:
      return "unanchored";
  }
  return "unknown";
}

std::vector<LoggedHead> parse_heads(std::istream& log) {
  // Only a whole line the daemon could have written counts: its message is exactly
  // `event=audit.head seq=N hash=H` or `event=audit.checkpoint seq=N hash=H purged_through=K`,
  // alone (journalctl -o cat) or after serve's own prefix on standard error
  // (`2026-11-29T00:37:03.235 info `) or syslog's (`Nov 29 00:37:03 host treve[42]: `, the
  // date and host optional). Values the daemon logs from outside are quoted and escaped, so none
  // can end a line with this shape.
  static const std::regex head(
      R"(^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} info |)"
      R"((?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d [^ ]+ )?[A-Za-z0-9_.-]+\[\d+\]: )?)"
      R"(event=audit\.(head|checkpoint) seq=(\d+) hash=([0-9a-f]{64}))"
      R"((?: purged_through=\d+)?\r?$)");
  std::vector<LoggedHead> out;
  std::string line;
  int n = 0;
  std::smatch m;
  while (std::getline(log, line)) {
    ++n;
    if (line.find("event=audit.") == std::string::npos || !std::regex_match(line, m, head))
      continue;
    out.push_back(LoggedHead{std::stoll(m[2].str()), m[3].str(), n, m[1].str() == "checkpoint"});
  }
  return out;
}

Expected<VerifyReport> verify(Trail& trail, const VerifyOptions& options) {
  VerifyReport report;
  auto range = trail.range();
  if (!range)
    return std::unexpected(range.error());
  Checker checker(trail, options, report);
  if (range->count == 0) {
    report.anchor = "nothing: the trail is empty";
    checker.finish(0);
    return report;
  }
  const std::int64_t total =
      options.from_seq > range->first_seq ? range->last_seq - options.from_seq + 1 : range->count;
  std::int64_t done = 0;
  bool first = true;
  Expected<void> failure;

  // The first record is checked against genesis, the checkpoint of the purge that removed the
  // records before it, or (with --from) its own link.
  auto anchor = [&](const store::AuditRecord& r) -> Expected<bool> {
    if (options.from_seq > 0) {
      checker.anchor(r.prev_hash, "its own prev_hash (trusted: --from " +
                                      std::to_string(options.from_seq) + ")");
      return true;
    }
    if (r.seq == 1) {
      checker.anchor(std::string(store::kGenesisHash), "the start of the chain");
      return true;
    }
    auto cps = trail.checkpoints();
    if (!cps)
      return std::unexpected(cps.error());
    const Checkpoint* found = nullptr;
    for (const Checkpoint& c : *cps) {
      if (c.purged_through == r.seq - 1)
        found = &c;
    }
    if (!found) {
      report.problem = Problem{Problem::Kind::missing, r.seq,
                               seq_range(1, r.seq - 1) +
                                   " missing, and no checkpoint record accounts for their purge "
                                   "(every purge writes one)"};
      return false;
    }
    // Whoever can write the file could also delete recent records and append a checkpoint
    // claiming their purge: the daemon logs every checkpoint it writes, so a log that does
    // not vouch for this one exposes the forgery.
    if (!options.heads.empty()) {
      const bool logged = std::ranges::any_of(options.heads, [&](const LoggedHead& h) {
        return h.checkpoint && h.seq == found->seq && h.hash == found->hash;
      });
      if (!logged) {
        report.problem =
            Problem{Problem::Kind::unanchored, r.seq,
                    "the trail starts after a purge of " +
                        seq_range(found->purged_from, found->purged_through) +
                        ", but the log holds no "
                        "\"event=audit.checkpoint seq=" +
                        std::to_string(found->seq) + " hash=" + found->hash +
                        "\" line: the daemon logs every checkpoint it writes, so this one "
                        "may be forged (or the log given does not reach back to that purge)"};
        return false;
      }
    }
    checker.anchor(found->continues_from, "checkpoint record " + std::to_string(found->seq) + " (" +
                                              seq_range(found->purged_from, found->purged_through) +
                                              " purged)");
    return true;
  };

  // Records are read in batches; while one batch is read from the database, the previous
  // one is hashed on a second thread. The links are then checked in order.
  constexpr std::size_t kBatch = 4096;
  std::vector<store::AuditRecord> filling(kBatch), hashed(kBatch);
  std::size_t filled = 0, hashed_count = 0;
  std::future<std::vector<char>> hashing;
  auto hash_batch = [](const std::vector<store::AuditRecord>* batch, std::size_t n) {
    std::vector<char> consistent(n);
    for (std::size_t i = 0; i < n; ++i)
      consistent[i] = store::compute_hash((*batch)[i]) == (*batch)[i].hash;
    return consistent;
  };
  // Checks the batch being hashed; false to stop.
  auto check_hashed = [&]() -> bool {
    if (!hashing.valid())
      return true;
    const std::vector<char> consistent = hashing.get();
    for (std::size_t i = 0; i < hashed_count; ++i) {
      const store::AuditRecord& r = hashed[i];
      if (first) {
        first = false;
        auto a = anchor(r);
        if (!a) {
          failure = std::unexpected(a.error());
          return false;
        }
        if (!*a)
          return false;
      }
      auto ok = checker.check(r, consistent[i] != 0);
      if (!ok) {
        failure = std::unexpected(ok.error());
        return false;
      }
      if (!*ok)
        return false;
      if (options.progress && (++done & 0x3FFF) == 0)
        options.progress(done, total);
    }
    return true;
  };
  auto hand_over = [&]() -> bool {
    if (!check_hashed())
      return false;
    std::swap(filling, hashed);
    hashed_count = filled;
    filled = 0;
    hashing = std::async(std::launch::async, hash_batch, &hashed, hashed_count);
    return true;
  };

  Filter filter;
  filter.from_seq = options.from_seq;
  bool stopped = false;
  auto scanned = trail.scan(filter, [&](const store::AuditRecord& r) {
    filling[filled++] = r;  // assigned into kept strings: no allocation once warm
    if (filled == kBatch && !hand_over()) {
      stopped = true;
      return false;
    }
    return true;
  });
  if (!stopped && scanned && (!hand_over() || !check_hashed()))
    stopped = true;
  if (hashing.valid())
    hashing.wait();
  if (!scanned)
    return std::unexpected(scanned.error());
  if (!failure)
    return std::unexpected(failure.error());
  if (options.progress && !report.problem)
    options.progress(total, total);
  checker.finish(report.records > 0 ? report.first_seq : range->first_seq);
  return report;
}

}  // namespace treve::audit
