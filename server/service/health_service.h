// HealthService: grpc.health.v1.Health, served from generated code so that
// server reflection describes it (gRPC's built-in health service is
// invisible to reflection, which breaks `buf curl --list-methods`).
//
// Readiness: "" and "txgate.v1.DatabaseService" report SERVING exactly
// while the database is reachable through the pool and the server is not
// shutting down. Liveness: "txgate.v1.Liveness" reports SERVING while the
// process runs, whatever the database and through the drain, so that a
// database outage or a shutdown never makes a kubelet restart the pod.
// Watch streams every change.
#ifndef TXGATE_SERVER_SERVICE_HEALTH_SERVICE_H_
#define TXGATE_SERVER_SERVICE_HEALTH_SERVICE_H_

#include <set>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/common/mutex.h"

namespace txgate::service {

// The service name of the liveness status.
inline constexpr char kLivenessService[] = "txgate.v1.Liveness";

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  HealthService() = default;
  ~HealthService() override;

  // Sets whether the database is reachable.
  void SetServing(bool serving);
  // Reports NOT_SERVING from now on, whatever the database (draining).
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

  class Watcher;

 private:
  friend class Watcher;
  ServingStatus Current(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static bool Known(const std::string& service);

  mutable Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_HEALTH_SERVICE_H_
