// DatabaseService: the gRPC handlers of txgate.v1.DatabaseService.
//
// Handlers are thin callback reactors: they decode the request's wire
// bytes (an undecodable one is answered INVALID_ARGUMENT), hand it to the TransactionRunner on the
// blocking Executor (never on gRPC's threads), and translate the outcome with ToGrpcStatus.
// The one exception is Execute's inline fast path (ServiceOptions::inline_wait,
// TransactionRunner::ExecuteInline): an unkeyed re-runnable read with a cached statement on a
// free idle connection runs with non-blocking steps on the gRPC thread that received it, which
// waits at most inline_wait and answers from there, or hands the call to the Executor.
// OnCancel (a cancelled call or a passed deadline) asks the StatementKiller to stop the running
// statement. Leases are returned on executor threads, except an inline call's clean one
// (Lease::clean(): a lock, no round trip).
//
// Streams are bounded too: at most max_open_streams are open, and one
// whose client stops taking its responses is ended after
// stream_write_timeout (StreamQuery: its statement killed; Transaction:
// rolled back), then reset if the client does not take its status either.
// A cancelled or expired StreamQuery kills its statement like a unary call.
//
// Around that, each call is authenticated (when a TokenAuthenticator is
// given) and runs on its principal's Backend: a read-only token's work
// runs on the read-only database account's pool (granted SELECT only, so
// the database refuses every write), and before that txgate gives early,
// friendly refusals — only read statements through Execute/StreamQuery,
// transactions READ ONLY, no idempotency key; recorded (CallRecord: request
// id, metrics, one log line), and interactive transactions are bounded:
// at most max_open_transactions hold a slot at once (taken at a stream's
// first message, freed before its status goes out), each rolled back and
// ended when it waits for its client longer than transaction_idle_timeout
// (or for its first message longer than transaction_begin_timeout), or
// when the server starts draining (Drain()).
//
// Admission: a new call is refused at once (RESOURCE_EXHAUSTED,
// SERVER_OVERLOADED) when max_queued_calls wait for a worker already or
// its bytes would go beyond max_inflight_request_bytes; its wait for a
// worker and a connection counts from its arrival and ends at
// acquire_timeout, or shortly before its deadline, with a precise answer.
// While draining, new calls are refused UNAVAILABLE (SERVER_SHUTTING_DOWN),
// and CutForShutdown() ends those still running the same way.
#ifndef TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_
#define TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/token_auth.h"
#include "server/common/executor.h"
#include "server/common/mutex.h"
#include "server/common/periodic_worker.h"
#include "server/metrics/metrics.h"
#include "server/runner/statement_killer.h"
#include "server/runner/transaction_runner.h"
#include "server/service/call_record.h"
#include "server/service/replica_router.h"
#include "txgate/v1/database.grpc.pb.h"

