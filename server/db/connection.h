// db::Connection: the seam between txgate's transaction runner and a
// database driver.
//
// It says what the pool, the runner, the outcome store and the statement
// killer need of one database session, and nothing of how a driver gets it:
// no <mysql.h> and no generated proto header here (the proto types are only
// declared). mysql::Connection (Connector/C) implements it; unit tests
// stand in a scripted fake.
//
// Contract for implementations:
//  - One thread at a time uses a connection (the pool's lease guarantees
//    it), except Interrupt(), which any thread may call.
//  - Every failure is an absl::Status built by sql::ToStatus (or
//    sql::MakeStatus for a refusal before anything was sent), so the retry
//    rules can classify it; after a connection-lost error the connection
//    reports broken() and must be discarded.
//  - A statement runs as Start → Next… → Done; nothing else may run on the
//    connection in between.
#ifndef TXGATE_SERVER_DB_CONNECTION_H_
#define TXGATE_SERVER_DB_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace google::protobuf {
template <typename Element>
class RepeatedPtrField;
}  // namespace google::protobuf

namespace txgate::v1 {
class Column;
class Row;
class Value;
}  // namespace txgate::v1

namespace txgate::db {

// A statement's bound parameters, in placeholder order.
using Params = google::protobuf::RepeatedPtrField<txgate::v1::Value>;

// Who a session is, as the server sees it: what proves, before a KILL, that
// a thread id still names the session txgate opened (after a restart of the
// server, thread ids start again from 1 and name other clients' sessions).
struct SessionIdentity {
  uint64_t thread_id = 0;  // CONNECTION_ID(), what KILL takes
  std::string user;        // information_schema.PROCESSLIST.USER
  std::string host;        // PROCESSLIST.HOST: "ip:port" over TCP, "localhost" on a socket
  // When the server instance started (its wall clock now minus Uptime, in
  // whole seconds): a restarted server has another.
  int64_t server_started = 0;

  bool operator==(const SessionIdentity& o) const {
    return thread_id == o.thread_id && user == o.user && host == o.host &&
           server_started == o.server_started;
  }
  bool operator!=(const SessionIdentity& o) const { return !(*this == o); }
};

// Counters of one statement's completion, as the server reported them.
struct ExecSummary {
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint32_t warning_count = 0;
};

// How a transaction starts: the RPC's TransactionOptions, in SQL terms.
struct TransactionStart {
  // "SET TRANSACTION ISOLATION LEVEL <level>" for this transaction, or
  // empty (an access mode may be appended to it: ", READ ONLY").
  absl::string_view isolation;
  bool read_only = false;
  // Run it as an XA transaction (XA START ... XA END, XA COMMIT ... ONE
  // PHASE): inside one MariaDB and MySQL refuse COMMIT, ROLLBACK, DDL and
  // every other statement that would commit implicitly, also from a stored
  // procedure, with error 1399 (XAER_RMFAIL). README, "Transactions".
  bool xa = false;
};

// The failure of a batched statement whose result holds a column that
// does not decode from text exactly (sql::TextIdentical: its table changed
// since the statement was checked). Nothing is wrong with the request: the
// transaction is rolled back and run again, and the connection checks
// every statement anew (it forgets its prepared statements).
inline constexpr char kBatchStaleUrl[] = "type.txgate.dev/batch-stale";
inline absl::Status BatchStale(absl::string_view message) {
  absl::Status status = absl::AbortedError(message);
  status.SetPayload(kBatchStaleUrl, absl::Cord("1"));
  return status;
}
inline bool IsBatchStale(const absl::Status& status) {
  return status.GetPayload(kBatchStaleUrl).has_value();
}

class Connection {
 public:
  virtual ~Connection() = default;

  // Who this session is, recorded when it connected; constant afterwards,
  // so any thread may read it.
  virtual const SessionIdentity& identity() const = 0;

  // The server's id for this session (what KILL takes).
  uint64_t thread_id() const { return identity().thread_id; }

  // True once a connection-lost error was seen, or after Interrupt().
  virtual bool broken() const = 0;

  // False if the last Start() or Query() failed before its command could
  // reach the server (so it certainly did not run); true otherwise.
  virtual bool maybe_executed() const = 0;

  // True if the server reported an open transaction on this session after
  // the last command (the SERVER_STATUS_IN_TRANS flag of its reply).
  virtual bool InTransaction() = 0;

