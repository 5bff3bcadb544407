// Offline tests of the retry rules and of the interactive transaction's
// messages, against an in-process fake DatabaseService: a real txgate cannot
// be made to answer UNKNOWN on demand.
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "txgate/client.h"

namespace txgate::client {
namespace {

using ::testing::ElementsAre;
using ::testing::MatchesRegex;
using txgate::v1::TransactionRequest;

// A status like txgate's: the code plus an ErrorInfo with MySQL metadata.
// UNKNOWN is a lost commit (COMMIT_OUTCOME_UNKNOWN) unless `unknown_reason`
// says otherwise.
grpc::Status RichStatus(grpc::StatusCode code, const std::string& unknown_reason = "") {
  google::rpc::ErrorInfo info;
  info.set_domain("txgate.dev");
  info.set_reason(code != grpc::StatusCode::UNKNOWN ? "FAKE"
                  : unknown_reason.empty()          ? "COMMIT_OUTCOME_UNKNOWN"
                                                    : unknown_reason);
  (*info.mutable_metadata())["mysql_errno"] = "2013";
  (*info.mutable_metadata())["mysql_sqlstate"] = "HY000";
  google::rpc::Status rich;
  rich.set_code(code);
  rich.set_message("fake failure");
  rich.add_details()->PackFrom(info);
  return grpc::Status(code, "fake failure", rich.SerializeAsString());
}

// Answers Execute and RunTransaction with the scripted codes first, then OK;
// records what it was sent.
class FakeService final : public txgate::v1::DatabaseService::Service {
 public:
  void Script(std::vector<grpc::StatusCode> codes) {
    absl::MutexLock lock(&mu_);
    codes_.assign(codes.begin(), codes.end());
  }
  // The reason of the UNKNOWNs scripted from now on ("": a lost commit).
  void SetUnknownReason(std::string reason) {
    absl::MutexLock lock(&mu_);
    unknown_reason_ = std::move(reason);
  }
  void FailForever(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    forever_ = code;
  }
  std::vector<std::string> keys() {
    absl::MutexLock lock(&mu_);
    return keys_;
  }
  int execute_calls() {
    absl::MutexLock lock(&mu_);
    return execute_calls_;
  }
  std::vector<std::string> execute_keys() {
    absl::MutexLock lock(&mu_);
    return execute_keys_;
  }
  // From now on CANCELLED is answered as txgate answers a call whose client
  // went away (with its ErrorInfo, reason CANCELLED) rather than the way
  // gRPC's server cancels a call it had not handed to txgate (TryCancel: no
  // ErrorInfo).
  void TxgatesCancelled() {
    absl::MutexLock lock(&mu_);
    txgates_cancelled_ = true;
  }
  // From now on UNAVAILABLE is answered without an ErrorInfo, as the
  // transport answers a cut connection.
  void BareUnavailable() {
    absl::MutexLock lock(&mu_);
    bare_unavailable_ = true;
  }
  std::vector<std::string> actions() {
    absl::MutexLock lock(&mu_);
    return actions_;
  }

  grpc::Status Execute(grpc::ServerContext* context, const txgate::v1::ExecuteRequest* request,
                       txgate::v1::ExecuteResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++execute_calls_;
    execute_keys_.push_back(request->idempotency_key());
    if (grpc::Status s = NextLocked(context); !s.ok()) return s;
    response->mutable_result()->set_affected_rows(7);
    return grpc::Status::OK;
  }

  grpc::Status RunTransaction(grpc::ServerContext* context,
                              const txgate::v1::RunTransactionRequest* request,
                              txgate::v1::RunTransactionResponse* response) override {
    absl::MutexLock lock(&mu_);
    keys_.push_back(request->idempotency_key());
    if (grpc::Status s = NextLocked(context); !s.ok()) return s;
    response->add_results()->set_affected_rows(1);
    response->set_attempts(1);
    return grpc::Status::OK;
  }

