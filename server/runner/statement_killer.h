// StatementKiller: stops statements of cancelled or expired calls.
//
// Kill() runs on the killer's own thread: it sends KILL QUERY for the call's
// attached connection from a side connection — once the process list
// proves the thread id still names that connection's session
// (db::KillIfSameSession) — then, if the statement still
// has not returned after a grace period (the database or the network is not
// answering), shuts the connection's socket down so the blocked call
// returns at once with a connection-lost error. The side connection is
// opened on first use and reopened after a failure. Its factory should
// connect as the same account as the connections it kills: an account may
// always KILL its own sessions, so no PROCESS or CONNECTION ADMIN privilege
// is needed (and with neither, the process list shows only its own).
#ifndef TXGATE_SERVER_RUNNER_STATEMENT_KILLER_H_
#define TXGATE_SERVER_RUNNER_STATEMENT_KILLER_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/executor.h"
#include "server/common/mutex.h"
#include "server/db/connection.h"
#include "server/runner/call_context.h"

namespace txgate::runner {

class StatementKiller {
 public:
  // Opens the side connection that sends KILL.
  using Factory = db::ConnectionFactory;

  StatementKiller(Factory factory, absl::Duration grace);
  ~StatementKiller();

  // Stops whatever runs for `ctx`; returns at once. `ctx` must stay alive
  // until the statement it runs has returned (the runner guarantees it by
  // holding a shared_ptr).
  void Kill(std::shared_ptr<CallContext> ctx);

 private:
  void KillNow(CallContext& ctx);

  Factory factory_;
  absl::Duration grace_;
  Mutex mu_;
  std::unique_ptr<db::Connection> side_ ABSL_GUARDED_BY(mu_);
  Executor executor_;  // last: its threads stop before the fields above go
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_STATEMENT_KILLER_H_
