// Reads on replicas (README, "Reads on replicas") against a real replicated
// cluster (tests/support/cluster.sh, two replicas; TXGATE_TEST_CLUSTER_DIR
// names it): txgate writes on the primary, routes reads with routing
// REPLICA to a replica, and
//  - with the write's causality token every read sees the write
//    (TXGATE_REPLICA_PAIRS write-then-read pairs, 0 stale reads), also when
//    a replica applies slowly;
//  - a replica whose SQL thread is stopped (lag unknown) is skipped under
//    bounded staleness, and the token still holds;
//  - with every replica applying late (MASTER_DELAY), a token read waits
//    --causal_read_timeout and the primary serves it (answered within the
//    timeout + 1 s);
//  - reads by target and GTID waits are counted.
// Run by tests/replication/run.sh; skipped without a cluster.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/topology/monitor.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using txgate::v1::ExecuteRequest;
using txgate::v1::ExecuteResponse;

std::string ClusterDir() {
  const char* d = std::getenv("TXGATE_TEST_CLUSTER_DIR");
  return d == nullptr ? "" : d;
}

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// tests/support/cluster.sh COMMAND [ARGS] on the cluster; true on success.
bool Cluster(const std::string& command, const std::string& args = "") {
  const std::string cmd = absl::StrCat("bash ", TXGATE_SOURCE_DIR, "/tests/support/cluster.sh ",
                                       command, " ", ClusterDir(), " ", args);
  return std::system(cmd.c_str()) == 0;
}

int Pairs() {
  const char* n = std::getenv("TXGATE_REPLICA_PAIRS");
  return n == nullptr ? 2000 : std::atoi(n);
}

class ReplicaReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ClusterDir().empty()) GTEST_SKIP() << "TXGATE_TEST_CLUSTER_DIR not set (no cluster)";
    const std::string primary = ReadLine(ClusterDir() + "/primary");
    mysql::ConnectOptions account;
    account.user = "txgate";
    account.password = ReadLine(ClusterDir() + "/n0/password");
    account.database = "txgate";
    std::vector<topology::Endpoint> hosts;  // as `cluster.sh hosts` lists them
    std::ifstream nodes(ClusterDir() + "/nodes");
    for (std::string node; std::getline(nodes, node);) {
      hosts.push_back({"127.0.0.1", std::stoi(ReadLine(ClusterDir() + "/" + node + "/port"))});
    }
    ASSERT_EQ(hosts.size(), 3u);
    topology::MonitorOptions monitor;
    monitor.check_interval = absl::Milliseconds(200);
    monitor_ = std::make_unique<topology::Monitor>(
        hosts, monitor, topology::MySqlProbes(account, absl::Seconds(2)));

    service::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.mysql = account;
    o.mysql.host = "127.0.0.1";
    o.mysql.port = std::stoi(ReadLine(ClusterDir() + "/" + primary + "/port"));
    o.pool.min_idle = 2;
    o.pool.max_size = 8;
    o.pool.acquire_timeout = absl::Seconds(3);
    o.pool.connect_timeout = absl::Seconds(2);
    o.shutdown_grace = absl::Seconds(5);
    o.read_topology = monitor_.get();
    o.replica_reads.max_lag = absl::Seconds(5);
    o.replica_reads.causal_read_timeout = absl::Seconds(1);
    o.metrics_listen = "127.0.0.1:0";
    server_ = std::make_unique<TestServer>(o);
    // Both replicas known, with their lag.
    ASSERT_TRUE(Eventually(
        [&] {
          int replicas = 0;
          for (const topology::Member& m : monitor_->Members()) {
            replicas += m.role == topology::Role::kReplica && m.lag.has_value() ? 1 : 0;
          }
          return replicas == 2;
        },
        absl::Seconds(20)));
    ASSERT_TRUE(Exec(server_->stub(),
                     "CREATE TABLE IF NOT EXISTS rr_pairs (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                     "v BIGINT NOT NULL)")
                    .ok());
  }
  void TearDown() override {
    if (ClusterDir().empty()) return;
    Cluster("lag", "n1 off");
    Cluster("lag", "n2 off");
    if (delayed_) {
      for (const char* node : {"n1", "n2"}) {
        Cluster("sql", absl::StrCat(node,
                                    " 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; "
                                    "START SLAVE'"));
      }
    }
  }

  double Metric(const std::string& name) {
    return Counter(Scrape(server_->server().metrics_port()), name);
  }

  // A read of row `id`'s value with `token`, routing REPLICA; -1: no row.
  int64_t ReadBack(int64_t id, const std::string& token, uint32_t max_staleness_ms = 0) {
    ExecuteRequest req;
    req.set_sql("SELECT v FROM rr_pairs WHERE id = ?");
    *req.add_params() = Int(id);
    req.mutable_read()->set_routing(txgate::v1::READ_ROUTING_REPLICA);
    req.mutable_read()->set_causality_token(token);
    req.mutable_read()->set_max_staleness_ms(max_staleness_ms);
    ExecuteResponse resp;
    auto ctx = WithDeadline(absl::Seconds(20));
    grpc::Status s = server_->stub().Execute(ctx.get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok() || resp.result().rows_size() == 0) return -1;
    return resp.result().rows(0).values(0).int64_value();
  }

  // Inserts v; its id and token.
  std::pair<int64_t, std::string> Write(int64_t v) {
    ExecuteResponse resp;
    grpc::Status s = Exec(server_->stub(), "INSERT INTO rr_pairs (v) VALUES (?)", {Int(v)}, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {static_cast<int64_t>(resp.result().last_insert_id()), resp.causality_token()};
  }

  std::unique_ptr<topology::Monitor> monitor_;
  std::unique_ptr<TestServer> server_;
  bool delayed_ = false;
};

