#include "server/sql/error.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
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

bool IsUserSignal(const MysqlError& error) {
  return error.errnum == 1644 || absl::StartsWith(error.sqlstate, "45");
}

bool IsPacketTooLargeErrno(unsigned int errnum) {
  return errnum == 1153      // ER_NET_PACKET_TOO_LARGE: the server would not read it
         || errnum == 2020   // CR_NET_PACKET_TOO_LARGE: the client library would not
         || errnum == 4075;  // ER_NET_OK_PACKET_TOO_LARGE
}

// The code of a MySQL error: first the errnos whose meaning is more
// precise than their SQLSTATE (most of MariaDB's errors share the general
// HY000), family by family, then the SQLSTATE class. The families were
// checked against the whole errno list of MariaDB 10.11 (mysqld_error.h,
// 1000-1999, 3000-3199, 4000-4200); README, "gRPC codes for MySQL errors".
absl::StatusCode CodeFor(unsigned int errnum, absl::string_view sqlstate) {
  using C = absl::StatusCode;
  // A user's SIGNAL (errno 1644, or any errno it chose with MYSQL_ERRNO,
  // with an SQLSTATE of class 45, "unhandled user-defined exception") is a
  // business rule of the database saying no: final, and its message is the
  // user's.
  if (errnum == 1644 || absl::StartsWith(sqlstate, "45")) return C::kFailedPrecondition;
  if (IsConnectionLostErrno(errnum)) return C::kUnavailable;
  if (IsPacketTooLargeErrno(errnum)) return C::kResourceExhausted;
  switch (errnum) {
    // Transient conflicts and rollbacks the server chose.
    case 1213:  // ER_LOCK_DEADLOCK
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
    case 1689:  // ER_LOCK_ABORTED
    case 3058:  // ER_USER_LOCK_DEADLOCK (GET_LOCK)
      return C::kAborted;

    // Already exists (the SQLSTATEs 42S01/42S21 are handled below).
    case 1062:  // ER_DUP_ENTRY
    case 1586:  // ER_DUP_ENTRY_WITH_KEY_NAME
    case 1022:  // ER_DUP_KEY
    case 1169:  // ER_DUP_UNIQUE
    case 1050:  // ER_TABLE_EXISTS_ERROR
    case 1007:  // ER_DB_CREATE_EXISTS
    case 1061:  // ER_DUP_KEYNAME
    case 1304:  // ER_SP_ALREADY_EXISTS
    case 1359:  // ER_TRG_ALREADY_EXISTS
      return C::kAlreadyExists;

    // The request's own fault, where the SQLSTATE is the general HY000.
    case 1295:  // ER_UNSUPPORTED_PS: a statement the prepared-statement
                // protocol cannot run (PREPARE itself, ...)
    case 1390:  // ER_PS_MANY_PARAM: more than 65535 placeholders
    case 1210:  // ER_WRONG_ARGUMENTS: incorrect arguments to a function
    // LOCK TABLES held by the session and a statement naming a table it did
    // not lock (for write): the statement must name it in LOCK TABLES; the
    // session's lock is the caller's own doing, so the request is at fault,
    // not the server's state.
    case 1100:  // ER_TABLE_NOT_LOCKED
    case 1099:  // ER_TABLE_NOT_LOCKED_FOR_WRITE
      return C::kInvalidArgument;

    // Not found (the SQLSTATEs 42S02/42S12/42S22 are handled below).
    case 1049:  // ER_BAD_DB_ERROR
    case 1146:  // ER_NO_SUCH_TABLE
    case 1054:  // ER_BAD_FIELD_ERROR
    case 1051:  // ER_BAD_TABLE_ERROR
    case 1305:  // ER_SP_DOES_NOT_EXIST (routines, savepoints)
    case 1091:  // ER_CANT_DROP_FIELD_OR_KEY
    case 1094:  // ER_NO_SUCH_THREAD (KILL of an unknown id)
      return C::kNotFound;

    // Constraints and state the data or the server is in.
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
    case 1095:  // ER_KILL_DENIED_ERROR
    case 1979:  // ER_KILL_QUERY_DENIED_ERROR
    // ER_ACCESS_DENIED_ERROR: a statement that needs the FILE privilege
    // (INTO OUTFILE, LOAD DATA); at connect, txgate's own credentials are
    // refused, which the pool answers as UNAVAILABLE (DATABASE_UNAVAILABLE).
    case 1045:
      return C::kPermissionDenied;

    case 1317:  // ER_QUERY_INTERRUPTED
    case 1969:  // ER_STATEMENT_TIMEOUT
      return C::kDeadlineExceeded;

    // The server's resources and limits.
    case 1021:  // ER_DISK_FULL
    case 1037:  // ER_OUTOFMEMORY
    case 1038:  // ER_OUT_OF_SORTMEMORY
    case 1041:  // ER_OUT_OF_RESOURCES
    case 1114:  // ER_RECORD_FILE_FULL
    case 1135:  // ER_CANT_CREATE_THREAD
    case 1197:  // ER_TRANS_CACHE_FULL (max_binlog_cache_size)
    case 1203:  // ER_TOO_MANY_USER_CONNECTIONS
    case 1206:  // ER_LOCK_TABLE_FULL
    case 1226:  // ER_USER_LIMIT_REACHED
    case 1456:  // ER_SP_RECURSION_LIMIT
    case 1461:  // ER_MAX_PREPARED_STMT_COUNT_REACHED
    case 1637:  // ER_TOO_MANY_CONCURRENT_TRXS
    case 1705:  // ER_STMT_CACHE_FULL
    case 3015:  // ER_ENGINE_OUT_OF_MEMORY
    case 3019:  // ER_INNODB_UNDO_LOG_FULL
    case 4139:  // ER_INDEX_FILE_FULL
      return C::kResourceExhausted;

    // Corrupt tables and files.
    case 1034:  // ER_NOT_KEYFILE (index corrupt)
    case 1035:  // ER_OLD_KEYFILE
    case 1194:  // ER_CRASHED_ON_USAGE
    case 1195:  // ER_CRASHED_ON_REPAIR
    case 1457:  // ER_SP_PROC_TABLE_CORRUPT
    case 1602:  // ER_TRG_CORRUPTED_FILE
    case 1712:  // ER_INDEX_CORRUPT
    case 1817:  // ER_INNODB_INDEX_CORRUPT
    case 1877:  // ER_TABLE_CORRUPT
    case 3000:  // ER_FILE_CORRUPT
      return C::kDataLoss;

    // The server (or its storage engine) failed in a way it does not
    // classify, or txgate sent what the protocol does not allow.
    case 1030:  // ER_GET_ERRNO: an error from the storage engine
    case 1105:  // ER_UNKNOWN_ERROR
    case 1243:  // ER_UNKNOWN_STMT_HANDLER
    case 1835:  // ER_MALFORMED_PACKET
      return C::kInternal;

    // Features the server does not have.
    case 1235:  // ER_NOT_SUPPORTED_YET
    case 1178:  // ER_CHECK_NOT_IMPLEMENTED
      return C::kUnimplemented;

    // A COMMIT or ROLLBACK the engine failed: whether it took effect is
    // genuinely unknown.
    case 1180:  // ER_ERROR_DURING_COMMIT
    case 1181:  // ER_ERROR_DURING_ROLLBACK
      return C::kUnknown;

    default:
      break;
  }
  if (errnum >= 2000 && errnum < 3000) return C::kInternal;  // client library
  // The subclasses of 42 that say what was (not) found.
  if (sqlstate == "42S02" || sqlstate == "42S12" || sqlstate == "42S22") return C::kNotFound;
  if (sqlstate == "42S01" || sqlstate == "42S11" || sqlstate == "42S21") {
    return C::kAlreadyExists;
  }
  const absl::string_view cls = sqlstate.substr(0, 2);
  // Syntax or access rule, dynamic SQL, cardinality, data, no database.
  if (cls == "42" || cls == "07" || cls == "21" || cls == "22" || cls == "3D") {
    return C::kInvalidArgument;
  }
  // No data (an unhandled NOT FOUND condition, a FETCH past the end).
  if (cls == "02") return C::kNotFound;
  // Integrity, cursor, transaction and XA-branch state, savepoints,
  // routines (CASE not found 20, no RETURN 2F, RESIGNAL 0K), view CHECK
  // OPTION 44.
  if (cls == "23" || cls == "24" || cls == "25" || cls == "3B" || cls == "20" || cls == "2F" ||
      cls == "0K" || cls == "0Z" || cls == "44" || absl::StartsWith(sqlstate, "XAE")) {
    return C::kFailedPrecondition;
  }
  // Rolled back: serialization failure 40, XA branch rolled back XA1xx,
  // interrupted 70.
  if (cls == "40" || cls == "XA" || cls == "70") return C::kAborted;
  if (cls == "08") return C::kUnavailable;
  if (cls == "28") return C::kPermissionDenied;
  if (cls == "0A") return C::kUnimplemented;
  // HY000, MariaDB's general class, with no errno rule above: the statement
  // failed, certainly, on a state of the server or the data (e.g. a table
  // locked read-only, a backup lock). Not UNKNOWN, which is kept for
  // outcomes that are genuinely unknown.
  if (cls == "HY") return C::kFailedPrecondition;
  return C::kUnknown;
}

