// DatabaseService: the gRPC handlers of txgate.v1.DatabaseService.
//
// Handlers are thin callback reactors: they decode nothing themselves, hand
// the request to the TransactionRunner on the blocking Executor (never on
// gRPC's threads), and translate the outcome with ToGrpcStatus. OnCancel (a
// cancelled call or a passed deadline) asks the StatementKiller to stop the
// running statement. Leases are only ever returned on executor threads.
//
// Around that, each call is authenticated (when a TokenAuthenticator is
// given) and runs on its principal's Backend: a read-only token's work
// runs on the read-only database account's pool (granted SELECT only, so
// the database refuses every write), and before that txgate gives early,
// friendly refusals — only read statements through Execute/StreamQuery,
// transactions READ ONLY, no idempotency key; recorded (CallRecord: request
// id, metrics, one log line), and interactive transactions are bounded:
// at most max_open_transactions streams at once, each rolled back and ended
// when it waits for its client longer than transaction_idle_timeout, or
// when the server starts draining (Drain()).
#ifndef TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_
#define TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/random/random.h"
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
#include "txgate/v1/database.grpc.pb.h"

namespace txgate::service {

struct ServiceOptions {
  // Interactive Transaction streams open at once; one more is refused with
  // RESOURCE_EXHAUSTED. Each holds a pooled connection once begun, so this
  // should stay below the pool's size. 0 (the default): half of the pool's
  // max_size, at least 1 (derived by service::Sanitize, see server.h).
  int max_open_transactions = 0;
  // An interactive transaction waiting for its client's next message longer
  // than this is rolled back and its stream ended with ABORTED (reason
  // TRANSACTION_IDLE_TIMEOUT). Zero disables the limit.
  absl::Duration transaction_idle_timeout = absl::Minutes(1);
};

class TransactionCall;

// Where a principal's work runs: the runner over one database account's
// pool, and the killer that stops that account's statements (an account
// may always KILL its own sessions).
struct Backend {
  runner::TransactionRunner* runner = nullptr;
  runner::StatementKiller* killer = nullptr;
};

class DatabaseService final : public txgate::v1::DatabaseService::CallbackService {
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

  // Interactive transaction streams open now.
  int open_transactions() const;
  // Calls whose final status is not decided yet.
  int unfinished_calls() const { return unfinished_.load(); }
  // Interactive transactions ended by the idle timeout, ever.
  int64_t idle_timeouts() const { return idle_timeouts_.load(); }

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const txgate::v1::ExecuteRequest* request,
                                    txgate::v1::ExecuteResponse* response) override;

  grpc::ServerUnaryReactor* RunTransaction(grpc::CallbackServerContext* context,
                                           const txgate::v1::RunTransactionRequest* request,
                                           txgate::v1::RunTransactionResponse* response) override;

  grpc::ServerWriteReactor<txgate::v1::StreamQueryResponse>* StreamQuery(
      grpc::CallbackServerContext* context, const txgate::v1::StreamQueryRequest* request) override;

  grpc::ServerBidiReactor<txgate::v1::TransactionRequest, txgate::v1::TransactionResponse>*
  Transaction(grpc::CallbackServerContext* context) override;

 private:
  friend class TransactionCall;

  struct Admission;  // defined in the .cc

  // The admission step every call starts with: records the call (request
  // id, `method`, the description of `sql` and the number of `statements`
  // when given), makes its CallContext, authenticates it, picks its
  // Backend and, for a read-only token, refuses `sql` unless it cannot
  // write. Without `sql`
  // there is no statement check: RunTransaction and Transaction run a
  // read-only token's work READ ONLY instead.
  Admission Admit(grpc::CallbackServerContext* context, absl::string_view method,
                  const std::string* sql, std::optional<int> statements = std::nullopt);
  std::unique_ptr<CallRecord> Record(grpc::CallbackServerContext* context,
                                     absl::string_view method);
  // The caller's principal; an empty one when authentication is off.
  absl::StatusOr<auth::Principal> Authenticate(grpc::CallbackServerContext* context) const;
  // Admits an interactive transaction, or says why not.
  absl::Status Register(TransactionCall* call);
  void Unregister(TransactionCall* call);
  // Ends transactions idle too long; runs on the watchdog's thread.
  void WatchIdle();

  // Constant after construction; the objects pointed to are thread-safe.
  const Backend read_write_;
  const Backend read_only_;
  Executor* executor_;
  const ServiceOptions options_;
  const auth::TokenAuthenticator* auth_;
  metrics::Metrics* metrics_;
  // Atomic.
  std::atomic<int64_t> idle_timeouts_{0};
  std::atomic<int> unfinished_{0};

  // Lock order: mu_ before any TransactionCall::mu_ (Drain() and
  // WatchIdle() reach into the open calls with mu_ held).
  mutable Mutex mu_;
  std::set<TransactionCall*> open_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  // Runs WatchIdle() when transaction_idle_timeout is set; started last in
  // the constructor, stopped by Stop().
  std::optional<PeriodicWorker> watchdog_;
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_
