// The C++ client against a live txgate and a real MariaDB (see test_env.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_env.h"
#include "txgate/client.h"

namespace txgate::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using txgate::v1::ResultSet;

// The DECIMAL(65,30) of largest magnitude whose last digit matters.
const std::string kDecimal65_30 =
    absl::StrCat("-", std::string(35, '9'), ".", std::string(29, '0'), "1");
const std::string kBytes("\x00\xff\x00txgate\xff", 10);

std::vector<Value> SampleRow() {
  return {
      Value::Int(1),
      Value::Null(),
      Value::Uint64(UINT64_MAX),
      Value::Decimal(kDecimal65_30),
      Value::Bytes(kBytes),
      Value::DateTime(2024, 2, 29, 23, 59, 59, 999999),
      Value::Date(1000, 1, 1),
      Value::Time(true, 838, 59, 59, 999999),
      Value::Time(false, 100, 1, 2, 500000),
      Value::Int(INT64_MIN),
      Value::String("héllo ☃"),
      Value::Double(0.1),
  };
}

std::vector<Value> Values(const txgate::v1::Row& row) {
  std::vector<Value> out;
  for (const txgate::v1::Value& v : row.values()) out.emplace_back(v);
  return out;
}

// The single integer a query answers (COUNT(*) and the like).
int64_t Count(Client& db, const std::string& sql) {
  absl::StatusOr<ResultSet> rs = db.Execute(sql);
  EXPECT_TRUE(rs.ok()) << sql << ": " << rs.status();
  if (!rs.ok() || rs->rows_size() != 1) return -1;
  auto n = Value(rs->rows(0).values(0)).AsInt64();
  return n.has_value() ? *n : -1;
}

class LiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TXGATE_REQUIRE_LIVE();
    db_ = std::make_unique<Client>(testing::LiveAddr());
  }

  // Runs SQL that must succeed.
  ResultSet Must(absl::string_view sql, std::vector<Value> params = {}) {
    absl::StatusOr<ResultSet> rs = db_->Execute(sql, params);
    EXPECT_TRUE(rs.ok()) << sql << ": " << rs.status();
    return rs.ok() ? *rs : ResultSet();
  }

  std::unique_ptr<Client> db_;
};

TEST_F(LiveTest, TypedValuesRoundTrip) {
  Must("DROP TABLE IF EXISTS cpp_types");
  Must(R"(CREATE TABLE cpp_types (
      id INT PRIMARY KEY, n VARCHAR(10) NULL, u BIGINT UNSIGNED, d DECIMAL(65,30),
      b VARBINARY(32), ts DATETIME(6), da DATE, neg TIME(6), big TIME(6), i BIGINT,
      s VARCHAR(20), f DOUBLE) CHARACTER SET utf8mb4)");
  const std::vector<Value> row = SampleRow();
  EXPECT_EQ(Must("INSERT INTO cpp_types VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row).affected_rows(),
            1u);
  ResultSet rs = Must("SELECT * FROM cpp_types WHERE id = ?", {Value::Int(1)});
  ASSERT_EQ(rs.rows_size(), 1);
  EXPECT_EQ(Values(rs.rows(0)), row);
  EXPECT_EQ(Value(rs.rows(0).values(2)).AsUint64(), 18446744073709551615u);
  EXPECT_EQ(Value(rs.rows(0).values(3)).AsDecimal(), kDecimal65_30);
  EXPECT_EQ(Value(rs.rows(0).values(4)).AsBytes(), kBytes);
  EXPECT_EQ(Value(rs.rows(0).values(5)).ToString(), "2024-02-29 23:59:59.999999");
  EXPECT_TRUE(Value(rs.rows(0).values(1)).is_null());
  ASSERT_EQ(rs.columns_size(), 12);
  EXPECT_EQ(rs.columns(2).type(), "BIGINT UNSIGNED");
  EXPECT_EQ(rs.columns(3).type(), "DECIMAL");
  EXPECT_FALSE(rs.columns(0).nullable());
  EXPECT_TRUE(rs.columns(1).nullable());

  // The same values as bare parameters, echoed back by the server.
  ResultSet echo =
      Must("SELECT ?, ?, ?, ?", {Value::Null(), Value::Uint64(UINT64_MAX),
                                 Value::Bytes(std::string("\x00\xff", 2)), Value::Double(2.5)});
  ASSERT_EQ(echo.rows_size(), 1);
  EXPECT_EQ(Values(echo.rows(0)),
            (std::vector<Value>{Value::Null(), Value::Uint64(UINT64_MAX),
                                Value::Bytes(std::string("\x00\xff", 2)), Value::Double(2.5)}));
}

