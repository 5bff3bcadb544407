// TransactionRunner: the retry rules of txgate, in one place.
//
// Every RPC's work goes through here, on an executor thread (it blocks;
// ExecuteInline alone runs on a gRPC thread, never blocking longer than its
// bounded wait, and hands over to ExecuteHandedOver on an executor thread):
//  - a connection loss while nothing can have committed (a read, a
//    statement before COMMIT, a command that never reached the server) is
//    healed: the work re-runs on a fresh connection while the deadline
//    allows, at most max_heal_retries times per call, with backoff between
//    re-runs; past that the loss is answered (UNAVAILABLE);
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
//  - a statement whose result misses its expectation (expectation.h) ends
//    the transaction at once: rolled back, never re-run, and with a key no
//    outcome recorded (the record is written only after every statement);
//  - on cancellation or deadline the running statement is killed, the
//    transaction rolled back (by the lease's return) and the caller gets
//    CANCELLED / DEADLINE_EXCEEDED.
// A RunTransaction goes to the database in two round trips when its
// statements allow (RunnerOptions::batch_transactions, README "Two round
// trips per RunTransaction"): XA START, the key's claim and the statements
// as one command (a loss there is a loss before COMMIT: healed), then the
// outcome, XA END and XA COMMIT as another (a loss there is a lost COMMIT:
// resolved by the key, or UNKNOWN without one). A duplicate key fails the
// claim (1062), which the outcome resolution answers.
// The rules themselves are RetryPolicy's; this class runs attempts of each
// RPC's work and executes the policy's decisions in one heal loop (Heal).
// It sees the database only through db::Connection and time only through
// the Clock it is given, so tests/unit/transaction_runner_test.cc drives it
// with scripted connections and a test clock.
#ifndef TXGATE_SERVER_RUNNER_TRANSACTION_RUNNER_H_
#define TXGATE_SERVER_RUNNER_TRANSACTION_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/mutex.h"
#include "server/db/connection.h"
#include "server/pool/connection_pool.h"
#include "server/runner/call_context.h"
#include "server/runner/chunker.h"
#include "server/runner/outcome_store.h"
#include "server/runner/retry_policy.h"
#include "server/sql/session_effects.h"
#include "server/sql/statement_kind.h"
#include "txgate/v1/database.pb.h"

namespace txgate::runner {

struct RunnerOptions {
  // Re-runs of a RunTransaction after a deadlock or lock wait timeout, and
  // the pause before the n-th (n times conflict_backoff): RetryOptions.
  int max_conflict_retries = RetryOptions{}.max_conflict_retries;
  absl::Duration conflict_backoff = RetryOptions{}.conflict_backoff;
  // Re-runs of a call's work after connection losses, and their backoff:
  // RetryOptions.
  int max_heal_retries = RetryOptions{}.max_heal_retries;
  absl::Duration heal_backoff = RetryOptions{}.heal_backoff;
  absl::Duration heal_backoff_max = RetryOptions{}.heal_backoff_max;
  // Bounds of one unary response; larger results belong to StreamQuery.
  // max_result_bytes bounds the encoded size of every response message
  // (ByteSizeLong of what gRPC sends), StreamQuery chunks' too; its default
  // leaves 64 KiB under gRPC's default 4 MiB receive limit (chunker.h).
  int64_t max_result_rows = 100000;
  int64_t max_result_bytes = kDefaultMaxMessageBytes;
  // Bounds of one StreamQuery chunk: rows, and the encoded size past which
  // it takes no further row (the hard bound is max_result_bytes; a row
  // larger than that is split across chunks: Chunker).
  int64_t stream_chunk_rows = 1000;
  int64_t stream_chunk_bytes = 1 << 20;
  // Longest pause of a StreamQuery consumer: the stream's session gets a
  // net_write_timeout this long (whole seconds), so the server keeps a
  // blocked write that long; past it the server drops the session and the
  // stream ends ABORTED, saying how many rows were sent.
  absl::Duration stream_idle_timeout = absl::Minutes(2);
  // Statements in one RunTransaction.
  int max_statements = 1000;
  // What an interactive transaction records for replay; past either bound
  // a connection loss ends it with ABORTED.
  size_t replay_max_statements = 1000;
  size_t replay_max_bytes = 4 << 20;
  // Run RunTransaction and Transaction as XA transactions, inside which
  // the server refuses anything that would commit early (a CALLed
  // procedure's COMMIT or DDL included). Without, a CALL is refused inside
  // a transaction. README, "Transactions".
  bool xa_transactions = true;
  // Send a RunTransaction in two round trips (README, "Two round trips per
  // RunTransaction"):
  // XA START, the idempotency key's claim and the statements as one
  // command, then the outcome, XA END and XA COMMIT as another. Only with
  // xa_transactions (inside XA the server refuses anything that would
  // commit between the statements); statements a batch cannot carry
  // (db::Connection::BatchText) run one round trip each, as before.
  bool batch_transactions = true;
};

// Counters for metrics.
struct RunnerStats {
  int64_t replays = 0;           // work re-run after a connection loss
  int64_t conflict_retries = 0;  // RunTransaction re-runs after 1213/1205
  int64_t outcome_lookups = 0;   // idempotency keys looked up
  // Execute calls the inline fast path ended on the receiving thread, and
  // those it handed over to an executor thread after beginning them.
  int64_t inline_completed = 0;
  int64_t inline_handed_over = 0;
};

class TransactionRunner {
 public:
  // `pool`, `outcomes` and `clock` must outlive the runner. `outcomes` may
  // be null for a runner of read-only work (on an account that cannot
  // write the outcome table): it refuses idempotency keys.
  TransactionRunner(pool::ConnectionPool* pool, OutcomeStore* outcomes, RunnerOptions options,
                    Clock* clock);

