// txgate-server: the gRPC gateway to MySQL/MariaDB.
//
// Every setting is a flag; each flag --name may also come from the
// environment as TXGATE_NAME (upper case). A flag on the command line wins
// over the environment. The password comes from TXGATE_MYSQL_PASSWORD or
// --mysql_password_file (the read-only account's, --mysql_ro_user, from
// TXGATE_MYSQL_RO_PASSWORD or --mysql_ro_password_file) and is never logged. SIGTERM or SIGINT
// drains the server (see --shutdown_grace) and exits 0. SIGHUP re-reads the
// TLS, tokens and password files (also checked every --reload_interval).
#include <google/protobuf/stubs/logging.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/common/log.h"
#include "server/common/version.h"
#include "server/service/call_record.h"
#include "server/service/server.h"

// jemalloc's settings, read at its start when it is linked (CMake option
// TXGATE_JEMALLOC; ignored otherwise): a background thread purges freed
// pages within about 100 ms (dirty_decay_ms) and hands them straight back
// (muzzy_decay_ms:0), so RSS returns to its base after a burst of large
// requests instead of staying at the burst's peak, and freed request
// buffers do not pile up during the burst (tests/memory/run.sh; figures in
// tests/load/results/memory.md). MALLOC_CONF in the
// environment adds to this and wins.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0";
}

namespace {

// The defaults of the flags: those of the Options structs they fill.
const txgate::service::ServerOptions kDefaults;

}  // namespace

ABSL_FLAG(std::string, listen, kDefaults.listen, "host:port to serve gRPC on");
ABSL_FLAG(std::string, mysql_host, kDefaults.mysql.host, "MySQL/MariaDB host");
ABSL_FLAG(int, mysql_port, kDefaults.mysql.port, "MySQL/MariaDB TCP port");
ABSL_FLAG(std::string, mysql_socket, kDefaults.mysql.socket,
          "MySQL/MariaDB Unix socket; wins over host/port");
ABSL_FLAG(std::string, mysql_hosts, "",
          "host[:port],... of a replicated cluster (primary and replicas, any order): txgate "
          "writes to the one that reports @@read_only=0 and follows a failover; instead of "
          "--mysql_host/--mysql_port/--mysql_socket");
ABSL_FLAG(absl::Duration, topology_check_interval, kDefaults.topology.check_interval,
          "how often each --mysql_hosts server is asked its role (also at once after a "
          "connection loss or a read-only refusal)");
ABSL_FLAG(absl::Duration, failover_buffer_window, kDefaults.failover_buffer.window,
          "longest wait of a call for a writable primary while none is known (--mysql_hosts)");
ABSL_FLAG(int, failover_buffer_max_calls, kDefaults.failover_buffer.max_calls,
          "calls waiting for a writable primary at once at most; more are refused "
          "(RESOURCE_EXHAUSTED, FAILOVER_BUFFER_FULL)");
ABSL_FLAG(std::string, mysql_user, kDefaults.mysql.user, "MySQL user");
ABSL_FLAG(std::string, mysql_database, kDefaults.mysql.database,
          "default database of every session");
ABSL_FLAG(std::string, mysql_password_file, "",
          "file holding the MySQL password (else TXGATE_MYSQL_PASSWORD, else none)");
ABSL_FLAG(std::string, mysql_ro_user, kDefaults.mysql_ro_user,
          "MySQL user that runs every call of a read-only (ro) token; must be granted SELECT "
          "only (checked at start); needed when the tokens file has ro tokens");
ABSL_FLAG(std::string, mysql_ro_password_file, "",
          "file holding --mysql_ro_user's password (else TXGATE_MYSQL_RO_PASSWORD, else none)");
ABSL_FLAG(int, ro_pool_max_size, kDefaults.ro_pool_max_size,
          "connections of --mysql_ro_user open at most (0 = half of --pool_max_size, at least 1)");
ABSL_FLAG(absl::Duration, mysql_read_timeout, kDefaults.mysql.read_timeout,
          "longest silence of the database on a running statement before the connection is "
          "given up (0 = none); deadlines stop statements sooner");
