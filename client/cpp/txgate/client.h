// Client: the C++ client of txgate.v1.DatabaseService, a thin layer over the
// generated stub with the same shape as the Python, Go and Node.js helpers
// (client/README.md).
//
//   txgate::client::Client db("127.0.0.1:50051");
//   absl::StatusOr<txgate::v1::ResultSet> rs =
//       db.Execute("SELECT ?", {txgate::client::Value::Int(1)});
//   if (!rs.ok()) {
//     txgate::client::Error e = txgate::client::Error::FromStatus(rs.status());
//     ... e.mysql_errno, e.sqlstate, e.mysql_message ...
//   }
//
// Retry rules (client/README.md, "Retries: who retries what"; Retryable):
//  - The channel dials with proto/txgate/v1/service_config.json (embedded at
//    build time), which retries no DatabaseService call: gRPC's retry policy
//    cannot see whether a request carries an idempotency key.
//  - Execute and RunTransaction retry in code. txgate's own UNAVAILABLE (its
//    ErrorInfo) says nothing was applied: always retried. A transport
//    UNAVAILABLE (a cut connection: the request may have been applied, its
//    answer lost), UNKNOWN (COMMIT_OUTCOME_UNKNOWN) and a CANCELLED without
//    txgate's ErrorInfo (gRPC's server cancels a call it accepted as a drain
//    starts, before txgate saw it; the application cannot cancel a call of
//    Execute or RunTransaction, whose ClientContext is the helper's own) are
//    retried only for a request that carries an idempotency key (every
//    attempt of one call carries the same one, so txgate answers a re-sent
//    request that did apply with its stored response) or a read-only
//    transaction.
//  - Everything else is final.
//
// No call throws. Fallible calls return absl::Status / absl::StatusOr whose
// code is the gRPC code; Error::FromStatus() reads txgate's error details
// (reason, MySQL errno, SQLSTATE, message) from it (see error.h).
//
// A Client is thread-safe: any number of threads may call it at once. An
// InteractiveTransaction is not: one thread at a time.
#ifndef TXGATE_CLIENT_CPP_TXGATE_CLIENT_H_
#define TXGATE_CLIENT_CPP_TXGATE_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/sync_stream.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "txgate/error.h"
#include "txgate/v1/database.grpc.pb.h"
#include "txgate/value.h"

namespace txgate::client {

// Settings of a Client. The defaults suit most callers.
struct Options {
  // The channel's credentials. Default (nullptr): plaintext, as for a txgate
  // listening without TLS.
  std::shared_ptr<grpc::ChannelCredentials> credentials;

  // With TLS credentials: the name to verify in txgate's certificate instead
  // of the target's host (e.g. when dialling an IP address). Default (empty):
  // the target's host.
  std::string tls_server_name;

  // The channel's default service config (JSON). Default (empty): the
  // embedded proto/txgate/v1/service_config.json, which retries health
  // checks only (no DatabaseService call: see above).
  std::string service_config;

  // Execute's overall deadline, across all of its retries, when its
  // ExecuteOptions do not set one. Default: 30 s.
  absl::Duration call_timeout = absl::Seconds(30);

  // Deadline of each StreamQuery, from its start to its last row. Default:
  // none (a large result may take long; cancel by returning an error from
  // the row callback).
  absl::Duration stream_timeout = absl::InfiniteDuration();

  // RunTransaction's overall deadline, across all of its retries, when its
  // TransactionOptions do not set one. Default: 30 s.
  absl::Duration transaction_timeout = absl::Seconds(30);

  // Execute's and RunTransaction's backoff: the n-th retry waits a random
  // pause in
  // [b/2, b], b = min(initial_backoff * 2^(n-1), max_backoff).
  // Defaults: 50 ms and 2 s.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);

  // Where reads (Execute of a read, StreamQuery, read-only transactions)
  // may run unless a call says otherwise: READ_ROUTING_PRIMARY or
  // READ_ROUTING_REPLICA. Default: unspecified, txgate's --read_routing
  // (README, "Reads on replicas").
  txgate::v1::ReadRouting routing = txgate::v1::READ_ROUTING_UNSPECIFIED;
};

// Options of one transaction (RunTransaction or BeginTransaction).
struct TransactionOptions {
  // Default: the server's isolation level (REPEATABLE READ unless set).
  txgate::v1::IsolationLevel isolation_level = txgate::v1::ISOLATION_LEVEL_UNSPECIFIED;

