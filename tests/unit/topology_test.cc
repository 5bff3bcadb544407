// ParseEndpoints, the role logic and the Monitor over scripted probes.
#include "server/topology/topology.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/mutex.h"
#include "server/topology/failover_buffer.h"
#include "server/topology/monitor.h"

namespace txgate::topology {
namespace {

using ::testing::HasSubstr;

TEST(ParseEndpointsTest, TakesHostsPortsAndIpv6Literals) {
  auto got = ParseEndpoints("db1:3307, db2,[::1]:3310,[fe80::1]");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 4u);
  EXPECT_EQ((*got)[0], (Endpoint{"db1", 3307}));
  EXPECT_EQ((*got)[1], (Endpoint{"db2", 3306}));
  EXPECT_EQ((*got)[2], (Endpoint{"::1", 3310}));
  EXPECT_EQ((*got)[3], (Endpoint{"fe80::1", 3306}));
  EXPECT_EQ((*got)[2].ToString(), "[::1]:3310");
  EXPECT_EQ((*got)[0].ToString(), "db1:3307");
}

TEST(ParseEndpointsTest, NamesTheBadEntry) {
  struct Case {
    const char* list;
    const char* why;
  } cases[] = {
      {"", "empty"},         {"a,,b", "empty entry"},     {"a,", "empty entry"},
      {"a:0", "1 to 65535"}, {"a:99999", "1 to 65535"},   {"a:x", "1 to 65535"},
      {"a:", "empty port"},  {":3306", "empty host"},     {"::1", "[ADDRESS]:PORT"},
      {"[::1", "closing ]"}, {"[::1]x", ":PORT after ]"}, {"a:3306,a", "listed twice"},
  };
  for (const Case& c : cases) {
    auto got = ParseEndpoints(c.list);
    ASSERT_FALSE(got.ok()) << c.list;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << c.list;
    EXPECT_THAT(got.status().message(), HasSubstr(c.why)) << c.list;
  }
}

TEST(RoleTest, WritableIsPrimaryReadOnlyReplicatingIsReplica) {
  EXPECT_EQ(RoleOf({/*read_only=*/false, /*replicating=*/false, {}}), Role::kPrimary);
  // A writable server takes writes even if it still replicates.
  EXPECT_EQ(RoleOf({false, true, {}}), Role::kPrimary);
  EXPECT_EQ(RoleOf({true, true, absl::Seconds(3)}), Role::kReplica);
  // A demoted primary that follows nobody yet.
  EXPECT_EQ(RoleOf({true, false, {}}), Role::kUnknown);
}

Member M(const char* host, Role role, bool reachable = true) {
  Member m;
  m.endpoint = {host, 3306};
  m.role = role;
  m.reachable = reachable;
  return m;
}

TEST(RoleTest, OneWritableServerIsThePrimaryTwoIsASplitBrain) {
  bool split = true;
  EXPECT_EQ(ResolvePrimary({M("a", Role::kReplica), M("b", Role::kPrimary)}, &split),
            (Endpoint{"b", 3306}));
  EXPECT_FALSE(split);
  EXPECT_EQ(ResolvePrimary({M("a", Role::kReplica), M("b", Role::kUnknown)}, &split), std::nullopt);
  EXPECT_FALSE(split);
  EXPECT_EQ(ResolvePrimary({M("a", Role::kPrimary), M("b", Role::kPrimary)}, &split), std::nullopt);
  EXPECT_TRUE(split);
  // What an unreachable server said last does not count.
  EXPECT_EQ(ResolvePrimary({M("a", Role::kPrimary, false), M("b", Role::kPrimary)}, &split),
            (Endpoint{"b", 3306}));
  EXPECT_FALSE(split);
}

// Servers whose answers a test sets; a probe of an absent one fails.
class FakeServers {
 public:
  void Set(const std::string& host, std::optional<Observation> o) {
    MutexLock lock(&mu_);
    state_[host] = o;
  }
  ProbeFactory Probes() {
    return [this](const Endpoint& e) -> Probe {
      return [this, host = e.host]() -> absl::StatusOr<Observation> {
        MutexLock lock(&mu_);
        auto it = state_.find(host);
        if (it == state_.end() || !it->second) return absl::UnavailableError("down");
        return *it->second;
      };
    };
  }

 private:
  Mutex mu_;
  std::map<std::string, std::optional<Observation>> state_ ABSL_GUARDED_BY(mu_);
};

constexpr Observation kWritable{false, false, std::nullopt};
constexpr Observation kReplicaObs{true, true, std::nullopt};

// The primaries a Monitor reported, in order; awaitable.
class Changes {
 public:
  std::function<void(std::optional<Endpoint>)> Listener() {
    return [this](std::optional<Endpoint> e) {
      MutexLock lock(&mu_);
      seen_.push_back(e);
      cv_.SignalAll();
    };
  }
  // Waits (30 s at most) until the last reported primary is `want`.
  bool AwaitLast(std::optional<Endpoint> want) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    MutexLock lock(&mu_);
    while (seen_.empty() || seen_.back() != want) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) return false;
    }
    return true;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::vector<std::optional<Endpoint>> seen_ ABSL_GUARDED_BY(mu_);
};

