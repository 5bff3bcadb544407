#include "server/common/executor.h"

#include <pthread.h>

#include <utility>

namespace txgate {

Executor::Executor(std::string name, int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Work(); });
    // Linux limits thread names to 15 characters.
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
}

Executor::~Executor() { Shutdown(); }

void Executor::Submit(absl::AnyInvocable<void() &&> task) {
  {
    MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(task));
      work_.Signal();
      return;
    }
  }
  std::move(task)();
}

void Executor::Shutdown() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    work_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void Executor::Work() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) work_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace txgate