namespace txgate::service {

struct ServiceOptions {
  // Interactive transactions open at once: a Transaction stream takes a
  // slot when its first message (begin, or a first statement) arrives and
  // gives it back before its client sees the stream's status; one more is
  // refused with RESOURCE_EXHAUSTED. Each holds a pooled connection, so
  // this should stay below the pool's size. 0 (the default): half of the
  // pool's max_size, at least 1 (derived by service::Sanitize, see
  // server.h).
  int max_open_transactions = 0;
  // A Transaction stream whose first message has not arrived this long
  // after it opened is ended with ABORTED (reason TRANSACTION_IDLE_TIMEOUT):
  // it holds no slot and no connection, but would hold a stream. Zero
  // disables the limit.
  absl::Duration transaction_begin_timeout = absl::Seconds(5);
  // The longest a call waits for a worker and a pooled connection, counted
  // from its arrival (a Transaction message: from that message's):
  // pool.acquire_timeout, copied by service::Sanitize.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // New calls waiting for a worker at most; one more is refused at once
  // with RESOURCE_EXHAUSTED (reason SERVER_OVERLOADED). A queued call is
  // answered UNAVAILABLE (SERVER_OVERLOADED) when no worker took it within
  // acquire_timeout (or shortly before its deadline).
  int max_queued_calls = 256;
  // Bytes of requests (unary, StreamQuery, each Transaction message) being
  // handled at once; a call that would go beyond is refused at once with
  // RESOURCE_EXHAUSTED (SERVER_OVERLOADED), a Transaction message ends its
  // stream so (rolled back). gRPC's own memory (requests still being
  // received) is bounded by twice this (Server: grpc::ResourceQuota). Each
  // byte handled costs about three in memory (gRPC's buffer, the parsed
  // request, the database packet); the default keeps 32 concurrent 15 MiB
  // requests under the 512 MiB Kubernetes limit (tests/memory/run.sh). At
  // least max_request_bytes (raised by service::Sanitize, else a legal
  // request could never run).
  int64_t max_inflight_request_bytes = int64_t{64} << 20;
  // An interactive transaction waiting for its client longer than this is
  // rolled back and its stream ended with ABORTED (reason
  // TRANSACTION_IDLE_TIMEOUT). The wait counts from the moment txgate
  // handed its last response to gRPC: time blocked writing it (a client
  // that does not read) counts as well as time waiting for the next
  // message. Zero disables the limit.
  absl::Duration transaction_idle_timeout = absl::Minutes(1);
  // A StreamQuery or Transaction response that its client has not taken
  // this long after it was written (the client stopped reading, its
  // HTTP/2 flow-control window is full) ends the stream with ABORTED
  // (reason STREAM_WRITE_TIMEOUT): a StreamQuery's statement is killed
  // and its connection closed, a Transaction is rolled back and its
  // connection returned. The client gets that status after the responses
  // already written, once it reads again; if it has not taken them this
  // long after the status was queued either, the stream is reset
  // (RST_STREAM, CANCELLED), freeing gRPC's buffers and the stream's slot.
  // Zero disables the limit.
  absl::Duration stream_write_timeout = absl::Seconds(30);
  // StreamQuery and Transaction streams open at once, from their arrival
  // until gRPC is done with them; one more is refused at once with
  // RESOURCE_EXHAUSTED (reason SERVER_OVERLOADED). Each may hold a
  // response of up to a chunk (RunnerOptions::stream_chunk_bytes) in
  // gRPC's buffers while its client does not read, so this bounds that
  // memory: 128 streams of 1 MiB chunks.
  int max_open_streams = 128;
  // Execute's inline fast path (TransactionRunner::ExecuteInline): an
  // unkeyed re-runnable read, when an idle connection is free at once,
  // runs on the gRPC thread that received it, which waits at most this
  // long for the database's answer and then answers from that thread;
  // otherwise the call goes on on a worker thread. Zero: every call goes
  // to a worker thread.
  absl::Duration inline_wait = absl::Microseconds(300);
};

class TransactionCall;
class StreamQueryCall;
class StreamReactor;

// Where a principal's work runs: the runner over one database account's
// pool, and the killer that stops that account's statements (an account
// may always KILL its own sessions).
struct Backend {
  runner::TransactionRunner* runner = nullptr;
  runner::StatementKiller* killer = nullptr;
};

// The four RPCs take and give their messages' wire bytes (gRPC's raw
// callback methods) and decode them here, so that a request that is not a
// valid message is answered INVALID_ARGUMENT (reason INVALID_REQUEST) like
// any other bad input; gRPC's own decoding answers such a unary call
// UNIMPLEMENTED and ends such a stream without saying why.
using RawDatabaseService = txgate::v1::DatabaseService::WithRawCallbackMethod_Execute<
    txgate::v1::DatabaseService::WithRawCallbackMethod_RunTransaction<
        txgate::v1::DatabaseService::WithRawCallbackMethod_StreamQuery<
            txgate::v1::DatabaseService::WithRawCallbackMethod_Transaction<
                txgate::v1::DatabaseService::Service>>>>;

class DatabaseService final : public RawDatabaseService {
 public:
  // `read_write` serves read-write principals (and everyone without
  // authentication), `read_only` read-only tokens; a read_only with no
  // runner refuses them (PERMISSION_DENIED). `auth` (nullptr: no
  // authentication) and `metrics` (nullptr: none) must outlive the service,
  // as must the runners, killers and executor.
  DatabaseService(Backend read_write, Backend read_only, Executor* executor, ServiceOptions options,
                  const auth::TokenAuthenticator* auth, metrics::Metrics* metrics);
  ~DatabaseService() override;  // Calls Stop().

  // Shutdown has begun: refuses new interactive transactions and ends the
  // open ones (rolled back, UNAVAILABLE with reason SERVER_SHUTTING_DOWN)
  // as soon as each waits for its client — at once for those waiting now.
  // A call already running (a statement, a COMMIT) completes first.
  void Drain();
  // Stops the idle watchdog; call once no call is left (after the gRPC
  // server's Wait()).
  void Stop();

