// Causality tokens (README, "Reads on replicas"), against a real MariaDB
// with its binary log on (deploy/local/mariadb.sh): every write's response
// names its commit's GTID, a read's and a rolled-back transaction's name
// none, a keyed answer served from its stored outcome carries a token that
// covers the first commit, and a token sent back that txgate did not hand
// out is refused with CAUSALITY_TOKEN_INVALID on every RPC that takes one.
#include "server/topology/causality.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using txgate::v1::ExecuteRequest;
using txgate::v1::ExecuteResponse;
using txgate::v1::RunTransactionRequest;
using txgate::v1::RunTransactionResponse;
using txgate::v1::TransactionRequest;
using txgate::v1::TransactionResponse;

// The server's own domain-0 sequence number from @@gtid_binlog_pos.
uint64_t BinlogSeq() {
  const std::string pos = Admin("SELECT @@gtid_binlog_pos")[0][0];
  for (absl::string_view gtid : absl::StrSplit(pos, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(gtid, '-');
    uint64_t seq = 0;
    if (parts.size() == 3 && parts[0] == "0" && absl::SimpleAtoi(parts[2], &seq)) return seq;
  }
  return 0;
}

// The domain-0 sequence number a token names (0: none).
uint64_t TokenSeq(const std::string& token) {
  absl::StatusOr<std::vector<topology::Gtid>> gtids = topology::ParseCausalityToken(token);
  if (!gtids.ok()) return 0;
  for (const topology::Gtid& g : *gtids) {
    if (g.domain == 0) return g.seq;
  }
  return 0;
}

class CausalityTest : public ::testing::Test {
 protected:
  static service::ServerOptions Options() {
    service::ServerOptions o = DefaultServerOptions();
    o.pool.max_size = 1;  // one session: what one call leaves, the next sees
    o.pool.min_idle = 1;
    return o;
  }
  void SetUp() override {
    ASSERT_EQ(Admin("SELECT @@log_bin")[0][0], "1") << "the test database needs its binary log";
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS ct_rows").ok());
    ASSERT_TRUE(Exec(server_.stub(),
                     "CREATE TABLE ct_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT) "
                     "ENGINE=InnoDB")
                    .ok());
  }
  void TearDown() override { EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10))); }

  grpc::Status Execute(const ExecuteRequest& req, ExecuteResponse* resp) {
    auto ctx = WithDeadline(absl::Seconds(20));
    return server_.stub().Execute(ctx.get(), req, resp);
  }
  grpc::Status Run(const RunTransactionRequest& req, RunTransactionResponse* resp) {
    auto ctx = WithDeadline(absl::Seconds(20));
    return server_.stub().RunTransaction(ctx.get(), req, resp);
  }
  static ExecuteRequest Insert(int v) {
    ExecuteRequest req;
    req.set_sql("INSERT INTO ct_rows (v) VALUES (?)");
    *req.add_params() = Int(v);
    return req;
  }
  static RunTransactionRequest Transfer(int v) {
    RunTransactionRequest req;
    req.add_statements()->set_sql(absl::StrCat("INSERT INTO ct_rows (v) VALUES (", v, ")"));
    req.add_statements()->set_sql("UPDATE ct_rows SET v = v + 1 WHERE id = LAST_INSERT_ID()");
    return req;
  }
  static std::string Key(absl::string_view what) {
    return absl::StrCat("ct-", what, "-", absl::ToUnixNanos(absl::Now()));
  }

  TestServer server_{Options()};
};

