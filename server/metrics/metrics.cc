#include "server/metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/version.h"

namespace txgate::metrics {

// The metrics read at scrape time; a Collectable of its own so the
// Exposer collects it beside the registry.
class SampledMetrics final : public prometheus::Collectable {
 public:
  struct Entry {
    std::string name;
    std::string help;
    Metrics::Kind kind;
    std::function<double()> read;
  };

  void Add(Entry entry) {
    MutexLock lock(&mu_);
    entries_.push_back(std::move(entry));
  }

  void Clear() {
    MutexLock lock(&mu_);
    entries_.clear();
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    MutexLock lock(&mu_);
    std::vector<prometheus::MetricFamily> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) {
      prometheus::MetricFamily family;
      family.name = e.name;
      family.help = e.help;
      prometheus::ClientMetric metric;
      if (e.kind == Metrics::Kind::kCounter) {
        family.type = prometheus::MetricType::Counter;
        metric.counter.value = e.read();
      } else {
        family.type = prometheus::MetricType::Gauge;
        metric.gauge.value = e.read();
      }
      family.metric.push_back(std::move(metric));
      out.push_back(std::move(family));
    }
    return out;
  }

 private:
  mutable Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      sampled_(std::make_shared<SampledMetrics>()) {
  rpcs_ = &prometheus::BuildCounter()
               .Name("txgate_rpcs_total")
               .Help("DatabaseService RPCs finished, by method and gRPC code")
               .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("txgate_rpc_duration_seconds")
                  .Help("DatabaseService RPC latency, from arrival to the final status, by method")
                  .Register(*registry_);
  mysql_errors_ = &prometheus::BuildCounter()
                       .Name("txgate_mysql_errors_total")
                       .Help("MySQL errors answered to callers, by errno")
                       .Register(*registry_);
  prometheus::BuildGauge()
      .Name("txgate_build_info")
      .Help("always 1; the labels name the running build: its version and git commit")
      .Register(*registry_)
      .Add({{"version", std::string(Version())}, {"commit", std::string(GitCommit())}})
      .Set(1);
  reloads_ = &prometheus::BuildCounter()
                  .Name("txgate_config_reloads_total")
                  .Help(
                      "changed TLS, tokens or password files applied (result ok) or refused "
                      "(result error, the previous material kept), by what")
                  .Register(*registry_);
}

Metrics::~Metrics() {
  exposer_.reset();  // no scrape runs past here
}

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const std::string& listen) {
  std::unique_ptr<Metrics> m(new Metrics);
  if (listen.empty()) return m;
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
    m->exposer_->RegisterCollectable(m->registry_);
    m->exposer_->RegisterCollectable(m->sampled_);
    std::vector<int> ports = m->exposer_->GetListeningPorts();
    if (!ports.empty()) m->port_ = ports.front();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  return m;
}

void Metrics::AddSampled(const std::string& name, const std::string& help, Kind kind,
                         std::function<double()> read) {
  sampled_->Add(SampledMetrics::Entry{name, help, kind, std::move(read)});
}

void Metrics::RemoveSampled() { sampled_->Clear(); }

void Metrics::ObserveRpc(absl::string_view method, absl::string_view code, absl::Duration latency) {
  // Seconds, from 1 ms to 30 s: the range of a database call.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  rpcs_->Add({{"method", std::string(method)}, {"code", std::string(code)}}).Increment();
  latency_->Add({{"method", std::string(method)}}, kBuckets)
      .Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::CountMysqlError(unsigned int errnum) {
  mysql_errors_->Add({{"errno", absl::StrCat(errnum)}}).Increment();
}

void Metrics::CountReload(absl::string_view what, bool ok) {
  reloads_->Add({{"what", std::string(what)}, {"result", ok ? "ok" : "error"}}).Increment();
}

}  // namespace txgate::metrics
