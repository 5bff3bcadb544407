// Expectations: the conditions a statement of a transaction may put on its
// own result (txgate.v1.Expectation, Statement.expect), so that a one-shot
// RunTransaction can be conditional — a guarded debit that matched no row
// rolls the whole transfer back instead of letting the credit commit.
//
// CheckExpectation is pure: it compares a result already read with the
// statement's expectation and says whether the transaction may go on. The
// runner calls it after each statement of RunTransaction and of an
// interactive Transaction; what an unmet expectation does to the
// transaction (roll back, never re-run, no outcome recorded) is the
// runner's.
#ifndef TXGATE_SERVER_RUNNER_EXPECTATION_H_
#define TXGATE_SERVER_RUNNER_EXPECTATION_H_

#include "absl/status/status.h"
#include "txgate/v1/database.pb.h"

namespace txgate::runner {

// OK when `statement` carries no expectation or `result` meets every
// condition of it. Otherwise FAILED_PRECONDITION with reason
// EXPECTATION_FAILED, a message naming statement `index` (0-based here,
// 1-based in the message and metadata), the first unmet condition and what
// happened, and the ErrorInfo metadata statement_index, expectation (the
// field's name), expected and actual.
absl::Status CheckExpectation(const txgate::v1::Statement& statement,
                              const txgate::v1::ResultSet& result, int index);

// OK unless the expectation of `statement` can never be met: a minimum
// above its maximum, or an exact count outside its bounds. Then
// INVALID_ARGUMENT (reason INVALID_REQUEST) naming statement `index`
// (0-based here, 1-based in the message), before anything runs.
absl::Status ValidateExpectation(const txgate::v1::Statement& statement, int index);

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_EXPECTATION_H_
