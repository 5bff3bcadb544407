// Answered, not healed forever, against the real MariaDB: a request over
// the server's max_allowed_packet is refused at once with a bounded number
// of connects, a user's SIGNAL is FAILED_PRECONDITION with its message and
// never re-run, and a read whose connection is killed on every attempt is
// answered after --max_heal_retries re-runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> MetadataOf(const grpc::Status& s) {
  const google::rpc::ErrorInfo info = ErrorInfoOf(s);
  return {info.metadata().begin(), info.metadata().end()};
}

// With the server's max_allowed_packet at 4 MiB and txgate accepting 16 MiB
// requests. New connections see the new global value; the server is
// started after it is set, so every pooled session has it.
class PacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = Admin("SELECT @@GLOBAL.max_allowed_packet")[0][0];
    Admin("SET GLOBAL max_allowed_packet = 4194304");
    Admin("CREATE TABLE IF NOT EXISTS txgate.budget_blobs (b LONGBLOB)");
    Admin("DELETE FROM txgate.budget_blobs");
    service::ServerOptions o = DefaultServerOptions();
    o.max_request_bytes = 16 << 20;
    server_ = std::make_unique<TestServer>(o);
  }
  void TearDown() override {
    server_.reset();
    Admin("SET GLOBAL max_allowed_packet = " + saved_);
  }

  std::string saved_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(PacketTest, AnInsertOverMaxAllowedPacketIsRefusedAtOnceWithoutAReconnectStorm) {
  // Warm: the pool has its connections, all opened at 4 MiB.
  ASSERT_TRUE(Exec(server_->stub(), "SELECT 1").ok());
  const pool::PoolStats before = server_->server().pool_stats();
  const int64_t replays_before = server_->server().runner_stats().replays;

  grpc::Status s = Exec(server_->stub(), "INSERT INTO budget_blobs VALUES (?)",
                        {Bytes(std::string(8 << 20, 'x'))}, nullptr, absl::Seconds(30));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "PACKET_TOO_LARGE");
  EXPECT_THAT(s.error_message(), HasSubstr("max_allowed_packet"));
  EXPECT_THAT(s.error_message(), HasSubstr("4194304"));
  EXPECT_EQ(MetadataOf(s)["max_allowed_packet"], "4194304");

  // Refused before it was sent: no connection lost, none opened, nothing
  // re-run, nothing written.
  const pool::PoolStats after = server_->server().pool_stats();
  EXPECT_LE(after.connects - before.connects, 1);
  EXPECT_EQ(after.discarded, before.discarded);
  EXPECT_EQ(server_->server().runner_stats().replays, replays_before);
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.budget_blobs")[0][0], "0");

  // What fits still goes in, on the same pool.
  EXPECT_TRUE(Exec(server_->stub(), "INSERT INTO budget_blobs VALUES (?)",
                   {Bytes(std::string(1 << 20, 'y'))})
                  .ok());
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.budget_blobs")[0][0], "1");
}

TEST_F(PacketTest, ATransactionOverMaxAllowedPacketIsRefusedAndRolledBack) {
  txgate::v1::RunTransactionRequest req;
  auto* first = req.add_statements();
  first->set_sql("INSERT INTO budget_blobs VALUES (?)");
  *first->add_params() = Bytes("small");
  auto* second = req.add_statements();
  second->set_sql("INSERT INTO budget_blobs VALUES (?)");
  *second->add_params() = Bytes(std::string(8 << 20, 'x'));
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(30));
  grpc::Status s = server_->stub().RunTransaction(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "PACKET_TOO_LARGE");
  EXPECT_THAT(s.error_message(), HasSubstr("statement 2"));
  EXPECT_EQ(server_->server().runner_stats().replays, 0);
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.budget_blobs")[0][0], "0");
}

class CodesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Admin(
        "CREATE OR REPLACE PROCEDURE txgate.budget_refuse() "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'insufficient funds'");
    Admin("CREATE TABLE IF NOT EXISTS txgate.budget_locked (a INT)");
    server_ = new TestServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static TestServer* server_;
};
TestServer* CodesTest::server_ = nullptr;

TEST_F(CodesTest, AUserSignalIsFailedPreconditionWithItsMessageAndNeverReRun) {
  const int64_t replays = server_->server().runner_stats().replays;
  grpc::Status s = Exec(server_->stub(), "CALL budget_refuse()");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("insufficient funds"));
  EXPECT_EQ(ErrorInfoOf(s).reason(), "MYSQL_ERROR");
  EXPECT_EQ(MetadataOf(s)["mysql_errno"], "1644");
  EXPECT_EQ(MetadataOf(s)["mysql_sqlstate"], "45000");

  txgate::v1::RunTransactionRequest req;
  req.add_statements()->set_sql("CALL budget_refuse()");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  s = server_->stub().RunTransaction(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("insufficient funds"));
  EXPECT_EQ(server_->server().runner_stats().replays, replays);
}

// A read whose session an admin kills on every attempt: healed
// --max_heal_retries (3) times, then answered, long before its deadline.
TEST(HealBudgetTest, AReadKilledOnEveryAttemptIsAnsweredAfterTheBudget) {
  TestServer server;
  SessionKiller killer("SELECT SLEEP(30) AS budget_probe");
  const int64_t replays = server.server().runner_stats().replays;
  grpc::Status s =
      Exec(server.stub(), "SELECT SLEEP(30) AS budget_probe", {}, nullptr, absl::Seconds(120));
  const std::set<std::string> killed = killer.Stop();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "DATABASE_UNAVAILABLE");
  EXPECT_THAT(s.error_message(), HasSubstr("--max_heal_retries=3"));
  EXPECT_THAT(MetadataOf(s)["mysql_errno"], ::testing::AnyOf("2013", "1927", "2006"));
  // The first run and three re-runs: four sessions killed, three replays.
  EXPECT_EQ(server.server().runner_stats().replays - replays, 3);
  EXPECT_EQ(killed.size(), 4u);
}

// The same in an interactive transaction: replayed --max_heal_retries times,
// then the stream ends ABORTED, TRANSACTION_LOST.
TEST(HealBudgetTest, AStatementKilledOnEveryReplayEndsTheTransaction) {
  TestServer server;
  SessionKiller killer("SELECT SLEEP(30) AS budget_txn");
  auto ctx = WithDeadline(absl::Seconds(120));
  auto stream = server.stub().Transaction(ctx.get());
  txgate::v1::TransactionRequest req;
  txgate::v1::TransactionResponse resp;
  req.mutable_begin();
  ASSERT_TRUE(stream->Write(req) && stream->Read(&resp) && resp.has_begun());
  req.Clear();
  req.mutable_statement()->set_sql("SELECT SLEEP(30) AS budget_txn");
  ASSERT_TRUE(stream->Write(req));
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  const std::set<std::string> killed = killer.Stop();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_LOST");
  EXPECT_THAT(s.error_message(), HasSubstr("--max_heal_retries=3"));
  EXPECT_EQ(killed.size(), 4u);
}

}  // namespace
}  // namespace txgate::testing