TEST_F(LiveTest, MysqlErrorDetail) {
  absl::StatusOr<ResultSet> rs = db_->Execute("SELEC 1");
  ASSERT_FALSE(rs.ok());
  Error e = Error::FromStatus(rs.status());
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.domain, "txgate.dev");
  EXPECT_EQ(e.reason, "MYSQL_ERROR");
  EXPECT_EQ(e.mysql_errno, 1064);
  EXPECT_EQ(e.sqlstate, "42000");
  EXPECT_THAT(e.mysql_message, HasSubstr("SQL syntax"));
  // Execute sent a fresh key with the statement (it is not a read).
  EXPECT_THAT(e.idempotency_key, ::testing::MatchesRegex("[0-9a-f]{32}"));
}

TEST_F(LiveTest, RunTransactionIsAllOrNothing) {
  Must("DROP TABLE IF EXISTS cpp_accounts");
  Must("CREATE TABLE cpp_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)");
  Must("INSERT INTO cpp_accounts VALUES (1, 100), (2, 0)");
  TransactionOptions options;
  options.isolation_level = txgate::v1::ISOLATION_LEVEL_READ_COMMITTED;
  absl::StatusOr<TransactionResult> result = db_->RunTransaction(
      {
          {"UPDATE cpp_accounts SET balance = balance - ? WHERE id = ?",
           {Value::Int(30), Value::Int(1)}},
          {"UPDATE cpp_accounts SET balance = balance + ? WHERE id = ?",
           {Value::Int(30), Value::Int(2)}},
          "SELECT id, balance FROM cpp_accounts ORDER BY id",
      },
      options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->results.size(), 3u);
  EXPECT_EQ(result->results[0].affected_rows(), 1u);
  EXPECT_EQ(result->results[1].affected_rows(), 1u);
  ASSERT_EQ(result->results[2].rows_size(), 2);
  EXPECT_EQ(Values(result->results[2].rows(0)),
            (std::vector<Value>{Value::Int(1), Value::Int(70)}));
  EXPECT_EQ(Values(result->results[2].rows(1)),
            (std::vector<Value>{Value::Int(2), Value::Int(30)}));
  EXPECT_GE(result->attempts, 1u);
  EXPECT_EQ(result->calls, 1);
  EXPECT_THAT(result->idempotency_key, MatchesRegex("[0-9a-f]{32}"));

  // The failing second statement undoes the first.
  absl::StatusOr<TransactionResult> failed = db_->RunTransaction({
      {"UPDATE cpp_accounts SET balance = 0 WHERE id = ?", {Value::Int(1)}},
      {"INSERT INTO cpp_accounts VALUES (?, ?)", {Value::Int(2), Value::Int(5)}},
  });
  ASSERT_FALSE(failed.ok());
  Error e = Error::FromStatus(failed.status());
  EXPECT_EQ(e.code, absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(e.mysql_errno, 1062);
  EXPECT_THAT(e.idempotency_key, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(Count(*db_, "SELECT balance FROM cpp_accounts WHERE id = 1"), 70);

  TransactionOptions read_only;
  read_only.read_only = true;
  absl::StatusOr<TransactionResult> read =
      db_->RunTransaction({"SELECT COUNT(*) FROM cpp_accounts"}, read_only);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->idempotency_key, "");
}

TEST_F(LiveTest, ARetryWithTheSameKeyAppliesOnce) {
  Must("DROP TABLE IF EXISTS cpp_once");
  Must("CREATE TABLE cpp_once (id INT PRIMARY KEY AUTO_INCREMENT, v INT)");
  TransactionOptions options;
  options.idempotency_key = db_->NewIdempotencyKey();
  const std::vector<Statement> statements = {
      {"INSERT INTO cpp_once (v) VALUES (?)", {Value::Int(7)}}};
  absl::StatusOr<TransactionResult> first = db_->RunTransaction(statements, options);
  absl::StatusOr<TransactionResult> again = db_->RunTransaction(statements, options);  // a retry
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(first->results[0].affected_rows(), 1u);
  EXPECT_EQ(again->results[0].affected_rows(), 1u);
  // The stored response, not a second execution: same generated id, one row.
  EXPECT_EQ(again->results[0].last_insert_id(), first->results[0].last_insert_id());
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_once"), 1);
  // A new logical transaction (a fresh key) does run again.
  ASSERT_TRUE(db_->RunTransaction(statements).ok());
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_once"), 2);
}

TEST_F(LiveTest, ConditionalTransferRollsBackAndKeepsTheKeyUnused) {
  Must("DROP TABLE IF EXISTS cpp_cond");
  Must("CREATE TABLE cpp_cond (id INT PRIMARY KEY, balance BIGINT NOT NULL)");
  Must("INSERT INTO cpp_cond VALUES (1, 65), (2, 0)");
  const std::vector<Statement> transfer = {
      Statement("UPDATE cpp_cond SET balance = balance - ? WHERE id = 1 AND balance >= ?",
                {Value::Int(1000), Value::Int(1000)})
          .ExpectMinAffectedRows(1),
      Statement("UPDATE cpp_cond SET balance = balance + ? WHERE id = 2", {Value::Int(1000)})
          .ExpectAffectedRows(1)};
  TransactionOptions options;
  options.idempotency_key = db_->NewIdempotencyKey();
  absl::StatusOr<TransactionResult> refused = db_->RunTransaction(transfer, options);
  ASSERT_FALSE(refused.ok());
  const Error e = Error::FromStatus(refused.status());
  EXPECT_EQ(e.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(e.expectation_failed()) << e.ToString();
  EXPECT_EQ(e.statement_index(), 1);
  EXPECT_EQ(e.metadata.at("expectation"), "min_affected_rows");
  EXPECT_EQ(e.metadata.at("expected"), "1");
  EXPECT_EQ(e.metadata.at("actual"), "0");
  EXPECT_EQ(e.idempotency_key, options.idempotency_key);
  EXPECT_EQ(Count(*db_, "SELECT balance FROM cpp_cond WHERE id = 2"), 0);
  // The failure used up nothing: after a top-up the same key succeeds, once.
  Must("UPDATE cpp_cond SET balance = balance + 1000 WHERE id = 1");
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<TransactionResult> done = db_->RunTransaction(transfer, options);
    ASSERT_TRUE(done.ok()) << done.status();
  }
  EXPECT_EQ(Count(*db_, "SELECT balance FROM cpp_cond WHERE id = 1"), 65);
  EXPECT_EQ(Count(*db_, "SELECT balance FROM cpp_cond WHERE id = 2"), 1000);
  // In an interactive transaction, Run() with a "returns a row" guard.
  {
    auto tx = db_->BeginTransaction();
    ASSERT_TRUE(tx.ok()) << tx.status();
    ASSERT_TRUE((*tx)->Run(transfer[1]).ok());
    absl::StatusOr<ResultSet> guard = (*tx)->Run(
        Statement("SELECT balance FROM cpp_cond WHERE id = ? FOR UPDATE", {Value::Int(3)})
            .ExpectMinRows(1));
    ASSERT_FALSE(guard.ok());
    EXPECT_TRUE(Error::FromStatus(guard.status()).expectation_failed());
    EXPECT_EQ(Error::FromStatus(guard.status()).statement_index(), 2);
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kFailed);
  }
  EXPECT_EQ(Count(*db_, "SELECT balance FROM cpp_cond WHERE id = 2"), 1000);
}