  // Records each message's action; fails a statement whose SQL is "FAIL".
  grpc::Status Transaction(grpc::ServerContext*,
                           grpc::ServerReaderWriter<txgate::v1::TransactionResponse,
                                                    TransactionRequest>* stream) override {
    TransactionRequest request;
    while (stream->Read(&request)) {
      txgate::v1::TransactionResponse response;
      {
        absl::MutexLock lock(&mu_);
        switch (request.action_case()) {
          case TransactionRequest::kBegin:
            actions_.push_back(request.begin().options().read_only() ? "begin ro" : "begin");
            response.mutable_begun();
            break;
          case TransactionRequest::kStatement:
            actions_.push_back(absl::StrCat("statement ", request.statement().sql()));
            if (request.statement().sql() == "FAIL") {
              return RichStatus(grpc::StatusCode::ALREADY_EXISTS);
            }
            response.mutable_result()->set_affected_rows(1);
            break;
          case TransactionRequest::kCommit:
            actions_.push_back(absl::StrCat("commit ", request.commit().idempotency_key()));
            response.mutable_committed();
            break;
          case TransactionRequest::kRollback:
            actions_.push_back("rollback");
            response.mutable_rolled_back();
            break;
          case TransactionRequest::ACTION_NOT_SET:
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no action");
        }
      }
      stream->Write(response);
      if (response.has_committed() || response.has_rolled_back()) return grpc::Status::OK;
    }
    absl::MutexLock lock(&mu_);
    actions_.push_back("closed");
    return grpc::Status(grpc::StatusCode::ABORTED, "not committed");
  }

 private:
  grpc::Status NextLocked(grpc::ServerContext* context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (forever_ != grpc::StatusCode::OK) return RichStatus(forever_);
    if (codes_.empty()) return grpc::Status::OK;
    grpc::StatusCode code = codes_.front();
    codes_.pop_front();
    if (code == grpc::StatusCode::CANCELLED && !txgates_cancelled_) {
      context->TryCancel();  // the client gets gRPC's own CANCELLED
      return grpc::Status::CANCELLED;
    }
    if (code == grpc::StatusCode::UNAVAILABLE && bare_unavailable_) {
      return grpc::Status(code, "connection reset");
    }
    return RichStatus(code, unknown_reason_);
  }

  absl::Mutex mu_;
  std::deque<grpc::StatusCode> codes_ ABSL_GUARDED_BY(mu_);
  grpc::StatusCode forever_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
  std::vector<std::string> keys_ ABSL_GUARDED_BY(mu_);
  int execute_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> execute_keys_ ABSL_GUARDED_BY(mu_);
  bool bare_unavailable_ ABSL_GUARDED_BY(mu_) = false;
  bool txgates_cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::string unknown_reason_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> actions_ ABSL_GUARDED_BY(mu_);
};

class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    addr_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  std::unique_ptr<Client> NewClient(Options options = FastOptions()) {
    return std::make_unique<Client>(addr_, std::move(options));
  }
  static Options FastOptions() {
    Options options;
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    options.transaction_timeout = absl::Seconds(10);
    return options;
  }

  FakeService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string addr_;
};

TEST_F(RetryTest, RunTransactionRetriesUnavailableAndUnknownWithTheSameKey) {
  service_.Script({grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNKNOWN,
                   grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNKNOWN});
  auto db = NewClient();
  absl::StatusOr<TransactionResult> result =
      db->RunTransaction({{"INSERT INTO t VALUES (?)", {Value::Int(1)}}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->results.at(0).affected_rows(), 1u);
  EXPECT_THAT(result->idempotency_key, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(result->calls, 5);
  std::vector<std::string> keys = service_.keys();
  ASSERT_EQ(keys.size(), 5u);
  for (const std::string& key : keys) EXPECT_EQ(key, result->idempotency_key);
}

TEST_F(RetryTest, EachLogicalTransactionGetsItsOwnKey) {
  auto db = NewClient();
  absl::StatusOr<TransactionResult> a = db->RunTransaction({"DELETE FROM t"});
  absl::StatusOr<TransactionResult> b = db->RunTransaction({"DELETE FROM t"});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->idempotency_key, b->idempotency_key);
  TransactionOptions read_only;
  read_only.read_only = true;
  EXPECT_EQ(db->RunTransaction({"SELECT 1"}, read_only)->idempotency_key, "");
  TransactionOptions mine;
  mine.idempotency_key = "mine";
  EXPECT_EQ(db->RunTransaction({"DELETE FROM t"}, mine)->idempotency_key, "mine");
  EXPECT_THAT(service_.keys(), ElementsAre(a->idempotency_key, b->idempotency_key, "", "mine"));
}

// A read-only transaction carries no key: running it again is harmless, so
// a cut connection or a lost commit re-runs it (as in every helper).
TEST_F(RetryTest, AReadOnlyTransactionIsReRunWithoutAKey) {
  service_.BareUnavailable();
  service_.Script({grpc::StatusCode::UNKNOWN, grpc::StatusCode::UNAVAILABLE});
  auto db = NewClient();
  TransactionOptions read_only;
  read_only.read_only = true;
  absl::StatusOr<TransactionResult> result = db->RunTransaction({"SELECT 1"}, read_only);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->calls, 3);
  EXPECT_THAT(service_.keys(), ElementsAre("", "", ""));
}

TEST_F(RetryTest, OtherCodesAreFinalAndCarryTheKey) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::ABORTED,
        grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::ALREADY_EXISTS,
        grpc::StatusCode::FAILED_PRECONDITION, grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    service_.Script({code});
    auto db = NewClient();
    const size_t before = service_.keys().size();
    absl::StatusOr<TransactionResult> result = db->RunTransaction({"DELETE FROM t"});
    ASSERT_EQ(static_cast<int>(result.status().code()), static_cast<int>(code));
    ASSERT_EQ(service_.keys().size(), before + 1);
    Error e = Error::FromStatus(result.status());
    EXPECT_EQ(e.idempotency_key, service_.keys().back());
    EXPECT_THAT(e.idempotency_key, MatchesRegex("[0-9a-f]{32}"));
    EXPECT_EQ(e.mysql_errno, 2013);
    EXPECT_EQ(e.sqlstate, "HY000");
  }
}