  // START TRANSACTION READ ONLY. A read-only transaction carries no
  // idempotency key (re-running it is harmless), and carries the client's
  // read options (routing, the latest write's causality token). Default:
  // false.
  bool read_only = false;

  // Where a read-only transaction may run; unspecified (default): the
  // client's Options::routing.
  txgate::v1::ReadRouting routing = txgate::v1::READ_ROUTING_UNSPECIFIED;

  // RunTransaction only: the key naming this logical transaction, at most
  // 128 bytes. Default (empty): a fresh random one per RunTransaction call
  // (none when read_only). Pass the key of an earlier failed call (see
  // Error::idempotency_key) to retry it later, exactly once.
  std::string idempotency_key;

  // RunTransaction: the overall deadline across retries; default (zero)
  // Options::transaction_timeout. BeginTransaction: the deadline of the whole
  // interactive transaction; default (zero) none.
  absl::Duration timeout = absl::ZeroDuration();
};

// One statement of a RunTransaction (or of InteractiveTransaction::Run):
// SQL with one '?' per parameter, and optionally an expectation on its
// result, set with the Expect* builders:
//
//   db.RunTransaction({
//       Statement("UPDATE acct SET balance = balance - ? WHERE id = ? AND balance >= ?",
//                 {amount, src, amount}).ExpectMinAffectedRows(1),
//       Statement("UPDATE acct SET balance = balance + ? WHERE id = ?", {amount, dst})});
//
// When the result misses the expectation, the whole transaction is rolled
// back and the call fails with FAILED_PRECONDITION, reason
// EXPECTATION_FAILED (Error::expectation_failed()).
struct Statement {
  Statement(std::string sql_text, std::vector<Value> values = {})  // NOLINT: implicit
      : sql(std::move(sql_text)), params(std::move(values)) {}
  Statement(const char* sql_text) : sql(sql_text) {}  // NOLINT: implicit

  // Each builder adds one condition (they combine with AND) and returns
  // *this. Affected rows count the rows an UPDATE matched, changed or not
  // (txgate connects with CLIENT_FOUND_ROWS); rows are the rows returned.
  Statement& ExpectAffectedRows(uint64_t n) { return Expect().set_affected_rows(n), *this; }
  Statement& ExpectMinAffectedRows(uint64_t n) { return Expect().set_min_affected_rows(n), *this; }
  Statement& ExpectMaxAffectedRows(uint64_t n) { return Expect().set_max_affected_rows(n), *this; }
  Statement& ExpectRows(uint64_t n) { return Expect().set_rows(n), *this; }
  // n = 1: "returns a row", e.g. a SELECT ... FOR UPDATE guard.
  Statement& ExpectMinRows(uint64_t n) { return Expect().set_min_rows(n), *this; }
  Statement& ExpectMaxRows(uint64_t n) { return Expect().set_max_rows(n), *this; }

  // The statement as sent.
  txgate::v1::Statement proto() const;

  std::string sql;
  std::vector<Value> params;
  // The expectation on the result; unset: none.
  std::optional<txgate::v1::Expectation> expect;

 private:
  txgate::v1::Expectation& Expect() { return expect ? *expect : expect.emplace(); }
};

// Options of one Execute.
struct ExecuteOptions {
  // The key naming this call, at most 128 bytes. Default (empty): a fresh
  // random one per call (unless no_key). Pass the key of an earlier failed
  // call (Error::idempotency_key) to re-send it later, exactly once.
  std::string idempotency_key;
  // Send no key: then only txgate's own UNAVAILABLE (nothing was applied)
  // is retried. Default: false.
  bool no_key = false;
  // The overall deadline across retries; default (zero)
  // Options::call_timeout.
  absl::Duration timeout = absl::ZeroDuration();
  // Where the statement may run if it is a read; unspecified (default): the
  // client's Options::routing.
  txgate::v1::ReadRouting routing = txgate::v1::READ_ROUTING_UNSPECIFIED;
};

// What ExecuteWith returns.
struct ExecuteResult {
  // The statement's result (on a re-sent write: the stored one).
  txgate::v1::ResultSet result;
  // How many Execute calls this client made (1 without retries).
  int calls = 0;
  // The key every call carried; empty with no_key.
  std::string idempotency_key;
};

// What RunTransaction returns.
struct TransactionResult {
  // One result per statement, in order.
  std::vector<txgate::v1::ResultSet> results;
  // How often txgate started the transaction in the call that succeeded.
  uint32_t attempts = 0;
  // How many RunTransaction calls this client made (1 without retries).
  int calls = 0;
  // The key every call carried; empty for a read-only transaction.
  std::string idempotency_key;
};

// What StreamQuery returns once the stream has ended.
struct StreamSummary {
  // The result's columns (from the first chunk).
  std::vector<txgate::v1::Column> columns;
  // Rows passed to the callback, and chunks received.
  int64_t rows = 0;
  int chunks = 0;
  // The statement's warning count (from the last chunk).
  uint32_t warning_count = 0;
};

// Called once per streamed row, in order. Returning an error stops the
// query: the call is cancelled (txgate kills the statement) and StreamQuery
// returns that error.
using RowCallback = std::function<absl::Status(const txgate::v1::Row& row)>;

class InteractiveTransaction;

class Client {
 public:
  // A client of the txgate at `target` ("host:port", or any gRPC target).
  // Connects lazily: a txgate that cannot be reached shows as UNAVAILABLE
  // on the first call.
  explicit Client(absl::string_view target, Options options = Options());