  // Ends (cuts) every call still running: cancels its context for the
  // shutdown and stops its statement; each is answered UNAVAILABLE (reason
  // SERVER_SHUTTING_DOWN) unless it completed anyway. Called by the drain
  // shortly before its grace period ends.
  void CutForShutdown();

  // Interactive transactions holding a slot now.
  int open_transactions() const;
  // Bytes of requests being handled now (see max_inflight_request_bytes).
  int64_t inflight_request_bytes() const { return inflight_bytes_.load(); }
  // Calls refused or dropped by the admission bounds, ever.
  int64_t overload_refusals() const { return overload_refusals_.load(); }
  // For the service's reactors: the call has its answer and is done.
  void Untrack(const runner::CallContext* call);
  // Calls whose final status is not decided yet.
  int unfinished_calls() const { return unfinished_.load(); }

  // Reads may run on replicas (README, "Reads on replicas"); set before
  // traffic, `router` must outlive the service. Without it every read runs
  // on the primary.
  void SetReplicaRouter(ReplicaRouter* router) { replicas_ = router; }

  // Runs a read with `read` options: on the replica the router picks (after
  // its GTID wait), and on `primary` when it picks none or the replica
  // failed before the read ran (ReplicaRouter::FallBack). `run` does the
  // work on the runner it is given. `routable`: the work is a read that
  // may run elsewhere (false: `primary` at once). Only the read-write
  // backend's work is routed.
  // Whether RunRead would ask the router for a replica for a routable read
  // of `primary`'s principal with `read` (routing REPLICA, its own or the
  // server's default); no replica is picked and nothing blocks.
  bool WouldRoute(runner::TransactionRunner* primary, const txgate::v1::ReadOptions& read) const {
    return replicas_ != nullptr && primary == read_write_.runner && replicas_->WantsReplica(read);
  }

  template <typename T>
  absl::StatusOr<T> RunRead(
      runner::CallContext& call, runner::TransactionRunner* primary,
      const txgate::v1::ReadOptions& read, bool routable,
      const std::function<absl::StatusOr<T>(runner::TransactionRunner*)>& run) {
    // Read-only tokens' work stays on their own account (granted SELECT
    // only), which replicas do not serve: only read-write principals' reads
    // are routed.
    runner::TransactionRunner* replica =
        routable && replicas_ != nullptr && primary == read_write_.runner
            ? replicas_->Route(call, read)
            : nullptr;
    if (replica == nullptr) return run(primary);
    absl::StatusOr<T> result = run(replica);  // Route set the replica's killer
    if (result.ok() || call.cancelled() || !ReplicaRouter::FallBack(result.status())) {
      return result;
    }
    replicas_->CountFallBack();
    call.set_killer(nullptr);  // the primary's, the service's own
    return run(primary);
  }
  // Interactive transactions ended by the idle timeout, ever.
  int64_t idle_timeouts() const { return idle_timeouts_.load(); }
  // Streams ended by stream_write_timeout, ever.
  int64_t write_timeouts() const { return write_timeouts_.load(); }
  // StreamQuery and Transaction streams open now (see max_open_streams).
  int open_streams() const;

