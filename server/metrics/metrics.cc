#include "server/metrics/metrics.h"

#include <dirent.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
    // A labeled metric: its label's name, and a value and read per series
    // (`read` unused).
    std::string label;
    std::vector<std::pair<std::string, std::function<double()>>> series;
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
      family.type = e.kind == Metrics::Kind::kCounter ? prometheus::MetricType::Counter
                                                      : prometheus::MetricType::Gauge;
      auto add = [&family, &e](const std::function<double()>& read,
                               std::vector<prometheus::ClientMetric::Label> labels) {
        prometheus::ClientMetric metric;
        metric.label = std::move(labels);
        if (e.kind == Metrics::Kind::kCounter) {
          metric.counter.value = read();
        } else {
          metric.gauge.value = read();
        }
        family.metric.push_back(std::move(metric));
      };
      if (e.series.empty()) add(e.read, {});
      for (const auto& [value, read] : e.series) add(read, {{e.label, value}});
      out.push_back(std::move(family));
    }
    return out;
  }

 private:
  mutable Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// The process, read from /proc at each scrape, under the names of the
// Prometheus client libraries' process collectors (process_threads as the
// Rust client's).
class ProcessMetrics final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto add = [&out](const char* name, const char* help, prometheus::MetricType type,
                      double value) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = type;
      prometheus::ClientMetric metric;
      if (type == prometheus::MetricType::Counter) {
        metric.counter.value = value;
      } else {
        metric.gauge.value = value;
      }
      family.metric.push_back(std::move(metric));
      out.push_back(std::move(family));
    };
    using Type = prometheus::MetricType;
    // /proc/self/stat: the fields after the command name, which is in
    // parentheses and may hold spaces; field N of proc(5) is at N - 3.
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos) {
      std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
      if (f.size() > 21) {
        const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
        const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
        auto field = [&f](int n) { return std::strtod(f[n - 3].c_str(), nullptr); };
        add("process_cpu_seconds_total", "user and system CPU time spent, in seconds",
            Type::Counter, (field(14) + field(15)) / tick);
        add("process_threads", "threads of the process", Type::Gauge, field(20));
        add("process_start_time_seconds", "start time of the process since the Unix epoch",
            Type::Gauge, BootTime() + field(22) / tick);
        add("process_virtual_memory_bytes", "virtual memory size, in bytes", Type::Gauge,
            field(23));
        add("process_resident_memory_bytes", "resident memory size, in bytes", Type::Gauge,
            field(24) * page);
      }
    }
    double fds = 0;
    if (DIR* dir = opendir("/proc/self/fd")) {
      while (const dirent* e = readdir(dir)) {
        if (e->d_name[0] != '.') ++fds;
      }
      closedir(dir);
      add("process_open_fds", "open file descriptors", Type::Gauge, fds - 1);  // minus dir's own
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      add("process_max_fds", "most file descriptors the process may open", Type::Gauge,
          static_cast<double>(limit.rlim_cur));
    }
    return out;
  }

 private:
  // Seconds since the epoch at boot (/proc/stat btime), read once.
  static double BootTime() {
    static const double boot = [] {
      std::ifstream in("/proc/stat");
      std::string line;
      while (std::getline(in, line)) {
        if (absl::StartsWith(line, "btime ")) return std::strtod(line.c_str() + 6, nullptr);
      }
      return 0.0;
    }();
    return boot;
  }
};

namespace {

// Seconds, 50 µs to 30 s: the boundaries of gRFC A66's latency buckets in
// that range (so that histograms of txgate and of other gRPC services
// aggregate alike), plus 30 s. The first is below a cached point read on a
// local database; 97% of Execute calls fell into the old first bucket, 1 ms.
const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> buckets = {
      0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
      0.006,   0.008,  0.01,   0.013,  0.016,  0.02,  0.025, 0.03,  0.04,  0.05,
      0.065,   0.08,   0.1,    0.13,   0.16,   0.2,   0.25,  0.3,   0.4,   0.5,
      0.65,    0.8,    1,      2,      5,      10,    20,    30};
  return buckets;
}

const char* const kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

}  // namespace

