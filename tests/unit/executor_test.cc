// Executor: FIFO work on named threads, and the admission bounds of
// TrySubmit (a bounded queue, and expiry of tasks that waited too long).
#include "server/common/executor.h"

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace txgate {
namespace {

TEST(ExecutorTest, RefusesBeyondTheQueueBound) {
  Executor executor("test", 1);
  absl::Notification release, started;
  executor.Submit([&] {
    started.Notify();
    release.WaitForNotification();
  });
  started.WaitForNotification();  // the one worker is busy
  int ran = 0;
  EXPECT_TRUE(executor.TrySubmit([&] { ++ran; }, 2, absl::InfiniteFuture(), nullptr));
  EXPECT_TRUE(executor.TrySubmit([&] { ++ran; }, 2, absl::InfiniteFuture(), nullptr));
  EXPECT_FALSE(executor.TrySubmit([&] { ++ran; }, 2, absl::InfiniteFuture(), nullptr));
  EXPECT_EQ(executor.queued(), 2u);
  release.Notify();
  executor.Shutdown();
  EXPECT_EQ(ran, 2);
}

TEST(ExecutorTest, AQueuedTaskPastItsExpiryRunsItsExpiredCallbackInstead) {
  Executor executor("test", 1);
  absl::Notification release, started, expired;
  executor.Submit([&] {
    started.Notify();
    release.WaitForNotification();
  });
  started.WaitForNotification();
  bool ran = false;
  ASSERT_TRUE(executor.TrySubmit([&] { ran = true; }, 10, absl::Now() + absl::Milliseconds(20),
                                 [&] { expired.Notify(); }));
  // Answered while the only worker is still busy.
  EXPECT_TRUE(expired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(executor.queued(), 0u);
  release.Notify();
  executor.Shutdown();
  EXPECT_FALSE(ran);
}

TEST(ExecutorTest, ATaskTakenInTimeDoesNotExpire) {
  Executor executor("test", 1);
  absl::Notification done;
  bool expired = false;
  ASSERT_TRUE(executor.TrySubmit([&] { done.Notify(); }, 10, absl::Now() + absl::Seconds(30),
                                 [&] { expired = true; }));
  done.WaitForNotification();
  executor.Shutdown();
  EXPECT_FALSE(expired);
}

}  // namespace
}  // namespace txgate
