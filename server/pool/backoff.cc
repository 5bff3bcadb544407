#include "server/pool/backoff.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"

namespace txgate::pool {

Backoff::Backoff(BackoffOptions options, absl::BitGenRef random)
    : options_(options), random_(random) {}

absl::Duration Backoff::Next() {
  ++failures_;
  const double scale = std::pow(options_.multiplier, std::min(failures_ - 1, 62));
  const absl::Duration ceiling = std::min(options_.initial * scale, options_.max);
  const double fraction = absl::Uniform(random_, 0.5, 1.0);
  return ceiling * fraction;
}

}  // namespace txgate::pool
