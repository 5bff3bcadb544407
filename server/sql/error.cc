#include "server/sql/error.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace txgate::sql {
namespace {

constexpr absl::string_view kErrnoUrl = "type.txgate.dev/mysql.errno";
constexpr absl::string_view kSqlstateUrl = "type.txgate.dev/mysql.sqlstate";
constexpr absl::string_view kMessageUrl = "type.txgate.dev/mysql.message";
constexpr absl::string_view kReasonUrl = "type.txgate.dev/reason";
constexpr absl::string_view kMetadataUrlPrefix = "type.txgate.dev/metadata/";

void SetReason(absl::Status& status, txgate::v1::ErrorReason reason) {
  status.SetPayload(kReasonUrl, absl::Cord(txgate::v1::ErrorReason_Name(reason)));
}

}  // namespace

bool IsConnectionLostErrno(unsigned int errnum) {
  switch (errnum) {
    case 2002:  // CR_CONNECTION_ERROR
    case 2003:  // CR_CONN_HOST_ERROR
    case 2005:  // CR_UNKNOWN_HOST
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2055:  // CR_SERVER_LOST_EXTENDED
    case 2026:  // CR_SSL_CONNECTION_ERROR
    case 1040:  // ER_CON_COUNT_ERROR: no connection could be made
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1927:  // ER_CONNECTION_KILLED
    case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT
    case 1152:  // ER_ABORTING_CONNECTION
    case 1184:  // ER_NEW_ABORTING_CONNECTION
      return true;
    default:
      return false;
  }
}

ErrorClass Classify(unsigned int errnum) {
  if (IsConnectionLostErrno(errnum)) return ErrorClass::kConnectionLost;
  if (errnum == 1213 || errnum == 1205) return ErrorClass::kTransientConflict;
  return ErrorClass::kRequest;
}

absl::StatusCode CodeFor(unsigned int errnum, absl::string_view sqlstate) {
  using C = absl::StatusCode;
  if (IsConnectionLostErrno(errnum)) return C::kUnavailable;
  switch (errnum) {
    case 1213:  // ER_LOCK_DEADLOCK
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
      return C::kAborted;
    case 1062:  // ER_DUP_ENTRY
    case 1586:  // ER_DUP_ENTRY_WITH_KEY_NAME
    case 1050:  // ER_TABLE_EXISTS_ERROR
    case 1007:  // ER_DB_CREATE_EXISTS
      return C::kAlreadyExists;
    case 1295:  // ER_UNSUPPORTED_PS: a statement the prepared-statement
                // protocol cannot run (PREPARE itself, ...): the request's own
      return C::kInvalidArgument;
    case 1049:  // ER_BAD_DB_ERROR
    case 1146:  // ER_NO_SUCH_TABLE
    case 1054:  // ER_BAD_FIELD_ERROR
    case 1051:  // ER_BAD_TABLE_ERROR
    case 1305:  // ER_SP_DOES_NOT_EXIST
    case 1091:  // ER_CANT_DROP_FIELD_OR_KEY
      return C::kNotFound;
    case 1451:  // ER_ROW_IS_REFERENCED_2
    case 1452:  // ER_NO_REFERENCED_ROW_2
    case 1216:  // ER_NO_REFERENCED_ROW
    case 1217:  // ER_ROW_IS_REFERENCED
    case 4025:  // ER_CONSTRAINT_FAILED (CHECK)
    case 1048:  // ER_BAD_NULL_ERROR
    case 1364:  // ER_NO_DEFAULT_FOR_FIELD
    case 1792:  // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    case 1290:  // ER_OPTION_PREVENTS_STATEMENT (read_only server)
      return C::kFailedPrecondition;
    case 1264:  // ER_WARN_DATA_OUT_OF_RANGE
    case 1690:  // ER_DATA_OUT_OF_RANGE
      return C::kOutOfRange;
    case 1044:  // ER_DBACCESS_DENIED_ERROR
    case 1142:  // ER_TABLEACCESS_DENIED_ERROR
    case 1143:  // ER_COLUMNACCESS_DENIED_ERROR
    case 1227:  // ER_SPECIFIC_ACCESS_DENIED_ERROR
    case 1370:  // ER_PROCACCESS_DENIED_ERROR (EXECUTE of a routine)
    // ER_ACCESS_DENIED_ERROR: a statement that needs the FILE privilege
    // (INTO OUTFILE, LOAD DATA); at connect, txgate's own credentials are
    // refused, which the pool answers as UNAVAILABLE (DATABASE_UNAVAILABLE).
    case 1045:
      return C::kPermissionDenied;
    case 1317:  // ER_QUERY_INTERRUPTED
    case 1969:  // ER_STATEMENT_TIMEOUT
      return C::kDeadlineExceeded;
    case 1041:  // ER_OUT_OF_RESOURCES
    case 1114:  // ER_RECORD_FILE_FULL
    case 1461:  // ER_MAX_PREPARED_STMT_COUNT_REACHED
      return C::kResourceExhausted;
    default:
      break;
  }
  if (errnum >= 2000 && errnum < 3000) return C::kInternal;  // client library
  const absl::string_view cls = sqlstate.substr(0, 2);
  if (cls == "42" || cls == "22" || cls == "07" || cls == "21") return C::kInvalidArgument;
  if (cls == "23") return C::kFailedPrecondition;
  if (cls == "40") return C::kAborted;
  if (cls == "08") return C::kUnavailable;
  if (cls == "28") return C::kPermissionDenied;
  if (cls == "0A") return C::kUnimplemented;
  return C::kUnknown;
}

