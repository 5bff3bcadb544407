// A hung database, with nothing faked: the test's own mariadbd is stopped
// with SIGSTOP (it accepts TCP connects in the kernel but answers nothing)
// and always continued with SIGCONT, also after a failed assertion. Each
// test asserts a bound that the README promises, never a timing of the
// machine: readiness turns NOT_SERVING within the probe timeout (+1 s) and
// back; a call is answered within the acquire timeout (+0.5 s), or its
// deadline plus the kill grace (+0.5 s) when its statement hangs; and a
// StreamQuery consumer that pauses too long gets a clear code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

service::ServerOptions HangOptions() {
  service::ServerOptions o = DefaultServerOptions();
  o.pool.probe_timeout = absl::Seconds(1);
  o.pool.maintenance_interval = absl::Milliseconds(200);
  o.pool.acquire_timeout = absl::Seconds(2);
  o.kill_grace = absl::Seconds(1);
  o.runner.stream_idle_timeout = absl::Seconds(2);
  return o;
}

class HangTest : public ::testing::Test {
 protected:
  // Readiness as a load balancer sees it (the main port's Health).
  HealthCheckResponse::ServingStatus Readiness() {
    auto stub = grpc::health::v1::Health::NewStub(server_.channel());
    HealthCheckRequest req;
    HealthCheckResponse resp;
    auto ctx = WithDeadline(absl::Seconds(5));
    grpc::Status s = stub->Check(ctx.get(), req, &resp);
    return s.ok() ? resp.status() : HealthCheckResponse::UNKNOWN;
  }

  // Waits for readiness `want` for at most `bound`; true if it came.
  bool ReadinessWithin(HealthCheckResponse::ServingStatus want, absl::Duration bound) {
    return Eventually([&] { return Readiness() == want; }, bound);
  }

  void SetUp() override {
    ASSERT_TRUE(ReadinessWithin(HealthCheckResponse::SERVING, absl::Seconds(10)));
  }

  void TearDown() override {
    // The database answers again (every stall has ended): the pool heals.
    EXPECT_TRUE(ReadinessWithin(HealthCheckResponse::SERVING, absl::Seconds(10)));
    EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10)));
  }

  const service::ServerOptions options_ = HangOptions();
  TestServer server_{options_};
};

TEST_F(HangTest, ReadinessTurnsNotServingWhileTheDatabaseIsStoppedAndBackAfter) {
  const absl::Duration bound = options_.pool.probe_timeout + absl::Seconds(1);
  MariadbStall stall;
  ASSERT_TRUE(stall.stopped());
  EXPECT_TRUE(ReadinessWithin(HealthCheckResponse::NOT_SERVING, bound));
  EXPECT_FALSE(server_.server().pool_stats().reachable);
  stall.End();
  EXPECT_TRUE(ReadinessWithin(HealthCheckResponse::SERVING, bound));
}

TEST_F(HangTest, ACallWithoutDeadlineIsAnsweredWithinTheAcquireTimeout) {
  MariadbStall stall;
  ASSERT_TRUE(stall.stopped());
  ASSERT_TRUE(ReadinessWithin(HealthCheckResponse::NOT_SERVING, absl::Seconds(5)));
  txgate::v1::ExecuteRequest req;
  req.set_sql("SELECT 1");
  txgate::v1::ExecuteResponse resp;
  grpc::ClientContext ctx;  // no deadline
  const absl::Time start = absl::Now();
  const grpc::Status s = server_.stub().Execute(&ctx, req, &resp);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no answer to a probe"));
  EXPECT_EQ(ErrorInfoOf(s).reason(), "DATABASE_UNAVAILABLE");
  EXPECT_LE(took, options_.pool.acquire_timeout + absl::Milliseconds(500));
}

// The statement runs when the database stops: the deadline passes, the
// KILL gets no answer, so the socket is cut after the kill grace and the
// connection is out of use by deadline + grace (+0.5 s).
TEST_F(HangTest, AStuckStatementIsCutWithinItsDeadlinePlusTheKillGrace) {
  const absl::Duration deadline = absl::Seconds(3);
  const absl::Time start = absl::Now();
  grpc::Status status;
  std::thread call(
      [&] { status = Exec(server_.stub(), "SELECT SLEEP(30)", {}, nullptr, deadline); });
  const bool running = Eventually(
      [&] {
        return !Admin(
                    "SELECT 1 FROM information_schema.PROCESSLIST WHERE USER = 'txgate' AND "
                    "INFO = 'SELECT SLEEP(30)'")
                    .empty();
      },
      absl::Seconds(2));
  {
    MariadbStall stall;
    EXPECT_TRUE(running && stall.stopped());
    // Released (cut, and not handed back to the pool) while still stopped.
    EXPECT_TRUE(
        Eventually([&] { return server_.server().pool_stats().in_use == 0; },
                   start + deadline + options_.kill_grace + absl::Milliseconds(500) - absl::Now()));
    call.join();
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
}

// The consumer reads one chunk, then pauses longer than
// --stream_idle_timeout while the server has more rows to send.
TEST_F(HangTest, AStreamConsumerThatPausesTooLongGetsAbortedWithTheRowsSent) {
  txgate::v1::StreamQueryRequest req;
  req.set_sql("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_200000");
  req.set_max_rows_per_chunk(100);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto reader = server_.stub().StreamQuery(&ctx, req);
  txgate::v1::StreamQueryResponse chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  // The pause under test, not a synchronisation: the server's blocked write
  // must outlast net_write_timeout.
  absl::SleepFor(options_.runner.stream_idle_timeout + absl::Seconds(2));
  int64_t rows = chunk.rows_size();
  while (reader->Read(&chunk)) rows += chunk.rows_size();
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_IDLE_TIMEOUT");
  EXPECT_THAT(s.error_message(),
              HasSubstr(absl::StrCat("dropped it after ", rows, " rows were sent")));
  EXPECT_LT(rows, 200000);
}

TEST_F(HangTest, AStreamsNetWriteTimeoutDoesNotOutliveTheStream) {
  txgate::v1::StreamQueryRequest req;
  req.set_sql("SELECT CAST(@@session.net_write_timeout AS CHAR)");
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto reader = server_.stub().StreamQuery(&ctx, req);
  txgate::v1::StreamQueryResponse chunk;
  std::string seen;
  while (reader->Read(&chunk)) {
    if (chunk.rows_size() > 0) seen = chunk.rows(0).values(0).string_value();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(seen, absl::StrCat(absl::ToInt64Seconds(options_.runner.stream_idle_timeout)));
  ASSERT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(5)));
  // Every pooled session, the stream's one included, has the default again.
  const std::string global = Admin("SELECT @@global.net_write_timeout")[0][0];
  for (int i = 0; i < 4; ++i) {
    txgate::v1::ExecuteResponse r;
    ASSERT_TRUE(
        Exec(server_.stub(), "SELECT CAST(@@session.net_write_timeout AS CHAR)", {}, &r).ok());
    EXPECT_EQ(r.result().rows(0).values(0).string_value(), global);
  }
}

}  // namespace
}  // namespace txgate::testing
