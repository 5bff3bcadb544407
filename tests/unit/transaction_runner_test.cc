// TransactionRunner driven through a real ConnectionPool over the scripted
// FakeDatabase, with a TestClock: every retry rule as the runner executes
// it — what it re-runs, what it never re-runs, what it looks up and what
// the caller gets — with no database and no sleeps.
#include "server/runner/transaction_runner.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/db/session_identity.h"
#include "server/sql/error.h"
#include "tests/unit/fake_database.h"

namespace txgate::runner {
namespace {

using ::testing::ElementsAre;
using testing::Fails;
using testing::FakeDatabase;
using ::testing::HasSubstr;
using testing::Int;
using testing::NeverSent;
using testing::Reply;
using testing::TestClock;

// A COMMIT whose reply was lost, after it was (or was not) applied.
Reply LostCommit(bool applied) {
  Reply r = Fails(FakeDatabase::Lost());
  r.applied = applied;
  return r;
}

Reply Rows(std::vector<std::vector<txgate::v1::Value>> rows) {
  Reply r;
  r.columns = {"v"};
  r.rows = std::move(rows);
  return r;
}

txgate::v1::Statement Stmt(const std::string& sql) {
  txgate::v1::Statement s;
  s.set_sql(sql);
  return s;
}

unsigned int ErrnoOf(const absl::Status& s) {
  std::optional<sql::MysqlError> e = sql::GetMysqlError(s);
  return e.has_value() ? e->errnum : 0;
}

class RunnerTest : public ::testing::Test {
 protected:
  RunnerTest() {
    pool::PoolOptions pool_options;
    pool_options.min_idle = 0;
    pool_options.max_size = 4;
    pool_options.maintenance_interval = absl::Hours(1);
    pool_ = std::make_unique<pool::ConnectionPool>(pool_options, db_.Factory(),
                                                   [this] { return clock_.Now(); });
    OutcomeOptions outcome_options;
    outcome_options.purge_interval = absl::Hours(1);
    outcomes_ = std::make_unique<OutcomeStore>(pool_.get(), outcome_options);
    Restart(RunnerOptions());
  }

  ~RunnerTest() override {
    runner_.reset();
    outcomes_.reset();
    pool_->Close();
  }

  void Restart(RunnerOptions options) {
    runner_ = std::make_unique<TransactionRunner>(pool_.get(), outcomes_.get(), options, &clock_);
  }

  std::unique_ptr<CallContext> Call(absl::Duration timeout = absl::Seconds(10)) {
    return std::make_unique<CallContext>(clock_.Now() + timeout);
  }

  absl::StatusOr<txgate::v1::ExecuteResponse> Execute(const std::string& sql) {
    txgate::v1::ExecuteRequest request;
    request.set_sql(sql);
    return runner_->Execute(*Call(), request);
  }

  txgate::v1::RunTransactionRequest Transaction(std::vector<std::string> sqls,
                                                const std::string& key = "") {
    txgate::v1::RunTransactionRequest request;
    for (const std::string& sql : sqls) *request.add_statements() = Stmt(sql);
    request.set_idempotency_key(key);
    return request;
  }

  // What ran, without the connection ids (which depend on the pool).
  std::vector<std::string> Ran(absl::string_view prefix = "") const { return db_.Commands(prefix); }

