// Execute's inline fast path (README, "Inline fast path") against a real
// MariaDB: an unkeyed read whose prepared statement is cached on a free
// idle connection runs on the gRPC thread that received it and is answered
// from there; anything slower than --inline_wait, or unusual, is handed to
// a worker thread, which continues it without sending it again. What a
// caller relies on stays as on the worker path: slow reads answer,
// deadlines kill, a killed connection is healed, no session state leaks.
// txgate_calls_inline_total{outcome} counts both outcomes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

// A server with one pooled connection (so every call takes the connection
// whose statement cache the previous call filled) and metrics.
service::ServerOptions OneConnection(absl::Duration inline_wait) {
  service::ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:0";
  o.pool.max_size = 1;
  o.pool.min_idle = 1;
  o.service.inline_wait = inline_wait;
  return o;
}

// The server's count of prepared-statement executions, from every client,
// this look-up's own (Admin prepares and executes it) included.
int64_t StatementsExecuted() {
  std::vector<std::vector<std::string>> rows = Admin("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'");
  int64_t n = -1;
  if (!rows.empty() && rows[0].size() == 2) (void)absl::SimpleAtoi(rows[0][1], &n);
  return n;
}

class InlineTest : public ::testing::Test {
 protected:
  double Inline(TestServer& server, const std::string& outcome) {
    return Counter(Scrape(server.server().metrics_port()), "txgate_calls_inline_total",
                   {absl::StrCat("outcome=\"", outcome, "\"")});
  }
};

// The first call prepares (worker path: handed over); every later one with
// the same SQL finds its statement cached and ends on the gRPC thread. A
// wait of 10 s makes "ended inline" certain on a loaded machine; the
// default wait is a few hundred microseconds.
TEST_F(InlineTest, CachedReadsEndOnTheReceivingThreadAndAreCounted) {
  TestServer server(OneConnection(absl::Seconds(10)));
  ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
  const double completed = Inline(server, "completed");
  const double handed_over = Inline(server, "handed_over");
  for (int i = 0; i < 20; ++i) {
    txgate::v1::ExecuteResponse r;
    grpc::Status s = Exec(server.stub(), "SELECT ? + 1 AS next", {Int(i)}, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(r.result().rows_size(), 1);
    EXPECT_EQ(r.result().rows(0).values(0).int64_value(), i + 1);
    ASSERT_EQ(r.result().columns_size(), 1);
    EXPECT_EQ(r.result().columns(0).name(), "next");
  }
  EXPECT_EQ(Inline(server, "handed_over") - handed_over, 1);  // the first: not prepared yet
  EXPECT_EQ(Inline(server, "completed") - completed, 19);
  // A write never goes inline.
  ASSERT_TRUE(Exec(server.stub(), "DROP TABLE IF EXISTS inline_w").ok());
  ASSERT_TRUE(Exec(server.stub(), "CREATE TABLE inline_w (id INT PRIMARY KEY)").ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Exec(server.stub(), "INSERT INTO inline_w VALUES (?)", {Int(i)}).ok());
  }
  EXPECT_EQ(Inline(server, "completed") - completed, 19);
  EXPECT_EQ(Inline(server, "handed_over") - handed_over, 1);
}

// A read slower than --inline_wait (the default, 300 µs) is handed over
// once it was sent, and the worker reads its answer: the server executed
// it once.
TEST_F(InlineTest, SlowReadIsHandedOverAndAnsweredOnce) {
  TestServer server(OneConnection(service::ServiceOptions{}.inline_wait));
  ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
  const std::string sql = "SELECT SLEEP(?) AS slept, ? AS v";
  ASSERT_TRUE(Exec(server.stub(), sql, {Int(0), Str("prepare")}).ok());
  const double handed_over = Inline(server, "handed_over");
  const int64_t executed = StatementsExecuted();
  txgate::v1::ExecuteResponse r;
  grpc::Status s = Exec(server.stub(), sql, {Str("0.05"), Str("slow")}, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(r.result().rows_size(), 1);
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 0);  // SLEEP's 0: it slept its time
  EXPECT_EQ(r.result().rows(0).values(1).string_value(), "slow");
  EXPECT_EQ(StatementsExecuted() - executed, 2);  // the read, once, and the look-up
  EXPECT_EQ(Inline(server, "handed_over") - handed_over, 1);
}

