// Server: assembles txgate — pool, runner, killer, executor, the gRPC
// services (DatabaseService, Health, reflection) on the main port (TLS or
// mutual TLS when configured), a plaintext port serving only Health for
// probes, the metrics endpoint, bearer-token authentication — and drains
// it on shutdown. main() fills ServerOptions from flags; tests start a
// Server in-process the same way.
#ifndef TXGATE_SERVER_SERVICE_SERVER_H_
#define TXGATE_SERVER_SERVICE_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/token_auth.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/metrics/metrics.h"
#include "server/mysql/connection.h"
#include "server/pool/connection_pool.h"
#include "server/reload/file_reloader.h"
#include "server/reload/secret.h"
#include "server/reload/tls_credentials.h"
#include "server/runner/statement_killer.h"
#include "server/runner/transaction_runner.h"
#include "server/service/database_service.h"
#include "server/service/health_service.h"
#include "server/service/replica_router.h"
#include "server/topology/failover_buffer.h"
#include "server/topology/monitor.h"

namespace txgate::service {

// How the main port keeps its HTTP/2 connections alive and spread over
// replicas: gRPC core's keepalive and connection-age channel arguments
// (README, "Connections on Kubernetes"). A duration of zero or less turns
// the setting off where noted.
struct ConnectionOptions {
  // The server pings a connection it has heard nothing on for
  // keepalive_time, whether calls are open or not (0: never); a ping not
  // answered within keepalive_timeout closes the connection and cancels its
  // calls (an open transaction is rolled back). A client whose network
  // went silent is thus noticed within keepalive_time + keepalive_timeout.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Client pings closer together than this are strikes, with or without
  // open calls (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS and
  // GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS); more than max_ping_strikes in
  // a row (0: unlimited) close the connection with GOAWAY
  // ENHANCE_YOUR_CALM "too_many_pings". Half of 10 s, so that a client
  // pinging every 10 s is accepted even when network jitter brings two of
  // its pings closer together. Anything the server sends resets the count.
  absl::Duration min_client_ping_interval = absl::Seconds(5);
  int max_ping_strikes = 2;
  // A connection older than this (gRPC adds +/-10% jitter) is sent GOAWAY:
  // its client reconnects, through the Service, possibly to another
  // replica, so that replicas added by a scale-out get their share. 0:
  // never.
  absl::Duration max_connection_age = absl::Minutes(5);
  // How long the calls open at that GOAWAY may still run on the old
  // connection before it is closed under them (UNAVAILABLE; an open
  // transaction is rolled back). Infinite (the default): a call is never
  // cut by age, however long a StreamQuery or a Transaction stream lasts
  // (an idle transaction ends by --transaction_idle_timeout anyway).
  absl::Duration max_connection_age_grace = absl::InfiniteDuration();
  // A connection without calls for this long is closed (GOAWAY); 0: never.
  absl::Duration max_connection_idle = absl::ZeroDuration();
};

struct ServerOptions {
  // host:port to serve gRPC on; port 0 picks a free one (see Server::port()).
  std::string listen = "127.0.0.1:50051";
  // TLS on `listen`: PEM files of the server's certificate chain and key
  // (both or neither). With a client CA too, clients must present a
  // certificate signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // host:port of a plaintext port serving only grpc.health.v1.Health (for
  // kubelet probes, which can do neither TLS client certificates nor
  // tokens); empty: none. Port 0 picks a free one.
  std::string health_listen;
  // host:port of the Prometheus endpoint (GET /metrics); empty: none.
  std::string metrics_listen;
  // File of bearer tokens (see TokenAuthenticator); empty: no
  // authentication.
  std::string auth_tokens_file;
  ConnectionOptions connections;
  // Files holding the passwords of mysql.user and mysql_ro_user; when set
  // they win over mysql.password and mysql_ro_password (a trailing newline
  // is dropped).
  std::string mysql_password_file;
  std::string mysql_ro_password_file;
  // How often the TLS files, the tokens file and the password files are
  // checked for new contents, applied without a restart (Server::Reload()
  // checks at once; main() calls it on SIGHUP). 0: only on Reload().
  absl::Duration reload_interval = absl::Seconds(10);
  ServiceOptions service;
  mysql::ConnectOptions mysql;
  // The servers of a replicated cluster (--mysql_hosts): txgate follows
  // the writable one (topology::Monitor) and its pools connect only to it;
  // mysql.host, mysql.port and mysql.socket are then unused. Empty: the
  // one server of `mysql`, as before (no monitor, no buffer).
  std::vector<topology::Endpoint> mysql_hosts;
  topology::MonitorOptions topology;
  topology::FailoverBufferOptions failover_buffer;
  // The read-only database account: every call of a read-only ("ro") token
  // runs on its connections (same server, database and timeouts as
  // `mysql`). Empty user: none, and a tokens file with ro tokens is refused
  // at start. Start() refuses an account granted anything beyond USAGE,
  // SELECT and SHOW VIEW (sql::NonReadGrants), read with SHOW GRANTS as
  // soon as the database answers.
  std::string mysql_ro_user;
  std::string mysql_ro_password;
  // Connections of the read-only account's pool at most; 0 (the default):
  // half of pool.max_size, at least 1. Its other settings are pool's, with
  // min_idle clamped to this size.
  int ro_pool_max_size = 0;
  pool::PoolOptions pool;
  runner::RunnerOptions runner;
  runner::OutcomeOptions outcomes;
  // Threads that run blocking database work; 0 means pool.max_size (plus
  // ro_pool_max_size with a read-only account) + 4.
  int worker_threads = 0;
  // Largest request accepted, in bytes (gRPC answers RESOURCE_EXHAUSTED).
  int max_request_bytes = 16 << 20;
  // HTTP/2 streams (calls) one client connection may have open at once
  // (gRPC's GRPC_ARG_MAX_CONCURRENT_STREAMS, announced in SETTINGS): a
  // client queues more on its side instead of making the server hold
  // them. 0 (the default): as many as the server can take at once,
  // worker_threads + service.max_queued_calls + service.max_open_streams.
  int max_concurrent_streams = 0;
  // How long a killed statement may take to stop before its socket is cut.
  absl::Duration kill_grace = absl::Seconds(1);
  // How long in-flight RPCs may run on after a shutdown begins.
  absl::Duration shutdown_grace = absl::Seconds(20);
  // Reads on replicas (README, "Reads on replicas"): --read_routing,
  // --replica_max_lag, --causal_read_timeout; each replica's pool takes
  // `pool`'s settings and `runner`'s (these two fields are set by Start).
  ReplicaRoutingOptions replica_reads;
  // The servers replica reads choose from; must outlive the server. Null:
  // the --mysql_hosts topology, if any; without either, every read runs on
  // the one server.
  topology::Topology* read_topology = nullptr;
};

// `options` with bad values corrected and the settings that default to
// others derived, in one place (Server::Start applies it):
//  - the pool's max_size at least 1, min_idle within [0, max_size];
//  - ro_pool_max_size <= 0: half of pool.max_size, at least 1;
//  - worker_threads <= 0: pool.max_size (+ ro_pool_max_size when
//    mysql_ro_user is set) + 4;
//  - service.max_open_transactions <= 0: half of pool.max_size, at least 1;
//  - service.acquire_timeout = pool.acquire_timeout;
//  - service.max_inflight_request_bytes at least max_request_bytes;
//  - max_concurrent_streams <= 0: worker_threads + service.max_queued_calls
//    + service.max_open_streams;
//  - outcomes.purge_batch at least 1;
//  - connections.keepalive_timeout <= 0: its default (10 s).
ServerOptions Sanitize(ServerOptions options);

class Server {
 public:
  // Starts serving with Sanitize(options). Fails if the address cannot be
  // bound, if the tokens file has ro tokens but no mysql_ro_user is set, or
  // if the read-only account can do more than read. A database that is down
  // is not an error (health says NOT_SERVING until it is up); the
  // read-only account's grants are then checked at its first connect, and
  // its connects fail (FAILED_PRECONDITION, logged) if it can write.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // Calls Shutdown().

