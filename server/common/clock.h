// Clock: time as the transaction runner sees it, passed in so that tests
// drive it (style.md: no globals; the clock is injected).
//
// RealClock is absl's wall clock; a test's clock can advance on SleepFor
// instead of waiting, so backoff and deadlines are tested without sleeps.
#ifndef TXGATE_SERVER_COMMON_CLOCK_H_
#define TXGATE_SERVER_COMMON_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace txgate {

class Clock {
 public:
  virtual ~Clock() = default;
  // The current time.
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread for `d` (a test clock may just advance).
  virtual void SleepFor(absl::Duration d) = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
};

}  // namespace txgate

#endif  // TXGATE_SERVER_COMMON_CLOCK_H_
