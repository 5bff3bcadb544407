#include "server/topology/monitor.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/log.h"
#include "server/mysql/connection.h"
#include "txgate/v1/database.pb.h"

namespace txgate::topology {

Role RoleOf(const Observation& o) {
  if (!o.read_only) return Role::kPrimary;
  return o.replicating ? Role::kReplica : Role::kUnknown;
}

std::optional<Endpoint> ResolvePrimary(const std::vector<Member>& members, bool* split_brain) {
  std::optional<Endpoint> primary;
  int writable = 0;
  for (const Member& m : members) {
    if (m.reachable && m.role == Role::kPrimary) {
      ++writable;
      primary = m.endpoint;
    }
  }
  *split_brain = writable > 1;
  if (writable != 1) return std::nullopt;
  return primary;
}

namespace {

// The text of a scalar cell (what a SHOW or @@variable returns).
std::optional<std::string> Text(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kStringValue:
      return v.string_value();
    case v1::Value::kBytesValue:
      return v.bytes_value();
    case v1::Value::kInt64Value:
      return absl::StrCat(v.int64_value());
    case v1::Value::kUint64Value:
      return absl::StrCat(v.uint64_value());
    case v1::Value::kDecimalValue:
      return v.decimal_value();
    case v1::Value::kBoolValue:
      return v.bool_value() ? "1" : "0";
    default:
      return std::nullopt;
  }
}

// Runs `sql` and returns its rows as text by column name.
absl::StatusOr<std::vector<std::vector<std::pair<std::string, std::optional<std::string>>>>> Rows(
    mysql::Connection& c, absl::string_view sql) {
  static const db::Params kNone;
  if (absl::Status s = c.Start(sql, kNone); !s.ok()) return s;
  std::vector<std::vector<std::pair<std::string, std::optional<std::string>>>> rows;
  v1::Row row;
  size_t bytes = 0;
  while (true) {
    absl::StatusOr<bool> more = c.Next(&row, &bytes);
    if (!more.ok()) return more.status();
    if (!*more) break;
    std::vector<std::pair<std::string, std::optional<std::string>>> out;
    for (int i = 0; i < row.values_size() && i < static_cast<int>(c.fields().size()); ++i) {
      out.emplace_back(c.fields()[i].name, Text(row.values(i)));
    }
    rows.push_back(std::move(out));
    row.Clear();
  }
  if (absl::StatusOr<db::ExecSummary> done = c.Done(); !done.ok()) return done.status();
  return rows;
}

std::optional<std::string> Field(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& row,
    absl::string_view name) {
  for (const auto& [n, v] : row) {
    if (absl::EqualsIgnoreCase(n, name)) return v;
  }
  return std::nullopt;
}

// One server's probe: keeps its connection between checks.
class MySqlProbe {
 public:
  MySqlProbe(mysql::ConnectOptions options, absl::Duration timeout)
      : options_(std::move(options)), timeout_(timeout) {}

  absl::StatusOr<Observation> operator()() {
    if (conn_ == nullptr || conn_->broken()) {
      conn_.reset();
      absl::StatusOr<std::unique_ptr<mysql::Connection>> c =
          mysql::Connection::Open(options_, timeout_);
      if (!c.ok()) return c.status();
      conn_ = *std::move(c);
    }
    absl::StatusOr<Observation> o = Observe();
    if (!o.ok()) conn_.reset();
    return o;
  }

 private:
  absl::StatusOr<Observation> Observe() {
    Observation o;
    auto ro = Rows(*conn_, "SELECT @@global.read_only AS ro");
    if (!ro.ok()) return ro.status();
    if (ro->size() != 1) return absl::UnavailableError("SELECT @@global.read_only: no row");
    o.read_only = Field(ro->front(), "ro").value_or("1") != "0";
    // A writable server is the primary whatever its replication says; and
    // SHOW ALL SLAVES STATUS can wait behind a STOP SLAVE of a promotion
    // in progress, which must not delay seeing the new primary.
    if (!o.read_only) return o;
    // Replication status needs SLAVE MONITOR; without it the status
    // variable Slave_running (readable by anyone) tells whether the
    // replication threads run, and the lag is unknown.
    if (slave_status_allowed_) {
      auto st = Rows(*conn_, "SHOW ALL SLAVES STATUS");
      if (st.ok()) {
        o.replicating = !st->empty();
        for (const auto& r : *st) {
          std::optional<std::string> behind = Field(r, "Seconds_Behind_Master");
          int64_t s = 0;
          if (behind && absl::SimpleAtoi(*behind, &s)) {
            absl::Duration lag = absl::Seconds(s);
            if (!o.lag || lag > *o.lag) o.lag = lag;
          } else {
            o.lag = std::nullopt;  // one stopped channel: the lag is unknown
            break;
          }
        }
        return o;
      }
      if (conn_->broken()) return st.status();
      slave_status_allowed_ = false;  // 1227: access denied
      Log("info", "topology_no_slave_monitor",
          {{"endpoint", absl::StrCat(options_.host, ":", options_.port)},
           {"detail", std::string(st.status().message())}});
    }
    auto running = Rows(*conn_,
                        "SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS "
                        "WHERE VARIABLE_NAME = 'SLAVE_RUNNING'");
    if (!running.ok()) return running.status();
    o.replicating = !running->empty() && Field(running->front(), "v").value_or("") == "ON";
    return o;
  }

