#include "server/runner/transaction_runner.h"

#include <optional>
#include <utility>

#include "absl/hash/hash.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/sql/error.h"
#include "server/sql/statement_kind.h"
#include "server/sql/value_codec.h"

namespace txgate::runner {
namespace {

using txgate::v1::ResultSet;

absl::Status Invalid(absl::string_view message) {
  return sql::MakeStatus(absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST, message);
}

// Re-attaches the MySQL detail of `cause` to `status`.
absl::Status WithDetailOf(absl::Status status, const absl::Status& cause) {
  cause.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (!status.GetPayload(url)) status.SetPayload(url, payload);
  });
  return status;
}

// The answer when a COMMIT or an autocommit write was in flight when its
// connection died: it may or may not have been applied. The MySQL detail
// of the loss (e.g. 2013) stays attached.
absl::Status OutcomeUnknown(const absl::Status& cause) {
  return sql::WithReason(
      WithDetailOf(absl::Status(absl::StatusCode::kUnknown,
                                absl::StrCat("the connection was lost while the commit was in "
                                             "flight; it may or may not have been applied and "
                                             "was not re-run (",
                                             cause.message(), ")")),
                   cause),
      txgate::v1::COMMIT_OUTCOME_UNKNOWN);
}

absl::string_view IsolationSql(txgate::v1::IsolationLevel level) {
  switch (level) {
    case txgate::v1::ISOLATION_LEVEL_READ_UNCOMMITTED:
      return "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED";
    case txgate::v1::ISOLATION_LEVEL_READ_COMMITTED:
      return "SET TRANSACTION ISOLATION LEVEL READ COMMITTED";
    case txgate::v1::ISOLATION_LEVEL_REPEATABLE_READ:
      return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    case txgate::v1::ISOLATION_LEVEL_SERIALIZABLE:
      return "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE";
    default:
      return "";
  }
}

// Classifies `sql` once for the whole call and refuses what may not run.
absl::StatusOr<sql::StatementKind> CheckSql(const std::string& sql, bool in_transaction,
                                            int index) {
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  const std::string where = index >= 0 ? absl::StrCat("statement ", index + 1, ": ") : "";
  if (kind.empty) return Invalid(absl::StrCat(where, "the SQL text is empty"));
  if (in_transaction && kind.implicit_commit) {
    return sql::MakeStatus(
        absl::StatusCode::kInvalidArgument, txgate::v1::IMPLICIT_COMMIT_REFUSED,
        absl::StrCat(where,
                     "statements that commit implicitly or end the transaction (DDL, LOCK "
                     "TABLES, BEGIN/COMMIT/ROLLBACK, SET autocommit, ...) cannot run inside a "
                     "transaction; send them with Execute"));
  }
  return kind;
}

// Holds a connection attached to the call while a statement may run.
class Attached {
 public:
  Attached(CallContext& ctx, mysql::Connection* conn) : ctx_(ctx) { ctx_.Attach(conn); }
  ~Attached() { ctx_.Detach(); }

 private:
  CallContext& ctx_;
};

}  // namespace

TransactionRunner::TransactionRunner(pool::ConnectionPool* pool, OutcomeStore* outcomes,
                                     RunnerOptions options)
    : pool_(pool), outcomes_(outcomes), options_(options) {}

bool TransactionRunner::IsDuplicateKey(const absl::Status& status) {
  std::optional<sql::MysqlError> e = sql::GetMysqlError(status);
  return e.has_value() && e->errnum == 1062;
}

absl::Status TransactionRunner::Interrupted(CallContext& ctx) {
  if (ctx.expired()) {
    return sql::MakeStatus(absl::StatusCode::kDeadlineExceeded, txgate::v1::DEADLINE_EXCEEDED,
                           "the deadline passed; the statement was stopped on the server");
  }
  return sql::MakeStatus(absl::StatusCode::kCancelled, txgate::v1::CANCELLED,
                         "the call was cancelled; the statement was stopped on the server");
}

