#include "server/service/replica_router.h"

#include <mysqld_error.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "server/sql/error.h"
#include "server/topology/causality.h"

namespace txgate::service {
namespace {

// The outcome of MASTER_GTID_WAIT: 0 applied, -1 timed out; NULL (an
// argument it could not take) and errors are failures.
constexpr absl::string_view kWaitSql = "SELECT MASTER_GTID_WAIT(?, ?)";

}  // namespace

ReplicaRouter::ReplicaRouter(topology::Topology* topology, ReplicaRoutingOptions options,
                             FactoryOf factory_of, Clock* clock, FactoryOf killer_factory_of,
                             absl::Duration kill_grace)
    : topology_(topology),
      options_(std::move(options)),
      factory_of_(std::move(factory_of)),
      clock_(clock),
      killer_factory_of_(std::move(killer_factory_of)),
      kill_grace_(kill_grace) {}

ReplicaRouter::~ReplicaRouter() {
  MutexLock lock(&mu_);
  for (auto& [name, replica] : replicas_) {
    replica->killer.reset();  // its threads stop before the pool closes
    replica->pool->Close();
  }
}

ReplicaRouter::Replica& ReplicaRouter::ReplicaOf(const topology::Endpoint& endpoint) {
  MutexLock lock(&mu_);
  std::unique_ptr<Replica>& slot = replicas_[endpoint.ToString()];
  if (slot == nullptr) {
    pool::PoolOptions pool_options = options_.pool;
    pool_options.max_size = std::max(1, options_.pool_max_size);
    pool_options.min_idle = 0;  // opened when reads come, not kept for none
    auto replica = std::make_unique<Replica>();
    // No probe: the topology monitor says whether the replica answers.
    replica->pool = std::make_unique<pool::ConnectionPool>(pool_options, factory_of_(endpoint));
    replica->runner = std::make_unique<runner::TransactionRunner>(replica->pool.get(), nullptr,
                                                                  options_.runner, clock_);
    if (killer_factory_of_) {
      replica->killer =
          std::make_unique<runner::StatementKiller>(killer_factory_of_(endpoint), kill_grace_);
    }
    slot = std::move(replica);
  }
  return *slot;
}

bool ReplicaRouter::Wait(runner::CallContext& ctx, Replica& replica, const std::string& gtids,
                         absl::Duration timeout) {
  gtid_waits_.fetch_add(1, std::memory_order_relaxed);
  const absl::Time start = clock_->Now();
  std::optional<int64_t> answer;
  {
    absl::StatusOr<pool::ConnectionPool::Lease> lease =
        replica.pool->Acquire(std::min(ctx.acquire_deadline(), start + timeout));
    if (lease.ok()) {
      db::Params params;
      params.Add()->set_string_value(gtids);
      params.Add()->set_double_value(absl::ToDoubleSeconds(timeout));
      ctx.Attach(lease->get());  // a cancelled call's KILL stops the wait too
      if ((*lease)->Start(kWaitSql, params).ok()) {
        txgate::v1::Row row;
        size_t bytes = 0;
        absl::StatusOr<bool> got = (*lease)->Next(&row, &bytes);
        if (got.ok() && *got && row.values_size() == 1 && row.values(0).has_int64_value()) {
          answer = row.values(0).int64_value();
        }
      }
      (void)(*lease)->Done();
      ctx.Detach();
    }
  }
  gtid_wait_micros_.fetch_add(absl::ToInt64Microseconds(clock_->Now() - start),
                              std::memory_order_relaxed);
  if (answer == 0) return true;
  (answer == -1 ? gtid_wait_timeouts_ : gtid_wait_failures_)
      .fetch_add(1, std::memory_order_relaxed);
  return false;
}

runner::TransactionRunner* ReplicaRouter::Route(runner::CallContext& ctx,
                                                const txgate::v1::ReadOptions& read) {
  const txgate::v1::ReadRouting routing = read.routing() != txgate::v1::READ_ROUTING_UNSPECIFIED
                                              ? read.routing()
                                              : options_.default_routing;
  if (routing != txgate::v1::READ_ROUTING_REPLICA) {
    reads_primary_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  const absl::Duration max_lag =
      read.max_staleness_ms() > 0 ? absl::Milliseconds(read.max_staleness_ms()) : options_.max_lag;
  std::vector<topology::Endpoint> eligible;
  absl::Duration largest = -absl::InfiniteDuration();
  for (const topology::Member& m : topology_->Members()) {
    if (m.role != topology::Role::kReplica || !m.reachable) continue;
    if (m.lag.has_value()) largest = std::max(largest, *m.lag);
    if (m.lag.has_value() && *m.lag <= max_lag) eligible.push_back(m.endpoint);
  }
  lag_millis_.store(
      largest == -absl::InfiniteDuration() ? -1000 : absl::ToInt64Milliseconds(largest),
      std::memory_order_relaxed);
  if (eligible.empty()) {
    no_replica_.fetch_add(1, std::memory_order_relaxed);
    reads_primary_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  size_t pick;
  {
    MutexLock lock(&mu_);
    pick = next_++ % eligible.size();
  }
  Replica& replica = ReplicaOf(eligible[pick]);
  ctx.set_killer(replica.killer.get());  // null: the service's own
  if (!read.causality_token().empty()) {
    absl::StatusOr<std::vector<topology::Gtid>> gtids =
        topology::ParseCausalityToken(read.causality_token());
    const absl::Duration timeout =
        std::min(options_.causal_read_timeout, ctx.deadline() - clock_->Now());
    if (!gtids.ok() || timeout <= absl::ZeroDuration() ||
        !Wait(ctx, replica, topology::GtidListOf(*gtids), timeout)) {
      ctx.set_killer(nullptr);
      reads_primary_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
  }
  reads_replica_.fetch_add(1, std::memory_order_relaxed);
  return replica.runner.get();
}

bool ReplicaRouter::FallBack(const absl::Status& status) {
  const std::optional<sql::MysqlError> e = sql::GetMysqlError(status);
  if (e.has_value() && (e->errnum == ER_OPTION_PREVENTS_STATEMENT ||
                        e->errnum == ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION)) {
    return true;  // 1290 (read_only), 1792 (READ ONLY transaction): a write the text hid
  }
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kAborted ||
         (status.code() == absl::StatusCode::kUnknown && sql::IsConnectionLost(status));
}

ReplicaRoutingStats ReplicaRouter::stats() const {
  ReplicaRoutingStats s;
  s.reads_primary = reads_primary_.load(std::memory_order_relaxed);
  s.reads_replica = reads_replica_.load(std::memory_order_relaxed);
  s.no_replica = no_replica_.load(std::memory_order_relaxed);
  s.gtid_waits = gtid_waits_.load(std::memory_order_relaxed);
  s.gtid_wait_timeouts = gtid_wait_timeouts_.load(std::memory_order_relaxed);
  s.gtid_wait_failures = gtid_wait_failures_.load(std::memory_order_relaxed);
  s.gtid_wait_seconds = gtid_wait_micros_.load(std::memory_order_relaxed) / 1e6;
  s.fallbacks = fallbacks_.load(std::memory_order_relaxed);
  s.replica_lag_seconds = lag_millis_.load(std::memory_order_relaxed) / 1e3;
  return s;
}

}  // namespace txgate::service