  // The ports actually bound (0: not served).
  int port() const { return port_; }
  int health_port() const { return health_port_; }
  int metrics_port() const { return metrics_ != nullptr ? metrics_->port() : 0; }

  pool::PoolStats pool_stats() const { return pool_->Stats(); }
  runner::RunnerStats runner_stats() const { return runner_->stats(); }
  DatabaseService& database() { return *database_; }

  // Reports NOT_SERVING, stops accepting calls, ends open interactive
  // transactions as soon as each waits for its client (rolled back,
  // UNAVAILABLE), lets in-flight calls finish within the grace period (then
  // cancels them, rolling back their transactions), closes the pool, and
  // last stops the health port and the metrics endpoint. Idempotent.
  void Shutdown();

  // Blocks until Shutdown() has finished.
  void Wait();

  // Re-reads the TLS certificate, key and client CA, the tokens file and
  // the password files now; applies each set whose contents changed (new
  // TLS handshakes, new calls' tokens, new database connections use them;
  // calls and connections already established are unaffected). A set that
  // cannot be read or is invalid is logged (config_reload_failed) and the
  // material in force stays. Every reload is counted in
  // txgate_config_reloads_total{what,result}.
  void Reload();

 private:
  explicit Server(const ServerOptions& options);
  // Sets up the read-only account's pool, killer and runner; refuses an
  // account that can write (see Start()).
  absl::Status StartReadOnly();
  // Reads the TLS, tokens and password files (or takes the passwords of
  // options_) and sets up reloader_; the first error (INVALID_ARGUMENT for
  // bad TLS settings or files, FAILED_PRECONDITION for ro tokens without
  // mysql_ro_user).
  absl::Status LoadFiles();
  // With mysql_hosts: starts the monitor and the buffer.
  void StartTopology();
  // Connections with `connect` (and the password `password` holds at each
  // connect) to the server of `connect`, or with mysql_hosts to the primary
  // the monitor knows (UNAVAILABLE, FAILOVER_IN_PROGRESS, when none is).
  db::ConnectionFactory Factory(mysql::ConnectOptions connect,
                                std::shared_ptr<const reload::Secret> password) const;
  // What the pools follow: the primary (empty without mysql_hosts).
  pool::Target PoolTarget() const;
  // Registers the pool's and runner's numbers as sampled metrics.
  void AddSampledMetrics();
  // During the drain: at `cut`, cuts the calls still running
  // (DatabaseService::CutForShutdown); once every DatabaseService call has
  // its status, cancels the streams still open (see Shutdown()). Until
  // `deadline` or grpc_stopped_.
  void CancelLingering(absl::Time cut, absl::Time deadline);

