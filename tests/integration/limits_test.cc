// The limits, each against the real MariaDB: request size, rows and bytes
// of a unary response, statements per transaction, interactive
// transactions open at once, the idle timeout of an interactive
// transaction, and the prompt end of open transactions at shutdown.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using txgate::v1::TransactionRequest;
using txgate::v1::TransactionResponse;

using Stream = TransactionStream;

std::string Rows(const std::string& table) {
  return Admin("SELECT COUNT(*) FROM txgate." + table)[0][0];
}

TEST(LimitsTest, RequestSize) {
  service::ServerOptions o = DefaultServerOptions();
  o.max_request_bytes = 64 << 10;
  TestServer server(o);
  grpc::Status s = Exec(server.stub(), "SELECT ?", {Str(std::string(100 << 10, 'x'))});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(Exec(server.stub(), "SELECT ?", {Str(std::string(32 << 10, 'x'))}).ok());
}

TEST(LimitsTest, RowsAndBytesOfAUnaryResponse) {
  service::ServerOptions o = DefaultServerOptions();
  o.runner.max_result_rows = 10;
  o.runner.max_result_bytes = 10 << 10;
  TestServer server(o);
  EXPECT_TRUE(Exec(server.stub(), "SELECT seq FROM seq_1_to_10").ok());
  grpc::Status s = Exec(server.stub(), "SELECT seq FROM seq_1_to_11");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("StreamQuery"));
  EXPECT_EQ(ErrorInfoOf(s).reason(), "RESULT_TOO_LARGE");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("limit"), "max_result_rows");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("value"), "10");
  s = Exec(server.stub(), "SELECT REPEAT('x', 4000) FROM seq_1_to_3");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("StreamQuery"));
  EXPECT_EQ(ErrorInfoOf(s).reason(), "RESULT_TOO_LARGE");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("limit"), "max_result_bytes");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("value"), "10240");
}

TEST(LimitsTest, StatementsPerTransaction) {
  service::ServerOptions o = DefaultServerOptions();
  o.runner.max_statements = 3;
  TestServer server(o);
  txgate::v1::RunTransactionRequest req;
  for (int i = 0; i < 4; ++i) req.add_statements()->set_sql("SELECT 1");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  grpc::Status s = server.stub().RunTransaction(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("at most 3 statements"));
}

TEST(LimitsTest, OpenInteractiveTransactions) {
  service::ServerOptions o = DefaultServerOptions();
  o.service.max_open_transactions = 2;
  TestServer server(o);
  auto first = std::make_unique<Stream>(server.stub());
  Stream second(server.stub());
  ASSERT_TRUE(first->Begin());
  ASSERT_TRUE(second.Begin());
  EXPECT_EQ(server.server().database().open_transactions(), 2);

  Stream third(server.stub());
  EXPECT_FALSE(third.Begin());
  grpc::Status s = third.Ended();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "TOO_MANY_TRANSACTIONS");
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("--max_open_transactions"));

  // A place frees when a stream ends.
  EXPECT_EQ(first->Close().error_code(), grpc::StatusCode::ABORTED);  // not committed
  first.reset();
  ASSERT_TRUE(Eventually([&] { return server.server().database().open_transactions() == 1; },
                         absl::Seconds(5)));
  Stream fourth(server.stub());
  EXPECT_TRUE(fourth.Begin());
  (void)fourth.Close();
  (void)second.Close();
}

class IdleTimeoutTest : public ::testing::Test {
 protected:
  static service::ServerOptions Options() {
    service::ServerOptions o = DefaultServerOptions();
    o.service.transaction_idle_timeout = absl::Seconds(1);
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS idle_t").ok());
    ASSERT_TRUE(Exec(server_.stub(), "CREATE TABLE idle_t (id INT PRIMARY KEY)").ok());
  }
  TestServer server_{Options()};
};

TEST_F(IdleTimeoutTest, AnIdleTransactionIsRolledBackAndItsConnectionReleased) {
  Stream stream(server_.stub());
  ASSERT_TRUE(stream.Begin());
  ASSERT_TRUE(stream.Statement("INSERT INTO idle_t VALUES (1)"));
  const absl::Time start = absl::Now();
  grpc::Status s = stream.Ended();  // the client sends nothing more
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_IDLE_TIMEOUT");
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("--transaction_idle_timeout"));
  EXPECT_GE(waited, absl::Milliseconds(900));
  EXPECT_LT(waited, absl::Seconds(3));
  EXPECT_EQ(Rows("idle_t"), "0");
  EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(5)));
  EXPECT_EQ(server_.server().database().idle_timeouts(), 1);
  EXPECT_TRUE(Eventually([&] { return server_.server().database().open_transactions() == 0; },
                         absl::Seconds(5)));
}

TEST_F(IdleTimeoutTest, ABusyTransactionIsNotIdle) {
  Stream stream(server_.stub());
  ASSERT_TRUE(stream.Begin());
  // 2.5 s of work, never 1 s without a message.
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(stream.Statement(absl::StrCat("INSERT INTO idle_t VALUES (", i, ")")));
    absl::SleepFor(absl::Milliseconds(500));
  }
  TransactionRequest req;
  req.mutable_commit();
  TransactionResponse resp;
  ASSERT_TRUE(stream.Send(req, &resp));
  EXPECT_TRUE(resp.has_committed());
  EXPECT_TRUE(stream.Close().ok());
  EXPECT_EQ(Rows("idle_t"), "5");
}

// Shutdown does not wait out the grace period for a transaction whose
// client sends nothing: it is rolled back at once.
TEST(ShutdownTest, OpenTransactionsEndPromptlyAndRollBack) {
  service::ServerOptions o = DefaultServerOptions();
  o.shutdown_grace = absl::Seconds(20);
  auto server = std::make_unique<TestServer>(o);
  ASSERT_TRUE(Exec(server->stub(), "DROP TABLE IF EXISTS drain_t").ok());
  ASSERT_TRUE(Exec(server->stub(), "CREATE TABLE drain_t (id INT PRIMARY KEY)").ok());
  Stream stream(server->stub());
  ASSERT_TRUE(stream.Begin());
  ASSERT_TRUE(stream.Statement("INSERT INTO drain_t VALUES (1)"));
  const absl::Time start = absl::Now();
  server->server().Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  grpc::Status s = stream.Ended();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "SERVER_SHUTTING_DOWN");
  EXPECT_EQ(Rows("drain_t"), "0");
}

}  // namespace
}  // namespace txgate::testing