TEST_F(CausalityTest, AnAutocommitWriteNamesItsCommitsGtid) {
  const uint64_t before = BinlogSeq();
  ExecuteResponse resp;
  grpc::Status s = Execute(Insert(1), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const uint64_t after = BinlogSeq();
  ASSERT_THAT(resp.causality_token(), ::testing::StartsWith("g1:"));
  EXPECT_GT(TokenSeq(resp.causality_token()), before);
  EXPECT_LE(TokenSeq(resp.causality_token()), after);
  // Its server id is the test server's.
  EXPECT_THAT(resp.causality_token(),
              ::testing::HasSubstr(absl::StrCat("-", Admin("SELECT @@server_id")[0][0], "-")));
}

TEST_F(CausalityTest, EachWriteGetsItsOwnTokenAndTheSessionIsNotResetForIt) {
  // One session (pool of 1): a reset after a write would close its cached
  // statements, so the SHOW below would be prepared again.
  ExecuteResponse first, second, prepares1, prepares2;
  ASSERT_TRUE(Execute(Insert(1), &first).ok());
  ExecuteRequest show;
  show.set_sql("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'");
  ASSERT_TRUE(Execute(show, &prepares1).ok());
  ASSERT_TRUE(Execute(Insert(2), &second).ok());
  ASSERT_TRUE(Execute(show, &prepares2).ok());
  EXPECT_GT(TokenSeq(second.causality_token()), TokenSeq(first.causality_token()));
  EXPECT_TRUE(prepares1.causality_token().empty());  // a read names no commit
  ASSERT_EQ(prepares1.result().rows_size(), 1);
  ASSERT_EQ(prepares2.result().rows_size(), 1);
  EXPECT_EQ(prepares2.result().rows(0).values(1).string_value(),
            prepares1.result().rows(0).values(1).string_value())
      << "a statement was prepared again: the session was reset after a plain write";
}

TEST_F(CausalityTest, AReadCarriesNoToken) {
  ExecuteResponse wrote, read;
  ASSERT_TRUE(Execute(Insert(3), &wrote).ok());  // the session's last GTID is set
  ExecuteRequest req;
  req.set_sql("SELECT COUNT(*) FROM ct_rows");
  ASSERT_TRUE(Execute(req, &read).ok());
  EXPECT_FALSE(wrote.causality_token().empty());
  EXPECT_EQ(read.causality_token(), "");
}

TEST_F(CausalityTest, ATransactionNamesItsCommitAndAReadOnlyOrFailedOneNone) {
  const uint64_t before = BinlogSeq();
  RunTransactionResponse wrote;
  grpc::Status s = Run(Transfer(5), &wrote);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(TokenSeq(wrote.causality_token()), before);
  EXPECT_LE(TokenSeq(wrote.causality_token()), BinlogSeq());

  RunTransactionRequest ro;
  ro.mutable_options()->set_read_only(true);
  ro.add_statements()->set_sql("SELECT COUNT(*) FROM ct_rows");
  RunTransactionResponse read;
  ASSERT_TRUE(Run(ro, &read).ok());
  EXPECT_EQ(read.causality_token(), "");

  // An unmet expectation rolls everything back: an error, no token.
  RunTransactionRequest unmet = Transfer(6);
  unmet.mutable_statements(1)->mutable_expect()->set_min_affected_rows(2);
  RunTransactionResponse failed;
  s = Run(unmet, &failed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(failed.causality_token(), "");
}

TEST_F(CausalityTest, AnInteractiveCommitNamesItsGtidAndARollbackNone) {
  const uint64_t before = BinlogSeq();
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    auto rw = server_.stub().Transaction(ctx.get());
    TransactionRequest req;
    TransactionResponse resp;
    req.mutable_begin();
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    req.mutable_statement()->set_sql("INSERT INTO ct_rows (v) VALUES (7)");
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    req.mutable_commit();
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    ASSERT_TRUE(resp.has_committed());
    EXPECT_GT(TokenSeq(resp.committed().causality_token()), before);
    rw->WritesDone();
    EXPECT_TRUE(rw->Finish().ok());
  }
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    auto rw = server_.stub().Transaction(ctx.get());
    TransactionRequest req;
    TransactionResponse resp;
    req.mutable_begin();
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    req.mutable_statement()->set_sql("INSERT INTO ct_rows (v) VALUES (8)");
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    req.mutable_rollback();
    ASSERT_TRUE(rw->Write(req) && rw->Read(&resp));
    EXPECT_TRUE(resp.has_rolled_back());
    rw->WritesDone();
    EXPECT_TRUE(rw->Finish().ok());
  }
}

