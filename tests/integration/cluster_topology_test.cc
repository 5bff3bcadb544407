// The topology monitor against a real replicated cluster
// (tests/support/cluster.sh; TXGATE_TEST_CLUSTER_DIR names it, started with
// two replicas): roles, lag, a planned switchover and back. Run by
// tests/replication/run.sh; skipped without a cluster.
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/common/mutex.h"
#include "server/mysql/connection.h"
#include "server/topology/monitor.h"

namespace txgate::topology {
namespace {

std::string ClusterDir() {
  const char* d = std::getenv("TXGATE_TEST_CLUSTER_DIR");
  return d == nullptr ? "" : d;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// Runs tests/support/cluster.sh COMMAND on the cluster; true on success.
bool Cluster(const std::string& command) {
  std::string cmd =
      absl::StrCat("bash ", TXGATE_SOURCE_DIR, "/tests/support/cluster.sh ",
                   command.substr(0, command.find(' ')), " ", ClusterDir(),
                   command.find(' ') == std::string::npos ? "" : command.substr(command.find(' ')));
  return std::system(cmd.c_str()) == 0;
}

Endpoint Node(const std::string& node) {
  return {"127.0.0.1", std::stoi(ReadFile(ClusterDir() + "/" + node + "/port"))};
}

// The primaries a Monitor reported; awaitable.
class Changes {
 public:
  std::function<void(std::optional<Endpoint>)> Listener() {
    return [this](std::optional<Endpoint> e) {
      MutexLock lock(&mu_);
      last_ = e;
      cv_.SignalAll();
    };
  }
  // Waits (30 s at most) until the reported primary is `want`.
  bool AwaitPrimary(std::optional<Endpoint> want) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    MutexLock lock(&mu_);
    while (last_ != want) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) return false;
    }
    return true;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::optional<Endpoint> last_ ABSL_GUARDED_BY(mu_);
};

mysql::ConnectOptions Account(const std::string& user, const std::string& password_file) {
  mysql::ConnectOptions o;
  o.user = user;
  o.password = ReadFile(ClusterDir() + "/n0/" + password_file);
  o.database = "txgate";
  return o;
}

std::vector<Endpoint> Hosts() {
  auto e = ParseEndpoints(ReadFile(ClusterDir() + "/hosts"));
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : std::vector<Endpoint>{};
}

class ClusterTopologyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ClusterDir().empty()) GTEST_SKIP() << "TXGATE_TEST_CLUSTER_DIR unset (tests/replication)";
    ASSERT_TRUE(Cluster("hosts > " + ClusterDir() + "/hosts"));
  }
};

TEST_F(ClusterTopologyTest, FindsThePrimaryAndTheReplicasWithTheirLag) {
  Changes changes;
  Monitor m(Hosts(), {absl::Seconds(1)},
            MySqlProbes(Account("txgate", "password"), absl::Seconds(2)), changes.Listener());
  ASSERT_EQ(m.WaitForPrimary(absl::Now() + absl::Seconds(30)), Node("n0"));
  // Every server checked once (the primary came from one check).
  m.Recheck();
  ASSERT_TRUE(Cluster("lag n2 on"));
  m.Recheck();
  // The replicas: n1 reports a lag, n2 (SQL thread stopped) none.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::vector<Member> members;
  while (absl::Now() < deadline) {
    members = m.Members();
    if (members[1].role == Role::kReplica && members[1].lag && members[2].role == Role::kReplica &&
        !members[2].lag) {
      break;
    }
    m.WaitForPrimary(absl::Now() + absl::Milliseconds(100));  // a check interval passes
  }
  ASSERT_TRUE(Cluster("lag n2 off"));
  EXPECT_EQ(members[0].role, Role::kPrimary);
  EXPECT_EQ(members[1].role, Role::kReplica);
  ASSERT_TRUE(members[1].lag.has_value());
  EXPECT_LT(*members[1].lag, absl::Seconds(5));
  EXPECT_EQ(members[2].role, Role::kReplica);
  EXPECT_FALSE(members[2].lag.has_value());
  EXPECT_FALSE(m.split_brain());
}

TEST_F(ClusterTopologyTest, AnAccountWithoutSlaveMonitorSeesRolesWithoutLag) {
  Monitor m(Hosts(), {absl::Seconds(1)},
            MySqlProbes(Account("txgate_ro", "ro-password"), absl::Seconds(2)));
  ASSERT_EQ(m.WaitForPrimary(absl::Now() + absl::Seconds(30)), Node("n0"));
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::vector<Member> members = m.Members();
  while (absl::Now() < deadline &&
         (members[1].role != Role::kReplica || members[2].role != Role::kReplica)) {
    m.WaitForPrimary(absl::Now() + absl::Milliseconds(100));
    members = m.Members();
  }
  EXPECT_EQ(members[1].role, Role::kReplica);
  EXPECT_EQ(members[2].role, Role::kReplica);
  EXPECT_FALSE(members[1].lag.has_value());
}

TEST_F(ClusterTopologyTest, FollowsASwitchoverAndBack) {
  Changes changes;
  Monitor m(Hosts(), {absl::Seconds(1)},
            MySqlProbes(Account("txgate", "password"), absl::Seconds(2)), changes.Listener());
  ASSERT_TRUE(changes.AwaitPrimary(Node("n0")));
  ASSERT_TRUE(Cluster("switchover n1"));
  m.Recheck();
  ASSERT_TRUE(changes.AwaitPrimary(Node("n1")));
  ASSERT_TRUE(Cluster("switchover n0"));
  m.Recheck();
  ASSERT_TRUE(changes.AwaitPrimary(Node("n0")));
  EXPECT_FALSE(m.split_brain());
}

}  // namespace
}  // namespace txgate::topology
