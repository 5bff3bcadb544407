// PeriodicWorker: runs its function every interval, at once when woken,
// never concurrently with itself, and not after Stop(). Also runs under
// ThreadSanitizer (label "pool"). Nothing sleeps to synchronise: conditions
// are awaited.
#include "server/common/periodic_worker.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace txgate {
namespace {

// Polls `condition` until it holds or `timeout` passes; whether it held.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

TEST(PeriodicWorkerTest, RunsEveryInterval) {
  std::atomic<int> runs{0};
  PeriodicWorker worker("test-periodic", absl::Milliseconds(1), [&] { ++runs; });
  EXPECT_TRUE(Eventually([&] { return runs >= 3; }));
  EXPECT_TRUE(Eventually([&] { return worker.runs() >= 3; }));
}

TEST(PeriodicWorkerTest, WaitsAnIntervalBeforeTheFirstRun) {
  std::atomic<int> runs{0};
  const absl::Time start = absl::Now();
  PeriodicWorker worker("test-periodic", absl::Hours(1), [&] { ++runs; });
  worker.Stop();
  EXPECT_EQ(runs, 0);
  EXPECT_LT(absl::Now() - start, absl::Minutes(1)) << "Stop() waited for the interval";
}

TEST(PeriodicWorkerTest, WakeRunsAtOnce) {
  std::atomic<int> runs{0};
  PeriodicWorker worker("test-periodic", absl::Hours(1), [&] { ++runs; });
  worker.Wake();
  EXPECT_TRUE(Eventually([&] { return runs == 1; }));
  worker.Wake();
  EXPECT_TRUE(Eventually([&] { return runs == 2; }));
  worker.Stop();
  EXPECT_EQ(runs, 2);
}

TEST(PeriodicWorkerTest, WakesDuringARunCollapseIntoOneMoreRun) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> runs{0};
  PeriodicWorker worker("test-periodic", absl::Hours(1), [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++runs;
    cv.wait(lock, [&] { return release; });
  });
  worker.Wake();
  ASSERT_TRUE(Eventually([&] { return runs == 1; }));
  // Three wakes while the first run is blocked.
  worker.Wake();
  worker.Wake();
  worker.Wake();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(Eventually([&] { return worker.runs() == 2; }));
  worker.Stop();
  EXPECT_EQ(runs, 2);
}

TEST(PeriodicWorkerTest, NeverRunsConcurrentlyWithItself) {
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> runs{0};
  PeriodicWorker worker("test-periodic", absl::Milliseconds(1), [&] {
    if (++inside > 1) ++overlaps;
    ++runs;
    --inside;
  });
  for (int i = 0; i < 100; ++i) worker.Wake();
  ASSERT_TRUE(Eventually([&] { return runs >= 20; }));
  worker.Stop();
  EXPECT_EQ(overlaps, 0);
}

TEST(PeriodicWorkerTest, StopLetsARunningCallFinishAndNoneStartsAfter) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> running{false};
  std::atomic<int> runs{0};
  PeriodicWorker worker("test-periodic", absl::Milliseconds(1), [&] {
    running = true;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    ++runs;
  });
  ASSERT_TRUE(Eventually([&] { return running.load(); }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    worker.Stop();
    stopped = true;
  });
  // Stop() waits for the blocked call.
  EXPECT_FALSE(Eventually([&] { return stopped.load(); }, absl::Milliseconds(50)));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  EXPECT_TRUE(stopped);
  const int after_stop = runs;
  worker.Wake();
  worker.Stop();  // idempotent
  EXPECT_EQ(runs, after_stop);
}

}  // namespace
}  // namespace txgate