absl::Status ToStatus(const MysqlError& error) {
  absl::Status status(
      CodeFor(error.errnum, error.sqlstate),
      absl::StrCat("MySQL error ", error.errnum, " (", error.sqlstate, "): ", error.message));
  status.SetPayload(kErrnoUrl, absl::Cord(absl::StrCat(error.errnum)));
  status.SetPayload(kSqlstateUrl, absl::Cord(error.sqlstate));
  status.SetPayload(kMessageUrl, absl::Cord(error.message));
  const bool lost = !IsUserSignal(error) && IsConnectionLostErrno(error.errnum);
  SetReason(status, lost                                  ? txgate::v1::DATABASE_UNAVAILABLE
                    : IsPacketTooLargeErrno(error.errnum) ? txgate::v1::PACKET_TOO_LARGE
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

absl::Status WithDetailOf(absl::Status status, const absl::Status& cause) {
  cause.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (!status.GetPayload(url)) status.SetPayload(url, payload);
  });
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
  return e && !IsUserSignal(*e) && IsConnectionLostErrno(e->errnum);
}

bool IsReadOnlyRefusal(const absl::Status& status) {
  std::optional<MysqlError> e = GetMysqlError(status);
  if (!e || IsUserSignal(*e)) return false;
  if (e->errnum == 1836) return true;  // ER_READ_ONLY_MODE
  // 1290 names the option that prevents the statement: only --read-only
  // (not --secure-file-priv, --skip-grant-tables, ...) means a replica.
  return e->errnum == 1290 && absl::StrContains(e->message, "read-only");
}

bool IsTransientConflict(const absl::Status& status) {
  std::optional<MysqlError> e = GetMysqlError(status);
  return e && !IsUserSignal(*e) && Classify(e->errnum) == ErrorClass::kTransientConflict;
}

}  // namespace txgate::sql
