// Conditional transactions (Statement.expect), against a real MariaDB: an
// unmet expectation rolls the whole transaction back and answers
// FAILED_PRECONDITION / EXPECTATION_FAILED naming the statement, with or
// without an idempotency key (whose key stays unused), in RunTransaction
// and in an interactive Transaction stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using ::testing::HasSubstr;
using txgate::v1::RunTransactionRequest;
using txgate::v1::RunTransactionResponse;

txgate::v1::Value Dec(const std::string& v) {
  txgate::v1::Value value;
  value.set_decimal_value(v);
  return value;
}

// A statement; `expect` fills its Expectation (nothing: no expectation).
txgate::v1::Statement Stmt(const std::string& sql, std::vector<txgate::v1::Value> params = {},
                           const std::function<void(txgate::v1::Expectation*)>& expect = nullptr) {
  txgate::v1::Statement s;
  s.set_sql(sql);
  for (auto& p : params) *s.add_params() = std::move(p);
  if (expect) expect(s.mutable_expect());
  return s;
}

void MinAffectedOne(txgate::v1::Expectation* e) { e->set_min_affected_rows(1); }

// The transfer: a debit guarded by the balance, then the credit.
RunTransactionRequest Transfer(const std::string& amount, bool guarded = true) {
  RunTransactionRequest req;
  *req.add_statements() =
      Stmt("UPDATE exp_acct SET balance = balance - ? WHERE id = 1 AND balance >= ?",
           {Dec(amount), Dec(amount)}, guarded ? MinAffectedOne : nullptr);
  *req.add_statements() =
      Stmt("UPDATE exp_acct SET balance = balance + ? WHERE id = 2", {Dec(amount)});
  return req;
}

std::map<std::string, std::string> Metadata(const grpc::Status& s) {
  const google::rpc::ErrorInfo info = ErrorInfoOf(s);
  return {info.metadata().begin(), info.metadata().end()};
}

// Asserts `s` is the unmet-expectation answer for statement `index` (1-based).
void ExpectUnmet(const grpc::Status& s, int index, const std::string& expectation,
                 const std::string& expected, const std::string& actual) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "EXPECTATION_FAILED");
  EXPECT_EQ(ErrorInfoOf(s).domain(), "txgate.dev");
  const std::map<std::string, std::string> metadata = {{"statement_index", absl::StrCat(index)},
                                                       {"expectation", expectation},
                                                       {"expected", expected},
                                                       {"actual", actual}};
  EXPECT_EQ(Metadata(s), metadata);
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("statement ", index, ": ")));
  EXPECT_THAT(s.error_message(), HasSubstr("rolled back"));
}

class ExpectationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Sql("DROP TABLE IF EXISTS exp_acct");
    Sql("CREATE TABLE exp_acct (id INT PRIMARY KEY, balance DECIMAL(12,2) NOT NULL)");
    Sql("INSERT INTO exp_acct VALUES (1, 65.00), (2, 0.00)");
    Sql("DROP SEQUENCE IF EXISTS exp_seq");
    Sql("CREATE SEQUENCE exp_seq START WITH 1 NOCACHE");
  }
  void TearDown() override { EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10))); }

  void Sql(const std::string& sql) {
    grpc::Status s = Exec(server_.stub(), sql);
    ASSERT_TRUE(s.ok()) << sql << ": " << s.error_message();
  }
  grpc::Status Run(const RunTransactionRequest& req, RunTransactionResponse* resp = nullptr) {
    RunTransactionResponse ignored;
    auto ctx = WithDeadline(absl::Seconds(20));
    return server_.stub().RunTransaction(ctx.get(), req, resp ? resp : &ignored);
  }
  // Both balances, "id1/id2", read by root (not through txgate).
  std::string Balances() {
    auto rows =
        Admin("SELECT GROUP_CONCAT(balance ORDER BY id SEPARATOR '/') FROM txgate.exp_acct");
    return rows[0][0];
  }
  // The sequence's next value, taken as root: 1 if no statement consumed it.
  std::string NextSeq() { return Admin("SELECT NEXTVAL(txgate.exp_seq)")[0][0]; }

  TestServer server_;
};