// UNKNOWN is retried for a lost commit only: for another reason it is final.
TEST_F(RetryTest, UnknownOfAnotherReasonIsNeverRetried) {
  service_.SetUnknownReason("MYSQL_ERROR");
  service_.Script({grpc::StatusCode::UNKNOWN});
  auto db = NewClient();
  const size_t before = service_.keys().size();
  absl::StatusOr<TransactionResult> result = db->RunTransaction({"DELETE FROM t"});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(service_.keys().size(), before + 1);
  EXPECT_EQ(Error::FromStatus(result.status()).reason, "MYSQL_ERROR");
}

TEST_F(RetryTest, RunTransactionGivesUpAtTheOverallDeadline) {
  service_.FailForever(grpc::StatusCode::UNKNOWN);
  Options options = FastOptions();
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  auto db = NewClient(options);
  TransactionOptions tx;
  tx.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<TransactionResult> result = db->RunTransaction({"DELETE FROM t"}, tx);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_GE(service_.keys().size(), 3u);
  EXPECT_LT(service_.keys().size(), 100u);
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_FALSE(Error::FromStatus(result.status()).idempotency_key.empty());
}

// txgate's own UNAVAILABLE says nothing was applied: retried, with or
// without a key.
TEST_F(RetryTest, ExecuteRetriesTxgatesUnavailable) {
  for (bool no_key : {false, true}) {
    service_.Script({grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNAVAILABLE});
    auto db = NewClient();
    ExecuteOptions options;
    options.no_key = no_key;
    const int before = service_.execute_calls();
    absl::StatusOr<ExecuteResult> result = db->ExecuteWith("UPDATE t SET a = 1", {}, options);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->result.affected_rows(), 7u);
    EXPECT_EQ(result->calls, 3);
    EXPECT_EQ(service_.execute_calls() - before, 3);
  }
}

// A cut connection (no ErrorInfo) and a lost commit are re-sent with the one
// fresh key of the call; without a key they are not.
TEST_F(RetryTest, ExecuteReSendsALostAnswerWithItsKeyOnly) {
  service_.BareUnavailable();
  service_.Script(
      {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNKNOWN, grpc::StatusCode::UNAVAILABLE});
  auto db = NewClient();
  absl::StatusOr<ExecuteResult> result =
      db->ExecuteWith("INSERT INTO t VALUES (1)", {}, ExecuteOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->calls, 4);
  EXPECT_THAT(result->idempotency_key, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_THAT(service_.execute_keys(), ::testing::Each(result->idempotency_key));
  EXPECT_NE(db->ExecuteWith("INSERT INTO t VALUES (1)", {}, ExecuteOptions())->idempotency_key,
            result->idempotency_key);

  service_.Script({grpc::StatusCode::UNAVAILABLE});
  ExecuteOptions no_key;
  no_key.no_key = true;
  const int before = service_.execute_calls();
  absl::StatusOr<ExecuteResult> cut = db->ExecuteWith("INSERT INTO t VALUES (1)", {}, no_key);
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.execute_calls() - before, 1);
  EXPECT_EQ(service_.execute_keys().back(), "");
}