ABSL_FLAG(int64_t, mysql_statement_cache_size,
          static_cast<int64_t>(kDefaults.mysql.statement_cache_size),
          "server-side prepared statements cached per connection (0 = none); pods x "
          "--pool_max_size x this must stay below the server's max_prepared_stmt_count");
ABSL_FLAG(int, pool_min_idle, kDefaults.pool.min_idle, "connections kept open and idle");
ABSL_FLAG(int, pool_max_size, kDefaults.pool.max_size, "connections open at most");
ABSL_FLAG(absl::Duration, pool_acquire_timeout, kDefaults.pool.acquire_timeout,
          "longest wait for a connection when the RPC has no sooner deadline");
ABSL_FLAG(absl::Duration, pool_connect_timeout, kDefaults.pool.connect_timeout,
          "longest connect attempt");
ABSL_FLAG(absl::Duration, pool_probe_timeout, kDefaults.pool.probe_timeout,
          "the pool pings the database every second on a connection of its own; without an "
          "answer within this, readiness turns NOT_SERVING and calls get no connection");
ABSL_FLAG(absl::Duration, stream_idle_timeout, kDefaults.runner.stream_idle_timeout,
          "longest pause of a StreamQuery consumer (the stream's net_write_timeout); past it the "
          "stream ends ABORTED");
ABSL_FLAG(absl::Duration, kill_grace, kDefaults.kill_grace,
          "how long a cancelled or expired call's statement may take to stop after KILL QUERY "
          "before its socket is cut; also the timeouts of the killer's own connection");
ABSL_FLAG(absl::Duration, pool_validation_interval, kDefaults.pool.validation_interval,
          "idle connections unused for longer are pinged before use");
ABSL_FLAG(absl::Duration, pool_idle_timeout, kDefaults.pool.idle_timeout,
          "idle connections beyond --pool_min_idle are closed after this long");
ABSL_FLAG(absl::Duration, pool_max_lifetime, kDefaults.pool.max_lifetime,
          "connections are replaced after this long");
ABSL_FLAG(absl::Duration, pool_backoff_initial, kDefaults.pool.backoff.initial,
          "first reconnect delay after a failed connect");
ABSL_FLAG(absl::Duration, pool_backoff_max, kDefaults.pool.backoff.max, "largest reconnect delay");
ABSL_FLAG(int, worker_threads, kDefaults.worker_threads,
          "threads running database work (0 = pool_max_size + 4)");
ABSL_FLAG(int, max_request_bytes, kDefaults.max_request_bytes, "largest request accepted");
ABSL_FLAG(int64_t, max_result_rows, kDefaults.runner.max_result_rows,
          "most rows in one unary response");
ABSL_FLAG(int64_t, max_result_bytes, kDefaults.runner.max_result_bytes,
          "most bytes of one response message, encoded as sent (a unary result over it is "
          "refused; StreamQuery chunks stay within it, splitting larger rows); the default "
          "leaves 64 KiB under gRPC's default 4 MiB client receive limit");
ABSL_FLAG(int, max_statements, kDefaults.runner.max_statements,
          "most statements in one RunTransaction");
ABSL_FLAG(int, max_conflict_retries, kDefaults.runner.max_conflict_retries,
          "re-runs of a RunTransaction after a deadlock or lock wait timeout");
ABSL_FLAG(int, max_heal_retries, kDefaults.runner.max_heal_retries,
          "re-runs of a call's work on fresh connections after connection losses; past them "
          "the loss is answered (UNAVAILABLE, or TRANSACTION_LOST in a Transaction stream)");
ABSL_FLAG(absl::Duration, heal_backoff_initial, kDefaults.runner.heal_backoff,
          "pause before the second re-run after a connection loss (the first is at once); "
          "doubles for each further one, with jitter in [d/2, d]");
ABSL_FLAG(absl::Duration, heal_backoff_max, kDefaults.runner.heal_backoff_max,
          "longest pause between re-runs after connection losses");