  FakeDatabase db_;
  TestClock clock_;
  std::unique_ptr<pool::ConnectionPool> pool_;
  std::unique_ptr<OutcomeStore> outcomes_;
  std::unique_ptr<TransactionRunner> runner_;
};

// ---- Execute --------------------------------------------------------------

TEST_F(RunnerTest, AReadLostInFlightIsReRunOnAFreshConnection) {
  db_.Expect("SELECT v", Fails(FakeDatabase::Lost()));
  db_.Expect("SELECT v", Rows({{Int(7)}}));
  absl::StatusOr<txgate::v1::ExecuteResponse> r = Execute("SELECT v FROM t");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->result().rows_size(), 1);
  EXPECT_EQ(r->result().rows(0).values(0).int64_value(), 7);
  EXPECT_THAT(Ran("SELECT"), ElementsAre("SELECT v FROM t", "SELECT v FROM t"));
  EXPECT_EQ(runner_->stats().replays, 1);
  EXPECT_EQ(pool_->Stats().discarded, 1);  // the lost connection was not reused
}

TEST_F(RunnerTest, AnAutocommitWriteLostInFlightIsNeverReRun) {
  db_.Expect("UPDATE", Fails(FakeDatabase::Lost()));
  absl::StatusOr<txgate::v1::ExecuteResponse> r = Execute("UPDATE t SET v = v + 1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sql::GetReason(r.status()), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_EQ(ErrnoOf(r.status()), 2013u);  // the MySQL detail stays attached
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE t SET v = v + 1"));
  EXPECT_EQ(runner_->stats().replays, 0);
}

TEST_F(RunnerTest, AWriteThatNeverLeftIsReRun) {
  db_.Expect("UPDATE", NeverSent());
  absl::StatusOr<txgate::v1::ExecuteResponse> r = Execute("UPDATE t SET v = v + 1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE t SET v = v + 1", "UPDATE t SET v = v + 1"));
}

TEST_F(RunnerTest, TheRequestsOwnFaultIsAnsweredAtOnce) {
  db_.Expect("SELEC", Fails(FakeDatabase::Error(1064, "42000", "You have an error")));
  absl::StatusOr<txgate::v1::ExecuteResponse> r = Execute("SELEC 1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoOf(r.status()), 1064u);
  EXPECT_EQ(Ran("SELEC").size(), 1u);
}

TEST_F(RunnerTest, TheDeadlineStopsHealing) {
  // Every attempt loses its connection and takes a second.
  Reply lost = Fails(FakeDatabase::Lost());
  lost.on_arrival = [this] { clock_.Advance(absl::Seconds(1)); };
  db_.Expect("SELECT", lost, /*times=*/-1);
  txgate::v1::ExecuteRequest request;
  request.set_sql("SELECT 1");
  absl::StatusOr<txgate::v1::ExecuteResponse> r =
      runner_->Execute(*Call(absl::Milliseconds(2500)), request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoOf(r.status()), 2013u);
  EXPECT_EQ(Ran("SELECT").size(), 3u);  // at 1 s, 2 s, 3 s: the third is past the deadline
}

TEST_F(RunnerTest, ACancelledCallAnswersCancelledAndIsNotReRun) {
  std::unique_ptr<CallContext> call = Call();
  Reply killed = Fails(FakeDatabase::Interrupted());
  killed.on_arrival = [&] { call->Cancel(); };
  db_.Expect("SELECT", killed);
  txgate::v1::ExecuteRequest request;
  request.set_sql("SELECT SLEEP(10)");
  absl::StatusOr<txgate::v1::ExecuteResponse> r = runner_->Execute(*call, request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sql::GetReason(r.status()), "CANCELLED");
  EXPECT_EQ(Ran("SELECT").size(), 1u);
}

TEST_F(RunnerTest, ACallPastItsDeadlineAnswersDeadlineExceeded) {
  std::unique_ptr<CallContext> call = Call(absl::Seconds(1));
  Reply killed = Fails(FakeDatabase::Lost());  // the killer cut the socket
  killed.on_arrival = [&] {
    clock_.Advance(absl::Seconds(2));
    call->Cancel();
  };
  db_.Expect("SELECT", killed);
  txgate::v1::ExecuteRequest request;
  request.set_sql("SELECT SLEEP(10)");
  absl::StatusOr<txgate::v1::ExecuteResponse> r = runner_->Execute(*call, request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sql::GetReason(r.status()), "DEADLINE_EXCEEDED");
}

TEST_F(RunnerTest, AWriteCutByTheDeadlineIsUnknownNotDeadlineExceeded) {
  std::unique_ptr<CallContext> call = Call(absl::Seconds(1));
  Reply cut = Fails(FakeDatabase::Lost());  // the killer cut the socket mid-write
  cut.on_arrival = [&] {
    clock_.Advance(absl::Seconds(2));
    call->Cancel();
  };
  db_.Expect("UPDATE", cut);
  txgate::v1::ExecuteRequest request;
  request.set_sql("UPDATE t SET v = v + 1");
  absl::StatusOr<txgate::v1::ExecuteResponse> r = runner_->Execute(*call, request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sql::GetReason(r.status()), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_EQ(Ran("UPDATE").size(), 1u);
}

TEST_F(RunnerTest, AKeyedCommitCutByACancelIsUnknownAndNotLookedUpOrReRun) {
  std::unique_ptr<CallContext> call = Call();
  Reply cut = LostCommit(/*applied=*/true);
  cut.on_arrival = [&] { call->Cancel(); };
  db_.Expect("COMMIT", cut);  // the prior-outcome check is one plain read: no COMMIT of its own
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*call, Transaction({"UPDATE a"}, "k1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sql::GetReason(r.status()), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));
  EXPECT_TRUE(Ran("KILL").empty());
}

TEST_F(RunnerTest, AStatementStoppedByTheServerForACancelIsCancelled) {
  std::unique_ptr<CallContext> call = Call();
  Reply killed = Fails(FakeDatabase::Interrupted());  // 1317: the server rolled it back
  killed.on_arrival = [&] { call->Cancel(); };
  db_.Expect("UPDATE", killed);
  txgate::v1::ExecuteRequest request;
  request.set_sql("UPDATE t SET v = v + 1");
  absl::StatusOr<txgate::v1::ExecuteResponse> r = runner_->Execute(*call, request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(RunnerTest, ALossAgainAndAgainIsAnsweredAfterTheHealBudget) {
  db_.Expect("SELECT", Fails(FakeDatabase::Lost()), /*times=*/-1);
  absl::StatusOr<txgate::v1::ExecuteResponse> r = Execute("SELECT 1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sql::GetReason(r.status()), "DATABASE_UNAVAILABLE");
  EXPECT_EQ(ErrnoOf(r.status()), 2013u);
  EXPECT_THAT(r.status().message(), HasSubstr("--max_heal_retries=3"));
  // The first run and --max_heal_retries (3) re-runs, not until the deadline.
  EXPECT_EQ(Ran("SELECT").size(), 4u);
  EXPECT_EQ(runner_->stats().replays, 3);
  EXPECT_EQ(pool_->Stats().discarded, 4);
  // The first re-run at once, then 50 ms and 100 ms steps, jittered in [d/2, d].
  const std::vector<absl::Duration> sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_GE(sleeps[0], absl::Milliseconds(25));
  EXPECT_LE(sleeps[0], absl::Milliseconds(50));
  EXPECT_GE(sleeps[1], absl::Milliseconds(50));
  EXPECT_LE(sleeps[1], absl::Milliseconds(100));
}

TEST_F(RunnerTest, AZeroHealBudgetAnswersTheFirstLoss) {
  RunnerOptions options;
  options.max_heal_retries = 0;
  Restart(options);
  db_.Expect("SELECT", Fails(FakeDatabase::Lost()), /*times=*/-1);
  absl::StatusOr<txgate::v1::ExecuteResponse> r = Execute("SELECT 1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Ran("SELECT").size(), 1u);
}

TEST_F(RunnerTest, ALossWhileTheDatabaseIsDownAnswersUnavailable) {
  Reply lost = Fails(FakeDatabase::Lost());
  // The server dies and stays down: every session is gone (also one the
  // pool's warm-up may have opened beside the call's: it must not serve
  // the re-run), and no connect succeeds.
  lost.on_arrival = [this] {
    db_.set_down(true);
    db_.Restart();
  };
  db_.Expect("SELECT", lost);
  txgate::v1::ExecuteRequest request;
  request.set_sql("SELECT 1");
  // The pool gives up at once: no connect can open before this deadline.
  absl::StatusOr<txgate::v1::ExecuteResponse> r =
      runner_->Execute(*Call(absl::Milliseconds(1)), request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sql::GetReason(r.status()), "DATABASE_UNAVAILABLE");
  EXPECT_EQ(Ran("SELECT").size(), 1u);
}

// ---- Session state ------------------------------------------------------

TEST_F(RunnerTest, PlainCallsNeitherResetNorPayForAReset) {
  ASSERT_TRUE(Execute("INSERT INTO t (v) VALUES (1)").ok());
  ASSERT_TRUE(Execute("SELECT v FROM t").ok());
  EXPECT_TRUE(Ran("RESET").empty());
}

TEST_F(RunnerTest, ACallThatMayLeaveStateIsResetOnReturn) {
  ASSERT_TRUE(Execute("SELECT GET_LOCK('job', 0)").ok());
  EXPECT_THAT(Ran(), ElementsAre("SELECT GET_LOCK('job', 0)", "RESET SESSION"));
}

TEST_F(RunnerTest, AReaderOfLeftoversStartsOnAResetSessionOnlyIfItWasUsed) {
  ASSERT_TRUE(Execute("SELECT LAST_INSERT_ID()").ok());  // fresh: no reset before
  ASSERT_TRUE(Execute("INSERT INTO t (v) VALUES (1)").ok());
  ASSERT_TRUE(Execute("SELECT FOUND_ROWS()").ok());
  EXPECT_THAT(
      Ran(), ElementsAre("SELECT LAST_INSERT_ID()", "RESET SESSION", "INSERT INTO t (v) VALUES (1)",
                         "RESET SESSION", "SELECT FOUND_ROWS()", "RESET SESSION"));
}

// ---- Execute's inline fast path ---------------------------------------------

// A driver without non-blocking steps (the fake's StartAsync answers
// kNotEligible): the inline path takes an idle connection at once, sends
// nothing, and hands the call over; the handed-over call runs once, as
// Execute would, on that connection. Nothing is tried for a write, without
// a free idle connection, or with no wait.
TEST_F(RunnerTest, TheInlinePathHandsOverWhatItCannotRunWithoutBlocking) {
  txgate::v1::ExecuteRequest read;
  read.set_sql("SELECT v FROM t");
  std::unique_ptr<CallContext> ctx = Call();
  {
    std::vector<pool::ConnectionPool::Lease> held;  // every connection the pool may open
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<pool::ConnectionPool::Lease> lease = pool_->Acquire(ctx->deadline());
      ASSERT_TRUE(lease.ok()) << lease.status();
      held.push_back(std::move(*lease));
    }
    TransactionRunner::InlineResult r = runner_->ExecuteInline(*ctx, read, absl::Milliseconds(1));
    EXPECT_FALSE(r.answer.has_value());
    EXPECT_EQ(r.rest, nullptr);  // no idle connection: nothing begun, nothing waited for
  }
  db_.Expect("SELECT v", Rows({{Int(1)}}));
  ASSERT_TRUE(Execute("SELECT v FROM t").ok());
  TransactionRunner::InlineResult r = runner_->ExecuteInline(*ctx, read, absl::Milliseconds(1));
  EXPECT_FALSE(r.answer.has_value());
  ASSERT_NE(r.rest, nullptr);
  EXPECT_EQ(pool_->Stats().in_use, 1);
  EXPECT_THAT(Ran("SELECT"), ElementsAre("SELECT v FROM t"));  // nothing sent inline
  EXPECT_EQ(runner_->stats().inline_handed_over, 1);
  db_.Expect("SELECT v", Rows({{Int(2)}}));
  absl::StatusOr<txgate::v1::ExecuteResponse> answer =
      runner_->ExecuteHandedOver(*ctx, read, std::move(r.rest));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->result().rows(0).values(0).int64_value(), 2);
  EXPECT_THAT(Ran("SELECT"), ElementsAre("SELECT v FROM t", "SELECT v FROM t"));

  txgate::v1::ExecuteRequest write;
  write.set_sql("UPDATE t SET v = 1");
  EXPECT_EQ(runner_->ExecuteInline(*ctx, write, absl::Milliseconds(1)).rest, nullptr);
  EXPECT_EQ(runner_->ExecuteInline(*ctx, read, absl::ZeroDuration()).rest, nullptr);
  EXPECT_EQ(pool_->Stats().in_use, 0);
  EXPECT_EQ(runner_->stats().inline_handed_over, 1);
  EXPECT_EQ(runner_->stats().inline_completed, 0);
}

// ---- RunTransaction ---------------------------------------------------------

TEST_F(RunnerTest, ALossBeforeCommitReRunsTheWholeTransaction) {
  db_.Expect("UPDATE b", Fails(FakeDatabase::Lost()));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a", "UPDATE b"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 2u);
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a", "UPDATE b", "UPDATE a", "UPDATE b"));
  EXPECT_THAT(Ran("COMMIT"), ElementsAre("COMMIT"));
}

TEST_F(RunnerTest, ALostCommitWithoutAKeyIsNeverReRun) {
  db_.Expect("COMMIT", LostCommit(/*applied=*/true));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sql::GetReason(r.status()), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_EQ(ErrnoOf(r.status()), 2013u);
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));
  EXPECT_THAT(Ran("COMMIT"), ElementsAre("COMMIT"));
}

// With a key, the check for a prior outcome is one plain read on the
// attempt's own connection (no transaction, no COMMIT): the first COMMIT is
// the work's.
constexpr int kAfterTheLookup = 0;

TEST_F(RunnerTest, ALostCommitThatWasAppliedIsAnsweredFromItsKey) {
  db_.Expect("COMMIT", LostCommit(/*applied=*/true), 1, kAfterTheLookup);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}, "k1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 1u);  // the recorded response of the one execution
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));
  // The lost session was killed before the locking look-up.
  const std::vector<std::string> kills = Ran("KILL CONNECTION");
  ASSERT_EQ(kills.size(), 1u);
  const std::vector<std::string> lookups = Ran("SELECT request_sha256");
  ASSERT_EQ(lookups.size(), 2u);  // the prior check, then the resolution
  EXPECT_TRUE(absl::EndsWith(lookups[1], "LOCK IN SHARE MODE"));
  EXPECT_EQ(runner_->stats().outcome_lookups, 2);
}

// The thread id of the session that received the last COMMIT (connect
// numbers equal thread ids until the fake restarts).
uint64_t LastCommitThreadId(const FakeDatabase& db) {
  uint64_t id = 0;
  for (const std::string& line : db.Log()) {
    if (absl::EndsWith(line, " COMMIT")) {
      EXPECT_TRUE(absl::SimpleAtoi(line.substr(1, line.find(' ') - 1), &id)) << line;
    }
  }
  return id;
}

TEST_F(RunnerTest, ALostCommitAfterARestartKillsNoSessionThatTookItsId) {
  for (const bool applied : {true, false}) {
    SCOPED_TRACE(applied ? "applied" : "not applied");
    const std::string key = applied ? "k-applied" : "k-not-applied";
    std::unique_ptr<db::Connection> bystander;
    uint64_t lost_id = 0;
    Reply lost = LostCommit(applied);
    // The server restarts while the COMMIT is in flight, and another
    // session of the same account gets the lost session's thread id.
    lost.on_arrival = [&] {
      lost_id = LastCommitThreadId(db_);
      db_.Restart();
      bystander = db_.Bystander(lost_id, "txgate");
    };
    db_.Expect("COMMIT", lost, 1, kAfterTheLookup);
    absl::StatusOr<txgate::v1::RunTransactionResponse> r =
        runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}, key));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_NE(bystander, nullptr);
    EXPECT_EQ(bystander->thread_id(), lost_id);
    EXPECT_TRUE(Ran("KILL").empty());  // the id names someone else's session now
    EXPECT_FALSE(bystander->broken());
    // Resolved once: answered from the key, or re-run once if not applied.
    EXPECT_EQ(r->attempts(), applied ? 1u : 2u);
    EXPECT_TRUE(db_.StoredOutcome(key).has_value());
  }
}

