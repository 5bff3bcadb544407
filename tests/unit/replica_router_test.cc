// ReplicaRouter (server/service/replica_router.h) over a scripted topology and
// the fake database: which replica a read may go to (role, reachability,
// lag within the bound, the request's max_staleness_ms over the default),
// round robin, the routing default, the GTID wait's three outcomes, and
// which failures of a replica attempt are re-run on the primary.
#include "server/service/replica_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/sql/error.h"
#include "tests/unit/fake_database.h"

namespace txgate::service {
namespace {

using topology::Endpoint;
using topology::Member;
using topology::Role;

class ScriptedTopology final : public topology::Topology {
 public:
  std::vector<Member> members;
  std::vector<Member> Members() const override { return members; }
  std::optional<Endpoint> Primary() const override { return Endpoint{"primary", 1}; }
  std::optional<Endpoint> WaitForPrimary(absl::Time) override { return Primary(); }
  void Recheck() override {}
};

Member Replica(int port, std::optional<absl::Duration> lag, bool reachable = true) {
  Member m;
  m.endpoint = {"127.0.0.1", port};
  m.role = Role::kReplica;
  m.reachable = reachable;
  m.lag = lag;
  return m;
}

class ReplicaRouterTest : public ::testing::Test {
 protected:
  ReplicaRouterTest() {
    Member primary;
    primary.endpoint = {"127.0.0.1", 1};
    primary.role = Role::kPrimary;
    primary.reachable = true;
    topology_.members = {primary};
  }

  std::unique_ptr<ReplicaRouter> Router(
      txgate::v1::ReadRouting default_routing = txgate::v1::READ_ROUTING_REPLICA) {
    ReplicaRoutingOptions o;
    o.default_routing = default_routing;
    o.max_lag = absl::Seconds(5);
    o.causal_read_timeout = absl::Seconds(1);
    o.pool.connect_timeout = absl::Seconds(1);
    o.pool.acquire_timeout = absl::Seconds(1);
    return std::make_unique<ReplicaRouter>(
        &topology_, o,
        [this](const Endpoint& e) {
          return databases_.try_emplace(e.port).first->second.Factory();
        },
        &clock_);
  }

  static txgate::v1::ReadOptions Read(txgate::v1::ReadRouting routing, uint32_t staleness_ms = 0,
                                      const std::string& token = "") {
    txgate::v1::ReadOptions r;
    r.set_routing(routing);
    r.set_max_staleness_ms(staleness_ms);
    r.set_causality_token(token);
    return r;
  }

