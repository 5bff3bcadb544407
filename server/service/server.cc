#include "server/service/server.h"

#include <google/protobuf/descriptor.h>
#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "server/common/log.h"
#include "server/reload/tls_credentials.h"
#include "server/sql/error.h"
#include "server/sql/grants.h"

namespace txgate::service {
namespace {

// Keeps builder plugins (server reflection) off the health port, which
// serves Health and nothing else.
class WithoutPlugins final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* args) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->clear();
  }
};

// Milliseconds of `d` as a channel argument: at least 1 (0 would mean
// "at once" to gRPC), at most INT_MAX (which gRPC reads as "never").
int ChannelMillis(absl::Duration d) {
  if (d >= absl::Milliseconds(INT_MAX)) return INT_MAX;
  return static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// The keepalive and connection-age arguments of the main port (see
// ConnectionOptions).
void AddConnectionArguments(const ConnectionOptions& c, grpc::ServerBuilder* builder) {
  const bool pings = c.keepalive_time > absl::ZeroDuration();
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                              pings ? ChannelMillis(c.keepalive_time) : INT_MAX);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ChannelMillis(c.keepalive_timeout));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The server's own pings go out on idle connections too, not only after
  // data was sent (gRPC's default allows two, then one per 5 minutes).
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  if (pings) {
    builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS,
                                ChannelMillis(c.keepalive_time));
  }
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              ChannelMillis(c.min_client_ping_interval));
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, std::max(0, c.max_ping_strikes));
  if (c.max_connection_age > absl::ZeroDuration()) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                                ChannelMillis(c.max_connection_age));
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                                ChannelMillis(c.max_connection_age_grace));
  }
  if (c.max_connection_idle > absl::ZeroDuration()) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                                ChannelMillis(c.max_connection_idle));
  }
}

}  // namespace

namespace {

// Refuses a read-only account that can do more than read: reads its grants
// (SHOW GRANTS, which needs no privilege and includes grants to PUBLIC) on
// `conn`, a connection of that account. FAILED_PRECONDITION naming each
// privilege beyond reading; the connection's error if it cannot read them.
absl::Status CheckReadOnlyAccount(db::Connection& conn, absl::string_view user) {
  absl::Status status = conn.Start("SHOW GRANTS", db::Params());
  std::vector<std::string> found;
  int lines = 0;
  while (status.ok()) {
    txgate::v1::Row row;
    size_t bytes = 0;
    absl::StatusOr<bool> next = conn.Next(&row, &bytes);
    if (!next.ok()) status = next.status();
    if (!next.ok() || !*next) break;
    ++lines;
    const txgate::v1::Value& v = row.values(0);
    for (std::string& item :
         sql::NonReadGrants(v.kind_case() == txgate::v1::Value::kBytesValue ? v.bytes_value()
                                                                            : v.string_value())) {
      found.push_back(std::move(item));
    }
  }
  if (status.ok()) status = conn.Done().status();
  if (!status.ok()) {
    return sql::Annotate(status, absl::StrCat("cannot read the grants of --mysql_ro_user ", user));
  }
  if (lines == 0) found.push_back("no grant could be read");
  if (found.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "--mysql_ro_user ", user,
      " can do more than read, so read-only tokens would not be: ", absl::StrJoin(found, "; "),
      ". Grant it only SELECT (and SHOW VIEW) on the databases it reads, e.g. "
      "REVOKE ALL PRIVILEGES, GRANT OPTION FROM <it>; GRANT SELECT ON <database>.* TO <it> "
      "(README, Security)"));
}

// `connect` with every round trip bounded by `timeout`: for the pool's
// probe and the statement killer, which must notice a database that stopped
// answering within seconds, not the minutes a statement may take.
mysql::ConnectOptions ShortTimeouts(mysql::ConnectOptions connect, absl::Duration timeout) {
  connect.read_timeout = timeout;
  connect.write_timeout = timeout;
  return connect;
}

// `connect` with the password `password` holds now.
mysql::ConnectOptions WithPassword(mysql::ConnectOptions connect, const reload::Secret& password) {
  connect.password = password.Get();
  return connect;
}