  const mysql::ConnectOptions options_;
  const absl::Duration timeout_;
  std::unique_ptr<mysql::Connection> conn_;
  bool slave_status_allowed_ = true;
};

const char* RoleName(Role r) {
  switch (r) {
    case Role::kPrimary:
      return "primary";
    case Role::kReplica:
      return "replica";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace

ProbeFactory MySqlProbes(const mysql::ConnectOptions& base, absl::Duration timeout) {
  return [base, timeout](const Endpoint& e) -> Probe {
    mysql::ConnectOptions o = base;
    o.host = e.host;
    o.port = e.port;
    o.socket.clear();
    o.read_only = false;
    o.read_timeout = timeout;
    o.write_timeout = timeout;
    o.statement_cache_size = 4;
    return MySqlProbe(std::move(o), timeout);
  };
}

Monitor::Monitor(std::vector<Endpoint> endpoints, MonitorOptions options, ProbeFactory probes,
                 std::function<void(std::optional<Endpoint>)> on_change)
    : endpoints_(std::move(endpoints)),
      interval_(std::max(options.check_interval, absl::Milliseconds(10))),
      on_change_(std::move(on_change)) {
  for (const Endpoint& e : endpoints_) {
    Member m;
    m.endpoint = e;
    members_.push_back(m);
    probes_.push_back(probes(e));
    begun_.push_back(0);
    finished_.push_back(0);
  }
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    workers_.push_back(std::make_unique<PeriodicWorker>(absl::StrCat("topology-", i), interval_,
                                                        [this, i] { Check(i); }));
    workers_.back()->Wake();
  }
}

Monitor::~Monitor() { Stop(); }

void Monitor::Stop() {
  for (auto& w : workers_) w->Stop();
}

void Monitor::Check(size_t index) {
  {
    MutexLock lock(&mu_);
    ++begun_[index];
  }
  absl::StatusOr<Observation> o = probes_[index]();
  Member m;
  m.endpoint = endpoints_[index];
  m.checked = absl::Now();
  if (o.ok()) {
    m.reachable = true;
    m.role = RoleOf(*o);
    m.lag = o->lag;
  }
  std::optional<Endpoint> now;
  bool changed = false;
  bool recheck = false;
  {
    MutexLock lock(&mu_);
    Member& old = members_[index];
    if (old.reachable != m.reachable || old.role != m.role) {
      Log(m.reachable ? "info" : "warning", "topology_member",
          {{"endpoint", m.endpoint.ToString()},
           {"role", RoleName(m.role)},
           {"reachable", m.reachable ? "true" : "false"},
           {"detail", o.ok() ? "" : std::string(o.status().message())}});
    }
    old = m;
    bool split = false;
    now = ResolvePrimary(members_, &split);
    // Servers are checked one by one, so in a switchover the new primary
    // may be seen writable before the old one is seen read-only: a split
    // is trusted by nobody at once, looked at again at once, and reported
    // once it outlasts a check interval.
    if (!split) split_since_.reset();
    if (split && !split_since_) {
      split_since_ = m.checked;
      recheck = true;
    }
    if (split && !split_reported_ && m.checked - *split_since_ >= interval_) {
      split_reported_ = true;
      std::vector<std::string> writable;
      for (const Member& x : members_) {
        if (x.reachable && x.role == Role::kPrimary) writable.push_back(x.endpoint.ToString());
      }
      Log("error", "topology_split_brain",
          {{"writable", absl::StrJoin(writable, ",")},
           {"action", "no primary trusted; writes wait until one server remains writable"}});
    }
    if (!split) split_reported_ = false;
    split_brain_ = split;
    if (now != primary_) {
      Log("warning", "topology_primary",
          {{"from", primary_ ? primary_->ToString() : "none"},
           {"to", now ? now->ToString() : "none"}});
      primary_ = now;
      ++primary_changes_;
      changed = true;
      changed_.SignalAll();
    }
  }
  if (recheck) Recheck();
  if (changed && on_change_) on_change_(now);
  MutexLock lock(&mu_);
  ++finished_[index];
  changed_.SignalAll();
}

void Monitor::RecheckAndWait(absl::Time deadline) {
  std::vector<int64_t> begun;
  {
    MutexLock lock(&mu_);
    begun = begun_;
  }
  Recheck();
  MutexLock lock(&mu_);
  for (size_t i = 0; i < begun.size(); ++i) {
    while (finished_[i] <= begun[i]) {
      if (changed_.WaitWithDeadline(&mu_, deadline)) return;
    }
  }
}

std::vector<Member> Monitor::Members() const {
  MutexLock lock(&mu_);
  return members_;
}

std::optional<Endpoint> Monitor::Primary() const {
  MutexLock lock(&mu_);
  return primary_;
}

std::optional<Endpoint> Monitor::WaitForPrimary(absl::Time deadline) {
  MutexLock lock(&mu_);
  while (!primary_) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return primary_;
}

void Monitor::Recheck() {
  for (auto& w : workers_) w->Wake();
}

bool Monitor::split_brain() const {
  MutexLock lock(&mu_);
  return split_brain_;
}

int64_t Monitor::primary_changes() const {
  MutexLock lock(&mu_);
  return primary_changes_;
}

}  // namespace txgate::topology