  RunnerStats stats() const {
    return RunnerStats{replays_.load(), conflict_retries_.load(), outcome_lookups_.load(),
                       inline_completed_.load(), inline_handed_over_.load()};
  }

  // Runs one statement. With an idempotency key (README, "Exactly-once
  // Execute"): a write runs as a one-statement keyed transaction
  // (RunTransaction's machinery, its answer recorded in the same commit); a
  // plain or locking read ignores the key; a statement that cannot run
  // inside a transaction (one that commits implicitly, a CALL whose
  // procedure commits, a CALL without XA) runs in autocommit mode and its
  // answer is recorded right after. A key seen before answers the recorded
  // response; with another request, IDEMPOTENCY_KEY_REUSED.
  absl::StatusOr<txgate::v1::ExecuteResponse> Execute(CallContext& ctx,
                                                      const txgate::v1::ExecuteRequest& request);

  absl::StatusOr<txgate::v1::RunTransactionResponse> RunTransaction(
      CallContext& ctx, const txgate::v1::RunTransactionRequest& request);

  // ---- The inline fast path (README, "Inline fast path") ---------------
  // An Execute begun on the thread that received it, which the executor
  // continues (ExecuteHandedOver) when it could not end there.
  class InlineExecute;
  struct InlineResult {
    // The answer, when the call ended on the calling thread.
    std::optional<absl::StatusOr<txgate::v1::ExecuteResponse>> answer;
    // Without an answer: the begun call for ExecuteHandedOver (null:
    // nothing begun, Execute runs it). With one: null, or a connection
    // whose return may block (a reset or a close), to destroy on an
    // executor thread.
    std::unique_ptr<InlineExecute> rest;
  };
  // Tries Execute on the calling thread without blocking longer than
  // `wait` in all (nothing is tried when `wait` is zero). Only an unkeyed
  // re-runnable read (a plain or locking read with no session effects:
  // RetryPolicy re-runs it after a loss, and a read's key is ignored)
  // whose prepared statement is cached on an idle connection free at once
  // (ConnectionPool::TryAcquire) runs here: its non-blocking steps
  // (db::Connection::StartAsync) with a wait for the database's answer of
  // at most `wait`. Anything else hands over: an answer not in by then, an
  // error (the heal loop decides on it as the call's first attempt), a
  // session needing a reset, a result over the unary limits, a
  // connection attached to a KILL in flight. The statement is never run
  // twice unless the retry rules re-run it. The connection is attached to
  // `ctx` (the statement killer reaches it) while the statement may run.
  InlineResult ExecuteInline(CallContext& ctx, const txgate::v1::ExecuteRequest& request,
                             absl::Duration wait);
  // On an executor thread: Execute for a call whose inline begin `begun`
  // did not end (null: nothing begun, plain Execute). A waiting step is
  // continued where it stopped (the statement is not sent again).
  absl::StatusOr<txgate::v1::ExecuteResponse> ExecuteHandedOver(
      CallContext& ctx, const txgate::v1::ExecuteRequest& request,
      std::unique_ptr<InlineExecute> begun);