absl::Status TransactionRunner::RunStatement(
    CallContext& ctx, mysql::Connection& conn, const std::string& sql,
    const google::protobuf::RepeatedPtrField<txgate::v1::Value>& params, ResultSet* result,
    int64_t* bytes) const {
  Attached attached(ctx, &conn);
  if (ctx.cancelled()) return Interrupted(ctx);
  if (absl::Status s = conn.Start(sql, params); !s.ok()) return s;
  if (!conn.fields().empty()) {
    for (const sql::FieldInfo& f : conn.fields()) *result->add_columns() = sql::ColumnOf(f);
  }
  for (;;) {
    txgate::v1::Row row;
    size_t row_bytes = 0;
    absl::StatusOr<bool> more = conn.Next(&row, &row_bytes);
    if (!more.ok()) return more.status();
    if (!*more) break;
    *bytes += static_cast<int64_t>(row_bytes);
    if (result->rows_size() >= options_.max_result_rows || *bytes > options_.max_result_bytes) {
      (void)conn.Done();
      return sql::MakeStatus(
          absl::StatusCode::kResourceExhausted, txgate::v1::INVALID_REQUEST,
          absl::StrCat("the result exceeds the unary limit (", options_.max_result_rows,
                       " rows or ", options_.max_result_bytes,
                       " bytes); use StreamQuery for large results"));
    }
    *result->add_rows() = std::move(row);
  }
  absl::StatusOr<mysql::ExecSummary> summary = conn.Done();
  if (!summary.ok()) return summary.status();
  result->set_affected_rows(summary->affected_rows);
  result->set_last_insert_id(summary->last_insert_id);
  result->set_warning_count(summary->warning_count);
  return absl::OkStatus();
}

absl::StatusOr<txgate::v1::ExecuteResponse> TransactionRunner::Execute(
    CallContext& ctx, const txgate::v1::ExecuteRequest& request) {
  absl::StatusOr<sql::StatementKind> kind = CheckSql(request.sql(), false, -1);
  if (!kind.ok()) return kind.status();
  const bool read_only = kind->read_only;
  for (;;) {
    absl::StatusOr<pool::ConnectionPool::Lease> lease = pool_->Acquire(ctx.deadline());
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!lease.ok()) return lease.status();
    txgate::v1::ExecuteResponse response;
    int64_t bytes = 0;
    absl::Status status =
        RunStatement(ctx, **lease, request.sql(), request.params(), response.mutable_result(), &bytes);
    if (status.ok()) return response;
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!sql::IsConnectionLost(status)) return status;
    if (!read_only && (*lease)->maybe_executed()) return OutcomeUnknown(status);
    if (ctx.expired()) return status;  // UNAVAILABLE with the MySQL detail
    ++replays_;
    // Nothing can have been applied: heal and re-run on a fresh connection.
  }
}

absl::StatusOr<pool::ConnectionPool::Lease> TransactionRunner::LeaseInTransaction(
    CallContext& ctx, const txgate::v1::TransactionOptions& options) {
  const absl::string_view isolation = IsolationSql(options.isolation_level());
  const absl::string_view start =
      options.read_only() ? "START TRANSACTION READ ONLY" : "START TRANSACTION";
  for (;;) {
    absl::StatusOr<pool::ConnectionPool::Lease> lease = pool_->Acquire(ctx.deadline());
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!lease.ok()) return lease.status();
    absl::Status status;
    {
      Attached attached(ctx, lease->get());
      // The outcome table is DDL: create it before any transaction opens.
      if (!outcomes_->ensured()) (void)outcomes_->EnsureTable(**lease);
      if (!isolation.empty()) status = (*lease)->Query(isolation);
      if (status.ok()) status = (*lease)->Query(start);
    }
    if (status.ok()) return lease;
    if (ctx.cancelled()) return Interrupted(ctx);
    // Nothing has run yet: a loss here is always safe to heal.
    if (!sql::IsConnectionLost(status) || ctx.expired()) return status;
  }
}