// Opens connections with `connect` and the password `password` holds at
// each connect (a rotated one serves the next connect), each connect
// within the timeout it is given.
db::ConnectionFactory FactoryOf(mysql::ConnectOptions connect,
                                std::shared_ptr<const reload::Secret> password) {
  return [connect,
          password](absl::Duration timeout) -> absl::StatusOr<std::unique_ptr<db::Connection>> {
    return mysql::Connection::Open(WithPassword(connect, *password), timeout);
  };
}

// The methods of DatabaseService, from its descriptor.
std::vector<std::string> DatabaseMethods() {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::DatabaseService::service_full_name());
  std::vector<std::string> names;
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    names.push_back(service->method(i)->name());
  }
  return names;
}

// `name` as a MySQL quoted identifier.
std::string QuoteIdentifier(absl::string_view name) {
  return absl::StrCat("`", absl::StrReplaceAll(name, {{"`", "``"}}), "`");
}

}  // namespace

ServerOptions Sanitize(ServerOptions options) {
  options.pool = pool::Sanitize(options.pool);
  if (options.ro_pool_max_size <= 0) {
    options.ro_pool_max_size = std::max(1, options.pool.max_size / 2);
  }
  if (options.worker_threads <= 0) {
    options.worker_threads =
        options.pool.max_size + (options.mysql_ro_user.empty() ? 0 : options.ro_pool_max_size) + 4;
  }
  if (options.service.max_open_transactions <= 0) {
    options.service.max_open_transactions = std::max(1, options.pool.max_size / 2);
  }
  options.service.acquire_timeout = options.pool.acquire_timeout;
  options.service.max_inflight_request_bytes =
      std::max<int64_t>(options.service.max_inflight_request_bytes, options.max_request_bytes);
  options.service.max_open_streams = std::max(1, options.service.max_open_streams);
  options.service.inline_wait = std::max(absl::ZeroDuration(), options.service.inline_wait);
  // Only the inline fast path needs Connector/C's non-blocking context.
  options.mysql.nonblocking = options.service.inline_wait > absl::ZeroDuration();
  if (options.max_concurrent_streams <= 0) {
    options.max_concurrent_streams = options.worker_threads +
                                     std::max(0, options.service.max_queued_calls) +
                                     options.service.max_open_streams;
  }
  options.outcomes.purge_batch = std::max(1, options.outcomes.purge_batch);
  if (options.connections.keepalive_timeout <= absl::ZeroDuration()) {
    options.connections.keepalive_timeout = ConnectionOptions().keepalive_timeout;
  }
  // The outcome table is named with its schema, so that no caller's USE can
  // make a key land where a retry does not look (README, "Session state").
  if (!options.mysql.database.empty() && options.outcomes.table.find('.') == std::string::npos) {
    options.outcomes.table = absl::StrCat(QuoteIdentifier(options.mysql.database), ".",
                                          QuoteIdentifier(options.outcomes.table));
  }
  return options;
}

