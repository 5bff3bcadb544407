// StatementKiller: stops statements of cancelled or expired calls.
//
// Kill() returns at once and starts two things. A sender thread sends KILL
// QUERY for the call's attached connection from a side connection — once
// the process list proves the thread id still names that connection's
// session (db::KillIfSameSession). Independently, a cutter thread shuts the
// attached connection's socket down if the statement still has not returned
// `timeout` after Kill() (the database or the network is not answering), so
// the blocked call returns at once with a connection-lost error. The cut
// never waits for the KILL: on a hung server the KILL itself hangs.
//
// The side connection is opened on first use and reopened after a failure.
// Its factory must bound every round trip by about `timeout` (connect, read
// and write timeouts of its own, not the pool's minutes-long read timeout),
// so a hung server only delays later KILLs by that much. It should connect
// as the same account as the connections it kills: an account may always
// KILL its own sessions, so no PROCESS or CONNECTION ADMIN privilege is
// needed (and with neither, the process list shows only its own).
#ifndef TXGATE_SERVER_RUNNER_STATEMENT_KILLER_H_
#define TXGATE_SERVER_RUNNER_STATEMENT_KILLER_H_

#include <map>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "server/common/executor.h"
#include "server/common/mutex.h"
#include "server/common/periodic_worker.h"
#include "server/db/connection.h"
#include "server/runner/call_context.h"

namespace txgate::runner {

class StatementKiller {
 public:
  // Opens the side connection that sends KILL; called with `timeout`.
  using Factory = db::ConnectionFactory;

  // `timeout`: how long the server has to stop a statement before its
  // socket is cut, and the connect timeout of the side connection.
  StatementKiller(Factory factory, absl::Duration timeout);
  ~StatementKiller();

  // Stops whatever runs for `ctx`; returns at once. `ctx` must stay alive
  // until the statement it runs has returned (the runner guarantees it by
  // holding a shared_ptr).
  void Kill(std::shared_ptr<CallContext> ctx);

  // Stops whatever runs for `ctx` before returning: KILL QUERY is sent
  // from the calling thread (each round trip bounded by `timeout`; a few
  // of them at most on a server that does not answer), and the cutter cuts
  // the socket if the statement is still attached `timeout` from now. For
  // a caller about to give up a connection whose statement still runs (a
  // stream cut short), which Kill() could miss: its KILL is looked up
  // only when the sender thread gets to it, by when the connection may be
  // detached.
  void KillNow(std::shared_ptr<CallContext> ctx);

 private:
  void SendKill(CallContext& ctx);  // on the sender thread
  void CutOverdue();                // on the cutter thread

  const Factory factory_;
  const absl::Duration timeout_;

  // Held by the sender across its round trips; nothing on a call's path
  // waits for it.
  Mutex side_mu_;
  std::unique_ptr<db::Connection> side_ ABSL_GUARDED_BY(side_mu_);

  Mutex due_mu_;
  // Calls whose statement is cut if still attached at the key's time.
  std::multimap<absl::Time, std::shared_ptr<CallContext>> due_ ABSL_GUARDED_BY(due_mu_);

  // Last: their threads stop before the fields above go.
  std::optional<PeriodicWorker> cutter_;
  Executor sender_;
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_STATEMENT_KILLER_H_
