// Only txgate's own sessions are killed, against a real MariaDB: a keyed
// COMMIT is lost because mariadbd dies while the COMMIT waits, mariadbd
// restarts (thread ids start again from 1), and a bystander session of
// txgate's own user takes the lost session's thread id before txgate can
// reconnect. txgate must not KILL the bystander, and must still resolve
// the key exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/mysql/connection.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

mysql::ConnectOptions RootOverSocket() {
  mysql::ConnectOptions o;
  o.socket = Database().socket();
  o.user = "root";
  return o;
}

std::unique_ptr<mysql::Connection> Open(const mysql::ConnectOptions& o) {
  absl::StatusOr<std::unique_ptr<mysql::Connection>> conn =
      mysql::Connection::Open(o, absl::Seconds(5));
  EXPECT_TRUE(conn.ok()) << conn.status();
  return conn.ok() ? std::move(*conn) : nullptr;
}

service::ServerOptions Options() {
  service::ServerOptions o = DefaultServerOptions();
  o.mysql_ro_user.clear();  // no other pool reconnecting meanwhile
  o.pool.min_idle = 1;
  // After the database dies, txgate's reconnects wait 8-16 s (the first
  // attempt, at once, finds it down): time for the test to restart it and
  // hand the old thread id to the bystander first. Calls wait that long.
  o.pool.backoff.initial = absl::Seconds(16);
  o.pool.backoff.max = absl::Seconds(16);
  o.pool.acquire_timeout = absl::Seconds(50);
  return o;
}

TEST(OwnSessionTest, ALostCommitAfterARestartKillsNoBystanderAndIsResolvedOnce) {
  Admin("CREATE OR REPLACE TABLE txgate.os_counter (id INT PRIMARY KEY, n INT NOT NULL)");
  Admin("INSERT INTO txgate.os_counter VALUES (1, 0)");
  // Thread ids well above those a restart's own start-up uses, so that the
  // bystander can be handed the lost session's id.
  for (int i = 0; i < 150; ++i) Open(RootOverSocket());

  auto server = std::make_unique<TestServer>(Options());
  {
    // The outcome table exists before commits are blocked (it is DDL).
    txgate::v1::RunTransactionRequest warm;
    warm.add_statements()->set_sql("SELECT 1");
    warm.set_idempotency_key("os-warm-up");
    txgate::v1::RunTransactionResponse resp;
    ASSERT_TRUE(
        server->stub().RunTransaction(WithDeadline(absl::Seconds(10)).get(), warm, &resp).ok());
  }

  // Commits wait (statements do not) while the admin holds BLOCK_COMMIT.
  std::unique_ptr<mysql::Connection> blocker = Open(RootOverSocket());
  ASSERT_NE(blocker, nullptr);
  for (const char* stage : {"START", "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT"}) {
    ASSERT_TRUE(blocker->Query(absl::StrCat("BACKUP STAGE ", stage)).ok()) << stage;
  }

  txgate::v1::RunTransactionRequest req;
  req.add_statements()->set_sql("UPDATE os_counter SET n = n + 1 WHERE id = 1");
  req.add_statements()->set_sql("SELECT n FROM os_counter WHERE id = 1");
  // Unique per run: keys are remembered for a day.
  const std::string key = absl::StrCat("os-once-", absl::ToUnixNanos(absl::Now()));
  req.set_idempotency_key(key);
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(90));
  std::future<grpc::Status> call = std::async(
      std::launch::async, [&] { return server->stub().RunTransaction(ctx.get(), req, &resp); });

  // The session whose COMMIT now waits.
  uint64_t lost = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        std::vector<std::vector<std::string>> rows = Admin(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'txgate' AND "
            "(INFO = 'COMMIT' OR INFO LIKE 'XA COMMIT %')");
        return rows.size() == 1 && absl::SimpleAtoi(rows[0][0], &lost);
      },
      absl::Seconds(10)));
  ASSERT_GT(lost, 100u);

  // mariadbd dies with the COMMIT unapplied, and comes back.
  ASSERT_TRUE(MariadbCtl("kill"));
  blocker.reset();
  ASSERT_TRUE(MariadbCtl("start"));

  // A bystander of txgate's own user takes the lost session's id.
  std::unique_ptr<mysql::Connection> bystander;
  while (bystander == nullptr) {
    std::unique_ptr<mysql::Connection> conn = Open(DefaultServerOptions().mysql);
    ASSERT_NE(conn, nullptr);
    ASSERT_LE(conn->thread_id(), lost) << "another session took the lost id first";
    if (conn->thread_id() == lost) bystander = std::move(conn);
  }
  EXPECT_EQ(bystander->identity().user, "txgate");

  grpc::Status status = call.get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Looked up, found not committed, run again once.
  EXPECT_EQ(resp.attempts(), 2u);
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(1).rows(0).values(0).int64_value(), 1);
  EXPECT_EQ(Admin("SELECT n FROM txgate.os_counter WHERE id = 1")[0][0], "1");
  EXPECT_EQ(Admin(absl::StrCat("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE "
                               "idempotency_key = '",
                               key, "'"))[0][0],
            "1");
  // The bystander lives on.
  EXPECT_TRUE(bystander->Ping().ok());
  EXPECT_TRUE(bystander->Query("SELECT 1").ok());

  // A retry with the key answers the one execution.
  txgate::v1::RunTransactionResponse again;
  ASSERT_TRUE(
      server->stub().RunTransaction(WithDeadline(absl::Seconds(10)).get(), req, &again).ok());
  EXPECT_EQ(again.attempts(), 2u);
  EXPECT_EQ(Admin("SELECT n FROM txgate.os_counter WHERE id = 1")[0][0], "1");
  server.reset();
  Admin("DROP TABLE txgate.os_counter");
}

}  // namespace
}  // namespace txgate::testing