  // Opens a transaction as `start` says.
  virtual absl::Status BeginTransaction(const TransactionStart& start) = 0;

  // Commits the transaction BeginTransaction opened.
  virtual absl::Status CommitTransaction() = 0;

  // Rolls back whatever transaction is open: one BeginTransaction opened
  // (also an XA transaction the server already marked rollback-only, as
  // after a deadlock) or one the server reports. A failure means the
  // session's state is unknown: discard it.
  virtual absl::Status RollbackTransaction() = 0;

  // True if RollbackTransaction() has anything to roll back.
  virtual bool HasOpenTransaction() = 0;

  // True if, since BeginTransaction, the server reported that a statement
  // wrote a non-transactional table (MyISAM, Aria, MEMORY, ...): a change
  // that neither a rollback undoes nor a re-run may repeat. (MySQL's
  // transaction state tracking; a write inside a statement that returned
  // rows is reported with the next statement.)
  virtual bool wrote_nontransactional() const = 0;

  // True if a statement may have changed session state (variables,
  // schema, locks, ...) since the connection opened or was last reset: the
  // server reported it, or RequireReset() was called. The pool resets such
  // a session before anyone else uses it.
  virtual bool session_changed() const = 0;

  // The GTID(s) of the last commit the server reported on this session
  // since the previous call ("0-1-42"; session tracking of @@last_gtid,
  // with the binary log on), and forgets it; "" when none was reported.
  // Call it before a commit to forget an older one, and after it.
  virtual std::string TakeCommitGtid() = 0;

  // Marks the session changed: the caller runs a statement that may leave
  // state the server does not report (sql::SessionEffects).
  virtual void RequireReset() = 0;

  // True if nothing ran since the connection opened or was last reset, so
  // no statement of another call left anything to read on it.
  virtual bool fresh() const = 0;

  // Runs `sql` (no parameters) and discards any result.
  virtual absl::Status Query(absl::string_view sql) = 0;

  // Runs `sql` with `params` bound to its placeholders. If it returns rows,
  // AppendColumns() describes them and Next() reads them; Done() must be
  // called before the connection runs anything else. INVALID_ARGUMENT
  // (nothing sent) for a parameter that cannot be bound.
  virtual absl::Status Start(absl::string_view sql, const Params& params) = 0;

  // Appends the started statement's columns to `out` (none when it returns
  // no rows).
  virtual void AppendColumns(google::protobuf::RepeatedPtrField<txgate::v1::Column>* out) const = 0;

  // Reads the next row into `row`, adding its approximate size in bytes to
  // `bytes`; false at the end of the rows.
  virtual absl::StatusOr<bool> Next(txgate::v1::Row* row, size_t* bytes) = 0;

  // Discards unread rows, ends the current result and returns its summary
  // (a result set's affected rows and insert id are 0).
  virtual absl::StatusOr<ExecSummary> Done() = 0;

  // After Done(): true if the statement has another result (a CALL: each
  // SELECT of the procedure, its OUT parameters, then its final status).
  virtual bool more_results() const = 0;

  // Moves to the next result; AppendColumns/Next/Done then apply to it.
  // Anything the caller does not read is discarded before the next command.
  virtual absl::Status NextResult() = 0;

  // True while the server may still be sending the started statement's
  // results (unread rows, or further results of a CALL): the connection
  // cannot run anything before they are read. The pool closes such a
  // connection instead of reading them, which could take as long as the
  // result is large or the server is slow.
  virtual bool pending_result() const = 0;

  // Whether the current result holds a CALL's OUT/INOUT parameters.
  virtual bool out_params() const = 0;

  // Columns of the current result (0: it returns no rows).
  virtual size_t column_count() const = 0;

  // ---- Batches: a RunTransaction in two round trips (README, "Two round
  // trips per RunTransaction") ---------------------------------------------

  // The text of `sql` with `params` bound as literals (sql/text_codec.h),
  // if it may be sent in a batch; nullopt if it must run with Start(). It
  // may: the server prepared it as ONE statement (COM_STMT_PREPARE refuses
  // "A; B", so a caller's second statement never runs), with as many
  // placeholders as txgate's lexer found, it is no CALL (several results),
  // every parameter has a literal with the bind's meaning, and every column
  // it returns decodes from text exactly as from the binary protocol. The
  // default (a driver without text batches): never.
  virtual absl::StatusOr<std::optional<std::string>> BatchText(absl::string_view sql,
                                                               const Params& params) {
    (void)sql;
    (void)params;
    return std::optional<std::string>();
  }

