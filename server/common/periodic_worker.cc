#include "server/common/periodic_worker.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace txgate {

PeriodicWorker::PeriodicWorker(std::string name, absl::Duration interval,
                               absl::AnyInvocable<void()> fn)
    : interval_(std::max(interval, absl::Milliseconds(1))), fn_(std::move(fn)) {
  thread_ = std::thread([this] { Loop(); });
  pthread_setname_np(thread_.native_handle(), name.substr(0, 15).c_str());
}

PeriodicWorker::~PeriodicWorker() { Stop(); }

void PeriodicWorker::Wake() {
  MutexLock lock(&mu_);
  woken_ = true;
  cv_.SignalAll();
}

void PeriodicWorker::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) {
      // Another caller stopped it, or is joining now; join is not
      // thread-safe, so only the first caller joins.
      return;
    }
    stopping_ = true;
    cv_.SignalAll();
  }
  thread_.join();
}

int64_t PeriodicWorker::runs() const {
  MutexLock lock(&mu_);
  return runs_;
}

void PeriodicWorker::Loop() {
  MutexLock lock(&mu_);
  for (;;) {
    const absl::Time due = absl::Now() + interval_;
    while (!stopping_ && !woken_ && absl::Now() < due) cv_.WaitWithDeadline(&mu_, due);
    if (stopping_) return;
    woken_ = false;
    mu_.Unlock();
    fn_();
    mu_.Lock();
    ++runs_;
  }
}

}  // namespace txgate
