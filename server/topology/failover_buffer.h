// FailoverBuffer: where calls that need the writable primary wait while no
// primary is known (a failover or a switchover in progress, or a split
// brain), as Vitess's vtgate buffers primary traffic during a reparent.
// A call waits until a primary is known, bounded by its deadline, by the
// window and by the number of calls already waiting; it then runs on the
// new primary. Nothing of a buffered call has run, so no retry rule is
// involved. README, "Replication and failover".
#ifndef TXGATE_SERVER_TOPOLOGY_FAILOVER_BUFFER_H_
#define TXGATE_SERVER_TOPOLOGY_FAILOVER_BUFFER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"
#include "server/topology/topology.h"

namespace txgate::topology {

struct FailoverBufferOptions {
  // Longest wait of one call for a primary (--failover_buffer_window).
  absl::Duration window = absl::Seconds(10);
  // Calls waiting at once at most (--failover_buffer_max_calls); one more
  // is refused at once.
  int max_calls = 1000;
};

struct FailoverBufferStats {
  int waiting = 0;           // calls waiting now
  int64_t buffered = 0;      // calls that had to wait, ever
  int64_t dropped = 0;       // calls whose wait ended with no primary, ever
  int64_t refused_full = 0;  // calls refused because the buffer was full, ever
  absl::Duration max_wait;   // the longest wait that ended with a primary
};

class FailoverBuffer {
 public:
  // `topology` must outlive the buffer.
  FailoverBuffer(Topology* topology, FailoverBufferOptions options);

  // OK at once while a primary is known. Otherwise waits for one until
  // `deadline` or the window, whichever is sooner: OK when one is known,
  // else UNAVAILABLE with reason FAILOVER_IN_PROGRESS (the message says
  // whether the call's deadline or the window ended the wait).
  // RESOURCE_EXHAUSTED, reason FAILOVER_BUFFER_FULL, at once when
  // max_calls calls wait already. Thread-safe.
  absl::Status Await(absl::Time deadline);

  FailoverBufferStats Stats() const;

 private:
  Topology* const topology_;
  const FailoverBufferOptions options_;
  mutable Mutex mu_;
  FailoverBufferStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace txgate::topology

#endif  // TXGATE_SERVER_TOPOLOGY_FAILOVER_BUFFER_H_