  // The rows of one StreamQuery, read chunk by chunk; holds its connection
  // until destroyed (destroy it on an executor thread). The connection
  // stays attached to the call's CallContext for the stream's whole life,
  // also while the service waits for the client to take a chunk: a
  // cancellation, an expired deadline or a stalled client (the service's
  // StatementKiller::Kill) stops the query whenever it comes. Destroyed
  // before the end of the rows, it waits for such a KILL in flight, then
  // gives its connection back, which the pool closes without reading the
  // rest (db::Connection::pending_result).
  class QueryStream {
   public:
    ~QueryStream();
    QueryStream(const QueryStream&) = delete;
    QueryStream& operator=(const QueryStream&) = delete;

    // True while the query may still be sending rows (it was not read to
    // its end, nor ended by an error).
    bool unfinished() const { return lease_->pending_result(); }

    // Fills `chunk` with the next rows; sets chunk->done() at the end.
    // `ctx` is the one the stream was started with.
    absl::Status NextChunk(CallContext& ctx, txgate::v1::StreamQueryResponse* chunk);

   private:
    friend class TransactionRunner;
    // `ctx` has the lease's connection attached already.
    QueryStream(const TransactionRunner* runner, CallContext* ctx,
                pool::ConnectionPool::Lease lease, ChunkLimits limits)
        : runner_(runner),
          ctx_(ctx),
          lease_(std::move(lease)),
          chunker_(limits),
          last_read_(absl::Now()) {}
    const TransactionRunner* runner_;
    CallContext* const ctx_;
    pool::ConnectionPool::Lease lease_;
    Chunker chunker_;
    bool first_ = true;
    int64_t sent_rows_ = 0;
    // When NextChunk last returned, and the longest pause of the consumer
    // between two NextChunk calls (the server's blocked write, which
    // net_write_timeout bounds, begins within it; rows already in the
    // socket's buffers are still read after it).
    absl::Time last_read_;
    absl::Duration longest_pause_ = absl::ZeroDuration();
  };

  absl::StatusOr<std::unique_ptr<QueryStream>> StartQuery(
      CallContext& ctx, const txgate::v1::StreamQueryRequest& request);

  // One interactive transaction (the Transaction stream); rolls back unless
  // committed. Destroy it on an executor thread.
  class Interactive {
   public:
    // Runs one statement. An unmet Statement.expect answers
    // EXPECTATION_FAILED: the caller must then end the transaction
    // (destroying it rolls back), as for any other error of Run.
    absl::StatusOr<txgate::v1::ResultSet> Run(CallContext& ctx,
                                              const txgate::v1::Statement& statement);
    absl::Status Commit(CallContext& ctx, const txgate::v1::Commit& commit);
    // After a Commit that succeeded: its causality token ("" when the
    // transaction wrote nothing, or the server keeps no binary log).
    const std::string& causality_token() const { return causality_token_; }
    absl::Status Rollback(CallContext& ctx);
    // Gives the transaction up without a round trip: its connection's
    // socket is shut and the connection closed, and the server rolls the
    // transaction back when it reads the close. For an end that must not
    // wait for the database (a timeout, a drain, a client gone), where a
    // ROLLBACK would hang on a hung server until --mysql_read_timeout.
    // Destroy it next.
    void Abandon();