  using RawDatabaseService::Execute;
  using RawDatabaseService::RunTransaction;
  using RawDatabaseService::StreamQuery;
  using RawDatabaseService::Transaction;
  // Each takes the request's wire bytes (a txgate.v1.ExecuteRequest, ...)
  // and answers with the response's.
  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* RunTransaction(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;

  grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamQuery(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request) override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Transaction(
      grpc::CallbackServerContext* context) override;

 private:
  friend class TransactionCall;
  friend class StreamQueryCall;

  struct Admission;  // defined in the .cc

  // The admission step every call starts with: records the call (request
  // id, `method`, the description of `sql` and the number of `statements`
  // when given), makes its CallContext, authenticates it, picks its
  // Backend and, for a read-only token, refuses `sql` unless it cannot
  // write. Without `sql`
  // there is no statement check: RunTransaction and Transaction run a
  // read-only token's work READ ONLY instead.
  //
  // It also reserves the call's `request_bytes` against
  // max_inflight_request_bytes, refuses new calls while draining, sets the
  // bound of the call's wait for a connection (acquire_timeout from now,
  // or sooner before its deadline) and tracks the call for
  // CutForShutdown() until Untrack().
  Admission Admit(grpc::CallbackServerContext* context, absl::string_view method,
                  const std::string* sql, int64_t request_bytes,
                  std::optional<int> statements = std::nullopt);
  // Admit()'s first part: record, context, authentication, backend.
  Admission Identify(grpc::CallbackServerContext* context, absl::string_view method,
                     const std::string* sql, std::optional<int> statements);
  // Runs a new call's `work` on the executor within the admission bounds:
  // refuses it (calls `end` with RESOURCE_EXHAUSTED) when max_queued_calls
  // wait already, and answers it UNAVAILABLE (by `end`, on the executor's
  // timer thread) if no worker took it by its acquire deadline.
  void Dispatch(const runner::CallContext& call, Executor::Task work,
                absl::AnyInvocable<void(const absl::Status&)> end);
  // Why a request of `bytes` is refused (max_inflight_request_bytes).
  absl::Status BytesRefused(int64_t bytes) const;
  // When a call arriving now with `deadline` stops waiting for a worker or
  // a connection: acquire_timeout from now, or sooner, shortly before its
  // deadline, so that it gets a precise answer rather than
  // DEADLINE_EXCEEDED.
  absl::Time AcquireBy(absl::Time deadline) const;
  // Shortly before `deadline` (a tenth of the time left, 5 ms to 250 ms;
  // never for none): where a call stops waiting for a writable primary in
  // the failover buffer, so that it hears why.
  absl::Time AnswerBy(absl::Time deadline) const;
  std::unique_ptr<CallRecord> Record(grpc::CallbackServerContext* context,
                                     absl::string_view method);
  // The caller's principal; an empty one when authentication is off.
  absl::StatusOr<auth::Principal> Authenticate(grpc::CallbackServerContext* context) const;
  // Tracks a Transaction stream (for Drain() and the watchdog) from its
  // start until Unregister(); refuses it while draining, or when
  // max_open_streams are open already (RESOURCE_EXHAUSTED,
  // SERVER_OVERLOADED).
  absl::Status Register(TransactionCall* call);
  void Unregister(TransactionCall* call);
  // The same for a StreamQuery stream (for the watchdog).
  absl::Status Register(StreamQueryCall* call);
  void Unregister(StreamQueryCall* call);
  // Refuses one more stream beyond max_open_streams.
  absl::Status StreamRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives `call` a slot (at its first message), or says why not.
  absl::Status TakeSlot(TransactionCall* call);
  // Frees `call`'s slot, if it holds one. Idempotent.
  void ReleaseSlot(TransactionCall* call);
  // Ends transactions idle too long and streams whose client stopped
  // reading, and resets the streams ended so that their client has not
  // taken their status either; runs on the watchdog's thread.
  void WatchIdle();

  // Constant after construction; the objects pointed to are thread-safe.
  const Backend read_write_;
  const Backend read_only_;
  Executor* executor_;
  const ServiceOptions options_;
  const auth::TokenAuthenticator* auth_;
  metrics::Metrics* metrics_;
  ReplicaRouter* replicas_ = nullptr;  // set before traffic
  // Atomic.
  std::atomic<int64_t> idle_timeouts_{0};
  std::atomic<int64_t> write_timeouts_{0};
  std::atomic<int> unfinished_{0};
  std::atomic<int64_t> inflight_bytes_{0};
  std::atomic<int64_t> overload_refusals_{0};

  // Lock order: mu_ before any TransactionCall::mu_ (Drain() and
  // WatchIdle() reach into the open calls with mu_ held).
  mutable Mutex mu_;
  std::set<TransactionCall*> open_ ABSL_GUARDED_BY(mu_);     // every Transaction stream
  std::set<TransactionCall*> slots_ ABSL_GUARDED_BY(mu_);    // those holding a slot
  std::set<StreamQueryCall*> streams_ ABSL_GUARDED_BY(mu_);  // every StreamQuery stream
  // Every call with no answer yet, and the killer that stops its statement.
  std::map<const runner::CallContext*,
           std::pair<std::shared_ptr<runner::CallContext>, runner::StatementKiller*>>
      live_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Runs WatchIdle() when transaction_idle_timeout,
  // transaction_begin_timeout or stream_write_timeout is set; started last
  // in the constructor, stopped by Stop().
  std::optional<PeriodicWorker> watchdog_;
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_
