// Error classes of the retry rules, and MySQL errors carried in absl::Status.
//
// Every MySQL error becomes an absl::Status whose code is chosen here, once,
// from the errno (and SQLSTATE as a fallback); the errno, SQLSTATE and a
// reason travel as payloads so the RPC layer can put them in the gRPC
// status's ErrorInfo detail. The classes follow the design's retry rules:
//   kConnectionLost     - the connection is gone; re-run only if nothing can
//                         have committed.
//   kTransientConflict  - deadlock or lock wait timeout; a transaction may be
//                         re-run whole.
//   kRequest            - the request's own fault; never retried.
// Reasons are values of txgate.v1.ErrorReason (proto/txgate/v1/
// error_reason.proto), the one list of them; the payload holds the value's
// name, which is the google.rpc.ErrorInfo.reason clients see.
#ifndef TXGATE_SERVER_SQL_ERROR_H_
#define TXGATE_SERVER_SQL_ERROR_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "txgate/v1/error_reason.pb.h"

namespace txgate::sql {

enum class ErrorClass { kConnectionLost, kTransientConflict, kRequest };

// A MySQL error as the client library reports it.
struct MysqlError {
  unsigned int errnum = 0;
  std::string sqlstate;  // five characters, e.g. "42S02"
  std::string message;
};

// The retry class of a MySQL errno.
ErrorClass Classify(unsigned int errnum);

// True for errnos that mean the connection is lost (design class 1).
bool IsConnectionLostErrno(unsigned int errnum);

// True for a user's SIGNAL (errno 1644, or an SQLSTATE of class 45 with
// any MYSQL_ERRNO the user chose): final, never a loss or a conflict,
// whatever its errno.
bool IsUserSignal(const MysqlError& error);

// True for errnos that say a packet was over max_allowed_packet (1153, and
// the client library's 2020): never a loss to heal.
bool IsPacketTooLargeErrno(unsigned int errnum);

// The status code for a MySQL error, by errno, then by SQLSTATE class;
// UNKNOWN only where the outcome is (1180, 1181) or the class is unknown.
absl::StatusCode CodeFor(unsigned int errnum, absl::string_view sqlstate);

// A status for `error`, carrying errno, SQLSTATE and reason MYSQL_ERROR
// (DATABASE_UNAVAILABLE for a connection loss).
absl::Status ToStatus(const MysqlError& error);

// A status with no MySQL error behind it, carrying `reason`.
absl::Status MakeStatus(absl::StatusCode code, txgate::v1::ErrorReason reason,
                        absl::string_view message);

// Returns `status` with its reason replaced (code and MySQL detail kept).
absl::Status WithReason(absl::Status status, txgate::v1::ErrorReason reason);

// Returns `status` with the payloads of `cause` it lacks (the MySQL error,
// its ErrorInfo) attached: a status of txgate's own that keeps the MySQL
// detail of what caused it.
absl::Status WithDetailOf(absl::Status status, const absl::Status& cause);

// Returns `status` with `prefix` put before its message; payloads kept.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix);

// Returns `status` with `key: value` added to the metadata clients see in
// its google.rpc.ErrorInfo (beside mysql_errno and the like), e.g. an
// unmet expectation's `statement_index`. Keys are lower_snake_case.
absl::Status WithMetadata(absl::Status status, absl::string_view key, absl::string_view value);

// The metadata added by WithMetadata, by key.
std::map<std::string, std::string> GetMetadata(const absl::Status& status);

// The MySQL error carried by `status`, if any.
std::optional<MysqlError> GetMysqlError(const absl::Status& status);

// The reason carried by `status` (an ErrorReason's name, as sent to
// clients); empty if none.
std::string GetReason(const absl::Status& status);

// True if `status` reports a lost connection (class 1).
bool IsConnectionLost(const absl::Status& status);

// True if `status` is the server refusing a write because it is read-only
// (1290 ER_OPTION_PREVENTS_STATEMENT naming --read-only, or 1836
// ER_READ_ONLY_MODE): a replica, or a primary demoted under the
// connection. Nothing of the refused statement was applied; a refused
// COMMIT did not commit (README, "Replication and failover").
bool IsReadOnlyRefusal(const absl::Status& status);

// True if `status` reports a deadlock or lock wait timeout (class 2).
bool IsTransientConflict(const absl::Status& status);

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_ERROR_H_
