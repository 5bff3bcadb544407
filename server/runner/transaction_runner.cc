#include "server/runner/transaction_runner.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/sql/error.h"
#include "server/sql/statement_kind.h"
#include "server/sql/value_codec.h"

namespace txgate::runner {
namespace {

using txgate::v1::ResultSet;

absl::Status Invalid(absl::string_view message) {
  return sql::MakeStatus(absl::StatusCode::kInvalidArgument, sql::kReasonInvalidRequest, message);
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
      sql::kReasonCommitOutcomeUnknown);
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

absl::Status CheckSql(const std::string& sql, bool in_transaction, int index) {
  const std::string where = index >= 0 ? absl::StrCat("statement ", index + 1, ": ") : "";
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  if (kind.empty) return Invalid(absl::StrCat(where, "the SQL text is empty"));
  if (in_transaction && kind.implicit_commit) {
    return sql::MakeStatus(
        absl::StatusCode::kInvalidArgument, sql::kReasonImplicitCommit,
        absl::StrCat(where,
                     "statements that commit implicitly or end the transaction (DDL, LOCK "
                     "TABLES, BEGIN/COMMIT/ROLLBACK, SET autocommit, ...) cannot run inside a "
                     "transaction; send them with Execute"));
  }
  return absl::OkStatus();
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

TransactionRunner::TransactionRunner(pool::ConnectionPool* pool, RunnerOptions options)
    : pool_(pool), options_(options) {}

absl::Status TransactionRunner::Interrupted(CallContext& ctx) {
  if (ctx.expired()) {
    return sql::MakeStatus(absl::StatusCode::kDeadlineExceeded, sql::kReasonDeadline,
                           "the deadline passed; the statement was stopped on the server");
  }
  return sql::MakeStatus(absl::StatusCode::kCancelled, sql::kReasonCancelled,
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
          absl::StatusCode::kResourceExhausted, sql::kReasonInvalidRequest,
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
  if (absl::Status s = CheckSql(request.sql(), false, -1); !s.ok()) return s;
  const bool read_only = sql::ClassifyStatement(request.sql()).read_only;
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
      if (!isolation.empty()) status = (*lease)->Query(isolation);
      if (status.ok()) status = (*lease)->Query(start);
    }
    if (status.ok()) return lease;
    if (ctx.cancelled()) return Interrupted(ctx);
    // Nothing has run yet: a loss here is always safe to heal.
    if (!sql::IsConnectionLost(status) || ctx.expired()) return status;
  }
}

absl::StatusOr<txgate::v1::RunTransactionResponse> TransactionRunner::RunTransaction(
    CallContext& ctx, const txgate::v1::RunTransactionRequest& request) {
  if (request.statements().empty()) return Invalid("a transaction needs at least one statement");
  if (request.statements_size() > options_.max_statements) {
    return sql::MakeStatus(absl::StatusCode::kResourceExhausted, sql::kReasonInvalidRequest,
                           absl::StrCat("a transaction may hold at most ",
                                        options_.max_statements, " statements"));
  }
  bool all_reads = request.options().read_only();
  for (int i = 0; i < request.statements_size(); ++i) {
    if (absl::Status s = CheckSql(request.statements(i).sql(), true, i); !s.ok()) return s;
  }
  if (!all_reads) {
    all_reads = true;
    for (const txgate::v1::Statement& st : request.statements()) {
      all_reads = all_reads && sql::ClassifyStatement(st.sql()).read_only;
    }
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
    bool committing = false;
    if (status.ok()) {
      committing = true;
      Attached attached(ctx, lease->get());
      status = (*lease)->Query("COMMIT");
    }
    if (status.ok()) {
      response.set_attempts(attempt);
      return response;
    }
    if (ctx.cancelled()) return Interrupted(ctx);
    if (sql::IsConnectionLost(status)) {
      if (committing && !all_reads && (*lease)->maybe_executed()) return OutcomeUnknown(status);
      if (ctx.expired()) return status;
      continue;  // the open transaction died with its connection: re-run it whole
    }
    if (sql::IsTransientConflict(status)) {
      if (conflicts >= options_.max_conflict_retries) {
        return sql::WithReason(
            sql::Annotate(status, absl::StrCat("gave up after ", conflicts + 1,
                                               " attempts of the transaction: ")),
            sql::kReasonConflictRetriesExhausted);
      }
      ++conflicts;
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

absl::StatusOr<std::unique_ptr<TransactionRunner::QueryStream>> TransactionRunner::StartQuery(
    CallContext& ctx, const txgate::v1::StreamQueryRequest& request) {
  if (absl::Status s = CheckSql(request.sql(), false, -1); !s.ok()) return s;
  const bool read_only = sql::ClassifyStatement(request.sql()).read_only;
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
  return std::unique_ptr<Interactive>(
      new Interactive(this, std::move(*lease), begin.options().read_only()));
}

absl::StatusOr<ResultSet> TransactionRunner::Interactive::Run(
    CallContext& ctx, const txgate::v1::Statement& statement) {
  if (absl::Status s = CheckSql(statement.sql(), true, -1); !s.ok()) return s;
  all_reads_ = all_reads_ && sql::ClassifyStatement(statement.sql()).read_only;
  ResultSet result;
  int64_t bytes = 0;
  absl::Status status =
      runner_->RunStatement(ctx, *lease_, statement.sql(), statement.params(), &result, &bytes);
  if (status.ok()) return result;
  if (ctx.cancelled()) return Interrupted(ctx);
  if (sql::IsConnectionLost(status)) {
    return sql::WithReason(
        WithDetailOf(absl::AbortedError(absl::StrCat(
                         "the connection was lost inside the interactive transaction; it was "
                         "rolled back (",
                         status.message(), ")")),
                     status),
        "TRANSACTION_LOST");
  }
  return status;
}

absl::Status TransactionRunner::Interactive::Commit(CallContext& ctx, const txgate::v1::Commit&) {
  absl::Status status;
  {
    Attached attached(ctx, lease_.get());
    status = lease_->Query("COMMIT");
  }
  if (status.ok()) return status;
  if (ctx.cancelled()) return Interrupted(ctx);
  if (sql::IsConnectionLost(status)) {
    if ((read_only_ || all_reads_) || !lease_->maybe_executed()) {
      // Nothing to lose: a read-only transaction, or a COMMIT never sent
      // (the server rolled the transaction back).
      if (read_only_ || all_reads_) return absl::OkStatus();
      return sql::WithReason(
          WithDetailOf(absl::AbortedError("the connection was lost before COMMIT was sent; "
                                          "the transaction was rolled back"),
                       status),
          "TRANSACTION_LOST");
    }
    return OutcomeUnknown(status);
  }
  return status;
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
