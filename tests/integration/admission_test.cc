// Admission control, slots and the drain, each against the real MariaDB:
// floods of concurrent calls are answered within the acquire timeout
// (counted from their arrival) or refused at once; a probe with a short
// deadline behind a flood hears why rather than DEADLINE_EXCEEDED;
// interactive transactions take a slot at their first message and free it
// before their client sees the status; a drain answers UNAVAILABLE, never
// CANCELLED.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

// One asynchronous Execute, timed from its start to its answer.
struct Call {
  grpc::ClientContext context;
  txgate::v1::ExecuteRequest request;
  txgate::v1::ExecuteResponse response;
  absl::Time start;
  absl::Time end;
  grpc::Status status;
};

// Starts `n` Execute calls of `sql` at once (each with `deadline`, if
// set) and waits for every answer.
std::vector<std::unique_ptr<Call>> Flood(txgate::v1::DatabaseService::Stub& stub, int n,
                                         const std::string& sql,
                                         absl::Duration deadline = absl::InfiniteDuration()) {
  std::vector<std::unique_ptr<Call>> calls;
  absl::Mutex mu;
  int left = n;
  for (int i = 0; i < n; ++i) {
    auto call = std::make_unique<Call>();
    call->request.set_sql(sql);
    if (deadline != absl::InfiniteDuration()) {
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    }
    calls.push_back(std::move(call));
  }
  for (auto& call : calls) {
    Call* c = call.get();
    c->start = absl::Now();
    stub.async()->Execute(&c->context, &c->request, &c->response, [c, &mu, &left](grpc::Status s) {
      c->end = absl::Now();
      c->status = std::move(s);
      absl::MutexLock lock(&mu);
      --left;
    });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* pending) { return *pending == 0; }, &left));
  return calls;
}

// 500 concurrent SELECT SLEEP(2) without a deadline against a pool of 16:
// each is answered within the acquire timeout (+ its own 2 s) + 0.5 s of
// its start, or refused RESOURCE_EXHAUSTED at once.
TEST(AdmissionTest, AFloodIsAnsweredWithinTheAcquireTimeoutOrRefusedAtOnce) {
  service::ServerOptions o = DefaultServerOptions();
  o.pool.max_size = 16;
  o.pool.acquire_timeout = absl::Seconds(2);
  TestServer server(o);
  const absl::Duration run = absl::Seconds(2);
  std::vector<std::unique_ptr<Call>> calls = Flood(server.stub(), 500, "SELECT SLEEP(2)");
  int ok = 0, refused = 0, late = 0;
  for (const auto& c : calls) {
    const absl::Duration took = c->end - c->start;
    if (c->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_EQ(ErrorInfoOf(c->status).reason(), "SERVER_OVERLOADED");
      EXPECT_THAT(c->status.error_message(), ::testing::HasSubstr("--max_queued_calls"));
      EXPECT_LT(took, absl::Milliseconds(500)) << "a refusal must come at once";
      continue;
    }
    if (c->status.ok()) ++ok;
    EXPECT_TRUE(c->status.ok() || c->status.error_code() == grpc::StatusCode::UNAVAILABLE)
        << c->status.error_code() << " " << c->status.error_message();
    if (took > o.pool.acquire_timeout + run + absl::Milliseconds(500)) {
      ++late;
      ADD_FAILURE() << "answered after " << took << ": " << c->status.error_message();
    }
  }
  EXPECT_GE(ok, 16);
  EXPECT_GT(refused, 0);  // 500 > workers + --max_queued_calls
  EXPECT_EQ(late, 0);
  EXPECT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
}

