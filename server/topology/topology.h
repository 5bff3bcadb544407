// Topology: which of the database servers txgate was given (--mysql_hosts)
// is the writable primary and which are replicas, as the servers themselves
// report it (@@read_only, replication status), re-checked periodically and
// after every connection loss. txgate never promotes a server: an operator
// or a tool fails over, txgate follows. README, "Replication and failover".
//
// This header is the interface the primary's pool (failover) and the
// replica read routing share; server/topology/topology.cc implements the
// parsing and the monitor.
#ifndef TXGATE_SERVER_TOPOLOGY_TOPOLOGY_H_
#define TXGATE_SERVER_TOPOLOGY_TOPOLOGY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace txgate::topology {

// One database server's address.
struct Endpoint {
  std::string host;
  int port = 3306;

  // "host:port" ("[v6]:port" for an IPv6 literal).
  std::string ToString() const;
  bool operator==(const Endpoint& o) const { return host == o.host && port == o.port; }
  bool operator!=(const Endpoint& o) const { return !(*this == o); }
};

// Parses a comma-separated list of "host[:port]" (port 3306 when absent;
// "[v6]" or "[v6]:port" for IPv6 literals). INVALID_ARGUMENT naming the bad
// entry for an empty list, an empty entry, a bad port or a duplicate.
absl::StatusOr<std::vector<Endpoint>> ParseEndpoints(absl::string_view list);

enum class Role {
  kUnknown,  // not reachable, or not checked yet
  kPrimary,  // writable: @@read_only = 0
  kReplica,  // read-only and replicating from another server
};

// What the last check of one server found.
struct Member {
  Endpoint endpoint;
  Role role = Role::kUnknown;
  bool reachable = false;
  // A replica's lag behind its primary as it reports it
  // (Seconds_Behind_Master); nullopt when unknown (replication stopped or
  // broken, or not a replica).
  std::optional<absl::Duration> lag;
  // When this was checked.
  absl::Time checked;
};

// The current view of the servers; thread-safe.
class Topology {
 public:
  virtual ~Topology() = default;

  // A snapshot of every server, in --mysql_hosts order.
  virtual std::vector<Member> Members() const = 0;

  // The writable primary, if one is known now.
  virtual std::optional<Endpoint> Primary() const = 0;

  // Waits until a writable primary is known or `deadline` passes (nullopt).
  virtual std::optional<Endpoint> WaitForPrimary(absl::Time deadline) = 0;

  // Asks for a re-check of every server soon (after a connection loss, or a
  // server that refused a write as read-only); does not wait for it.
  virtual void Recheck() = 0;
};

}  // namespace txgate::topology

#endif  // TXGATE_SERVER_TOPOLOGY_TOPOLOGY_H_