   private:
    friend class TransactionRunner;
    struct Recorded {
      txgate::v1::Statement statement;
      uint64_t checksum;
    };
    Interactive(TransactionRunner* runner, pool::ConnectionPool::Lease lease,
                txgate::v1::TransactionOptions options, bool clean)
        : runner_(runner),
          lease_(std::move(lease)),
          options_(std::move(options)),
          read_only_(options_.read_only()),
          clean_(clean) {}
    // Starts the (still empty) transaction again on its connection, reset.
    absl::Status Restart(CallContext& ctx);
    // Re-opens the transaction on a new connection and re-runs the log,
    // going on only if every result is the same.
    absl::Status Replay(CallContext& ctx);
    // The answer for a loss left unhealed (`why`: for want of time, or
    // past the heal budget): the transaction is gone (ABORTED,
    // TRANSACTION_LOST).
    static absl::Status Unhealed(const absl::Status& loss, absl::string_view why);
    void Remember(const txgate::v1::Statement& statement, const txgate::v1::ResultSet& result);
    std::string Fingerprint() const;
    static uint64_t Checksum(const txgate::v1::ResultSet& result);
    static absl::Status Lost(absl::string_view why);

    TransactionRunner* runner_;
    pool::ConnectionPool::Lease lease_;
    txgate::v1::TransactionOptions options_;
    bool read_only_;
    bool all_reads_ = true;
    // The transaction began on a session no other call had used since its
    // reset, so what earlier statements left on it is this transaction's.
    bool clean_;
    // A statement of it may leave session state: every session it runs on
    // is reset after it.
    bool leaves_state_ = false;
    int statements_run_ = 0;  // statements that succeeded
    std::vector<Recorded> log_;
    size_t log_bytes_ = 0;
    bool overflow_ = false;
    std::string causality_token_;
  };

  absl::StatusOr<std::unique_ptr<Interactive>> Begin(CallContext& ctx,
                                                     const txgate::v1::Begin& begin);

 private:
  // How one attempt of some work failed, for the RetryPolicy.
  struct AttemptFailure {
    absl::Status status;
    Phase phase = Phase::kBeforeSend;
    bool may_have_written = false;
    bool key_taken = false;  // the key's row exists or is being written elsewhere
    bool final = false;      // answer it as it is, whatever its class
    bool conflict = false;   // a transient conflict whatever its status says
    // The session whose COMMIT's fate is unknown (thread id 0: none).
    db::SessionIdentity lost_session;
  };

  // One attempt's result: a value, or how it failed.
  template <typename T>
  class Attempt {
   public:
    // Implicit, so that an attempt returns its value or its failure.
    Attempt(T&& value) : value_(std::move(value)) {}                     // NOLINT
    Attempt(AttemptFailure&& failure) : failure_(std::move(failure)) {}  // NOLINT
    bool ok() const { return value_.has_value(); }
    T& value() { return *value_; }
    const AttemptFailure& failure() const { return failure_; }

   private:
    std::optional<T> value_;
    AttemptFailure failure_;
  };

  // What the heal loop runs: attempts of one piece of work, and what
  // re-running it and resolving its outcome mean.
  template <typename T>
  struct Job {
    Job(Work w, bool k, absl::FunctionRef<Attempt<T>(int attempt)> a)
        : work(w), keyed(k), attempt(a) {}
    const Work work;
    const bool keyed;  // it carries an idempotency key
    // One attempt (numbered from 1); it owns and returns whatever
    // connection it leases.
    const absl::FunctionRef<Attempt<T>(int attempt)> attempt;
    // Before each re-run: re-establishes what the next attempt needs (an
    // interactive transaction replays its log). Null: nothing to do.
    std::function<absl::Status()> heal;
    // With a key, after a lost COMMIT (of that session) or a taken key (a
    // thread id of 0): the committed answer, or nullopt if the work did not
    // commit.
    std::function<absl::StatusOr<std::optional<T>>(const db::SessionIdentity& lost_session)>
        resolve;
    // The answer for a connection loss left unhealed because no time was
    // left or the heal budget is spent (`why` says which). Null: the loss
    // itself.
    std::function<absl::Status(const absl::Status& loss, absl::string_view why)> unhealed;
  };

  // The one heal loop: runs attempts of `job` and executes the policy's
  // decision after each failure, until an answer.
  template <typename T>
  absl::StatusOr<T> Heal(CallContext& ctx, const Job<T>& job);

  // The class of a failed attempt's error.
  FailureClass ClassOf(const AttemptFailure& failure) const;
  // The failure of a command on `conn`: `sent` is the phase if the
  // command reached the server, kBeforeSend if it certainly did not.
  static AttemptFailure FailedOn(const db::Connection& conn, absl::Status status, Phase sent,
                                 bool may_have_written);
  // A failure to answer as it is.
  static AttemptFailure Final(absl::Status status);

