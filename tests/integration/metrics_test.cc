// Prometheus metrics scraped over HTTP from a server under real traffic and
// real faults (a syntax error, KILL CONNECTION of a running statement), and
// the structured log of each call: a request id, method, code and duration,
// and never SQL text, parameter values, error messages, tokens or the
// database password.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/version.h"
#include "server/service/call_record.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

class MetricsTest : public ::testing::Test {
 protected:
  static service::ServerOptions Options() {
    service::ServerOptions o = DefaultServerOptions();
    o.metrics_listen = "127.0.0.1:0";
    return o;
  }
  std::string Scrape() { return testing::Scrape(server_.server().metrics_port()); }
  TestServer server_{Options()};
};

TEST_F(MetricsTest, ServesTheRegistryOverHttp) {
  ASSERT_NE(server_.server().metrics_port(), 0);
  ASSERT_TRUE(Exec(server_.stub(), "SELECT 1").ok());  // families with no sample are not shown
  const std::string text = Scrape();
  ASSERT_FALSE(text.empty());
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE grpc_server_call_started_total counter"));
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE grpc_server_call_duration_seconds histogram"));
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE txgate_pool_open_connections gauge"));
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE txgate_pool_discarded_total counter"));
  EXPECT_GE(Sample(text, "txgate_pool_open_connections"), 1);
  EXPECT_GE(Sample(text, "txgate_pool_idle_connections"), 0);
  EXPECT_EQ(Sample(text, "txgate_pool_in_use_connections"), 0);
  EXPECT_EQ(Sample(text, "txgate_pool_waiters"), 0);
  EXPECT_GE(Sample(text, "txgate_pool_connects_total"), 1);
  EXPECT_EQ(Sample(text, "txgate_database_reachable"), 1);
  for (const char* name : {"txgate_pool_connect_failures_total", "txgate_replays_total",
                           "txgate_conflict_retries_total", "txgate_outcome_lookups_total",
                           "txgate_open_transactions", "txgate_transaction_idle_timeouts_total",
                           "txgate_overload_refusals_total", "txgate_inflight_request_bytes"}) {
    EXPECT_GE(Sample(text, name), 0) << name;
  }
}

TEST_F(MetricsTest, BuildInfoNamesTheVersionAndCommit) {
  const std::string text = Scrape();
  EXPECT_EQ(Sample(text, "txgate_build_info",
                   {absl::StrCat("version=\"", Version(), "\""),
                    absl::StrCat("commit=\"", GitCommit(), "\"")}),
            1);
  EXPECT_EQ(Version(), "0.2.0");  // CMakeLists.txt's project(VERSION)
  EXPECT_THAT(std::string(GitCommit()), ::testing::MatchesRegex("[0-9a-f]{40}|unknown"));
}

// The process as /proc and getrlimit see it, under the Prometheus client
// libraries' names.
TEST_F(MetricsTest, ProcessMetricsDescribeThisProcess) {
  const std::string text = Scrape();
  EXPECT_GT(Sample(text, "process_cpu_seconds_total"), 0);
  EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Sample(text, "process_virtual_memory_bytes"), 1 << 20);
  EXPECT_GE(Sample(text, "process_threads"), 4);
  EXPECT_GE(Sample(text, "process_open_fds"), 3);
  EXPECT_GE(Sample(text, "process_max_fds"), Sample(text, "process_open_fds"));
  const double start = Sample(text, "process_start_time_seconds");
  const double now = absl::ToUnixSeconds(absl::Now());
  // The test process started within the last hour, not in the future.
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
}