  // A client over a channel of the caller's; create it with ChannelArgs()
  // to keep the retry policy. `options.credentials` and
  // `options.service_config` are unused.
  explicit Client(std::shared_ptr<grpc::Channel> channel, Options options = Options());

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // The channel arguments Client dials with: the service config of `options`
  // (or the embedded one) as the default service config, retries enabled.
  static grpc::ChannelArguments ChannelArgs(const Options& options);

  // proto/txgate/v1/service_config.json as embedded at build time.
  static absl::string_view DefaultServiceConfig();

  // Runs one statement in autocommit mode, exactly once, and returns its
  // whole result: ExecuteWith with the default ExecuteOptions.
  absl::StatusOr<txgate::v1::ResultSet> Execute(absl::string_view sql,
                                                absl::Span<const Value> params = {});

  // Runs one statement in autocommit mode, exactly once: a fresh
  // idempotency key names the call (see ExecuteOptions) and every attempt
  // carries it, so a write whose answer was lost (a transport UNAVAILABLE,
  // UNKNOWN / COMMIT_OUTCOME_UNKNOWN) is re-sent safely: txgate answers a
  // re-sent write that did apply with its stored result (affected_rows,
  // last_insert_id, ...) instead of running it again. txgate ignores the key
  // of a plain read. Retries back off until the overall deadline; a
  // failure's status carries the key.
  absl::StatusOr<ExecuteResult> ExecuteWith(absl::string_view sql, absl::Span<const Value> params,
                                            const ExecuteOptions& options);

  // Whether a request that failed with `status` may be sent again. `safe`:
  // it is safe to repeat whatever happened to it (it carries an idempotency
  // key, or it is a read-only transaction). See the retry rules above.
  static bool Retryable(const grpc::Status& status, bool safe);

  // Runs `statements` as one transaction, all or nothing, exactly once:
  // every call carries the same idempotency key (see TransactionOptions), so
  // UNAVAILABLE and UNKNOWN are retried with backoff until the overall
  // deadline. UNKNOWN without a key (read-only) is never retried; other
  // errors are final. A failure's status carries the key
  // (Error::FromStatus(s).idempotency_key) so the caller may retry later.
  absl::StatusOr<TransactionResult> RunTransaction(absl::Span<const Statement> statements,
                                                   const TransactionOptions& options = {});

  // Streams the rows of one query to `on_row`, chunk by chunk, so that any
  // size of result fits in bounded memory. `max_rows_per_chunk` 0 uses the
  // server's default. Returns the summary once the last row was handled,
  // or the first error (the server's, or the callback's).
  absl::StatusOr<StreamSummary> StreamQuery(absl::string_view sql, absl::Span<const Value> params,
                                            const RowCallback& on_row,
                                            uint32_t max_rows_per_chunk = 0);

  // Begins an interactive transaction on the bidi Transaction stream. The
  // transaction rolls back unless committed: when its owner destroys it
  // open, it sends a rollback (and cancels the stream if that fails). The
  // client must outlive it. `options.idempotency_key` is unused (Commit
  // takes the key).
  absl::StatusOr<std::unique_ptr<InteractiveTransaction>> BeginTransaction(
      const TransactionOptions& options = {});

  // A fresh idempotency key: 128 random bits as 32 lower-case hex digits.
  std::string NewIdempotencyKey();

