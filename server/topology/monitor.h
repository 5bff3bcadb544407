// Monitor: the Topology of a list of servers, kept true by asking each of
// them what it is. One named thread per server (so a hung server delays
// nobody else's check) asks, every check interval and at once after
// Recheck(), through a Probe: @@read_only, and whether and how far it
// replicates. Roles follow from what the servers say (RoleOf); the primary
// is the one writable server. Two or more writable servers at once is a
// split brain: no primary is trusted (Primary() is nullopt, a warning is
// logged once it outlasts a check interval, split_brain() says so) until
// only one remains. txgate never
// promotes or demotes anything. README, "Replication and failover".
#ifndef TXGATE_SERVER_TOPOLOGY_MONITOR_H_
#define TXGATE_SERVER_TOPOLOGY_MONITOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"
#include "server/common/periodic_worker.h"
#include "server/topology/topology.h"

namespace txgate::mysql {
struct ConnectOptions;
}  // namespace txgate::mysql

namespace txgate::topology {

// What one server said about itself.
struct Observation {
  bool read_only = true;  // @@read_only
  // It has a replication source configured (a row in SHOW ALL SLAVES
  // STATUS, or the Slave_running status when the account may not see those).
  bool replicating = false;
  // Seconds_Behind_Master; nullopt when the server does not report it
  // (replication threads stopped, or the account lacks SLAVE MONITOR).
  std::optional<absl::Duration> lag;
};

// The role an observation means: read_only = 0 → primary (whatever its
// replication says: a writable server takes writes); read-only and
// replicating → replica; read-only and not replicating (a demoted primary
// not yet following anyone) → unknown.
Role RoleOf(const Observation& o);

// The primary of `members`: the one reachable kPrimary. nullopt when there
// is none, or when there are several (*split_brain set true).
std::optional<Endpoint> ResolvePrimary(const std::vector<Member>& members, bool* split_brain);

// Asks one server what it is. Called from that server's monitor thread only,
// so it may keep a connection between calls. UNAVAILABLE when it cannot.
using Probe = absl::AnyInvocable<absl::StatusOr<Observation>()>;
using ProbeFactory = std::function<Probe(const Endpoint&)>;

// Probes over txgate's own account (mysql::Connection), one connection per
// server kept open between checks; `base` gives the user, password and TLS
// (its host/port are replaced by the endpoint's); connect and read are
// bounded by `timeout`.
ProbeFactory MySqlProbes(const mysql::ConnectOptions& base, absl::Duration timeout);

struct MonitorOptions {
  // How often each server is checked (--topology_check_interval); 10ms at
  // least.
  absl::Duration check_interval = absl::Seconds(1);
};

class Monitor final : public Topology {
 public:
  // Starts one thread per endpoint; the first checks run at once.
  // `on_change` (may be empty) is called after each change of Primary(),
  // from a monitor thread, without the monitor's lock held.
  Monitor(std::vector<Endpoint> endpoints, MonitorOptions options, ProbeFactory probes,
          std::function<void(std::optional<Endpoint>)> on_change = nullptr);
  ~Monitor() override;  // Calls Stop().

  // Stops and joins the threads: no check and no on_change call after it
  // returns. Idempotent.
  void Stop();

  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  std::vector<Member> Members() const override;
  std::optional<Endpoint> Primary() const override;
  std::optional<Endpoint> WaitForPrimary(absl::Time deadline) override;
  void Recheck() override;

  // Re-checks every server now and waits until each has finished a check
  // begun after this call (and any primary change it found was told), or
  // until `deadline`. After a server refused a write as read-only, or a
  // connect to the primary failed.
  void RecheckAndWait(absl::Time deadline);

  // True while two or more servers report themselves writable.
  bool split_brain() const;
  // How many times the primary changed (including to and from none).
  int64_t primary_changes() const;

 private:
  void Check(size_t index);

  const std::vector<Endpoint> endpoints_;
  const absl::Duration interval_;
  const std::function<void(std::optional<Endpoint>)> on_change_;

  mutable Mutex mu_;
  CondVar changed_;
  std::vector<Member> members_ ABSL_GUARDED_BY(mu_);
  std::optional<Endpoint> primary_ ABSL_GUARDED_BY(mu_);
  bool split_brain_ ABSL_GUARDED_BY(mu_) = false;
  // Since when the current split was seen; whether it was logged.
  std::optional<absl::Time> split_since_ ABSL_GUARDED_BY(mu_);
  bool split_reported_ ABSL_GUARDED_BY(mu_) = false;
  int64_t primary_changes_ ABSL_GUARDED_BY(mu_) = 0;
  // Checks of each server begun and finished (a check is finished once
  // on_change_ was told what it found).
  std::vector<int64_t> begun_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> finished_ ABSL_GUARDED_BY(mu_);
  // Only server i's thread calls probes_[i].
  std::vector<Probe> probes_;
  std::vector<std::unique_ptr<PeriodicWorker>> workers_;  // started last
};

}  // namespace txgate::topology

#endif  // TXGATE_SERVER_TOPOLOGY_MONITOR_H_