absl::StatusOr<std::optional<std::string>> TransactionRunner::ResolveOutcome(
    CallContext& ctx, const std::string& key, const std::string& fingerprint,
    uint64_t lost_session) {
  ++outcome_lookups_;
  for (;;) {
    absl::StatusOr<pool::ConnectionPool::Lease> lease = pool_->Acquire(ctx.deadline());
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!lease.ok()) return lease.status();
    mysql::Connection& conn = **lease;
    absl::Status status;
    absl::StatusOr<std::optional<OutcomeStore::Stored>> stored;
    {
      Attached attached(ctx, &conn);
      if (lost_session != 0) {
        // Settle the lost session's transaction: once it is gone, its
        // COMMIT either happened or never will. (It may be gone already.)
        (void)conn.Query(absl::StrCat("KILL CONNECTION ", lost_session));
      }
      status = outcomes_->EnsureTable(conn);
      if (status.ok()) status = conn.Query("START TRANSACTION");
      if (status.ok()) {
        // A locking read waits for a transaction still writing the key.
        stored = outcomes_->Lookup(conn, key, fingerprint, /*locking=*/true);
        status = stored.status();
      }
      if (status.ok()) status = conn.Query("COMMIT");
    }
    if (status.ok()) {
      if (!stored->has_value()) return std::optional<std::string>();
      if (!(*stored)->same_request) return KeyReused();
      return std::optional<std::string>(std::move((*stored)->response));
    }
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!sql::IsConnectionLost(status) || ctx.expired()) return status;
  }
}

absl::Status TransactionRunner::KeyReused() {
  return sql::MakeStatus(absl::StatusCode::kFailedPrecondition, txgate::v1::IDEMPOTENCY_KEY_REUSED,
                         "this idempotency key was already used by a different request; "
                         "use a new key for a new transaction");
}

absl::StatusOr<txgate::v1::RunTransactionResponse> TransactionRunner::RunTransaction(
    CallContext& ctx, const txgate::v1::RunTransactionRequest& request) {
  if (request.statements().empty()) return Invalid("a transaction needs at least one statement");
  if (request.statements_size() > options_.max_statements) {
    return sql::MakeStatus(absl::StatusCode::kResourceExhausted, txgate::v1::INVALID_REQUEST,
                           absl::StrCat("a transaction may hold at most ",
                                        options_.max_statements, " statements"));
  }
  bool all_reads = true;
  for (int i = 0; i < request.statements_size(); ++i) {
    absl::StatusOr<sql::StatementKind> kind = CheckSql(request.statements(i).sql(), true, i);
    if (!kind.ok()) return kind.status();
    all_reads = all_reads && kind->read_only;
  }
  all_reads = all_reads || request.options().read_only();

  const std::string& key = request.idempotency_key();
  std::string fingerprint;
  if (!key.empty()) {
    if (key.size() > outcomes_->options().max_key_bytes) {
      return Invalid(absl::StrCat("the idempotency key is longer than ",
                                  outcomes_->options().max_key_bytes, " bytes"));
    }
    txgate::v1::RunTransactionRequest unkeyed = request;
    unkeyed.clear_idempotency_key();
    fingerprint = unkeyed.SerializeAsString();
    // A retry of a transaction that already committed: answer as before.
    absl::StatusOr<std::optional<std::string>> prior = ResolveOutcome(ctx, key, fingerprint, 0);
    if (!prior.ok()) return prior.status();
    if (prior->has_value()) return StoredResponse(**prior);
  }

  int conflicts = 0;
  for (uint32_t attempt = 1;; ++attempt) {
    absl::StatusOr<pool::ConnectionPool::Lease> lease =
        LeaseInTransaction(ctx, request.options());
    if (!lease.ok()) return lease.status();
    txgate::v1::RunTransactionResponse response;
    absl::Status status;
    int failed = -1;
    int64_t bytes = 0;
    for (int i = 0; i < request.statements_size() && status.ok(); ++i) {
      const txgate::v1::Statement& st = request.statements(i);
      status = RunStatement(ctx, **lease, st.sql(), st.params(), response.add_results(), &bytes);
      if (!status.ok()) failed = i;
    }
    response.set_attempts(attempt);
    bool recording = false;
    if (status.ok() && !key.empty()) {
      recording = true;
      Attached attached(ctx, lease->get());
      status = outcomes_->Record(**lease, key, fingerprint, response.SerializeAsString());
    }
    if (recording && IsDuplicateKey(status)) {
      // A concurrent execution with this key committed first.
      lease->Return();
      absl::StatusOr<std::optional<std::string>> prior = ResolveOutcome(ctx, key, fingerprint, 0);
      if (!prior.ok()) return prior.status();
      if (prior->has_value()) return StoredResponse(**prior);
      continue;  // it rolled back after all: run ours
    }
    bool committing = false;
    if (status.ok()) {
      committing = true;
      Attached attached(ctx, lease->get());
      status = (*lease)->Query("COMMIT");
    }
    if (status.ok()) return response;
    if (ctx.cancelled()) return Interrupted(ctx);
    if (sql::IsConnectionLost(status)) {
      if (committing && !all_reads && (*lease)->maybe_executed()) {
        if (key.empty()) return OutcomeUnknown(status);
        // Exactly-once: find out whether the lost COMMIT was applied.
        const uint64_t lost_session = (*lease)->thread_id();
        lease->Return();
        absl::StatusOr<std::optional<std::string>> prior =
            ResolveOutcome(ctx, key, fingerprint, lost_session);
        if (!prior.ok()) {
          return prior.status().code() == absl::StatusCode::kFailedPrecondition
                     ? prior.status()
                     : OutcomeUnknown(status);
        }
        if (prior->has_value()) return StoredResponse(**prior);
        // Not committed: it is safe to run it again.
      }
      if (ctx.expired()) return status;
      ++replays_;
      continue;  // the open transaction died with its connection: re-run it whole
    }
    if (sql::IsTransientConflict(status)) {
      if (conflicts >= options_.max_conflict_retries) {
        return sql::WithReason(
            sql::Annotate(status, absl::StrCat("gave up after ", conflicts + 1,
                                               " attempts of the transaction: ")),
            txgate::v1::CONFLICT_RETRIES_EXHAUSTED);
      }
      ++conflicts;
      ++conflict_retries_;
      lease->Return();  // rolls back
      const absl::Duration pause = options_.conflict_backoff * conflicts;
      if (absl::Now() + pause >= ctx.deadline()) return status;
      absl::SleepFor(pause);
      continue;
    }
    return failed >= 0 ? sql::Annotate(status, absl::StrCat("statement ", failed + 1, ": "))
                       : status;
  }
}