TEST_F(ReplicaReadsTest, WriteThenReadWithTheTokenNeverSeesAStaleRow) {
  const double replica_before = Metric("txgate_reads_replica_total");
  const int pairs = Pairs();
  int stale = 0;
  for (int i = 0; i < pairs; ++i) {
    auto [id, token] = Write(i);
    ASSERT_FALSE(token.empty());
    if (ReadBack(id, token) != i) ++stale;
  }
  EXPECT_EQ(stale, 0) << "of " << pairs << " write-then-read pairs";
  std::printf("pairs %d stale %d replica_reads %.0f gtid_waits %.0f timeouts %.0f wait_s %.3f\n",
              pairs, stale, Metric("txgate_reads_replica_total") - replica_before,
              Metric("txgate_gtid_waits_total"), Metric("txgate_gtid_wait_timeouts_total"),
              Metric("txgate_gtid_wait_seconds_total"));
  // Most went to replicas (a wait past 1 s on loopback would send one to
  // the primary, which is right too).
  EXPECT_GT(Metric("txgate_reads_replica_total") - replica_before, pairs / 2);
  EXPECT_GE(Metric("txgate_gtid_waits_total"), pairs);
}

TEST_F(ReplicaReadsTest, EveryKindOfReadGoesToAReplicaAndAWriteToThePrimary) {
  auto [id, token] = Write(42);
  txgate::v1::ReadOptions read;
  read.set_routing(txgate::v1::READ_ROUTING_REPLICA);
  read.set_causality_token(token);
  const double before = Metric("txgate_reads_replica_total");

  txgate::v1::RunTransactionRequest rt;
  rt.mutable_options()->set_read_only(true);
  *rt.mutable_options()->mutable_read() = read;
  rt.add_statements()->set_sql(absl::StrCat("SELECT v FROM rr_pairs WHERE id = ", id));
  txgate::v1::RunTransactionResponse rt_resp;
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    grpc::Status s = server_->stub().RunTransaction(ctx.get(), rt, &rt_resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(rt_resp.results(0).rows_size(), 1);
  EXPECT_EQ(rt_resp.results(0).rows(0).values(0).int64_value(), 42);
  EXPECT_EQ(rt_resp.causality_token(), "");

  txgate::v1::StreamQueryRequest sq;
  sq.set_sql(absl::StrCat("SELECT v FROM rr_pairs WHERE id = ", id));
  *sq.mutable_read() = read;
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    auto reader = server_->stub().StreamQuery(ctx.get(), sq);
    txgate::v1::StreamQueryResponse chunk;
    int64_t got = -1;
    while (reader->Read(&chunk)) {
      if (chunk.rows_size() > 0) got = chunk.rows(0).values(0).int64_value();
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(got, 42);
  }
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    auto rw = server_->stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest req;
    txgate::v1::TransactionResponse resp;
    req.mutable_begin()->mutable_options()->set_read_only(true);
    *req.mutable_begin()->mutable_options()->mutable_read() = read;
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    req.mutable_statement()->set_sql(absl::StrCat("SELECT v FROM rr_pairs WHERE id = ", id));
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    ASSERT_EQ(resp.result().rows_size(), 1);
    EXPECT_EQ(resp.result().rows(0).values(0).int64_value(), 42);
    // A write in it is refused by the replica session's READ ONLY.
    req.mutable_statement()->set_sql("INSERT INTO rr_pairs (v) VALUES (0)");
    ASSERT_TRUE(rw->Write(req));
    EXPECT_FALSE(rw->Read(&resp));
    grpc::Status s = rw->Finish();
    EXPECT_FALSE(s.ok());
  }
  EXPECT_EQ(Metric("txgate_reads_replica_total") - before, 3);

  // A write asking for a replica runs on the primary, and its token names it.
  ExecuteRequest write;
  write.set_sql("INSERT INTO rr_pairs (v) VALUES (43)");
  *write.mutable_read() = read;
  ExecuteResponse wrote;
  auto ctx = WithDeadline(absl::Seconds(20));
  ASSERT_TRUE(server_->stub().Execute(ctx.get(), write, &wrote).ok());
  EXPECT_FALSE(wrote.causality_token().empty());
  EXPECT_EQ(
      ReadBack(static_cast<int64_t>(wrote.result().last_insert_id()), wrote.causality_token()), 43);
}

