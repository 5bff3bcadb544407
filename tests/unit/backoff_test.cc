// Backoff: the reconnect delay after the n-th consecutive failure is a random
// point in [d/2, d] with d = min(initial * multiplier^(n-1), max). The random
// source is injected, so a seeded generator makes every run the same.
#include "server/pool/backoff.h"

#include <algorithm>
#include <random>
#include <vector>

#include "absl/random/random.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace txgate::pool {
namespace {

BackoffOptions Options(absl::Duration initial, absl::Duration max, double multiplier) {
  BackoffOptions o;
  o.initial = initial;
  o.max = max;
  o.multiplier = multiplier;
  return o;
}

absl::BitGen Seeded(unsigned seed) {
  std::seed_seq seq{seed};
  return absl::BitGen(seq);
}

TEST(Backoff, DefaultsSuitAReconnectLoop) {
  const BackoffOptions o;
  EXPECT_EQ(o.initial, absl::Milliseconds(50));
  EXPECT_EQ(o.max, absl::Seconds(2));
  EXPECT_EQ(o.multiplier, 2.0);
}

TEST(Backoff, GrowsExponentiallyWithinJitterBoundsUpToTheCap) {
  for (unsigned seed = 0; seed < 50; ++seed) {
    absl::BitGen gen = Seeded(seed);
    Backoff backoff(Options(absl::Milliseconds(10), absl::Seconds(1), 2.0), gen);
    absl::Duration ceiling = absl::Milliseconds(10);
    for (int n = 1; n <= 12; ++n) {
      const absl::Duration d = backoff.Next();
      EXPECT_EQ(backoff.failures(), n);
      EXPECT_GE(d, ceiling / 2) << "seed " << seed << " failure " << n;
      EXPECT_LE(d, ceiling) << "seed " << seed << " failure " << n;
      ceiling = std::min(ceiling * 2, absl::Seconds(1));
    }
  }
}

TEST(Backoff, CapHoldsAfterVeryManyFailures) {
  absl::BitGen gen = Seeded(7);
  Backoff backoff(Options(absl::Milliseconds(50), absl::Seconds(2), 2.0), gen);
  for (int n = 1; n < 7; ++n) backoff.Next();  // 50ms * 2^6 > 2s: capped from here on
  for (int n = 7; n <= 1000; ++n) {
    const absl::Duration d = backoff.Next();
    ASSERT_GE(d, absl::Seconds(1)) << n;
    ASSERT_LE(d, absl::Seconds(2)) << n;
  }
}

TEST(Backoff, OtherMultipliers) {
  absl::BitGen gen = Seeded(3);
  Backoff triple(Options(absl::Milliseconds(100), absl::Minutes(1), 3.0), gen);
  triple.Next();
  triple.Next();
  const absl::Duration third = triple.Next();  // ceiling 900ms
  EXPECT_GE(third, absl::Milliseconds(450));
  EXPECT_LE(third, absl::Milliseconds(900));

  Backoff constant(Options(absl::Milliseconds(100), absl::Minutes(1), 1.0), gen);
  for (int n = 0; n < 20; ++n) {
    const absl::Duration d = constant.Next();
    EXPECT_GE(d, absl::Milliseconds(50));
    EXPECT_LE(d, absl::Milliseconds(100));
  }
}

TEST(Backoff, JitterSpreadsDelaysAcrossTheWholeRange) {
  // Many replicas failing together must not retry in lockstep.
  absl::BitGen gen = Seeded(11);
  absl::Duration lo = absl::InfiniteDuration();
  absl::Duration hi = absl::ZeroDuration();
  for (int i = 0; i < 200; ++i) {
    Backoff backoff(Options(absl::Milliseconds(100), absl::Seconds(2), 2.0), gen);
    const absl::Duration d = backoff.Next();
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, absl::Milliseconds(60));
  EXPECT_GT(hi, absl::Milliseconds(90));
}

TEST(Backoff, DelaysComeFromTheInjectedGenerator) {
  absl::BitGen gen1 = Seeded(42);
  absl::BitGen gen2 = Seeded(42);
  Backoff a(BackoffOptions(), gen1);
  Backoff b(BackoffOptions(), gen2);
  for (int n = 0; n < 10; ++n) EXPECT_EQ(a.Next(), b.Next()) << n;
}

TEST(Backoff, ResetStartsOver) {
  absl::BitGen gen = Seeded(5);
  Backoff backoff(Options(absl::Milliseconds(10), absl::Seconds(10), 2.0), gen);
  for (int n = 0; n < 8; ++n) backoff.Next();
  EXPECT_EQ(backoff.failures(), 8);
  EXPECT_GE(backoff.Next(), absl::Milliseconds(1280));  // 9th: ceiling 2.56s

  backoff.Reset();
  EXPECT_EQ(backoff.failures(), 0);
  const absl::Duration d = backoff.Next();
  EXPECT_EQ(backoff.failures(), 1);
  EXPECT_GE(d, absl::Milliseconds(5));
  EXPECT_LE(d, absl::Milliseconds(10));
}

}  // namespace
}  // namespace txgate::pool