TEST_F(LiveTest, StreamQueryInChunks) {
  std::vector<int64_t> got;
  absl::StatusOr<StreamSummary> summary = db_->StreamQuery(
      "SELECT seq, REPEAT('x', 100) FROM seq_1_to_2500 WHERE seq > ?", {Value::Int(0)},
      [&](const txgate::v1::Row& row) {
        got.push_back(Value(row.values(0)).AsUint64().value_or(0) +
                      Value(row.values(0)).AsInt64().value_or(0));
        return absl::OkStatus();
      },
      400);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(got.size(), 2500u);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<int64_t>(i + 1));
  EXPECT_EQ(summary->rows, 2500);
  EXPECT_GE(summary->chunks, 7);
  ASSERT_EQ(summary->columns.size(), 2u);
  EXPECT_EQ(summary->columns[0].name(), "seq");
  EXPECT_EQ(summary->columns[1].name(), "REPEAT('x', 100)");
}

TEST_F(LiveTest, StreamQueryStopsWhenTheCallbackFails) {
  int seen = 0;
  absl::StatusOr<StreamSummary> summary = db_->StreamQuery(
      "SELECT seq FROM seq_1_to_1000000", {},
      [&](const txgate::v1::Row&) {
        return ++seen == 10 ? absl::CancelledError("enough") : absl::OkStatus();
      },
      100);
  EXPECT_EQ(summary.status(), absl::CancelledError("enough"));
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(Count(*db_, "SELECT 1"), 1);  // the client is still fine
}