TEST(MonitorTest, FollowsAFailoverAndWaitsForAPrimary) {
  FakeServers servers;
  servers.Set("a", kWritable);
  servers.Set("b", kReplicaObs);
  Changes changes;
  // A long interval: only the first checks and Recheck() run.
  Monitor m({{"a", 3306}, {"b", 3306}}, {absl::Hours(1)}, servers.Probes(), changes.Listener());
  EXPECT_EQ(m.WaitForPrimary(absl::InfiniteFuture()), (Endpoint{"a", 3306}));

  servers.Set("a", std::nullopt);  // killed
  m.Recheck();
  ASSERT_TRUE(changes.AwaitLast(std::nullopt));
  EXPECT_EQ(m.Primary(), std::nullopt);
  // With no primary, a wait ends at its deadline.
  EXPECT_EQ(m.WaitForPrimary(absl::Now() + absl::Milliseconds(20)), std::nullopt);

  servers.Set("b", kWritable);  // promoted
  m.Recheck();
  EXPECT_EQ(m.WaitForPrimary(absl::Now() + absl::Seconds(30)), (Endpoint{"b", 3306}));
  auto members = m.Members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_FALSE(members[0].reachable);
  EXPECT_EQ(members[1].role, Role::kPrimary);
  EXPECT_EQ(m.primary_changes(), 3);  // a, none, b
}

TEST(MonitorTest, TrustsNoPrimaryInASplitBrain) {
  FakeServers servers;
  servers.Set("a", kWritable);
  servers.Set("b", kReplicaObs);
  Changes changes;
  Monitor m({{"a", 3306}, {"b", 3306}}, {absl::Hours(1)}, servers.Probes(), changes.Listener());
  EXPECT_EQ(m.WaitForPrimary(absl::InfiniteFuture()), (Endpoint{"a", 3306}));
  servers.Set("b", kWritable);  // b promoted while a still takes writes
  m.Recheck();
  ASSERT_TRUE(changes.AwaitLast(std::nullopt));
  EXPECT_TRUE(m.split_brain());
  EXPECT_EQ(m.Primary(), std::nullopt);
  servers.Set("a", kReplicaObs);  // a demoted
  m.Recheck();
  EXPECT_EQ(m.WaitForPrimary(absl::Now() + absl::Seconds(30)), (Endpoint{"b", 3306}));
  EXPECT_FALSE(m.split_brain());
}

// A topology whose primary the test sets.
class FakeTopology final : public Topology {
 public:
  void Set(std::optional<Endpoint> p) {
    MutexLock lock(&mu_);
    primary_ = p;
    cv_.SignalAll();
  }
  std::vector<Member> Members() const override { return {}; }
  std::optional<Endpoint> Primary() const override {
    MutexLock lock(&mu_);
    return primary_;
  }
  std::optional<Endpoint> WaitForPrimary(absl::Time deadline) override {
    MutexLock lock(&mu_);
    ++waiting_;
    cv_.SignalAll();
    while (!primary_ && !cv_.WaitWithDeadline(&mu_, deadline)) {
    }
    --waiting_;
    return primary_;
  }
  void Recheck() override {}
  // Waits (30 s at most) until `n` callers wait for a primary.
  bool AwaitWaiting(int n) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    MutexLock lock(&mu_);
    while (waiting_ != n) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) return false;
    }
    return true;
  }

 private:
  mutable Mutex mu_;
  CondVar cv_;
  std::optional<Endpoint> primary_ ABSL_GUARDED_BY(mu_);
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(FailoverBufferTest, PassesAtOnceWithAPrimary) {
  FakeTopology t;
  t.Set(Endpoint{"a", 3306});
  FailoverBuffer b(&t, {absl::Seconds(10), 1});
  EXPECT_TRUE(b.Await(absl::InfiniteFuture()).ok());
  EXPECT_EQ(b.Stats().buffered, 0);
}

TEST(FailoverBufferTest, HoldsCallsUntilANewPrimaryAndRefusesBeyondItsSize) {
  FakeTopology t;
  FailoverBuffer b(&t, {absl::Seconds(30), 1});
  absl::Status held;
  std::thread waiter([&] { held = b.Await(absl::InfiniteFuture()); });
  ASSERT_TRUE(t.AwaitWaiting(1));
  absl::Status full = b.Await(absl::InfiniteFuture());
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("--failover_buffer_max_calls=1"));
  t.Set(Endpoint{"b", 3306});
  waiter.join();
  EXPECT_TRUE(held.ok()) << held;
  FailoverBufferStats s = b.Stats();
  EXPECT_EQ(s.buffered, 1);
  EXPECT_EQ(s.refused_full, 1);
  EXPECT_EQ(s.dropped, 0);
  EXPECT_EQ(s.waiting, 0);
}

TEST(FailoverBufferTest, AWaitEndsAtTheDeadlineOrTheWindowSayingWhich) {
  FakeTopology t;
  FailoverBuffer b(&t, {absl::Milliseconds(20), 10});
  absl::Status window = b.Await(absl::InfiniteFuture());
  EXPECT_EQ(window.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(window.message(), HasSubstr("--failover_buffer_window=20ms"));
  FailoverBuffer patient(&t, {absl::Hours(1), 10});
  absl::Status deadline = patient.Await(absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(deadline.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(deadline.message(), HasSubstr("before the call's deadline"));
  EXPECT_EQ(b.Stats().dropped, 1);
}

}  // namespace
}  // namespace txgate::topology
