// Connection: the one wrapper of the MySQL/MariaDB C API (Connector/C).
// Nothing else in txgate calls mysql_*.
//
// A Connection owns one MYSQL handle and its cache of server-side prepared
// statements; both die together. It implements db::Connection, whose
// contract (one thread at a time, Interrupt() from any, failures built by
// sql::ToStatus, broken() after a loss) it keeps.
#ifndef TXGATE_SERVER_MYSQL_CONNECTION_H_
#define TXGATE_SERVER_MYSQL_CONNECTION_H_

#include <mysql.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/db/connection.h"
#include "server/sql/value_codec.h"
#include "txgate/v1/database.pb.h"

namespace txgate::mysql {

// Where and how to connect. Defaults connect to a local server over TCP.
struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string socket;  // a Unix socket path; wins over host/port when set
  std::string user = "root";
  std::string password;
  std::string database;
  // Bounds a blocked read (a statement the network swallowed); 0 = none.
  absl::Duration read_timeout = absl::Minutes(5);
  absl::Duration write_timeout = absl::Seconds(30);
  // Prepared statements kept per connection; the least recently added goes.
  size_t statement_cache_size = 256;
  // Every transaction of the session, autocommit statements included, is
  // READ ONLY (SET SESSION TRANSACTION READ ONLY at connect and after each
  // reset): a write fails with 1792 whatever runs it, also a definer-rights
  // view or function the account may read.
  bool read_only = false;
  // Open the session with MYSQL_OPT_NONBLOCK, so that StartAsync() and
  // NextAsync() run re-runnable reads without blocking (the inline fast
  // path); blocking calls work on it as before. False: StartAsync()
  // answers kNotEligible.
  bool nonblocking = true;
};

// The summary type is the seam's; the name stays for existing callers.
using ExecSummary = db::ExecSummary;