// Probes with a short deadline behind a flood get an answer or a precise
// refusal before their deadline, not DEADLINE_EXCEEDED.
TEST(AdmissionTest, AProbeBehindAFloodHearsWhyBeforeItsDeadline) {
  service::ServerOptions o = DefaultServerOptions();
  o.pool.max_size = 4;
  TestServer server(o);
  std::thread flood([&] { Flood(server.stub(), 100, "SELECT SLEEP(2)"); });
  ASSERT_TRUE(
      Eventually([&] { return server.server().pool_stats().in_use == 4; }, absl::Seconds(5)));
  std::vector<std::unique_ptr<Call>> probes =
      Flood(server.stub(), 20, "SELECT 1", absl::Seconds(2));
  for (const auto& c : probes) {
    EXPECT_NE(c->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << c->status.error_message();
    if (!c->status.ok()) {
      EXPECT_THAT(ErrorInfoOf(c->status).reason(),
                  ::testing::AnyOf("SERVER_OVERLOADED", "DATABASE_UNAVAILABLE"))
          << c->status.error_message();
    }
  }
  flood.join();
}

TEST(AdmissionTest, RequestBytesInFlightAreBounded) {
  service::ServerOptions o = DefaultServerOptions();
  o.max_request_bytes = 1 << 20;
  o.service.max_inflight_request_bytes = 3 << 20;
  TestServer server(o);
  // Four calls of about 1 MiB each, held in SLEEP: the fourth is refused.
  std::vector<std::unique_ptr<Call>> calls =
      Flood(server.stub(), 4,
            absl::StrCat("SELECT SLEEP(1) /* ", std::string((1 << 20) - 200, 'x'), " */"));
  int refused = 0;
  for (const auto& c : calls) {
    if (c->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_EQ(ErrorInfoOf(c->status).reason(), "SERVER_OVERLOADED");
      EXPECT_THAT(c->status.error_message(), ::testing::HasSubstr("--max_inflight_request_bytes"));
    } else {
      EXPECT_TRUE(c->status.ok()) << c->status.error_message();
    }
  }
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(server.server().database().inflight_request_bytes(), 0);
  // Given back: the same calls one at a time all pass.
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(Exec(server.stub(), "SELECT ?", {Str(std::string((1 << 20) - 200, 'y'))}).ok());
  }
}

using Stream = TransactionStream;

// Streams that sent nothing hold no slot; the slot is taken at begin.
TEST(SlotsTest, AStreamTakesItsSlotAtItsFirstMessage) {
  service::ServerOptions o = DefaultServerOptions();
  o.service.max_open_transactions = 1;
  TestServer server(o);
  std::vector<std::unique_ptr<Stream>> silent;
  for (int i = 0; i < 8; ++i) silent.push_back(std::make_unique<Stream>(server.stub()));
  Stream stream(server.stub());
  ASSERT_TRUE(stream.Begin());
  EXPECT_EQ(server.server().database().open_transactions(), 1);
  EXPECT_TRUE(stream.Commit());
  EXPECT_TRUE(stream.Close().ok());
  for (auto& s : silent) EXPECT_EQ(s->Close().error_code(), grpc::StatusCode::ABORTED);
}

TEST(SlotsTest, AStreamThatSendsNothingIsEndedAfterTheBeginTimeout) {
  service::ServerOptions o = DefaultServerOptions();
  o.service.transaction_begin_timeout = absl::Milliseconds(300);
  TestServer server(o);
  Stream stream(server.stub());
  grpc::Status s = stream.Ended();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_IDLE_TIMEOUT");
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("--transaction_begin_timeout"));
  // A stream that begins in time is not affected.
  Stream ok(server.stub());
  ASSERT_TRUE(ok.Begin());
  EXPECT_TRUE(ok.Commit());
  EXPECT_TRUE(ok.Close().ok());
}

// One stream at a time against --max_open_transactions=1: the slot is free
// before the client sees the previous stream's status, so none is refused.
TEST(SlotsTest, SequentialStreamsAreNeverRefused) {
  service::ServerOptions o = DefaultServerOptions();
  o.service.max_open_transactions = 1;
  TestServer server(o);
  int refused = 0;
  for (int i = 0; i < 200; ++i) {
    Stream stream(server.stub());
    const bool begun = stream.Begin();
    const bool committed = begun && stream.Commit();
    grpc::Status s = stream.Close();
    if (!begun || !committed || !s.ok()) {
      ++refused;
      ADD_FAILURE() << "stream " << i << ": " << s.error_code() << " " << s.error_message();
    }
  }
  EXPECT_EQ(refused, 0);
}