TEST_F(LiveTest, StreamQueryError) {
  absl::StatusOr<StreamSummary> summary =
      db_->StreamQuery("SELECT * FROM cpp_no_such_table", {},
                       [](const txgate::v1::Row&) { return absl::OkStatus(); });
  ASSERT_FALSE(summary.ok());
  Error e = Error::FromStatus(summary.status());
  EXPECT_EQ(e.code, absl::StatusCode::kNotFound);
  EXPECT_EQ(e.mysql_errno, 1146);
}

// Sizes (README, "Limits"): txgate bounds every response message's encoded
// size by --max_result_bytes, by default 64 KiB under gRPC's default 4 MiB
// receive limit, which this client keeps.
constexpr int64_t kClientLimit = int64_t{4} << 20;
constexpr int64_t kServerLimit = (int64_t{4} << 20) - (int64_t{64} << 10);
const char kSizesText[] = "ab\xE2\x82\xAC\xF0\x9F\x98\x80\xC3\xA9";  // 1- to 4-byte characters

// Bytes with a prime period, so that a misplaced piece shows.
std::string SizesPattern() {
  std::string p(4093, '\0');
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>((i * 7919 + (i >> 3)) & 0xFF);
  return p;
}

TEST_F(LiveTest, StreamQueryValuesOf5And64MiBArriveWhole) {
  // Needs the server's max_allowed_packet above 64 MiB (tests/clients/run.sh).
  Options options;
  options.stream_timeout = absl::Seconds(120);
  Client db(testing::LiveAddr(), options);
  const int64_t size = int64_t{64} << 20;
  const std::string pattern = SizesPattern();
  const std::string text(kSizesText);
  const int64_t times = size / static_cast<int64_t>(pattern.size()) + 1;
  const int64_t reps = ((int64_t{5} << 20) + static_cast<int64_t>(text.size()) - 1) /
                       static_cast<int64_t>(text.size());
  std::vector<txgate::v1::Row> rows;
  absl::StatusOr<StreamSummary> summary =
      db.StreamQuery("SELECT 1, LEFT(REPEAT(?, ?), ?), 'after', REPEAT(?, ?), 2",
                     {Value::Bytes(pattern), Value::Int(times), Value::Int(size),
                      Value::String(text), Value::Int(reps)},
                     [&](const txgate::v1::Row& row) {
                       rows.push_back(row);
                       return absl::OkStatus();
                     });
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(summary->rows, 1);
  const txgate::v1::Row& row = rows[0];
  ASSERT_EQ(row.values_size(), 5);
  EXPECT_EQ(row.values(0).int64_value(), 1);
  EXPECT_EQ(row.values(2).string_value(), "after");
  EXPECT_EQ(row.values(4).int64_value(), 2);
  std::string want;
  want.reserve(static_cast<size_t>(size) + pattern.size());
  while (static_cast<int64_t>(want.size()) < size) want += pattern;
  want.resize(static_cast<size_t>(size));
  ASSERT_EQ(row.values(1).bytes_value().size(), want.size());
  EXPECT_TRUE(row.values(1).bytes_value() == want) << "the 64 MiB value differs";
  std::string want_text;
  for (int64_t i = 0; i < reps; ++i) want_text += text;
  EXPECT_TRUE(row.values(3).string_value() == want_text) << "the 5 MiB text differs";
  EXPECT_GE(summary->chunks, 18);
}