TEST_F(RetryTest, ExecuteWithoutAKeyNeverRetriesUnknown) {
  service_.Script({grpc::StatusCode::UNKNOWN});
  auto db = NewClient();
  ExecuteOptions no_key;
  no_key.no_key = true;
  absl::StatusOr<ExecuteResult> result = db->ExecuteWith("UPDATE t SET a = 1", {}, no_key);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(service_.execute_calls(), 1);
  Error e = Error::FromStatus(result.status());
  EXPECT_TRUE(e.outcome_unknown());
  EXPECT_EQ(e.reason, kReasonCommitOutcomeUnknown);
  EXPECT_EQ(e.domain, kErrorDomain);
  EXPECT_EQ(e.mysql_errno, 2013);
}

// gRPC's server cancels a call it accepted as a drain starts but had not
// handed to txgate yet: CANCELLED without txgate's ErrorInfo, nothing ran. A
// keyed write or a read-only transaction is re-sent with its key; a keyless
// write is not.
TEST_F(RetryTest, AServerSentCancelledIsReSentWhenKeyedOrReadOnly) {
  service_.Script({grpc::StatusCode::CANCELLED, grpc::StatusCode::CANCELLED});
  auto db = NewClient();
  absl::StatusOr<ExecuteResult> result =
      db->ExecuteWith("INSERT INTO t VALUES (1)", {}, ExecuteOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->calls, 3);
  EXPECT_THAT(service_.execute_keys(), ::testing::Each(result->idempotency_key));

  service_.Script({grpc::StatusCode::CANCELLED});
  absl::StatusOr<TransactionResult> tx = db->RunTransaction({"INSERT INTO t VALUES (1)"});
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->calls, 2);
  TransactionOptions read_only;
  read_only.read_only = true;
  service_.Script({grpc::StatusCode::CANCELLED});
  tx = db->RunTransaction({"SELECT 1"}, read_only);
  ASSERT_TRUE(tx.ok()) << tx.status();
  EXPECT_EQ(tx->calls, 2);
  EXPECT_EQ(tx->idempotency_key, "");

  service_.Script({grpc::StatusCode::CANCELLED});
  ExecuteOptions no_key;
  no_key.no_key = true;
  const int before = service_.execute_calls();
  result = db->ExecuteWith("INSERT INTO t VALUES (1)", {}, no_key);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Error::FromStatus(result.status()).domain, "");
  EXPECT_EQ(service_.execute_calls() - before, 1);
}

// txgate answers CANCELLED (with its ErrorInfo) only to a client that went
// away or cancelled: final, even for a keyed request. The application has no
// handle on the ClientContext of Execute or RunTransaction (each attempt's is
// the helper's own), so no other CANCELLED can be of its making.
TEST_F(RetryTest, TxgatesCancelledIsFinal) {
  service_.TxgatesCancelled();
  service_.Script({grpc::StatusCode::CANCELLED});
  auto db = NewClient();
  absl::StatusOr<ExecuteResult> result =
      db->ExecuteWith("INSERT INTO t VALUES (1)", {}, ExecuteOptions());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Error::FromStatus(result.status()).domain, kErrorDomain);
  EXPECT_EQ(service_.execute_calls(), 1);
  EXPECT_FALSE(Client::Retryable(RichStatus(grpc::StatusCode::CANCELLED), true));
  EXPECT_TRUE(Client::Retryable(grpc::Status::CANCELLED, true));
  EXPECT_FALSE(Client::Retryable(grpc::Status::CANCELLED, false));
}

