// Test support for integration tests: the real MariaDB that tests/run.sh
// started (TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT), an in-process txgate
// server on a free loopback port, a stub to call it, and admin helpers that
// run SQL as root over the server's socket (KILL, process list, restarts).
#ifndef TXGATE_TESTS_SUPPORT_TEST_ENV_H_
#define TXGATE_TESTS_SUPPORT_TEST_ENV_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/service/server.h"
#include "txgate/v1/database.grpc.pb.h"

namespace txgate::testing {

// Where the test database is; read from the environment.
struct TestDatabase {
  std::string dir;          // the mariadb.sh data directory
  int port = 0;             // TCP port on 127.0.0.1
  std::string password;     // of user txgate
  std::string ro_password;  // of user txgate_ro (SELECT only)
  std::string socket() const { return dir + "/mysqld.sock"; }
};

// The test database, or a fatal test failure when the variables are unset.
const TestDatabase& Database();

// Server options pointing at the test database as user txgate (read-only
// tokens as txgate_ro), database txgate, listening on a free loopback port,
// with small pool timeouts.
service::ServerOptions DefaultServerOptions();

// Runs `sql` as root over the socket; returns the rows as text (NULL -> "NULL").
absl::StatusOr<std::vector<std::vector<std::string>>> AdminQuery(const std::string& sql);
// Same, failing the test on error.
std::vector<std::vector<std::string>> Admin(const std::string& sql);

// Runs `sql` with `params`, after the text statements `before`, on a brand-new
// txgate session (the user, database and session settings the pool gives a
// new connection): what a caller with a fresh, private connection gets.
absl::StatusOr<txgate::v1::ResultSet> RunOnNewSession(const std::string& sql,
                                                      std::vector<txgate::v1::Value> params = {},
                                                      const std::vector<std::string>& before = {});

// Session ids of the connections user txgate has open (excluding `except`).
std::vector<std::string> TxgateSessionIds();

// KILL CONNECTION on every txgate session; waits until they are gone.
int KillTxgateSessions();

// Runs deploy/local/mariadb.sh with `args` (e.g. "stop", "start"); true on success.
bool MariadbCtl(const std::string& command);

// Sends `signal` (SIGSTOP, SIGCONT, ...) to the test's mariadbd (its pid
// from the data directory's mysqld.pid); true on success.
bool SignalMariadb(int signal);

// Stops (SIGSTOP) the test's mariadbd for its lifetime: a hung database.
// Always continues it (SIGCONT) when destroyed, also after a failed
// assertion.
class MariadbStall {
 public:
  MariadbStall();
  ~MariadbStall();
  MariadbStall(const MariadbStall&) = delete;
  MariadbStall& operator=(const MariadbStall&) = delete;
  bool stopped() const { return stopped_; }
  // Continues it now.
  void End();

 private:
  bool stopped_ = false;
};

// Kills (KILL CONNECTION, as root) sessions found running a statement that
// starts with `sql`, polling the process list every 10 ms from a thread of
// its own, until Stop() (or after `max_kills` kills; 0: no limit). Stop()
// returns the ids of the sessions killed.
class SessionKiller {
 public:
  explicit SessionKiller(const std::string& sql, int max_kills = 0);
  ~SessionKiller() { Stop(); }
  SessionKiller(const SessionKiller&) = delete;
  SessionKiller& operator=(const SessionKiller&) = delete;
  std::set<std::string> Stop();

 private:
  std::atomic<bool> stop_{false};
  std::set<std::string> killed_;  // the thread's own until joined
  std::thread thread_;
};

// Waits (polling) until `condition` is true or `timeout` passes.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout);

// A running in-process txgate with a client stub.
class TestServer {
 public:
  explicit TestServer(service::ServerOptions options = DefaultServerOptions());
  ~TestServer();

  service::Server& server() { return *server_; }
  txgate::v1::DatabaseService::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::string address() const;

  // Waits until the pool is back to no connection in use and no waiter.
  bool AwaitPoolQuiet(absl::Duration timeout);

 private:
  std::unique_ptr<service::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<txgate::v1::DatabaseService::Stub> stub_;
};

// The txgate-server binary ($TXGATE_BUILD_DIR/txgate-server) as its own
// process, on a free loopback port, for what only a process shows (its
// exit after SIGTERM). It connects to the test database as user txgate
// (the password through TXGATE_MYSQL_PASSWORD, as in production); its
// output goes to $TXGATE_LOG_DIR/txgate-<port>.log. Killed (SIGKILL) when
// destroyed if it still runs.
class TxgateProcess {
 public:
  // Starts it with `flags` (e.g. "--shutdown_grace=3s") and waits up to
  // 10 s until its Health answers SERVING; a test failure otherwise.
  explicit TxgateProcess(const std::vector<std::string>& flags);
  ~TxgateProcess();
  TxgateProcess(const TxgateProcess&) = delete;
  TxgateProcess& operator=(const TxgateProcess&) = delete;

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string address() const;
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  txgate::v1::DatabaseService::Stub& stub() { return *stub_; }

  // Sends `signal` to the process.
  bool Signal(int signal);
  // Waits up to `timeout` for the process to exit; its exit status
  // (waitpid's), or nullopt if it still runs.
  std::optional<int> WaitExit(absl::Duration timeout);

 private:
  int pid_ = -1;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<txgate::v1::DatabaseService::Stub> stub_;
};

// One interactive transaction (a Transaction stream) driven message by
// message, with a 60 s deadline.
class TransactionStream {
 public:
  explicit TransactionStream(txgate::v1::DatabaseService::Stub& stub);

  // Sends `req` and reads one response; false when the stream ended.
  bool Send(const txgate::v1::TransactionRequest& req, txgate::v1::TransactionResponse* resp);
  // Each sends its message; true when the expected response came back.
  bool Begin();
  bool Statement(const std::string& sql);
  bool Commit();
  // Waits for the server to end the stream; its status.
  grpc::Status Ended();
  // Closes the client's side, then Ended().
  grpc::Status Close();

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<
      grpc::ClientReaderWriter<txgate::v1::TransactionRequest, txgate::v1::TransactionResponse>>
      rw_;
};

// A client context with a deadline `timeout` from now.
std::unique_ptr<grpc::ClientContext> WithDeadline(absl::Duration timeout);

// The ErrorInfo detail of a failed call (empty message if none).
google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status);

// Builders of request values.
txgate::v1::Value Int(int64_t v);
txgate::v1::Value Uint(uint64_t v);
txgate::v1::Value Str(const std::string& v);
txgate::v1::Value Bytes(const std::string& v);
txgate::v1::Value Null();

// Execute with `sql` and params; returns status and fills `response`.
grpc::Status Exec(txgate::v1::DatabaseService::Stub& stub, const std::string& sql,
                  std::vector<txgate::v1::Value> params = {},
                  txgate::v1::ExecuteResponse* response = nullptr,
                  absl::Duration timeout = absl::Seconds(30));

// GET http://127.0.0.1:port/metrics; the body, or "" on failure.
std::string Scrape(int port);
// The sum of the samples of `name` in the Prometheus text `text` whose
// labels include every one of `labels` (each `key="value"`); -1 if there is
// none.
double Sample(const std::string& text, const std::string& name,
              const std::vector<std::string>& labels = {});
// Sample(), 0 when there is none.
double Counter(const std::string& text, const std::string& name,
               const std::vector<std::string>& labels = {});

}  // namespace txgate::testing

#endif  // TXGATE_TESTS_SUPPORT_TEST_ENV_H_
