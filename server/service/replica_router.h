// ReplicaRouter: where a read runs when txgate knows replicas (--mysql_hosts).
// README, "Reads on replicas".
//
// A read (Execute or StreamQuery of a statement that cannot write, a
// RunTransaction with read_only, a Transaction begun read-only) asks Route()
// with its ReadOptions. With routing REPLICA (the request's, else
// --read_routing) it gets the runner of a replica that the topology reports
// reachable, replicating, and lagging at most the request's
// max_staleness_ms (else --replica_max_lag); a replica whose lag is unknown
// (replication stopped or broken) is skipped. With a causality token, the
// chosen replica first runs SELECT MASTER_GTID_WAIT(<token's GTIDs>, t),
// t = --causal_read_timeout (or less, as the deadline allows): 0 means the
// replica has applied the write, so every read that starts after it on that
// replica sees it; -1 (timed out) or any failure means the primary serves
// the read. Route() answers nullptr whenever the primary should serve.
//
// Each replica gets its own small pool (connections opened lazily, none
// kept idle) of sessions whose every transaction is READ ONLY (a write
// fails with 1792, whatever the SQL classifier thought), and a runner
// without outcome store (read-only work takes no idempotency key). A failed
// replica attempt whose read never ran (FallBack()) is re-run on the
// primary by the caller.
#ifndef TXGATE_SERVER_SERVICE_REPLICA_ROUTER_H_
#define TXGATE_SERVER_SERVICE_REPLICA_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"
#include "server/db/connection.h"
#include "server/pool/connection_pool.h"
#include "server/runner/call_context.h"
#include "server/runner/statement_killer.h"
#include "server/runner/transaction_runner.h"
#include "server/topology/topology.h"
#include "txgate/v1/database.pb.h"

namespace txgate::service {

struct ReplicaRoutingOptions {
  // Where a read goes when its request leaves routing unspecified
  // (--read_routing): READ_ROUTING_PRIMARY or READ_ROUTING_REPLICA.
  txgate::v1::ReadRouting default_routing = txgate::v1::READ_ROUTING_PRIMARY;
  // Bounded staleness when the request sets no max_staleness_ms
  // (--replica_max_lag): replicas lagging more are skipped.
  absl::Duration max_lag = absl::Seconds(5);
  // Longest MASTER_GTID_WAIT for a causality token (--causal_read_timeout);
  // past it the primary serves the read.
  absl::Duration causal_read_timeout = absl::Seconds(1);
  // Each replica's pool: its size, and the rest of its settings (the
  // primary's pool options; min_idle is 0).
  int pool_max_size = 4;
  pool::PoolOptions pool;
  runner::RunnerOptions runner;
};

// What the router counted since it started; all monotonic but lag.
struct ReplicaRoutingStats {
  int64_t reads_primary = 0;       // reads routed to the primary (any reason)
  int64_t reads_replica = 0;       // reads run on a replica
  int64_t no_replica = 0;          // routing REPLICA, but no replica qualified
  int64_t gtid_waits = 0;          // MASTER_GTID_WAITs run
  int64_t gtid_wait_timeouts = 0;  // of which timed out (the primary served)
  int64_t gtid_wait_failures = 0;  // of which failed (the primary served)
  double gtid_wait_seconds = 0;    // their total time
  int64_t fallbacks = 0;           // replica attempts re-run on the primary
  // The largest lag of a reachable replica at the last routing (seconds;
  // -1: none known).
  double replica_lag_seconds = -1;
};

class ReplicaRouter {
 public:
  // Opens connections to one replica (the account's session settings, with
  // every transaction READ ONLY).
  using FactoryOf = std::function<db::ConnectionFactory(const topology::Endpoint&)>;

  // `topology` must outlive the router. `killer_factory_of` opens a
  // replica's killer connection (round trips bounded by about `kill_grace`,
  // as runner::StatementKiller needs); null: replica reads are stopped by
  // the socket cut only.
  ReplicaRouter(topology::Topology* topology, ReplicaRoutingOptions options, FactoryOf factory_of,
                Clock* clock, FactoryOf killer_factory_of = nullptr,
                absl::Duration kill_grace = absl::Seconds(1));
  ~ReplicaRouter();  // closes the replicas' pools; every lease must be back

  ReplicaRouter(const ReplicaRouter&) = delete;
  ReplicaRouter& operator=(const ReplicaRouter&) = delete;

  // The runner of the replica that serves this read, after its GTID wait;
  // nullptr: the primary serves it. Blocks for the wait (on an executor
  // thread). `read` was validated (its token parses). With a replica, the
  // call's killer is set to that replica's (CallContext::set_killer), so a
  // cancelled or expired read is stopped there by KILL QUERY.
  runner::TransactionRunner* Route(runner::CallContext& ctx, const txgate::v1::ReadOptions& read);

  // Whether Route() would look for a replica for `read`: its routing, or
  // the default when it leaves routing unspecified, is REPLICA.
  bool WantsReplica(const txgate::v1::ReadOptions& read) const {
    const txgate::v1::ReadRouting routing = read.routing() != txgate::v1::READ_ROUTING_UNSPECIFIED
                                                ? read.routing()
                                                : options_.default_routing;
    return routing == txgate::v1::READ_ROUTING_REPLICA;
  }

  // Whether a replica attempt that failed with `status` is re-run on the
  // primary: the replica could not serve it (unreachable, lost connection,
  // pool exhausted, its read-only mode refused a statement: 1290/1792), so
  // nothing of the read reached the caller. The request's own errors and
  // the call's end (cancelled, deadline) are answered as they are.
  static bool FallBack(const absl::Status& status);
  // Counts a re-run on the primary after FallBack().
  void CountFallBack() { fallbacks_.fetch_add(1, std::memory_order_relaxed); }

  ReplicaRoutingStats stats() const;

 private:
  struct Replica {
    std::unique_ptr<pool::ConnectionPool> pool;
    std::unique_ptr<runner::TransactionRunner> runner;
    std::unique_ptr<runner::StatementKiller> killer;  // null without a factory
  };
  // The replica of `endpoint`, its pool created on first use.
  Replica& ReplicaOf(const topology::Endpoint& endpoint);
  // MASTER_GTID_WAIT on `replica` for `gtids` within `timeout`: true when
  // applied.
  bool Wait(runner::CallContext& ctx, Replica& replica, const std::string& gtids,
            absl::Duration timeout);

  topology::Topology* const topology_;
  const ReplicaRoutingOptions options_;
  const FactoryOf factory_of_;
  Clock* const clock_;
  const FactoryOf killer_factory_of_;
  const absl::Duration kill_grace_;

  Mutex mu_;
  std::map<std::string, std::unique_ptr<Replica>> replicas_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;  // round robin over the eligible

  std::atomic<int64_t> reads_primary_{0};
  std::atomic<int64_t> reads_replica_{0};
  std::atomic<int64_t> no_replica_{0};
  std::atomic<int64_t> gtid_waits_{0};
  std::atomic<int64_t> gtid_wait_timeouts_{0};
  std::atomic<int64_t> gtid_wait_failures_{0};
  std::atomic<int64_t> gtid_wait_micros_{0};
  std::atomic<int64_t> fallbacks_{0};
  std::atomic<int64_t> lag_millis_{-1000};
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_REPLICA_ROUTER_H_