TEST_F(RunnerTest, ALostCommitKillsItsSessionWhileTheServerStillShowsIt) {
  db_.Expect("COMMIT", LostCommit(/*applied=*/false), 1, kAfterTheLookup);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}, "k1"));
  ASSERT_TRUE(r.ok()) << r.status();
  // The process list was read for the lost id before the KILL.
  const std::vector<std::string> log = Ran();
  const auto kill = std::find_if(log.begin(), log.end(), [](const std::string& sql) {
    return absl::StartsWith(sql, "KILL CONNECTION");
  });
  ASSERT_NE(kill, log.end());
  ASSERT_NE(kill, log.begin());
  EXPECT_TRUE(absl::StartsWith(*(kill - 1), db::kSessionIdentitySelect)) << *(kill - 1);
}

TEST_F(RunnerTest, ALostCommitThatWasNotAppliedIsReRunOnce) {
  db_.Expect("COMMIT", LostCommit(/*applied=*/false), 1, kAfterTheLookup);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}, "k1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 2u);
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a", "UPDATE a"));
  EXPECT_TRUE(db_.StoredOutcome("k1").has_value());
}

TEST_F(RunnerTest, ALostCommitWhoseKeyCannotBeLookedUpIsUnknown) {
  db_.Expect("COMMIT", LostCommit(/*applied=*/true), 1, kAfterTheLookup);
  db_.Expect("SELECT request_sha256", Reply());     // the check for a prior outcome
  Reply lookup_lost = Fails(FakeDatabase::Lost());  // the resolution, out of time
  lookup_lost.on_arrival = [this] { clock_.Advance(absl::Seconds(2)); };
  db_.Expect("SELECT request_sha256", lookup_lost);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(absl::Seconds(1)), Transaction({"UPDATE a"}, "k1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sql::GetReason(r.status()), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));
}

TEST_F(RunnerTest, ARetryWithTheSameKeyGetsTheStoredResponse) {
  const txgate::v1::RunTransactionRequest request = Transaction({"UPDATE a"}, "k1");
  absl::StatusOr<txgate::v1::RunTransactionResponse> first =
      runner_->RunTransaction(*Call(), request);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<txgate::v1::RunTransactionResponse> again =
      runner_->RunTransaction(*Call(), request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));  // executed once
}