// SIGTERM-like drain under 64 looping writers and a call that outlives the
// grace period: txgate answers no call CANCELLED; the long one is cut with
// UNAVAILABLE, SERVER_SHUTTING_DOWN. A call that gRPC accepted on a
// connection in the instant the drain starts, before any handler of
// txgate's saw it, can still be cancelled by gRPC itself (no ErrorInfo;
// gRPC C++ gives the server no hook for it): what a client relies on is
// that such a call never ran — asserted by each writer's row.
TEST(DrainTest, CallsCutOrRefusedByTheDrainGetUnavailableAndNothingCancelledRan) {
  ASSERT_TRUE(AdminQuery("DROP TABLE IF EXISTS txgate.drain_t").ok());
  ASSERT_TRUE(AdminQuery("CREATE TABLE txgate.drain_t (id BIGINT PRIMARY KEY, s INT)").ok());
  service::ServerOptions o = DefaultServerOptions();
  o.pool.max_size = 16;
  o.shutdown_grace = absl::Seconds(3);
  o.kill_grace = absl::Milliseconds(500);
  auto server = std::make_unique<TestServer>(o);
  auto channel = server->channel();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> next_id{1};
  absl::Mutex mu;
  std::map<grpc::StatusCode, int> codes;
  std::vector<std::string> unexpected;  // answers no drain may give
  std::set<int64_t> applied;            // answered OK: their row must exist
  std::set<int64_t> not_applied;        // refused, cut or cancelled: no row
  std::vector<std::thread> clients;
  for (int i = 0; i < 64; ++i) {
    clients.emplace_back([&] {
      auto stub = txgate::v1::DatabaseService::NewStub(channel);
      while (!stop.load()) {
        const int64_t id = next_id++;
        grpc::Status s = Exec(*stub, "INSERT INTO drain_t VALUES (?, SLEEP(0.05))", {Int(id)},
                              nullptr, absl::Seconds(20));
        const std::string reason = ErrorInfoOf(s).reason();
        absl::MutexLock lock(&mu);
        ++codes[s.error_code()];
        if (s.ok()) {
          applied.insert(id);
        } else if (s.error_code() == grpc::StatusCode::CANCELLED && reason.empty()) {
          not_applied.insert(id);  // gRPC's own: the call never reached txgate
        } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
                   reason == "SERVER_SHUTTING_DOWN") {
          not_applied.insert(id);  // refused, or cut and rolled back
        } else if (!(s.error_code() == grpc::StatusCode::UNKNOWN &&
                     reason == "COMMIT_OUTCOME_UNKNOWN") &&
                   !(s.error_code() == grpc::StatusCode::UNAVAILABLE && reason.empty())) {
          // (UNAVAILABLE with no reason: the connection closed at the end.)
          unexpected.push_back(absl::StrCat(s.error_code(), " ", reason, ": ", s.error_message()));
        }
      }
    });
  }
  ASSERT_TRUE(Eventually(
      [&] {
        absl::MutexLock lock(&mu);
        return codes[grpc::StatusCode::OK] > 200;
      },
      absl::Seconds(20)));
  grpc::Status long_status;
  std::thread long_call([&] {
    auto stub = txgate::v1::DatabaseService::NewStub(channel);
    long_status = Exec(*stub, "SELECT SLEEP(30)", {}, nullptr, absl::Seconds(60));
  });
  ASSERT_TRUE(Eventually(
      [&] {
        return Admin(
                   "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                   "'SELECT SLEEP(30)%'")[0][0] == "1";
      },
      absl::Seconds(10)));
  server->server().Shutdown();
  stop = true;
  for (std::thread& t : clients) t.join();
  long_call.join();
  EXPECT_EQ(long_status.error_code(), grpc::StatusCode::UNAVAILABLE) << long_status.error_message();
  EXPECT_EQ(ErrorInfoOf(long_status).reason(), "SERVER_SHUTTING_DOWN");
  std::set<int64_t> rows;
  for (const auto& row : Admin("SELECT id FROM txgate.drain_t")) rows.insert(std::stoll(row[0]));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(unexpected, ::testing::IsEmpty());
  for (int64_t id : applied) EXPECT_EQ(rows.count(id), 1u) << "answered OK, no row: " << id;
  for (int64_t id : not_applied) EXPECT_EQ(rows.count(id), 0u) << "not applied, but a row: " << id;
  EXPECT_GT(codes[grpc::StatusCode::UNAVAILABLE], 0);  // the drain refused or cut some
  EXPECT_TRUE(AdminQuery("DROP TABLE txgate.drain_t").ok());
}

}  // namespace
}  // namespace txgate::testing
