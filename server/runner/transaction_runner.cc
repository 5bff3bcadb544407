#include "server/runner/transaction_runner.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/db/session_identity.h"
#include "server/runner/chunker.h"
#include "server/runner/expectation.h"
#include "server/sql/error.h"
#include "server/sql/statement_kind.h"
#include "server/topology/causality.h"

namespace txgate::runner {
namespace {

using Lease = pool::ConnectionPool::Lease;
using txgate::v1::ResultSet;

absl::Status Invalid(absl::string_view message) {
  return sql::MakeStatus(absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST, message);
}

// A keyed call to a runner without an outcome store (read-only work).
absl::Status NoKeys() {
  return Invalid(
      "idempotency keys are not taken here: read-only work has nothing to make exactly-once");
}

absl::Status UnreadableStoredResponse() {
  return absl::DataLossError("the stored response of this idempotency key is unreadable");
}

// A keyed Execute's answer from its one-statement transaction's response
// (as run, or as stored under the key).
absl::StatusOr<txgate::v1::ExecuteResponse> ExecuteAnswer(
    absl::StatusOr<txgate::v1::RunTransactionResponse> response) {
  if (!response.ok()) return response.status();
  if (response->results_size() != 1) return UnreadableStoredResponse();
  txgate::v1::ExecuteResponse out;
  *out.mutable_result() = std::move(*response->mutable_results(0));
  out.set_causality_token(std::move(*response->mutable_causality_token()));
  return out;
}

// The answer when a COMMIT or an autocommit write was in flight when its
// connection died: it may or may not have been applied. The MySQL detail
// of the loss (e.g. 2013) stays attached.
absl::Status OutcomeUnknown(const absl::Status& cause) {
  return sql::WithReason(
      sql::WithDetailOf(absl::Status(absl::StatusCode::kUnknown,
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

// An isolation level this server knows (a newer client's, or garbage, is
// refused rather than run at the session's default).
// Refuses ReadOptions the server could not follow: an unknown routing, a
// causality token it did not hand out (checked also where reads run on
// the primary, so that a client's bug shows before replicas are added).
absl::Status CheckReadOptions(const txgate::v1::ReadOptions& read) {
  if (!txgate::v1::ReadRouting_IsValid(read.routing())) {
    return Invalid(absl::StrCat("unknown read.routing ", read.routing(),
                                "; use READ_ROUTING_PRIMARY (1) or READ_ROUTING_REPLICA (2), or "
                                "leave it unset"));
  }
  if (read.causality_token().empty()) return absl::OkStatus();
  return topology::ParseCausalityToken(read.causality_token()).status();
}

absl::Status CheckOptions(const txgate::v1::TransactionOptions& options) {
  if (!txgate::v1::IsolationLevel_IsValid(options.isolation_level())) {
    return Invalid(absl::StrCat("unknown isolation_level ", options.isolation_level(),
                                "; use one of ISOLATION_LEVEL_READ_UNCOMMITTED (1) to "
                                "ISOLATION_LEVEL_SERIALIZABLE (4), or leave it unset"));
  }
  return CheckReadOptions(options.read());
}

// Where a statement stands in its call, for messages.
enum class Context { kAutocommit, kTransaction };

// Classifies `sql` once for the whole call and refuses what may not run.
// `index` names the statement in messages (-1: the call has one). `xa`:
// transactions run as XA transactions, where the server refuses commits.
absl::StatusOr<sql::StatementKind> CheckSql(const std::string& sql, Context context, int index,
                                            bool xa) {
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  const std::string where = index >= 0 ? absl::StrCat("statement ", index + 1, ": ") : "";
  if (kind.empty) return Invalid(absl::StrCat(where, "the SQL text is empty"));
  if (context != Context::kTransaction) return kind;
  if (kind.implicit_commit) {
    return sql::MakeStatus(
        absl::StatusCode::kInvalidArgument, txgate::v1::IMPLICIT_COMMIT_REFUSED,
        absl::StrCat(where,
                     kind.opaque ? "EXECUTE and versioned executable comments run SQL txgate "
                                   "cannot see, which may commit implicitly; "
                                 : "statements that commit implicitly or end the transaction "
                                   "(DDL, LOCK TABLES, BEGIN/COMMIT/ROLLBACK, SET autocommit, "
                                   "XA, ...) ",
                     "cannot run inside a transaction; send them with Execute"));
  }
  if (kind.calls_procedure && !xa) {
    return sql::MakeStatus(
        absl::StatusCode::kInvalidArgument, txgate::v1::IMPLICIT_COMMIT_REFUSED,
        absl::StrCat(where,
                     "a CALL may commit implicitly inside its procedure, and this server runs "
                     "transactions without XA (--xa_transactions=false); send it with Execute"));
  }
  return kind;
}

// A statement that failed inside a transaction: the server's refusal of an
// implicit commit inside the XA transaction (1399, XAER_RMFAIL) says what it
// is, with the MySQL detail kept; other errors name their statement.
absl::Status InTransactionError(absl::Status status, int index) {
  const std::optional<sql::MysqlError> e = sql::GetMysqlError(status);
  if (e.has_value() && e->errnum == 1399) {
    return sql::WithDetailOf(
        sql::MakeStatus(
            absl::StatusCode::kInvalidArgument, txgate::v1::IMPLICIT_COMMIT_REFUSED,
            absl::StrCat("statement ", index + 1,
                         ": it would commit or end the transaction implicitly (e.g. a COMMIT "
                         "or DDL in a procedure), which the server refuses inside txgate's XA "
                         "transaction; the transaction was rolled back (",
                         status.message(), ")")),
        status);
  }
  return sql::Annotate(status, absl::StrCat("statement ", index + 1, ": "));
}

// What the server's own state says after statement `index` (0-based) of a
// transaction succeeded. The answers below are its verdicts.
enum class Verdict {
  kIntact,
  // A non-transactional table was written: NonTransactional.
  kNonTransactionalWrite,
  // Inside an XA transaction, which nothing can commit early: the server
  // rolled it back (a deadlock or lock wait timeout that a procedure's
  // handler caught). Nothing was committed: RolledBackByServer.
  kRolledBack,
  // Without XA: committed or rolled back early: EndedEarly.
  kEndedEarly,
};

Verdict ServerVerdict(db::Connection& conn, bool xa) {
  if (conn.wrote_nontransactional()) return Verdict::kNonTransactionalWrite;
  if (conn.InTransaction()) return Verdict::kIntact;
  return xa ? Verdict::kRolledBack : Verdict::kEndedEarly;
}

absl::Status LeftOpen() {
  return sql::MakeStatus(
      absl::StatusCode::kFailedPrecondition, txgate::v1::TRANSACTION_LEFT_OPEN,
      "the statement left a transaction open (START TRANSACTION, or a procedure that began one "
      "or set autocommit = 0 and did not commit): Execute runs each statement on its own, so "
      "that transaction was rolled back, with whatever the statement did in it; use "
      "RunTransaction or a Transaction stream, or COMMIT inside the procedure");
}

// `later_ran`: the statements after it had been sent with it in one round
// trip (a batch) and ran before the write was seen.
absl::Status NonTransactional(int index, bool later_ran = false) {
  return sql::MakeStatus(
      absl::StatusCode::kFailedPrecondition, txgate::v1::NON_TRANSACTIONAL_WRITE,
      absl::StrCat("statement ", index + 1,
                   " wrote a non-transactional table (MyISAM, Aria, MEMORY, ...), whose change "
                   "neither a rollback undoes nor a re-run may repeat: the transaction was "
                   "rolled back, that change stays, ",
                   later_ran ? "the later statements (sent in the same round trip) ran and were "
                               "rolled back with it, "
                             : "no later statement was run, ",
                   "and nothing was re-run; send such statements with Execute"));
}

absl::Status RolledBackByServer(int index) {
  return sql::MakeStatus(
      absl::StatusCode::kAborted, txgate::v1::TRANSACTION_ENDED_EARLY,
      absl::StrCat("statement ", index + 1,
                   ": the server rolled the transaction back (a deadlock or lock wait timeout "
                   "caught by a handler in a procedure); nothing was committed"));
}

// The answer when the server reports, after statement `index` (0-based) of
// a transaction, that no transaction is open any more: something in it
// committed or rolled back the transaction early.
absl::Status EndedEarly(int index) {
  return sql::MakeStatus(
      absl::StatusCode::kFailedPrecondition, txgate::v1::TRANSACTION_ENDED_EARLY,
      absl::StrCat("statement ", index + 1,
                   " ended the transaction on the server (it committed or rolled back "
                   "implicitly, e.g. in a procedure): what statements 1 to ",
                   index + 1,
                   " did before that point may be committed; no later statement was run and "
                   "nothing was re-run"));
}

// Holds a connection attached to the call while a statement may run.
class Attached {
 public:
  Attached(CallContext& ctx, db::Connection* conn) : ctx_(ctx) { ctx_.Attach(conn); }
  ~Attached() { ctx_.Detach(); }

 private:
  CallContext& ctx_;
};

// What an interactive COMMIT answers: that it happened, and its causality
// token.
struct Committed {
  std::string causality_token;
};

// The causality token of the commit `conn` reported last ("" if none).
std::string CommitToken(db::Connection& conn) {
  return topology::TokenFromGtidList(conn.TakeCommitGtid());
}

// A token that names every commit the server has binary-logged so far
// (@@gtid_binlog_pos), so also that of a stored outcome, whose own commit
// came before it was found; "" if the server keeps no binary log or the
// read fails (the answer then carries no token: it stands without one).
std::string BinlogPositionToken(db::Connection& conn) {
  const db::Params none;
  if (!conn.Start("SELECT @@gtid_binlog_pos", none).ok()) return "";
  txgate::v1::Row row;
  size_t bytes = 0;
  absl::StatusOr<bool> got = conn.Next(&row, &bytes);
  (void)conn.Done();
  if (!got.ok() || !*got || row.values_size() != 1) return "";
  return topology::TokenFromGtidList(row.values(0).string_value());
}

}  // namespace

TransactionRunner::TransactionRunner(pool::ConnectionPool* pool, OutcomeStore* outcomes,
                                     RunnerOptions options, Clock* clock)
    : pool_(pool),
      outcomes_(outcomes),
      options_(options),
      policy_(RetryOptions{options.max_conflict_retries, options.conflict_backoff,
                           options.max_heal_retries, options.heal_backoff,
                           options.heal_backoff_max}),
      clock_(clock) {}

// ---- The heal loop --------------------------------------------------------

FailureClass TransactionRunner::ClassOf(const AttemptFailure& failure) const {
  if (failure.final) return FailureClass::kRequest;
  if (failure.conflict) return FailureClass::kTransientConflict;
  if (failure.key_taken) return FailureClass::kKeyTaken;
  if (sql::IsConnectionLost(failure.status)) return FailureClass::kConnectionLost;
  if (sql::IsTransientConflict(failure.status)) return FailureClass::kTransientConflict;
  if (pool_->follows_target() && sql::IsReadOnlyRefusal(failure.status)) {
    return FailureClass::kNotPrimary;
  }
  return FailureClass::kRequest;
}

TransactionRunner::AttemptFailure TransactionRunner::FailedOn(const db::Connection& conn,
                                                              absl::Status status, Phase sent,
                                                              bool may_have_written) {
  AttemptFailure failure;
  failure.status = std::move(status);
  failure.phase = conn.maybe_executed() ? sent : Phase::kBeforeSend;
  failure.may_have_written = may_have_written;
  return failure;
}

TransactionRunner::AttemptFailure TransactionRunner::Final(absl::Status status) {
  AttemptFailure failure;
  failure.status = std::move(status);
  failure.final = true;
  return failure;
}

double TransactionRunner::Jitter() {
  MutexLock lock(&random_mu_);
  return absl::Uniform(random_, 0.5, 1.0);
}

template <typename T>
absl::StatusOr<T> TransactionRunner::Heal(CallContext& ctx, const Job<T>& job) {
  int conflicts = 0;
  for (int n = 1;; ++n) {
    Attempt<T> attempt = job.attempt(n);
    if (attempt.ok()) return std::move(attempt.value());
    const AttemptFailure& failed = attempt.failure();
    Failure failure;
    failure.work = job.work;
    failure.error = ClassOf(failed);
    failure.phase = failed.phase;
    failure.interrupted = ctx.cancelled();
    failure.may_have_written = failed.may_have_written;
    failure.keyed = job.keyed;
    failure.attempts = n;
    failure.conflicts = conflicts;
    failure.heals = ctx.heals();
    if ((failure.error == FailureClass::kConnectionLost ||
         failure.error == FailureClass::kNotPrimary) &&
        failure.heals > 0) {
      failure.jitter = Jitter();
    }
    failure.time_left = TimeLeft(ctx);
    const Decision decision = policy_.Decide(failure);
    switch (decision.action) {
      case Action::kAnswer:
        if (failure.interrupted) return Interrupted(ctx);
        if (failure.error == FailureClass::kConnectionLost && job.unhealed) {
          return sql::WithDetailOf(job.unhealed(failed.status, "the deadline passed"),
                                   failed.status);
        }
        if (failure.error == FailureClass::kRequest && job.keyed && job.resolve &&
            TimeLeft(ctx) > absl::ZeroDuration()) {
          // The request's own error — or the mark of a concurrent execution
          // of the same keyed request that committed first: this attempt
          // ran into its effects (a unique value it inserted, a lock it
          // held until then, an expectation its change left unmet). Its
          // answer, once recorded, is the answer; the look-up waits for one
          // still committing. (This attempt's lease went back: rolled back.)
          absl::StatusOr<std::optional<T>> prior = job.resolve(db::SessionIdentity());
          if (prior.ok() && prior->has_value()) return std::move(**prior);
        }
        return failed.status;
      case Action::kAnswerHealsExhausted: {
        const std::string why = absl::StrCat("the connection was lost again after ", failure.heals,
                                             " re-runs on fresh connections (--max_heal_retries=",
                                             policy_.options().max_heal_retries, ")");
        if (job.unhealed) return sql::WithDetailOf(job.unhealed(failed.status, why), failed.status);
        return sql::WithReason(sql::Annotate(failed.status, absl::StrCat(why, "; not re-run: ")),
                               txgate::v1::DATABASE_UNAVAILABLE);
      }
      case Action::kAnswerOutcomeUnknown:
        return OutcomeUnknown(failed.status);
      case Action::kAnswerConflictsExhausted:
        return sql::WithReason(
            sql::Annotate(failed.status, absl::StrCat("gave up after ", conflicts + 1,
                                                      " attempts of the transaction: ")),
            txgate::v1::CONFLICT_RETRIES_EXHAUSTED);
      case Action::kBackoffAndRerun:
        ++conflicts;
        ++conflict_retries_;
        clock_->SleepFor(decision.pause);  // the attempt's lease went back: locks are free
        break;
      case Action::kHealAndRerun:
        ++replays_;
        ctx.CountHeal();
        // A demoted primary: the re-run waits for the topology's answer
        // (the buffer, then the new primary), not for the same refusal.
        if (failure.error == FailureClass::kNotPrimary)
          pool_->RecheckTarget(ctx.acquire_deadline());
        if (decision.pause > absl::ZeroDuration()) clock_->SleepFor(decision.pause);
        break;
      case Action::kResolveOutcome: {
        absl::StatusOr<std::optional<T>> prior = job.resolve(failed.lost_session);
        if (!prior.ok()) {
          // A taken key's look-up failing is that look-up's answer; after a
          // lost COMMIT, only a reused key is certain, the rest unknown.
          if (failed.key_taken || prior.status().code() == absl::StatusCode::kFailedPrecondition) {
            return prior.status();
          }
          return OutcomeUnknown(failed.status);
        }
        if (prior->has_value()) return std::move(**prior);
        // It did not commit: running it (again) is safe.
        if (!failed.key_taken) {
          if (TimeLeft(ctx) <= absl::ZeroDuration()) return failed.status;
          ++replays_;
          ctx.CountHeal();
        }
        break;
      }
    }
    if (job.heal) {
      absl::Status healed = job.heal();
      if (!healed.ok()) {
        return sql::IsConnectionLost(failed.status) ? sql::WithDetailOf(healed, failed.status)
                                                    : healed;
      }
    }
  }
}

// ---- Building blocks ------------------------------------------------------

bool TransactionRunner::IsDuplicateKey(const absl::Status& status) {
  std::optional<sql::MysqlError> e = sql::GetMysqlError(status);
  return e.has_value() && e->errnum == 1062;  // ER_DUP_ENTRY
}

absl::Status TransactionRunner::Interrupted(const CallContext& ctx) const {
  if (clock_->Now() >= ctx.deadline()) {
    return sql::MakeStatus(absl::StatusCode::kDeadlineExceeded, txgate::v1::DEADLINE_EXCEEDED,
                           "the deadline passed; the statement was stopped on the server");
  }
  return sql::MakeStatus(absl::StatusCode::kCancelled, txgate::v1::CANCELLED,
                         "the call was cancelled; the statement was stopped on the server");
}

absl::Status TransactionRunner::RunStatement(CallContext& ctx, db::Connection& conn,
                                             const std::string& sql, const db::Params& params,
                                             ResultSet* result, int64_t* bytes) const {
  Attached attached(ctx, &conn);
  if (ctx.cancelled()) return Interrupted(ctx);
  if (absl::Status s = conn.Start(sql, params); !s.ok()) return s;
  if (absl::Status s = ReadResult(conn, result, bytes); !s.ok()) return s;
  // A CALL answers several results: each result set of the procedure, its
  // OUT parameters, and its final status, whose counters are the CALL's.
  while (conn.more_results()) {
    if (absl::Status s = conn.NextResult(); !s.ok()) return s;
    if (conn.out_params()) {
      if (absl::Status s = ReadResult(conn, result->mutable_out_parameters(), bytes); !s.ok()) {
        return s;
      }
    } else if (conn.column_count() > 0) {
      if (absl::Status s = ReadResult(conn, result->add_more_results(), bytes); !s.ok()) return s;
    } else {
      absl::StatusOr<db::ExecSummary> summary = conn.Done();
      if (!summary.ok()) return summary.status();
      result->set_affected_rows(summary->affected_rows);
      result->set_last_insert_id(summary->last_insert_id);
      result->set_warning_count(result->warning_count() + summary->warning_count);
    }
  }
  return absl::OkStatus();
}

absl::Status TransactionRunner::ReadBatched(CallContext& ctx, db::Connection& conn,
                                            ResultSet* result, int64_t* bytes) const {
  Attached attached(ctx, &conn);
  if (ctx.cancelled()) return Interrupted(ctx);
  if (absl::Status s = conn.NextResult(); !s.ok()) return s;
  return ReadResult(conn, result, bytes);
}

bool TransactionRunner::KnownNonTransactional(const std::string& sql) {
  MutexLock lock(&nontransactional_mu_);
  return nontransactional_.contains(sql);
}

void TransactionRunner::RememberNonTransactional(const std::string& sql) {
  MutexLock lock(&nontransactional_mu_);
  // Bounded: past it, forgotten texts are seen again (and stop again).
  if (nontransactional_.size() >= 4096) nontransactional_.clear();
  nontransactional_.insert(sql);
}

std::vector<std::string> TransactionRunner::BatchOf(
    db::Connection& conn, const txgate::v1::RunTransactionRequest& request, const std::string& key,
    const std::string& fingerprint, int* batched) {
  *batched = 0;
  std::vector<std::string> texts;
  if (!options_.xa_transactions || !options_.batch_transactions) return texts;
  if (!key.empty()) texts.push_back(outcomes_->ClaimText(key, fingerprint));
  size_t bytes = texts.empty() ? 0 : texts[0].size();
  for (const txgate::v1::Statement& st : request.statements()) {
    if (KnownNonTransactional(st.sql())) break;
    // A refusal (a parameter that cannot be bound, a text that does not
    // prepare) is the prepared path's to answer, as before.
    absl::StatusOr<std::optional<std::string>> text = conn.BatchText(st.sql(), st.params());
    if (!text.ok() || !text->has_value()) break;
    bytes += (*text)->size() + 2;
    if (!conn.BatchFits(bytes)) break;
    texts.push_back(std::move(**text));
    ++*batched;
  }
  if (*batched == 0) texts.clear();
  return texts;
}

absl::Status TransactionRunner::ReadResult(db::Connection& conn, ResultSet* result,
                                           int64_t* bytes) const {
  conn.AppendColumns(result->mutable_columns());
  *bytes += static_cast<int64_t>(FieldCost(result->ByteSizeLong()));
  txgate::v1::Row row;
  size_t row_bytes = 0;
  absl::StatusOr<bool> more = conn.Next(&row, &row_bytes);
  for (; more.ok() && *more; more = conn.Next(&row, &row_bytes)) {
    // What the row adds to the response as encoded (the message's own
    // headers are checked on the whole response: CheckResponseSize).
    *bytes += static_cast<int64_t>(FieldCost(row.ByteSizeLong()));
    if (result->rows_size() >= options_.max_result_rows || *bytes > options_.max_result_bytes) {
      (void)conn.Done();
      return TooLarge(result->rows_size() >= options_.max_result_rows);
    }
    *result->add_rows() = std::move(row);
    row.Clear();
  }
  if (!more.ok()) return more.status();
  absl::StatusOr<db::ExecSummary> summary = conn.Done();
  if (!summary.ok()) return summary.status();
  result->set_affected_rows(summary->affected_rows);
  result->set_last_insert_id(summary->last_insert_id);
  result->set_warning_count(summary->warning_count);
  return absl::OkStatus();
}

absl::Status TransactionRunner::TooLarge(bool rows) const {
  return ResultTooLarge(
      absl::StrCat("the result exceeds the unary limit (--max_result_rows=",
                   options_.max_result_rows, ", --max_result_bytes=", options_.max_result_bytes,
                   " bytes of the encoded response); use StreamQuery for large results"),
      rows ? "max_result_rows" : "max_result_bytes",
      rows ? options_.max_result_rows : options_.max_result_bytes);
}

absl::Status TransactionRunner::CheckResponseSize(size_t encoded) const {
  if (encoded <= static_cast<size_t>(options_.max_result_bytes)) return absl::OkStatus();
  return TooLarge(false);
}

absl::Status TransactionRunner::PrepareSession(CallContext& ctx, db::Connection& conn,
                                               const sql::SessionEffects& effects) {
  if (effects.reads_leftovers && !conn.fresh()) {
    Attached attached(ctx, &conn);
    if (absl::Status s = conn.ResetSession(); !s.ok()) return s;
  }
  // After the reset above, which clears the mark.
  if (effects.leaves_state) conn.RequireReset();
  return absl::OkStatus();
}

absl::Status TransactionRunner::OpenTransaction(CallContext& ctx, db::Connection& conn,
                                                const txgate::v1::TransactionOptions& options) {
  Attached attached(ctx, &conn);
  if (ctx.cancelled()) return Interrupted(ctx);
  // The outcome table is DDL: create it before any transaction opens.
  if (outcomes_ != nullptr && !outcomes_->ensured()) (void)outcomes_->EnsureTable(conn);
  db::TransactionStart start;
  start.isolation = IsolationSql(options.isolation_level());
  start.read_only = options.read_only();
  start.xa = options_.xa_transactions;
  return conn.BeginTransaction(start);
}

absl::StatusOr<Lease> TransactionRunner::LeaseInTransaction(
    CallContext& ctx, const txgate::v1::TransactionOptions& options, bool* fresh) {
  auto attempt = [&](int) -> Attempt<Lease> {
    absl::StatusOr<Lease> lease = pool_->Acquire(ctx.acquire_deadline(), ctx.buffer_deadline());
    if (!lease.ok()) return Final(lease.status());
    *fresh = (*lease)->fresh();
    if (absl::Status s = OpenTransaction(ctx, **lease, options); !s.ok()) {
      return FailedOn(**lease, std::move(s), Phase::kStatementInFlight, false);
    }
    return std::move(*lease);
  };
  return Heal(ctx, Job<Lease>(Work::kInternal, false, attempt));
}

absl::StatusOr<std::optional<std::string>> TransactionRunner::ResolveOutcome(
    CallContext& ctx, const std::string& key, const std::string& fingerprint,
    const db::SessionIdentity& lost_session, std::string* token) {
  ++outcome_lookups_;
  using Found = std::optional<OutcomeStore::Stored>;
  auto attempt = [&](int) -> Attempt<Found> {
    absl::StatusOr<Lease> lease = pool_->Acquire(ctx.acquire_deadline(), ctx.buffer_deadline());
    if (!lease.ok()) return Final(lease.status());
    db::Connection& conn = **lease;
    Attached attached(ctx, &conn);
    if (lost_session.thread_id != 0) {
      // Settle the lost session's transaction: once it is gone, its COMMIT
      // either happened or never will. It may be gone already, and its id
      // may name another session now: then nothing is killed. A failed
      // check is not fatal either: the locking read below still waits for
      // a transaction that holds the key.
      (void)db::KillIfSameSession(conn, lost_session, db::KillScope::kConnection);
    }
    absl::Status status = outcomes_->EnsureTable(conn);
    if (status.ok()) status = conn.Query("START TRANSACTION");
    absl::StatusOr<Found> stored;
    if (status.ok()) {
      // A locking read waits for a transaction still writing the key.
      stored = outcomes_->Lookup(conn, key, fingerprint, /*locking=*/true);
      status = stored.status();
    }
    if (status.ok()) status = conn.Query("COMMIT");
    if (status.ok()) {
      if (stored->has_value() && token != nullptr) *token = BinlogPositionToken(conn);
      return std::move(*stored);
    }
    return FailedOn(conn, std::move(status), Phase::kStatementInFlight, false);
  };
  absl::StatusOr<Found> stored = Heal(ctx, Job<Found>(Work::kInternal, false, attempt));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<std::string>();
  if (!(*stored)->same_request) return KeyReused();
  return std::optional<std::string>(std::move((*stored)->response));
}

absl::StatusOr<std::optional<absl::StatusOr<txgate::v1::RunTransactionResponse>>>
TransactionRunner::PriorOutcome(CallContext& ctx, db::Connection& conn, const std::string& key,
                                const std::string& fingerprint) {
  using Answer = absl::StatusOr<txgate::v1::RunTransactionResponse>;
  ++outcome_lookups_;
  Attached attached(ctx, &conn);
  if (!outcomes_->ensured()) {
    if (absl::Status s = outcomes_->EnsureTable(conn); !s.ok()) return s;
  }
  absl::StatusOr<std::optional<OutcomeStore::Stored>> stored =
      outcomes_->Lookup(conn, key, fingerprint, /*locking=*/false);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<Answer>();
  if (!(*stored)->same_request) return std::optional<Answer>(KeyReused());
  Answer answer = StoredResponse((*stored)->response);
  // The stored response was written before its COMMIT, so without the
  // commit's token: the binary log's position now names that commit too.
  if (answer.ok()) answer->set_causality_token(BinlogPositionToken(conn));
  return std::optional<Answer>(std::move(answer));
}

absl::Status TransactionRunner::KeyReused() {
  return sql::MakeStatus(absl::StatusCode::kFailedPrecondition, txgate::v1::IDEMPOTENCY_KEY_REUSED,
                         "this idempotency key was already used by a different request; "
                         "use a new key for a new transaction");
}

// A transaction that ended early (TRANSACTION_ENDED_EARLY) is recorded
// under its key as this marker and the statement's index: a retry with the
// key gets the same answer instead of running what may be committed again.
// A serialized RunTransactionResponse never starts with a zero byte (no
// field has number 0).
constexpr absl::string_view kEndedEarlyMarker("\0ended-early:", 13);
constexpr absl::string_view kNonTransactionalMarker("\0non-transactional:", 19);

absl::StatusOr<txgate::v1::RunTransactionResponse> TransactionRunner::StoredResponse(
    const std::string& bytes) {
  int index = 0;
  if (absl::StartsWith(bytes, kEndedEarlyMarker) &&
      absl::SimpleAtoi(absl::string_view(bytes).substr(kEndedEarlyMarker.size()), &index)) {
    return EndedEarly(index);
  }
  if (absl::StartsWith(bytes, kNonTransactionalMarker) &&
      absl::SimpleAtoi(absl::string_view(bytes).substr(kNonTransactionalMarker.size()), &index)) {
    return NonTransactional(index);
  }
  txgate::v1::RunTransactionResponse response;
  if (!response.ParseFromString(bytes)) {
    return UnreadableStoredResponse();
  }
  return response;
}

// ---- The RPCs' work -------------------------------------------------------

absl::StatusOr<txgate::v1::ExecuteResponse> TransactionRunner::Execute(
    CallContext& ctx, const txgate::v1::ExecuteRequest& request) {
  if (absl::Status s = CheckReadOptions(request.read()); !s.ok()) return s;
  absl::StatusOr<sql::StatementKind> kind =
      CheckSql(request.sql(), Context::kAutocommit, -1, options_.xa_transactions);
  if (!kind.ok()) return kind.status();
  // A read (a locking one too: in autocommit mode its locks end with it)
  // repeats nothing when it runs again: its key is ignored, as a read-only
  // transaction's is (and a read-only token's runner has no outcome store).
  const std::string& key =
      kind->read_only || kind->locking_read ? std::string() : request.idempotency_key();
  if (key.empty()) return ExecuteAutocommit(ctx, request, *kind, "", "");
  if (outcomes_ == nullptr) return NoKeys();
  if (key.size() > outcomes_->options().max_key_bytes) {
    return Invalid(absl::StrCat("the idempotency key is longer than ",
                                outcomes_->options().max_key_bytes, " bytes"));
  }
  txgate::v1::ExecuteRequest unkeyed = request;
  unkeyed.clear_idempotency_key();
  // Where a read may run says nothing of a write: a client re-sending it
  // carries the token of a later write (its session's latest) and is
  // still the same request.
  unkeyed.clear_read();
  // Prefixed, so that no RunTransaction request is ever taken for it.
  const std::string fingerprint = absl::StrCat("Execute:", unkeyed.SerializeAsString());
  // A re-sent request whose first execution is recorded is answered as
  // before, by the first attempt's PriorOutcome.
  if (kind->implicit_commit || (kind->calls_procedure && !options_.xa_transactions)) {
    return ExecuteAutocommit(ctx, request, *kind, key, fingerprint);
  }
  txgate::v1::RunTransactionRequest transaction;
  txgate::v1::Statement* statement = transaction.add_statements();
  statement->set_sql(request.sql());
  *statement->mutable_params() = request.params();
  absl::StatusOr<txgate::v1::RunTransactionResponse> response =
      RunChecked(ctx, transaction, key, fingerprint, /*all_reads=*/false, kind->session,
                 /*execute=*/true);
  if (!response.ok()) {
    // The server refused a commit inside the XA transaction (a CALLed
    // procedure that commits) and txgate rolled the transaction back: the
    // statement can only run on its own, with its answer recorded after.
    const std::optional<sql::MysqlError> e = sql::GetMysqlError(response.status());
    if (e.has_value() && e->errnum == 1399 && !ctx.cancelled()) {
      return ExecuteAutocommit(ctx, request, *kind, key, fingerprint);
    }
  }
  return ExecuteAnswer(std::move(response));
}

absl::StatusOr<txgate::v1::ExecuteResponse> TransactionRunner::ExecuteAutocommit(
    CallContext& ctx, const txgate::v1::ExecuteRequest& request, const sql::StatementKind& kind,
    const std::string& key, const std::string& fingerprint, std::unique_ptr<InlineExecute> first) {
  const bool writes = !kind.read_only;
  bool prior_checked = key.empty();
  auto attempt = [&](int n) -> Attempt<txgate::v1::ExecuteResponse> {
    absl::StatusOr<Lease> lease;
    if (first != nullptr) {
      // The call was begun inline: its first attempt goes on from there.
      std::unique_ptr<InlineExecute> begun = std::move(first);
      if (begun->stage != InlineExecute::Stage::kStart) {
        // Waits for the rest; a statement whose columns DDL changed is
        // started again and may then be one to run the blocking way
        // (kStart again: prepared anew below).
        Attached attached(ctx, &*begun->lease);
        (void)Drive(*begun, absl::InfiniteFuture());
      }
      if (begun->stage != InlineExecute::Stage::kStart) return ContinueInline(ctx, *begun);
      lease = std::move(begun->lease);
    } else {
      lease = pool_->Acquire(ctx.acquire_deadline(), ctx.buffer_deadline());
    }
    if (!lease.ok()) return Final(lease.status());
    if (!prior_checked) {
      auto prior = PriorOutcome(ctx, **lease, key, fingerprint);
      if (!prior.ok()) return FailedOn(**lease, prior.status(), Phase::kStatementInFlight, false);
      prior_checked = true;
      if (prior->has_value()) {
        absl::StatusOr<txgate::v1::ExecuteResponse> stored = ExecuteAnswer(std::move(**prior));
        if (!stored.ok()) return Final(stored.status());
        return std::move(*stored);
      }
    }
    if (absl::Status s = PrepareSession(ctx, **lease, kind.session); !s.ok()) {
      return FailedOn(**lease, std::move(s), Phase::kBeforeSend, false);
    }
    txgate::v1::ExecuteResponse response;
    int64_t bytes = 0;
    (void)(*lease)->TakeCommitGtid();  // an earlier call's
    absl::Status status = RunStatement(ctx, **lease, request.sql(), request.params(),
                                       response.mutable_result(), &bytes);
    // Whatever its text, the statement committed a write if the server
    // reported a GTID for it.
    if (status.ok()) response.set_causality_token(CommitToken(**lease));
    // A statement that leaves a transaction open (START TRANSACTION, or a
    // procedure's, or SET autocommit = 0 then a write in a procedure) would
    // have its work rolled back when the lease returns: not an OK.
    if (status.ok() && (*lease)->InTransaction()) return Final(LeftOpen());
    if (status.ok()) {
      // The response as it will be sent.
      if (absl::Status s = CheckResponseSize(response.ByteSizeLong()); !s.ok()) {
        return Final(std::move(s));
      }
      if (!key.empty()) {
        // Committed already (autocommit): recorded outside any
        // transaction, committed at once. If the record fails, the answer
        // stands; only a re-sent request could then run it again.
        txgate::v1::RunTransactionResponse recorded;
        *recorded.add_results() = response.result();
        recorded.set_attempts(n);
        Attached attached(ctx, lease->get());
        (void)outcomes_->Record(**lease, key, fingerprint, recorded.SerializeAsString());
      }
      return response;
    }
    // An autocommit statement is its own COMMIT.
    return FailedOn(**lease, std::move(status), Phase::kCommitInFlight, writes);
  };
  return Heal(ctx, Job<txgate::v1::ExecuteResponse>(Work::kStatement, false, attempt));
}

// ---- The inline fast path -------------------------------------------------

TransactionRunner::InlineResult TransactionRunner::ExecuteInline(
    CallContext& ctx, const txgate::v1::ExecuteRequest& request, absl::Duration wait) {
  InlineResult result;
  if (wait <= absl::ZeroDuration() || ctx.cancelled()) return result;
  // Bad read options are refused by Execute, on a worker.
  if (!CheckReadOptions(request.read()).ok()) return result;
  // The same classification Execute uses: only what the retry rules may
  // re-run after a loss, whose key Execute ignores.
  absl::StatusOr<sql::StatementKind> kind =
      CheckSql(request.sql(), Context::kAutocommit, -1, options_.xa_transactions);
  if (!kind.ok() || !(kind->read_only || kind->locking_read) || kind->session.leaves_state ||
      kind->calls_procedure) {
    return result;
  }
  std::optional<Lease> lease = pool_->TryAcquire();
  if (!lease.has_value()) return result;
  std::unique_ptr<InlineExecute> begun(new InlineExecute(request, std::move(*lease)));
  db::Connection& conn = *begun->lease;
  // A read of what an earlier call left needs a reset first: a round trip.
  if (!kind->session.reads_leftovers || conn.fresh()) {
    ctx.Attach(&conn);
    const bool ended = Drive(*begun, clock_->Now() + wait);
    if (ended && begun->stage == InlineExecute::Stage::kDone && !conn.InTransaction() &&
        CheckResponseSize(begun->response.ByteSizeLong()).ok() && ctx.TryDetach()) {
      ++inline_completed_;
      result.answer = std::move(begun->response);
      if (begun->lease.clean()) {
        begun->lease.Return();
      } else {
        result.rest = std::move(begun);
      }
      return result;
    }
  }
  // Left attached: the executor's attempt attaches it again and detaches.
  ++inline_handed_over_;
  result.rest = std::move(begun);
  return result;
}

// Connector/C's CR_NEW_STMT_METADATA: a cached statement's columns changed.
constexpr unsigned int kNewStatementMetadata = 2057;

bool TransactionRunner::Drive(InlineExecute& b, absl::Time until) const {
  using Stage = InlineExecute::Stage;
  using Step = db::Connection::Step;
  db::Connection& conn = *b.lease;
  ResultSet* result = b.response.mutable_result();
  for (;;) {
    absl::StatusOr<Step> step;
    switch (b.stage) {
      case Stage::kStart:
        step = conn.StartAsync(b.request.sql(), b.request.params());
        break;
      case Stage::kWaiting: {
        const absl::Duration left =
            until == absl::InfiniteFuture() ? absl::InfiniteDuration() : until - clock_->Now();
        if (left <= absl::ZeroDuration()) return false;
        step = conn.Resume(left, &b.row, &b.row_bytes);
        break;
      }
      case Stage::kRows:
        step = conn.NextAsync(&b.row, &b.row_bytes);
        break;
      case Stage::kDone:
      case Stage::kFailed:
      case Stage::kTooLarge:
        return true;
    }
    if (!step.ok()) {
      const std::optional<sql::MysqlError> e = sql::GetMysqlError(step.status());
      if (e.has_value() && e->errnum == kNewStatementMetadata && result->columns_size() == 0 &&
          !b.restarted && !conn.broken()) {
        // DDL changed the cached statement's columns and the driver
        // dropped it: a read, so it starts again, prepared anew (Start).
        b.restarted = true;
        b.stage = Stage::kStart;
        continue;
      }
      b.failed = step.status();
      b.stage = Stage::kFailed;
      return true;
    }
    switch (*step) {
      case Step::kNotEligible:
        return true;  // still kStart: run it the blocking way
      case Step::kWaiting:
        b.stage = Stage::kWaiting;
        break;
      case Step::kStarted:
        conn.AppendColumns(result->mutable_columns());
        b.bytes += static_cast<int64_t>(FieldCost(result->ByteSizeLong()));
        b.stage = Stage::kRows;
        break;
      case Step::kRow:
        // As ReadResult counts and bounds them.
        b.bytes += static_cast<int64_t>(FieldCost(b.row.ByteSizeLong()));
        if (result->rows_size() >= options_.max_result_rows ||
            b.bytes > options_.max_result_bytes) {
          b.too_many_rows = result->rows_size() >= options_.max_result_rows;
          b.stage = Stage::kTooLarge;
          return true;
        }
        *result->add_rows() = std::move(b.row);
        b.row.Clear();
        b.stage = Stage::kRows;
        break;
      case Step::kEnd: {
        // The end of the rows is read: Done() reads nothing more.
        absl::StatusOr<db::ExecSummary> summary = conn.Done();
        if (!summary.ok()) {
          b.failed = summary.status();
          b.stage = Stage::kFailed;
          return true;
        }
        result->set_affected_rows(summary->affected_rows);
        result->set_last_insert_id(summary->last_insert_id);
        result->set_warning_count(summary->warning_count);
        b.stage = Stage::kDone;
        return true;
      }
    }
  }
}

TransactionRunner::Attempt<txgate::v1::ExecuteResponse> TransactionRunner::ContinueInline(
    CallContext& ctx, InlineExecute& b) {
  using Stage = InlineExecute::Stage;
  db::Connection& conn = *b.lease;
  Attached attached(ctx, &conn);
  (void)Drive(b, absl::InfiniteFuture());
  switch (b.stage) {
    case Stage::kFailed:
      // Sent: an autocommit read is its own commit, but writes nothing.
      return FailedOn(conn, std::move(b.failed), Phase::kCommitInFlight, false);
    case Stage::kTooLarge:
      (void)conn.Done();
      return Final(TooLarge(b.too_many_rows));
    case Stage::kDone:
      if (conn.InTransaction()) return Final(LeftOpen());
      if (absl::Status s = CheckResponseSize(b.response.ByteSizeLong()); !s.ok()) {
        return Final(std::move(s));
      }
      return std::move(b.response);
    default:
      // A step the driver would not take (kStart is handled by the caller).
      return Final(sql::MakeStatus(absl::StatusCode::kInternal, txgate::v1::INTERNAL_ERROR,
                                   "an inline statement was left unfinished"));
  }
}

absl::StatusOr<txgate::v1::ExecuteResponse> TransactionRunner::ExecuteHandedOver(
    CallContext& ctx, const txgate::v1::ExecuteRequest& request,
    std::unique_ptr<InlineExecute> begun) {
  if (begun == nullptr) return Execute(ctx, request);
  absl::StatusOr<sql::StatementKind> kind =
      CheckSql(request.sql(), Context::kAutocommit, -1, options_.xa_transactions);
  if (!kind.ok()) return kind.status();  // not so: ExecuteInline checked it
  return ExecuteAutocommit(ctx, request, *kind, "", "", std::move(begun));
}

absl::StatusOr<txgate::v1::RunTransactionResponse> TransactionRunner::RunTransaction(
    CallContext& ctx, const txgate::v1::RunTransactionRequest& request) {
  if (request.statements().empty()) return Invalid("a transaction needs at least one statement");
  if (absl::Status s = CheckOptions(request.options()); !s.ok()) return s;
  if (request.statements_size() > options_.max_statements) {
    return sql::MakeStatus(
        absl::StatusCode::kResourceExhausted, txgate::v1::INVALID_REQUEST,
        absl::StrCat("a transaction may hold at most ", options_.max_statements, " statements"));
  }
  bool all_reads = true;
  sql::SessionEffects effects;
  for (int i = 0; i < request.statements_size(); ++i) {
    absl::StatusOr<sql::StatementKind> kind =
        CheckSql(request.statements(i).sql(), Context::kTransaction, i, options_.xa_transactions);
    if (!kind.ok()) return kind.status();
    if (absl::Status s = ValidateExpectation(request.statements(i), i); !s.ok()) return s;
    all_reads = all_reads && kind->read_only;
    effects.leaves_state = effects.leaves_state || kind->session.leaves_state;
    effects.reads_leftovers = effects.reads_leftovers || kind->session.reads_leftovers;
  }
  all_reads = all_reads || request.options().read_only();

  // A read-only transaction is safe to re-run and has nothing to make
  // exactly-once (its outcome record would be a write): its key is ignored.
  const std::string key = request.options().read_only() ? "" : request.idempotency_key();
  std::string fingerprint;
  if (!key.empty()) {
    if (outcomes_ == nullptr) return NoKeys();
    if (key.size() > outcomes_->options().max_key_bytes) {
      return Invalid(absl::StrCat("the idempotency key is longer than ",
                                  outcomes_->options().max_key_bytes, " bytes"));
    }
    txgate::v1::RunTransactionRequest unkeyed = request;
    unkeyed.clear_idempotency_key();
    // As Execute's; an absent options message stays absent (the same bytes
    // as a request recorded before read options existed).
    if (unkeyed.has_options()) unkeyed.mutable_options()->clear_read();
    fingerprint = unkeyed.SerializeAsString();
    // A retry of a transaction that already committed is answered as
    // before, by the first attempt's PriorOutcome.
  }
  return RunChecked(ctx, request, key, fingerprint, all_reads, effects, /*execute=*/false);
}

absl::StatusOr<txgate::v1::RunTransactionResponse> TransactionRunner::RunChecked(
    CallContext& ctx, const txgate::v1::RunTransactionRequest& request, const std::string& key,
    const std::string& fingerprint, bool all_reads, const sql::SessionEffects& effects,
    bool execute) {
  using Response = txgate::v1::RunTransactionResponse;
  bool prior_checked = key.empty();
  auto attempt = [&](int n) -> Attempt<Response> {
    // A keyed Execute's statement wrote a non-transactional table: that
    // change stays whatever happens to the transaction, so nothing may run
    // it again (a lost COMMIT is answered UNKNOWN, not resolved and re-run).
    bool wrote_nontransactional = false;
    absl::StatusOr<Lease> lease = pool_->Acquire(ctx.acquire_deadline(), ctx.buffer_deadline());
    if (!lease.ok()) return Final(lease.status());
    db::Connection& conn = **lease;
    // A batch left unread (an answer before its last result) is read and
    // rolled back here, so that the connection goes back clean rather than
    // closed (the pool closes one with a pending result). Not after a
    // cancellation or the deadline, which must not wait for the rest.
    absl::Cleanup settle = [&] {
      if (conn.pending_result() && !conn.broken() && !ctx.cancelled()) {
        Attached attached(ctx, &conn);
        (void)conn.RollbackTransaction();
      }
    };
    if (absl::Status s = PrepareSession(ctx, conn, effects); !s.ok()) {
      return FailedOn(conn, std::move(s), Phase::kBeforeSend, false);
    }
    // Round trip 1: XA START, the key's claim and the statements, as one
    // command. (No separate look-up of the key: a duplicate fails the
    // claim.)
    int batched = 0;
    const std::vector<std::string> batch = BatchOf(conn, request, key, fingerprint, &batched);
    if (batched == 0 && !prior_checked) {
      // Before anything runs: a committed execution's answer is the answer.
      auto prior = PriorOutcome(ctx, conn, key, fingerprint);
      if (!prior.ok()) return FailedOn(conn, prior.status(), Phase::kStatementInFlight, false);
      prior_checked = true;
      if (prior->has_value()) {
        if (!(*prior)->ok()) return Final((*prior)->status());
        return std::move(***prior);
      }
    }
    if (batched > 0) {
      absl::Status s;
      {
        Attached attached(ctx, &conn);
        if (ctx.cancelled()) return Final(Interrupted(ctx));
        // The outcome table is DDL: create it before any transaction opens.
        if (outcomes_ != nullptr && !outcomes_->ensured()) (void)outcomes_->EnsureTable(conn);
        db::TransactionStart start;
        start.isolation = IsolationSql(request.options().isolation_level());
        start.read_only = request.options().read_only();
        start.xa = true;
        s = conn.BeginTransactionWithBatch(start, batch);
      }
      if (!s.ok()) return FailedOn(conn, std::move(s), Phase::kStatementInFlight, false);
      if (!key.empty()) {
        {
          Attached attached(ctx, &conn);
          s = conn.NextResult();
          if (s.ok()) s = conn.Done().status();
        }
        if (!s.ok()) {
          AttemptFailure failure =
              FailedOn(conn, std::move(s), Phase::kStatementInFlight, !all_reads);
          // A committed execution with this key, or a concurrent one that
          // committed while this claim waited for its row.
          failure.key_taken = IsDuplicateKey(failure.status);
          return failure;
        }
      }
    } else if (absl::Status s = OpenTransaction(ctx, conn, request.options()); !s.ok()) {
      return FailedOn(conn, std::move(s), Phase::kStatementInFlight, false);
    }
    Response response;
    int64_t bytes = 0;
    for (int i = 0; i < request.statements_size(); ++i) {
      const txgate::v1::Statement& st = request.statements(i);
      absl::Status s = i < batched ? ReadBatched(ctx, conn, response.add_results(), &bytes)
                                   : RunStatement(ctx, conn, st.sql(), st.params(),
                                                  response.add_results(), &bytes);
      if (!s.ok() && db::IsBatchStale(s)) {
        // Its table changed since the statement was checked: rolled back
        // (nothing ran for good) and run again, checked anew.
        AttemptFailure failure = Final(std::move(s));
        failure.final = false;
        failure.conflict = true;
        return failure;
      }
      if (!s.ok()) {
        // The request's own error names its statement.
        if (!sql::IsConnectionLost(s) && !sql::IsTransientConflict(s)) {
          s = InTransactionError(std::move(s), i);
        }
        return FailedOn(conn, std::move(s), Phase::kStatementInFlight, !all_reads);
      }
      // The server's truth, whatever the text said: the transaction must
      // still be open and hold nothing a rollback cannot undo.
      const Verdict verdict = ServerVerdict(conn, options_.xa_transactions);
      if (verdict == Verdict::kRolledBack) {
        // Nothing committed: re-run like a deadlock.
        AttemptFailure failure = Final(RolledBackByServer(i));
        failure.final = false;
        failure.conflict = true;
        return failure;
      }
      if (verdict == Verdict::kNonTransactionalWrite && execute) {
        // The one statement is the whole transaction, as in autocommit
        // mode: commit it, with its answer recorded.
        wrote_nontransactional = true;
      } else if (verdict != Verdict::kIntact) {
        // Something may be committed that a re-run would repeat: nothing
        // runs or is re-run after it, and with a key a retry gets this
        // answer too (recorded outside any transaction, so committed at
        // once; if it cannot be, the answer stands).
        const bool ended = verdict == Verdict::kEndedEarly;
        // The statements after it in the batch ran already: this text
        // runs one round trip at a time from now on.
        const bool later_ran = !ended && i + 1 < batched;
        if (!ended && i < batched) RememberNonTransactional(st.sql());
        if (!key.empty()) {
          Attached attached(ctx, &conn);
          if (conn.HasOpenTransaction()) (void)conn.RollbackTransaction();
          (void)outcomes_->Record(
              conn, key, fingerprint,
              absl::StrCat(ended ? kEndedEarlyMarker : kNonTransactionalMarker, i));
        }
        return Final(ended ? EndedEarly(i) : NonTransactional(i, later_ran));
      }
      // An unmet expectation is the answer: the lease's return rolls the
      // attempt back, and no outcome has been recorded for the key.
      if (absl::Status unmet = CheckExpectation(st, response.results(i), i); !unmet.ok()) {
        return Final(std::move(unmet));
      }
    }
    response.set_attempts(n);
    // The whole response as it will be sent: over the bound, nothing is
    // committed (the lease's return rolls back).
    if (absl::Status s = CheckResponseSize(response.ByteSizeLong()); !s.ok()) {
      return Final(std::move(s));
    }
    if (!key.empty() && batched > 0) {
      // Round trip 2: the response into the claimed row, XA END, XA COMMIT.
      absl::Status s;
      (void)conn.TakeCommitGtid();  // an earlier call's
      {
        Attached attached(ctx, &conn);
        s = conn.CommitTransactionAfter(outcomes_->CompleteText(key, response.SerializeAsString()));
      }
      if (s.ok()) {
        // Like every commit's answer, with its causality token (the stored
        // response, written before the commit, has none).
        response.set_causality_token(CommitToken(conn));
        return response;
      }
      if (wrote_nontransactional && sql::IsConnectionLost(s)) return Final(OutcomeUnknown(s));
      AttemptFailure failure = FailedOn(conn, std::move(s), Phase::kCommitInFlight, !all_reads);
      failure.lost_session = conn.identity();
      return failure;
    }
    if (!key.empty()) {
      absl::Status s;
      {
        Attached attached(ctx, &conn);
        s = outcomes_->Record(conn, key, fingerprint, response.SerializeAsString());
      }
      if (!s.ok()) {
        if (wrote_nontransactional && sql::IsConnectionLost(s)) return Final(OutcomeUnknown(s));
        AttemptFailure failure =
            FailedOn(conn, std::move(s), Phase::kStatementInFlight, !all_reads);
        // A concurrent execution with this key committed (or is committing) first.
        failure.key_taken = IsDuplicateKey(failure.status);
        return failure;
      }
    }
    absl::Status s;
    (void)conn.TakeCommitGtid();  // an earlier call's
    {
      Attached attached(ctx, &conn);
      s = conn.CommitTransaction();
    }
    if (s.ok()) {
      response.set_causality_token(CommitToken(conn));
      return response;
    }
    if (wrote_nontransactional && sql::IsConnectionLost(s)) return Final(OutcomeUnknown(s));
    AttemptFailure failure = FailedOn(conn, std::move(s), Phase::kCommitInFlight, !all_reads);
    failure.lost_session = conn.identity();
    return failure;  // the lease goes back (a lost one is discarded) before any look-up
  };
  Job<Response> job(Work::kTransaction, !key.empty(), attempt);
  job.resolve =
      [&](const db::SessionIdentity& lost_session) -> absl::StatusOr<std::optional<Response>> {
    std::string token;
    absl::StatusOr<std::optional<std::string>> prior =
        ResolveOutcome(ctx, key, fingerprint, lost_session, &token);
    if (!prior.ok()) return prior.status();
    if (!prior->has_value()) return std::optional<Response>();
    absl::StatusOr<Response> stored = StoredResponse(**prior);
    if (!stored.ok()) return stored.status();
    stored->set_causality_token(std::move(token));
    return std::optional<Response>(std::move(*stored));
  };
  return Heal(ctx, job);
}

absl::StatusOr<std::unique_ptr<TransactionRunner::QueryStream>> TransactionRunner::StartQuery(
    CallContext& ctx, const txgate::v1::StreamQueryRequest& request) {
  if (absl::Status s = CheckReadOptions(request.read()); !s.ok()) return s;
  absl::StatusOr<sql::StatementKind> kind =
      CheckSql(request.sql(), Context::kAutocommit, -1, options_.xa_transactions);
  if (!kind.ok()) return kind.status();
  const bool writes = !kind->read_only;
  ChunkLimits limits;
  limits.max_rows =
      request.max_rows_per_chunk() > 0
          ? std::min<int64_t>(request.max_rows_per_chunk(), options_.stream_chunk_rows)
          : options_.stream_chunk_rows;
  limits.target_bytes = options_.stream_chunk_bytes;
  limits.max_bytes = options_.max_result_bytes;
  limits.split_values = request.accept_chunked_values();
  using Stream = std::unique_ptr<QueryStream>;
  auto attempt = [&](int) -> Attempt<Stream> {
    absl::StatusOr<Lease> lease = pool_->Acquire(ctx.acquire_deadline(), ctx.buffer_deadline());
    if (!lease.ok()) return Final(lease.status());
    if (ctx.cancelled()) return Final(Interrupted(ctx));
    if (absl::Status s = PrepareSession(ctx, **lease, kind->session); !s.ok()) {
      return FailedOn(**lease, std::move(s), Phase::kBeforeSend, false);
    }
    // The server waits this long for a paused consumer before it drops the
    // session; it is session state, reset when the lease returns.
    (*lease)->RequireReset();
    if (absl::Status s = (*lease)->Query(absl::StrCat(
            "SET SESSION net_write_timeout = ",
            std::max<int64_t>(1, absl::ToInt64Seconds(
                                     absl::Ceil(options_.stream_idle_timeout, absl::Seconds(1))))));
        !s.ok()) {
      return FailedOn(**lease, std::move(s), Phase::kBeforeSend, false);
    }
    // Attached from here until the stream is destroyed (see QueryStream).
    ctx.Attach(lease->get());
    absl::Status status = (*lease)->Start(request.sql(), request.params());
    if (status.ok()) return Stream(new QueryStream(this, &ctx, std::move(*lease), limits));
    ctx.Detach();
    return FailedOn(**lease, std::move(status), Phase::kCommitInFlight, writes);
  };
  return Heal(ctx, Job<Stream>(Work::kStatement, false, attempt));
}

TransactionRunner::QueryStream::~QueryStream() { ctx_->Detach(); }

absl::Status TransactionRunner::QueryStream::NextChunk(CallContext& ctx,
                                                       txgate::v1::StreamQueryResponse* chunk) {
  db::Connection& conn = *lease_;
  longest_pause_ = std::max(longest_pause_, absl::Now() - last_read_);
  if (ctx.cancelled()) return runner_->Interrupted(ctx);
  if (first_) {
    first_ = false;
    conn.AppendColumns(chunk->mutable_columns());
  }
  // A row held from the previous chunk (too large beside its rows, or the
  // rest of a split one) goes first.
  if (absl::Status s = chunker_.Begin(chunk); !s.ok()) return s;
  while (chunker_.Room()) {
    txgate::v1::Row row;
    size_t bytes = 0;
    absl::StatusOr<bool> more = conn.Next(&row, &bytes);
    if (!more.ok()) {
      if (ctx.cancelled()) return runner_->Interrupted(ctx);
      if (conn.broken() && longest_pause_ >= runner_->options_.stream_idle_timeout) {
        // The server gave up on the paused consumer (net_write_timeout).
        return sql::MakeStatus(
            absl::StatusCode::kAborted, txgate::v1::TRANSACTION_IDLE_TIMEOUT,
            absl::StrCat("the stream's consumer paused longer than --stream_idle_timeout (",
                         absl::FormatDuration(runner_->options_.stream_idle_timeout),
                         "), so the database dropped it after ", sent_rows_,
                         " rows were sent; read faster or run the query again"));
      }
      return sql::Annotate(more.status(),
                           absl::StrCat("the stream broke after ", sent_rows_, " rows: "));
    }
    if (!*more) {
      absl::StatusOr<db::ExecSummary> summary = conn.Done();
      if (!summary.ok()) return summary.status();
      uint32_t warnings = summary->warning_count;
      // A CALL ends with its status; a second result set would be lost.
      while (conn.more_results()) {
        if (absl::Status s = conn.NextResult(); !s.ok()) {
          return sql::Annotate(s, absl::StrCat("the stream broke after ",
                                               sent_rows_ + chunk->rows_size(), " rows: "));
        }
        if (conn.column_count() > 0) {
          return sql::MakeStatus(
              absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST,
              absl::StrCat("the statement returned a second result set (a CALL) after ",
                           sent_rows_ + chunk->rows_size(),
                           " rows; StreamQuery streams one result set: use Execute"));
        }
        absl::StatusOr<db::ExecSummary> status = conn.Done();
        if (!status.ok()) return status.status();
        warnings += status->warning_count;
      }
      chunk->set_warning_count(warnings);
      chunk->set_done(true);
      break;
    }
    if (absl::Status s = chunker_.Add(std::move(row)); !s.ok()) {
      return sql::Annotate(s, absl::StrCat("row ", sent_rows_ + chunk->rows_size() + 1, ": "));
    }
  }
  // Rows that end in this chunk (a split row counts in its last one).
  sent_rows_ += chunk->rows_size() - (chunk->chunked_value() ? 1 : 0);
  last_read_ = absl::Now();
  return absl::OkStatus();
}

// ---- Interactive transactions ----------------------------------------------

absl::StatusOr<std::unique_ptr<TransactionRunner::Interactive>> TransactionRunner::Begin(
    CallContext& ctx, const txgate::v1::Begin& begin) {
  if (absl::Status s = CheckOptions(begin.options()); !s.ok()) return s;
  bool fresh = false;
  absl::StatusOr<Lease> lease = LeaseInTransaction(ctx, begin.options(), &fresh);
  if (!lease.ok()) return lease.status();
  return std::unique_ptr<Interactive>(
      new Interactive(this, std::move(*lease), begin.options(), fresh));
}

void TransactionRunner::Interactive::Abandon() {
  if (lease_ && !lease_->broken()) lease_->Interrupt();  // the pool closes it, reading nothing
  lease_.Return();
}

absl::Status TransactionRunner::Interactive::Lost(absl::string_view why) {
  return sql::MakeStatus(absl::StatusCode::kAborted, txgate::v1::TRANSACTION_LOST,
                         absl::StrCat("the connection was lost inside the interactive transaction "
                                      "and it could not be replayed: ",
                                      why, "; it was rolled back"));
}

absl::Status TransactionRunner::Interactive::Unhealed(const absl::Status&, absl::string_view why) {
  return Lost(why);
}

absl::Status TransactionRunner::Interactive::Restart(CallContext& ctx) {
  db::Connection& conn = *lease_;
  absl::Status status;
  {
    Attached attached(ctx, &conn);
    status = conn.RollbackTransaction();
    if (status.ok()) status = conn.ResetSession();
  }
  if (status.ok()) status = runner_->OpenTransaction(ctx, conn, options_);
  if (status.ok()) {
    clean_ = true;
    return status;
  }
  if (ctx.cancelled()) return runner_->Interrupted(ctx);
  if (!sql::IsConnectionLost(status)) return status;
  // Lost: an empty transaction replays trivially on a new connection.
  clean_ = true;
  return Replay(ctx);
}

absl::Status TransactionRunner::Interactive::Replay(CallContext& ctx) {
  if (overflow_) {
    return Lost(absl::StrCat("it ran more than the replay bound (",
                             runner_->options_.replay_max_statements, " statements or ",
                             runner_->options_.replay_max_bytes, " bytes)"));
  }
  lease_ = Lease();  // the broken connection goes
  auto attempt = [&](int) -> Attempt<Lease> {
    absl::StatusOr<Lease> lease =
        runner_->pool_->Acquire(ctx.acquire_deadline(), ctx.buffer_deadline());
    if (!lease.ok()) return Final(lease.status());
    db::Connection& conn = **lease;
    if (leaves_state_) conn.RequireReset();
    // A clean transaction is replayed on a clean session: what it reads of
    // earlier statements must be its own.
    if (clean_ && !conn.fresh()) {
      Attached attached(ctx, &conn);
      if (absl::Status s = conn.ResetSession(); !s.ok()) {
        return FailedOn(conn, std::move(s), Phase::kBeforeSend, false);
      }
    }
    if (absl::Status s = runner_->OpenTransaction(ctx, conn, options_); !s.ok()) {
      return FailedOn(conn, std::move(s), Phase::kStatementInFlight, false);
    }
    for (const Recorded& r : log_) {
      ResultSet result;
      int64_t bytes = 0;
      absl::Status s = runner_->RunStatement(ctx, conn, r.statement.sql(), r.statement.params(),
                                             &result, &bytes);
      if (!s.ok()) {
        if (sql::IsConnectionLost(s)) {
          return FailedOn(conn, std::move(s), Phase::kStatementInFlight, !all_reads_);
        }
        return Final(Lost(absl::StrCat("a replayed statement failed: ", s.message())));
      }
      if (ServerVerdict(conn, runner_->options_.xa_transactions) != Verdict::kIntact) {
        return Final(
            Lost("a replayed statement ended the transaction or wrote a "
                 "non-transactional table"));
      }
      if (Checksum(result) != r.checksum) {
        return Final(sql::MakeStatus(
            absl::StatusCode::kAborted, txgate::v1::REPLAY_MISMATCH,
            "the connection was lost and the transaction was replayed, but a statement's "
            "result differed from the first run (the data changed meanwhile); it was rolled "
            "back"));
      }
    }
    return std::move(*lease);
  };
  Job<Lease> job(Work::kInteractive, false, attempt);
  job.unhealed = &Unhealed;
  absl::StatusOr<Lease> lease = runner_->Heal(ctx, job);
  if (!lease.ok()) return lease.status();
  lease_ = std::move(*lease);
  return absl::OkStatus();
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
  absl::StatusOr<sql::StatementKind> kind =
      CheckSql(statement.sql(), Context::kTransaction, -1, runner_->options_.xa_transactions);
  if (!kind.ok()) return kind.status();
  if (absl::Status s = ValidateExpectation(statement, statements_run_); !s.ok()) return s;
  all_reads_ = all_reads_ && kind->read_only;
  if (kind->session.reads_leftovers && !clean_ && log_.empty() && !overflow_) {
    // The transaction's first statement reads what the previous statement
    // left, on a session another call used: nothing has run in the
    // transaction yet, so it starts again, on the same connection, reset.
    // (Later statements read what the transaction's own statements left;
    // replaying them to get there could change what they did.)
    if (absl::Status s = Restart(ctx); !s.ok()) return s;
  }
  if (kind->session.leaves_state) {
    leaves_state_ = true;
    lease_->RequireReset();
  }
  auto attempt = [&](int) -> Attempt<ResultSet> {
    ResultSet result;
    int64_t bytes = 0;
    absl::Status status =
        runner_->RunStatement(ctx, *lease_, statement.sql(), statement.params(), &result, &bytes);
    if (status.ok()) {
      switch (ServerVerdict(*lease_, runner_->options_.xa_transactions)) {
        case Verdict::kIntact:
          break;
        case Verdict::kNonTransactionalWrite:
          return Final(NonTransactional(statements_run_));
        case Verdict::kRolledBack:
          return Final(RolledBackByServer(statements_run_));
        case Verdict::kEndedEarly:
          return Final(EndedEarly(statements_run_));
      }
    }
    // As sent: the result inside a TransactionResponse.
    if (status.ok()) {
      if (absl::Status s = runner_->CheckResponseSize(FieldCost(result.ByteSizeLong())); !s.ok()) {
        return Final(std::move(s));
      }
      ++statements_run_;
      Remember(statement, result);
      return result;
    }
    if (!sql::IsConnectionLost(status) && !sql::IsTransientConflict(status)) {
      status = InTransactionError(std::move(status), statements_run_);
    }
    // The transaction is still open: nothing of it can have committed.
    return FailedOn(*lease_, std::move(status), Phase::kStatementInFlight, !all_reads_);
  };
  Job<ResultSet> job(Work::kInteractive, false, attempt);
  job.heal = [&] { return Replay(ctx); };
  job.unhealed = &Unhealed;
  absl::StatusOr<ResultSet> result = runner_->Heal(ctx, job);
  if (!result.ok()) return result;
  // Unmet: the caller ends the stream, and the lease's return rolls back.
  // (This statement is the last of the statements_run_.)
  if (absl::Status unmet = CheckExpectation(statement, *result, statements_run_ - 1); !unmet.ok()) {
    return unmet;
  }
  return result;
}

absl::Status TransactionRunner::Interactive::Commit(CallContext& ctx,
                                                    const txgate::v1::Commit& commit) {
  // As in RunTransaction, a read-only transaction's key is ignored.
  const std::string key = read_only_ ? "" : commit.idempotency_key();
  if (!key.empty() && runner_->outcomes_ == nullptr) return NoKeys();
  if (!key.empty() && key.size() > runner_->outcomes_->options().max_key_bytes) {
    return Invalid("the idempotency key is too long");
  }
  if (!key.empty() && overflow_) {
    return Invalid("an idempotent commit needs the transaction within the replay bound");
  }
  const std::string fingerprint = key.empty() ? "" : Fingerprint();
  const bool writes = !(read_only_ || all_reads_);
  auto attempt = [&](int) -> Attempt<Committed> {
    db::Connection& conn = *lease_;
    if (!key.empty()) {
      txgate::v1::TransactionResponse committed;
      committed.mutable_committed();
      absl::Status s;
      {
        Attached attached(ctx, &conn);
        s = runner_->outcomes_->Record(conn, key, fingerprint, committed.SerializeAsString());
      }
      if (!s.ok()) {
        AttemptFailure failure = FailedOn(conn, std::move(s), Phase::kStatementInFlight, writes);
        failure.key_taken = IsDuplicateKey(failure.status);
        return failure;
      }
    }
    absl::Status s;
    (void)conn.TakeCommitGtid();  // an earlier call's
    {
      Attached attached(ctx, &conn);
      s = conn.CommitTransaction();
    }
    if (s.ok()) return Committed{CommitToken(conn)};
    // A transaction that wrote nothing has nothing to lose with its COMMIT:
    // its results were already answered.
    if (!writes && sql::IsConnectionLost(s) && conn.maybe_executed() && !ctx.cancelled()) {
      return Committed{};
    }
    AttemptFailure failure = FailedOn(conn, std::move(s), Phase::kCommitInFlight, writes);
    failure.lost_session = conn.identity();
    return failure;
  };
  Job<Committed> job(Work::kInteractive, !key.empty(), attempt);
  // Not committed (the COMMIT never left, or it was found not applied):
  // replay the transaction and commit again.
  job.heal = [&] { return Replay(ctx); };
  job.resolve =
      [&](const db::SessionIdentity& lost_session) -> absl::StatusOr<std::optional<Committed>> {
    lease_.Return();  // rolls back ours (or discards the lost connection) first
    std::string token;
    absl::StatusOr<std::optional<std::string>> prior =
        runner_->ResolveOutcome(ctx, key, fingerprint, lost_session, &token);
    if (!prior.ok()) return prior.status();
    if (!prior->has_value()) return std::optional<Committed>();
    return std::optional<Committed>(Committed{std::move(token)});
  };
  job.unhealed = &Unhealed;
  absl::StatusOr<Committed> committed = runner_->Heal(ctx, job);
  if (!committed.ok()) return committed.status();
  causality_token_ = std::move(committed->causality_token);
  return absl::OkStatus();
}

absl::Status TransactionRunner::Interactive::Rollback(CallContext& ctx) {
  absl::Status status;
  {
    Attached attached(ctx, lease_.get());
    status = lease_->RollbackTransaction();
  }
  // A lost connection rolls the transaction back just as well.
  if (!status.ok() && sql::IsConnectionLost(status)) return absl::OkStatus();
  return status;
}

}  // namespace txgate::runner