ABSL_FLAG(absl::Duration, idempotency_retention, kDefaults.outcomes.retention,
          "how long idempotency keys are remembered (a retry after that executes again)");
ABSL_FLAG(std::string, outcome_table, kDefaults.outcomes.table,
          "table recording idempotent outcomes (created when missing), in --mysql_database "
          "unless qualified");
ABSL_FLAG(bool, xa_transactions, kDefaults.runner.xa_transactions,
          "Run RunTransaction and Transaction as XA transactions, inside which the server "
          "refuses every statement that would commit early (a CALLed procedure's COMMIT or DDL "
          "too). Turn off only for servers without XA (e.g. Galera): CALL is then refused "
          "inside transactions");
ABSL_FLAG(int, replay_max_statements, static_cast<int>(kDefaults.runner.replay_max_statements),
          "statements an interactive transaction records for replay after a connection loss");
ABSL_FLAG(absl::Duration, shutdown_grace, kDefaults.shutdown_grace,
          "how long in-flight calls may finish after SIGTERM");
ABSL_FLAG(std::string, tls_cert_file, kDefaults.tls_cert_file,
          "PEM certificate chain of the gRPC port; with --tls_key_file, serves TLS");
ABSL_FLAG(std::string, tls_key_file, kDefaults.tls_key_file, "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, kDefaults.tls_client_ca_file,
          "PEM CA certificates; when set, clients must present a certificate signed by one "
          "(mutual TLS)");
ABSL_FLAG(absl::Duration, reload_interval, kDefaults.reload_interval,
          "how often the TLS, tokens and password files are checked for new contents, applied "
          "without a restart (SIGHUP checks at once); 0 = only on SIGHUP");
ABSL_FLAG(std::string, health_listen, kDefaults.health_listen,
          "host:port of a plaintext port serving only grpc.health.v1.Health, for probes "
          "(empty = none)");
ABSL_FLAG(std::string, metrics_listen, kDefaults.metrics_listen,
          "host:port serving Prometheus metrics at /metrics (empty = none)");
ABSL_FLAG(std::string, auth_tokens_file, kDefaults.auth_tokens_file,
          "file of `<sha256-hex-of-token> <ro|rw> [name]` lines; when set, DatabaseService "
          "calls need `authorization: Bearer <token>`");
ABSL_FLAG(int, max_open_transactions, kDefaults.service.max_open_transactions,
          "interactive Transaction streams open at once; more are refused with "
          "RESOURCE_EXHAUSTED (0 = half of --pool_max_size, at least 1)");
ABSL_FLAG(absl::Duration, transaction_idle_timeout, kDefaults.service.transaction_idle_timeout,
          "an interactive transaction waiting for its client longer than this is rolled back "
          "and ended with ABORTED (0 = never)");
ABSL_FLAG(absl::Duration, transaction_begin_timeout, kDefaults.service.transaction_begin_timeout,
          "a Transaction stream whose first message has not arrived this long after it opened is "
          "ended ABORTED (reason TRANSACTION_IDLE_TIMEOUT); 0 disables");
ABSL_FLAG(absl::Duration, stream_write_timeout, kDefaults.service.stream_write_timeout,
          "a StreamQuery or Transaction response not taken by its client this long (it stopped "
          "reading) ends the stream ABORTED (reason STREAM_WRITE_TIMEOUT): its statement killed "
          "or its transaction rolled back, its connection released; 0 = never");
ABSL_FLAG(int, max_open_streams, kDefaults.service.max_open_streams,
          "StreamQuery and Transaction streams open at once; more: RESOURCE_EXHAUSTED at once "
          "(reason SERVER_OVERLOADED)");
ABSL_FLAG(absl::Duration, inline_wait, kDefaults.service.inline_wait,
          "an unkeyed read sent to Execute runs on the gRPC thread that received it when an idle "
          "connection is free, which waits this long at most for the database's answer before "
          "handing the call to a worker thread; 0 = every call goes to a worker thread");
