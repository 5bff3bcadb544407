// CallContext: one RPC's deadline and cancellation, as the runner sees them.
//
// The runner attaches the connection it is using while a statement may be
// running; Cancel() (from any thread, e.g. gRPC's OnCancel) marks the call
// cancelled and asks the StatementKiller to stop whatever runs on that
// connection. Detach waits for a KILL in flight for the attached
// connection (unless that connection is broken), so a KILL never reaches a
// connection that has gone back to the pool; no lock is held across the
// KILL's round trips, so a socket cut (InterruptAttached) never waits for
// a database that does not answer.
#ifndef TXGATE_SERVER_RUNNER_CALL_CONTEXT_H_
#define TXGATE_SERVER_RUNNER_CALL_CONTEXT_H_

#include <algorithm>
#include <atomic>
#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"
#include "server/db/connection.h"

namespace txgate::runner {

class StatementKiller;

class CallContext {
 public:
  explicit CallContext(absl::Time deadline) : deadline_(deadline) {}

  // When the call's time is up (InfiniteFuture: never). Whoever compares
  // it with "now" brings its own clock.
  absl::Time deadline() const { return deadline_; }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // Re-runs of the call's work after connection losses so far: the heal
  // budget (RetryOptions::max_heal_retries) spans every heal loop of the
  // call, nested ones (an interactive transaction's replay) included, and
  // for a Transaction stream the whole stream.
  int heals() const { return heals_.load(std::memory_order_relaxed); }
  void CountHeal() { heals_.fetch_add(1, std::memory_order_relaxed); }

  // The latest time to wait for a pooled connection: the deadline, or the
  // sooner time set by set_acquire_by() until a connection is attached.
  absl::Time acquire_deadline() const {
    MutexLock lock(&mu_);
    return std::min(deadline_, acquire_by_);
  }
  // Bounds the wait for the next connection (see above).
  void set_acquire_by(absl::Time t) {
    MutexLock lock(&mu_);
    acquire_by_ = t;
  }
  // The latest time to wait for a writable primary in the failover buffer
  // (--mysql_hosts): the deadline, or the sooner time set by
  // set_buffer_by() (shortly before it, so the caller hears why). Not
  // bounded by the acquire timeout: a failover takes what it takes.
  absl::Time buffer_deadline() const {
    MutexLock lock(&mu_);
    return std::min(deadline_, buffer_by_);
  }
  void set_buffer_by(absl::Time t) {
    MutexLock lock(&mu_);
    buffer_by_ = t;
  }

  // Cancels the call because the server is shutting down; true on the first
  // cancellation only. The call's answer then says so (UNAVAILABLE,
  // SERVER_SHUTTING_DOWN), not CANCELLED.
  bool CancelForShutdown() {
    shutting_down_.store(true, std::memory_order_release);
    return Cancel();
  }
  bool cancelled_for_shutdown() const { return shutting_down_.load(std::memory_order_acquire); }

  // Marks the call cancelled; true on the first call only.
  bool Cancel() {
    if (cancelled_.exchange(true, std::memory_order_acq_rel)) return false;
    return true;
  }

  // Publishes the connection a statement is about to run on.
  void Attach(db::Connection* conn) {
    MutexLock lock(&mu_);
    attached_ = conn;
    acquire_by_ = absl::InfiniteFuture();
  }

  // Withdraws it. While a KILL for it is in flight (BeginKill), waits for
  // that KILL to end so it cannot reach the connection's next user, unless
  // the connection is broken by then (a broken connection never goes back
  // to the pool, so the KILL can harm no one).
  void Detach() {
    MutexLock lock(&mu_);
    while (kills_ > 0 && attached_ != nullptr && !attached_->broken()) kill_done_.Wait(&mu_);
    attached_ = nullptr;
  }

  // Detach() unless a KILL for the attached connection is in flight (then
  // false, still attached): for a thread that must not wait.
  bool TryDetach() {
    MutexLock lock(&mu_);
    if (kills_ > 0 && attached_ != nullptr && !attached_->broken()) return false;
    attached_ = nullptr;
    return true;
  }

  // For the killer: the attached connection's identity (false if nothing
  // is attached) and a KILL in flight for it until EndKill(); no lock of
  // the context is held meanwhile.
  bool BeginKill(db::SessionIdentity* identity) {
    MutexLock lock(&mu_);
    if (attached_ == nullptr) return false;
    *identity = attached_->identity();
    ++kills_;
    return true;
  }
  void EndKill() {
    MutexLock lock(&mu_);
    --kills_;
    kill_done_.SignalAll();
  }

  // Shuts the attached connection's socket (if one is attached), so its
  // blocked statement returns with a connection-lost error; never blocks
  // on the network.
  void InterruptAttached() {
    MutexLock lock(&mu_);
    if (attached_ != nullptr) attached_->Interrupt();
    kill_done_.SignalAll();  // a Detach() waiting for a KILL may go now
  }

  // The killer that reaches the server this call's statements run on,
  // when that is not the one its service holds (a replica's: the replica
  // router sets it before the read runs there, and clears it when the
  // primary serves instead). Any thread may read it.
  void set_killer(StatementKiller* killer) { killer_.store(killer, std::memory_order_release); }
  StatementKiller* killer_or(StatementKiller* fallback) const {
    StatementKiller* k = killer_.load(std::memory_order_acquire);
    return k != nullptr ? k : fallback;
  }

  // True while a connection is attached.
  bool attached() {
    MutexLock lock(&mu_);
    return attached_ != nullptr;
  }

 private:
  const absl::Time deadline_;
  std::atomic<bool> cancelled_{false};
  std::atomic<StatementKiller*> killer_{nullptr};
  std::atomic<int> heals_{0};
  std::atomic<bool> shutting_down_{false};
  mutable Mutex mu_;
  CondVar kill_done_;
  db::Connection* attached_ ABSL_GUARDED_BY(mu_) = nullptr;
  int kills_ ABSL_GUARDED_BY(mu_) = 0;  // KILLs in flight (BeginKill)
  absl::Time acquire_by_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time buffer_by_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_CALL_CONTEXT_H_