absl::StatusOr<txgate::v1::RunTransactionResponse> TransactionRunner::StoredResponse(
    const std::string& bytes) {
  txgate::v1::RunTransactionResponse response;
  if (!response.ParseFromString(bytes)) {
    return absl::DataLossError("the stored response of this idempotency key is unreadable");
  }
  return response;
}

absl::StatusOr<std::unique_ptr<TransactionRunner::QueryStream>> TransactionRunner::StartQuery(
    CallContext& ctx, const txgate::v1::StreamQueryRequest& request) {
  absl::StatusOr<sql::StatementKind> kind = CheckSql(request.sql(), false, -1);
  if (!kind.ok()) return kind.status();
  const bool read_only = kind->read_only;
  const int64_t max_rows = request.max_rows_per_chunk() > 0
                               ? std::min<int64_t>(request.max_rows_per_chunk(),
                                                   options_.stream_chunk_rows)
                               : options_.stream_chunk_rows;
  for (;;) {
    absl::StatusOr<pool::ConnectionPool::Lease> lease = pool_->Acquire(ctx.deadline());
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!lease.ok()) return lease.status();
    absl::Status status;
    {
      Attached attached(ctx, lease->get());
      status = (*lease)->Start(request.sql(), request.params());
    }
    if (status.ok()) {
      return std::unique_ptr<QueryStream>(new QueryStream(this, std::move(*lease), max_rows));
    }
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!sql::IsConnectionLost(status)) return status;
    if (!read_only && (*lease)->maybe_executed()) return OutcomeUnknown(status);
    if (ctx.expired()) return status;
  }
}