ABSL_FLAG(int, max_concurrent_streams, kDefaults.max_concurrent_streams,
          "calls (HTTP/2 streams) one client connection may have open at once (0 = "
          "--worker_threads + --max_queued_calls + --max_open_streams)");
ABSL_FLAG(int, max_queued_calls, kDefaults.service.max_queued_calls,
          "new calls waiting for a worker at most; beyond, RESOURCE_EXHAUSTED at once (reason "
          "SERVER_OVERLOADED)");
ABSL_FLAG(int64_t, max_inflight_request_bytes, kDefaults.service.max_inflight_request_bytes,
          "bytes of requests handled at once (at least --max_request_bytes); beyond, "
          "RESOURCE_EXHAUSTED at once (reason SERVER_OVERLOADED)");
ABSL_FLAG(absl::Duration, keepalive_time, kDefaults.connections.keepalive_time,
          "the server pings a client connection silent this long, with or without calls "
          "(0 = never); see --keepalive_timeout");
ABSL_FLAG(absl::Duration, keepalive_timeout, kDefaults.connections.keepalive_timeout,
          "a server ping unanswered this long closes the connection, cancelling its calls and "
          "rolling back its open transactions");
ABSL_FLAG(absl::Duration, min_client_ping_interval, kDefaults.connections.min_client_ping_interval,
          "client pings closer together than this (with or without calls) are strikes; more than "
          "--max_ping_strikes in a row: GOAWAY too_many_pings");
ABSL_FLAG(int, max_ping_strikes, kDefaults.connections.max_ping_strikes,
          "too-frequent client pings tolerated in a row (0 = unlimited)");
ABSL_FLAG(absl::Duration, max_connection_age, kDefaults.connections.max_connection_age,
          "a connection older than this (+/-10% jitter) is sent GOAWAY, so that its client "
          "reconnects and new replicas get a share (0 = never)");
ABSL_FLAG(absl::Duration, max_connection_age_grace, kDefaults.connections.max_connection_age_grace,
          "how long calls open at the age GOAWAY may still run before their connection is "
          "closed (inf = until they end)");
ABSL_FLAG(absl::Duration, max_connection_idle, kDefaults.connections.max_connection_idle,
          "a connection without calls this long is sent GOAWAY (0 = never)");
ABSL_FLAG(std::string, read_routing, "primary",
          "where reads go when a request does not say (ReadOptions.routing): primary, or replica "
          "(a replica within --replica_max_lag that has applied the request's causality token; "
          "the primary when none qualifies). Needs replicas (--mysql_hosts)");
ABSL_FLAG(absl::Duration, replica_max_lag, kDefaults.replica_reads.max_lag,
          "replicas lagging more than this (Seconds_Behind_Master) take no reads, unless a "
          "request's max_staleness_ms says otherwise; a replica whose lag is unknown takes none");
ABSL_FLAG(absl::Duration, causal_read_timeout, kDefaults.replica_reads.causal_read_timeout,
          "longest wait of a replica read for the replica to apply the request's causality token "
          "(MASTER_GTID_WAIT); past it the primary serves the read");
ABSL_FLAG(std::string, log_level, "info",
          "lowest level of the JSON log lines written: debug, info, warning or error");
ABSL_FLAG(absl::Duration, log_slow_calls, absl::ZeroDuration(),
          "successful calls faster than this are logged at debug, others at info; failed calls "
          "always at info or warning (0 = every call at info)");

namespace {

// Seeds every registered flag of ours from TXGATE_<NAME>; the command line,
// parsed afterwards, overrides.
void FlagsFromEnvironment() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename().find("server/main.cc") == std::string::npos) continue;
    const std::string env = absl::StrCat("TXGATE_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(env.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      txgate::Log("error", "bad_flag", {{"variable", env}, {"error", error}});
      std::exit(2);
    }
  }
}

