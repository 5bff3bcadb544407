// Error: txgate's rich status details (google.rpc.Status with an ErrorInfo)
// survive the trip from grpc::Status through absl::Status.
#include "txgate/error.h"

#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace txgate::client {
namespace {

grpc::Status MysqlError() {
  google::rpc::ErrorInfo info;
  info.set_domain("txgate.dev");
  info.set_reason("MYSQL_ERROR");
  (*info.mutable_metadata())["mysql_errno"] = "1064";
  (*info.mutable_metadata())["mysql_sqlstate"] = "42000";
  (*info.mutable_metadata())["mysql_message"] = "You have an error in your SQL syntax";
  google::rpc::Status rich;
  rich.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  rich.set_message("syntax error");
  rich.add_details()->PackFrom(info);
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "syntax error", rich.SerializeAsString());
}

void ExpectMysqlError(const Error& e) {
  EXPECT_EQ(e.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.message, "syntax error");
  EXPECT_EQ(e.domain, kErrorDomain);
  EXPECT_EQ(e.reason, "MYSQL_ERROR");
  EXPECT_EQ(e.mysql_errno, 1064);
  EXPECT_EQ(e.sqlstate, "42000");
  EXPECT_EQ(e.mysql_message, "You have an error in your SQL syntax");
  EXPECT_EQ(e.metadata.size(), 3u);
  EXPECT_FALSE(e.outcome_unknown());
}

TEST(ErrorTest, ReadsTheErrorInfoOfAGrpcStatus) {
  ExpectMysqlError(Error::FromGrpcStatus(MysqlError()));
}

TEST(ErrorTest, DetailsSurviveTheAbslStatus) {
  absl::Status status = StatusFromGrpc(MysqlError(), "key-1");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "syntax error");
  Error e = Error::FromStatus(status);
  ExpectMysqlError(e);
  EXPECT_EQ(e.idempotency_key, "key-1");
  EXPECT_EQ(e.ToString(),
            "INVALID_ARGUMENT: syntax error [MYSQL_ERROR] (MySQL 1064, SQLSTATE 42000) "
            "{idempotency key key-1}");
}

TEST(ErrorTest, AStatusWithoutDetailsHasOnlyCodeAndMessage) {
  Error e = Error::FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed"));
  EXPECT_EQ(e.code, absl::StatusCode::kUnavailable);
  EXPECT_EQ(e.message, "connect failed");
  EXPECT_EQ(e.reason, "");
  EXPECT_EQ(e.mysql_errno, 0);
  EXPECT_EQ(e.ToString(), "UNAVAILABLE: connect failed");
  Error local = Error::FromStatus(absl::FailedPreconditionError("closed"));
  EXPECT_EQ(local.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(local.idempotency_key, "");
}

TEST(ErrorTest, GarbageDetailsAreIgnored) {
  Error e = Error::FromGrpcStatus(grpc::Status(grpc::StatusCode::UNKNOWN, "m", "\xff\xff garbage"));
  EXPECT_EQ(e.code, absl::StatusCode::kUnknown);
  EXPECT_TRUE(e.outcome_unknown());
  EXPECT_EQ(e.reason, "");
}

TEST(ErrorTest, OkStaysOk) {
  EXPECT_TRUE(StatusFromGrpc(grpc::Status::OK, "key").ok());
  EXPECT_TRUE(WithIdempotencyKey(absl::OkStatus(), "key").ok());
  EXPECT_EQ(Error::FromStatus(WithIdempotencyKey(absl::AbortedError("x"), "k2")).idempotency_key,
            "k2");
}

}  // namespace
}  // namespace txgate::client
