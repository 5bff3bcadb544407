// Error: what a failed txgate call says, read from gRPC's rich error model.
//
// txgate answers every failure with a gRPC code and message plus a
// google.rpc.Status (the grpc-status-details-bin trailer) whose details hold
// one google.rpc.ErrorInfo: domain "txgate.dev", a reason such as
// MYSQL_ERROR or COMMIT_OUTCOME_UNKNOWN, and for MySQL errors the metadata
// mysql_errno, mysql_sqlstate and mysql_message.
//
// The client's fallible calls return absl::Status / absl::StatusOr. Such a
// status keeps the gRPC code (absl and gRPC share the numbering) and the
// message, and carries the rich details as payloads, so nothing is lost:
// Error::FromStatus() reads them back. A status that did not come from a call
// (e.g. a local INVALID_ARGUMENT) simply has no details.
#ifndef TXGATE_CLIENT_CPP_TXGATE_ERROR_H_
#define TXGATE_CLIENT_CPP_TXGATE_ERROR_H_

#include <grpcpp/support/status.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace txgate::client {

// The ErrorInfo domain of txgate's errors.
inline constexpr char kErrorDomain[] = "txgate.dev";
// The reason of UNKNOWN: a COMMIT or autocommit write was in flight when its
// connection died; it may or may not have been applied.
inline constexpr char kReasonCommitOutcomeUnknown[] = "COMMIT_OUTCOME_UNKNOWN";
// The reason of FAILED_PRECONDITION when a statement's result missed its
// expectation (Statement::Expect*): the whole transaction was rolled back.
inline constexpr char kReasonExpectationFailed[] = "EXPECTATION_FAILED";
// The absl::Status payload holding the serialized google.rpc.Status details.
inline constexpr char kStatusDetailsPayloadUrl[] = "type.googleapis.com/google.rpc.Status";
// The absl::Status payload holding the idempotency key a call carried.
inline constexpr char kIdempotencyKeyPayloadUrl[] = "txgate.dev/idempotency_key";

struct Error {
  // The gRPC status code (numerically the same as grpc::StatusCode).
  absl::StatusCode code = absl::StatusCode::kUnknown;
  // The status message.
  std::string message;
  // From the ErrorInfo detail; empty when the status has none (e.g. gRPC's
  // own UNAVAILABLE when txgate could not be reached).
  std::string domain;
  std::string reason;
  std::map<std::string, std::string> metadata;
  // From the ErrorInfo metadata of a MySQL error; 0 and empty otherwise.
  int mysql_errno = 0;
  std::string sqlstate;
  std::string mysql_message;
  // The idempotency key the failed call carried, if any: retrying with it is
  // safe even when the outcome is unknown.
  std::string idempotency_key;

  // Reads a status returned by this library (or any absl::Status).
  static Error FromStatus(const absl::Status& status);
  // Reads a gRPC status, its error_details() included.
  static Error FromGrpcStatus(const grpc::Status& status);

  // True for UNKNOWN: the write may or may not have been applied.
  bool outcome_unknown() const { return code == absl::StatusCode::kUnknown; }

  // True when a statement's expectation was not met (reason
  // EXPECTATION_FAILED): nothing was committed and the idempotency key was
  // not used up. metadata["expectation"], ["expected"] and ["actual"] say
  // how it missed.
  bool expectation_failed() const { return reason == kReasonExpectationFailed; }

  // The 1-based index of the statement the error names (metadata
  // statement_index, e.g. of an unmet expectation); 0 when none.
  int statement_index() const;

  // One line for people, e.g.
  // "INVALID_ARGUMENT: You have an error ... [MYSQL_ERROR] (MySQL 1064, SQLSTATE 42000)".
  std::string ToString() const;
};

// The absl::Status form of a gRPC status: same code and message, with the
// rich details and `idempotency_key` (when not empty) attached as payloads.
absl::Status StatusFromGrpc(const grpc::Status& status, absl::string_view idempotency_key = "");

// `status` with `idempotency_key` attached (replacing any earlier key); OK
// stays OK.
absl::Status WithIdempotencyKey(absl::Status status, absl::string_view idempotency_key);

}  // namespace txgate::client

#endif  // TXGATE_CLIENT_CPP_TXGATE_ERROR_H_