Server::Server(const ServerOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& unsanitized) {
  const ServerOptions options = Sanitize(unsanitized);
  std::unique_ptr<Server> server(new Server(options));
  Server* s = server.get();
  absl::StatusOr<std::unique_ptr<metrics::Metrics>> metrics = metrics::Metrics::Create(
      options.metrics_listen, v1::DatabaseService::service_full_name(), DatabaseMethods());
  if (!metrics.ok()) return metrics.status();
  s->metrics_ = std::move(*metrics);
  if (absl::Status status = s->LoadFiles(); !status.ok()) return status;
  s->StartTopology();

  s->pool_ = std::make_unique<pool::ConnectionPool>(
      options.pool, s->Factory(options.mysql, s->password_), &absl::Now,
      [s](bool reachable) {
        s->health_.SetServing(reachable);
        s->probe_health_.SetServing(reachable);
      },
      s->Factory(ShortTimeouts(options.mysql, options.pool.probe_timeout), s->password_),
      s->PoolTarget());
  {
    MutexLock lock(&s->followers_->mu);
    s->followers_->pools.push_back(s->pool_.get());
  }
  s->killer_ = std::make_unique<runner::StatementKiller>(
      s->Factory(ShortTimeouts(options.mysql, options.kill_grace), s->password_),
      options.kill_grace);
  s->outcomes_ = std::make_unique<runner::OutcomeStore>(s->pool_.get(), options.outcomes);
  s->runner_ = std::make_unique<runner::TransactionRunner>(s->pool_.get(), s->outcomes_.get(),
                                                           options.runner, &s->clock_);
  Backend read_only;
  if (!options.mysql_ro_user.empty()) {
    if (absl::Status status = s->StartReadOnly(); !status.ok()) return status;
    read_only = Backend{s->ro_runner_.get(), s->ro_killer_.get()};
  }
  s->executor_ = std::make_unique<Executor>("txgate-worker", options.worker_threads);
  s->database_ = std::make_unique<DatabaseService>(Backend{s->runner_.get(), s->killer_.get()},
                                                   read_only, s->executor_.get(), options.service,
                                                   s->auth_.get(), s->metrics_.get());
  // The servers reads may go to: the test's, or the --mysql_hosts monitor's.
  topology::Topology* read_topology =
      options.read_topology != nullptr ? options.read_topology : s->topology_.get();
  if (read_topology != nullptr) {
    // Replica sessions: txgate's account, every transaction READ ONLY.
    ReplicaRoutingOptions reads = options.replica_reads;
    reads.pool = options.pool;
    reads.runner = options.runner;
    mysql::ConnectOptions base = options.mysql;
    base.socket.clear();
    base.read_only = true;
    std::shared_ptr<const reload::Secret> password = s->password_;
    s->replicas_ = std::make_unique<ReplicaRouter>(
        read_topology, reads,
        [base, password](const topology::Endpoint& endpoint) {
          mysql::ConnectOptions connect = base;
          connect.host = endpoint.host;
          connect.port = endpoint.port;
          return FactoryOf(connect, password);
        },
        &s->clock_,
        [base, password, grace = options.kill_grace](const topology::Endpoint& endpoint) {
          mysql::ConnectOptions connect = ShortTimeouts(base, grace);
          connect.host = endpoint.host;
          connect.port = endpoint.port;
          connect.read_only = false;  // it only sends KILL
          return FactoryOf(connect, password);
        },
        options.kill_grace);
    s->database_->SetReplicaRouter(s->replicas_.get());
  }
  s->AddSampledMetrics();

  if (!options.health_listen.empty()) {
    grpc::ServerBuilder builder;
    builder.SetOption(std::make_unique<WithoutPlugins>());
    builder.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(),
                             &s->health_port_);
    builder.RegisterService(&s->probe_health_);
    s->health_grpc_ = builder.BuildAndStart();
    if (s->health_grpc_ == nullptr || s->health_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot serve health on ", options.health_listen));
    }
  }

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      options.listen,
      s->tls_ != nullptr ? s->tls_->Credentials() : grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->database_.get());
  builder.RegisterService(&s->health_);
  builder.SetMaxReceiveMessageSize(options.max_request_bytes);
  // gRPC's own memory (above all, requests still being received, which it
  // holds whole before a handler sees them) is bounded by twice the bytes
  // of requests in flight: near the bound gRPC shrinks its flow-control
  // windows and refuses new streams (RESOURCE_EXHAUSTED, RST_STREAM
  // ENHANCE_YOUR_CALM) instead of the process growing past its memory
  // limit. Without it, 32 concurrent 15 MiB requests took RSS past 1 GB.
  builder.SetResourceQuota(
      grpc::ResourceQuota("txgate").Resize(2 * options.service.max_inflight_request_bytes));
  // Responses waiting for a client that does not read are bounded by
  // service.max_open_streams (a chunk each) and stream_write_timeout; one
  // connection may not open more streams than the server can take.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  AddConnectionArguments(options.connections, &builder);
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (options.reload_interval > absl::ZeroDuration()) s->reloader_->Watch(options.reload_interval);
  return server;
}

namespace {

// A password file's contents: a trailing newline is an editor's, not the
// password's.
std::string PasswordOf(std::string contents) {
  while (!contents.empty() && (contents.back() == '\n' || contents.back() == '\r')) {
    contents.pop_back();
  }
  return contents;
}

}  // namespace