TEST_F(LiveTest, ResultsAround4MiBAreTheResultOrResultTooLargeNeverAClientFailure) {
  const std::string sql = "SELECT REPEAT('x', ?) AS v";
  // Bytes the response adds to n, for n from 2 MiB to 256 MiB (4-byte lengths).
  const int64_t n0 = int64_t{3} << 20;
  absl::StatusOr<ResultSet> calibration = db_->Execute(sql, {Value::Int(n0)});
  ASSERT_TRUE(calibration.ok()) << calibration.status();
  txgate::v1::ExecuteResponse response;
  *response.mutable_result() = *calibration;
  const int64_t overhead = static_cast<int64_t>(response.ByteSizeLong()) - n0;
  for (int64_t d : {-64, -1, 0, 1, 64}) {
    for (int64_t encoded : {kClientLimit + d, kServerLimit + d}) {
      const int64_t n = encoded - overhead;
      absl::StatusOr<ResultSet> rs = db_->Execute(sql, {Value::Int(n)});
      if (rs.ok()) {
        EXPECT_LE(encoded, kServerLimit);
        ASSERT_EQ(rs->rows_size(), 1);
        EXPECT_EQ(rs->rows(0).values(0).string_value().size(), static_cast<size_t>(n));
      } else {
        Error e = Error::FromStatus(rs.status());
        EXPECT_EQ(e.reason, "RESULT_TOO_LARGE") << encoded << ": " << rs.status();
        EXPECT_THAT(std::string(rs.status().message()), HasSubstr("StreamQuery"));
        EXPECT_GT(encoded, kServerLimit);
      }
      size_t streamed = 0;
      absl::StatusOr<StreamSummary> summary =
          db_->StreamQuery(sql, {Value::Int(n)}, [&](const txgate::v1::Row& row) {
            streamed += row.values(0).string_value().size();
            return absl::OkStatus();
          });
      ASSERT_TRUE(summary.ok()) << summary.status();
      EXPECT_EQ(streamed, static_cast<size_t>(n));
    }
  }
}

class InteractiveTest : public LiveTest {
 protected:
  void SetUp() override {
    LiveTest::SetUp();
    if (IsSkipped()) return;
    Must("DROP TABLE IF EXISTS cpp_tx");
    Must("CREATE TABLE cpp_tx (id INT PRIMARY KEY, v VARCHAR(10))");
  }
};