// The first of txgate's numeric or duration flags set below zero, with its
// value; none of them has a meaning for a negative value (0 is the one that
// says "none", "never" or "automatic" where a flag has such a value).
std::optional<std::pair<std::string, std::string>> NegativeFlag() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename().find("server/main.cc") == std::string::npos) continue;
    const bool negative =
        flag->TryGet<int>().value_or(0) < 0 || flag->TryGet<int64_t>().value_or(0) < 0 ||
        flag->TryGet<absl::Duration>().value_or(absl::ZeroDuration()) < absl::ZeroDuration();
    if (negative) return std::make_pair(std::string(name), flag->CurrentValue());
  }
  return std::nullopt;
}

// The value of the environment variable `name`, or "".
std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Protobuf's own messages (e.g. a request's string field that is not
// UTF-8: they name the field, never its value) as JSON log lines, not plain
// text among them.
void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                 const std::string& message) {
  // Its errors are a client's bad input, not the server's.
  const char* name = level >= google::protobuf::LOGLEVEL_FATAL     ? "error"
                     : level >= google::protobuf::LOGLEVEL_WARNING ? "warning"
                                                                   : "info";
  txgate::Log(name, "protobuf",
              {{"message", message}, {"source", absl::StrCat(filename, ":", line)}});
}

}  // namespace

