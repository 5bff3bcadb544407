// Metrics: txgate's Prometheus metrics and, optionally, their HTTP endpoint.
//
// Two kinds of metric live here:
//  - event metrics, recorded as things happen: RPCs by method and code,
//    RPC latency histograms by method, MySQL errors answered by errno;
//  - sampled metrics, read from their owners at each scrape through
//    callbacks (the pool's and the runner's counters and gauges), so the
//    numbers are never stale and the owners need not know about Prometheus.
// The endpoint (prometheus-cpp's Exposer, a civetweb HTTP server) serves
// GET /metrics in the Prometheus text format. Thread-safe.
#ifndef TXGATE_SERVER_METRICS_METRICS_H_
#define TXGATE_SERVER_METRICS_METRICS_H_

#include <functional>
#include <memory>
#include <string>
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

class Metrics {
 public:
  enum class Kind { kCounter, kGauge };

  // Creates the registry and, when `listen` (host:port; port 0 picks a free
  // one) is not empty, serves it over HTTP. UNAVAILABLE if it cannot bind.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(const std::string& listen);
  ~Metrics();  // Stops the endpoint.

  // The HTTP port bound, or 0 without an endpoint.
  int port() const { return port_; }

  // Adds a metric whose value `read` gives at each scrape. Call before
  // traffic (at assembly); `read` must be cheap and thread-safe, and stay
  // callable until RemoveSampled() or the destructor.
  void AddSampled(const std::string& name, const std::string& help, Kind kind,
                  std::function<double()> read);
  // Forgets every sampled metric (before their owners go away).
  void RemoveSampled();

  // One finished RPC: `code` is a gRPC code name (e.g. "OK").
  void ObserveRpc(absl::string_view method, absl::string_view code, absl::Duration latency);
  // A MySQL error answered to a caller.
  void CountMysqlError(unsigned int errnum);
  // One attempt to apply changed configuration files (`what`: tls, tokens,
  // mysql_password, mysql_ro_password).
  void CountReload(absl::string_view what, bool ok);

 private:
  Metrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<SampledMetrics> sampled_;
  prometheus::Family<prometheus::Counter>* rpcs_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  prometheus::Family<prometheus::Counter>* mysql_errors_ = nullptr;
  prometheus::Family<prometheus::Counter>* reloads_ = nullptr;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace txgate::metrics

#endif  // TXGATE_SERVER_METRICS_METRICS_H_