TEST_F(ExpectationTest, ShortGuardedTransferIsRolledBackWhole) {
  // Without the expectation the credit commits alone: money is created.
  ASSERT_TRUE(Run(Transfer("1000.00", /*guarded=*/false)).ok());
  EXPECT_EQ(Balances(), "65.00/1000.00");
  Sql("UPDATE exp_acct SET balance = 0.00 WHERE id = 2");

  grpc::Status s = Run(Transfer("1000.00"));
  ExpectUnmet(s, 1, "min_affected_rows", "1", "0");
  EXPECT_EQ(Balances(), "65.00/0.00");
}

TEST_F(ExpectationTest, FundedGuardedTransferMovesTheMoneyOnce) {
  Sql("UPDATE exp_acct SET balance = 1500.00 WHERE id = 1");
  RunTransactionResponse resp;
  grpc::Status s = Run(Transfer("1000.00"), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.attempts(), 1u);
  EXPECT_EQ(resp.results(0).affected_rows(), 1u);
  EXPECT_EQ(Balances(), "500.00/1000.00");
}

TEST_F(ExpectationTest, ExactAffectedRowsMetAndUnmet) {
  // CLIENT_FOUND_ROWS: rows matched count, even when the UPDATE changes nothing.
  RunTransactionRequest met;
  *met.add_statements() = Stmt("UPDATE exp_acct SET balance = balance WHERE id IN (1, 2)", {},
                               [](auto* e) { e->set_affected_rows(2); });
  *met.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 1 WHERE id = 99", {},
                               [](auto* e) { e->set_affected_rows(0); });
  *met.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 1 WHERE id = 2", {},
                               [](auto* e) { e->set_affected_rows(1); });
  ASSERT_TRUE(Run(met).ok());
  EXPECT_EQ(Balances(), "65.00/1.00");

  RunTransactionRequest unmet;
  *unmet.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 1 WHERE id = 2");
  *unmet.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 1 WHERE id IN (1, 2)", {},
                                 [](auto* e) { e->set_affected_rows(1); });
  *unmet.add_statements() = Stmt("SELECT NEXTVAL(exp_seq)");
  ExpectUnmet(Run(unmet), 2, "affected_rows", "1", "2");
  EXPECT_EQ(Balances(), "65.00/1.00");  // statement 1 rolled back too
  EXPECT_EQ(NextSeq(), "1");            // statement 3 never ran
}

TEST_F(ExpectationTest, MinAffectedRowsMetAndUnmet) {
  RunTransactionRequest met;
  *met.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 1", {},
                               [](auto* e) { e->set_min_affected_rows(2); });
  ASSERT_TRUE(Run(met).ok());
  EXPECT_EQ(Balances(), "66.00/1.00");

  RunTransactionRequest unmet;
  *unmet.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 1", {},
                                 [](auto* e) { e->set_min_affected_rows(3); });
  ExpectUnmet(Run(unmet), 1, "min_affected_rows", "3", "2");
  EXPECT_EQ(Balances(), "66.00/1.00");
}

TEST_F(ExpectationTest, ReturnsRowsGuardMetAndUnmet) {
  auto guarded = [](int id) {
    RunTransactionRequest req;
    *req.add_statements() = Stmt("SELECT balance FROM exp_acct WHERE id = ? FOR UPDATE", {Int(id)},
                                 [](auto* e) { e->set_min_rows(1); });
    *req.add_statements() = Stmt("UPDATE exp_acct SET balance = balance + 5 WHERE id = 2", {},
                                 [](auto* e) { e->set_affected_rows(1); });
    *req.add_statements() = Stmt("SELECT NEXTVAL(exp_seq)");
    return req;
  };
  RunTransactionResponse resp;
  ASSERT_TRUE(Run(guarded(1), &resp).ok());
  EXPECT_EQ(resp.results(0).rows(0).values(0).decimal_value(), "65.00");
  EXPECT_EQ(Balances(), "65.00/5.00");
  EXPECT_EQ(resp.results(2).rows(0).values(0).int64_value(), 1);

  ExpectUnmet(Run(guarded(99)), 1, "min_rows", "1", "0");
  EXPECT_EQ(Balances(), "65.00/5.00");
  EXPECT_EQ(NextSeq(), "2");  // the failed call took none

  // The opposite guard: "no such row yet".
  RunTransactionRequest absent;
  *absent.add_statements() =
      Stmt("SELECT 1 FROM exp_acct WHERE id = 1", {}, [](auto* e) { e->set_rows(0); });
  ExpectUnmet(Run(absent), 1, "rows", "0", "1");
}