int main(int argc, char** argv) {
  txgate::RouteGrpcLogs();
  google::protobuf::SetLogHandler(&ProtobufLog);
  // Debian builds Abseil without NDEBUG, which leaves Mutex's deadlock
  // detection on: a graph update on every lock of every call. The unit tests
  // (and clang's -Wthread-safety build) keep it; the server does not pay it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "txgate-server: gRPC access to MySQL/MariaDB over a self-healing pool.\n"
      "Every flag --name can also be set as the environment variable TXGATE_NAME.\n"
      "The password comes from --mysql_password_file or TXGATE_MYSQL_PASSWORD; that of\n"
      "--mysql_ro_user from --mysql_ro_password_file or TXGATE_MYSQL_RO_PASSWORD.");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return path.find("server/main.cc") != absl::string_view::npos;
  };
  // --version: the project's version and the commit it was built from.
  usage.version_string = [] {
    return absl::StrCat("txgate-server ", txgate::Version(), " (commit ", txgate::GitCommit(),
                        ")\n");
  };
  absl::SetFlagsUsageConfig(usage);
  FlagsFromEnvironment();
  absl::ParseCommandLine(argc, argv);
  if (std::optional<txgate::LogLevel> level =
          txgate::ParseLogLevel(absl::GetFlag(FLAGS_log_level))) {
    txgate::SetLogLevel(*level);
  } else {
    txgate::Log("error", "bad_flag",
                {{"flag", "log_level"},
                 {"value", absl::GetFlag(FLAGS_log_level)},
                 {"error", "not debug, info, warning or error"}});
    return 2;
  }
  if (std::optional<std::pair<std::string, std::string>> negative = NegativeFlag()) {
    txgate::Log("error", "bad_flag",
                {{"flag", negative->first},
                 {"value", negative->second},
                 {"error", "negative; 0 is the smallest value"}});
    return 2;
  }
  txgate::service::CallRecord::SetSlowCallThreshold(absl::GetFlag(FLAGS_log_slow_calls));

  // Signals are taken by sigwait below, on this thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  txgate::service::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.mysql.host = absl::GetFlag(FLAGS_mysql_host);
  options.mysql.port = absl::GetFlag(FLAGS_mysql_port);
  options.mysql.socket = absl::GetFlag(FLAGS_mysql_socket);
  if (const std::string hosts = absl::GetFlag(FLAGS_mysql_hosts); !hosts.empty()) {
    if (options.mysql.host != kDefaults.mysql.host || options.mysql.port != kDefaults.mysql.port ||
        !options.mysql.socket.empty()) {
      txgate::Log("error", "bad_flag",
                  {{"flag", "mysql_hosts"},
                   {"error",
                    "--mysql_hosts replaces --mysql_host, --mysql_port and "
                    "--mysql_socket: give one or the other"}});
      return 2;
    }
    absl::StatusOr<std::vector<txgate::topology::Endpoint>> endpoints =
        txgate::topology::ParseEndpoints(hosts);
    if (!endpoints.ok()) {
      txgate::Log("error", "bad_flag",
                  {{"flag", "mysql_hosts"}, {"error", std::string(endpoints.status().message())}});
      return 2;
    }
    options.mysql_hosts = *std::move(endpoints);
  }
  options.topology.check_interval = absl::GetFlag(FLAGS_topology_check_interval);
  options.failover_buffer.window = absl::GetFlag(FLAGS_failover_buffer_window);
  options.failover_buffer.max_calls = absl::GetFlag(FLAGS_failover_buffer_max_calls);
  options.mysql.user = absl::GetFlag(FLAGS_mysql_user);
  options.mysql.database = absl::GetFlag(FLAGS_mysql_database);
  // The files win over the environment; Server reads them (and re-reads
  // them when they change).
  options.mysql_password_file = absl::GetFlag(FLAGS_mysql_password_file);
  options.mysql.password = Getenv("TXGATE_MYSQL_PASSWORD");
  options.mysql_ro_user = absl::GetFlag(FLAGS_mysql_ro_user);
  options.mysql_ro_password_file = absl::GetFlag(FLAGS_mysql_ro_password_file);
  options.mysql_ro_password = Getenv("TXGATE_MYSQL_RO_PASSWORD");
  options.reload_interval = absl::GetFlag(FLAGS_reload_interval);
  options.ro_pool_max_size = absl::GetFlag(FLAGS_ro_pool_max_size);
  options.mysql.read_timeout = absl::GetFlag(FLAGS_mysql_read_timeout);
  options.mysql.statement_cache_size =
      static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_mysql_statement_cache_size)));
  options.pool.min_idle = absl::GetFlag(FLAGS_pool_min_idle);
  options.pool.max_size = absl::GetFlag(FLAGS_pool_max_size);
  options.pool.acquire_timeout = absl::GetFlag(FLAGS_pool_acquire_timeout);
  options.pool.connect_timeout = absl::GetFlag(FLAGS_pool_connect_timeout);
  options.pool.validation_interval = absl::GetFlag(FLAGS_pool_validation_interval);
  options.pool.idle_timeout = absl::GetFlag(FLAGS_pool_idle_timeout);
  options.pool.max_lifetime = absl::GetFlag(FLAGS_pool_max_lifetime);
  options.pool.probe_timeout = absl::GetFlag(FLAGS_pool_probe_timeout);
  options.kill_grace = absl::GetFlag(FLAGS_kill_grace);
  if (const std::string routing = absl::GetFlag(FLAGS_read_routing); routing == "replica") {
    options.replica_reads.default_routing = txgate::v1::READ_ROUTING_REPLICA;
  } else if (routing != "primary") {
    txgate::Log(
        "error", "bad_flag",
        {{"flag", "read_routing"}, {"value", routing}, {"error", "not primary or replica"}});
    return 2;
  }
  options.replica_reads.max_lag = absl::GetFlag(FLAGS_replica_max_lag);
  options.replica_reads.causal_read_timeout = absl::GetFlag(FLAGS_causal_read_timeout);
  options.runner.stream_idle_timeout = absl::GetFlag(FLAGS_stream_idle_timeout);
  options.pool.backoff.initial = absl::GetFlag(FLAGS_pool_backoff_initial);
  options.pool.backoff.max = absl::GetFlag(FLAGS_pool_backoff_max);
  options.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  options.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  options.runner.max_result_rows = absl::GetFlag(FLAGS_max_result_rows);
  options.runner.max_result_bytes = absl::GetFlag(FLAGS_max_result_bytes);
  options.runner.max_statements = absl::GetFlag(FLAGS_max_statements);
  options.runner.max_conflict_retries = absl::GetFlag(FLAGS_max_conflict_retries);
  options.runner.max_heal_retries = absl::GetFlag(FLAGS_max_heal_retries);
  options.runner.heal_backoff = absl::GetFlag(FLAGS_heal_backoff_initial);
  options.runner.heal_backoff_max = absl::GetFlag(FLAGS_heal_backoff_max);
  options.runner.replay_max_statements = absl::GetFlag(FLAGS_replay_max_statements);
  options.runner.xa_transactions = absl::GetFlag(FLAGS_xa_transactions);
  options.outcomes.retention = absl::GetFlag(FLAGS_idempotency_retention);
  options.outcomes.table = absl::GetFlag(FLAGS_outcome_table);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  options.connections = {
      absl::GetFlag(FLAGS_keepalive_time),           absl::GetFlag(FLAGS_keepalive_timeout),
      absl::GetFlag(FLAGS_min_client_ping_interval), absl::GetFlag(FLAGS_max_ping_strikes),
      absl::GetFlag(FLAGS_max_connection_age),       absl::GetFlag(FLAGS_max_connection_age_grace),
      absl::GetFlag(FLAGS_max_connection_idle)};
  // 0 (the default) lets Server::Start derive it (see Sanitize).
  options.service.max_open_transactions = absl::GetFlag(FLAGS_max_open_transactions);
  options.service.transaction_idle_timeout = absl::GetFlag(FLAGS_transaction_idle_timeout);
  options.service.transaction_begin_timeout = absl::GetFlag(FLAGS_transaction_begin_timeout);
  options.service.max_queued_calls = absl::GetFlag(FLAGS_max_queued_calls);
  options.service.stream_write_timeout = absl::GetFlag(FLAGS_stream_write_timeout);
  options.service.max_open_streams = absl::GetFlag(FLAGS_max_open_streams);
  options.service.inline_wait = absl::GetFlag(FLAGS_inline_wait);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.service.max_inflight_request_bytes = absl::GetFlag(FLAGS_max_inflight_request_bytes);

  absl::StatusOr<std::unique_ptr<txgate::service::Server>> server =
      txgate::service::Server::Start(options);
  if (!server.ok()) {
    txgate::Log("error", "start_failed", {{"error", std::string(server.status().message())}});
    return 1;
  }
  txgate::Log("info", "serving",
              {{"version", std::string(txgate::Version())},
               {"commit", std::string(txgate::GitCommit())},
               {"listen", options.listen},
               {"port", (*server)->port()},
               {"mysql", !options.mysql_hosts.empty() ? absl::GetFlag(FLAGS_mysql_hosts)
                         : options.mysql.socket.empty()
                             ? absl::StrCat(options.mysql.host, ":", options.mysql.port)
                             : options.mysql.socket},
               {"mysql_user", options.mysql.user},
               {"mysql_ro_user", options.mysql_ro_user},
               {"tls", options.tls_cert_file.empty()        ? "off"
                       : options.tls_client_ca_file.empty() ? "tls"
                                                            : "mutual"},
               {"auth", options.auth_tokens_file.empty() ? "off" : "bearer"},
               {"health_port", (*server)->health_port()},
               {"metrics_port", (*server)->metrics_port()}});

  int sig = 0;
  // SIGHUP: re-read the TLS, tokens and password files now.
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    txgate::Log("info", "config_check", {{"signal", "SIGHUP"}});
    (*server)->Reload();
  }
  const absl::Time deadline = absl::Now() + options.shutdown_grace;
  txgate::Log("info", "draining",
              {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
               {"grace_ms", txgate::LogValue::Millis(options.shutdown_grace)}});
  (*server)->Shutdown();
  txgate::Log("info", "stopped", {});
  // Everything is drained and closed. What is left, gRPC's own teardown
  // (grpc_shutdown, from ~Server, joins its threads), has been seen to wait
  // seconds for a poller's timeout: the process exits by the grace period
  // whatever it does.
  std::thread([deadline] {
    absl::SleepFor(deadline - absl::Now());
    txgate::Log("warning", "exit_forced", {{"note", "gRPC's teardown outlasted --shutdown_grace"}});
    std::_Exit(0);
  }).detach();
  return 0;
}