// A handed-over read whose deadline passes is killed on the server and
// answered DEADLINE_EXCEEDED, its connection reused cleanly.
TEST_F(InlineTest, DeadlineKillsAHandedOverRead) {
  TestServer server(OneConnection(service::ServiceOptions{}.inline_wait));
  ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
  const std::string sql = "SELECT SLEEP(?) AS inline_deadline";
  ASSERT_TRUE(Exec(server.stub(), sql, {Int(0)}).ok());
  const double handed_over = Inline(server, "handed_over");
  const absl::Time start = absl::Now();
  grpc::Status s = Exec(server.stub(), sql, {Int(30)}, nullptr, absl::Milliseconds(300));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // the killer's bound, not 30 s
  EXPECT_EQ(Inline(server, "handed_over") - handed_over, 1);
  EXPECT_TRUE(Eventually(
      [] {
        absl::StatusOr<std::vector<std::vector<std::string>>> rows = AdminQuery(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
            "'SELECT SLEEP(?) AS inline_deadline%'");
        return rows.ok() && !rows->empty() && (*rows)[0][0] == "0";
      },
      absl::Seconds(5)));
  ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(5)));
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(server.stub(), sql, {Int(0)}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 0);
}

// KILL CONNECTION (as an admin) of the session a read waits on inline:
// the read is re-run on a fresh connection (a read is safe to re-run) and
// answered; the re-run counts as a replay.
TEST_F(InlineTest, ReadWhoseConnectionIsKilledInlineIsRerun) {
  TestServer server(OneConnection(absl::Seconds(10)));
  ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
  const std::string sql = "SELECT SLEEP(?) AS inline_killed, ? AS v";
  ASSERT_TRUE(Exec(server.stub(), sql, {Int(0), Int(0)}).ok());
  const std::string text = Scrape(server.server().metrics_port());
  const double replays = Counter(text, "txgate_replays_total");
  const double handed_over = Inline(server, "handed_over");
  SessionKiller killer("SELECT SLEEP(?) AS inline_killed", 1);
  txgate::v1::ExecuteResponse r;
  grpc::Status s = Exec(server.stub(), sql, {Str("0.5"), Int(7)}, &r);
  EXPECT_EQ(killer.Stop().size(), 1u);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(r.result().rows_size(), 1);
  EXPECT_EQ(r.result().rows(0).values(1).int64_value(), 7);
  EXPECT_EQ(Inline(server, "handed_over") - handed_over, 1);
  EXPECT_EQ(Counter(Scrape(server.server().metrics_port()), "txgate_replays_total") - replays, 1);
}

// State one call leaves on the one pooled session (session system
// variables a read depends on without naming them) is gone before the next
// call runs inline on it. (A read that names session state, such as a
// user variable, is not run inline on a used session: it needs a reset.)
TEST_F(InlineTest, SessionStateNeverLeaksIntoAnInlineCall) {
  TestServer server(OneConnection(absl::Seconds(10)));
  ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
  // time_zone changes what FROM_UNIXTIME answers, ANSI_QUOTES makes "q" a
  // column name.
  const std::string read = "SELECT CAST(FROM_UNIXTIME(?) AS CHAR) AS t, \"q\" AS quoted";
  const double completed = Inline(server, "completed");
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(Exec(server.stub(), "SET SESSION time_zone = '+05:00'").ok());
    ASSERT_TRUE(Exec(server.stub(), "SET SESSION sql_mode = 'ANSI_QUOTES'").ok());
    ASSERT_TRUE(server.AwaitPoolQuiet(absl::Seconds(5)));
    // Twice: the first prepares again (the reset dropped the statements),
    // the second runs inline.
    for (int j = 0; j < 2; ++j) {
      txgate::v1::ExecuteResponse r;
      grpc::Status s = Exec(server.stub(), read, {Int(0)}, &r);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ASSERT_EQ(r.result().rows_size(), 1);
      EXPECT_EQ(r.result().rows(0).values(0).string_value(), "1970-01-01 00:00:00");
      EXPECT_EQ(r.result().rows(0).values(1).string_value(), "q");
    }
  }
  EXPECT_EQ(Inline(server, "completed") - completed, 3);
}

}  // namespace
}  // namespace txgate::testing
