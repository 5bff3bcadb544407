// Sanitize(ServerOptions): the settings derived from others, and bad values
// corrected, in one place.
#include "gtest/gtest.h"
#include "server/service/server.h"

namespace txgate::service {
namespace {

TEST(SanitizeTest, DefaultsDeriveFromThePoolSize) {
  ServerOptions o;
  o.pool.max_size = 16;
  const ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.worker_threads, 20);
  EXPECT_EQ(s.service.max_open_transactions, 8);
}

TEST(SanitizeTest, TheStructDefaultsLeaveTheDerivedSettingsToSanitize) {
  const ServerOptions o;
  EXPECT_EQ(o.worker_threads, 0);
  EXPECT_EQ(o.service.max_open_transactions, 0);
  const ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.worker_threads, o.pool.max_size + 4);
  EXPECT_EQ(s.service.max_open_transactions, o.pool.max_size / 2);
}

TEST(SanitizeTest, OpenTransactionsAreHalfThePoolAtLeastOne) {
  ServerOptions o;
  o.pool.max_size = 7;
  EXPECT_EQ(Sanitize(o).service.max_open_transactions, 3);
  o.pool.max_size = 1;
  EXPECT_EQ(Sanitize(o).service.max_open_transactions, 1);
}

TEST(SanitizeTest, ExplicitValuesAreKept) {
  ServerOptions o;
  o.pool.max_size = 16;
  o.worker_threads = 3;
  o.service.max_open_transactions = 40;
  const ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.worker_threads, 3);
  EXPECT_EQ(s.service.max_open_transactions, 40);
}

TEST(SanitizeTest, NegativeValuesMeanDerived) {
  ServerOptions o;
  o.pool.max_size = 10;
  o.worker_threads = -1;
  o.service.max_open_transactions = -5;
  const ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.worker_threads, 14);
  EXPECT_EQ(s.service.max_open_transactions, 5);
}

TEST(SanitizeTest, BadPoolSizesAreClampedBeforeDeriving) {
  ServerOptions o;
  o.pool.max_size = 0;
  o.pool.min_idle = 5;
  const ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.pool.max_size, 1);
  EXPECT_EQ(s.pool.min_idle, 1);
  EXPECT_EQ(s.worker_threads, 5);
  EXPECT_EQ(s.service.max_open_transactions, 1);

  o.pool.max_size = 4;
  o.pool.min_idle = -2;
  EXPECT_EQ(Sanitize(o).pool.min_idle, 0);
}

TEST(SanitizeTest, TheReadOnlyPoolIsHalfThePoolAndCountsForWorkersWhenConfigured) {
  ServerOptions o;
  o.pool.max_size = 16;
  ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.ro_pool_max_size, 8);
  EXPECT_EQ(s.worker_threads, 20);  // no read-only account: no read-only pool
  o.mysql_ro_user = "txgate_ro";
  s = Sanitize(o);
  EXPECT_EQ(s.worker_threads, 16 + 8 + 4);
  o.pool.max_size = 1;
  EXPECT_EQ(Sanitize(o).ro_pool_max_size, 1);
  o.ro_pool_max_size = 3;
  EXPECT_EQ(Sanitize(o).ro_pool_max_size, 3);
}

TEST(SanitizeTest, PurgeBatchIsAtLeastOne) {
  ServerOptions o;
  o.outcomes.purge_batch = 0;
  EXPECT_EQ(Sanitize(o).outcomes.purge_batch, 1);
  o.outcomes.purge_batch = 500;
  EXPECT_EQ(Sanitize(o).outcomes.purge_batch, 500);
}

TEST(SanitizeTest, IsIdempotent) {
  ServerOptions o;
  o.pool.max_size = 0;
  o.worker_threads = -1;
  const ServerOptions once = Sanitize(o);
  const ServerOptions twice = Sanitize(once);
  EXPECT_EQ(twice.pool.max_size, once.pool.max_size);
  EXPECT_EQ(twice.pool.min_idle, once.pool.min_idle);
  EXPECT_EQ(twice.worker_threads, once.worker_threads);
  EXPECT_EQ(twice.service.max_open_transactions, once.service.max_open_transactions);
}

TEST(SanitizeTest, TheOutcomeTableIsNamedWithItsSchema) {
  ServerOptions o;
  o.mysql.database = "app`db";
  o.outcomes.table = "txgate_outcomes";
  EXPECT_EQ(Sanitize(o).outcomes.table, "`app``db`.`txgate_outcomes`");
  o.outcomes.table = "ops.outcomes";  // already qualified: kept
  EXPECT_EQ(Sanitize(o).outcomes.table, "ops.outcomes");
  o.mysql.database = "";
  o.outcomes.table = "txgate_outcomes";
  EXPECT_EQ(Sanitize(o).outcomes.table, "txgate_outcomes");
}

// The connection defaults accept a client pinging every 10 s (issue 15):
// only pings closer than that are strikes, with or without calls.
TEST(SanitizeTest, ConnectionDefaultsAcceptTenSecondPingsAndNeverCutACallByAge) {
  const ServerOptions s = Sanitize(ServerOptions());
  EXPECT_LT(s.connections.min_client_ping_interval, absl::Seconds(10));
  EXPECT_EQ(s.connections.max_connection_age_grace, absl::InfiniteDuration());
  EXPECT_GT(s.connections.max_connection_age, absl::ZeroDuration());
  EXPECT_LE(s.connections.max_connection_age, absl::Minutes(5));
}

TEST(SanitizeTest, AKeepaliveTimeoutOfZeroTakesItsDefault) {
  ServerOptions o;
  o.connections.keepalive_timeout = absl::ZeroDuration();
  EXPECT_EQ(Sanitize(o).connections.keepalive_timeout, absl::Seconds(10));
}

}  // namespace
TEST(SanitizeTest, AdmissionBoundsFollowThePoolAndTheRequestSize) {
  ServerOptions o;
  o.pool.acquire_timeout = absl::Seconds(7);
  o.max_request_bytes = 100 << 20;
  o.service.max_inflight_request_bytes = 10 << 20;
  const ServerOptions s = Sanitize(o);
  EXPECT_EQ(s.service.acquire_timeout, absl::Seconds(7));
  // A legal request must be able to run alone.
  EXPECT_EQ(s.service.max_inflight_request_bytes, int64_t{100} << 20);
  o.service.max_inflight_request_bytes = int64_t{200} << 20;
  EXPECT_EQ(Sanitize(o).service.max_inflight_request_bytes, int64_t{200} << 20);
}

}  // namespace txgate::service