TEST_F(RunnerTest, TheSameKeyForAnotherRequestIsRefused) {
  ASSERT_TRUE(runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}, "k1")).ok());
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE b"}, "k1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sql::GetReason(r.status()), "IDEMPOTENCY_KEY_REUSED");
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));
}

TEST_F(RunnerTest, AKeyCommittedByAConcurrentExecutionAnswersItsResponse) {
  // Between our first look-up and our record, another execution commits.
  txgate::v1::RunTransactionRequest request = Transaction({"UPDATE a"}, "k1");
  txgate::v1::RunTransactionRequest unkeyed = request;
  unkeyed.clear_idempotency_key();
  txgate::v1::RunTransactionResponse theirs;
  theirs.set_attempts(7);
  Reply racing;
  racing.on_arrival = [&] {
    db_.StoreOutcome("k1", unkeyed.SerializeAsString(), theirs.SerializeAsString());
  };
  db_.Expect("UPDATE a", racing);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r = runner_->RunTransaction(*Call(), request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 7u);
  EXPECT_EQ(Ran("COMMIT").size(), 1u);  // the resolution's; ours rolled back
  EXPECT_EQ(Ran("ROLLBACK").size(), 1u);
}

TEST_F(RunnerTest, ConflictsBackOffAndGiveUpWithAborted) {
  db_.Expect("UPDATE", Fails(FakeDatabase::Deadlock()), /*times=*/-1);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sql::GetReason(r.status()), "CONFLICT_RETRIES_EXHAUSTED");
  EXPECT_EQ(ErrnoOf(r.status()), 1213u);
  EXPECT_THAT(r.status().message(), HasSubstr("gave up after 4 attempts"));
  EXPECT_EQ(Ran("UPDATE").size(), 4u);  // the first run and 3 re-runs
  EXPECT_THAT(clock_.sleeps(),
              ElementsAre(absl::Milliseconds(20), absl::Milliseconds(40), absl::Milliseconds(60)));
  EXPECT_EQ(runner_->stats().conflict_retries, 3);
  // Each attempt rolled back before the pause, releasing its locks.
  EXPECT_EQ(Ran("ROLLBACK").size(), 4u);
}