  // Read-your-writes (README, "Reads on replicas"): the client keeps the
  // causality token of the latest write it saw (Execute, RunTransaction, an
  // interactive commit) and sends it, with the routing, on every read,
  // stream and read-only transaction, so they see that write also on a
  // replica. "" before any write. Thread-safe.
  std::string causality_token() const;
  // Forgets the token: the next reads carry none.
  void ClearCausalityToken();

  // The generated stub, for what this class does not wrap.
  txgate::v1::DatabaseService::Stub& stub() { return *stub_; }

 private:
  friend class InteractiveTransaction;  // Observe of its commit's token
  // A random pause in [backoff/2, backoff].
  absl::Duration Jitter(absl::Duration backoff);
  // Runs `call` (one attempt, on the context it is given, whose deadline is
  // `deadline`) until it succeeds or Retryable(status, safe) says no, with
  // backoff; returns the number of calls, or the last error carrying `key`.
  absl::StatusOr<int> WithRetries(const std::function<grpc::Status(grpc::ClientContext*)>& call,
                                  const std::string& key, bool safe, absl::Time deadline);

  // Keeps a write response's token ("" is ignored).
  void Observe(const std::string& token);
  // What a read sends: `routing` (the client's when unspecified) and the
  // latest write's token.
  txgate::v1::ReadOptions ReadOptions(txgate::v1::ReadRouting routing) const;

  const Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<txgate::v1::DatabaseService::Stub> stub_;
  absl::Mutex mu_;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex token_mu_;
  std::string causality_token_ ABSL_GUARDED_BY(token_mu_);
};

// An interactive transaction: the Transaction stream is the transaction.
// Statements run one at a time, in order, each answering its result. A
// failed statement ends the transaction (rolled back by txgate); later calls
// answer FAILED_PRECONDITION. Not thread-safe.
class InteractiveTransaction {
 public:
  enum class State { kOpen, kCommitted, kRolledBack, kFailed };

  InteractiveTransaction(const InteractiveTransaction&) = delete;
  InteractiveTransaction& operator=(const InteractiveTransaction&) = delete;

  // Rolls back if still open, waiting for txgate's answer; cancels the
  // stream (txgate rolls back then too) when the rollback fails.
  ~InteractiveTransaction();

  // Runs one statement inside the transaction.
  absl::StatusOr<txgate::v1::ResultSet> Execute(absl::string_view sql,
                                                absl::Span<const Value> params = {});

  // Runs one statement, with its expectation if it has one; an unmet one
  // ends the transaction (rolled back by txgate, state kFailed) with
  // FAILED_PRECONDITION, reason EXPECTATION_FAILED.
  absl::StatusOr<txgate::v1::ResultSet> Run(const Statement& statement);

  // Commits and ends the transaction; returns the idempotency key the commit
  // carried (`idempotency_key`, or a fresh one when empty; none for a
  // read-only transaction), with which txgate resolves a commit whose
  // outcome was lost. A failure's status carries the key too.
  absl::StatusOr<std::string> Commit(absl::string_view idempotency_key = "");

  // Rolls back and ends the transaction. OK when already ended without a
  // commit; FAILED_PRECONDITION after a commit.
  absl::Status Rollback();

  State state() const { return state_; }
  // After Commit: the commit's causality token ("" when it wrote nothing);
  // the client keeps it too.
  const std::string& causality_token() const { return causality_token_; }

 private:
  friend class Client;
  using Stream =
      grpc::ClientReaderWriter<txgate::v1::TransactionRequest, txgate::v1::TransactionResponse>;

  InteractiveTransaction(Client* client, bool read_only,
                         std::unique_ptr<grpc::ClientContext> context);

  // Sends `request` and reads its answer, which must be `expect`. Any
  // failure ends the transaction (state kFailed).
  absl::StatusOr<txgate::v1::TransactionResponse> Exchange(
      const txgate::v1::TransactionRequest& request,
      txgate::v1::TransactionResponse::OutcomeCase expect);

  // Half-closes and reads the stream's final status.
  absl::Status Finish();

  // Ends a broken exchange: the stream's status, or INTERNAL if it has none.
  absl::Status Fail(absl::string_view what);

  Client* const client_;
  const bool read_only_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Stream> stream_;
  bool finished_ = false;
  std::string causality_token_;  // the commit's
  State state_ = State::kOpen;
};

}  // namespace txgate::client

#endif  // TXGATE_CLIENT_CPP_TXGATE_CLIENT_H_
