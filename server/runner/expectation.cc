#include "server/runner/expectation.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/sql/error.h"

namespace txgate::runner {
namespace {

using txgate::v1::Expectation;

enum class Counter { kAffectedRows, kRows };
enum class Compare { kEqual, kAtLeast, kAtMost };

// One condition of Expectation: a field, the counter it bounds and how.
struct Condition {
  absl::string_view field;
  Counter counter;
  Compare compare;
  bool (Expectation::*has)() const;
  uint64_t (Expectation::*value)() const;
};

// In field order, so that the first unmet one is reported.
constexpr Condition kConditions[] = {
    {"affected_rows", Counter::kAffectedRows, Compare::kEqual, &Expectation::has_affected_rows,
     &Expectation::affected_rows},
    {"min_affected_rows", Counter::kAffectedRows, Compare::kAtLeast,
     &Expectation::has_min_affected_rows, &Expectation::min_affected_rows},
    {"max_affected_rows", Counter::kAffectedRows, Compare::kAtMost,
     &Expectation::has_max_affected_rows, &Expectation::max_affected_rows},
    {"rows", Counter::kRows, Compare::kEqual, &Expectation::has_rows, &Expectation::rows},
    {"min_rows", Counter::kRows, Compare::kAtLeast, &Expectation::has_min_rows,
     &Expectation::min_rows},
    {"max_rows", Counter::kRows, Compare::kAtMost, &Expectation::has_max_rows,
     &Expectation::max_rows},
};

bool Holds(Compare compare, uint64_t actual, uint64_t expected) {
  switch (compare) {
    case Compare::kEqual:
      return actual == expected;
    case Compare::kAtLeast:
      return actual >= expected;
    case Compare::kAtMost:
      return actual <= expected;
  }
  return false;
}

absl::string_view Operator(Compare compare) {
  switch (compare) {
    case Compare::kEqual:
      return "=";
    case Compare::kAtLeast:
      return ">=";
    case Compare::kAtMost:
      return "<=";
  }
  return "?";
}

}  // namespace

absl::Status CheckExpectation(const txgate::v1::Statement& statement,
                              const txgate::v1::ResultSet& result, int index) {
  if (!statement.has_expect()) return absl::OkStatus();
  const Expectation& expect = statement.expect();
  for (const Condition& c : kConditions) {
    if (!(expect.*c.has)()) continue;
    const uint64_t expected = (expect.*c.value)();
    const bool rows = c.counter == Counter::kRows;
    const uint64_t actual =
        rows ? static_cast<uint64_t>(result.rows_size()) : result.affected_rows();
    if (Holds(c.compare, actual, expected)) continue;
    absl::Status status = sql::MakeStatus(
        absl::StatusCode::kFailedPrecondition, txgate::v1::EXPECTATION_FAILED,
        absl::StrCat("statement ", index + 1, ": expectation ", c.field, " not met: expected ",
                     rows ? "rows returned " : "affected_rows (rows matched) ", Operator(c.compare),
                     " ", expected, ", got ", actual,
                     "; the transaction was rolled back, nothing was committed"));
    status = sql::WithMetadata(std::move(status), "statement_index", absl::StrCat(index + 1));
    status = sql::WithMetadata(std::move(status), "expectation", c.field);
    status = sql::WithMetadata(std::move(status), "expected", absl::StrCat(expected));
    return sql::WithMetadata(std::move(status), "actual", absl::StrCat(actual));
  }
  return absl::OkStatus();
}

absl::Status ValidateExpectation(const txgate::v1::Statement& statement, int index) {
  if (!statement.has_expect()) return absl::OkStatus();
  const txgate::v1::Expectation& e = statement.expect();
  struct Bounds {
    const char* what;
    bool has_exact, has_min, has_max;
    uint64_t exact, min, max;
  };
  const Bounds bounds[] = {
      {"affected_rows", e.has_affected_rows(), e.has_min_affected_rows(), e.has_max_affected_rows(),
       e.affected_rows(), e.min_affected_rows(), e.max_affected_rows()},
      {"rows", e.has_rows(), e.has_min_rows(), e.has_max_rows(), e.rows(), e.min_rows(),
       e.max_rows()},
  };
  for (const Bounds& b : bounds) {
    const bool impossible = (b.has_min && b.has_max && b.min > b.max) ||
                            (b.has_exact && b.has_min && b.exact < b.min) ||
                            (b.has_exact && b.has_max && b.exact > b.max);
    if (impossible) {
      return sql::MakeStatus(
          absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST,
          absl::StrCat("statement ", index + 1, ": its expectation on ", b.what,
                       " can never be met (its exact value and bounds contradict each other)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace txgate::runner