TEST_F(CausalityTest, AStoredKeyedAnswerCarriesATokenThatCoversTheFirstCommit) {
  const std::string key = Key("exec");
  ExecuteRequest req = Insert(9);
  req.set_idempotency_key(key);
  ExecuteResponse first, other, again;
  ASSERT_TRUE(Execute(req, &first).ok());
  ASSERT_TRUE(Execute(Insert(10), &other).ok());  // the log moves on
  ASSERT_TRUE(Execute(req, &again).ok());
  EXPECT_GT(TokenSeq(first.causality_token()), 0u);
  EXPECT_GE(TokenSeq(again.causality_token()), TokenSeq(first.causality_token()));
  EXPECT_EQ(again.result().SerializeAsString(), first.result().SerializeAsString());

  // Re-sent with the read options of a later write (what a client session
  // sends): the same request, its stored answer.
  req.mutable_read()->set_causality_token(other.causality_token());
  req.mutable_read()->set_routing(txgate::v1::READ_ROUTING_REPLICA);
  ExecuteResponse resent;
  grpc::Status s = Execute(req, &resent);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resent.result().SerializeAsString(), first.result().SerializeAsString());

  RunTransactionRequest txn = Transfer(11);
  txn.set_idempotency_key(Key("txn"));
  txn.mutable_options()->mutable_read()->set_causality_token(resent.causality_token());
  RunTransactionResponse t1, t2;
  ASSERT_TRUE(Run(txn, &t1).ok());
  txn.mutable_options()->mutable_read()->set_causality_token(t1.causality_token());
  s = Run(txn, &t2);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(TokenSeq(t1.causality_token()), 0u);
  EXPECT_GE(TokenSeq(t2.causality_token()), TokenSeq(t1.causality_token()));
}

TEST_F(CausalityTest, ATokenSentBackIsTakenAndABadOneRefusedEverywhere) {
  ExecuteResponse wrote;
  ASSERT_TRUE(Execute(Insert(12), &wrote).ok());
  ExecuteRequest read;
  read.set_sql("SELECT COUNT(*) FROM ct_rows");
  read.mutable_read()->set_causality_token(wrote.causality_token());
  ExecuteResponse resp;
  grpc::Status s = Execute(read, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();

  struct Case {
    std::string token;
    std::string says;
  };
  const std::vector<Case> bad = {
      {"0-1-2", "does not start with \"g1:\""},
      {"g2:0-1-2", "does not start with \"g1:\""},
      {"g1:", "names no GTID"},
      {"g1:0-1", "entry 0 (\"0-1\") is not a GTID"},
      {"g1:0-1-2,x", "entry 1 (\"x\") is not a GTID"},
      {"g1:0-1-+2", "is not a GTID"},
      {"g1:4294967296-1-2", "is not a GTID"},
      {"g1:0-1-2,0-3-4", "entry 1 repeats domain 0"},
  };
  for (const Case& c : bad) {
    SCOPED_TRACE(c.token);
    read.mutable_read()->set_causality_token(c.token);
    s = Execute(read, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ErrorInfoOf(s).reason(), "CAUSALITY_TOKEN_INVALID");
    EXPECT_THAT(s.error_message(), ::testing::HasSubstr(c.says));
  }
  const std::string token = "g1:0-1";

  RunTransactionRequest ro;
  ro.mutable_options()->set_read_only(true);
  ro.mutable_options()->mutable_read()->set_causality_token(token);
  ro.add_statements()->set_sql("SELECT 1");
  RunTransactionResponse rt;
  s = Run(ro, &rt);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "CAUSALITY_TOKEN_INVALID") << s.error_message();

  txgate::v1::StreamQueryRequest sq;
  sq.set_sql("SELECT 1");
  sq.mutable_read()->set_causality_token(token);
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    auto reader = server_.stub().StreamQuery(ctx.get(), sq);
    txgate::v1::StreamQueryResponse chunk;
    while (reader->Read(&chunk)) {
    }
    s = reader->Finish();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "CAUSALITY_TOKEN_INVALID") << s.error_message();
  }
  {
    auto ctx = WithDeadline(absl::Seconds(20));
    auto rw = server_.stub().Transaction(ctx.get());
    TransactionRequest req;
    TransactionResponse tr;
    req.mutable_begin()->mutable_options()->set_read_only(true);
    req.mutable_begin()->mutable_options()->mutable_read()->set_causality_token(token);
    ASSERT_TRUE(rw->Write(req));
    EXPECT_FALSE(rw->Read(&tr));
    s = rw->Finish();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "CAUSALITY_TOKEN_INVALID") << s.error_message();
  }
  // An unknown routing is refused too.
  read.mutable_read()->set_causality_token("");
  read.mutable_read()->set_routing(static_cast<txgate::v1::ReadRouting>(7));
  s = Execute(read, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("unknown read.routing 7"));
}

}  // namespace
}  // namespace txgate::testing