  // True if a batch of `bytes` of statement text fits one command.
  virtual bool BatchFits(size_t bytes) const {
    (void)bytes;
    return false;
  }

  // Opens a transaction as BeginTransaction does and sends `statements`
  // (texts from BatchText) after it, all in ONE command. An error is the
  // opening's (nothing of the statements ran). Then NextResult() reaches
  // each statement's result in turn, the first one's too; an error there
  // is that statement's, and the statements after it did not run.
  virtual absl::Status BeginTransactionWithBatch(const TransactionStart& start,
                                                 const std::vector<std::string>& statements) {
    (void)start;
    (void)statements;
    return absl::UnimplementedError("no batches on this connection");
  }

  // Runs `sql` (a text from BatchText) and commits, in ONE command. If
  // `sql` fails, the transaction is left open (roll it back).
  virtual absl::Status CommitTransactionAfter(absl::string_view sql) {
    (void)sql;
    return absl::UnimplementedError("no batches on this connection");
  }

  // Without a round trip: false if the idle session is known to be dead.
  virtual bool IdleAlive() const = 0;

  // A cheap round trip that proves the session is alive.
  virtual absl::Status Ping() = 0;

  // Returns the session to a fresh state: the server's reset (user and
  // system variables, temporary tables, locks, prepared statements, open
  // transaction, ...), then txgate's session settings and default schema
  // again. A failure means the session cannot be made fresh: discard it.
  virtual absl::Status ResetSession() = 0;

  // From any thread: makes a blocked call return with a connection-lost
  // error; the connection is broken afterwards.
  virtual void Interrupt() = 0;

  // ---- Non-blocking steps (README, "Inline fast path") ----------------
  // A re-runnable read may run as steps that never block: StartAsync(),
  // then NextAsync() per row. A step that answers kWaiting has not ended:
  // Resume() it (on the same or another thread, one at a time) until it
  // answers something else. While a step waits, no other call but
  // Resume(), pending_result() (true then), broken(), identity() and
  // Interrupt() may be made; the pool closes a connection returned so.
  // A driver without non-blocking I/O answers kNotEligible to
  // StartAsync() (the default).
  enum class Step {
    kNotEligible,  // StartAsync: not run, nothing sent; run it with Start()
    kWaiting,      // the step waits for the database: Resume() it
    kStarted,      // the statement ran; its result is begun (AppendColumns)
    kRow,          // NextAsync/Resume: `row` holds the next row
    kEnd,          // NextAsync/Resume: no more rows (Done() next)
  };

  // Starts `sql` with `params` without blocking, only if it is a
  // re-runnable read (no session effects: sql::ClassifyStatement) whose
  // prepared statement this connection holds already; otherwise (or when
  // the driver has no non-blocking I/O) kNotEligible, nothing sent.
  // Errors as Start().
  virtual absl::StatusOr<Step> StartAsync(absl::string_view sql, const Params& params) {
    (void)sql;
    (void)params;
    return Step::kNotEligible;
  }

  // Like Next(), without blocking: kRow, kEnd or kWaiting.
  virtual absl::StatusOr<Step> NextAsync(txgate::v1::Row* row, size_t* bytes) {
    absl::StatusOr<bool> more = Next(row, bytes);
    if (!more.ok()) return more.status();
    return *more ? Step::kRow : Step::kEnd;
  }

  // Continues the waiting step once the database answered, waiting for it
  // at most `wait` (zero: only looks); kWaiting again if it has not. An
  // InfiniteDuration wait is bounded by the driver's read timeout.
  // `row` and `bytes` as NextAsync() when the step is a row's.
  virtual absl::StatusOr<Step> Resume(absl::Duration wait, txgate::v1::Row* row, size_t* bytes) {
    (void)wait;
    (void)row;
    (void)bytes;
    return absl::FailedPreconditionError("no step is waiting");
  }

  // Destroying a connection never waits on the network for more than a
  // write to the local socket buffer: a broken one, or one with a
  // pending_result(), is closed without reading what the server still
  // sends.
};

// Opens a connection within a timeout; UNAVAILABLE (with the driver's
// detail) when it cannot.
using ConnectionFactory =
    std::function<absl::StatusOr<std::unique_ptr<Connection>>(absl::Duration timeout)>;

}  // namespace txgate::db

#endif  // TXGATE_SERVER_DB_CONNECTION_H_