TEST_F(ExpectationTest, FailureIsNotRecordedUnderTheKeySoARetrySucceeds) {
  const std::string key = absl::StrCat("exp-", absl::ToUnixNanos(absl::Now()));
  RunTransactionRequest req = Transfer("1000.00");
  req.set_idempotency_key(key);
  ExpectUnmet(Run(req), 1, "min_affected_rows", "1", "0");
  EXPECT_EQ(Admin(absl::StrCat("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE "
                               "idempotency_key = '",
                               key, "'"))[0][0],
            "0");
  // Still short: the same key runs again, and fails again.
  ExpectUnmet(Run(req), 1, "min_affected_rows", "1", "0");
  EXPECT_EQ(Balances(), "65.00/0.00");

  Sql("UPDATE exp_acct SET balance = balance + 1000.00 WHERE id = 1");  // the top-up
  RunTransactionResponse first, again;
  grpc::Status s = Run(req, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Balances(), "65.00/1000.00");
  // From now on the key holds the success: a retry is answered, not run.
  ASSERT_TRUE(Run(req, &again).ok());
  // The same answer; its causality token names the binary log's position
  // when it was found, which covers the first commit (README, "Reads on replicas").
  EXPECT_FALSE(again.causality_token().empty());
  again.clear_causality_token();
  first.clear_causality_token();
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Balances(), "65.00/1000.00");
}

TEST_F(ExpectationTest, InteractiveTransactionEndsAndRollsBack) {
  auto ctx = WithDeadline(absl::Seconds(20));
  auto stream = server_.stub().Transaction(ctx.get());
  txgate::v1::TransactionRequest req;
  txgate::v1::TransactionResponse resp;
  // The credit first, then the guarded debit: met expectations answer results.
  *req.mutable_statement() = Stmt("UPDATE exp_acct SET balance = balance + ? WHERE id = 2",
                                  {Dec("1000.00")}, [](auto* e) { e->set_affected_rows(1); });
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.result().affected_rows(), 1u);
  *req.mutable_statement() = Transfer("1000.00").statements(0);
  ASSERT_TRUE(stream->Write(req));
  EXPECT_FALSE(stream->Read(&resp));  // no result: the stream ends
  ExpectUnmet(stream->Finish(), 2, "min_affected_rows", "1", "0");
  EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10)));  // the connection went back
  EXPECT_EQ(Balances(), "65.00/0.00");                     // the credit was rolled back
  // No txgate session holds a transaction open.
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM information_schema.innodb_trx")[0][0], "0");
}

TEST_F(ExpectationTest, InteractiveTransactionWithMetExpectationsCommits) {
  Sql("UPDATE exp_acct SET balance = 1500.00 WHERE id = 1");
  auto ctx = WithDeadline(absl::Seconds(20));
  auto stream = server_.stub().Transaction(ctx.get());
  txgate::v1::TransactionRequest req;
  txgate::v1::TransactionResponse resp;
  const RunTransactionRequest transfer = Transfer("1000.00");
  for (const txgate::v1::Statement& st : transfer.statements()) {
    *req.mutable_statement() = st;
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.result().affected_rows(), 1u);
  }
  req.mutable_commit();
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(resp.has_committed());
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(Balances(), "500.00/1000.00");
}

}  // namespace
}  // namespace txgate::testing