absl::Status TransactionRunner::QueryStream::NextChunk(CallContext& ctx,
                                                       txgate::v1::StreamQueryResponse* chunk) {
  mysql::Connection& conn = *lease_;
  Attached attached(ctx, &conn);
  if (ctx.cancelled()) return Interrupted(ctx);
  if (first_) {
    first_ = false;
    for (const sql::FieldInfo& f : conn.fields()) *chunk->add_columns() = sql::ColumnOf(f);
  }
  size_t bytes = 0;
  while (chunk->rows_size() < max_rows_ &&
         bytes < static_cast<size_t>(runner_->options_.stream_chunk_bytes)) {
    txgate::v1::Row row;
    absl::StatusOr<bool> more = conn.Next(&row, &bytes);
    if (!more.ok()) {
      if (ctx.cancelled()) return Interrupted(ctx);
      return sql::Annotate(more.status(),
                           absl::StrCat("the stream broke after ", sent_rows_, " rows: "));
    }
    if (!*more) {
      absl::StatusOr<mysql::ExecSummary> summary = conn.Done();
      if (!summary.ok()) return summary.status();
      chunk->set_warning_count(summary->warning_count);
      chunk->set_done(true);
      break;
    }
    *chunk->add_rows() = std::move(row);
  }
  sent_rows_ += chunk->rows_size();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TransactionRunner::Interactive>> TransactionRunner::Begin(
    CallContext& ctx, const txgate::v1::Begin& begin) {
  absl::StatusOr<pool::ConnectionPool::Lease> lease = LeaseInTransaction(ctx, begin.options());
  if (!lease.ok()) return lease.status();
  return std::unique_ptr<Interactive>(new Interactive(this, std::move(*lease), begin.options()));
}

absl::Status TransactionRunner::Interactive::Lost(absl::string_view why) {
  return sql::MakeStatus(absl::StatusCode::kAborted, txgate::v1::TRANSACTION_LOST,
                         absl::StrCat("the connection was lost inside the interactive transaction "
                                      "and it could not be replayed: ",
                                      why, "; it was rolled back"));
}

absl::Status TransactionRunner::Interactive::Replay(CallContext& ctx) {
  if (overflow_) {
    return Lost(absl::StrCat("it ran more than the replay bound (",
                             runner_->options_.replay_max_statements, " statements or ",
                             runner_->options_.replay_max_bytes, " bytes)"));
  }
  for (;;) {
    if (ctx.expired()) return Lost("the deadline passed");
    lease_ = pool::ConnectionPool::Lease();  // the broken connection goes
    absl::StatusOr<pool::ConnectionPool::Lease> lease =
        runner_->LeaseInTransaction(ctx, options_);
    if (!lease.ok()) return lease.status();
    lease_ = std::move(*lease);
    ++runner_->replays_;
    absl::Status status;
    for (const Recorded& r : log_) {
      ResultSet result;
      int64_t bytes = 0;
      status = runner_->RunStatement(ctx, *lease_, r.statement.sql(), r.statement.params(),
                                     &result, &bytes);
      if (!status.ok()) break;
      if (Checksum(result) != r.checksum) {
        return sql::MakeStatus(
            absl::StatusCode::kAborted, txgate::v1::REPLAY_MISMATCH,
            "the connection was lost and the transaction was replayed, but a statement's "
            "result differed from the first run (the data changed meanwhile); it was rolled "
            "back");
      }
    }
    if (status.ok()) return status;
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!sql::IsConnectionLost(status)) {
      return Lost(absl::StrCat("a replayed statement failed: ", status.message()));
    }
  }
}

uint64_t TransactionRunner::Interactive::Checksum(const ResultSet& result) {
  // Only within this process: the checksum never leaves it.
  return absl::Hash<std::string>{}(result.SerializeAsString());
}

void TransactionRunner::Interactive::Remember(const txgate::v1::Statement& statement,
                                              const ResultSet& result) {
  if (overflow_) return;
  log_bytes_ += statement.ByteSizeLong();
  if (log_.size() >= runner_->options_.replay_max_statements ||
      log_bytes_ > runner_->options_.replay_max_bytes) {
    overflow_ = true;
    log_.clear();
    return;
  }
  log_.push_back(Recorded{statement, Checksum(result)});
}

