// PeriodicWorker: one named thread that runs a function every interval.
//
// The background loops of txgate (pool maintenance, the idle-transaction
// watchdog, the outcome purge) are all "run this every so often, sooner when
// asked, until stopped"; this is that loop, written once. The function runs
// first after one interval (or at once after Wake()), never concurrently
// with itself, and without any lock of the worker held. Thread-safe.
#ifndef TXGATE_SERVER_COMMON_PERIODIC_WORKER_H_
#define TXGATE_SERVER_COMMON_PERIODIC_WORKER_H_

#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "server/common/mutex.h"

namespace txgate {

class PeriodicWorker {
 public:
  // Starts a thread named `name` (Linux keeps 15 characters) that calls
  // `fn` every `interval` (at least 1ms) until Stop().
  PeriodicWorker(std::string name, absl::Duration interval, absl::AnyInvocable<void()> fn);
  ~PeriodicWorker();  // Calls Stop().

  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  // Runs `fn` as soon as the thread is free (once, however many wakes
  // arrive meanwhile), then waits a whole interval again.
  void Wake();

  // Lets a running `fn` finish, then ends and joins the thread. Idempotent.
  // Must not be called from `fn`.
  void Stop();

  // How many times `fn` has returned (for tests).
  int64_t runs() const;

 private:
  void Loop();

  const absl::Duration interval_;
  absl::AnyInvocable<void()> fn_;  // only the thread calls it

  mutable Mutex mu_;
  CondVar cv_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t runs_ ABSL_GUARDED_BY(mu_) = 0;
  // Started last in the constructor, joined by Stop(); only the owner
  // touches it.
  std::thread thread_;
};

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_PERIODIC_WORKER_H_