absl::Status Server::LoadFiles() {
  const ServerOptions& o = options_;
  std::vector<reload::WatchedFiles> watched;
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) {
    if (!o.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
  } else if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert_file and --tls_key_file");
  } else {
    tls_ = std::make_unique<reload::ReloadableTls>(!o.tls_client_ca_file.empty());
    reload::ReloadableTls* tls = tls_.get();
    watched.push_back(
        {"tls",
         {o.tls_cert_file, o.tls_key_file, o.tls_client_ca_file},
         [tls](const std::vector<std::string>& c) { return tls->Apply(c[0], c[1], c[2]); }});
  }
  if (!o.auth_tokens_file.empty()) {
    watched.push_back({"tokens", {o.auth_tokens_file}, [this](const std::vector<std::string>& c) {
                         absl::StatusOr<std::unique_ptr<auth::TokenAuthenticator>> parsed =
                             auth::TokenAuthenticator::Parse(c[0]);
                         if (!parsed.ok()) return parsed.status();
                         if ((*parsed)->has_read_only() && options_.mysql_ro_user.empty()) {
                           return absl::FailedPreconditionError(absl::StrCat(
                               options_.auth_tokens_file,
                               " has read-only (ro) tokens, but no --mysql_ro_user is set: "
                               "read-only tokens run on a database account granted SELECT only "
                               "(README, Security)"));
                         }
                         if (auth_ == nullptr) {
                           auth_ = std::move(*parsed);  // at start, before any call
                         } else {
                           auth_->Replace(std::move(**parsed));
                         }
                         return absl::OkStatus();
                       }});
  }
  auto password = [&watched](const std::string& what, const std::string& file,
                             const std::string& value, reload::Secret* secret) {
    if (file.empty()) {
      secret->Set(value);
      return;
    }
    watched.push_back({what, {file}, [secret](const std::vector<std::string>& c) {
                         secret->Set(PasswordOf(c[0]));
                         return absl::OkStatus();
                       }});
  };
  password("mysql_password", o.mysql_password_file, o.mysql.password, password_.get());
  if (!o.mysql_ro_user.empty()) {
    password("mysql_ro_password", o.mysql_ro_password_file, o.mysql_ro_password,
             ro_password_.get());
  }
  metrics::Metrics* m = metrics_.get();
  for (const auto& w : watched) m->DeclareReloads(w.what);
  reloader_ = std::make_unique<reload::FileReloader>(
      std::move(watched), [m](const std::string& what, bool ok) { m->CountReload(what, ok); });
  return reloader_->LoadAll();
}

void Server::Reload() { reloader_->CheckNow(); }

void Server::StartTopology() {
  if (options_.mysql_hosts.empty()) return;
  const mysql::ConnectOptions probe = options_.mysql;
  std::shared_ptr<Followers> followers = followers_;
  std::shared_ptr<const reload::Secret> password = password_;
  const absl::Duration timeout = options_.pool.probe_timeout;
  topology::ProbeFactory probes = [probe, password, timeout](const topology::Endpoint& e) {
    mysql::ConnectOptions o = probe;
    o.password = password->Get();
    return topology::MySqlProbes(o, timeout)(e);
  };
  topology_ = std::make_unique<topology::Monitor>(options_.mysql_hosts, options_.topology,
                                                  std::move(probes),
                                                  [followers](std::optional<topology::Endpoint>) {
                                                    std::vector<pool::ConnectionPool*> pools;
                                                    {
                                                      MutexLock lock(&followers->mu);
                                                      pools = followers->pools;
                                                    }
                                                    for (pool::ConnectionPool* p : pools)
                                                      p->TargetChanged();
                                                  });
  failover_buffer_ =
      std::make_unique<topology::FailoverBuffer>(topology_.get(), options_.failover_buffer);
  // The first checks run now; the pools warm up on the primary they find
  // (none yet is not an error: calls wait in the buffer, health says
  // NOT_SERVING).
  if (!topology_->WaitForPrimary(absl::Now() + options_.pool.connect_timeout)) {
    Log("warning", "topology_no_primary_at_start",
        {{"mysql_hosts", absl::StrJoin(options_.mysql_hosts, ",",
                                       [](std::string* out, const topology::Endpoint& e) {
                                         out->append(e.ToString());
                                       })}});
  }
}

