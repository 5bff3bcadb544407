// Server: assembles txgate — pool, runner, killer, executor, the gRPC
// services (DatabaseService, Health, reflection) — and drains it on
// shutdown. main() fills ServerOptions from flags; tests start a Server
// in-process the same way.
#ifndef TXGATE_SERVER_SERVICE_SERVER_H_
#define TXGATE_SERVER_SERVICE_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/executor.h"
#include "server/mysql/connection.h"
#include "server/pool/connection_pool.h"
#include "server/runner/statement_killer.h"
#include "server/runner/transaction_runner.h"
#include "server/service/database_service.h"
#include "server/service/health_service.h"

namespace txgate::service {

struct ServerOptions {
  // host:port to serve gRPC on; port 0 picks a free one (see Server::port()).
  std::string listen = "127.0.0.1:50051";
  mysql::ConnectOptions mysql;
  pool::PoolOptions pool;
  runner::RunnerOptions runner;
  runner::OutcomeOptions outcomes;
  // Threads that run blocking database work; 0 means pool.max_size + 4.
  int worker_threads = 0;
  // Largest request accepted, in bytes (gRPC answers RESOURCE_EXHAUSTED).
  int max_request_bytes = 16 << 20;
  // How long a killed statement may take to stop before its socket is cut.
  absl::Duration kill_grace = absl::Seconds(1);
  // How long in-flight RPCs may run on after a shutdown begins.
  absl::Duration shutdown_grace = absl::Seconds(20);
};

class Server {
 public:
  // Starts serving. Fails if the address cannot be bound; a database that
  // is down is not an error (health says NOT_SERVING until it is up).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // Calls Shutdown().

  // The port actually bound.
  int port() const { return port_; }

  pool::PoolStats pool_stats() const { return pool_->Stats(); }
  runner::RunnerStats runner_stats() const { return runner_->stats(); }

  // Stops accepting calls, lets in-flight calls finish within the grace
  // period (then cancels them, rolling back open transactions), and closes
  // the pool. Idempotent.
  void Shutdown();

  // Blocks until Shutdown() has finished.
  void Wait();

 private:
  explicit Server(const ServerOptions& options);

  ServerOptions options_;
  HealthService health_;
  std::unique_ptr<pool::ConnectionPool> pool_;
  std::unique_ptr<runner::StatementKiller> killer_;
  std::unique_ptr<runner::OutcomeStore> outcomes_;
  std::unique_ptr<runner::TransactionRunner> runner_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<DatabaseService> database_;
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;
  Mutex mu_;
  CondVar stopped_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_SERVER_H_
