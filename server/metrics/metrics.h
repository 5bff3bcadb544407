// Metrics: txgate's Prometheus metrics and, optionally, their HTTP endpoint.
//
// Three kinds of metric live here:
//  - event metrics, recorded as things happen: the gRPC server metrics of
//    the gRPC OpenTelemetry spec (gRFC A66) in their Prometheus form —
//    grpc_server_call_started_total{grpc_method} and
//    grpc_server_call_duration_seconds{grpc_method,grpc_status} — for
//    DatabaseService calls, MySQL errors answered by errno, reloads;
//  - process metrics (CPU, memory, fds, threads, start time), read from
//    /proc at each scrape under the names Prometheus' client libraries use
//    (prometheus-cpp has none);
//  - sampled metrics, read from their owners at each scrape through
//    callbacks (the pool's and the runner's counters and gauges), so the
//    numbers are never stale and the owners need not know about Prometheus.
// The endpoint (prometheus-cpp's Exposer, a civetweb HTTP server) serves
// GET /metrics in the Prometheus text format. Thread-safe.
#ifndef TXGATE_SERVER_METRICS_METRICS_H_
#define TXGATE_SERVER_METRICS_METRICS_H_

#include <grpcpp/support/status_code_enum.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"

namespace prometheus {
class Exposer;
class Registry;
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace txgate::metrics {

class SampledMetrics;
class ProcessMetrics;

class Metrics {
 public:
  enum class Kind { kCounter, kGauge };

  // Creates the registry and, when `listen` (host:port; port 0 picks a free
  // one) is not empty, serves it over HTTP. `service` is the full name of
  // the gRPC service whose calls are observed (e.g. "txgate.v1.
  // DatabaseService"), `methods` its method names (at most kMaxMethods;
  // others are reported as grpc_method="other", as A66 says of unknown
  // methods). UNAVAILABLE if it cannot bind.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(const std::string& listen,
                                                         const std::string& service,
                                                         const std::vector<std::string>& methods);
  static constexpr size_t kMaxMethods = 8;
  ~Metrics();  // Stops the endpoint.

  // The HTTP port bound, or 0 without an endpoint.
  int port() const { return port_; }

  // Adds a metric whose value `read` gives at each scrape. Call before
  // traffic (at assembly); `read` must be cheap and thread-safe, and stay
  // callable until RemoveSampled() or the destructor.
  void AddSampled(const std::string& name, const std::string& help, Kind kind,
                  std::function<double()> read);
  // The same for a metric with one label: a series per value of `label`,
  // each read by its function.
  void AddSampled(const std::string& name, const std::string& help, Kind kind,
                  const std::string& label,
                  std::vector<std::pair<std::string, std::function<double()>>> series);
  // Forgets every sampled metric (before their owners go away).
  void RemoveSampled();

  // One RPC of `method` (a name given to Create()) arrived.
  void CountStarted(absl::string_view method);
  // One RPC of `method` finished with `code` after `latency` (arrival to
  // final status). Per call, no label is looked up: the series of each
  // method and code are resolved once, at their first use, and cached.
  void ObserveRpc(absl::string_view method, grpc::StatusCode code, absl::Duration latency);
  // A MySQL error answered to a caller.
  void CountMysqlError(unsigned int errnum);
  // One attempt to apply changed configuration files (`what`: tls, tokens,
  // mysql_password, mysql_ro_password).
  void CountReload(absl::string_view what, bool ok);
  // Creates txgate_config_reloads_total{what,result} for both results at 0,
  // so the first failed reload is an increase an alert can see.
  void DeclareReloads(absl::string_view what);

 private:
  static constexpr size_t kCodes = 17;  // gRPC codes 0 (OK) .. 16

  // The series of one method, resolved once.
  struct MethodSeries {
    std::string name;   // as given to Create(); "other" for the last
    std::string label;  // grpc_method: "<service>/<name>"
    prometheus::Counter* started = nullptr;
    // By code; null until the first call that ends with it.
    std::array<std::atomic<prometheus::Histogram*>, kCodes> duration{};
  };

  Metrics(const std::string& service, const std::vector<std::string>& methods);
  MethodSeries& SeriesOf(absl::string_view method);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<SampledMetrics> sampled_;
  std::shared_ptr<ProcessMetrics> process_;
  prometheus::Family<prometheus::Counter>* started_ = nullptr;
  prometheus::Family<prometheus::Histogram>* duration_ = nullptr;
  // kMaxMethods + 1 ("other"); constant after construction.
  std::vector<std::unique_ptr<MethodSeries>> methods_;
  Mutex resolve_mu_;  // serializes first resolutions of a duration series
  prometheus::Family<prometheus::Counter>* mysql_errors_ = nullptr;
  prometheus::Family<prometheus::Counter>* reloads_ = nullptr;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace txgate::metrics

#endif  // TXGATE_SERVER_METRICS_METRICS_H_