  // Set up by Start() before any call is served or any thread of ours
  // starts, constant afterwards (Shutdown() resets some, once nothing else
  // runs); the objects pointed to are thread-safe.
  ServerOptions options_;
  RealClock clock_;             // the runner's time
  HealthService health_;        // on the main port
  HealthService probe_health_;  // on the plaintext health port
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<auth::TokenAuthenticator> auth_;
  // The main port's TLS material (null: plaintext); outlives grpc_.
  std::unique_ptr<reload::ReloadableTls> tls_;
  // The passwords connects use now.
  std::shared_ptr<reload::Secret> password_ = std::make_shared<reload::Secret>();
  std::shared_ptr<reload::Secret> ro_password_ = std::make_shared<reload::Secret>();
  // With mysql_hosts (else null): the monitor and the buffer outlive the
  // pools, whose callers wait in them; Shutdown() stops the monitor (which
  // tells the pools of primary changes) before the pools close.
  std::unique_ptr<topology::Monitor> topology_;
  std::unique_ptr<topology::FailoverBuffer> failover_buffer_;
  // The pools a primary change is told to (TargetChanged).
  struct Followers {
    Mutex mu;
    std::vector<pool::ConnectionPool*> pools ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Followers> followers_ = std::make_shared<Followers>();
  std::unique_ptr<pool::ConnectionPool> pool_;
  std::unique_ptr<runner::StatementKiller> killer_;
  std::unique_ptr<runner::OutcomeStore> outcomes_;
  std::unique_ptr<runner::TransactionRunner> runner_;
  // The read-only account's (null without mysql_ro_user).
  std::unique_ptr<pool::ConnectionPool> ro_pool_;
  std::unique_ptr<runner::StatementKiller> ro_killer_;
  std::unique_ptr<runner::TransactionRunner> ro_runner_;
  // With a topology: the replicas' pools and runners.
  std::unique_ptr<ReplicaRouter> replicas_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<DatabaseService> database_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<grpc::Server> health_grpc_;
  // Applies to tls_, auth_ and the passwords: destroyed (stopped) first.
  std::unique_ptr<reload::FileReloader> reloader_;
  int port_ = 0;
  int health_port_ = 0;

  Mutex mu_;
  CondVar stopped_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool grpc_stopped_ ABSL_GUARDED_BY(mu_) = false;
  CondVar grpc_stopped_cv_;
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_SERVER_H_
