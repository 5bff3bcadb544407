// Connection: the one wrapper of the MySQL/MariaDB C API (Connector/C).
// Nothing else in txgate calls mysql_*.
//
// A Connection owns one MYSQL handle and its cache of server-side prepared
// statements; both die together. It is used by one thread at a time (the
// pool's lease guarantees it), except for Interrupt(), which any thread may
// call to unblock a call stuck on the network. Every failure is an
// absl::Status built by sql::ToStatus, so the retry rules can classify it;
// after a connection-lost error the connection reports broken() and must be
// discarded.
#ifndef TXGATE_SERVER_MYSQL_CONNECTION_H_
#define TXGATE_SERVER_MYSQL_CONNECTION_H_

#include <mysql.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
};

// Counters of one statement's completion.
struct ExecSummary {
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint32_t warning_count = 0;
};

class Connection {
 public:
  // Connects within `timeout` (rounded up to whole seconds, at least 1).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectOptions& options,
                                                          absl::Duration timeout);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The server's id for this session (for KILL).
  uint64_t thread_id() const { return thread_id_; }

  // True once a connection-lost error was seen, or after Interrupt().
  bool broken() const { return broken_.load(std::memory_order_acquire); }

  // False if the last Start() or Query() failed before its command could
  // reach the server (so it certainly did not run); true otherwise.
  bool maybe_executed() const { return maybe_executed_; }

  // True if the server reports an open transaction.
  bool InTransaction();

  // True if a statement changed session state (variables, schema, ...) since
  // the last Open or ResetSession, as session state tracking reports.
  bool session_changed() const { return session_changed_; }

  // Runs `sql` with the text protocol and discards any result.
  absl::Status Query(absl::string_view sql);

  // Prepares (or reuses) `sql`, binds `params` and executes it. If it
  // returns rows, fields() describes them and Next() reads them; Done()
  // must be called before the connection runs anything else.
  absl::Status Start(absl::string_view sql,
                     const google::protobuf::RepeatedPtrField<txgate::v1::Value>& params);

  // Columns of the started statement; empty when it returns no rows.
  const std::vector<sql::FieldInfo>& fields() const { return decoder_.fields(); }

  // Reads the next row into `row` (adding its approximate size to `bytes`);
  // false at the end of the rows.
  absl::StatusOr<bool> Next(txgate::v1::Row* row, size_t* bytes);

  // Discards unread rows, ends the statement and returns its summary.
  absl::StatusOr<ExecSummary> Done();

  // Without a round trip: false if the idle socket shows the server closed
  // it (EOF, reset or an unsolicited packet such as a kill notice).
  bool IdleAlive() const;

  // A cheap round trip that proves the session is alive.
  absl::Status Ping();

  // Returns the session to a fresh state (COM_RESET_CONNECTION), dropping
  // prepared statements, then re-applies txgate's session settings.
  absl::Status ResetSession();

  // From any thread: shuts the socket down so a blocked call returns with a
  // connection-lost error; the connection is broken afterwards.
  void Interrupt();

 private:
  Connection(MYSQL* mysql, size_t statement_cache_size);
  absl::Status InitSession();
  absl::Status ConnectionError();
  absl::Status StatementError(MYSQL_STMT* stmt);
  absl::Status Track(absl::Status status);
  bool LastCommandChangedSession();
  absl::StatusOr<MYSQL_STMT*> Prepare(absl::string_view sql);
  void CloseStatements();

  MYSQL* mysql_;
  uint64_t thread_id_ = 0;
  int socket_ = -1;
  std::atomic<bool> broken_{false};
  bool session_changed_ = false;
  bool maybe_executed_ = false;
  size_t statement_cache_size_;
  absl::flat_hash_map<std::string, MYSQL_STMT*> statements_;
  std::vector<std::string> statement_order_;  // insertion order, for eviction
  MYSQL_STMT* active_ = nullptr;              // statement between Start and Done
  bool has_rows_ = false;
  sql::ParamBinder params_;
  sql::RowDecoder decoder_;
};

}  // namespace txgate::mysql

#endif  // TXGATE_SERVER_MYSQL_CONNECTION_H_