db::ConnectionFactory Server::Factory(mysql::ConnectOptions connect,
                                      std::shared_ptr<const reload::Secret> password) const {
  if (topology_ == nullptr) return FactoryOf(std::move(connect), std::move(password));
  topology::Monitor* monitor = topology_.get();
  return [connect, password,
          monitor](absl::Duration timeout) -> absl::StatusOr<std::unique_ptr<db::Connection>> {
    std::optional<topology::Endpoint> primary = monitor->Primary();
    if (!primary) {
      return sql::MakeStatus(absl::StatusCode::kUnavailable, v1::FAILOVER_IN_PROGRESS,
                             "no writable primary is known (--mysql_hosts)");
    }
    mysql::ConnectOptions c = WithPassword(connect, *password);
    c.host = primary->host;
    c.port = primary->port;
    c.socket.clear();
    const absl::Time deadline = absl::Now() + timeout;
    absl::StatusOr<std::unique_ptr<mysql::Connection>> conn = mysql::Connection::Open(c, timeout);
    if (!conn.ok()) {
      // The primary may be gone: let the monitor look now, so the caller
      // (the pool) finds the answer — a new primary, or none: the buffer.
      monitor->RecheckAndWait(deadline);
      return conn.status();
    }
    return std::unique_ptr<db::Connection>(std::move(*conn));
  };
}

pool::Target Server::PoolTarget() const {
  pool::Target target;
  if (topology_ == nullptr) return target;
  topology::Monitor* monitor = topology_.get();
  topology::FailoverBuffer* buffer = failover_buffer_.get();
  target.known = [monitor] { return monitor->Primary().has_value(); };
  target.await = [buffer](absl::Time deadline) { return buffer->Await(deadline); };
  target.recheck = [monitor](absl::Time deadline) { monitor->RecheckAndWait(deadline); };
  return target;
}

absl::Status Server::StartReadOnly() {
  const ServerOptions& options = options_;
  mysql::ConnectOptions connect = options.mysql;
  connect.user = options.mysql_ro_user;
  connect.read_only = true;  // beyond the grants: definer-rights views and functions
  const std::string user = connect.user;
  // Set once the account's grants were read and found read-only: checked
  // now if the database answers, else by the first connect that succeeds.
  auto verified = std::make_shared<std::atomic<bool>>(false);
  // Connections of the account with `c`, refused until its grants were
  // found read-only.
  std::shared_ptr<const reload::Secret> password = ro_password_;
  auto factory_of = [this, user, verified,
                     password](mysql::ConnectOptions c) -> db::ConnectionFactory {
    db::ConnectionFactory open = Factory(c, password);
    return [open, user, verified,
            password](absl::Duration timeout) -> absl::StatusOr<std::unique_ptr<db::Connection>> {
      absl::StatusOr<std::unique_ptr<db::Connection>> conn = open(timeout);
      if (!conn.ok()) return conn.status();
      if (!verified->load(std::memory_order_acquire)) {
        absl::Status status = CheckReadOnlyAccount(**conn, user);
        if (!status.ok()) {
          Log("error", "read_only_account_refused", {{"error", std::string(status.message())}});
          return status;
        }
        verified->store(true, std::memory_order_release);
      }
      return conn;
    };
  };
  absl::StatusOr<std::unique_ptr<db::Connection>> first =
      Factory(connect, password)(options.pool.connect_timeout);
  if (first.ok()) {
    // It can write, or its grants cannot be read: refuse to start.
    if (absl::Status status = CheckReadOnlyAccount(**first, user); !status.ok()) return status;
    verified->store(true, std::memory_order_release);
  } else {
    Log("warning", "read_only_account_unchecked",
        {{"error", std::string(first.status().message())},
         {"note", "its grants are checked at its first connect"}});
  }
  pool::PoolOptions pool_options = options.pool;
  pool_options.max_size = options.ro_pool_max_size;
  pool_options.min_idle = std::min(pool_options.min_idle, pool_options.max_size);
  // The probe only pings, so it needs no check of the account's grants.
  ro_pool_ = std::make_unique<pool::ConnectionPool>(
      pool_options, factory_of(connect), &absl::Now, nullptr,
      Factory(ShortTimeouts(connect, options.pool.probe_timeout), password), PoolTarget());
  {
    MutexLock lock(&followers_->mu);
    followers_->pools.push_back(ro_pool_.get());
  }
  // Its own killer: an account may always KILL its own sessions.
  ro_killer_ = std::make_unique<runner::StatementKiller>(
      factory_of(ShortTimeouts(connect, options.kill_grace)), options.kill_grace);
  // No outcome store: read-only work takes no idempotency key.
  ro_runner_ =
      std::make_unique<runner::TransactionRunner>(ro_pool_.get(), nullptr, options.runner, &clock_);
  return absl::OkStatus();
}