TEST_F(ReplicaReadsTest, AnExpiredReplicaReadIsKilledOnItsReplica) {
  const double before = Metric("txgate_reads_replica_total");
  ExecuteRequest req;
  req.set_sql("SELECT SLEEP(30)");
  req.mutable_read()->set_routing(txgate::v1::READ_ROUTING_REPLICA);
  ExecuteResponse resp;
  auto ctx = WithDeadline(absl::Seconds(1));
  grpc::Status s = server_->stub().Execute(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_EQ(Metric("txgate_reads_replica_total") - before, 1);
  // The replica's own KILL QUERY stopped it (a socket cut alone would leave
  // the SLEEP running there for 30 s).
  auto sleeping = [] {
    int n = 0;
    for (const char* node : {"n1", "n2"}) {
      const std::string cmd = absl::StrCat(
          "bash ", TXGATE_SOURCE_DIR, "/tests/support/cluster.sh sql ", ClusterDir(), " ", node,
          " \"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
          "'SELECT SLEEP(30)%'\"");
      FILE* f = popen(cmd.c_str(), "r");
      char line[64] = {0};
      while (f != nullptr && std::fgets(line, sizeof(line), f) != nullptr) n += std::atoi(line);
      if (f != nullptr) pclose(f);
    }
    return n;
  };
  EXPECT_TRUE(Eventually([&] { return sleeping() == 0; }, absl::Seconds(5)));
}

TEST_F(ReplicaReadsTest, ALaggingReplicaIsSkippedAndTheTokenStillHolds) {
  ASSERT_TRUE(Cluster("lag", "n1 on"));  // n1's SQL thread stopped: its lag is unknown
  ASSERT_TRUE(Eventually(
      [&] {
        for (const topology::Member& m : monitor_->Members()) {
          if (m.endpoint.port == std::stoi(ReadLine(ClusterDir() + "/n1/port"))) {
            return !m.lag.has_value();
          }
        }
        return false;
      },
      absl::Seconds(10)));
  int stale = 0;
  for (int i = 0; i < 200; ++i) {
    auto [id, token] = Write(1000 + i);
    if (ReadBack(id, token) != 1000 + i) ++stale;
  }
  EXPECT_EQ(stale, 0);
  // No token wait ever timed out: n1 was never chosen.
  EXPECT_EQ(Metric("txgate_gtid_wait_timeouts_total"), 0);
}

TEST_F(ReplicaReadsTest, WithEveryReplicaBehindATokenReadIsServedByThePrimaryAfterTheTimeout) {
  // Both replicas apply 30 s late (MASTER_DELAY): they still report a lag,
  // so with a generous max_staleness they qualify, but neither has the
  // write; the GTID wait times out after --causal_read_timeout (1 s) and
  // the primary answers.
  for (const char* node : {"n1", "n2"}) {
    ASSERT_TRUE(Cluster("sql", absl::StrCat(node,
                                            " 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 30; "
                                            "START SLAVE'")));
  }
  delayed_ = true;
  const double timeouts_before = Metric("txgate_gtid_wait_timeouts_total");
  const double primary_before = Metric("txgate_reads_primary_total");
  auto [id, token] = Write(7);
  const absl::Time start = absl::Now();
  EXPECT_EQ(ReadBack(id, token, 3600 * 1000), 7);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(2));  // the timeout + 1 s
  EXPECT_EQ(Metric("txgate_gtid_wait_timeouts_total") - timeouts_before, 1);
  EXPECT_EQ(Metric("txgate_reads_primary_total") - primary_before, 1);
  // Without a token a delayed replica answers: it has no row yet (bounded
  // staleness is what the caller asked for).
  EXPECT_EQ(ReadBack(id, "", 3600 * 1000), -1);
}

}  // namespace
}  // namespace txgate::testing
