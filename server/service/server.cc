#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace txgate::service {

Server::Server(const ServerOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  std::unique_ptr<Server> server(new Server(options));
  Server* s = server.get();
  const mysql::ConnectOptions connect = options.mysql;
  auto factory = [connect](absl::Duration timeout) {
    return mysql::Connection::Open(connect, timeout);
  };
  s->pool_ = std::make_unique<pool::ConnectionPool>(
      options.pool, factory, &absl::Now, [s](bool reachable) { s->health_.SetServing(reachable); });
  s->killer_ = std::make_unique<runner::StatementKiller>(factory, options.kill_grace);
  s->outcomes_ = std::make_unique<runner::OutcomeStore>(s->pool_.get(), options.outcomes);
  s->runner_ = std::make_unique<runner::TransactionRunner>(s->pool_.get(), s->outcomes_.get(),
                                                           options.runner);
  const int workers =
      options.worker_threads > 0 ? options.worker_threads : options.pool.max_size + 4;
  s->executor_ = std::make_unique<Executor>("txgate-worker", workers);
  s->database_ =
      std::make_unique<DatabaseService>(s->runner_.get(), s->killer_.get(), s->executor_.get());

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->database_.get());
  builder.RegisterService(&s->health_);
  builder.SetMaxReceiveMessageSize(options.max_request_bytes);
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  return server;
}

Server::~Server() { Shutdown(); }

void Server::Shutdown() {
  {
    MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
  }
  health_.Shutdown();
  if (grpc_ != nullptr) {
    // In-flight calls get the grace period; then they are cancelled, which
    // kills their statements and rolls their transactions back.
    grpc_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
    grpc_->Wait();
  }
  if (executor_ != nullptr) executor_->Shutdown();
  killer_.reset();
  outcomes_.reset();  // its purge thread leases from the pool
  if (pool_ != nullptr) pool_->Close();
  MutexLock lock(&mu_);
  shut_down_ = true;
  stopped_.SignalAll();
}

void Server::Wait() {
  MutexLock lock(&mu_);
  while (!shut_down_) stopped_.Wait(&mu_);
}

}  // namespace txgate::service