// gRPC's retry policy cannot see a request's idempotency key, so the
// embedded service config retries no DatabaseService method.
TEST_F(RetryTest, TheServiceConfigRetriesNoDatabaseCall) {
  EXPECT_EQ(Client::DefaultServiceConfig().find("txgate.v1.DatabaseService"),
            absl::string_view::npos);
  EXPECT_NE(Client::DefaultServiceConfig().find("grpc.health.v1.Health"), absl::string_view::npos);
  // A policy of one's own that would retry Execute is used instead.
  service_.Script({grpc::StatusCode::UNAVAILABLE});
  Options options = FastOptions();
  options.service_config = R"({"methodConfig": [{"name": [{"service": "txgate.v1.DatabaseService"}],
      "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.01s", "maxBackoff": "0.01s",
                      "backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]}}]})";
  auto db = NewClient(options);
  ExecuteOptions no_key;
  no_key.no_key = true;
  service_.BareUnavailable();  // the helper itself would not re-send it
  absl::StatusOr<ExecuteResult> result = db->ExecuteWith("SELECT 1", {}, no_key);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->calls, 1);
  EXPECT_EQ(service_.execute_calls(), 2);
}

TEST_F(RetryTest, AnUnreachableTxgateIsUnavailable) {
  Options options = FastOptions();
  options.call_timeout = absl::Milliseconds(300);
  Client db("127.0.0.1:1", options);
  // Execute's key makes a refused connect safe to retry until the deadline.
  absl::StatusOr<ExecuteResult> execute = db.ExecuteWith("SELECT 1", {}, ExecuteOptions());
  EXPECT_THAT(execute.status().code(), ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                                        absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(Error::FromStatus(execute.status()).idempotency_key.empty());
  EXPECT_EQ(db.BeginTransaction().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(db.StreamQuery("SELECT 1", {}, [](const txgate::v1::Row&) { return absl::OkStatus(); })
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  TransactionOptions tx;
  tx.timeout = absl::Milliseconds(300);
  absl::StatusOr<TransactionResult> result = db.RunTransaction({"DELETE FROM t"}, tx);
  EXPECT_THAT(result.status().code(), ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                                       absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(Error::FromStatus(result.status()).idempotency_key.empty());
}

TEST_F(RetryTest, InteractiveTransactionRollsBackWhenDestroyedOpen) {
  auto db = NewClient();
  {
    absl::StatusOr<std::unique_ptr<InteractiveTransaction>> tx = db->BeginTransaction();
    ASSERT_TRUE(tx.ok()) << tx.status();
    ASSERT_TRUE((*tx)->Execute("UPDATE t SET a = ?", {Value::Int(1)}).ok());
  }
  EXPECT_THAT(service_.actions(), ElementsAre("begin", "statement UPDATE t SET a = ?", "rollback"));
}

TEST_F(RetryTest, InteractiveCommitCarriesAFreshKey) {
  auto db = NewClient();
  std::string key;
  {
    auto tx = db->BeginTransaction();
    ASSERT_TRUE(tx.ok());
    absl::StatusOr<std::string> committed = (*tx)->Commit();
    ASSERT_TRUE(committed.ok()) << committed.status();
    key = *committed;
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kCommitted);
    EXPECT_EQ((*tx)->Rollback().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ((*tx)->Execute("SELECT 1").status().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_THAT(key, MatchesRegex("[0-9a-f]{32}"));
  {
    TransactionOptions read_only;
    read_only.read_only = true;
    auto tx = db->BeginTransaction(read_only);
    ASSERT_TRUE(tx.ok());
    EXPECT_EQ(*(*tx)->Commit(), "");
  }
  EXPECT_THAT(service_.actions(),
              ElementsAre("begin", absl::StrCat("commit ", key), "begin ro", "commit "));
}

TEST_F(RetryTest, AFailedStatementEndsTheTransaction) {
  auto db = NewClient();
  {
    auto tx = db->BeginTransaction();
    ASSERT_TRUE(tx.ok());
    absl::StatusOr<txgate::v1::ResultSet> failed = (*tx)->Execute("FAIL");
    ASSERT_EQ(failed.status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(Error::FromStatus(failed.status()).mysql_errno, 2013);
    EXPECT_EQ((*tx)->state(), InteractiveTransaction::State::kFailed);
    EXPECT_EQ((*tx)->Execute("SELECT 1").status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE((*tx)->Rollback().ok());  // already over, rolled back by txgate
  }
  EXPECT_THAT(service_.actions(), ElementsAre("begin", "statement FAIL"));
}

TEST_F(RetryTest, KeysAreRandom128BitHex) {
  auto db = NewClient();
  std::string a = db->NewIdempotencyKey(), b = db->NewIdempotencyKey();
  EXPECT_THAT(a, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace txgate::client