TEST_F(RunnerTest, AConflictOnceIsReRunAfterAPause) {
  db_.Expect("UPDATE", Fails(FakeDatabase::Deadlock()));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 2u);
  EXPECT_THAT(clock_.sleeps(), ElementsAre(absl::Milliseconds(20)));
}

TEST_F(RunnerTest, AConflictWithNoTimeForItsPauseIsAnswered) {
  db_.Expect("UPDATE", Fails(FakeDatabase::Deadlock()));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(absl::Milliseconds(10)), Transaction({"UPDATE a"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sql::GetReason(r.status()), "MYSQL_ERROR");
  EXPECT_TRUE(clock_.sleeps().empty());
}

TEST_F(RunnerTest, AStatementsOwnErrorNamesItAndRollsBack) {
  db_.Expect("SELECT * FROM nope",
             Fails(FakeDatabase::Error(1146, "42S02", "Table doesn't exist")));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a", "SELECT * FROM nope", "UPDATE c"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("statement 2: "));
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a"));
  EXPECT_TRUE(Ran("COMMIT").empty());
  EXPECT_THAT(Ran("ROLLBACK"), ElementsAre("ROLLBACK"));
}

// The guarded debit of a transfer: one row matched, or none.
Reply Matched(uint64_t rows) {
  Reply r;
  r.affected_rows = rows;
  return r;
}

txgate::v1::RunTransactionRequest GuardedTransfer(const std::string& key) {
  txgate::v1::RunTransactionRequest request;
  *request.add_statements() = Stmt("UPDATE acct SET b = b - 10 WHERE id = 1 AND b >= 10");
  request.mutable_statements(0)->mutable_expect()->set_min_affected_rows(1);
  *request.add_statements() = Stmt("UPDATE acct SET b = b + 10 WHERE id = 2");
  request.set_idempotency_key(key);
  return request;
}

TEST_F(RunnerTest, AnUnmetExpectationRollsBackAtOnceAndIsNeitherReRunNorRecorded) {
  db_.Expect("UPDATE acct SET b = b - 10", Matched(0));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), GuardedTransfer("k1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sql::GetReason(r.status()), "EXPECTATION_FAILED");
  EXPECT_EQ(sql::GetMetadata(r.status()).at("statement_index"), "1");
  // The credit never ran, nothing committed, the attempt was rolled back.
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE acct SET b = b - 10 WHERE id = 1 AND b >= 10"));
  // The look-ups for a prior outcome: a plain read before the work, and a
  // locking one in a transaction after its failure (a concurrent
  // execution's recorded answer would be the answer).
  EXPECT_THAT(Ran("COMMIT"), ElementsAre("COMMIT"));
  EXPECT_EQ(Ran("SELECT request_sha256").size(), 2u);
  EXPECT_THAT(Ran("ROLLBACK"), ElementsAre("ROLLBACK"));
  EXPECT_FALSE(db_.StoredOutcome("k1").has_value());
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(runner_->stats().replays + runner_->stats().conflict_retries, 0);

  // The key was not used up: once the debit matches, the same call runs.
  db_.Expect("UPDATE acct SET b = b - 10", Matched(1));
  db_.Expect("UPDATE acct SET b = b + 10", Matched(1));
  r = runner_->RunTransaction(*Call(), GuardedTransfer("k1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 1u);
  EXPECT_TRUE(db_.StoredOutcome("k1").has_value());
}

TEST_F(RunnerTest, AnUnknownIsolationLevelIsRefusedBeforeAnythingRuns) {
  txgate::v1::RunTransactionRequest request = Transaction({"UPDATE a"});
  request.mutable_options()->set_isolation_level(static_cast<txgate::v1::IsolationLevel>(99));
  absl::StatusOr<txgate::v1::RunTransactionResponse> r = runner_->RunTransaction(*Call(), request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sql::GetReason(r.status()), "INVALID_REQUEST");
  txgate::v1::Begin begin;
  begin.mutable_options()->set_isolation_level(static_cast<txgate::v1::IsolationLevel>(99));
  EXPECT_EQ(runner_->Begin(*Call(), begin).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Ran().empty());
}

TEST_F(RunnerTest, ImplicitCommitsAreRefusedBeforeAnythingRuns) {
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a", "CREATE TABLE x (id INT)"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sql::GetReason(r.status()), "IMPLICIT_COMMIT_REFUSED");
  EXPECT_TRUE(Ran().empty());
}

// A statement after which the server reports no open transaction (a CALLed
// procedure that committed) ends the call at once: nothing after it runs,
// nothing is re-run, with or without a key, whatever comes next.
TEST_F(RunnerTest, WithoutXaAStatementThatEndsTheTransactionStopsEverything) {
  RunnerOptions options;
  options.xa_transactions = false;
  Restart(options);
  for (const std::string key : {"", "k1"}) {
    SCOPED_TRACE(key.empty() ? "without a key" : "with a key");
    const std::string call = absl::StrCat("DO f", key, "()");
    Reply ends;
    ends.ends_transaction = true;
    db_.Expect(call, ends);
    absl::StatusOr<txgate::v1::RunTransactionResponse> r = runner_->RunTransaction(
        *Call(), Transaction({"UPDATE a" + key, call, "UPDATE c" + key}, key));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(sql::GetReason(r.status()), "TRANSACTION_ENDED_EARLY");
    EXPECT_THAT(r.status().message(), HasSubstr("statement 2 ended the transaction"));
    EXPECT_THAT(Ran(call), ElementsAre(call)) << "never re-run";
    EXPECT_THAT(Ran("UPDATE a" + key), ElementsAre("UPDATE a" + key));
    EXPECT_TRUE(Ran("UPDATE c" + key).empty()) << "nothing after it";
  }
  // With a key, the answer is recorded at once: a retry gets it again and
  // runs nothing.
  EXPECT_TRUE(db_.StoredOutcome("k1").has_value());
  absl::StatusOr<txgate::v1::RunTransactionResponse> retry =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE ak1", "DO fk1()", "UPDATE ck1"}, "k1"));
  EXPECT_EQ(sql::GetReason(retry.status()), "TRANSACTION_ENDED_EARLY");
  EXPECT_THAT(retry.status().message(), HasSubstr("statement 2 ended the transaction"));
  EXPECT_THAT(Ran("DO fk1()"), ElementsAre("DO fk1()")) << "not run again";
}

// With XA nothing can commit early: a transaction the server reports gone
// after a statement was rolled back (a deadlock a procedure's handler
// swallowed), and is re-run like a deadlock.
TEST_F(RunnerTest, WithXaATransactionTheServerRolledBackIsReRun) {
  Reply ends;
  ends.ends_transaction = true;  // the first time only
  db_.Expect("CALL p()", ends);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a", "CALL p()", "UPDATE c"}, "k2"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts(), 2u);
  EXPECT_THAT(Ran("CALL"), ElementsAre("CALL p()", "CALL p()"));
  EXPECT_THAT(Ran("UPDATE c"), ElementsAre("UPDATE c"));
  EXPECT_EQ(runner_->stats().conflict_retries, 1);
}

// Without XA, a CALL (whose procedure may commit) is refused inside a
// transaction; with XA (the default) the server guards it, and it runs.
TEST_F(RunnerTest, WithoutXaACallIsRefusedInsideATransaction) {
  RunnerOptions options;
  options.xa_transactions = false;
  Restart(options);
  absl::StatusOr<txgate::v1::RunTransactionResponse> r =
      runner_->RunTransaction(*Call(), Transaction({"UPDATE a", "CALL p()"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sql::GetReason(r.status()), "IMPLICIT_COMMIT_REFUSED");
  EXPECT_TRUE(Ran().empty());
  Restart(RunnerOptions());
  EXPECT_TRUE(runner_->RunTransaction(*Call(), Transaction({"UPDATE a", "CALL p()"})).ok());
}

// ---- StreamQuery ------------------------------------------------------------

TEST_F(RunnerTest, AStreamLostBeforeItsFirstRowIsReRun) {
  db_.Expect("SELECT", NeverSent());
  db_.Expect("SELECT", Rows({{Int(1)}, {Int(2)}}));
  txgate::v1::StreamQueryRequest request;
  request.set_sql("SELECT v FROM t");
  std::unique_ptr<CallContext> call = Call();
  absl::StatusOr<std::unique_ptr<TransactionRunner::QueryStream>> stream =
      runner_->StartQuery(*call, request);
  ASSERT_TRUE(stream.ok()) << stream.status();
  txgate::v1::StreamQueryResponse chunk;
  ASSERT_TRUE((*stream)->NextChunk(*call, &chunk).ok());
  EXPECT_EQ(chunk.rows_size(), 2);
  EXPECT_TRUE(chunk.done());
  stream->reset();
}

// ---- Interactive transactions ---------------------------------------------

class InteractiveTest : public RunnerTest {
 protected:
  std::unique_ptr<TransactionRunner::Interactive> Open(CallContext& call, bool read_only = false) {
    txgate::v1::Begin begin;
    begin.mutable_options()->set_read_only(read_only);
    absl::StatusOr<std::unique_ptr<TransactionRunner::Interactive>> txn =
        runner_->Begin(call, begin);
    EXPECT_TRUE(txn.ok()) << txn.status();
    return txn.ok() ? std::move(*txn) : nullptr;
  }
  txgate::v1::Commit Commit(const std::string& key = "") {
    txgate::v1::Commit c;
    c.set_idempotency_key(key);
    return c;
  }
};

TEST_F(InteractiveTest, AFirstReaderOfLeftoversRestartsTheTransactionOnAResetSession) {
  ASSERT_TRUE(Execute("INSERT INTO t (v) VALUES (1)").ok());  // the session is used
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("SELECT LAST_INSERT_ID()")).ok());
  ASSERT_TRUE(txn->Run(*call, Stmt("INSERT INTO t (v) VALUES (2)")).ok());
  ASSERT_TRUE(txn->Run(*call, Stmt("SELECT LAST_INSERT_ID()")).ok());  // its own: no restart
  ASSERT_TRUE(txn->Commit(*call, Commit()).ok());
  txn.reset();  // the lease goes back
  std::vector<std::string> ran = Ran();
  ran.erase(std::remove_if(ran.begin(), ran.end(),
                           [](const std::string& sql) { return absl::StartsWith(sql, "CREATE"); }),
            ran.end());
  EXPECT_THAT(ran, ElementsAre("INSERT INTO t (v) VALUES (1)", "START TRANSACTION", "ROLLBACK",
                               "RESET SESSION", "START TRANSACTION", "SELECT LAST_INSERT_ID()",
                               "INSERT INTO t (v) VALUES (2)", "SELECT LAST_INSERT_ID()", "COMMIT",
                               "RESET SESSION"));
}

TEST_F(InteractiveTest, AnUnmetExpectationAnswersExpectationFailedNamingTheStatement) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE a")).ok());
  db_.Expect("SELECT v", Rows({}));
  txgate::v1::Statement guard = Stmt("SELECT v FROM t WHERE id = 9 FOR UPDATE");
  guard.mutable_expect()->set_min_rows(1);
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, guard);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sql::GetReason(r.status()), "EXPECTATION_FAILED");
  EXPECT_EQ(sql::GetMetadata(r.status()).at("statement_index"), "2");
  txn.reset();  // as the stream's end does: the lease's return rolls back
  EXPECT_TRUE(Ran("COMMIT").empty());
  EXPECT_THAT(Ran("ROLLBACK"), ElementsAre("ROLLBACK"));
}

