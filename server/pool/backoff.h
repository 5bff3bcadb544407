// Backoff: exponential reconnect delays with jitter and a cap.
//
// The n-th consecutive failure waits a random delay in [d/2, d], where
// d = min(initial * multiplier^(n-1), max). Jitter spreads reconnects of many
// callers and many txgate replicas so a recovering database is not hit by a
// stampede. Not thread-safe; the pool guards it.
#ifndef TXGATE_SERVER_POOL_BACKOFF_H_
#define TXGATE_SERVER_POOL_BACKOFF_H_

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"

namespace txgate::pool {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(50);
  absl::Duration max = absl::Seconds(2);
  double multiplier = 2.0;
};

class Backoff {
 public:
  Backoff(BackoffOptions options, absl::BitGenRef random);

  // The delay before the next attempt; each call counts one more failure.
  absl::Duration Next();

  // Forgets earlier failures (after a success).
  void Reset() { failures_ = 0; }

  int failures() const { return failures_; }

 private:
  BackoffOptions options_;
  absl::BitGenRef random_;
  int failures_ = 0;
};

}  // namespace txgate::pool

#endif  // TXGATE_SERVER_POOL_BACKOFF_H_
