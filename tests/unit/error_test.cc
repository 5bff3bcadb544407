// Error classes and the MySQL error <-> absl::Status mapping: which errnos
// count as a lost connection or a transient conflict (the retry rules), the
// status code a caller sees, and the detail that travels with the status.
#include "server/sql/error.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace txgate::sql {
namespace {

using ::testing::HasSubstr;
using C = absl::StatusCode;

TEST(Classify, ConnectionLossErrnos) {
  // Client: CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR,
  // CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED; server: ER_SERVER_SHUTDOWN,
  // ER_CONNECTION_KILLED, ER_CLIENT_INTERACTION_TIMEOUT.
  for (unsigned int errnum : {2002u, 2003u, 2006u, 2013u, 2055u, 1053u, 1927u, 4031u}) {
    EXPECT_TRUE(IsConnectionLostErrno(errnum)) << errnum;
    EXPECT_EQ(Classify(errnum), ErrorClass::kConnectionLost) << errnum;
  }
}

TEST(Classify, DeadlockAndLockWaitTimeoutAreTransientConflicts) {
  for (unsigned int errnum : {1213u, 1205u}) {
    EXPECT_FALSE(IsConnectionLostErrno(errnum)) << errnum;
    EXPECT_EQ(Classify(errnum), ErrorClass::kTransientConflict) << errnum;
  }
}

TEST(Classify, EverythingElseIsTheRequestsFault) {
  // Syntax error, duplicate key, unknown table, data too long, client
  // "commands out of sync", and no error at all.
  for (unsigned int errnum : {1064u, 1062u, 1146u, 1406u, 2014u, 0u}) {
    EXPECT_FALSE(IsConnectionLostErrno(errnum)) << errnum;
    EXPECT_EQ(Classify(errnum), ErrorClass::kRequest) << errnum;
  }
}

struct CodeCase {
  unsigned int errnum;
  const char* sqlstate;
  C code;
};

class CodeForTest : public ::testing::TestWithParam<CodeCase> {};

TEST_P(CodeForTest, Maps) {
  const CodeCase& c = GetParam();
  EXPECT_EQ(CodeFor(c.errnum, c.sqlstate), c.code) << c.errnum << " " << c.sqlstate;
}

INSTANTIATE_TEST_SUITE_P(
    ByErrno, CodeForTest,
    ::testing::Values(
        CodeCase{2006, "HY000", C::kUnavailable}, CodeCase{2013, "HY000", C::kUnavailable},
        CodeCase{1927, "70100", C::kUnavailable}, CodeCase{1053, "08S01", C::kUnavailable},
        // The errno wins over the SQLSTATE class.
        CodeCase{1213, "40001", C::kAborted}, CodeCase{1205, "HY000", C::kAborted},
        CodeCase{1062, "23000", C::kAlreadyExists}, CodeCase{1050, "42S01", C::kAlreadyExists},
        CodeCase{1146, "42S02", C::kNotFound}, CodeCase{1054, "42S22", C::kNotFound},
        CodeCase{1049, "42000", C::kNotFound}, CodeCase{1452, "23000", C::kFailedPrecondition},
        CodeCase{1451, "23000", C::kFailedPrecondition},
        CodeCase{4025, "23000", C::kFailedPrecondition},
        CodeCase{1048, "23000", C::kFailedPrecondition},
        CodeCase{1792, "25006", C::kFailedPrecondition}, CodeCase{1264, "22003", C::kOutOfRange},
        CodeCase{1690, "22003", C::kOutOfRange}, CodeCase{1142, "42000", C::kPermissionDenied},
        CodeCase{1044, "42000", C::kPermissionDenied},
        CodeCase{1370, "42000", C::kPermissionDenied},
        // A statement needing the FILE privilege (INTO OUTFILE); at connect
        // the pool answers UNAVAILABLE instead.
        CodeCase{1045, "28000", C::kPermissionDenied},
        CodeCase{1969, "70100", C::kDeadlineExceeded},
        CodeCase{1317, "70100", C::kDeadlineExceeded},
        CodeCase{1461, "42000", C::kResourceExhausted},
        // Other client library errors are txgate's own fault.
        CodeCase{2014, "HY000", C::kInternal}, CodeCase{2031, "HY000", C::kInternal},
        // A user's SIGNAL is final: whatever SQLSTATE or MYSQL_ERRNO it chose.
        CodeCase{1644, "45000", C::kFailedPrecondition},
        CodeCase{1644, "23000", C::kFailedPrecondition},
        CodeCase{1644, "HY000", C::kFailedPrecondition},
        CodeCase{1213, "45001", C::kFailedPrecondition},
        // Packets over max_allowed_packet: never a loss to heal.
        CodeCase{1153, "08S01", C::kResourceExhausted},
        CodeCase{2020, "HY000", C::kResourceExhausted},
        CodeCase{4075, "HY000", C::kResourceExhausted},
        // The request's own fault, under the general HY000.
        CodeCase{1390, "HY000", C::kInvalidArgument}, CodeCase{1295, "HY000", C::kInvalidArgument},
        CodeCase{1100, "HY000", C::kInvalidArgument}, CodeCase{1099, "HY000", C::kInvalidArgument},
        CodeCase{1210, "HY000", C::kInvalidArgument}, CodeCase{1094, "HY000", C::kNotFound},
        CodeCase{1095, "HY000", C::kPermissionDenied}, CodeCase{1359, "HY000", C::kAlreadyExists},
        CodeCase{1304, "42000", C::kAlreadyExists}, CodeCase{1061, "42000", C::kAlreadyExists},
        CodeCase{1689, "HY000", C::kAborted}, CodeCase{3058, "HY000", C::kAborted},
        // Resources and limits of the server.
        CodeCase{1021, "HY000", C::kResourceExhausted},
        CodeCase{1037, "HY001", C::kResourceExhausted},
        CodeCase{1135, "HY000", C::kResourceExhausted},
        CodeCase{1197, "HY000", C::kResourceExhausted},
        CodeCase{1203, "42000", C::kResourceExhausted},
        CodeCase{1206, "HY000", C::kResourceExhausted},
        CodeCase{1226, "42000", C::kResourceExhausted},
        CodeCase{1456, "HY000", C::kResourceExhausted},
        CodeCase{3019, "HY000", C::kResourceExhausted},
        // Corruption.
        CodeCase{1194, "HY000", C::kDataLoss}, CodeCase{1712, "HY000", C::kDataLoss},
        CodeCase{1877, "HY000", C::kDataLoss},
        // The server failing in a way it does not classify.
        CodeCase{1030, "HY000", C::kInternal}, CodeCase{1105, "HY000", C::kInternal},
        CodeCase{1235, "42000", C::kUnimplemented},
        // A COMMIT the engine failed: genuinely unknown.
        CodeCase{1180, "HY000", C::kUnknown}, CodeCase{1181, "HY000", C::kUnknown}));

INSTANTIATE_TEST_SUITE_P(
    BySqlstateClass, CodeForTest,
    ::testing::Values(
        CodeCase{1064, "42000", C::kInvalidArgument}, CodeCase{1406, "22001", C::kInvalidArgument},
        CodeCase{9999, "07001", C::kInvalidArgument}, CodeCase{1242, "21000", C::kInvalidArgument},
        CodeCase{9999, "23000", C::kFailedPrecondition}, CodeCase{9999, "40001", C::kAborted},
        CodeCase{9999, "08004", C::kUnavailable}, CodeCase{9999, "28000", C::kPermissionDenied},
        CodeCase{9999, "0A000", C::kUnimplemented},
        // 42 subclasses that say what was (not) found.
        CodeCase{1109, "42S02", C::kNotFound}, CodeCase{1932, "42S02", C::kNotFound},
        CodeCase{9999, "42S12", C::kNotFound}, CodeCase{9999, "42S22", C::kNotFound},
        CodeCase{1060, "42S21", C::kAlreadyExists}, CodeCase{9999, "42S01", C::kAlreadyExists},
        CodeCase{1046, "3D000", C::kInvalidArgument},
        // No data: an unhandled NOT FOUND, a FETCH past the end.
        CodeCase{1329, "02000", C::kNotFound}, CodeCase{1643, "02000", C::kNotFound},
        // Cursor, transaction, savepoint, routine and view-check state.
        CodeCase{1325, "24000", C::kFailedPrecondition},
        CodeCase{1568, "25001", C::kFailedPrecondition},
        CodeCase{9999, "3B000", C::kFailedPrecondition},
        CodeCase{1339, "20000", C::kFailedPrecondition},
        CodeCase{1321, "2F005", C::kFailedPrecondition},
        CodeCase{1645, "0K000", C::kFailedPrecondition},
        CodeCase{1369, "44000", C::kFailedPrecondition},
        CodeCase{1399, "XAE07", C::kFailedPrecondition},
        CodeCase{1397, "XAE04", C::kFailedPrecondition},
        // XA branch rolled back; interrupted.
        CodeCase{1402, "XA100", C::kAborted}, CodeCase{1614, "XA102", C::kAborted},
        CodeCase{9999, "70100", C::kAborted},
        // MariaDB's general class, no errno rule: a certain failure on the
        // server's or the data's state.
        CodeCase{1036, "HY000", C::kFailedPrecondition},
        CodeCase{1223, "HY000", C::kFailedPrecondition},
        CodeCase{4145, "HY000", C::kFailedPrecondition},
        // Only an unknown class stays UNKNOWN.
        CodeCase{9999, "", C::kUnknown}, CodeCase{9999, "4", C::kUnknown},
        CodeCase{9999, "ZZ000", C::kUnknown}));

MysqlError Err(unsigned int errnum, std::string sqlstate, std::string message) {
  MysqlError e;
  e.errnum = errnum;
  e.sqlstate = std::move(sqlstate);
  e.message = std::move(message);
  return e;
}

TEST(ToStatus, CarriesErrnoSqlstateAndMessage) {
  const absl::Status st = ToStatus(Err(1062, "23000", "Duplicate entry '1' for key 'PRIMARY'"));
  EXPECT_EQ(st.code(), C::kAlreadyExists);
  EXPECT_THAT(std::string(st.message()), HasSubstr("1062"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("23000"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("Duplicate entry '1' for key 'PRIMARY'"));
  EXPECT_EQ(GetReason(st), "MYSQL_ERROR");

  const std::optional<MysqlError> back = GetMysqlError(st);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->errnum, 1062u);
  EXPECT_EQ(back->sqlstate, "23000");
  EXPECT_EQ(back->message, "Duplicate entry '1' for key 'PRIMARY'");
  EXPECT_FALSE(IsConnectionLost(st));
  EXPECT_FALSE(IsTransientConflict(st));
}

TEST(ToStatus, ConnectionLossIsUnavailableWithItsOwnReason) {
  const absl::Status st = ToStatus(Err(2013, "HY000", "Lost connection to server during query"));
  EXPECT_EQ(st.code(), C::kUnavailable);
  EXPECT_EQ(GetReason(st), "DATABASE_UNAVAILABLE");
  EXPECT_TRUE(IsConnectionLost(st));
  EXPECT_FALSE(IsTransientConflict(st));
}

TEST(ToStatus, AUserSignalIsFinalAndCarriesTheUsersMessage) {
  const absl::Status st = ToStatus(Err(1644, "45000", "insufficient funds"));
  EXPECT_EQ(st.code(), C::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("insufficient funds"));
  EXPECT_EQ(GetReason(st), "MYSQL_ERROR");
  // Even when the user chose the errno of a loss or a conflict.
  for (unsigned int errnum : {2013u, 1213u, 1205u}) {
    const absl::Status signal = ToStatus(Err(errnum, "45000", "no"));
    EXPECT_EQ(signal.code(), C::kFailedPrecondition) << errnum;
    EXPECT_FALSE(IsConnectionLost(signal)) << errnum;
    EXPECT_FALSE(IsTransientConflict(signal)) << errnum;
  }
}

TEST(ToStatus, APacketOverMaxAllowedPacketIsResourceExhaustedNeverALoss) {
  const absl::Status st = ToStatus(Err(1153, "08S01",
                                       "Got a packet bigger than "
                                       "'max_allowed_packet' bytes"));
  EXPECT_EQ(st.code(), C::kResourceExhausted);
  EXPECT_EQ(GetReason(st), "PACKET_TOO_LARGE");
  EXPECT_FALSE(IsConnectionLost(st));
}

TEST(ToStatus, DeadlockIsATransientConflict) {
  const absl::Status st =
      ToStatus(Err(1213, "40001", "Deadlock found when trying to get lock; try restarting"));
  EXPECT_EQ(st.code(), C::kAborted);
  EXPECT_EQ(GetReason(st), "MYSQL_ERROR");
  EXPECT_TRUE(IsTransientConflict(st));
  EXPECT_FALSE(IsConnectionLost(st));
}

TEST(ToStatus, MessageWithArbitraryBytesRoundTrips) {
  const std::string message("caf\xc3\xa9 \x00 end", 11);
  const std::optional<MysqlError> back = GetMysqlError(ToStatus(Err(1366, "22007", message)));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->message, message);
}

TEST(MakeStatus, CarriesReasonButNoMysqlError) {
  const absl::Status st =
      MakeStatus(C::kFailedPrecondition, txgate::v1::IMPLICIT_COMMIT_REFUSED, "DDL refused");
  EXPECT_EQ(st.code(), C::kFailedPrecondition);
  EXPECT_EQ(st.message(), "DDL refused");
  EXPECT_EQ(GetReason(st), "IMPLICIT_COMMIT_REFUSED");
  EXPECT_FALSE(GetMysqlError(st).has_value());
  EXPECT_FALSE(IsConnectionLost(st));
  EXPECT_FALSE(IsTransientConflict(st));
}

TEST(GetReason, PlainStatusHasNone) {
  EXPECT_EQ(GetReason(absl::UnavailableError("x")), "");
  EXPECT_EQ(GetReason(absl::OkStatus()), "");
  EXPECT_FALSE(GetMysqlError(absl::UnavailableError("x")).has_value());
  // UNAVAILABLE alone is not a connection loss: the errno decides.
  EXPECT_FALSE(IsConnectionLost(absl::UnavailableError("x")));
}

TEST(WithReason, ReplacesOnlyTheReason) {
  const absl::Status lost = ToStatus(Err(2006, "HY000", "MySQL server has gone away"));
  const absl::Status st = WithReason(lost, txgate::v1::COMMIT_OUTCOME_UNKNOWN);
  EXPECT_EQ(st.code(), C::kUnavailable);
  EXPECT_EQ(st.message(), lost.message());
  EXPECT_EQ(GetReason(st), "COMMIT_OUTCOME_UNKNOWN");
  const std::optional<MysqlError> back = GetMysqlError(st);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->errnum, 2006u);
  EXPECT_EQ(back->message, "MySQL server has gone away");
  // The original is untouched.
  EXPECT_EQ(GetReason(lost), "DATABASE_UNAVAILABLE");
}

TEST(Annotate, PrefixesTheMessageAndKeepsEverythingElse) {
  const absl::Status base =
      WithReason(ToStatus(Err(1146, "42S02", "Table 't' doesn't exist")), txgate::v1::MYSQL_ERROR);
  const absl::Status st = Annotate(base, "statement 3: ");
  EXPECT_EQ(st.code(), C::kNotFound);
  EXPECT_EQ(st.message(), absl::StrCat("statement 3: ", base.message()));
  EXPECT_EQ(GetReason(st), "MYSQL_ERROR");
  const std::optional<MysqlError> back = GetMysqlError(st);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->errnum, 1146u);
  EXPECT_EQ(back->sqlstate, "42S02");

  const absl::Status twice =
      Annotate(Annotate(MakeStatus(C::kAborted, txgate::v1::DEADLINE_EXCEEDED, "m"), "b: "), "a: ");
  EXPECT_EQ(twice.message(), "a: b: m");
  EXPECT_EQ(GetReason(twice), "DEADLINE_EXCEEDED");
}

TEST(Annotate, OkStaysOk) { EXPECT_TRUE(Annotate(absl::OkStatus(), "prefix: ").ok()); }

}  // namespace
}  // namespace txgate::sql