TEST_F(MetricsTest, RpcsLatencyAndMysqlErrorsMoveWithTraffic) {
  const std::string before = Scrape();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Exec(server_.stub(), "SELECT ?", {Int(i)}).ok());
  EXPECT_EQ(Exec(server_.stub(), "SELEKT 1").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Exec(server_.stub(), "SELECT * FROM no_such_table_m").error_code(),
            grpc::StatusCode::NOT_FOUND);
  txgate::v1::RunTransactionRequest req;
  req.add_statements()->set_sql("SELECT 1");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  ASSERT_TRUE(server_.stub().RunTransaction(ctx.get(), req, &resp).ok());
  const std::string after = Scrape();

  auto delta = [&](const std::string& name, const std::vector<std::string>& labels) {
    return Counter(after, name, labels) - Counter(before, name, labels);
  };
  const std::string execute = R"(grpc_method="txgate.v1.DatabaseService/Execute")";
  const std::string run = R"(grpc_method="txgate.v1.DatabaseService/RunTransaction")";
  const std::string calls = "grpc_server_call_duration_seconds_count";
  EXPECT_EQ(delta("grpc_server_call_started_total", {execute}), 5);
  EXPECT_EQ(delta("grpc_server_call_started_total", {run}), 1);
  EXPECT_EQ(delta(calls, {execute, R"(grpc_status="OK")"}), 3);
  EXPECT_EQ(delta(calls, {execute, R"(grpc_status="INVALID_ARGUMENT")"}), 1);
  EXPECT_EQ(delta(calls, {execute, R"(grpc_status="NOT_FOUND")"}), 1);
  EXPECT_EQ(delta(calls, {run, R"(grpc_status="OK")"}), 1);
  EXPECT_EQ(delta("grpc_server_call_duration_seconds_bucket", {execute, R"(le="+Inf")"}), 5);
  // The buckets run from 50 us to 30 s.
  EXPECT_GE(Sample(after, "grpc_server_call_duration_seconds_bucket", {execute, R"(le="5e-05")"}),
            0);
  EXPECT_GE(Sample(after, "grpc_server_call_duration_seconds_bucket", {execute, R"(le="30")"}), 5);
  EXPECT_EQ(delta("txgate_mysql_errors_total", {R"(errno="1064")"}), 1);
  EXPECT_EQ(delta("txgate_mysql_errors_total", {R"(errno="1146")"}), 1);
}

// KILL CONNECTION of the session running a read: the connection is
// discarded, the read replayed on a new one, the caller sees the result.
TEST_F(MetricsTest, AKilledConnectionMovesDiscardedAndReplays) {
  const std::string before = Scrape();
  grpc::Status status;
  std::thread call([&] { status = Exec(server_.stub(), "SELECT SLEEP(1.5)"); });
  std::string id;
  ASSERT_TRUE(Eventually(
      [&] {
        auto rows = Admin(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'txgate' AND INFO LIKE "
            "'SELECT SLEEP%'");
        if (rows.empty()) return false;
        id = rows[0][0];
        return true;
      },
      absl::Seconds(10)));
  Admin("KILL CONNECTION " + id);
  call.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(5)));
  const std::string after = Scrape();
  EXPECT_GE(Counter(after, "txgate_pool_discarded_total") -
                Counter(before, "txgate_pool_discarded_total"),
            1);
  EXPECT_GE(Counter(after, "txgate_replays_total") - Counter(before, "txgate_replays_total"), 1);
  EXPECT_GE(
      Counter(after, "txgate_pool_connects_total") - Counter(before, "txgate_pool_connects_total"),
      1);
}

TEST(MetricsConfigTest, AnAddressThatCannotBeBoundFailsAtStart) {
  service::ServerOptions o = DefaultServerOptions();
  o.metrics_listen = "127.0.0.1:0";
  TestServer first(o);
  o.metrics_listen = absl::StrCat("127.0.0.1:", first.server().metrics_port());
  absl::StatusOr<std::unique_ptr<service::Server>> second = service::Server::Start(o);
  EXPECT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), ::testing::HasSubstr("cannot serve metrics"));
}