TEST_F(InteractiveTest, AStatementThatEndsTheTransactionEndsTheStream) {
  RunnerOptions options;
  options.xa_transactions = false;
  Restart(options);
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE a")).ok());
  Reply ends;
  ends.ends_transaction = true;
  db_.Expect("DO f()", ends);
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, Stmt("DO f()"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sql::GetReason(r.status()), "TRANSACTION_ENDED_EARLY");
  EXPECT_THAT(r.status().message(), HasSubstr("statement 2 ended the transaction"));
  EXPECT_THAT(Ran("DO"), ElementsAre("DO f()"));
}

TEST_F(InteractiveTest, ALossIsHealedByReplayingTheLog) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  db_.Expect("SELECT v", Rows({{Int(1)}}));
  ASSERT_TRUE(txn->Run(*call, Stmt("SELECT v FROM t")).ok());
  db_.Expect("UPDATE", Fails(FakeDatabase::Lost()));
  db_.Expect("SELECT v", Rows({{Int(1)}}));  // the replay reads the same
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE t SET v = 2")).ok());
  ASSERT_TRUE(txn->Commit(*call, Commit()).ok());
  EXPECT_THAT(Ran("SELECT v"), ElementsAre("SELECT v FROM t", "SELECT v FROM t"));
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE t SET v = 2", "UPDATE t SET v = 2"));
  EXPECT_THAT(Ran("START TRANSACTION"), ElementsAre("START TRANSACTION", "START TRANSACTION"));
}

