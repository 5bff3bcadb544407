// CallContext: one RPC's deadline and cancellation, as the runner sees them.
//
// The runner attaches the connection it is using while a statement may be
// running; Cancel() (from any thread, e.g. gRPC's OnCancel) marks the call
// cancelled and asks the StatementKiller to stop whatever runs on that
// connection. Attach/Detach and the killer's work on the attached
// connection exclude each other, so a kill never reaches a connection that
// has gone back to the pool.
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

  // Withdraws it; waits while a kill is working on it.
  void Detach() {
    MutexLock lock(&mu_);
    attached_ = nullptr;
    detached_.SignalAll();
  }

  // Runs `fn` on the attached connection (or nullptr) under the lock; the
  // connection cannot be detached meanwhile.
  template <typename Fn>
  void WithAttached(Fn&& fn) {
    MutexLock lock(&mu_);
    fn(attached_);
  }

  // Waits until nothing is attached or `timeout` passes; true if detached.
  bool AwaitDetached(absl::Duration timeout) {
    const absl::Time end = absl::Now() + timeout;
    MutexLock lock(&mu_);
    while (attached_ != nullptr) {
      if (detached_.WaitWithDeadline(&mu_, end)) return attached_ == nullptr;
    }
    return true;
  }

 private:
  const absl::Time deadline_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int> heals_{0};
  std::atomic<bool> shutting_down_{false};
  mutable Mutex mu_;
  CondVar detached_;
  db::Connection* attached_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time acquire_by_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_CALL_CONTEXT_H_