  absl::Duration TimeLeft(const CallContext& ctx) const { return ctx.deadline() - clock_->Now(); }
  // A heal pause's place in its backoff step, at random in [1/2, 1].
  double Jitter();

  // RESULT_TOO_LARGE for a unary result over --max_result_rows (`rows`)
  // or --max_result_bytes.
  absl::Status TooLarge(bool rows) const;
  // RESULT_TOO_LARGE if a response message of `encoded` bytes is over
  // --max_result_bytes.
  absl::Status CheckResponseSize(size_t encoded) const;
  // Reads the current result of `conn` (columns, rows, counters); `bytes`
  // grows by what it adds to the encoded response.
  absl::Status ReadResult(db::Connection& conn, txgate::v1::ResultSet* result,
                          int64_t* bytes) const;
  // Reads the next statement's result of a batch on `conn`.
  absl::Status ReadBatched(CallContext& ctx, db::Connection& conn, txgate::v1::ResultSet* result,
                           int64_t* bytes) const;
  // The first round trip's statement texts of `request` on `conn`: with a
  // key its claim (OutcomeStore::ClaimText) first, then the longest run of
  // leading statements the connection can batch (`*batched` of them).
  // Empty: no statement can be batched (the transaction runs as before).
  std::vector<std::string> BatchOf(db::Connection& conn,
                                   const txgate::v1::RunTransactionRequest& request,
                                   const std::string& key, const std::string& fingerprint,
                                   int* batched);
  // Statement texts seen writing a non-transactional table: never batched
  // again (in a batch, the statements after such a write have run when it
  // is seen; they are rolled back, but its own change stays). Bounded.
  bool KnownNonTransactional(const std::string& sql);
  void RememberNonTransactional(const std::string& sql);
  // Runs one statement on `conn`, reading all its results into `result`.
  absl::Status RunStatement(CallContext& ctx, db::Connection& conn, const std::string& sql,
                            const db::Params& params, txgate::v1::ResultSet* result,
                            int64_t* bytes) const;
  // Readies a leased session for a call with `effects`: resets it first if
  // the call reads what an earlier statement left and another call used
  // it; marks it for a reset after the call if the call may leave state.
  absl::Status PrepareSession(CallContext& ctx, db::Connection& conn,
                              const sql::SessionEffects& effects);
  // Opens a transaction on `conn` (creating the outcome table first).
  absl::Status OpenTransaction(CallContext& ctx, db::Connection& conn,
                               const txgate::v1::TransactionOptions& options);
  // Leases a connection and opens a transaction on it, healing losses.
  // `*fresh` says whether the session was unused by other calls.
  absl::StatusOr<pool::ConnectionPool::Lease> LeaseInTransaction(
      CallContext& ctx, const txgate::v1::TransactionOptions& options, bool* fresh);
  // The status to answer when the call was cancelled or ran out of time.
  absl::Status Interrupted(const CallContext& ctx) const;
  static absl::Status KeyReused();
  // Execute's statement in autocommit mode. With `key` (non-empty), its
  // answer is recorded under the key (with `fingerprint`) once it
  // succeeded, outside any transaction; a failed record leaves the answer
  // as it is.
  // `first`: an inline begin its first attempt continues (null: none).
  absl::StatusOr<txgate::v1::ExecuteResponse> ExecuteAutocommit(
      CallContext& ctx, const txgate::v1::ExecuteRequest& request, const sql::StatementKind& kind,
      const std::string& key, const std::string& fingerprint,
      std::unique_ptr<InlineExecute> first = nullptr);
  // Runs `b`'s statement on with non-blocking steps until it ends (true)
  // or `until` passes with a step waiting (false); InfiniteFuture waits as
  // long as the connection's read timeout allows.
  bool Drive(InlineExecute& b, absl::Time until) const;
  // A begun call's first attempt, on an executor thread: continues it and
  // answers as ExecuteAutocommit's attempt would.
  Attempt<txgate::v1::ExecuteResponse> ContinueInline(CallContext& ctx, InlineExecute& b);
  // The attempts of a RunTransaction whose request passed its checks
  // (`all_reads`, `effects`: of all its statements), with `key` (empty:
  // none) recorded under `fingerprint`. `execute`: it is a keyed Execute's
  // one-statement transaction, which commits a statement that wrote a
  // non-transactional table (that is what the statement alone does in
  // autocommit mode), but never re-runs anything after such a write.
  absl::StatusOr<txgate::v1::RunTransactionResponse> RunChecked(
      CallContext& ctx, const txgate::v1::RunTransactionRequest& request, const std::string& key,
      const std::string& fingerprint, bool all_reads, const sql::SessionEffects& effects,
      bool execute);
  static bool IsDuplicateKey(const absl::Status& status);
  static absl::StatusOr<txgate::v1::RunTransactionResponse> StoredResponse(
      const std::string& bytes);
  // Whether the transaction with `key` committed, by a locking read on a
  // fresh connection (then `*token`, unless null, is the causality token of
  // the server's binary log position at that moment: it covers the commit)
  // fresh connection, after killing `lost_session` (thread id 0: none) so
  // that its transaction is settled. The KILL is sent only if the process
  // list proves the id still names that session on the same server
  // (db::KillIfSameSession); otherwise the session is gone already (its
  // server restarted, or it ended) and the locking read decides alone.
  // The stored response if it committed.
  absl::StatusOr<std::optional<std::string>> ResolveOutcome(CallContext& ctx,
                                                            const std::string& key,
                                                            const std::string& fingerprint,
                                                            const db::SessionIdentity& lost_session,
                                                            std::string* token);
  // The check for a prior outcome of `key` before a keyed call's first
  // attempt: one plain (non-locking) read on the attempt's own connection,
  // in autocommit mode, so a new key costs one round trip and no lease of
  // its own. It sees every committed outcome; a concurrent execution that
  // has not committed yet is found by its unique row when this one records
  // (a duplicate-key error, then ResolveOutcome). An error: the read
  // failed. nullopt: none recorded. Otherwise the stored answer, which may
  // be an error itself (KeyReused() for another request's key, an ended-early
  // or non-transactional marker).
  absl::StatusOr<std::optional<absl::StatusOr<txgate::v1::RunTransactionResponse>>> PriorOutcome(
      CallContext& ctx, db::Connection& conn, const std::string& key,
      const std::string& fingerprint);