TEST_F(InteractiveTest, AReplayThatReadsOtherDataEndsWithReplayMismatch) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  db_.Expect("SELECT v", Rows({{Int(1)}}));
  ASSERT_TRUE(txn->Run(*call, Stmt("SELECT v FROM t")).ok());
  db_.Expect("UPDATE", Fails(FakeDatabase::Lost()));
  db_.Expect("SELECT v", Rows({{Int(2)}}));  // changed meanwhile
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, Stmt("UPDATE t SET v = 2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sql::GetReason(r.status()), "REPLAY_MISMATCH");
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE t SET v = 2"));
}

TEST_F(InteractiveTest, ALostCommitOfWritesWithoutAKeyIsUnknown) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE t SET v = 2")).ok());
  db_.Expect("COMMIT", LostCommit(/*applied=*/true));
  absl::Status s = txn->Commit(*call, Commit());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sql::GetReason(s), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_EQ(Ran("UPDATE").size(), 1u);
}

TEST_F(InteractiveTest, ALostCommitWithAKeyThatWasAppliedIsCommitted) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE t SET v = 2")).ok());
  db_.Expect("COMMIT", LostCommit(/*applied=*/true));
  ASSERT_TRUE(txn->Commit(*call, Commit("k9")).ok());
  EXPECT_EQ(Ran("UPDATE").size(), 1u);  // not replayed
  EXPECT_EQ(Ran("KILL CONNECTION").size(), 1u);
}

