// Executor: a fixed set of named worker threads that run blocking work.
//
// gRPC's callback threads must never block, so every blocking MySQL call is
// handed to an Executor (Execute's inline fast path runs non-blocking steps
// on the gRPC thread for a bounded wait: TransactionRunner::ExecuteInline). Tasks run in FIFO
// order; Shutdown() runs every queued task and joins the threads. Thread-safe.
//
// New calls enter through TrySubmit(), which is how txgate bounds what waits
// for a worker: it refuses a task when too many wait already, and a task
// still waiting at its expiry is dropped for its `expired` callback, run on
// the executor's timer thread (started with the first such task). So a call
// never waits for a worker longer than its caller allows.
#ifndef TXGATE_SERVER_COMMON_EXECUTOR_H_
#define TXGATE_SERVER_COMMON_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"

namespace txgate {

class Executor {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  // Starts `threads` workers named `name` (visible in top/gdb).
  Executor(std::string name, int threads);
  ~Executor();  // Calls Shutdown().

  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. After Shutdown() the task runs on the caller's thread.
  void Submit(Task task);

  // Queues `task` unless `max_queued` tasks or more wait for a worker
  // already: then returns false and `task` and `expired` are destroyed
  // unrun. If `task` still waits at `expire_at`, it is dropped (destroyed
  // unrun) and `expired` runs instead, on the timer thread: it must not
  // block. After Shutdown(), `task` runs on the caller's thread.
  bool TrySubmit(Task task, size_t max_queued, absl::Time expire_at, Task expired);

  // Tasks waiting for a worker now.
  size_t queued() const;

  // Drains the queue and joins the workers. Idempotent.
  void Shutdown();

 private:
  struct Entry {
    Task task;
    absl::Time expire_at = absl::InfiniteFuture();
    Task expired;  // may be empty
  };

  void Work();
  // The timer thread: runs `expired` of the entries past their expiry.
  void Expire();

  mutable Mutex mu_;
  CondVar work_;
  CondVar timer_;  // signalled when an entry with an expiry is queued
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
  std::thread timer_thread_ ABSL_GUARDED_BY(mu_);
  const std::string name_;
};

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_EXECUTOR_H_