Metrics::Metrics(const std::string& service, const std::vector<std::string>& methods)
    : registry_(std::make_shared<prometheus::Registry>()),
      sampled_(std::make_shared<SampledMetrics>()),
      process_(std::make_shared<ProcessMetrics>()) {
  static_assert(sizeof(kCodeNames) / sizeof(kCodeNames[0]) == kCodes);
  started_ = &prometheus::BuildCounter()
                  .Name("grpc_server_call_started_total")
                  .Help(
                      "RPCs started, including those not finished (gRFC A66 "
                      "grpc.server.call.started), by grpc_method")
                  .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("grpc_server_call_duration_seconds")
                   .Help(
                       "RPC duration from arrival to the final status (gRFC A66 "
                       "grpc.server.call.duration), by grpc_method and grpc_status")
                   .Register(*registry_);
  std::vector<std::string> names(methods.begin(),
                                 methods.begin() + std::min(methods.size(), kMaxMethods));
  names.push_back("other");
  for (const std::string& name : names) {
    auto series = std::make_unique<MethodSeries>();
    series->name = name;
    series->label = name == "other" ? name : absl::StrCat(service, "/", name);
    series->started = &started_->Add({{"grpc_method", series->label}});
    methods_.push_back(std::move(series));
  }
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

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const std::string& listen,
                                                         const std::string& service,
                                                         const std::vector<std::string>& methods) {
  std::unique_ptr<Metrics> m(new Metrics(service, methods));
  if (listen.empty()) return m;
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
    m->exposer_->RegisterCollectable(m->registry_);
    m->exposer_->RegisterCollectable(m->sampled_);
    m->exposer_->RegisterCollectable(m->process_);
    std::vector<int> ports = m->exposer_->GetListeningPorts();
    if (!ports.empty()) m->port_ = ports.front();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  return m;
}

void Metrics::AddSampled(const std::string& name, const std::string& help, Kind kind,
                         std::function<double()> read) {
  sampled_->Add(SampledMetrics::Entry{name, help, kind, std::move(read), "", {}});
}

void Metrics::AddSampled(const std::string& name, const std::string& help, Kind kind,
                         const std::string& label,
                         std::vector<std::pair<std::string, std::function<double()>>> series) {
  sampled_->Add(SampledMetrics::Entry{name, help, kind, nullptr, label, std::move(series)});
}

void Metrics::RemoveSampled() { sampled_->Clear(); }

Metrics::MethodSeries& Metrics::SeriesOf(absl::string_view method) {
  // A few short names: comparing them costs less than hashing one.
  for (size_t i = 0; i + 1 < methods_.size(); ++i) {
    if (methods_[i]->name == method) return *methods_[i];
  }
  return *methods_.back();
}

void Metrics::CountStarted(absl::string_view method) { SeriesOf(method).started->Increment(); }

void Metrics::ObserveRpc(absl::string_view method, grpc::StatusCode code, absl::Duration latency) {
  MethodSeries& series = SeriesOf(method);
  const size_t c = static_cast<size_t>(code) < kCodes ? static_cast<size_t>(code) : 2;  // UNKNOWN
  prometheus::Histogram* histogram = series.duration[c].load(std::memory_order_acquire);
  if (histogram == nullptr) {
    MutexLock lock(&resolve_mu_);
    histogram = &duration_->Add({{"grpc_method", series.label}, {"grpc_status", kCodeNames[c]}},
                                LatencyBuckets());
    series.duration[c].store(histogram, std::memory_order_release);
  }
  histogram->Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::CountMysqlError(unsigned int errnum) {
  mysql_errors_->Add({{"errno", absl::StrCat(errnum)}}).Increment();
}

void Metrics::DeclareReloads(absl::string_view what) {
  for (const char* result : {"ok", "error"}) {
    reloads_->Add({{"what", std::string(what)}, {"result", result}});
  }
}

void Metrics::CountReload(absl::string_view what, bool ok) {
  reloads_->Add({{"what", std::string(what)}, {"result", ok ? "ok" : "error"}}).Increment();
}

}  // namespace txgate::metrics