TEST_F(InteractiveTest, ALostCommitWithAKeyThatWasNotAppliedIsReplayedAndCommitted) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE t SET v = 2")).ok());
  db_.Expect("COMMIT", LostCommit(/*applied=*/false));
  ASSERT_TRUE(txn->Commit(*call, Commit("k9")).ok());
  EXPECT_EQ(Ran("UPDATE").size(), 2u);
  EXPECT_TRUE(db_.StoredOutcome("k9").has_value());
}

TEST_F(InteractiveTest, ALostCommitOfOnlyReadsIsCommitted) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call, /*read_only=*/true);
  ASSERT_TRUE(txn->Run(*call, Stmt("SELECT 1")).ok());
  db_.Expect("COMMIT", LostCommit(/*applied=*/false));
  EXPECT_TRUE(txn->Commit(*call, Commit()).ok());
}

TEST_F(InteractiveTest, ALossWithNoTimeLeftEndsTheTransaction) {
  std::unique_ptr<CallContext> call = Call(absl::Seconds(1));
  auto txn = Open(*call);
  Reply lost = Fails(FakeDatabase::Lost());
  lost.on_arrival = [this] { clock_.Advance(absl::Seconds(2)); };
  db_.Expect("UPDATE", lost);
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, Stmt("UPDATE t SET v = 2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sql::GetReason(r.status()), "TRANSACTION_LOST");
  EXPECT_EQ(ErrnoOf(r.status()), 2013u);
}

TEST_F(InteractiveTest, ALossAgainAndAgainEndsTheTransactionAfterTheHealBudget) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  db_.Expect("UPDATE", Fails(FakeDatabase::Lost()), /*times=*/-1);
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, Stmt("UPDATE t SET v = 2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sql::GetReason(r.status()), "TRANSACTION_LOST");
  EXPECT_EQ(ErrnoOf(r.status()), 2013u);
  EXPECT_THAT(r.status().message(), HasSubstr("--max_heal_retries=3"));
  EXPECT_EQ(Ran("UPDATE").size(), 4u);
  EXPECT_EQ(call->heals(), 3);
}

TEST_F(InteractiveTest, TheHealBudgetSpansTheWholeStream) {
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  db_.Expect("UPDATE a", Fails(FakeDatabase::Lost()), /*times=*/2);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE a")).ok());
  // Two heals spent: one more loss is healed, the next answered.
  db_.Expect("UPDATE b", Fails(FakeDatabase::Lost()), /*times=*/-1);
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, Stmt("UPDATE b"));
  EXPECT_EQ(sql::GetReason(r.status()), "TRANSACTION_LOST");
  EXPECT_EQ(Ran("UPDATE b").size(), 2u);
}

TEST_F(InteractiveTest, PastTheReplayBoundALossEndsTheTransaction) {
  RunnerOptions options;
  options.replay_max_statements = 1;
  Restart(options);
  std::unique_ptr<CallContext> call = Call();
  auto txn = Open(*call);
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE a")).ok());
  ASSERT_TRUE(txn->Run(*call, Stmt("UPDATE b")).ok());
  db_.Expect("UPDATE c", Fails(FakeDatabase::Lost()));
  absl::StatusOr<txgate::v1::ResultSet> r = txn->Run(*call, Stmt("UPDATE c"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sql::GetReason(r.status()), "TRANSACTION_LOST");
  EXPECT_THAT(Ran("UPDATE"), ElementsAre("UPDATE a", "UPDATE b", "UPDATE c"));
}

}  // namespace
}  // namespace txgate::runner