TEST_F(InteractiveTest, CommitsWhenCommitted) {
  std::string key;
  {
    TransactionOptions options;
    options.isolation_level = txgate::v1::ISOLATION_LEVEL_REPEATABLE_READ;
    options.timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<InteractiveTransaction>> tx = db_->BeginTransaction(options);
    ASSERT_TRUE(tx.ok()) << tx.status();
    absl::StatusOr<ResultSet> inserted =
        (*tx)->Execute("INSERT INTO cpp_tx VALUES (?, ?)", {Value::Int(1), Value::String("a")});
    ASSERT_TRUE(inserted.ok()) << inserted.status();
    EXPECT_EQ(inserted->affected_rows(), 1u);
    absl::StatusOr<ResultSet> read =
        (*tx)->Execute("SELECT v FROM cpp_tx WHERE id = ?", {Value::Int(1)});
    ASSERT_TRUE(read.ok() && read->rows_size() == 1);
    EXPECT_EQ(Value(read->rows(0).values(0)).AsString(), "a");
    EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_tx"), 0);  // not yet visible
    absl::StatusOr<std::string> committed = (*tx)->Commit();
    ASSERT_TRUE(committed.ok()) << committed.status();
    key = *committed;
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kCommitted);
  }
  EXPECT_THAT(key, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_tx"), 1);
}

TEST_F(InteractiveTest, RollsBackWhenDestroyedUncommitted) {
  {
    auto tx = db_->BeginTransaction();
    ASSERT_TRUE(tx.ok()) << tx.status();
    ASSERT_TRUE(
        (*tx)
            ->Execute("INSERT INTO cpp_tx VALUES (?, ?)", {Value::Int(1), Value::String("a")})
            .ok());
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kOpen);
  }  // no Commit(): rolled back here
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_tx"), 0);
  // The row lock is gone too: the same key inserts at once (no lock wait).
  const absl::Time start = absl::Now();
  EXPECT_EQ(Must("INSERT INTO cpp_tx VALUES (1, 'b')").affected_rows(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  {
    auto tx = db_->BeginTransaction();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Execute("INSERT INTO cpp_tx VALUES (2, 'c')").ok());
    EXPECT_TRUE((*tx)->Rollback().ok());
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kRolledBack);
    EXPECT_EQ((*tx)->Commit().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_tx"), 1);
}

TEST_F(InteractiveTest, AFailedStatementEndsTheTransaction) {
  {
    auto tx = db_->BeginTransaction();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Execute("INSERT INTO cpp_tx VALUES (1, 'a')").ok());
    absl::StatusOr<ResultSet> dup = (*tx)->Execute("INSERT INTO cpp_tx VALUES (1, 'dup')");
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(Error::FromStatus(dup.status()).mysql_errno, 1062);
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kFailed);
  }
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_tx"), 0);
}

TEST_F(LiveTest, SurvivesKilledPooledConnections) {
  Must("DROP TABLE IF EXISTS cpp_kill");
  Must("CREATE TABLE cpp_kill (id INT PRIMARY KEY)");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Count(*db_, "SELECT 1"), 1);
  absl::StatusOr<int> killed = testing::KillTxgateSessions();
  ASSERT_TRUE(killed.ok()) << killed.status();
  ResultSet rs = Must("SELECT ?", {Value::Int(42)});
  ASSERT_EQ(rs.rows_size(), 1);
  EXPECT_EQ(Value(rs.rows(0).values(0)).AsInt64(), 42);

  killed = testing::KillTxgateSessions();
  ASSERT_TRUE(killed.ok()) << killed.status();
  absl::StatusOr<TransactionResult> result =
      db_->RunTransaction({{"INSERT INTO cpp_kill VALUES (?)", {Value::Int(1)}}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->results[0].affected_rows(), 1u);
  EXPECT_EQ(Count(*db_, "SELECT COUNT(*) FROM cpp_kill"), 1);

  killed = testing::KillTxgateSessions();
  ASSERT_TRUE(killed.ok()) << killed.status();
  int64_t streamed = 0;
  absl::StatusOr<StreamSummary> summary =
      db_->StreamQuery("SELECT seq FROM seq_1_to_100", {}, [&](const txgate::v1::Row&) {
        ++streamed;
        return absl::OkStatus();
      });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(streamed, 100);
}

}  // namespace
}  // namespace txgate::client
