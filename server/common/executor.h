// Executor: a fixed set of named worker threads that run blocking work.
//
// gRPC's callback threads must never block, so every MySQL call is handed to
// an Executor. Tasks run in FIFO order; Shutdown() runs every queued task and
// joins the threads. Thread-safe.
#ifndef TXGATE_SERVER_COMMON_EXECUTOR_H_
#define TXGATE_SERVER_COMMON_EXECUTOR_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "server/common/mutex.h"

namespace txgate {

class Executor {
 public:
  // Starts `threads` workers named `name` (visible in top/gdb).
  Executor(std::string name, int threads);
  ~Executor();  // Calls Shutdown().

  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. After Shutdown() the task runs on the caller's thread.
  void Submit(absl::AnyInvocable<void() &&> task);

  // Drains the queue and joins the workers. Idempotent.
  void Shutdown();

 private:
  void Work();

  Mutex mu_;
  CondVar work_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_EXECUTOR_H_