class Connection final : public db::Connection {
 public:
  // Connects within `timeout` (rounded up to whole seconds, at least 1).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectOptions& options,
                                                          absl::Duration timeout);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // db::Connection; see there.
  const db::SessionIdentity& identity() const override { return identity_; }
  bool broken() const override { return broken_.load(std::memory_order_acquire); }
  bool maybe_executed() const override { return maybe_executed_; }
  bool InTransaction() override;
  // One round trip each: the isolation level, read-only mode and XA START
  // go as one multi-statement command, and so do XA END and XA COMMIT.
  // An XA transaction's xid is this session's thread id and a random
  // number, so no other statement can name it by chance.
  absl::Status BeginTransaction(const db::TransactionStart& start) override;
  absl::Status CommitTransaction() override;
  absl::Status RollbackTransaction() override;
  bool HasOpenTransaction() override;
  // From the server's transaction state tracking (see the .cc).
  bool wrote_nontransactional() const override { return nontransactional_write_; }
  // As session state tracking reports it, or as RequireReset() says.
  bool session_changed() const override { return session_changed_; }
  void RequireReset() override { session_changed_ = true; }
  // From the OK packets' @@last_gtid record (kSessionInit tracks it).
  std::string TakeCommitGtid() override { return std::exchange(commit_gtid_, std::string()); }
  bool fresh() const override { return fresh_; }
  // With the text protocol.
  absl::Status Query(absl::string_view sql) override;
  // Prepares `sql` (or reuses its cached statement), binds and executes it.
  absl::Status Start(absl::string_view sql, const db::Params& params) override;
  void AppendColumns(google::protobuf::RepeatedPtrField<txgate::v1::Column>* out) const override;
  absl::StatusOr<bool> Next(txgate::v1::Row* row, size_t* bytes) override;
  absl::StatusOr<ExecSummary> Done() override;
  bool more_results() const override;
  absl::Status NextResult() override;
  // From Connector/C's own state: unread rows of the active statement, or
  // more results announced.
  bool pending_result() const override;
  bool out_params() const override { return out_params_; }
  size_t column_count() const override { return decoder_.fields().size(); }
  // Prepares `sql` (or reuses its cached statement) to prove it is one
  // statement and to see its placeholders and columns; a statement the
  // server refuses to prepare, one not kept in the cache (so a batch never
  // costs a prepare per call), a CALL, or a column that does not decode from
  // text exactly (sql::TextIdentical): nullopt. INVALID_ARGUMENT as Start
  // for a parameter ParamBinder refuses.
  absl::StatusOr<std::optional<std::string>> BatchText(absl::string_view sql,
                                                       const db::Params& params) override;
  // Under max_allowed_packet with room to spare.
  bool BatchFits(size_t bytes) const override;
  // One multi-statement text command (CLIENT_MULTI_STATEMENTS): the
  // transaction's opening, then each statement; results are read with the
  // text protocol (sql::TextValue).
  absl::Status BeginTransactionWithBatch(const db::TransactionStart& start,
                                         const std::vector<std::string>& statements) override;
  // `sql`; XA END; XA COMMIT ... ONE PHASE (or `sql`; COMMIT) as one command.
  absl::Status CommitTransactionAfter(absl::string_view sql) override;
  // Looks at the idle socket: EOF, a reset or an unsolicited packet (such as
  // a kill notice) mean the server closed it.
  bool IdleAlive() const override;
  absl::Status Ping() override;
  // COM_RESET_CONNECTION (dropping prepared statements), then txgate's
  // session settings and the configured database again (the reset keeps
  // the current schema). With no database configured, a session whose
  // schema was changed cannot be restored: FAILED_PRECONDITION.
  absl::Status ResetSession() override;
  // Shuts the socket down.
  void Interrupt() override;
  // Non-blocking steps (db::Connection): Connector/C's
  // mysql_stmt_execute_start/_cont and mysql_stmt_fetch_start/_cont on a
  // statement in the cache, waiting with ppoll(2) on the session's socket
  // for what the library asks (MYSQL_WAIT_READ/WRITE/EXCEPT, and
  // MYSQL_WAIT_TIMEOUT: its read timeout, which also bounds an infinite
  // Resume() wait). Only cached re-runnable statements are eligible, so a
  // step never prepares; a parameter that does not bind, or an execution
  // near max_allowed_packet, is not eligible either (Start() answers
  // those precisely).
  absl::StatusOr<Step> StartAsync(absl::string_view sql, const db::Params& params) override;
  absl::StatusOr<Step> NextAsync(txgate::v1::Row* row, size_t* bytes) override;
  absl::StatusOr<Step> Resume(absl::Duration wait, txgate::v1::Row* row, size_t* bytes) override;
  // Closes the session (COM_QUIT) and frees its statements. A broken
  // connection, or one with a pending result, has its socket shut down
  // first, so that nothing waits for the server; the statements are freed
  // after mysql_close, which detaches them, so Connector/C never reads the
  // rest of a result to close them (mysql_stmt_close on an attached
  // statement would, for up to read_timeout).
  ~Connection() override;

  // Commands (round trips: a query, a multi-statement batch, a prepare, an
  // execute, a ping, a reset) sent by every Connection of this process so
  // far; for tests and measurements of round trips per call.
  static uint64_t CommandsSent();

  // Columns of the started statement; empty when it returns no rows.
  const std::vector<sql::FieldInfo>& fields() const { return decoder_.fields(); }

 private:
  Connection(MYSQL* mysql, const ConnectOptions& options);
  absl::Status InitSession();
  // The SQL that opens a transaction as `start` says (sets xid_), and how
  // many statements it holds.
  std::string BeginSql(const db::TransactionStart& start, int* statements);
  // The SQL that ends the open transaction with a commit.
  std::string CommitSql() const;
  // Reads the current result of a batch (text protocol) after
  // mysql_real_query / mysql_next_result succeeded.
  absl::Status BeginTextResult();
  // Frees the current text result set (reading what is left of it).
  void EndTextResult();
  // Query() for txgate's own transaction control: leaves session_changed_
  // as it was.
  absl::Status QueryKeepingSessionMark(absl::string_view sql);
  // Reads identity_ (db::kSessionIdentitySelect for this session).
  absl::Status ReadIdentity();
  // Fails unless the session has no default schema.
  absl::Status ExpectNoSchema();
  absl::Status ConnectionError();
  absl::Status StatementError(MYSQL_STMT* stmt);
  absl::Status Track(absl::Status status);
  bool LastCommandChangedSession();
  // A prepared statement, cached or for this one execution.
  struct Prepared {
    MYSQL_STMT* stmt = nullptr;
    bool rerunnable = false;  // a (locking) read with no session effects
    bool cached = false;      // kept in statements_ (else closed when done)
  };
  // The cached statement for `sql`, or a new one (cached when it may be).
  absl::StatusOr<Prepared> Prepare(absl::string_view sql);
  // Closes and uncaches the statement for `sql`.
  void Forget(absl::string_view sql);
  // Binds the parameters and executes; on success the result is started.
  absl::Status Execute(const Prepared& prepared);
  // Describes and binds the current result set of the active statement.
  absl::Status BeginResult();
  // Takes what the end-of-rows packet says (see the .cc).
  void ReadEndOfRows();
  // Ends the active statement (closing it unless cached).
  void FinishStatement();
  // Discards whatever the active statement has not delivered yet (ending
  // a waiting step first).
  void DrainPending();
  // What a fetch's return code `rc` means: a row decoded into `row`
  // (true), the end (false), or the error.
  absl::StatusOr<bool> Fetched(int rc, txgate::v1::Row* row, size_t* bytes);
  // Ends an execution (blocking or not) of `stmt` that returned `ret`.
  absl::StatusOr<Step> ExecuteEnded(MYSQL_STMT* stmt, bool cached, int ret);
  // The operation a waiting step continues.
  enum class AsyncOp { kNone, kExecute, kFetch };
  void CloseStatements();

  MYSQL* mysql_;
  db::SessionIdentity identity_;  // set by Open(), constant afterwards
  // The xid of the XA transaction BeginTransaction opened, until it ends
  // ("": none).
  std::string xid_;
  // Since BeginTransaction, the server reported a write to a table that
  // cannot be rolled back.
  bool nontransactional_write_ = false;
  // The GTID of the last commit reported and not yet taken
  // (TakeCommitGtid), and the session's @@last_gtid as last reported.
  std::string commit_gtid_;
  std::string last_gtid_;
  absl::BitGen random_;
  int socket_ = -1;
  std::atomic<bool> broken_{false};
  bool session_changed_ = false;
  bool fresh_ = true;
  // The session's max_allowed_packet, read at connect (0: unknown).
  uint64_t max_allowed_packet_ = 0;
  std::string database_;  // the configured default schema ("" for none)
  bool read_only_;        // ConnectOptions::read_only
  bool maybe_executed_ = false;
  bool nonblocking_;  // ConnectOptions::nonblocking
  // The waiting step: its operation, what the library waits for
  // (MYSQL_WAIT_* flags) and, for an execution, its statement.
  AsyncOp async_op_ = AsyncOp::kNone;
  int async_wait_ = 0;
  MYSQL_STMT* async_stmt_ = nullptr;
  size_t statement_cache_size_;
  absl::flat_hash_map<std::string, Prepared> statements_;
  std::vector<std::string> statement_order_;  // insertion order, for eviction
  MYSQL_STMT* active_ = nullptr;              // from Start until its last result is done
  bool active_cached_ = false;
  bool active_stale_ = false;  // its cached column names are out of date
  bool has_rows_ = false;      // the current result set has unread rows
  bool out_params_ = false;    // the current result set holds OUT parameters
  uint32_t eof_warnings_ = 0;
  // A batch's results are being read (BeginTransactionWithBatch until the
  // last one, or a drain).
  bool batch_ = false;
  MYSQL_RES* text_result_ = nullptr;  // the batch's current result set
  // The session's collation is its character set's default, so that a
  // _utf8mb4 X'..' literal compares as the bound string does (read at
  // connect; sql/text_codec.h).
  bool default_collation_ = false;
  // A batch met a column its statement's check had not seen (DDL since the
  // prepare): the cached statements are closed before the next batch.
  bool forget_statements_ = false;
  sql::ParamBinder params_;
  sql::RowDecoder decoder_;
};

}  // namespace txgate::mysql

#endif  // TXGATE_SERVER_MYSQL_CONNECTION_H_