std::string TransactionRunner::Interactive::Fingerprint() const {
  std::string out;
  for (const Recorded& r : log_) {
    const std::string bytes = r.statement.SerializeAsString();
    absl::StrAppend(&out, bytes.size(), ":", bytes);
  }
  return out;
}

absl::StatusOr<ResultSet> TransactionRunner::Interactive::Run(
    CallContext& ctx, const txgate::v1::Statement& statement) {
  absl::StatusOr<sql::StatementKind> kind = CheckSql(statement.sql(), true, -1);
  if (!kind.ok()) return kind.status();
  all_reads_ = all_reads_ && kind->read_only;
  for (;;) {
    ResultSet result;
    int64_t bytes = 0;
    absl::Status status =
        runner_->RunStatement(ctx, *lease_, statement.sql(), statement.params(), &result, &bytes);
    if (status.ok()) {
      Remember(statement, result);
      return result;
    }
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!sql::IsConnectionLost(status)) return status;
    // The transaction died with its connection: nothing of it committed.
    if (absl::Status s = Replay(ctx); !s.ok()) return WithDetailOf(s, status);
  }
}

absl::Status TransactionRunner::Interactive::Commit(CallContext& ctx,
                                                    const txgate::v1::Commit& commit) {
  const std::string& key = commit.idempotency_key();
  if (key.size() > runner_->outcomes_->options().max_key_bytes) {
    return Invalid("the idempotency key is too long");
  }
  if (!key.empty() && overflow_) {
    return Invalid("an idempotent commit needs the transaction within the replay bound");
  }
  const std::string fingerprint = key.empty() ? "" : Fingerprint();
  for (;;) {
    absl::Status status;
    bool recording = false;
    if (!key.empty()) {
      recording = true;
      txgate::v1::TransactionResponse committed;
      committed.mutable_committed();
      Attached attached(ctx, lease_.get());
      status = runner_->outcomes_->Record(*lease_, key, fingerprint, committed.SerializeAsString());
    }
    if (recording && IsDuplicateKey(status)) {
      lease_.Return();
      absl::StatusOr<std::optional<std::string>> prior =
          runner_->ResolveOutcome(ctx, key, fingerprint, 0);
      if (!prior.ok()) return prior.status();
      if (prior->has_value()) return absl::OkStatus();  // committed before
      if (absl::Status s = Replay(ctx); !s.ok()) return s;
      continue;
    }
    bool committing = false;
    if (status.ok()) {
      committing = true;
      Attached attached(ctx, lease_.get());
      status = lease_->Query("COMMIT");
    }
    if (status.ok()) return status;
    if (ctx.cancelled()) return Interrupted(ctx);
    if (!sql::IsConnectionLost(status)) return status;
    if (committing && lease_->maybe_executed()) {
      // Nothing to lose in a transaction that wrote nothing.
      if (read_only_ || all_reads_) return absl::OkStatus();
      if (key.empty()) return OutcomeUnknown(status);
      const uint64_t lost_session = lease_->thread_id();
      lease_.Return();
      absl::StatusOr<std::optional<std::string>> prior =
          runner_->ResolveOutcome(ctx, key, fingerprint, lost_session);
      if (!prior.ok()) return OutcomeUnknown(status);
      if (prior->has_value()) return absl::OkStatus();
    }
    // Not committed (the COMMIT never left, or it was found not applied):
    // replay the transaction and commit again.
    if (absl::Status s = Replay(ctx); !s.ok()) return WithDetailOf(s, status);
  }
}

absl::Status TransactionRunner::Interactive::Rollback(CallContext& ctx) {
  absl::Status status;
  {
    Attached attached(ctx, lease_.get());
    status = lease_->Query("ROLLBACK");
  }
  // A lost connection rolls the transaction back just as well.
  if (!status.ok() && sql::IsConnectionLost(status)) return absl::OkStatus();
  return status;
}

}  // namespace txgate::runner
