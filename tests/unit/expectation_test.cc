// CheckExpectation: each condition of txgate.v1.Expectation, met and unmet,
// one row per case; an unmet one answers FAILED_PRECONDITION /
// EXPECTATION_FAILED with the statement's 1-based index, the failed field,
// what was expected and what happened.
#include "server/runner/expectation.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/sql/error.h"

namespace txgate::runner {
namespace {

using ::testing::HasSubstr;
using txgate::v1::ResultSet;
using txgate::v1::Statement;

struct Case {
  std::string name;
  std::string expect;  // Expectation in text format; "-" for no expectation at all
  uint64_t affected_rows;
  int rows;
  std::string failed;  // the field reported as unmet; empty when met
  std::string expected;
  std::string actual;
};

Statement WithExpectation(const std::string& text) {
  Statement statement;
  statement.set_sql("UPDATE t SET n = n + 1");
  if (text != "-") {
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, statement.mutable_expect()))
        << text;
  }
  return statement;
}

ResultSet Result(uint64_t affected_rows, int rows) {
  ResultSet result;
  result.set_affected_rows(affected_rows);
  for (int i = 0; i < rows; ++i) result.add_rows()->add_values()->set_int64_value(i);
  return result;
}

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      {"no expectation", "-", 0, 0, "", "", ""},
      {"empty expectation holds", "", 0, 0, "", "", ""},
      {"exact affected met", "affected_rows: 2", 2, 0, "", "", ""},
      {"exact affected above", "affected_rows: 1", 2, 0, "affected_rows", "1", "2"},
      {"exact affected below", "affected_rows: 1", 0, 0, "affected_rows", "1", "0"},
      {"exact zero affected met", "affected_rows: 0", 0, 0, "", "", ""},
      {"exact zero affected unmet", "affected_rows: 0", 1, 0, "affected_rows", "0", "1"},
      {"min affected met at bound", "min_affected_rows: 1", 1, 0, "", "", ""},
      {"min affected met above", "min_affected_rows: 1", 5, 0, "", "", ""},
      {"min affected unmet", "min_affected_rows: 1", 0, 0, "min_affected_rows", "1", "0"},
      {"max affected met", "max_affected_rows: 3", 3, 0, "", "", ""},
      {"max affected unmet", "max_affected_rows: 3", 4, 0, "max_affected_rows", "3", "4"},
      {"exact rows met", "rows: 2", 0, 2, "", "", ""},
      {"exact rows unmet", "rows: 2", 0, 3, "rows", "2", "3"},
      {"no row met", "rows: 0", 0, 0, "", "", ""},
      {"no row unmet", "rows: 0", 0, 1, "rows", "0", "1"},
      {"returns a row met", "min_rows: 1", 0, 1, "", "", ""},
      {"returns a row unmet", "min_rows: 1", 0, 0, "min_rows", "1", "0"},
      {"max rows met", "max_rows: 1", 0, 1, "", "", ""},
      {"max rows unmet", "max_rows: 1", 0, 2, "max_rows", "1", "2"},
      // Rows and affected_rows are different counters: a SELECT's rows do
      // not count as affected, an UPDATE's matches do not count as rows.
      {"rows are not affected rows", "min_affected_rows: 1", 0, 3, "min_affected_rows", "1", "0"},
      {"affected rows are not rows", "min_rows: 1", 3, 0, "min_rows", "1", "0"},
      // Conditions combine with AND; the first unmet one, in field order, is named.
      {"all met", "min_affected_rows: 1 max_affected_rows: 1 max_rows: 0", 1, 0, "", "", ""},
      {"range unmet above", "min_affected_rows: 1 max_affected_rows: 2", 3, 0, "max_affected_rows",
       "2", "3"},
      {"first unmet named", "affected_rows: 1 min_rows: 1", 0, 0, "affected_rows", "1", "0"},
      {"later unmet named", "affected_rows: 0 min_rows: 1", 0, 0, "min_rows", "1", "0"},
      {"large counts", "min_affected_rows: 18446744073709551615", 18446744073709551614u, 0,
       "min_affected_rows", "18446744073709551615", "18446744073709551614"},
  };
  return *cases;
}

TEST(CheckExpectation, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    absl::Status status =
        CheckExpectation(WithExpectation(c.expect), Result(c.affected_rows, c.rows), 2);
    if (c.failed.empty()) {
      EXPECT_TRUE(status.ok()) << status;
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(sql::GetReason(status), "EXPECTATION_FAILED");
    const std::map<std::string, std::string> expected_metadata = {{"statement_index", "3"},
                                                                  {"expectation", c.failed},
                                                                  {"expected", c.expected},
                                                                  {"actual", c.actual}};
    EXPECT_EQ(sql::GetMetadata(status), expected_metadata);
    EXPECT_THAT(status.message(), HasSubstr("statement 3: expectation " + c.failed));
    EXPECT_THAT(status.message(), HasSubstr("got " + c.actual));
    EXPECT_THAT(status.message(), HasSubstr("rolled back"));
  }
}

TEST(CheckExpectation, MessageSaysWhatWasExpectedAndWhatHappened) {
  absl::Status status = CheckExpectation(WithExpectation("min_affected_rows: 1"), Result(0, 0), 0);
  EXPECT_EQ(status.message(),
            "statement 1: expectation min_affected_rows not met: expected affected_rows (rows "
            "matched) >= 1, got 0; the transaction was rolled back, nothing was committed");
  status = CheckExpectation(WithExpectation("min_rows: 1"), Result(0, 0), 1);
  EXPECT_EQ(status.message(),
            "statement 2: expectation min_rows not met: expected rows returned >= 1, got 0; the "
            "transaction was rolled back, nothing was committed");
}

// A MySQL error keeps its own metadata beside any added by WithMetadata.
TEST(CheckExpectation, MetadataTravelsWithAnnotatedStatus) {
  absl::Status status = CheckExpectation(WithExpectation("rows: 1"), Result(0, 0), 0);
  absl::Status annotated = sql::Annotate(status, "prefix: ");
  EXPECT_EQ(sql::GetMetadata(annotated), sql::GetMetadata(status));
  EXPECT_EQ(sql::GetReason(annotated), "EXPECTATION_FAILED");
}

TEST(ValidateExpectation, RefusesWhatCanNeverBeMet) {
  txgate::v1::Statement st;
  EXPECT_TRUE(ValidateExpectation(st, 0).ok());  // none
  st.mutable_expect()->set_min_affected_rows(1);
  st.mutable_expect()->set_max_affected_rows(1);
  EXPECT_TRUE(ValidateExpectation(st, 0).ok());
  st.mutable_expect()->set_min_affected_rows(5);
  absl::Status s = ValidateExpectation(st, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("statement 3"));
  txgate::v1::Statement rows;
  rows.mutable_expect()->set_rows(0);
  rows.mutable_expect()->set_min_rows(1);
  EXPECT_EQ(ValidateExpectation(rows, 0).code(), absl::StatusCode::kInvalidArgument);
  rows.mutable_expect()->clear_min_rows();
  rows.mutable_expect()->set_max_rows(0);
  EXPECT_TRUE(ValidateExpectation(rows, 0).ok());
}

}  // namespace
}  // namespace txgate::runner