  ScriptedTopology topology_;
  std::map<int, testing::FakeDatabase> databases_;
  testing::TestClock clock_;
};

TEST_F(ReplicaRouterTest, OnlyReachableReplicasWithinTheLagBoundQualify) {
  auto router = Router();
  runner::CallContext ctx(absl::InfiniteFuture());
  const auto replica = txgate::v1::READ_ROUTING_REPLICA;
  // None: the primary.
  EXPECT_EQ(router->Route(ctx, Read(replica)), nullptr);
  topology_.members.push_back(Replica(2, std::nullopt));             // lag unknown
  topology_.members.push_back(Replica(3, absl::Seconds(6)));         // too far behind
  topology_.members.push_back(Replica(4, absl::Seconds(1), false));  // unreachable
  EXPECT_EQ(router->Route(ctx, Read(replica)), nullptr);
  EXPECT_EQ(router->stats().no_replica, 2);
  // A request may allow more staleness: replica 3 qualifies.
  EXPECT_NE(router->Route(ctx, Read(replica, 10000)), nullptr);
  // ... or less: none does.
  topology_.members.push_back(Replica(5, absl::Seconds(2)));
  EXPECT_EQ(router->Route(ctx, Read(replica, 1000)), nullptr);
  EXPECT_NE(router->Route(ctx, Read(replica)), nullptr);
  ReplicaRoutingStats s = router->stats();
  EXPECT_EQ(s.reads_replica, 2);
  EXPECT_EQ(s.reads_primary, 3);
  EXPECT_DOUBLE_EQ(s.replica_lag_seconds, 6);
}

TEST_F(ReplicaRouterTest, RoundRobinOverTheEligibleAndTheRoutingDefault) {
  topology_.members.push_back(Replica(2, absl::ZeroDuration()));
  topology_.members.push_back(Replica(3, absl::Seconds(1)));
  auto router = Router(txgate::v1::READ_ROUTING_PRIMARY);
  runner::CallContext ctx(absl::InfiniteFuture());
  // The server's default is the primary; a request may ask for a replica.
  EXPECT_EQ(router->Route(ctx, Read(txgate::v1::READ_ROUTING_UNSPECIFIED)), nullptr);
  EXPECT_EQ(router->Route(ctx, Read(txgate::v1::READ_ROUTING_PRIMARY)), nullptr);
  runner::TransactionRunner* a = router->Route(ctx, Read(txgate::v1::READ_ROUTING_REPLICA));
  runner::TransactionRunner* b = router->Route(ctx, Read(txgate::v1::READ_ROUTING_REPLICA));
  runner::TransactionRunner* c = router->Route(ctx, Read(txgate::v1::READ_ROUTING_REPLICA));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, c);
  // Nothing connected: no token, no wait.
  EXPECT_TRUE(databases_[2].Log().empty());
  EXPECT_TRUE(databases_[3].Log().empty());
}

TEST_F(ReplicaRouterTest, ATokenWaitsOnTheReplicaAndATimeoutOrFailureGoesToThePrimary) {
  topology_.members.push_back(Replica(2, absl::ZeroDuration()));
  auto router = Router();
  runner::CallContext ctx(absl::InfiniteFuture());
  const auto read = Read(txgate::v1::READ_ROUTING_REPLICA, 0, "g1:0-1-42,1-2-7");
  auto answer = [&](int64_t v) {
    testing::Reply r;
    r.columns = {"MASTER_GTID_WAIT"};
    txgate::v1::Value value;
    value.set_int64_value(v);
    r.rows = {{value}};
    databases_[2].Expect("SELECT MASTER_GTID_WAIT", r);
  };
  answer(0);
  EXPECT_NE(router->Route(ctx, read), nullptr);
  answer(-1);
  EXPECT_EQ(router->Route(ctx, read), nullptr);
  testing::Reply lost;
  lost.status = sql::ToStatus({2013, "HY000", "Lost connection to server during query"});
  databases_[2].Expect("SELECT MASTER_GTID_WAIT", lost);
  EXPECT_EQ(router->Route(ctx, read), nullptr);
  ReplicaRoutingStats s = router->stats();
  EXPECT_EQ(s.gtid_waits, 3);
  EXPECT_EQ(s.gtid_wait_timeouts, 1);
  EXPECT_EQ(s.gtid_wait_failures, 1);
  EXPECT_EQ(s.reads_replica, 1);
  EXPECT_EQ(s.reads_primary, 2);
  EXPECT_THAT(databases_[2].Log(),
              ::testing::Contains(::testing::HasSubstr("SELECT MASTER_GTID_WAIT(?, ?)")));
}

TEST(ReplicaRouterFallBackTest, OnlyWhatTheReplicaCouldNotServeIsReRunOnThePrimary) {
  EXPECT_TRUE(ReplicaRouter::FallBack(absl::UnavailableError("no connection")));
  EXPECT_TRUE(ReplicaRouter::FallBack(sql::ToStatus({2013, "HY000", "Lost connection"})));
  EXPECT_TRUE(ReplicaRouter::FallBack(
      sql::ToStatus({1792, "25006", "Cannot execute statement in a READ ONLY transaction"})));
  EXPECT_TRUE(ReplicaRouter::FallBack(
      sql::ToStatus({1290, "HY000", "The MariaDB server is running with the --read-only option"})));
  EXPECT_FALSE(ReplicaRouter::FallBack(sql::ToStatus({1064, "42000", "syntax error"})));
  EXPECT_FALSE(ReplicaRouter::FallBack(absl::DeadlineExceededError("deadline")));
  EXPECT_FALSE(ReplicaRouter::FallBack(absl::CancelledError("cancelled")));
}

}  // namespace
}  // namespace txgate::service