absl::Status ToStatus(const MysqlError& error) {
  absl::Status status(
      CodeFor(error.errnum, error.sqlstate),
      absl::StrCat("MySQL error ", error.errnum, " (", error.sqlstate, "): ", error.message));
  status.SetPayload(kErrnoUrl, absl::Cord(absl::StrCat(error.errnum)));
  status.SetPayload(kSqlstateUrl, absl::Cord(error.sqlstate));
  status.SetPayload(kMessageUrl, absl::Cord(error.message));
  SetReason(status, IsConnectionLostErrno(error.errnum) ? txgate::v1::DATABASE_UNAVAILABLE
                                                        : txgate::v1::MYSQL_ERROR);
  return status;
}

absl::Status MakeStatus(absl::StatusCode code, txgate::v1::ErrorReason reason,
                        absl::string_view message) {
  absl::Status status(code, message);
  SetReason(status, reason);
  return status;
}

absl::Status WithReason(absl::Status status, txgate::v1::ErrorReason reason) {
  SetReason(status, reason);
  return status;
}

absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  absl::Status out(status.code(), absl::StrCat(prefix, status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::Status WithMetadata(absl::Status status, absl::string_view key, absl::string_view value) {
  status.SetPayload(absl::StrCat(kMetadataUrlPrefix, key), absl::Cord(value));
  return status;
}

std::map<std::string, std::string> GetMetadata(const absl::Status& status) {
  std::map<std::string, std::string> metadata;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (absl::ConsumePrefix(&url, kMetadataUrlPrefix)) {
      metadata.emplace(std::string(url), std::string(payload));
    }
  });
  return metadata;
}

std::optional<MysqlError> GetMysqlError(const absl::Status& status) {
  auto errnum = status.GetPayload(kErrnoUrl);
  if (!errnum) return std::nullopt;
  MysqlError error;
  if (!absl::SimpleAtoi(std::string(*errnum), &error.errnum)) return std::nullopt;
  if (auto s = status.GetPayload(kSqlstateUrl)) error.sqlstate = std::string(*s);
  if (auto m = status.GetPayload(kMessageUrl)) error.message = std::string(*m);
  return error;
}

std::string GetReason(const absl::Status& status) {
  auto reason = status.GetPayload(kReasonUrl);
  return reason ? std::string(*reason) : std::string();
}

bool IsConnectionLost(const absl::Status& status) {
  std::optional<MysqlError> e = GetMysqlError(status);
  return e && IsConnectionLostErrno(e->errnum);
}

bool IsTransientConflict(const absl::Status& status) {
  std::optional<MysqlError> e = GetMysqlError(status);
  return e && Classify(e->errnum) == ErrorClass::kTransientConflict;
}

}  // namespace txgate::sql