// Sends stderr to a file for its lifetime.
class CapturedStderr {
 public:
  CapturedStderr() : path_("/tmp/txgate-log-" + std::to_string(getpid())) {
    fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    FILE* f = fopen(path_.c_str(), "w");
    dup2(fileno(f), STDERR_FILENO);
    fclose(f);
  }
  ~CapturedStderr() { Restore(); }
  // Restores stderr; returns what was written.
  std::string Restore() {
    if (saved_ >= 0) {
      fflush(stderr);
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      saved_ = -1;
    }
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::remove(path_.c_str());
    return ss.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

TEST(LogTest, EachCallIsLoggedWithARequestIdAndNothingSecret) {
  const std::string param = "param-secret-5b7e0c";
  const std::string literal = "literal-secret-91c4aa";
  const std::string token = "token-secret-d3a9f1";
  std::string log;
  {
    CapturedStderr captured;
    {
      service::ServerOptions o = DefaultServerOptions();
      TestServer server(o);
      ASSERT_TRUE(Exec(server.stub(), "DROP TABLE IF EXISTS log_t").ok());
      ASSERT_TRUE(Exec(server.stub(), "CREATE TABLE log_t (v VARCHAR(64) PRIMARY KEY)").ok());
      ASSERT_TRUE(Exec(server.stub(), "INSERT INTO log_t VALUES (?)", {Str(param)}).ok());
      // A duplicate: MySQL's message quotes the value.
      EXPECT_EQ(Exec(server.stub(), "INSERT INTO log_t VALUES (?)", {Str(param)}).error_code(),
                grpc::StatusCode::ALREADY_EXISTS);
      EXPECT_TRUE(Exec(server.stub(), absl::StrCat("SELECT '", literal, "'")).ok());

      txgate::v1::ExecuteRequest req;
      req.set_sql("SELECT 1");
      txgate::v1::ExecuteResponse resp;
      grpc::ClientContext ctx;
      ctx.AddMetadata("x-request-id", "req-abc-123");
      ctx.AddMetadata("authorization", "Bearer " + token);  // ignored, never logged
      ASSERT_TRUE(server.stub().Execute(&ctx, req, &resp).ok());
      auto echoed = ctx.GetServerInitialMetadata().find("x-request-id");
      ASSERT_NE(echoed, ctx.GetServerInitialMetadata().end());
      EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "req-abc-123");
    }
    log = captured.Restore();
  }
  // Numbers are JSON numbers.
  EXPECT_THAT(
      log,
      ::testing::ContainsRegex(
          R"("msg":"rpc","request_id":"req-abc-123","method":"Execute","code":"OK","duration_ms":[0-9]+\.[0-9]{3},)"));
  EXPECT_THAT(log, ::testing::HasSubstr(R"("code":"ALREADY_EXISTS")"));
  EXPECT_THAT(log, ::testing::HasSubstr(R"("mysql_errno":1062)"));
  EXPECT_THAT(log, ::testing::HasSubstr(R"("sql_bytes":8,)"));
  EXPECT_THAT(log, ::testing::HasSubstr(R"("sql_keyword":"INSERT")"));
  // Generated ids: 32 hex digits.
  EXPECT_THAT(log, ::testing::ContainsRegex(R"("request_id":"[0-9a-f]{32}")"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(param)));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(literal)));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(token)));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(Database().password)));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr("Duplicate entry")));
}

// A caller's W3C traceparent puts its trace and span ids into the call's
// line; an invalid one (here: upper-case hex, which the spec refuses) is
// ignored and never echoed. With --log_slow_calls, fast successful calls
// go to debug (dropped at level info) while failed ones are still logged.
TEST(LogTest, TraceParentAndSlowCallThreshold) {
  std::string log;
  {
    CapturedStderr captured;
    {
      service::ServerOptions o = DefaultServerOptions();
      TestServer server(o);
      auto call = [&server](const std::string& request_id, const std::string& traceparent,
                            const std::string& sql) {
        txgate::v1::ExecuteRequest req;
        req.set_sql(sql);
        txgate::v1::ExecuteResponse resp;
        grpc::ClientContext ctx;
        ctx.AddMetadata("x-request-id", request_id);
        if (!traceparent.empty()) ctx.AddMetadata("traceparent", traceparent);
        return server.stub().Execute(&ctx, req, &resp);
      };
      EXPECT_TRUE(
          call("req-traced", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "SELECT 1")
              .ok());
      EXPECT_TRUE(call("req-bad-trace", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
                       "SELECT 1")
                      .ok());
      service::CallRecord::SetSlowCallThreshold(absl::Hours(1));
      EXPECT_TRUE(call("req-fast", "", "SELECT 1").ok());
      EXPECT_FALSE(call("req-failed", "", "SELECT * FROM no_such_table_log").ok());
      service::CallRecord::SetSlowCallThreshold(absl::ZeroDuration());
    }
    log = captured.Restore();
  }
  EXPECT_THAT(log,
              ::testing::HasSubstr(
                  R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7")"));
  EXPECT_THAT(log, ::testing::HasSubstr(R"("request_id":"req-bad-trace")"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr("4BF92F")));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(R"("request_id":"req-fast")")));
  EXPECT_THAT(log, ::testing::HasSubstr(R"("request_id":"req-failed")"));
}

}  // namespace
}  // namespace txgate::testing