  pool::ConnectionPool* pool_;
  OutcomeStore* outcomes_;
  const RunnerOptions options_;
  const RetryPolicy policy_;
  Clock* clock_;
  Mutex random_mu_;
  absl::BitGen random_ ABSL_GUARDED_BY(random_mu_);
  std::atomic<int64_t> replays_{0};
  std::atomic<int64_t> conflict_retries_{0};
  std::atomic<int64_t> outcome_lookups_{0};
  Mutex nontransactional_mu_;
  absl::flat_hash_set<std::string> nontransactional_ ABSL_GUARDED_BY(nontransactional_mu_);
  std::atomic<int64_t> inline_completed_{0};
  std::atomic<int64_t> inline_handed_over_{0};
};

// What ExecuteInline began. Stages: kStart (nothing sent yet) → kWaiting
// ⇄ kRows → kDone, or kFailed / kTooLarge.
class TransactionRunner::InlineExecute {
 private:
  friend class TransactionRunner;
  enum class Stage { kStart, kWaiting, kRows, kDone, kFailed, kTooLarge };
  InlineExecute(const txgate::v1::ExecuteRequest& r, pool::ConnectionPool::Lease l)
      : request(r), lease(std::move(l)) {}
  const txgate::v1::ExecuteRequest& request;  // the call's, which outlives this
  pool::ConnectionPool::Lease lease;
  Stage stage = Stage::kStart;
  absl::Status failed;         // kFailed: the step's error
  bool too_many_rows = false;  // kTooLarge: by rows (else bytes)
  bool restarted = false;      // started again after its statement changed (DDL)
  txgate::v1::ExecuteResponse response;
  int64_t bytes = 0;  // of the response, as ReadResult counts them
  txgate::v1::Row row;
  size_t row_bytes = 0;
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_TRANSACTION_RUNNER_H_
