// TransactionRunner: the retry rules of txgate, in one place.
//
// Every RPC's work goes through here, on an executor thread (it blocks):
//  - a connection loss while nothing can have committed (a read, a
//    statement before COMMIT, a command that never reached the server) is
//    healed: the work re-runs on a fresh connection while the deadline
//    allows;
//  - a loss while a COMMIT or an autocommit write was in flight answers
//    UNKNOWN / COMMIT_OUTCOME_UNKNOWN and is never re-run;
//  - a deadlock or lock wait timeout re-runs a RunTransaction whole, a
//    bounded number of times, then answers ABORTED;
//  - with an idempotency key, a transaction commits at most once: its
//    outcome is recorded with it (OutcomeStore) and a lost COMMIT is
//    resolved by looking the key up, a retry answered from the record;
//  - an interactive transaction records its statements and result
//    checksums and, after a connection loss before COMMIT, replays them on
//    a new connection, going on only if every result is the same;
//  - the request's own errors are answered at once with the MySQL detail;
//  - on cancellation or deadline the running statement is killed, the
//    transaction rolled back (by the lease's return) and the caller gets
//    CANCELLED / DEADLINE_EXCEEDED.
#ifndef TXGATE_SERVER_RUNNER_TRANSACTION_RUNNER_H_
#define TXGATE_SERVER_RUNNER_TRANSACTION_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/pool/connection_pool.h"
#include "server/runner/outcome_store.h"
#include "server/runner/call_context.h"
#include "txgate/v1/database.pb.h"

namespace txgate::runner {

struct RunnerOptions {
  // Re-runs of a RunTransaction after a deadlock or lock wait timeout.
  int max_conflict_retries = 3;
  absl::Duration conflict_backoff = absl::Milliseconds(20);
  // Bounds of one unary response; larger results belong to StreamQuery.
  int64_t max_result_rows = 100000;
  int64_t max_result_bytes = 4 << 20;
  // Bounds of one StreamQuery chunk.
  int64_t stream_chunk_rows = 1000;
  int64_t stream_chunk_bytes = 1 << 20;
  // Statements in one RunTransaction.
  int max_statements = 1000;
  // What an interactive transaction records for replay; past either bound
  // a connection loss ends it with ABORTED.
  size_t replay_max_statements = 1000;
  size_t replay_max_bytes = 4 << 20;
};

// Counters for metrics.
struct RunnerStats {
  int64_t replays = 0;           // work re-run after a connection loss
  int64_t conflict_retries = 0;  // RunTransaction re-runs after 1213/1205
  int64_t outcome_lookups = 0;   // idempotency keys looked up
};

class TransactionRunner {
 public:
  TransactionRunner(pool::ConnectionPool* pool, OutcomeStore* outcomes, RunnerOptions options);

  RunnerStats stats() const {
    return RunnerStats{replays_.load(), conflict_retries_.load(), outcome_lookups_.load()};
  }

  absl::StatusOr<txgate::v1::ExecuteResponse> Execute(CallContext& ctx,
                                                      const txgate::v1::ExecuteRequest& request);

  absl::StatusOr<txgate::v1::RunTransactionResponse> RunTransaction(
      CallContext& ctx, const txgate::v1::RunTransactionRequest& request);

  // The rows of one StreamQuery, read chunk by chunk; holds its connection
  // until destroyed (destroy it on an executor thread).
  class QueryStream {
   public:
    // Fills `chunk` with the next rows; sets chunk->done() at the end.
    absl::Status NextChunk(CallContext& ctx, txgate::v1::StreamQueryResponse* chunk);

   private:
    friend class TransactionRunner;
    QueryStream(const TransactionRunner* runner, pool::ConnectionPool::Lease lease,
                int64_t max_rows)
        : runner_(runner), lease_(std::move(lease)), max_rows_(max_rows) {}
    const TransactionRunner* runner_;
    pool::ConnectionPool::Lease lease_;
    int64_t max_rows_;
    bool first_ = true;
    int64_t sent_rows_ = 0;
  };

  absl::StatusOr<std::unique_ptr<QueryStream>> StartQuery(
      CallContext& ctx, const txgate::v1::StreamQueryRequest& request);

  // One interactive transaction (the Transaction stream); rolls back unless
  // committed. Destroy it on an executor thread.
  class Interactive {
   public:
    absl::StatusOr<txgate::v1::ResultSet> Run(CallContext& ctx,
                                              const txgate::v1::Statement& statement);
    absl::Status Commit(CallContext& ctx, const txgate::v1::Commit& commit);
    absl::Status Rollback(CallContext& ctx);

   private:
    friend class TransactionRunner;
    struct Recorded {
      txgate::v1::Statement statement;
      uint64_t checksum;
    };
    Interactive(TransactionRunner* runner, pool::ConnectionPool::Lease lease,
                txgate::v1::TransactionOptions options)
        : runner_(runner),
          lease_(std::move(lease)),
          options_(std::move(options)),
          read_only_(options_.read_only()) {}
    // Re-opens the transaction on a new connection and re-runs the log.
    absl::Status Replay(CallContext& ctx);
    void Remember(const txgate::v1::Statement& statement, const txgate::v1::ResultSet& result);
    std::string Fingerprint() const;
    static uint64_t Checksum(const txgate::v1::ResultSet& result);
    static absl::Status Lost(absl::string_view why);

    TransactionRunner* runner_;
    pool::ConnectionPool::Lease lease_;
    txgate::v1::TransactionOptions options_;
    bool read_only_;
    bool all_reads_ = true;
    std::vector<Recorded> log_;
    size_t log_bytes_ = 0;
    bool overflow_ = false;
  };

  absl::StatusOr<std::unique_ptr<Interactive>> Begin(CallContext& ctx,
                                                     const txgate::v1::Begin& begin);

 private:
  // Runs one statement on `conn`, reading all its rows into `result`.
  absl::Status RunStatement(CallContext& ctx, mysql::Connection& conn,
                            const std::string& sql,
                            const google::protobuf::RepeatedPtrField<txgate::v1::Value>& params,
                            txgate::v1::ResultSet* result, int64_t* bytes) const;
  // Leases a connection and opens a transaction on it, re-trying losses.
  absl::StatusOr<pool::ConnectionPool::Lease> LeaseInTransaction(
      CallContext& ctx, const txgate::v1::TransactionOptions& options);
  // The status to answer when the call was cancelled or ran out of time.
  static absl::Status Interrupted(CallContext& ctx);
  static absl::Status KeyReused();
  static bool IsDuplicateKey(const absl::Status& status);
  static absl::StatusOr<txgate::v1::RunTransactionResponse> StoredResponse(
      const std::string& bytes);
  // Whether the transaction with `key` committed, by a locking read on a
  // fresh connection, after killing `lost_session` (0: none) so that its
  // transaction is settled. The stored response if it did.
  absl::StatusOr<std::optional<std::string>> ResolveOutcome(CallContext& ctx,
                                                            const std::string& key,
                                                            const std::string& fingerprint,
                                                            uint64_t lost_session);

  pool::ConnectionPool* pool_;
  OutcomeStore* outcomes_;
  RunnerOptions options_;
  std::atomic<int64_t> replays_{0};
  std::atomic<int64_t> conflict_retries_{0};
  std::atomic<int64_t> outcome_lookups_{0};
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_TRANSACTION_RUNNER_H_
