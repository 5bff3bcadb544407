#include "server/service/health_service.h"

namespace txgate::service {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream: writes the current status, then every change.
class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* service, std::string name) : service_(service), name_(std::move(name)) {
    MutexLock lock(&service_->mu_);
    service_->watchers_.insert(this);
    Update(service_->Current(name_));
  }

  // Called with the service's lock held.
  void Update(ServingStatus status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_->mu_) {
    pending_ = status;
    if (!writing_ && !finished_ && pending_ != sent_) {
      writing_ = true;
      sent_ = pending_;
      response_.set_status(sent_);
      StartWrite(&response_);
    }
  }

  const std::string& name() const { return name_; }
  // The lock that guards this watcher: its service's.
  Mutex& service_mu() const ABSL_LOCK_RETURNED(service_->mu_) { return service_->mu_; }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&service_->mu_);
    writing_ = false;
    if (!ok) {
      FinishOnce(grpc::Status::CANCELLED);
      return;
    }
    Update(pending_);
  }

  void OnCancel() override {
    MutexLock lock(&service_->mu_);
    FinishOnce(grpc::Status::CANCELLED);
  }

  void Stop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_->mu_) {
    FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
  }

  void OnDone() override {
    {
      MutexLock lock(&service_->mu_);
      service_->watchers_.erase(this);
    }
    delete this;
  }

 private:
  void FinishOnce(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_->mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  // Constant after construction.
  HealthService* const service_;
  const std::string name_;
  // Written under the lock; gRPC reads it between StartWrite and
  // OnWriteDone, while writing_ keeps it unchanged.
  HealthCheckResponse response_ ABSL_GUARDED_BY(service_->mu_);
  ServingStatus pending_ ABSL_GUARDED_BY(service_->mu_) = HealthCheckResponse::UNKNOWN;
  ServingStatus sent_ ABSL_GUARDED_BY(service_->mu_) = HealthCheckResponse::UNKNOWN;
  bool writing_ ABSL_GUARDED_BY(service_->mu_) = false;
  bool finished_ ABSL_GUARDED_BY(service_->mu_) = false;
};

HealthService::~HealthService() = default;

bool HealthService::Known(const std::string& service) {
  return service.empty() || service == "txgate.v1.DatabaseService" || service == kLivenessService;
}

HealthService::ServingStatus HealthService::Current(const std::string& service) const {
  if (!Known(service)) return HealthCheckResponse::SERVICE_UNKNOWN;
  if (service == kLivenessService) return HealthCheckResponse::SERVING;
  return serving_ && !shutdown_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthService::Notify() {
  for (Watcher* w : watchers_) {
    // Every watcher in watchers_ is one of ours: its service's lock is mu_.
    w->service_mu().AssertHeld();
    w->Update(Current(w->name()));
  }
}

void HealthService::SetServing(bool serving) {
  MutexLock lock(&mu_);
  serving_ = serving;
  Notify();
}

void HealthService::Shutdown() {
  MutexLock lock(&mu_);
  shutdown_ = true;
  Notify();
  for (Watcher* w : watchers_) {
    w->service_mu().AssertHeld();  // as in Notify()
    w->Stop();
  }
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Known(request->service())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return reactor;
  }
  {
    MutexLock lock(&mu_);
    response->set_status(Current(request->service()));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  return new Watcher(this, request->service());
}

}  // namespace txgate::service
