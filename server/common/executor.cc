#include "server/common/executor.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace txgate {

Executor::Executor(std::string name, int threads) : name_(std::move(name)) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Work(); });
    // Linux limits thread names to 15 characters.
    pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

Executor::~Executor() { Shutdown(); }

void Executor::Submit(Task task) {
  {
    MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Entry{std::move(task), absl::InfiniteFuture(), nullptr});
      work_.Signal();
      return;
    }
  }
  std::move(task)();
}

bool Executor::TrySubmit(Task task, size_t max_queued, absl::Time expire_at, Task expired) {
  {
    MutexLock lock(&mu_);
    if (!stopping_) {
      if (queue_.size() >= max_queued) return false;
      queue_.push_back(Entry{std::move(task), expire_at, std::move(expired)});
      work_.Signal();
      if (expire_at != absl::InfiniteFuture()) {
        if (!timer_thread_.joinable()) {
          timer_thread_ = std::thread([this] { Expire(); });
          pthread_setname_np(timer_thread_.native_handle(), (name_.substr(0, 11) + "-exp").c_str());
        }
        timer_.Signal();
      }
      return true;
    }
  }
  std::move(task)();
  return true;
}

size_t Executor::queued() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

void Executor::Shutdown() {
  std::thread timer;
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    work_.SignalAll();
    timer_.SignalAll();
    timer.swap(timer_thread_);
  }
  if (timer.joinable()) timer.join();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void Executor::Work() {
  for (;;) {
    Task task;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) work_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front().task);
      queue_.pop_front();
    }
    std::move(task)();
  }
}

void Executor::Expire() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    std::vector<Task> due;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->expire_at <= now) {
        if (it->expired) due.push_back(std::move(it->expired));
        it = queue_.erase(it);
      } else {
        next = std::min(next, it->expire_at);
        ++it;
      }
    }
    if (!due.empty()) {
      mu_.Unlock();
      for (Task& t : due) std::move(t)();
      due.clear();
      mu_.Lock();
      continue;  // the queue changed meanwhile
    }
    timer_.WaitWithDeadline(&mu_, next);
  }
}

}  // namespace txgate