void Server::AddSampledMetrics() {
  using Kind = metrics::Metrics::Kind;
  metrics::Metrics& m = *metrics_;
  pool::ConnectionPool* pool = pool_.get();
  runner::TransactionRunner* runner = runner_.get();
  auto pool_stat = [pool](auto field) {
    return [pool, field] { return static_cast<double>(pool->Stats().*field); };
  };
  m.AddSampled("txgate_pool_open_connections", "connections open (idle, in use or connecting)",
               Kind::kGauge, pool_stat(&pool::PoolStats::open));
  m.AddSampled("txgate_pool_idle_connections", "connections idle in the pool", Kind::kGauge,
               pool_stat(&pool::PoolStats::idle));
  m.AddSampled("txgate_pool_in_use_connections", "connections leased to calls", Kind::kGauge,
               pool_stat(&pool::PoolStats::in_use));
  m.AddSampled("txgate_pool_waiters", "calls waiting for a connection", Kind::kGauge,
               pool_stat(&pool::PoolStats::waiters));
  m.AddSampled("txgate_pool_connects_total", "successful connects to the database", Kind::kCounter,
               pool_stat(&pool::PoolStats::connects));
  m.AddSampled("txgate_pool_connect_failures_total", "failed connects to the database",
               Kind::kCounter, pool_stat(&pool::PoolStats::connect_failures));
  m.AddSampled("txgate_pool_discarded_total", "connections closed because they were found broken",
               Kind::kCounter, pool_stat(&pool::PoolStats::discarded));
  m.AddSampled("txgate_database_reachable", "1 while the database answers, else 0", Kind::kGauge,
               pool_stat(&pool::PoolStats::reachable));
  m.AddSampled("txgate_replays_total", "work re-run after a connection loss", Kind::kCounter,
               [runner] { return static_cast<double>(runner->stats().replays); });
  m.AddSampled(
      "txgate_calls_inline_total",
      "Execute calls begun on the gRPC thread that received them (--inline_wait): ended there "
      "(completed) or handed over to a worker thread (handed_over)",
      Kind::kCounter, "outcome",
      {{"completed", [runner] { return static_cast<double>(runner->stats().inline_completed); }},
       {"handed_over",
        [runner] { return static_cast<double>(runner->stats().inline_handed_over); }}});
  m.AddSampled("txgate_conflict_retries_total",
               "RunTransaction re-runs after a deadlock or lock wait timeout", Kind::kCounter,
               [runner] { return static_cast<double>(runner->stats().conflict_retries); });
  m.AddSampled("txgate_outcome_lookups_total", "idempotency keys looked up", Kind::kCounter,
               [runner] { return static_cast<double>(runner->stats().outcome_lookups); });
  DatabaseService* database = database_.get();
  m.AddSampled("txgate_open_transactions", "interactive Transaction streams open", Kind::kGauge,
               [database] { return static_cast<double>(database->open_transactions()); });
  m.AddSampled("txgate_overload_refusals_total",
               "calls refused or dropped by --max_queued_calls, --max_inflight_request_bytes or "
               "a wait for a worker past --pool_acquire_timeout (reason SERVER_OVERLOADED)",
               Kind::kCounter,
               [database] { return static_cast<double>(database->overload_refusals()); });
  m.AddSampled("txgate_inflight_request_bytes", "bytes of requests being handled", Kind::kGauge,
               [database] { return static_cast<double>(database->inflight_request_bytes()); });
  m.AddSampled("txgate_open_streams",
               "StreamQuery and Transaction streams open (--max_open_streams)", Kind::kGauge,
               [database] { return static_cast<double>(database->open_streams()); });
  m.AddSampled("txgate_stream_write_timeouts_total",
               "streams ended because their client took no response for --stream_write_timeout",
               Kind::kCounter,
               [database] { return static_cast<double>(database->write_timeouts()); });
  m.AddSampled("txgate_pool_retired_connections_total",
               "connections closed because the primary changed (--mysql_hosts)", Kind::kCounter,
               pool_stat(&pool::PoolStats::retired));
  if (topology_ != nullptr) {
    topology::Monitor* t = topology_.get();
    topology::FailoverBuffer* b = failover_buffer_.get();
    m.AddSampled("txgate_topology_primary_known",
                 "1 while a writable primary is known (--mysql_hosts), else 0", Kind::kGauge,
                 [t] { return t->Primary() ? 1.0 : 0.0; });
    m.AddSampled("txgate_topology_split_brain",
                 "1 while two or more servers report themselves writable (no primary trusted)",
                 Kind::kGauge, [t] { return t->split_brain() ? 1.0 : 0.0; });
    m.AddSampled("txgate_topology_primary_changes_total",
                 "changes of the primary seen (to none and back counts twice)", Kind::kCounter,
                 [t] { return static_cast<double>(t->primary_changes()); });
    m.AddSampled("txgate_topology_replicas", "servers seen replicating and reachable", Kind::kGauge,
                 [t] {
                   int n = 0;
                   for (const topology::Member& x : t->Members()) {
                     n += x.reachable && x.role == topology::Role::kReplica ? 1 : 0;
                   }
                   return static_cast<double>(n);
                 });
    m.AddSampled("txgate_failover_buffer_calls", "calls waiting for a writable primary now",
                 Kind::kGauge, [b] { return static_cast<double>(b->Stats().waiting); });
    m.AddSampled("txgate_failover_buffered_calls_total", "calls that waited for a writable primary",
                 Kind::kCounter, [b] { return static_cast<double>(b->Stats().buffered); });
    m.AddSampled("txgate_failover_dropped_calls_total",
                 "calls whose wait for a writable primary ended without one (FAILOVER_IN_PROGRESS)",
                 Kind::kCounter, [b] { return static_cast<double>(b->Stats().dropped); });
    m.AddSampled("txgate_failover_refused_calls_total",
                 "calls refused because the failover buffer was full (FAILOVER_BUFFER_FULL)",
                 Kind::kCounter, [b] { return static_cast<double>(b->Stats().refused_full); });
  }
  m.AddSampled("txgate_transaction_idle_timeouts_total",
               "interactive transactions rolled back by --transaction_idle_timeout", Kind::kCounter,
               [database] { return static_cast<double>(database->idle_timeouts()); });
  if (replicas_ != nullptr) {
    ReplicaRouter* r = replicas_.get();
    auto stat = [r](auto field) {
      return [r, field] { return static_cast<double>(r->stats().*field); };
    };
    m.AddSampled("txgate_reads_primary_total",
                 "reads (routable calls) served by the primary: routed there, no replica "
                 "qualified, or a causality wait failed",
                 Kind::kCounter, stat(&ReplicaRoutingStats::reads_primary));
    m.AddSampled("txgate_reads_replica_total", "reads routed to a replica", Kind::kCounter,
                 stat(&ReplicaRoutingStats::reads_replica));
    m.AddSampled("txgate_reads_no_replica_total",
                 "reads with routing REPLICA that no replica could take (none reachable, or "
                 "all lagging past the bound): the primary served them",
                 Kind::kCounter, stat(&ReplicaRoutingStats::no_replica));
    m.AddSampled("txgate_reads_replica_fallbacks_total",
                 "replica reads that failed before they ran and were re-run on the primary",
                 Kind::kCounter, stat(&ReplicaRoutingStats::fallbacks));
    m.AddSampled("txgate_gtid_waits_total", "MASTER_GTID_WAITs for causality tokens",
                 Kind::kCounter, stat(&ReplicaRoutingStats::gtid_waits));
    m.AddSampled("txgate_gtid_wait_timeouts_total",
                 "GTID waits past --causal_read_timeout: the primary served the read",
                 Kind::kCounter, stat(&ReplicaRoutingStats::gtid_wait_timeouts));
    m.AddSampled("txgate_gtid_wait_failures_total",
                 "GTID waits that failed (no connection, an error): the primary served the read",
                 Kind::kCounter, stat(&ReplicaRoutingStats::gtid_wait_failures));
    m.AddSampled("txgate_gtid_wait_seconds_total", "time spent in GTID waits", Kind::kCounter,
                 stat(&ReplicaRoutingStats::gtid_wait_seconds));
    m.AddSampled("txgate_replica_lag_seconds",
                 "the largest lag of a reachable replica at the last routed read, as it reports "
                 "it (Seconds_Behind_Master); -1: none known",
                 Kind::kGauge, stat(&ReplicaRoutingStats::replica_lag_seconds));
  }
}

