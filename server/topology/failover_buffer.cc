#include "server/topology/failover_buffer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/sql/error.h"

namespace txgate::topology {

FailoverBuffer::FailoverBuffer(Topology* topology, FailoverBufferOptions options)
    : topology_(topology), options_(options) {}

absl::Status FailoverBuffer::Await(absl::Time deadline) {
  if (topology_->Primary()) return absl::OkStatus();
  const absl::Time start = absl::Now();
  const absl::Time window_end = start + options_.window;
  {
    MutexLock lock(&mu_);
    if (stats_.waiting >= options_.max_calls) {
      ++stats_.refused_full;
      return sql::MakeStatus(
          absl::StatusCode::kResourceExhausted, v1::FAILOVER_BUFFER_FULL,
          absl::StrCat("no writable primary is known, and ", stats_.waiting,
                       " calls already wait for one (--failover_buffer_max_calls=",
                       options_.max_calls, "); not run"));
    }
    ++stats_.waiting;
    ++stats_.buffered;
  }
  const std::optional<Endpoint> primary = topology_->WaitForPrimary(std::min(deadline, window_end));
  MutexLock lock(&mu_);
  --stats_.waiting;
  if (primary) {
    stats_.max_wait = std::max(stats_.max_wait, absl::Now() - start);
    return absl::OkStatus();
  }
  ++stats_.dropped;
  return sql::MakeStatus(
      absl::StatusCode::kUnavailable, v1::FAILOVER_IN_PROGRESS,
      deadline <= window_end
          ? absl::StrCat("no writable primary became known before the call's deadline (waited ",
                         absl::FormatDuration(absl::Now() - start),
                         " in the failover buffer); not run")
          : absl::StrCat("no writable primary became known within --failover_buffer_window=",
                         absl::FormatDuration(options_.window), "; not run"));
}

FailoverBufferStats FailoverBuffer::Stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace txgate::topology