Server::~Server() { Shutdown(); }

void Server::Shutdown() {
  {
    MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
  }
  health_.Shutdown();
  probe_health_.Shutdown();
  if (grpc_ != nullptr) {
    // Open interactive transactions are ended (rolled back) as soon as they
    // wait for their client, so the drain is not held up by streams whose
    // clients send nothing. Other in-flight calls get the grace period;
    // then they are cancelled, which kills their statements and rolls
    // their transactions back.
    //
    // gRPC's Shutdown(deadline) waits for every call and connection to end.
    // A stream whose client never half-closes (e.g. grpcurl or grpc-go
    // with its send side still open) stays open after its status went out,
    // and would hold the drain until the deadline; so once every call of
    // ours has its status, the streams still open are cancelled.
    //
    // Shortly before the grace period ends, the calls still running are cut
    // by us (statements killed, transactions rolled back) and answered
    // UNAVAILABLE, SERVER_SHUTTING_DOWN: gRPC's own cancellation at the
    // deadline would answer them CANCELLED, which clients do not retry.
    database_->Drain();
    const absl::Time deadline = absl::Now() + options_.shutdown_grace;
    const absl::Time cut =
        deadline - std::min(options_.shutdown_grace / 2, options_.kill_grace + absl::Seconds(1));
    std::thread reaper([this, cut, deadline] { CancelLingering(cut, deadline); });
    grpc_->Shutdown(absl::ToChronoTime(deadline));
    {
      MutexLock lock(&mu_);
      grpc_stopped_ = true;
      grpc_stopped_cv_.SignalAll();
    }
    reaper.join();
    grpc_->Wait();
  }
  if (database_ != nullptr) database_->Stop();
  if (executor_ != nullptr) executor_->Shutdown();
  killer_.reset();
  ro_killer_.reset();
  outcomes_.reset();  // its purge thread leases from the pool
  // No primary change is told to the pools after this.
  if (topology_ != nullptr) topology_->Stop();
  if (pool_ != nullptr) pool_->Close();
  if (ro_pool_ != nullptr) ro_pool_->Close();
  // Probes keep an answer (NOT_SERVING) until the very end of the drain.
  if (health_grpc_ != nullptr) {
    health_grpc_->Shutdown(absl::ToChronoTime(absl::Now()));
    health_grpc_->Wait();
  }
  if (metrics_ != nullptr) metrics_->RemoveSampled();
  replicas_.reset();  // no call nor scrape is left to use it
  MutexLock lock(&mu_);
  shut_down_ = true;
  stopped_.SignalAll();
}

void Server::CancelLingering(absl::Time cut, absl::Time deadline) {
  // Time for statuses just decided to reach their clients; also lets
  // Shutdown() stop accepting calls before the first check.
  const absl::Duration linger = absl::Milliseconds(250);
  absl::Time next = absl::Now() + linger;
  bool quiet = false;  // no unfinished call at the last check
  bool cut_done = false;
  MutexLock lock(&mu_);
  for (;;) {
    grpc_stopped_cv_.WaitWithDeadline(&mu_, std::min({next, deadline, cut_done ? deadline : cut}));
    if (grpc_stopped_ || absl::Now() >= deadline) return;  // gRPC cancels at the deadline
    if (!cut_done && absl::Now() >= cut) {
      cut_done = true;
      mu_.Unlock();
      database_->CutForShutdown();
      mu_.Lock();
      continue;
    }
    if (absl::Now() < next) continue;
    if (database_->unfinished_calls() > 0) {
      quiet = false;
      next = absl::Now() + absl::Milliseconds(20);
      continue;
    }
    if (!quiet) {
      quiet = true;
      next = absl::Now() + linger;
      continue;
    }
    break;
  }
  mu_.Unlock();
  grpc_server_cancel_all_calls(grpc_->c_server());
  mu_.Lock();
}

void Server::Wait() {
  MutexLock lock(&mu_);
  while (!shut_down_) stopped_.Wait(&mu_);
}

}  // namespace txgate::service
